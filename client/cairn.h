/*
 * cairn.h -- libcairn, the C client library of the cairn blob store.
 *
 * A cairn_client talks HTTP/1.1 (libcurl) to one or more cairnd nodes of a
 * cluster. Every operation goes to the client's current node first; when
 * that node cannot be reached, stalls before answering, or answers
 * "503 unavailable", the operation moves on to the next node in the list
 * (each node is tried at most once per operation) and the node that
 * answered becomes the current node for the next operations.
 *
 * Blob bodies are streamed in both directions: the library never holds a
 * whole blob in memory, whatever its size.
 *
 * Failover has limits that follow from streaming:
 *  - A PUT whose source bytes were already partly sent can only be
 *    restarted on another node if the source can be rewound: a buffer
 *    (cairn_put_buf), a seekable file descriptor (cairn_put_fd on a regular
 *    file; not a pipe or socket) or a read callback given a rewind
 *    callback. Otherwise the operation fails with the error of the node
 *    that failed and nothing is sent to the other nodes.
 *  - A GET fails over only until the first body byte reached the caller's
 *    sink; after that an interrupted transfer fails (CAIRN_CL_ENET or
 *    CAIRN_CL_ETIMEDOUT) and the caller decides what to do with the
 *    partial output.
 *  - "503 durability_timeout" is not failed over: the write is stored on
 *    the node and keeps replicating; CAIRN_CL_EDURABILITY reports it.
 *  - A PUT or DELETE whose connection broke after the server read it may
 *    still have been applied; retrying it on another node writes the same
 *    content again as a newer version (last writer wins), which is safe.
 *
 * Conventions: fallible functions return 0 or a negative CAIRN_CL_E* code,
 * or a negated errno (-EIO, ...) for a local I/O error on the caller's file
 * descriptor, or whatever negative value a caller's callback returned.
 * Results go through out-parameters. After a failure, cairn_last_error()
 * describes it, including the server's JSON error code and message.
 *
 * Threads: a cairn_client must be used by one thread at a time (it owns one
 * libcurl handle and its connection cache); use one client per thread.
 * The library calls curl_global_init() itself, which is thread-safe with
 * libcurl >= 7.84.
 *
 * Link with `pkg-config --cflags --libs cairn`.
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported functions (the library is built with hidden visibility). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

/*
 * Return codes. They lie far below any errno value, so -errno and
 * CAIRN_CL_E* never collide. cairn_client_strerror() describes each.
 */
enum {
    CAIRN_CL_OK = 0,
    CAIRN_CL_EINVAL = -31001,      /* bad argument: key, URL, option value */
    CAIRN_CL_ENOMEM = -31002,      /* allocation failed */
    CAIRN_CL_EBADREQ = -31003,     /* 400 bad_request: the server refused the request */
    CAIRN_CL_EUNAUTH = -31004,     /* 401 unauthorized: missing or wrong bearer token */
    CAIRN_CL_ENOTFOUND = -31005,   /* 404 not_found: no such key */
    CAIRN_CL_ECONFLICT = -31006,   /* 409 conflict or 412 precondition failed */
    CAIRN_CL_ETOOBIG = -31007,     /* 413 payload_too_large: over the node's max blob size */
    CAIRN_CL_EHDRTOOBIG = -31008,  /* 431 header_too_large: key or token too long */
    CAIRN_CL_EUNAVAIL = -31009,    /* every node failed: 503 unavailable, unreachable, or
                                      stalled before anything was delivered */
    CAIRN_CL_EDURABILITY = -31010, /* 503 durability_timeout: stored, but the requested
                                      durability was not reached in time */
    CAIRN_CL_ENOSPACE = -31011,    /* 507 insufficient_storage */
    CAIRN_CL_ESERVER = -31012,     /* 500 internal, or another 5xx status */
    CAIRN_CL_EHTTP = -31013,       /* another unexpected HTTP status */
    CAIRN_CL_EPROTO = -31014,      /* malformed or oversized response */
    CAIRN_CL_ETIMEDOUT = -31015,   /* transfer stalled (stall timeout) where failing over was
                                      not possible (see the top of this file) */
    CAIRN_CL_ENET = -31016,        /* connection lost mid-transfer where failing over was not
                                      possible */
    CAIRN_CL_EABORTED = -31017,    /* the progress callback asked to stop */
    CAIRN_CL_ECURL = -31018,       /* another libcurl failure (TLS, unsupported URL, ...) */
};

/* Largest key, in bytes (the server's limit). */
#define CAIRN_KEY_MAX 1024
/* Most nodes one client accepts. */
#define CAIRN_NODES_MAX 64

typedef struct cairn_client cairn_client;

/*
 * Details of the last failed operation of a client. Every member is set
 * (zero, "" or -1 when not applicable); strings are NUL-terminated and
 * truncated to fit.
 */
typedef struct cairn_error {
    int ce_rc;               /* the code the operation returned (0 after a success) */
    int ce_http_status;      /* HTTP status of the failing response, 0 if none */
    char ce_code[64];        /* the server's "error" code ("not_found", ...), "" if none */
    char ce_message[512];    /* the server's "message", or the client's own description */
    char ce_node[256];       /* URL of the node that produced the error, "" if none */
    long ce_retry_after;     /* Retry-After of a 503, in seconds; -1 if absent */
    unsigned ce_nodes_tried; /* nodes tried by the operation */
} cairn_error;

/* What the server reported about one blob (HEAD, GET, PUT responses). */
typedef struct cairn_stat {
    uint64_t cs_size;    /* bytes of content (PUT: bytes sent) */
    char cs_etag[128];   /* ETag, without quotes; "" if the server sent none */
    char cs_version[64]; /* X-Cairn-Version as sent; "" if none */
} cairn_stat;

/* One entry of a listing. cli_key may contain any UTF-8, even NUL bytes:
 * use cli_key_len. All strings are NUL-terminated. */
typedef struct cairn_list_item {
    char *cli_key;
    size_t cli_key_len;
    uint64_t cli_size;
    char *cli_etag;    /* "" if absent */
    char *cli_version; /* the JSON value as text (a number or a string's content) */
} cairn_list_item;

/* One page of a listing; free with cairn_list_free(). */
typedef struct cairn_list {
    cairn_list_item *cl_items;
    size_t cl_count;
    char *cl_next; /* pass as `after` for the next page; NULL on the last page */
    size_t cl_next_len;
} cairn_list;

/*
 * Upload source: copies up to len bytes into buf. Returns the count, 0 at
 * the end of the content, or a negative value to abort (the operation then
 * returns that value). Called from inside the operation, never later.
 */
typedef ssize_t (*cairn_read_fn)(void *arg, char *buf, size_t len);

/* Restarts an upload source at its first byte. Returns 0, or a negative
 * value if it cannot (the operation then fails without failing over). */
typedef int (*cairn_rewind_fn)(void *arg);

/* Download sink: consumes all len bytes. Returns 0, or a negative value to
 * abort (the operation then returns that value). */
typedef int (*cairn_write_fn)(void *arg, const char *buf, size_t len);

/* Progress of the body transfer of the running operation. total is 0 when
 * unknown. Return 0 to continue, non-zero to abort with CAIRN_CL_EABORTED.
 * Called at least about once per second while a transfer runs, even when it
 * is stalled. */
typedef int (*cairn_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* ---- client handle ---------------------------------------------------- */

/*
 * Creates a client with no nodes, no token, the server's default
 * durability, a 10 s connect timeout and a 60 s stall timeout. On success
 * *out owns the client (free with cairn_client_free); on failure *out is
 * NULL and CAIRN_CL_ENOMEM or CAIRN_CL_ECURL is returned.
 */
CAIRN_API int cairn_client_new(cairn_client **out);

/* Frees the client and closes its connections. NULL is allowed. */
CAIRN_API void cairn_client_free(cairn_client *c);

/*
 * Appends one or more node URLs, separated by commas
 * ("http://10.0.0.1:7001,http://10.0.0.2:7001"). "http://" is assumed when
 * no scheme is given; "https://" works when libcurl has TLS. Trailing
 * slashes are dropped; a path prefix is kept (for a reverse proxy). The
 * string is copied. On failure (CAIRN_CL_EINVAL: empty element, bad scheme,
 * more than CAIRN_NODES_MAX nodes) the node list is unchanged.
 */
CAIRN_API int cairn_client_add_nodes(cairn_client *c, const char *urls);

/* Number of nodes, and the URL of node i (borrowed: valid until the client is
 * freed; NULL when i is out of range). */
CAIRN_API size_t cairn_client_node_count(const cairn_client *c);
CAIRN_API const char *cairn_client_node(const cairn_client *c, size_t i);

/* Sends `Authorization: Bearer TOKEN` with every request; NULL or "" stops
 * sending it. The token is copied. CAIRN_CL_EINVAL if it contains control
 * characters or spaces. */
CAIRN_API int cairn_client_set_token(cairn_client *c, const char *token);

/* Durability requested for PUT and DELETE: "local", "majority", "all", or
 * NULL for the node's default (no ?durability= parameter). CAIRN_CL_EINVAL
 * for anything else. */
CAIRN_API int cairn_client_set_durability(cairn_client *c, const char *level);

/*
 * connect_ms: connect timeout per node attempt (0 = libcurl's default of
 * 300 s). stall_s: an attempt whose transfer rate stays below
 * stall_bytes_per_s for stall_s seconds is abandoned (0 = never). This
 * bounds the wait for a node that accepts connections but does not answer,
 * without bounding the total time of a large transfer. Negative values:
 * CAIRN_CL_EINVAL.
 */
CAIRN_API int cairn_client_set_timeouts(cairn_client *c, long connect_ms, long stall_s,
                                        long stall_bytes_per_s);

/* Installs (or with fn NULL removes) a progress callback for body
 * transfers; arg is passed through, borrowed. */
CAIRN_API void cairn_client_set_progress(cairn_client *c, cairn_progress_fn fn, void *arg);

/* The last operation's failure (all zero/"" after a success). Borrowed:
 * valid until the next operation on the client. */
CAIRN_API const cairn_error *cairn_last_error(const cairn_client *c);

/* Static human-readable description of a CAIRN_CL_E* code or -errno. */
CAIRN_API const char *cairn_client_strerror(int rc);

/* Library version, e.g. "0.1.0" (static string). */
CAIRN_API const char *cairn_client_version(void);

/* ---- blobs ------------------------------------------------------------ */

/*
 * Stores the content read from fd under key (PUT /v1/blobs/KEY). size is
 * the number of bytes to send, or -1 to send until end of file (the size of
 * a regular file is then taken from fstat; a pipe is sent with chunked
 * transfer encoding). fd is read from its current offset; it is borrowed
 * and not closed. If fd is seekable the upload can fail over at any point
 * (the offset is rewound); if not, only before the first byte is read.
 * On success *st (may be NULL) holds the stored size, ETag and version.
 * A short file (fewer than size bytes) fails with CAIRN_CL_EINVAL.
 */
CAIRN_API int cairn_put_fd(cairn_client *c, const char *key, int fd, int64_t size, cairn_stat *st);

/* Stores len bytes from buf (borrowed for the call). Always rewindable. */
CAIRN_API int cairn_put_buf(cairn_client *c, const char *key, const void *buf, size_t len,
                            cairn_stat *st);

/*
 * Stores what read_fn produces. size is the exact content length, or -1 if
 * unknown (chunked transfer encoding). rewind_fn may be NULL; with it the
 * upload can fail over after bytes were read, without it only before.
 * A source that ends before size bytes fails with CAIRN_CL_EINVAL.
 */
CAIRN_API int cairn_put_cb(cairn_client *c, const char *key, int64_t size, cairn_read_fn read_fn,
                           cairn_rewind_fn rewind_fn, void *arg, cairn_stat *st);

/*
 * Writes the content of key to fd (borrowed, not closed; written at its
 * current offset). On failure fd may have received part of the content.
 * *st (may be NULL) gets size, ETag and version.
 */
CAIRN_API int cairn_get_fd(cairn_client *c, const char *key, int fd, cairn_stat *st);

/* Streams the content of key to write_fn(arg, ...). */
CAIRN_API int cairn_get_cb(cairn_client *c, const char *key, cairn_write_fn write_fn, void *arg,
                           cairn_stat *st);

/* HEAD: size, ETag and version of key without its content. */
CAIRN_API int cairn_stat_key(cairn_client *c, const char *key, cairn_stat *st);

/* DELETE /v1/blobs/KEY with the client's durability. */
CAIRN_API int cairn_delete(cairn_client *c, const char *key);

/*
 * One page of the keys starting with prefix (NULL or "" = all), after key
 * `after` (NULL or "" = from the start; pass the previous page's cl_next),
 * at most limit entries (0 = the server's default). A key with an embedded
 * NUL byte cannot be given as `after`. On success *out owns a cairn_list (free with
 * cairn_list_free); on failure *out is NULL. A response that is not valid JSON of the documented
 * shape fails with CAIRN_CL_EPROTO.
 */
CAIRN_API int cairn_list_page(cairn_client *c, const char *prefix, const char *after,
                              unsigned limit, cairn_list **out);

/* Frees a listing; NULL is allowed. */
CAIRN_API void cairn_list_free(cairn_list *l);

/* ---- cluster ----------------------------------------------------------- */

/*
 * GET /v1/cluster. On success *json is a malloc'ed, NUL-terminated copy of
 * the response body (the caller frees it) and *len (may be NULL) its length.
 */
CAIRN_API int cairn_cluster_status(cairn_client *c, char **json, size_t *len);

/*
 * GET /v1/health, with failover: 0 when a node answers 200. json may be NULL;
 * otherwise it receives the body as for cairn_cluster_status. To check one
 * particular node, use a client holding only that node.
 */
CAIRN_API int cairn_health(cairn_client *c, char **json, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
