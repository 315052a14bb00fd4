/*
 * http_conn.h -- one HTTP/1.1 connection: socket I/O, parsing, output,
 * sendfile, timeouts and its lifecycle (node-internal).
 *
 * Threads: a conn_t lives on the event loop thread. The only code that
 * runs elsewhere is the work item (routes_work) of its one uv_work_t, which
 * touches the request's store objects and work fields while c_work_busy is
 * set, and the wake callback (conn_wake), which only queues the connection
 * on the server's wake list.
 *
 * Lifecycle: conn_close() stops I/O at once; the memory is freed only when
 * no work item is running and the request's writer/reader were released
 * (aborted/closed on the thread pool), so nothing ever outlives it.
 */
#ifndef CAIRN_NODE_HTTP_CONN_H
#define CAIRN_NODE_HTTP_CONN_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "node/config.h"
#include "node/http_util.h"
#include "node/metrics.h"
#include "replication/repl.h"
#include "storage/store.h"

#define CONN_IN_CAP (64 * 1024)       /* unparsed input kept per connection */
#define CONN_HEAD_MAX (16 * 1024)     /* request line + headers */
#define CONN_UPLOAD_BUF (256 * 1024)  /* each of the two upload buffers */
#define CONN_SENDFILE_CHUNK (1 << 20) /* per sendfile(2) call, then yield */
#define CONN_SMALL_READ (64 * 1024)   /* whole-file responses up to this are pread, not sendfile */
#define CONN_LINGER_MS 2000
#define CONN_LOG_SLOW_MS 1000 /* a request this slow is logged at info (http.request) */
#define CONN_LINGER_BYTES (1 << 20)
#define CONN_OUT_CAP (8u << 20)    /* response head + in-memory body */
#define LIST_SOFT_BYTES (1u << 20) /* a listing page stops growing here */

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

typedef struct server server_t;
typedef struct conn conn_t;

enum {
    HDR_CONTENT_TYPE = 0,
    HDR_EXPECT,
    HDR_AUTHORIZATION,
    HDR_RANGE,
    HDR_IF_MATCH,
    HDR_IF_NONE_MATCH,
    HDR_COUNT
};

typedef enum {
    RK_NONE = 0, /* answered directly (or not routed yet) */
    RK_PUT,
    RK_GET, /* GET and HEAD of a blob */
    RK_DELETE,
    RK_LIST,
    RK_CLUSTER,
    RK_METRICS,
} req_kind_t;

typedef enum {
    W_NONE = 0,
    W_PUT_BEGIN,
    W_PUT_WRITE, /* writes the flight buffer, then finishes when rq_flight_finish */
    W_PUT_ABORT,
    W_READ_OPEN, /* also W_READ_NEXT: open when no reader, then next */
    W_READ_CLOSE,
    W_DELETE,
    W_LIST,
    W_STATS,
} work_op_t;

typedef struct hdr_span {
    uint32_t hs_off; /* into rq_hbuf */
    uint32_t hs_len;
    uint8_t hs_present;
} hdr_span_t;

/* One request and its response; reset between requests. */
typedef struct request {
    /* parsing (loop thread) */
    int rq_started;       /* a byte of this request was parsed */
    uint64_t rq_start_ns; /* uv_hrtime() at the first byte */
    uint64_t rq_start_ms; /* uv_now() at the first byte */
    size_t rq_head_bytes;
    int rq_head_done;
    int rq_msg_done;
    int rq_parse_stop; /* never parse again on this connection */
    int rq_too_large;  /* head over CONN_HEAD_MAX */
    int rq_hdr_dup;    /* a tracked header appeared twice */
    int rq_method;     /* llhttp_method_t */
    buf_t rq_hbuf;     /* url, then the tracked header values */
    size_t rq_url_len;
    hdr_span_t rq_hdr[HDR_COUNT];
    char rq_hname[24];
    size_t rq_hname_len;
    int rq_hname_long;
    int rq_hcur; /* tracked header being read, or -1 */
    size_t rq_hval_off;

    /* routing */
    req_kind_t rq_kind;
    metrics_route_t rq_route;
    int rq_head_only; /* HEAD: no body bytes */
    char rq_key[STORE_KEY_MAX + 1];
    size_t rq_klen;
    durability_t rq_durability;

    /* response */
    int rq_status;
    const char *rq_err_code;
    int rq_resp_final;  /* every response byte is queued or being sent */
    int rq_close_after; /* close (lingering) once the response is out */
    int rq_logged;
    uint64_t rq_bytes_in;  /* body bytes */
    uint64_t rq_frame_run; /* body framing bytes (chunk lines, trailers) since content */
    uint64_t rq_frame_total;
    uint64_t rq_bytes_out; /* response bytes */
    buf_t rq_body;         /* in-memory response body (listing, metrics) */

    /* PUT */
    store_writer_t *rq_writer;
    char *rq_fill; /* being filled from the socket */
    size_t rq_fill_len;
    char *rq_flight; /* being written by W_PUT_WRITE */
    size_t rq_flight_len;
    int rq_flight_finish;
    int rq_put_begun;
    int rq_put_whole; /* small body: buffered whole, then one W_PUT_BEGIN job
                       * begins, writes and finishes (routes: put_start) */
    int rq_put_rc;    /* first failure; nothing more is written */
    int64_t rq_clen;  /* Content-Length or -1 */
    int rq_expect_continue;
    int rq_if_none_match;
    int rq_has_if_match;
    uint8_t rq_if_match_hash[STORE_HASH_LEN];

    /* GET / HEAD */
    store_reader_t *rq_reader;
    store_step_t rq_step;
    uint64_t rq_consumed; /* sent bytes not yet reported to the reader */
    http_range_t rq_range;
    http_range_result_t rq_range_res;
    uint64_t rq_roff, rq_rlen;
    int rq_not_modified;
    int rq_inline_fast; /* the whole response is in memory and there is no
                         * reader (get_inline, read_small_whole) */
    uint8_t *rq_small;  /* read_small_whole's copy (owned), or NULL */
    int rq_hdr_sent;
    int rq_waiting; /* WAIT step: for a wake or the deadline */
    int rq_waited;
    uint64_t rq_deadline_ms;   /* CLOCK_MONOTONIC ms, for the store */
    uint64_t rq_progress_mark; /* rq_send_total when the deadline was set */
    int rq_send_fd;
    uint64_t rq_send_off;
    uint64_t rq_send_left;
    uint64_t rq_send_total; /* body bytes handed to sendfile so far */

    /* listing */
    char rq_prefix[STORE_KEY_MAX + 1];
    size_t rq_plen;
    char rq_after[STORE_KEY_MAX + 1];
    size_t rq_alen;
    int rq_has_after;
    unsigned rq_limit;
    unsigned rq_nitems;
    int rq_more;
    char rq_last[STORE_KEY_MAX + 1];
    size_t rq_last_len;

    /* durability (PUT/DELETE with replication): the change is committed
     * locally; the response waits for the acks rq_durability asks for */
    repl_wait_t rq_wait; /* rq_wait.data = the conn */
    int rq_dur_waiting;  /* rq_wait is active: its callback will answer */
    uint64_t rq_dur_start_ms;

    /* work results */
    int rq_work_rc;
    store_stat_t rq_st;
    store_stats_t rq_stats;
} request_t;

struct conn {
    server_t *c_srv;
    conn_t *c_prev, *c_next; /* server's connection list */
    uint64_t c_id;
    int c_fd;
    uv_poll_t c_poll;
    int c_events; /* events currently polled */
    int c_poll_closed;
    llhttp_t c_parser;
    int c_pause_head; /* the last pause was on_headers_complete */
    int c_need_exec;  /* run the parser once even with no input */
    char *c_in;       /* CONN_IN_CAP bytes, allocated while needed */
    size_t c_in_off, c_in_len;
    int c_peer_eof;
    buf_t c_out; /* bytes to send before any file data */
    size_t c_out_off;
    int c_out_more; /* file data follows: MSG_MORE */
    request_t c_rq;
    uv_work_t c_work;
    work_op_t c_work_op;
    int c_work_busy;
    conn_t *c_wake_next;         /* server wake list (under its lock) */
    int c_wake_queued;           /* under the server wake lock */
    int c_woken;                 /* a wake arrived while work was running */
    uint64_t c_last_progress_ms; /* uv_now() of the last byte in or out */
    int c_closing;
    int c_lingering;
    uint64_t c_linger_deadline_ms;
    uint64_t c_linger_bytes;
    char c_peer[64];
};

/* ---- used by server.c ---- */

/* Fills the llhttp callbacks shared by every connection. */
void conn_http_settings(llhttp_settings_t *s);

/* Takes ownership of the accepted non-blocking socket fd. */
int conn_create(server_t *srv, int fd, const char *peer);
/* Stops I/O now; frees once released (see the file comment). Idempotent. */
void conn_close(conn_t *c);
/* Closes the connection when it is between requests (for shutdown). */
int conn_is_idle(const conn_t *c);
/* Enforces header/idle/linger timeouts and read deadlines; now = uv_now(). */
void conn_check_timeouts(conn_t *c, uint64_t now);
/* The store's wake callback (any thread). */
void conn_wake(void *arg);
/* A wake was delivered on the loop thread. */
void conn_on_wake(conn_t *c);

/* ---- used by http_routes.c ---- */

/* Drives the connection: flushes output, finishes requests, parses input. */
void conn_pump(conn_t *c);
/* Queues c's work item for op. Returns 0 or a negative uv error. */
int conn_queue_work(conn_t *c, work_op_t op);
/*
 * Appends the response head: status line, Date, Content-Type (when ctype),
 * Content-Length (when has_len), the extra header lines (each ending in
 * CRLF; may be NULL) and Connection. Returns 0 or CAIRN_ETOOBIG.
 */
int conn_head(conn_t *c, int status, const char *ctype, int has_len, uint64_t len,
              const char *extra);
/* A whole response with an in-memory body (not sent for HEAD). Final. */
void conn_respond(conn_t *c, int status, const char *ctype, const char *extra, const char *body,
                  size_t blen);
/* A JSON error response. Closes after it when the request body is unread. */
void conn_respond_error(conn_t *c, int status, const char *code, const char *message,
                        const char *extra);
/* The same for a store error code (mapping per http_error_for_rc). */
void conn_respond_rc(conn_t *c, int rc, const char *message);
/* "HTTP/1.1 100 Continue". */
void conn_send_continue(conn_t *c);
/* Stops parsing this connection and closes it after the response. */
void conn_stop_parsing(conn_t *c);
/* 1 when the request still has body bytes the parser has not consumed. */
int conn_body_pending(const conn_t *c);
/* A header's value span (trimmed); NULL when absent. */
const char *conn_hdr(const conn_t *c, int hdr, size_t *len);
/* Whether the response will close the connection. */
int conn_will_close(const conn_t *c);

/* CLOCK_MONOTONIC in ms (the store's deadline time base). */
uint64_t conn_mono_ms(void);

#endif
