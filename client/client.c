/*
 * client.c -- the client handle, the request engine and its failover.
 *
 * Every operation is described by a `req` (method, encoded path, optional
 * upload source, sink for a 2xx body) and handed to run(), which tries the
 * nodes in order starting at the current one. One attempt is one
 * curl_easy_perform() on the client's easy handle (kept across requests so
 * connections are reused). Each attempt classifies its outcome into a
 * return code and "may the next node be tried"; see classify().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client_int.h"

#ifndef CAIRN_VERSION_STRING
#define CAIRN_VERSION_STRING "0.0.0"
#endif

#define ERRBODY_MAX (8 * 1024)
#define LIST_BODY_MAX (64 * 1024 * 1024)
#define JSON_BODY_MAX (16 * 1024 * 1024)
#define IO_CHUNK (64 * 1024)

struct cairn_client {
    CURL *cc_curl;
    char *cc_nodes[CAIRN_NODES_MAX];
    size_t cc_nnodes;
    size_t cc_cur;             /* node tried first: the last one that answered */
    char *cc_auth;             /* "Authorization: Bearer ..." or NULL */
    const char *cc_durability; /* static string or NULL */
    long cc_connect_ms;
    long cc_stall_s;
    long cc_stall_bps;
    cairn_progress_fn cc_progress;
    void *cc_progress_arg;
    cairn_error cc_err;
};

/* Upload source of a PUT. */
typedef struct src {
    cairn_read_fn sr_read;
    cairn_rewind_fn sr_rewind; /* NULL: not rewindable */
    void *sr_arg;
    int64_t sr_size;  /* -1: unknown, sent chunked */
    uint64_t sr_sent; /* bytes read since the last (re)start */
} src;

/* One request, as the operations describe it to run(). */
typedef struct req {
    const char *rq_method;  /* "GET", "HEAD", "PUT", "DELETE" */
    const char *rq_path;    /* encoded path and query */
    src *rq_src;            /* PUT body, else NULL */
    cairn_write_fn rq_sink; /* receives a 2xx body ... */
    void *rq_sink_arg;
    cairn__dbuf *rq_mem; /* ... or it is kept here (capped) */
} req;

/* State of one attempt against one node. */
typedef struct xfer {
    cairn_client *x_c;
    const req *x_req;
    long x_status; /* of the latest status line */
    char x_etag[128];
    char x_version[64];
    int64_t x_clen; /* Content-Length, -1 if none */
    long x_retry_after;
    uint64_t x_delivered; /* 2xx body bytes handed to the sink */
    int x_cb_rc;          /* failure raised inside one of our callbacks */
    cairn__dbuf x_errbody;
    char x_curlerr[CURL_ERROR_SIZE];
} xfer;

/* ---- client handle --------------------------------------------------- */

int cairn_client_new(cairn_client **out)
{
    cairn_client *c;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CAIRN_CL_ECURL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        curl_global_cleanup();
        return CAIRN_CL_ENOMEM;
    }
    c->cc_curl = curl_easy_init();
    if (c->cc_curl == NULL) {
        free(c);
        curl_global_cleanup();
        return CAIRN_CL_ECURL;
    }
    c->cc_connect_ms = 10000;
    c->cc_stall_s = 60;
    c->cc_stall_bps = 1;
    c->cc_err.ce_retry_after = -1;
    *out = c;
    return 0;
}

void cairn_client_free(cairn_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->cc_curl);
    for (size_t i = 0; i < c->cc_nnodes; i++)
        free(c->cc_nodes[i]);
    free(c->cc_auth);
    free(c);
    curl_global_cleanup();
}

/* All-or-nothing: the new URLs are normalized into a scratch array first. */
int cairn_client_add_nodes(cairn_client *c, const char *urls)
{
    char *fresh[CAIRN_NODES_MAX];
    size_t n = 0;
    const char *p = urls;
    int rc = 0;

    if (urls == NULL)
        return CAIRN_CL_EINVAL;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (c->cc_nnodes + n >= CAIRN_NODES_MAX) {
            rc = CAIRN_CL_EINVAL;
            goto fail;
        }
        rc = cairn__node_normalize(p, len, &fresh[n]);
        if (rc != 0)
            goto fail;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    memcpy(&c->cc_nodes[c->cc_nnodes], fresh, n * sizeof(fresh[0]));
    c->cc_nnodes += n;
    return 0;
fail:
    while (n > 0)
        free(fresh[--n]);
    return rc;
}

size_t cairn_client_node_count(const cairn_client *c)
{
    return c->cc_nnodes;
}

const char *cairn_client_node(const cairn_client *c, size_t i)
{
    return i < c->cc_nnodes ? c->cc_nodes[i] : NULL;
}

int cairn_client_set_token(cairn_client *c, const char *token)
{
    static const char prefix[] = "Authorization: Bearer ";
    char *auth;

    if (token == NULL || token[0] == '\0') {
        free(c->cc_auth);
        c->cc_auth = NULL;
        return 0;
    }
    for (const char *p = token; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return CAIRN_CL_EINVAL;
    }
    auth = malloc(sizeof(prefix) + strlen(token));
    if (auth == NULL)
        return CAIRN_CL_ENOMEM;
    memcpy(auth, prefix, sizeof(prefix) - 1);
    strcpy(auth + sizeof(prefix) - 1, token);
    free(c->cc_auth);
    c->cc_auth = auth;
    return 0;
}

int cairn_client_set_durability(cairn_client *c, const char *level)
{
    static const char *const levels[] = {"local", "majority", "all"};

    if (level == NULL) {
        c->cc_durability = NULL;
        return 0;
    }
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(level, levels[i]) == 0) {
            c->cc_durability = levels[i];
            return 0;
        }
    }
    return CAIRN_CL_EINVAL;
}

int cairn_client_set_timeouts(cairn_client *c, long connect_ms, long stall_s,
                              long stall_bytes_per_s)
{
    if (connect_ms < 0 || stall_s < 0 || stall_bytes_per_s < 0)
        return CAIRN_CL_EINVAL;
    c->cc_connect_ms = connect_ms;
    c->cc_stall_s = stall_s;
    c->cc_stall_bps = stall_bytes_per_s;
    return 0;
}

void cairn_client_set_progress(cairn_client *c, cairn_progress_fn fn, void *arg)
{
    c->cc_progress = fn;
    c->cc_progress_arg = arg;
}

const cairn_error *cairn_last_error(const cairn_client *c)
{
    return &c->cc_err;
}

const char *cairn_client_version(void)
{
    return CAIRN_VERSION_STRING;
}

/* ---- error state ------------------------------------------------------ */

static void err_clear(cairn_client *c)
{
    memset(&c->cc_err, 0, sizeof(c->cc_err));
    c->cc_err.ce_retry_after = -1;
}

/* Records a client-side failure (no HTTP response involved). Returns rc. */
static int err_local(cairn_client *c, int rc, const char *msg)
{
    c->cc_err.ce_rc = rc;
    snprintf(c->cc_err.ce_message, sizeof(c->cc_err.ce_message), "%s", msg);
    return rc;
}

/* ---- curl callbacks ---------------------------------------------------- */

/* Copies a header value (trimmed, one pair of quotes removed) into dst. */
static void header_value(char *dst, size_t size, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 &&
           (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= 2 && v[0] == 'W' && v[1] == '/') {
        v += 2;
        len -= 2;
    }
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (len >= size)
        len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static int header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/*
 * Called once per response header line. A status line starts a new
 * response (interim 1xx responses come first), so everything is reset.
 */
static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t len = size * nmemb;
    char val[128];

    if (len > 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);

        x->x_status = 0;
        if (sp != NULL && (size_t)(line + len - sp) >= 4) {
            long st = 0;

            for (int i = 1; i <= 3; i++) {
                if (sp[i] < '0' || sp[i] > '9') {
                    st = 0;
                    break;
                }
                st = st * 10 + (sp[i] - '0');
            }
            x->x_status = st;
        }
        x->x_etag[0] = '\0';
        x->x_version[0] = '\0';
        x->x_clen = -1;
        x->x_retry_after = -1;
    } else if (header_is(line, len, "etag")) {
        header_value(x->x_etag, sizeof(x->x_etag), line + 5, len - 5);
    } else if (header_is(line, len, "x-cairn-version")) {
        header_value(x->x_version, sizeof(x->x_version), line + 16, len - 16);
    } else if (header_is(line, len, "content-length")) {
        char *end;
        long long v;

        header_value(val, sizeof(val), line + 15, len - 15);
        errno = 0;
        v = strtoll(val, &end, 10);
        if (errno == 0 && end != val && *end == '\0' && v >= 0)
            x->x_clen = v;
    } else if (header_is(line, len, "retry-after")) {
        char *end;
        long v;

        header_value(val, sizeof(val), line + 12, len - 12);
        errno = 0;
        v = strtol(val, &end, 10);
        if (errno == 0 && end != val && *end == '\0' && v >= 0)
            x->x_retry_after = v;
    }
    return len;
}

static int is_2xx(long status)
{
    return status >= 200 && status <= 299;
}

/* Response body: a 2xx body goes to the request's sink, any other body
 * into the capped error buffer (the excess is dropped). */
static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t len = size * nmemb;
    int rc;

    if (!is_2xx(x->x_status)) {
        size_t room = x->x_errbody.db_cap - x->x_errbody.db_len;

        if (cairn__dbuf_add(&x->x_errbody, p, len < room ? len : room) != 0)
            return len; /* out of memory: the error is reported without its body */
        return len;
    }
    if (x->x_req->rq_sink != NULL)
        rc = x->x_req->rq_sink(x->x_req->rq_sink_arg, p, len);
    else if (x->x_req->rq_mem != NULL)
        rc = cairn__dbuf_add(x->x_req->rq_mem, p, len);
    else
        rc = 0;
    if (rc != 0) {
        x->x_cb_rc = rc < 0 ? rc : CAIRN_CL_EABORTED;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    x->x_delivered += len;
    return len;
}

/* Upload body: pulls from the source, never past its declared size. */
static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    src *s = x->x_req->rq_src;
    size_t len = size * nmemb;
    ssize_t n;

    if (s->sr_size >= 0) {
        uint64_t left = (uint64_t)s->sr_size - s->sr_sent;

        if (left == 0)
            return 0;
        if (len > left)
            len = (size_t)left;
    }
    n = s->sr_read(s->sr_arg, buf, len);
    if (n < 0) {
        x->x_cb_rc = (int)n;
        return CURL_READFUNC_ABORT;
    }
    if ((size_t)n > len) {
        x->x_cb_rc = CAIRN_CL_EINVAL;
        return CURL_READFUNC_ABORT;
    }
    if (n == 0 && s->sr_size >= 0) {
        x->x_cb_rc = CAIRN_CL_EINVAL; /* source shorter than declared */
        return CURL_READFUNC_ABORT;
    }
    s->sr_sent += (uint64_t)n;
    return (size_t)n;
}

/* libcurl asks to rewind when it must resend a body (for example after a
 * reused keep-alive connection turned out dead). Only offset 0 is needed. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    xfer *x = arg;
    src *s = x->x_req->rq_src;

    if (offset != 0 || origin != SEEK_SET || s->sr_rewind == NULL)
        return CURL_SEEKFUNC_CANTSEEK;
    if (s->sr_rewind(s->sr_arg) != 0)
        return CURL_SEEKFUNC_FAIL;
    s->sr_sent = 0;
    return CURL_SEEKFUNC_OK;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xfer *x = arg;
    cairn_client *c = x->x_c;
    int r;

    if (x->x_req->rq_src != NULL)
        r = c->cc_progress(c->cc_progress_arg, (uint64_t)(ulnow > 0 ? ulnow : 0),
                           (uint64_t)(ultotal > 0 ? ultotal : 0));
    else
        r = c->cc_progress(c->cc_progress_arg, (uint64_t)(dlnow > 0 ? dlnow : 0),
                           (uint64_t)(dltotal > 0 ? dltotal : 0));
    return r != 0;
}

/* ---- one attempt ------------------------------------------------------- */

/* Transport failures after which the next node may be tried. */
static int curl_is_network(CURLcode cres)
{
    switch (cres) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND: /* a reused connection died under a one-shot body */
        return 1;
    default:
        return 0;
    }
}

/*
 * Turns the outcome of an attempt into a return code, fills the client's
 * error record (for failures) and says whether another node may be tried.
 * Whether an upload source must be rewound first is run()'s business.
 */
static int classify(cairn_client *c, xfer *x, CURLcode cres, const char *node, int *retry)
{
    cairn_error *e = &c->cc_err;
    int rc;

    *retry = 0;
    err_clear(c);
    snprintf(e->ce_node, sizeof(e->ce_node), "%s", node);
    e->ce_http_status = (int)x->x_status;
    e->ce_retry_after = x->x_retry_after;
    if (x->x_cb_rc != 0) {
        rc = x->x_cb_rc;
        if (rc == CAIRN_CL_EINVAL)
            snprintf(e->ce_message, sizeof(e->ce_message),
                     "upload source ended before its declared size");
        else if (rc == CAIRN_CL_EPROTO)
            snprintf(e->ce_message, sizeof(e->ce_message), "response body too large");
        else
            snprintf(e->ce_message, sizeof(e->ce_message), "transfer stopped by the caller: %s",
                     cairn_client_strerror(rc));
    } else if (cres == CURLE_ABORTED_BY_CALLBACK) {
        rc = CAIRN_CL_EABORTED;
        snprintf(e->ce_message, sizeof(e->ce_message), "aborted by the progress callback");
    } else if (x->x_status >= 300 || (cres == CURLE_OK && !is_2xx(x->x_status))) {
        cairn__error_parse(x->x_errbody.db_data, x->x_errbody.db_len, e->ce_code,
                           sizeof(e->ce_code), e->ce_message, sizeof(e->ce_message));
        rc = cairn__status_to_rc(x->x_status, e->ce_code);
        if (e->ce_message[0] == '\0')
            snprintf(e->ce_message, sizeof(e->ce_message), "HTTP status %ld", x->x_status);
        *retry = rc == CAIRN_CL_EUNAVAIL || x->x_status == 502 || x->x_status == 504;
    } else if (cres != CURLE_OK) {
        const char *why = x->x_curlerr[0] ? x->x_curlerr : curl_easy_strerror(cres);

        e->ce_http_status = 0;
        snprintf(e->ce_message, sizeof(e->ce_message), "%s", why);
        if (!curl_is_network(cres)) {
            rc = CAIRN_CL_ECURL;
        } else if (cres == CURLE_COULDNT_CONNECT || cres == CURLE_COULDNT_RESOLVE_HOST) {
            rc = CAIRN_CL_EUNAVAIL;
            *retry = 1;
        } else {
            rc = cres == CURLE_OPERATION_TIMEDOUT ? CAIRN_CL_ETIMEDOUT : CAIRN_CL_ENET;
            *retry = x->x_delivered == 0;
        }
    } else {
        rc = 0;
    }
    e->ce_rc = rc;
    return rc;
}

/* Sets the options of one request on the easy handle (in its reset state). */
static int setup(cairn_client *c, xfer *x, const char *url, struct curl_slist *hdrs)
{
    CURL *h = c->cc_curl;
    const req *rq = x->x_req;
    CURLcode r = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (r == CURLE_OK)                                                                         \
            r = curl_easy_setopt(h, opt, val);                                                     \
    } while (0)

    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PATH_AS_IS, 1L); /* keys may contain "." and ".." segments */
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_USERAGENT, "libcairn/" CAIRN_VERSION_STRING);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->cc_connect_ms);
    if (c->cc_stall_s > 0 && c->cc_stall_bps > 0) {
        SET(CURLOPT_LOW_SPEED_TIME, c->cc_stall_s);
        SET(CURLOPT_LOW_SPEED_LIMIT, c->cc_stall_bps);
    }
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_ERRORBUFFER, x->x_curlerr);
    SET(CURLOPT_BUFFERSIZE, (long)IO_CHUNK);
    if (c->cc_progress != NULL) {
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, x);
    }
    if (strcmp(rq->rq_method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->rq_method, "PUT") == 0) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, x);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, x);
        SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->rq_src->sr_size);
        SET(CURLOPT_UPLOAD_BUFFERSIZE, (long)IO_CHUNK);
    } else if (strcmp(rq->rq_method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, rq->rq_method);
    }
#undef SET
    return r == CURLE_OK ? 0 : CAIRN_CL_ECURL;
}

/*
 * Runs the request once against node `node`. x is initialized here and its
 * error buffer freed before returning; the outcome is in the return value,
 * *retry, x's header fields and the client's error record.
 */
static int attempt(cairn_client *c, const req *rq, const char *node, struct curl_slist *hdrs,
                   xfer *x, int *retry)
{
    cairn__dbuf url;
    CURLcode cres;
    int rc;

    memset(x, 0, sizeof(*x));
    x->x_c = c;
    x->x_req = rq;
    x->x_clen = -1;
    x->x_retry_after = -1;
    cairn__dbuf_init(&x->x_errbody, ERRBODY_MAX);
    cairn__dbuf_init(&url, 8192);
    *retry = 0;
    if (rq->rq_mem != NULL)
        rq->rq_mem->db_len = 0;
    if (rq->rq_src != NULL)
        rq->rq_src->sr_sent = 0;
    rc = cairn__dbuf_adds(&url, node);
    if (rc == 0)
        rc = cairn__dbuf_adds(&url, rq->rq_path);
    if (rc != 0) {
        rc = err_local(c, rc == CAIRN_CL_EPROTO ? CAIRN_CL_EINVAL : rc, "request URL too long");
        goto done;
    }
    rc = setup(c, x, url.db_data, hdrs);
    if (rc != 0) {
        rc = err_local(c, rc, "libcurl refused an option");
        goto done;
    }
    cres = curl_easy_perform(c->cc_curl);
    rc = classify(c, x, cres, node, retry);
done:
    /* Forget every pointer into x and rq (they die with the caller's stack
     * frame); the connection cache survives a reset. */
    curl_easy_reset(c->cc_curl);
    cairn__dbuf_free(&url);
    cairn__dbuf_free(&x->x_errbody);
    return rc;
}

/* Appends a note to the error message, truncating as needed. */
static void err_note(cairn_client *c, const char *note)
{
    size_t n = strlen(c->cc_err.ce_message);

    snprintf(c->cc_err.ce_message + n, sizeof(c->cc_err.ce_message) - n, "%s", note);
}

/*
 * Runs rq with failover. On success the node that answered becomes the
 * current node and *st (may be NULL) gets what the response said about the
 * blob. On failure the client's error record describes the last attempt.
 */
static int run(cairn_client *c, const req *rq, cairn_stat *st)
{
    struct curl_slist *hdrs = NULL, *tmp;
    size_t start = c->cc_cur, node = start, tried = 0;
    xfer x;
    int rc = 0, retry = 0;

    err_clear(c);
    if (c->cc_nnodes == 0)
        return err_local(c, CAIRN_CL_EINVAL, "no node URL configured");
    /* "Expect:" stops libcurl from waiting for a 100 Continue before a body. */
    tmp = curl_slist_append(hdrs, "Expect:");
    if (tmp != NULL) {
        hdrs = tmp;
        if (c->cc_auth != NULL) {
            tmp = curl_slist_append(hdrs, c->cc_auth);
            if (tmp != NULL)
                hdrs = tmp;
        }
    }
    if (tmp == NULL) {
        rc = err_local(c, CAIRN_CL_ENOMEM, "out of memory");
        goto done;
    }
    for (tried = 0; tried < c->cc_nnodes; tried++) {
        node = (start + tried) % c->cc_nnodes;
        if (tried > 0 && rq->rq_src != NULL && rq->rq_src->sr_sent > 0) {
            src *s = rq->rq_src;

            if (s->sr_rewind == NULL || s->sr_rewind(s->sr_arg) != 0) {
                err_note(c, " (not retried on another node: the upload source cannot be rewound)");
                goto done;
            }
            s->sr_sent = 0;
        }
        rc = attempt(c, rq, c->cc_nodes[node], hdrs, &x, &retry);
        if (rc == 0 || !retry)
            break;
    }
    if (rc == 0 || !retry) {
        if (c->cc_err.ce_http_status != 0 || rc == 0)
            c->cc_cur = node; /* it answered */
        if (tried < c->cc_nnodes)
            tried++;
    } else if (c->cc_nnodes > 1) {
        char last[sizeof(c->cc_err.ce_message)];

        /* Every node failed in a way that allowed trying the next one. */
        memcpy(last, c->cc_err.ce_message, sizeof(last));
        snprintf(c->cc_err.ce_message, sizeof(c->cc_err.ce_message),
                 "all %zu nodes failed; last: %.400s", c->cc_nnodes, last);
        rc = CAIRN_CL_EUNAVAIL;
    } else {
        rc = CAIRN_CL_EUNAVAIL;
    }
    if (rc == 0 && st != NULL) {
        memset(st, 0, sizeof(*st));
        if (rq->rq_src != NULL)
            st->cs_size = rq->rq_src->sr_sent;
        else if (strcmp(rq->rq_method, "HEAD") == 0)
            st->cs_size = x.x_clen >= 0 ? (uint64_t)x.x_clen : 0;
        else
            st->cs_size = x.x_delivered;
        memcpy(st->cs_etag, x.x_etag, sizeof(st->cs_etag));
        memcpy(st->cs_version, x.x_version, sizeof(st->cs_version));
    }
done:
    curl_slist_free_all(hdrs);
    c->cc_err.ce_nodes_tried = (unsigned)tried;
    c->cc_err.ce_rc = rc;
    if (rc == 0)
        err_clear(c);
    return rc;
}

/* ---- sources and sinks ------------------------------------------------- */

typedef struct fdsrc {
    int fs_fd;
    off_t fs_start; /* -1: not seekable */
} fdsrc;

static ssize_t fd_read(void *arg, char *buf, size_t len)
{
    fdsrc *f = arg;
    ssize_t n;

    do {
        n = read(f->fs_fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int fd_rewind(void *arg)
{
    fdsrc *f = arg;

    if (f->fs_start < 0 || lseek(f->fs_fd, f->fs_start, SEEK_SET) < 0)
        return -1;
    return 0;
}

typedef struct bufsrc {
    const char *bs_p;
    size_t bs_len;
    size_t bs_pos;
} bufsrc;

static ssize_t buf_read(void *arg, char *buf, size_t len)
{
    bufsrc *b = arg;
    size_t n = b->bs_len - b->bs_pos;

    if (n > len)
        n = len;
    memcpy(buf, b->bs_p + b->bs_pos, n);
    b->bs_pos += n;
    return (ssize_t)n;
}

static int buf_rewind(void *arg)
{
    ((bufsrc *)arg)->bs_pos = 0;
    return 0;
}

static int fd_write(void *arg, const char *buf, size_t len)
{
    int fd = *(int *)arg;

    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- operations -------------------------------------------------------- */

/* Validates key and builds its request path into path. */
static int key_path(cairn_client *c, const char *key, const char *durability, cairn__dbuf *path)
{
    int rc;

    err_clear(c);
    if (key == NULL || cairn__key_check(key, strlen(key)) != 0)
        return err_local(c, CAIRN_CL_EINVAL, "a key must be 1..1024 bytes of valid UTF-8");
    rc = cairn__blob_path(path, key, durability);
    if (rc != 0)
        return err_local(c, CAIRN_CL_ENOMEM, "out of memory");
    return 0;
}

static int do_put(cairn_client *c, const char *key, src *s, cairn_stat *st)
{
    cairn__dbuf path;
    req rq = {"PUT", NULL, s, NULL, NULL, NULL};
    int rc;

    cairn__dbuf_init(&path, 8 * CAIRN_KEY_MAX);
    rc = key_path(c, key, c->cc_durability, &path);
    if (rc == 0) {
        rq.rq_path = path.db_data;
        rc = run(c, &rq, st);
    }
    cairn__dbuf_free(&path);
    return rc;
}

int cairn_put_fd(cairn_client *c, const char *key, int fd, int64_t size, cairn_stat *st)
{
    fdsrc f = {fd, -1};
    src s = {fd_read, NULL, &f, size, 0};
    struct stat sb;

    err_clear(c);
    if (fd < 0 || size < -1)
        return err_local(c, CAIRN_CL_EINVAL, "bad file descriptor or size");
    if (fstat(fd, &sb) != 0)
        return err_local(c, -errno, "cannot fstat the source");
    f.fs_start = lseek(fd, 0, SEEK_CUR); /* -1 for pipes and sockets */
    if (f.fs_start >= 0)
        s.sr_rewind = fd_rewind;
    if (size < 0 && S_ISREG(sb.st_mode) && f.fs_start >= 0)
        s.sr_size = sb.st_size > f.fs_start ? (int64_t)(sb.st_size - f.fs_start) : 0;
    return do_put(c, key, &s, st);
}

int cairn_put_buf(cairn_client *c, const char *key, const void *buf, size_t len, cairn_stat *st)
{
    bufsrc b = {buf, len, 0};
    src s = {buf_read, buf_rewind, &b, (int64_t)len, 0};

    err_clear(c);
    if (buf == NULL && len > 0)
        return err_local(c, CAIRN_CL_EINVAL, "NULL buffer");
    return do_put(c, key, &s, st);
}

int cairn_put_cb(cairn_client *c, const char *key, int64_t size, cairn_read_fn read_fn,
                 cairn_rewind_fn rewind_fn, void *arg, cairn_stat *st)
{
    src s = {read_fn, rewind_fn, arg, size, 0};

    err_clear(c);
    if (read_fn == NULL || size < -1)
        return err_local(c, CAIRN_CL_EINVAL, "no read callback or bad size");
    return do_put(c, key, &s, st);
}

/* GET or HEAD of one key, body to sink (GET only). */
static int do_get(cairn_client *c, const char *method, const char *key, cairn_write_fn sink,
                  void *arg, cairn_stat *st)
{
    cairn__dbuf path;
    req rq = {method, NULL, NULL, sink, arg, NULL};
    int rc;

    cairn__dbuf_init(&path, 8 * CAIRN_KEY_MAX);
    rc = key_path(c, key, NULL, &path);
    if (rc == 0) {
        rq.rq_path = path.db_data;
        rc = run(c, &rq, st);
    }
    cairn__dbuf_free(&path);
    return rc;
}

int cairn_get_fd(cairn_client *c, const char *key, int fd, cairn_stat *st)
{
    err_clear(c);
    if (fd < 0)
        return err_local(c, CAIRN_CL_EINVAL, "bad file descriptor");
    return do_get(c, "GET", key, fd_write, &fd, st);
}

int cairn_get_cb(cairn_client *c, const char *key, cairn_write_fn write_fn, void *arg,
                 cairn_stat *st)
{
    err_clear(c);
    if (write_fn == NULL)
        return err_local(c, CAIRN_CL_EINVAL, "no write callback");
    return do_get(c, "GET", key, write_fn, arg, st);
}

int cairn_stat_key(cairn_client *c, const char *key, cairn_stat *st)
{
    return do_get(c, "HEAD", key, NULL, NULL, st);
}

int cairn_delete(cairn_client *c, const char *key)
{
    cairn__dbuf path;
    req rq = {"DELETE", NULL, NULL, NULL, NULL, NULL};
    int rc;

    cairn__dbuf_init(&path, 8 * CAIRN_KEY_MAX);
    rc = key_path(c, key, c->cc_durability, &path);
    if (rc == 0) {
        rq.rq_path = path.db_data;
        rc = run(c, &rq, NULL);
    }
    cairn__dbuf_free(&path);
    return rc;
}

/* GET of a JSON document kept in memory (capped at cap bytes). On success
 * *body owns the NUL-terminated text. */
static int get_json(cairn_client *c, const char *path, size_t cap, char **body, size_t *len)
{
    cairn__dbuf mem;
    req rq = {"GET", path, NULL, NULL, NULL, &mem};
    int rc;

    *body = NULL;
    cairn__dbuf_init(&mem, cap);
    rc = run(c, &rq, NULL);
    if (rc == 0) {
        rc = cairn__dbuf_take(&mem, body, len);
        if (rc != 0)
            err_local(c, rc, "out of memory");
    }
    cairn__dbuf_free(&mem);
    return rc;
}

int cairn_list_page(cairn_client *c, const char *prefix, const char *after, unsigned limit,
                    cairn_list **out)
{
    cairn__dbuf path;
    char *body = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    err_clear(c);
    cairn__dbuf_init(&path, 32 * CAIRN_KEY_MAX);
    if ((prefix != NULL && !cairn__utf8_valid(prefix, strlen(prefix))) ||
        (after != NULL && !cairn__utf8_valid(after, strlen(after)))) {
        rc = err_local(c, CAIRN_CL_EINVAL, "prefix and after must be valid UTF-8");
        goto done;
    }
    rc = cairn__list_path(&path, prefix, after, limit);
    if (rc != 0) {
        rc = err_local(c, CAIRN_CL_EINVAL, "prefix or after too long");
        goto done;
    }
    rc = get_json(c, path.db_data, LIST_BODY_MAX, &body, &len);
    if (rc != 0)
        goto done;
    rc = cairn__list_parse(body, len, out);
    if (rc != 0) {
        c->cc_err.ce_rc = rc;
        snprintf(c->cc_err.ce_node, sizeof(c->cc_err.ce_node), "%s", c->cc_nodes[c->cc_cur]);
        snprintf(c->cc_err.ce_message, sizeof(c->cc_err.ce_message), "%s",
                 rc == CAIRN_CL_EPROTO ? "malformed listing (not the documented JSON shape)"
                                       : "out of memory");
    }
done:
    free(body);
    cairn__dbuf_free(&path);
    return rc;
}

int cairn_cluster_status(cairn_client *c, char **json, size_t *len)
{
    return get_json(c, "/v1/cluster", JSON_BODY_MAX, json, len);
}

int cairn_health(cairn_client *c, char **json, size_t *len)
{
    char *body = NULL;
    int rc;

    rc = get_json(c, "/v1/health", JSON_BODY_MAX, &body, len);
    if (json != NULL)
        *json = body;
    else
        free(body);
    return rc;
}
