/*
 * api_http.h -- a small, strict HTTP/1.1 client over raw sockets.
 *
 * The API tests need byte-level control (pipelining, malformed requests,
 * half-sent bodies, clients that stop reading), so they speak HTTP
 * themselves. Sockets are non-blocking and every wait is bounded by the
 * connection's timeout. Responses are framed strictly: Content-Length,
 * chunked, or until close; a response that violates framing is an error.
 */
#ifndef CAIRN_API_HTTP_H
#define CAIRN_API_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "api_data.h"
#include "api_json.h"
#include "api_node.h"

/* Beyond the -errno values: the peer closed before sending a response. */
#define API_ECLOSED (-100001)
/* The response broke HTTP framing. */
#define API_EPROTO (-100002)

typedef struct api_hdr {
    char *ah_name;
    char *ah_value; /* leading/trailing whitespace removed */
} api_hdr_t;

typedef struct api_resp {
    int ar_status;
    int ar_minor; /* 1 for HTTP/1.1 */
    api_hdr_t *ar_hdrs;
    size_t ar_nhdrs;
    char *ar_body;              /* first ac_store_max body bytes, NUL-terminated */
    size_t ar_body_len;         /* bytes stored in ar_body */
    uint64_t ar_body_total;     /* body bytes received */
    char ar_hash[API_HASH_HEX]; /* XXH3-128 of the whole body */
    int ar_close;               /* server announced or used connection close */
    int ar_got_100;             /* a 100 Continue preceded it (api_request*) */
} api_resp_t;

typedef struct api_conn {
    int ac_fd;
    char *ac_buf;
    size_t ac_off; /* start of unread bytes */
    size_t ac_len; /* end of unread bytes */
    size_t ac_cap;
    int ac_eof;                                     /* peer closed (or reset) */
    int ac_timeout_ms;                              /* per wait; default 30000 */
    size_t ac_store_max;                            /* body bytes kept in ar_body; default 64 MiB */
    void (*ac_progress)(void *arg, uint64_t total); /* called as body bytes arrive */
    void *ac_progress_arg;
} api_conn_t;

/* Connects to 127.0.0.1:port. rcvbuf > 0 sets SO_RCVBUF before connecting.
 * 0 or -errno. */
int api_conn_open(api_conn_t *c, int port, int rcvbuf);
/* Closes the socket and frees the buffer; safe twice. */
void api_conn_close(api_conn_t *c);
/* Closes with SO_LINGER 0 (the peer sees a reset). */
void api_conn_reset(api_conn_t *c);

/* Sends all of p (MSG_NOSIGNAL). 0, -ETIMEDOUT or -errno (-EPIPE, -ECONNRESET). */
int api_conn_send(api_conn_t *c, const void *p, size_t len);
int api_conn_sendf(api_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Sends bytes [off, off+len) of generated stream seed, either raw or (when
 * chunk > 0) as chunked-encoding chunks of `chunk` bytes (without the final
 * zero chunk). When stop_on_reply is set and the server sends something
 * before everything is sent, stops and returns 1 (the caller reads the
 * reply). 0 when all was sent, or a negative error as api_conn_send.
 */
int api_conn_send_gen(api_conn_t *c, uint64_t seed, uint64_t off, uint64_t len, size_t chunk,
                      int stop_on_reply);

/* 1 when data (or EOF) is ready to read within timeout_ms, else 0. */
int api_conn_readable(api_conn_t *c, int timeout_ms);

/*
 * Reads one response (1xx included). head_req: the request was HEAD (no
 * body follows). On success returns 0 with *r filled (free with
 * api_resp_free). Errors: API_ECLOSED (closed before any byte of a
 * response), API_EPROTO, -ETIMEDOUT, -errno. *r is always safe to free.
 */
int api_conn_read_resp(api_conn_t *c, int head_req, api_resp_t *r);

/* Like api_conn_read_resp but skips 1xx responses (sets ar_got_100). */
int api_conn_read_final(api_conn_t *c, int head_req, api_resp_t *r);

/* Reads and discards until the peer closes: 0 when closed (FIN or reset)
 * within timeout_ms, -ETIMEDOUT otherwise. *nbytes (may be NULL) gets the
 * number of bytes discarded. */
int api_conn_wait_closed(api_conn_t *c, int timeout_ms, size_t *nbytes);

void api_resp_free(api_resp_t *r);
/* First header with this name (case-insensitive), or NULL. */
const char *api_resp_header(const api_resp_t *r, const char *name);
size_t api_resp_header_count(const api_resp_t *r, const char *name);

/*
 * Writes one request on c: request line, Host, the node's Authorization
 * (when n has a token and `auth` is set), extra (raw header lines each
 * ending in CRLF, may be NULL), Content-Length when body is not NULL, then
 * the body. Returns as api_conn_send.
 */
int api_send_req(api_conn_t *c, const api_node_t *n, int auth, const char *method,
                 const char *target, const char *extra, const void *body, size_t len);

/*
 * One request on a fresh connection, final response in *r (1xx skipped).
 * auth as above. Returns 0 or an error from connecting/sending/reading.
 */
int api_request(const api_node_t *n, int auth, const char *method, const char *target,
                const char *extra, const void *body, size_t len, api_resp_t *r);

/* ------------------------------------------------------------------
 * Asserting helpers (fail the current Check test with context).
 */

/* api_request with auth that must succeed at the transport level. */
void api_must_request(const api_node_t *n, const char *method, const char *target,
                      const char *extra, const void *body, size_t len, api_resp_t *r);

/* Asserts an error response: the status, a JSON object body with "error"
 * == code and a string "message", and Content-Type application/json. */
void api_assert_error(const api_resp_t *r, int status, const char *code);

/* Asserts r is a PUT 201 for content with hash hex: ETag "\"hex\"",
 * X-Cairn-Version "<digits>-<digits>", JSON body {"key","size","etag","version"}
 * consistent with them (key compared when key_raw is not NULL). */
void api_assert_put_ok(const api_resp_t *r, const char *key_raw, uint64_t size, const char *hex);

/* PUT /v1/blobs/<key_enc> with data; asserts 201 and the ETag. */
void api_must_put(const api_node_t *n, const char *key_enc, const void *data, size_t len);

/* GET; asserts 200, Content-Length, content hash and ETag. */
void api_must_get(const api_node_t *n, const char *key_enc, const void *data, size_t len);

/* Streaming forms for generated content (nothing held in memory). */
void api_must_put_gen(const api_node_t *n, const char *key_enc, uint64_t seed, uint64_t size);
void api_must_get_gen(const api_node_t *n, const char *key_enc, uint64_t seed, uint64_t size);

/* Asserts GET /v1/health answers 200 {"status":"ok"}. */
void api_must_health(const api_node_t *n);

/* Asserts the request answers `status` (for GET/DELETE/HEAD without body). */
void api_must_status(const api_node_t *n, const char *method, const char *target, int status);

/* Whether a version string looks like "<decimal>-<decimal>". */
int api_version_ok(const char *v);

/* Value of the unlabelled metric (or the sum over all label sets of the
 * family `name`) in a Prometheus text body; -1 when absent. */
double api_metric_sum(const char *text, const char *name);

/* Polls /metrics until cairn_http_connections_open <= max (the polling
 * connection itself counts as one) or fails the test after timeout_ms.
 * Connections a test closed are released by the server asynchronously. */
void api_wait_conns_settled(const api_node_t *n, double max, int timeout_ms);

/*
 * GET /v1/blobs?<query> (query may be "" or NULL); asserts 200, JSON
 * content type and the listing shape {"items":[{"key":str,"size":num,
 * "etag":str,"version":str}...],"next":str|null}. Returns the parsed tree
 * (caller frees with api_json_free).
 */
api_json_t *api_must_list(const api_node_t *n, const char *query);

/* The listing's "next" value (borrowed) or NULL when it is null. */
const char *api_list_next(const api_json_t *list);

/* Writes the 32-hex content hash of an "etag" string (quoted or not). */
void api_etag_hex(const char *etag, char out[API_HASH_HEX]);

#endif
