/*
 * http_routes.c -- the HTTP API (DESIGN.md section 7; docs/http-api.md).
 *
 * Every store call runs in routes_work() on a pool thread; the loop thread
 * only routes, validates and formats -- with one exception: a GET/HEAD of
 * an inline version (or of a missing key) is answered on the loop thread
 * from one short LMDB read transaction (get_inline, store_read_inline).
 * A handler has at most one work item in flight (the connection's), and
 * the fields a work item touches (writer, reader, flight buffer, results)
 * are left alone by the loop meanwhile.
 *
 * Uploads stream through two CONN_UPLOAD_BUF buffers: the socket fills one
 * while the other is written; when both are busy the parser stops taking
 * body bytes and the connection stops reading. Downloads are sendfile(2)
 * from the blob file, one DATA step at a time, only when the socket is
 * writable -- except a whole file of at most CONN_SMALL_READ bytes, which
 * the first work item reads into memory (read_small_whole).
 */
#include "node/http_routes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/cluster_status.h"
#include "node/server.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000
#define LIST_STOP 1
#define READ_REOPEN_MAX 4
#define PUT_WHOLE_MAX (64 * 1024) /* PUT bodies up to this size go in one pool job */

static store_t *store_of(const conn_t *c)
{
    return c->c_srv->sv_store;
}

static const node_config_t *cfg_of(const conn_t *c)
{
    return c->c_srv->sv_cfg;
}

static int is_get_or_head(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD;
}

static void method_not_allowed(conn_t *c, const char *allow)
{
    char extra[96];
    char msg[128];

    snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
    snprintf(msg, sizeof(msg), "method %s not allowed here (allowed: %s)",
             llhttp_method_name((llhttp_method_t)c->c_rq.rq_method), allow);
    conn_respond_error(c, 405, "method_not_allowed", msg, extra);
}

static void bad_request(conn_t *c, const char *msg)
{
    conn_respond_error(c, 400, "bad_request", msg, NULL);
}

/* Queues op or, if that fails, answers 500. */
static void queue_or_fail(conn_t *c, work_op_t op)
{
    int rc = conn_queue_work(c, op);

    if (rc < 0) {
        LOG_ERROR("http.queue_work_failed", "conn=%" PRIu64 " err=%s", c->c_id, uv_strerror(rc));
        conn_respond_error(c, 500, "internal", "cannot schedule disk work", NULL);
    }
}

/* ------------------------------------------------------------------ query */

/*
 * Reads ?durability=local|majority|all into rq_durability (default from the
 * config). Single node: every level is met by the local commit. Returns 0,
 * or -1 after answering 400.
 */
static int parse_durability(conn_t *c, const char *q, const char *end)
{
    request_t *rq = &c->c_rq;
    const char *name, *val;
    size_t nlen, vlen, dlen;
    char dec[16];

    rq->rq_durability = cfg_of(c)->nc_durability;
    while (http_query_next(&q, end, &name, &nlen, &val, &vlen)) {
        if (!(nlen == 10 && memcmp(name, "durability", 10) == 0))
            continue;
        if (http_pct_decode(val, vlen, 1, dec, sizeof(dec), &dlen) < 0 ||
            durability_parse(dec, dlen, &rq->rq_durability) < 0) {
            bad_request(c, "durability must be local, majority or all");
            return -1;
        }
    }
    return 0;
}

/* Decodes a listing parameter (prefix/after) of at most STORE_KEY_MAX bytes. */
static int decode_param(const char *val, size_t vlen, char *out, size_t *outlen)
{
    size_t n;

    if (http_pct_decode(val, vlen, 1, out, STORE_KEY_MAX, &n) < 0)
        return CAIRN_EINVAL;
    if (memchr(out, '\0', n) != NULL)
        return CAIRN_EINVAL;
    out[n] = '\0';
    *outlen = n;
    return 0;
}

/* ------------------------------------------------------------------- auth */

/* Returns 0 when the request may proceed, -1 after answering 401. */
static int check_auth(conn_t *c)
{
    const node_config_t *cfg = cfg_of(c);
    const char *v, *tok;
    size_t vlen, tlen;

    if (cfg->nc_token == NULL)
        return 0;
    v = conn_hdr(c, HDR_AUTHORIZATION, &vlen);
    if (v != NULL && http_bearer_token(v, vlen, &tok, &tlen) == 0 &&
        http_token_equal(tok, tlen, cfg->nc_token, cfg->nc_token_len))
        return 0;
    conn_respond_error(c, 401, "unauthorized",
                       v == NULL ? "this node requires Authorization: Bearer TOKEN"
                                 : "invalid bearer token",
                       "WWW-Authenticate: Bearer realm=\"cairn\"\r\n");
    return -1;
}

/* ----------------------------------------------------------------- simple */

static void health(conn_t *c)
{
    server_t *sv = c->c_srv;
    char body[128];
    int n;

    if (sv->sv_stopping) {
        n = snprintf(body, sizeof(body), "{\"status\":\"stopping\",\"node_id\":%u}\n",
                     (unsigned)cfg_of(c)->nc_node_id);
        conn_respond(c, 503, "application/json", "Retry-After: 1\r\n", body, (size_t)n);
        return;
    }
    n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"node_id\":%u}\n",
                 (unsigned)cfg_of(c)->nc_node_id);
    conn_respond(c, 200, "application/json", NULL, body, (size_t)n);
}

/* /v1/cluster, rendered after store_get_stats (peers from replication). */
static void cluster_done(conn_t *c)
{
    request_t *rq = &c->c_rq;
    buf_t *b = &rq->rq_body;

    if (cluster_status_json(cfg_of(c), c->c_srv->sv_repl, &rq->rq_stats, cluster_now_unix_ms(), b) <
        0) {
        conn_respond_error(c, 500, "internal", "cluster state too large", NULL);
        return;
    }
    conn_respond(c, 200, "application/json", NULL, b->b_data, b->b_len);
}

static void metrics_done(conn_t *c)
{
    server_t *sv = c->c_srv;
    request_t *rq = &c->c_rq;
    metrics_node_info_t ni;

    ni.mi_node_id = cfg_of(c)->nc_node_id;
    ni.mi_repair_reports = atomic_load(&sv->sv_repair_reports);
    ni.mi_uptime_s = (double)(uv_now(sv->sv_loop) - sv->sv_start_ms) / 1000.0;
    if (metrics_render(&sv->sv_metrics, &rq->rq_stats, &ni, &rq->rq_body) < 0 ||
        metrics_render_repl(sv->sv_repl, cluster_now_unix_ms(), &rq->rq_body) < 0) {
        conn_respond_error(c, 500, "internal", "metrics too large", NULL);
        return;
    }
    conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, rq->rq_body.b_data,
                 rq->rq_body.b_len);
}

/* ------------------------------------------------------------------- list */

static void list_start(conn_t *c, const char *q, const char *end)
{
    request_t *rq = &c->c_rq;
    const char *name, *val;
    size_t nlen, vlen;
    long long lim;
    char num[24];
    size_t numlen;

    rq->rq_limit = LIST_DEFAULT_LIMIT;
    while (http_query_next(&q, end, &name, &nlen, &val, &vlen)) {
        if (nlen == 6 && memcmp(name, "prefix", 6) == 0) {
            if (decode_param(val, vlen, rq->rq_prefix, &rq->rq_plen) < 0) {
                bad_request(c, "prefix must be at most 1024 bytes, percent-encoded, without NUL");
                return;
            }
        } else if (nlen == 5 && memcmp(name, "after", 5) == 0) {
            if (decode_param(val, vlen, rq->rq_after, &rq->rq_alen) < 0) {
                bad_request(c, "after must be at most 1024 bytes, percent-encoded, without NUL");
                return;
            }
            rq->rq_has_after = rq->rq_alen > 0;
        } else if (nlen == 5 && memcmp(name, "limit", 5) == 0) {
            lim = 0;
            if (http_pct_decode(val, vlen, 0, num, sizeof(num) - 1, &numlen) == 0) {
                num[numlen] = '\0';
                if (numlen > 0 && numlen <= 4 && strspn(num, "0123456789") == numlen)
                    lim = atoll(num);
            }
            if (lim < 1 || lim > LIST_MAX_LIMIT) {
                bad_request(c, "limit must be an integer in 1..1000");
                return;
            }
            rq->rq_limit = (unsigned)lim;
        }
    }
    rq->rq_kind = RK_LIST;
    queue_or_fail(c, W_LIST);
}

/* store_list callback (pool thread): appends one item to the JSON page. */
static int list_item(void *arg, const store_stat_t *st)
{
    conn_t *c = arg;
    request_t *rq = &c->c_rq;
    buf_t *b = &rq->rq_body;
    char etag[2 * STORE_HASH_LEN + 1];
    char ver[32];
    int rc;

    if (rq->rq_nitems > 0 && b->b_len >= LIST_SOFT_BYTES)
        return LIST_STOP; /* the page is big enough; this item starts the next one */
    http_etag_hex(st->st_hash, etag);
    http_version_str(&st->st_version, ver);
    rc = buf_appendf(b, "%s{\"key\":", rq->rq_nitems > 0 ? "," : "");
    if (rc == 0)
        rc = buf_append_json_str(b, st->st_key, st->st_klen);
    if (rc == 0)
        rc = buf_appendf(b,
                         ",\"size\":%" PRIu64 ",\"etag\":\"%s\",\"version\":\"%s\","
                         "\"state\":\"%s\"}",
                         st->st_size, etag, ver,
                         st->st_state == STORE_RECEIVING ? "receiving" : "complete");
    if (rc < 0)
        return rc;
    memcpy(rq->rq_last, st->st_key, st->st_klen);
    rq->rq_last_len = st->st_klen;
    rq->rq_nitems++;
    return 0;
}

static int list_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    buf_t *b = &rq->rq_body;
    int more = 0;
    int rc;

    rc = buf_append(b, "{\"items\":[", 10);
    if (rc < 0)
        return rc;
    rc = store_list(store_of(c), rq->rq_prefix, rq->rq_plen, rq->rq_has_after ? rq->rq_after : NULL,
                    rq->rq_alen, rq->rq_limit, list_item, c, &more);
    if (rc == LIST_STOP) {
        more = 1;
        rc = 0;
    }
    if (rc < 0)
        return rc;
    rc = buf_append(b, "],\"next\":", 9);
    if (rc == 0 && more && rq->rq_nitems > 0)
        rc = buf_append_json_str(b, rq->rq_last, rq->rq_last_len);
    else if (rc == 0)
        rc = buf_append(b, "null", 4);
    if (rc == 0)
        rc = buf_append(b, "}\n", 2);
    return rc;
}

/* -------------------------------------------------------------------- PUT */

static void put_settle(conn_t *c);

/* Records the upload's first failure, answers it and aborts the writer. */
static void put_fail(conn_t *c, int rc, const char *msg)
{
    request_t *rq = &c->c_rq;
    char buf[160];

    if (rq->rq_put_rc != 0)
        return;
    rq->rq_put_rc = rc;
    c->c_srv->sv_metrics.m_uploads_aborted++;
    if (msg == NULL) {
        snprintf(buf, sizeof(buf), "upload failed: %s", cairn_strerror(rc));
        msg = buf;
    }
    if (rc == CAIRN_EPRECOND || rc == CAIRN_ETOOBIG || rc == CAIRN_EINVAL)
        LOG_DEBUG("put.refused", "conn=%" PRIu64 " err=%s", c->c_id, cairn_errname(rc));
    else
        LOG_WARN("put.failed", "conn=%" PRIu64 " key_len=%zu bytes=%" PRIu64 " err=%s", c->c_id,
                 rq->rq_klen, rq->rq_bytes_in, cairn_errname(rc));
    if (rc == CAIRN_EPRECOND)
        conn_respond_error(c, 412, "precondition_failed", msg, NULL);
    else
        conn_respond_rc(c, rc, msg);
    put_settle(c);
}

/* After a failure: abort the writer as soon as no work item runs. */
static void put_settle(conn_t *c)
{
    request_t *rq = &c->c_rq;

    if (rq->rq_put_rc == 0 || rq->rq_writer == NULL || c->c_work_busy)
        return;
    if (conn_queue_work(c, W_PUT_ABORT) < 0) {
        /* Cannot happen with a valid callback; leave the writer for release. */
        LOG_ERROR("put.abort_queue_failed", "conn=%" PRIu64, c->c_id);
    }
}

/* Body bytes the fill buffer can still take: a whole-body PUT's buffer is
 * sized to its Content-Length. */
static size_t put_room(const request_t *rq)
{
    if (rq->rq_put_whole)
        return rq->rq_fill != NULL ? (size_t)rq->rq_clen - rq->rq_fill_len : 0;
    return CONN_UPLOAD_BUF - rq->rq_fill_len;
}

/* Hands a full buffer (or the last bytes plus finish) to the pool; a
 * whole-body PUT hands its body over once, with the begin. */
static void put_pump(conn_t *c)
{
    request_t *rq = &c->c_rq;
    char *t;

    if (rq->rq_kind == RK_PUT && rq->rq_put_whole) {
        if (rq->rq_put_begun || rq->rq_put_rc != 0 || c->c_work_busy || !rq->rq_msg_done ||
            rq->rq_fill == NULL)
            return;
        rq->rq_flight = rq->rq_fill;
        rq->rq_flight_len = rq->rq_fill_len;
        rq->rq_flight_finish = 1;
        rq->rq_fill = NULL;
        rq->rq_fill_len = 0;
        if (conn_queue_work(c, W_PUT_BEGIN) < 0)
            put_fail(c, CAIRN_EINVAL, "cannot schedule disk work");
        return;
    }
    if (rq->rq_kind != RK_PUT || !rq->rq_put_begun || rq->rq_put_rc != 0 || c->c_work_busy ||
        rq->rq_writer == NULL)
        return;
    if (rq->rq_fill_len < CONN_UPLOAD_BUF && !rq->rq_msg_done)
        return;
    t = rq->rq_flight;
    rq->rq_flight = rq->rq_fill;
    rq->rq_fill = t;
    rq->rq_flight_len = rq->rq_fill_len;
    rq->rq_fill_len = 0;
    rq->rq_flight_finish = rq->rq_msg_done;
    if (conn_queue_work(c, W_PUT_WRITE) < 0)
        put_fail(c, CAIRN_EINVAL, "cannot schedule disk work");
}

static void put_start(conn_t *c, const char *q, const char *end)
{
    const node_config_t *cfg = cfg_of(c);
    request_t *rq = &c->c_rq;
    llhttp_t *p = &c->c_parser;
    const char *v;
    size_t vlen;
    char msg[160];
    int star;

    if (parse_durability(c, q, end) < 0)
        return;
    v = conn_hdr(c, HDR_CONTENT_TYPE, &vlen);
    if (v != NULL && http_ctype_valid(v, vlen) < 0) {
        bad_request(c, "Content-Type must be 1..255 bytes of visible ASCII");
        return;
    }
    if ((p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED)) {
        if (p->content_length > cfg->nc_max_blob_size) {
            snprintf(msg, sizeof(msg), "blob larger than the limit of %" PRIu64 " bytes",
                     cfg->nc_max_blob_size);
            conn_respond_error(c, 413, "payload_too_large", msg, NULL);
            return;
        }
        rq->rq_clen = (int64_t)p->content_length;
    }
    v = conn_hdr(c, HDR_IF_NONE_MATCH, &vlen);
    if (v != NULL) {
        if (http_etag_match(v, vlen, NULL, 1, &star) < 0 || !star) {
            bad_request(c, "If-None-Match on PUT supports only *");
            return;
        }
        rq->rq_if_none_match = 1;
    }
    v = conn_hdr(c, HDR_IF_MATCH, &vlen);
    if (v != NULL) {
        if (http_etag_match(v, vlen, NULL, 0, &star) < 0) {
            bad_request(c, "malformed If-Match");
            return;
        }
        rq->rq_has_if_match = 1;
    }
    rq->rq_expect_continue = conn_hdr(c, HDR_EXPECT, &vlen) != NULL;
    /* A small body with a Content-Length (and no 100-continue to answer
     * first) is buffered whole and written by one pool job that begins,
     * writes and finishes: one hop to the pool instead of two, and only
     * its own size in memory. Preconditions are then answered after the
     * body was read instead of before -- it is small. */
    if (rq->rq_clen >= 0 && rq->rq_clen <= PUT_WHOLE_MAX && !rq->rq_expect_continue) {
        rq->rq_put_whole = 1;
        rq->rq_fill = malloc(rq->rq_clen > 0 ? (size_t)rq->rq_clen : 1);
        if (rq->rq_fill == NULL) {
            conn_respond_error(c, 500, "internal", "out of memory", NULL);
            return;
        }
        rq->rq_kind = RK_PUT;
        return; /* put_pump queues the job once the message is done */
    }
    rq->rq_fill = malloc(CONN_UPLOAD_BUF);
    rq->rq_flight = malloc(CONN_UPLOAD_BUF);
    if (rq->rq_fill == NULL || rq->rq_flight == NULL) {
        conn_respond_error(c, 500, "internal", "out of memory", NULL);
        return;
    }
    rq->rq_kind = RK_PUT;
    if (conn_queue_work(c, W_PUT_BEGIN) < 0)
        put_fail(c, CAIRN_EINVAL, "cannot schedule disk work");
}

/*
 * Pool thread. Resolves If-Match against the live record: CAIRN_EPRECOND
 * when the key is absent or no listed ETag matches; otherwise the live hash
 * goes to rq_if_match_hash for the store's atomic re-check at commit.
 */
static int if_match_resolve(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_stat_t st;
    const char *v;
    size_t vlen;
    int rc, star;

    rc = store_stat(store_of(c), rq->rq_key, rq->rq_klen, 0, &st);
    if (rc == CAIRN_ENOTFOUND)
        return CAIRN_EPRECOND;
    if (rc < 0)
        return rc;
    v = conn_hdr(c, HDR_IF_MATCH, &vlen);
    if (http_etag_match(v, vlen, st.st_hash, 0, &star) != 1)
        return CAIRN_EPRECOND;
    memcpy(rq->rq_if_match_hash, st.st_hash, STORE_HASH_LEN);
    return 0;
}

static int put_write_work(conn_t *c);

/*
 * Pool thread. Checks If-Match / If-None-Match against the current record
 * (fast 412 before any body byte is accepted; the store checks again
 * atomically at commit) and begins the write; a whole-body PUT also
 * writes and finishes it here (put_write_work).
 */
static int put_begin_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_put_opts_t o;
    store_stat_t st;
    char ctype[STORE_CTYPE_MAX + 1];
    const char *v;
    size_t vlen;
    int rc;

    memset(&o, 0, sizeof(o));
    o.po_mode = STORE_PUT_LOCAL;
    o.po_size = rq->rq_clen;
    v = conn_hdr(c, HDR_CONTENT_TYPE, &vlen);
    if (v != NULL) {
        memcpy(ctype, v, vlen);
        ctype[vlen] = '\0';
        o.po_ctype = ctype;
    }
    if (rq->rq_has_if_match) {
        rc = if_match_resolve(c);
        if (rc < 0)
            return rc;
        o.po_if_match = rq->rq_if_match_hash;
    }
    if (rq->rq_if_none_match) {
        rc = store_stat(store_of(c), rq->rq_key, rq->rq_klen, 0, &st);
        if (rc == 0)
            return CAIRN_EPRECOND;
        if (rc != CAIRN_ENOTFOUND)
            return rc;
        o.po_if_none_match = 1;
    }
    rc = store_put_begin(store_of(c), rq->rq_key, rq->rq_klen, &o, &rq->rq_writer);
    if (rc == 0 && rq->rq_put_whole)
        rc = put_write_work(c);
    return rc;
}

/* Pool thread: writes the flight buffer, then finishes when it was the last. */
static int put_write_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int rc = 0;

    if (rq->rq_flight_len > 0)
        rc = store_put_write(rq->rq_writer, rq->rq_flight, rq->rq_flight_len);
    rq->rq_flight_len = 0;
    if (rc == 0 && rq->rq_flight_finish) {
        rc = store_put_finish(rq->rq_writer, &rq->rq_st);
        rq->rq_writer = NULL; /* freed by finish in every case */
    }
    return rc;
}

/* The 201 of a committed PUT (after its durability level was met). */
static void put_respond(conn_t *c)
{
    request_t *rq = &c->c_rq;
    const store_stat_t *st = &rq->rq_st;
    char etag[2 * STORE_HASH_LEN + 1];
    char ver[32];
    char extra[160];
    buf_t *b = &rq->rq_body;
    int rc;

    http_etag_hex(st->st_hash, etag);
    http_version_str(&st->st_version, ver);
    snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\nX-Cairn-Version: %s\r\n", etag, ver);
    rc = buf_append(b, "{\"key\":", 7);
    if (rc == 0)
        rc = buf_append_json_str(b, rq->rq_key, rq->rq_klen);
    if (rc == 0)
        rc = buf_appendf(b,
                         ",\"size\":%" PRIu64 ",\"etag\":\"%s\",\"version\":\"%s\","
                         "\"durability\":\"%s\"}\n",
                         st->st_size, etag, ver, durability_name(rq->rq_durability));
    if (rc < 0) {
        conn_respond_error(c, 500, "internal", "response too large", NULL);
        return;
    }
    conn_respond(c, 201, "application/json", extra, b->b_data, b->b_len);
}

/* ------------------------------------------------------------- durability */

/* The success response of the committed change (PUT 201 / DELETE 204). */
static void durable_respond(conn_t *c)
{
    request_t *rq = &c->c_rq;
    char ver[32];
    char extra[64];

    if (rq->rq_kind == RK_PUT) {
        put_respond(c);
        return;
    }
    http_version_str(&rq->rq_st.st_version, ver);
    snprintf(extra, sizeof(extra), "X-Cairn-Version: %s\r\n", ver);
    conn_respond(c, 204, NULL, extra, NULL, 0);
}

/*
 * 503 durability_timeout: the change is committed here (and stays, and
 * keeps replicating) but only `acks` of the `required` nodes confirmed it
 * in time. The body says how many; the headers carry the version (and the
 * ETag of a PUT) so a client can still refer to what it wrote.
 */
static void durable_timeout_respond(conn_t *c, unsigned acks, unsigned required)
{
    request_t *rq = &c->c_rq;
    const store_stat_t *st = &rq->rq_st;
    char etag[2 * STORE_HASH_LEN + 1];
    char ver[32];
    char extra[192];
    buf_t *b = &rq->rq_body;
    int rc;

    http_version_str(&st->st_version, ver);
    if (rq->rq_kind == RK_PUT) {
        http_etag_hex(st->st_hash, etag);
        snprintf(extra, sizeof(extra), "Retry-After: 1\r\nETag: \"%s\"\r\nX-Cairn-Version: %s\r\n",
                 etag, ver);
    } else {
        snprintf(extra, sizeof(extra), "Retry-After: 1\r\nX-Cairn-Version: %s\r\n", ver);
    }
    buf_reset(b);
    rc = buf_appendf(b,
                     "{\"error\":\"durability_timeout\",\"message\":\"%u of %u nodes "
                     "acknowledged the change within %u s (durability %s); it is committed on "
                     "this node and keeps replicating\",\"acks\":%u,\"required\":%u,"
                     "\"durability\":\"%s\",\"version\":\"%s\"}\n",
                     acks, required, cfg_of(c)->nc_durability_timeout_s,
                     durability_name(rq->rq_durability), acks, required,
                     durability_name(rq->rq_durability), ver);
    if (rc < 0) {
        conn_respond_error(c, 503, "durability_timeout", "durability not reached in time", NULL);
        return;
    }
    rq->rq_err_code = "durability_timeout";
    conn_respond(c, 503, "application/json", extra, b->b_data, b->b_len);
}

/* 503 unavailable for a committed write whose wait ended with the node's
 * shutdown; the version header still tells what was written. */
static void durable_shutdown_respond(conn_t *c)
{
    char ver[32];
    char extra[64];

    http_version_str(&c->c_rq.rq_st.st_version, ver);
    snprintf(extra, sizeof(extra), "X-Cairn-Version: %s\r\n", ver);
    conn_respond_error(c, 503, "unavailable",
                       "the node is shutting down; the change is committed on this node but its "
                       "durability is unknown",
                       extra);
}

/* repl_durable_cb: on the loop, once, unless the wait was cancelled. */
static void on_durable(repl_wait_t *w, int status, unsigned acks, unsigned required)
{
    conn_t *c = w->data;
    request_t *rq = &c->c_rq;

    rq->rq_dur_waiting = 0;
    if (c->c_closing)
        return; /* conn_release frees it once the socket is closed */
    if (status == 0) {
        durable_respond(c);
    } else if (status == CAIRN_ETIMEDOUT) {
        LOG_INFO("write.durability_timeout",
                 "conn=%" PRIu64 " method=%s key_len=%zu seq=%" PRIu64 " acks=%u required=%u "
                 "waited_ms=%" PRIu64,
                 c->c_id, rq->rq_kind == RK_PUT ? "PUT" : "DELETE", rq->rq_klen,
                 rq->rq_st.st_log_seq, acks, required,
                 uv_now(c->c_srv->sv_loop) - rq->rq_dur_start_ms);
        durable_timeout_respond(c, acks, required);
    } else {
        durable_shutdown_respond(c);
    }
    conn_pump(c);
}

static repl_durability_t repl_level(durability_t d)
{
    switch (d) {
    case DUR_LOCAL:
        return REPL_DUR_LOCAL;
    case DUR_ALL:
        return REPL_DUR_ALL;
    case DUR_MAJORITY:
        break;
    }
    return REPL_DUR_MAJORITY;
}

/*
 * A PUT/DELETE committed locally (rq_st holds its record and log seq).
 * Without replication -- or when the store logged no change -- the local
 * commit meets every level: answer now. Otherwise answer as soon as the
 * level's acks are in, or from on_durable (acks, timeout, shutdown).
 */
static void write_committed(conn_t *c)
{
    request_t *rq = &c->c_rq;
    repl_t *r = c->c_srv->sv_repl;
    uint64_t seq = rq->rq_st.st_log_seq;
    unsigned required;
    int rc;

    if (r == NULL || seq == 0) {
        durable_respond(c);
        return;
    }
    required = repl_required_acks(r, repl_level(rq->rq_durability));
    if (repl_acks(r, seq) >= required) {
        durable_respond(c);
        return;
    }
    rq->rq_wait.data = c;
    rq->rq_dur_start_ms = uv_now(c->c_srv->sv_loop);
    rc = repl_wait_durable(r, &rq->rq_wait, seq, required,
                           (uint64_t)cfg_of(c)->nc_durability_timeout_s * 1000, on_durable);
    if (rc == 0) {
        rq->rq_dur_waiting = 1;
        return;
    }
    if (rc == CAIRN_ESHUTDOWN) {
        durable_shutdown_respond(c);
        return;
    }
    LOG_ERROR("write.durable_wait_failed", "conn=%" PRIu64 " seq=%" PRIu64 " err=%s", c->c_id, seq,
              cairn_errname(rc));
    conn_respond_error(c, 500, "internal", "cannot wait for durability", NULL);
}

/* ------------------------------------------------------------- GET / HEAD */

static void get_after(conn_t *c);

/*
 * Loop thread: a GET/HEAD whose current version is inline, complete and
 * not damaged is answered here from one short LMDB read transaction
 * (store_read_inline), without the thread pool and without a reader:
 * such a version has nothing to follow, wait for or repair. The answer is
 * what the reader path gives for it (get_after with the same state), and
 * a missing or deleted key is the same 404. Returns 1 when the request was
 * answered, 0 when it must take the reader path (file-backed, receiving,
 * damaged, larger than the scratch buffer, store busy, any error).
 */
static int get_inline(conn_t *c)
{
    server_t *sv = c->c_srv;
    request_t *rq = &c->c_rq;
    uint64_t cap = cfg_of(c)->nc_inline_max;
    const char *v;
    size_t vlen, len;
    int rc, star;

    if (sv->sv_inline_buf == NULL) {
        if (cap < STORE_INLINE_DEFAULT)
            cap = STORE_INLINE_DEFAULT; /* older inline blobs after a lower setting */
        if (cap > STORE_INLINE_LIMIT)
            cap = STORE_INLINE_LIMIT;
        sv->sv_inline_buf = malloc((size_t)cap);
        if (sv->sv_inline_buf == NULL)
            return 0;
        sv->sv_inline_cap = (size_t)cap;
    }
    rc = store_read_inline(store_of(c), rq->rq_key, rq->rq_klen, sv->sv_inline_buf,
                           sv->sv_inline_cap, &rq->rq_st, &len);
    if (rc < 0 && rc != CAIRN_ENOTFOUND)
        return 0;
    sv->sv_metrics.m_reads_inline_fast++;
    rq->rq_work_rc = rc;
    if (rc == 0) {
        rq->rq_range_res =
            http_range_resolve(&rq->rq_range, rq->rq_st.st_size, &rq->rq_roff, &rq->rq_rlen);
        v = conn_hdr(c, HDR_IF_NONE_MATCH, &vlen);
        if (rq->rq_range_res != HTTP_RANGE_UNSATISFIABLE && v != NULL &&
            http_etag_match(v, vlen, rq->rq_st.st_hash, 1, &star) == 1)
            rq->rq_not_modified = 1;
        rq->rq_step.ss_fd = -1;
        rq->rq_step.ss_kind = rq->rq_rlen > 0 ? STORE_STEP_DATA : STORE_STEP_EOF;
        rq->rq_step.ss_mem = sv->sv_inline_buf + rq->rq_roff;
        rq->rq_step.ss_len = rq->rq_rlen;
        rq->rq_inline_fast = 1;
    }
    get_after(c);
    return 1;
}

static void get_start(conn_t *c)
{
    request_t *rq = &c->c_rq;
    const node_config_t *cfg = cfg_of(c);
    const char *v;
    size_t vlen;

    v = conn_hdr(c, HDR_RANGE, &vlen);
    if (v != NULL)
        http_range_parse(v, vlen, &rq->rq_range);
    rq->rq_kind = RK_GET;
    if (get_inline(c))
        return;
    rq->rq_deadline_ms = conn_mono_ms() + (uint64_t)cfg->nc_read_timeout_s * 1000;
    c->c_woken = 0;
    queue_or_fail(c, W_READ_OPEN);
}

/* Pool thread: closes the reader (and its file). */
static void reader_close(request_t *rq)
{
    store_read_close(rq->rq_reader);
    rq->rq_reader = NULL;
}

/*
 * Pool thread. The store's deadline is fixed when a reader opens, but a
 * read that follows a live writer may take longer than --read-timeout as a
 * whole. When the deadline passes after the head was sent and bytes went
 * out since the deadline was set, the read goes on with a fresh reader at
 * the next byte and a fresh deadline -- provided the record is still the
 * same version (otherwise CAIRN_ECHANGED: the response must be cut).
 */
static int read_renew(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_read_opts_t o;
    store_stat_t st;
    int rc;

    reader_close(rq);
    rq->rq_deadline_ms = conn_mono_ms() + (uint64_t)cfg_of(c)->nc_read_timeout_s * 1000;
    rq->rq_progress_mark = rq->rq_send_total;
    memset(&o, 0, sizeof(o));
    o.ro_deadline_ms = rq->rq_deadline_ms;
    o.ro_wake = conn_wake;
    o.ro_wake_arg = c;
    rc = store_read_open(store_of(c), rq->rq_key, rq->rq_klen, &o, &rq->rq_reader, &st);
    if (rc < 0) {
        rq->rq_reader = NULL;
        return rc == CAIRN_ENOTFOUND ? CAIRN_ECHANGED : rc;
    }
    if (store_version_cmp(&st.st_version, &rq->rq_st.st_version) != 0) {
        reader_close(rq);
        return CAIRN_ECHANGED;
    }
    rc = store_read_set_range(rq->rq_reader, rq->rq_roff + rq->rq_send_total,
                              rq->rq_rlen - rq->rq_send_total);
    if (rc < 0)
        reader_close(rq);
    return rc;
}

/*
 * Pool thread, after the first DATA step: a small response served from a
 * whole file (store_read_is_whole: complete, checked whole, so nothing
 * after these bytes can fail the read) is read into memory here and the
 * reader closed, so the loop sends it from memory and the request needs
 * no second work item (the EOF step and the close). A range is fine as
 * long as this one step is the whole response. Anything else -- a followed
 * writer, a later step, more than CONN_SMALL_READ bytes, an inline step
 * (already in memory), a failed read -- is left as it is: the reader path
 * goes on unchanged.
 */
static void read_small_whole(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_step_t *step = &rq->rq_step;
    uint8_t *mem;
    size_t n, got = 0;
    ssize_t k;

    if (rq->rq_hdr_sent || step->ss_mem != NULL || step->ss_fd < 0 || step->ss_len != rq->rq_rlen ||
        rq->rq_rlen > CONN_SMALL_READ || !store_read_is_whole(rq->rq_reader))
        return;
    n = (size_t)step->ss_len;
    mem = malloc(n);
    if (mem == NULL)
        return;
    while (got < n) {
        k = pread(step->ss_fd, mem + got, n - got, (off_t)(step->ss_off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(mem); /* the sendfile path meets (and reports) the same */
            return;
        }
        got += (size_t)k;
    }
    reader_close(rq);
    free(rq->rq_small);
    rq->rq_small = mem;
    step->ss_fd = -1;
    step->ss_off = 0;
    step->ss_mem = mem;
    rq->rq_inline_fast = 1; /* the whole response is in memory, no reader */
}

/*
 * Pool thread: opens the reader when there is none (resolving the range
 * against the version found), reports sent bytes, and takes the next step.
 * Before the response head is out the reader may have moved to a newer
 * version: with a range that was resolved against the old size, the reader
 * is reopened so the range fits the version served. The reader is closed
 * here when nothing more will be read (EOF, error, HEAD, 304, 416).
 */
static int read_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_read_opts_t o;
    const store_stat_t *cur;
    const char *v;
    size_t vlen;
    int rc, star, attempts = 0;

again:
    if (rq->rq_reader == NULL) {
        memset(&o, 0, sizeof(o));
        o.ro_deadline_ms = rq->rq_deadline_ms;
        o.ro_wake = conn_wake;
        o.ro_wake_arg = c;
        rc = store_read_open(store_of(c), rq->rq_key, rq->rq_klen, &o, &rq->rq_reader, &rq->rq_st);
        if (rc < 0) {
            rq->rq_reader = NULL;
            return rc;
        }
        rq->rq_range_res =
            http_range_resolve(&rq->rq_range, rq->rq_st.st_size, &rq->rq_roff, &rq->rq_rlen);
        if (rq->rq_range_res == HTTP_RANGE_UNSATISFIABLE) {
            reader_close(rq);
            return 0;
        }
        if (rq->rq_range_res == HTTP_RANGE_OK) {
            rc = store_read_set_range(rq->rq_reader, rq->rq_roff, rq->rq_rlen);
            if (rc < 0) {
                reader_close(rq);
                return rc;
            }
        }
    }
    if (rq->rq_consumed > 0) {
        store_read_consumed(rq->rq_reader, rq->rq_consumed);
        rq->rq_consumed = 0;
    }
    rc = store_read_next(rq->rq_reader, &rq->rq_step);
    if (rc == CAIRN_EUNAVAIL && rq->rq_hdr_sent && rq->rq_send_total > rq->rq_progress_mark &&
        rq->rq_send_total < rq->rq_rlen) {
        rc = read_renew(c);
        if (rc == 0)
            rc = store_read_next(rq->rq_reader, &rq->rq_step);
    }
    if (rc < 0) {
        if (rq->rq_reader != NULL)
            reader_close(rq);
        return rc;
    }
    if (!rq->rq_hdr_sent && rq->rq_step.ss_kind != STORE_STEP_WAIT) {
        cur = store_read_stat(rq->rq_reader);
        if (store_version_cmp(&cur->st_version, &rq->rq_st.st_version) != 0) {
            if (rq->rq_range.hr_kind != 0 && attempts < READ_REOPEN_MAX) {
                attempts++;
                reader_close(rq);
                goto again;
            }
            rq->rq_st = *cur;
            if (rq->rq_range.hr_kind == 0) {
                rq->rq_roff = 0;
                rq->rq_rlen = cur->st_size;
            }
        }
        v = conn_hdr(c, HDR_IF_NONE_MATCH, &vlen);
        if (v != NULL && http_etag_match(v, vlen, rq->rq_st.st_hash, 1, &star) == 1)
            rq->rq_not_modified = 1;
        if (rq->rq_not_modified || rq->rq_head_only) {
            reader_close(rq);
            return 0;
        }
    }
    if (rq->rq_step.ss_kind == STORE_STEP_EOF)
        reader_close(rq);
    else if (rq->rq_step.ss_kind == STORE_STEP_DATA)
        read_small_whole(c);
    return 0;
}

/* Loop thread: the response head of a GET/HEAD, once the first step is known. */
static void get_head(conn_t *c)
{
    request_t *rq = &c->c_rq;
    const store_stat_t *st = &rq->rq_st;
    char extra[512];
    size_t n;
    int rc, status;

    /* ETag: "<32 hex>"\r\nX-Cairn-Version: <hlc>-<origin>\r\n, without printf
     * (once per GET): 7 + 32 + 20 + at most 26 + 2 bytes. */
    memcpy(extra, "ETag: \"", 7);
    http_etag_hex(st->st_hash, extra + 7);
    n = 7 + 2 * STORE_HASH_LEN;
    memcpy(extra + n, "\"\r\nX-Cairn-Version: ", 20);
    n += 20;
    n += http_version_str(&st->st_version, extra + n);
    memcpy(extra + n, "\r\n", 3);
    n += 2;
    rq->rq_hdr_sent = 1;
    if (rq->rq_not_modified) {
        rc = conn_head(c, 304, NULL, 0, 0, extra);
        rq->rq_resp_final = 1;
        if (rc < 0)
            conn_close(c);
        return;
    }
    status = rq->rq_range_res == HTTP_RANGE_OK ? 206 : 200;
    memcpy(extra + n, "Accept-Ranges: bytes\r\n", 23);
    n += 22;
    if (status == 206)
        snprintf(extra + n, sizeof(extra) - n,
                 "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", rq->rq_roff,
                 rq->rq_roff + rq->rq_rlen - 1, st->st_size);
    rc = conn_head(c, status, st->st_ctype[0] != '\0' ? st->st_ctype : "application/octet-stream",
                   1, rq->rq_rlen, extra);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    if (rq->rq_head_only || rq->rq_rlen == 0)
        rq->rq_resp_final = 1;
}

static void get_after(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int rc = rq->rq_work_rc;
    char extra[64];
    char msg[128];
    uint64_t left;

    if (rc < 0) {
        if (rq->rq_hdr_sent) {
            /* Bytes of one version are out; a short body is the only honest signal. */
            LOG_WARN("get.aborted", "conn=%" PRIu64 " key_len=%zu err=%s", c->c_id, rq->rq_klen,
                     cairn_errname(rc));
            conn_close(c);
            return;
        }
        if (rc == CAIRN_EUNAVAIL)
            conn_respond_error(c, 503, "unavailable",
                               "no complete copy could be served within --read-timeout", NULL);
        else if (rc == CAIRN_ENOTFOUND)
            conn_respond_error(c, 404, "not_found", "no such key", NULL);
        else {
            if (rc != CAIRN_ECHANGED)
                LOG_WARN("get.failed", "conn=%" PRIu64 " err=%s", c->c_id, cairn_errname(rc));
            conn_respond_rc(c, rc, "read failed");
        }
        return;
    }
    if (rq->rq_range_res == HTTP_RANGE_UNSATISFIABLE && !rq->rq_hdr_sent) {
        snprintf(extra, sizeof(extra), "Content-Range: bytes */%" PRIu64 "\r\n", rq->rq_st.st_size);
        snprintf(msg, sizeof(msg), "range not satisfiable for a blob of %" PRIu64 " bytes",
                 rq->rq_st.st_size);
        conn_respond_error(c, 416, "range_not_satisfiable", msg, extra);
        return;
    }
    if (rq->rq_step.ss_kind == STORE_STEP_WAIT && rq->rq_reader != NULL) {
        rq->rq_waiting = 1;
        if (!rq->rq_waited) {
            rq->rq_waited = 1;
            c->c_srv->sv_metrics.m_reads_waited++;
        }
        if (c->c_woken)
            routes_on_wake(c);
        return;
    }
    if (!rq->rq_hdr_sent) {
        get_head(c);
        if (c->c_closing || rq->rq_resp_final)
            return;
    }
    if (rq->rq_step.ss_kind == STORE_STEP_EOF) {
        if (rq->rq_send_total != rq->rq_rlen) {
            LOG_ERROR("get.short", "conn=%" PRIu64 " sent=%" PRIu64 " announced=%" PRIu64, c->c_id,
                      rq->rq_send_total, rq->rq_rlen);
            conn_close(c);
            return;
        }
        rq->rq_resp_final = 1;
        return;
    }
    /* DATA: never send more than the head announced. */
    left = rq->rq_rlen - rq->rq_send_total;
    if (rq->rq_step.ss_len > left)
        rq->rq_step.ss_len = left;
    if (left == 0) {
        rq->rq_resp_final = 1;
        queue_or_fail(c, W_READ_CLOSE);
        return;
    }
    if (rq->rq_step.ss_mem != NULL) {
        /* An inline blob (at most STORE_INLINE_LIMIT bytes): copied out now,
         * as the pointer is only valid until the next store call. */
        if (buf_append(&c->c_out, rq->rq_step.ss_mem, (size_t)rq->rq_step.ss_len) < 0) {
            LOG_ERROR("get.inline_too_large", "conn=%" PRIu64 " len=%" PRIu64, c->c_id,
                      rq->rq_step.ss_len);
            conn_close(c);
            return;
        }
        rq->rq_send_total += rq->rq_step.ss_len;
        if (rq->rq_inline_fast) {
            /* get_inline or read_small_whole: the whole range, no reader. */
            rq->rq_resp_final = 1;
            return;
        }
        rq->rq_consumed += rq->rq_step.ss_len;
        routes_on_sent(c);
        return;
    }
    rq->rq_send_fd = rq->rq_step.ss_fd;
    rq->rq_send_off = rq->rq_step.ss_off;
    rq->rq_send_left = rq->rq_step.ss_len;
    rq->rq_send_total += rq->rq_step.ss_len;
    c->c_out_more = c->c_out_off < c->c_out.b_len;
}

/* ----------------------------------------------------------------- DELETE */

static void delete_start(conn_t *c, const char *q, const char *end)
{
    request_t *rq = &c->c_rq;
    const char *v;
    size_t vlen;
    int star;

    if (parse_durability(c, q, end) < 0)
        return;
    v = conn_hdr(c, HDR_IF_MATCH, &vlen);
    if (v != NULL) {
        if (http_etag_match(v, vlen, NULL, 0, &star) < 0) {
            bad_request(c, "malformed If-Match");
            return;
        }
        rq->rq_has_if_match = 1;
    }
    rq->rq_kind = RK_DELETE;
    queue_or_fail(c, W_DELETE);
}

static int delete_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    store_del_opts_t o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.do_mode = STORE_PUT_LOCAL;
    if (rq->rq_has_if_match) {
        rc = if_match_resolve(c);
        if (rc < 0)
            return rc;
        o.do_if_match = rq->rq_if_match_hash;
    }
    return store_delete_ex(store_of(c), rq->rq_key, rq->rq_klen, &o, &rq->rq_st);
}

static void delete_after(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int rc = rq->rq_work_rc;

    if (rc == CAIRN_EPRECOND) {
        conn_respond_error(c, 412, "precondition_failed", "If-Match does not match", NULL);
        return;
    }
    if (rc == CAIRN_ENOTFOUND) {
        conn_respond_error(c, 404, "not_found", "no such key", NULL);
        return;
    }
    if (rc < 0) {
        LOG_WARN("delete.failed", "conn=%" PRIu64 " err=%s", c->c_id, cairn_errname(rc));
        conn_respond_rc(c, rc, "delete failed");
        return;
    }
    write_committed(c);
}

/* ---------------------------------------------------------------- routing */

static int path_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

void routes_on_head(conn_t *c)
{
    static const char blobs_prefix[] = "/v1/blobs/";
    const size_t bplen = sizeof(blobs_prefix) - 1;
    request_t *rq = &c->c_rq;
    const char *url = rq->rq_hbuf.b_data != NULL ? rq->rq_hbuf.b_data : "";
    size_t ulen = rq->rq_url_len, plen;
    const char *qmark, *q, *qend, *v;
    size_t vlen;

    rq->rq_method = llhttp_get_method(&c->c_parser);
    rq->rq_head_only = rq->rq_method == HTTP_HEAD;
    if (llhttp_get_http_major(&c->c_parser) != 1) {
        conn_stop_parsing(c);
        conn_respond_error(c, 505, "bad_request", "only HTTP/1.0 and HTTP/1.1 are supported", NULL);
        return;
    }
    if (rq->rq_hdr_dup) {
        bad_request(c, "Content-Type, Expect, Authorization, Range, If-Match and If-None-Match "
                       "may appear only once");
        return;
    }
    /* absolute-form (RFC 9112 3.2.2): "http://host[:port]/path?query" */
    if ((ulen > 7 && strncasecmp(url, "http://", 7) == 0) ||
        (ulen > 8 && strncasecmp(url, "https://", 8) == 0)) {
        const char *auth = url + (url[4] == ':' ? 7 : 8);
        const char *slash = memchr(auth, '/', (size_t)(url + ulen - auth));

        if (slash == NULL || memchr(auth, '?', (size_t)(slash - auth)) != NULL) {
            bad_request(c, "the request target must include a path");
            return;
        }
        ulen -= (size_t)(slash - url);
        url = slash;
    }
    if (ulen == 0 || url[0] != '/') {
        bad_request(c, "the request target must be an absolute path");
        return;
    }
    qmark = memchr(url, '?', ulen);
    plen = qmark != NULL ? (size_t)(qmark - url) : ulen;
    q = qmark != NULL ? qmark + 1 : url + ulen;
    qend = url + ulen;

    if (path_is(url, plen, "/v1/health"))
        rq->rq_route = ROUTE_HEALTH;
    else if (path_is(url, plen, "/metrics"))
        rq->rq_route = ROUTE_METRICS;
    else if (path_is(url, plen, "/v1/cluster"))
        rq->rq_route = ROUTE_CLUSTER;
    else if (path_is(url, plen, "/v1/blobs"))
        rq->rq_route = ROUTE_LIST;
    else if (plen >= bplen && memcmp(url, blobs_prefix, bplen) == 0)
        rq->rq_route = ROUTE_BLOB;
    else
        rq->rq_route = ROUTE_OTHER;

    v = conn_hdr(c, HDR_EXPECT, &vlen);
    if (v != NULL && !http_span_ieq(v, vlen, "100-continue")) {
        conn_respond_error(c, 417, "expectation_failed", "only Expect: 100-continue is supported",
                           NULL);
        return;
    }
    if (plen >= 4 && memcmp(url, "/v1/", 4) == 0 && rq->rq_route != ROUTE_HEALTH &&
        check_auth(c) < 0)
        return;

    switch (rq->rq_route) {
    case ROUTE_HEALTH:
        if (!is_get_or_head(rq->rq_method))
            method_not_allowed(c, "GET, HEAD");
        else
            health(c);
        return;
    case ROUTE_METRICS:
    case ROUTE_CLUSTER:
        if (!is_get_or_head(rq->rq_method)) {
            method_not_allowed(c, "GET, HEAD");
            return;
        }
        rq->rq_kind = rq->rq_route == ROUTE_METRICS ? RK_METRICS : RK_CLUSTER;
        queue_or_fail(c, W_STATS);
        return;
    case ROUTE_LIST:
        if (!is_get_or_head(rq->rq_method))
            method_not_allowed(c, "GET, HEAD");
        else
            list_start(c, q, qend);
        return;
    case ROUTE_BLOB:
        break;
    default:
        conn_respond_error(c, 404, "not_found", "no such route", NULL);
        return;
    }

    if (rq->rq_method != HTTP_PUT && rq->rq_method != HTTP_DELETE &&
        !is_get_or_head(rq->rq_method)) {
        method_not_allowed(c, "GET, HEAD, PUT, DELETE");
        return;
    }
    if (http_decode_key(url + bplen, plen - bplen, rq->rq_key, &rq->rq_klen) < 0) {
        rq->rq_klen = 0;
        bad_request(c, "the key must be 1..1024 bytes of UTF-8 (percent-encoded), without NUL");
        return;
    }
    if (rq->rq_method == HTTP_PUT)
        put_start(c, q, qend);
    else if (rq->rq_method == HTTP_DELETE)
        delete_start(c, q, qend);
    else
        get_start(c);
}

/* ------------------------------------------------------------------- body */

size_t routes_body_room(const conn_t *c)
{
    const request_t *rq = &c->c_rq;

    if (rq->rq_kind == RK_PUT && rq->rq_put_rc == 0)
        return put_room(rq);
    return SIZE_MAX;
}

void routes_on_body(conn_t *c, const char *p, size_t n)
{
    request_t *rq = &c->c_rq;
    char msg[128];

    if (rq->rq_kind != RK_PUT || rq->rq_put_rc != 0)
        return; /* discarded */
    if (rq->rq_bytes_in > cfg_of(c)->nc_max_blob_size) {
        snprintf(msg, sizeof(msg), "blob larger than the limit of %" PRIu64 " bytes",
                 cfg_of(c)->nc_max_blob_size);
        put_fail(c, CAIRN_ETOOBIG, msg);
        return;
    }
    if (n > put_room(rq)) {
        /* Cannot happen: the parser is fed at most routes_body_room() bytes. */
        put_fail(c, CAIRN_EINVAL, "internal buffer overflow");
        return;
    }
    memcpy(rq->rq_fill + rq->rq_fill_len, p, n);
    rq->rq_fill_len += n;
    if (rq->rq_fill_len == CONN_UPLOAD_BUF)
        put_pump(c);
}

void routes_body_error(conn_t *c, const char *msg)
{
    conn_stop_parsing(c);
    if (c->c_rq.rq_kind == RK_PUT) {
        put_fail(c, CAIRN_EINVAL, msg);
        return;
    }
    conn_respond_error(c, 400, "bad_request", msg, NULL);
}

void routes_on_message_done(conn_t *c)
{
    if (c->c_rq.rq_kind == RK_PUT)
        put_pump(c);
}

void routes_on_sent(conn_t *c)
{
    request_t *rq = &c->c_rq;

    rq->rq_send_fd = -1;
    c->c_woken = 0;
    queue_or_fail(c, W_READ_OPEN);
}

void routes_on_wake(conn_t *c)
{
    request_t *rq = &c->c_rq;

    if (rq->rq_kind != RK_GET)
        return;
    if (c->c_work_busy) {
        c->c_woken = 1;
        return;
    }
    if (!rq->rq_waiting)
        return;
    rq->rq_waiting = 0;
    c->c_woken = 0;
    queue_or_fail(c, W_READ_OPEN);
}

/* Loop: a W_PUT_WRITE (or whole-body W_PUT_BEGIN) job returned rc. */
static void put_written(conn_t *c, int rc)
{
    request_t *rq = &c->c_rq;

    if (rc < 0) {
        put_fail(c, rc, rc == CAIRN_EPRECOND ? "precondition failed" : NULL);
        return;
    }
    if (rq->rq_put_rc != 0) {
        put_settle(c);
        return;
    }
    if (rq->rq_flight_finish) {
        write_committed(c);
        return;
    }
    put_pump(c);
}

/* ------------------------------------------------------------------- work */

void routes_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int rc = 0;

    switch (c->c_work_op) {
    case W_PUT_BEGIN:
        rc = put_begin_work(c);
        break;
    case W_PUT_WRITE:
        rc = put_write_work(c);
        break;
    case W_PUT_ABORT:
        store_put_abort(rq->rq_writer);
        rq->rq_writer = NULL;
        break;
    case W_READ_OPEN:
        rc = read_work(c);
        break;
    case W_READ_CLOSE:
        reader_close(rq);
        break;
    case W_DELETE:
        rc = delete_work(c);
        break;
    case W_LIST:
        rc = list_work(c);
        break;
    case W_STATS:
        store_get_stats(store_of(c), &rq->rq_stats);
        break;
    case W_NONE:
        break;
    }
    rq->rq_work_rc = rc;
}

void routes_after_work(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int rc = rq->rq_work_rc;

    switch (c->c_work_op) {
    case W_PUT_BEGIN:
        if (rq->rq_put_whole) {
            rq->rq_put_begun = 1;
            put_written(c, rc);
            break;
        }
        if (rc < 0) {
            put_fail(c, rc, rc == CAIRN_EPRECOND ? "precondition failed" : NULL);
            break;
        }
        rq->rq_put_begun = 1;
        if (rq->rq_put_rc != 0) {
            put_settle(c);
            break;
        }
        if (rq->rq_expect_continue && rq->rq_bytes_in == 0 && !rq->rq_msg_done &&
            rq->rq_status == 0)
            conn_send_continue(c);
        put_pump(c);
        break;
    case W_PUT_WRITE:
        put_written(c, rc);
        break;
    case W_READ_OPEN:
        get_after(c);
        break;
    case W_DELETE:
        delete_after(c);
        break;
    case W_LIST:
        if (rc < 0) {
            LOG_WARN("list.failed", "conn=%" PRIu64 " err=%s", c->c_id, cairn_errname(rc));
            conn_respond_rc(c, rc, "listing failed");
            break;
        }
        conn_respond(c, 200, "application/json", NULL, rq->rq_body.b_data, rq->rq_body.b_len);
        break;
    case W_STATS:
        if (rq->rq_kind == RK_METRICS)
            metrics_done(c);
        else
            cluster_done(c);
        break;
    case W_PUT_ABORT:
    case W_READ_CLOSE:
    case W_NONE:
        break;
    }
}

int routes_release(conn_t *c)
{
    request_t *rq = &c->c_rq;

    if (rq->rq_dur_waiting) {
        /* The client left (or the node aborts it) while the write waited
         * for acks: the change stays committed and keeps replicating. */
        repl_wait_cancel(&rq->rq_wait);
        rq->rq_dur_waiting = 0;
        LOG_INFO("write.durability_abandoned", "conn=%" PRIu64 " key_len=%zu seq=%" PRIu64, c->c_id,
                 rq->rq_klen, rq->rq_st.st_log_seq);
    }
    if (c->c_work_busy)
        return 1;
    if (rq->rq_writer != NULL) {
        if (rq->rq_put_rc == 0) {
            rq->rq_put_rc = CAIRN_ESHUTDOWN;
            c->c_srv->sv_metrics.m_uploads_aborted++;
            LOG_INFO("put.aborted", "conn=%" PRIu64 " key_len=%zu bytes=%" PRIu64, c->c_id,
                     rq->rq_klen, rq->rq_bytes_in);
        }
        return conn_queue_work(c, W_PUT_ABORT) == 0;
    }
    if (rq->rq_reader != NULL)
        return conn_queue_work(c, W_READ_CLOSE) == 0;
    return 0;
}

void routes_shutdown(conn_t *c)
{
    request_t *rq = &c->c_rq;

    if (!rq->rq_dur_waiting || c->c_closing)
        return;
    repl_wait_cancel(&rq->rq_wait);
    rq->rq_dur_waiting = 0;
    LOG_INFO("write.durability_abandoned",
             "conn=%" PRIu64 " key_len=%zu seq=%" PRIu64 " reason=shutdown", c->c_id, rq->rq_klen,
             rq->rq_st.st_log_seq);
    durable_shutdown_respond(c);
    conn_pump(c); /* the answer goes out now; the connection closes right after */
}

void routes_reset(conn_t *c)
{
    request_t *rq = &c->c_rq;

    if (rq->rq_dur_waiting) {
        repl_wait_cancel(&rq->rq_wait); /* never expected: the response waits for it */
        rq->rq_dur_waiting = 0;
    }
    free(rq->rq_fill);
    rq->rq_fill = NULL;
    free(rq->rq_flight);
    rq->rq_flight = NULL;
    free(rq->rq_small);
    rq->rq_small = NULL;
    buf_free(&rq->rq_body);
}
