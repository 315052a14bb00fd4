/*
 * http_load.c -- the HTTP backend: one libuv loop per worker thread, each
 * with its share of keep-alive connections running closed loops (a
 * connection sends its next request as soon as the previous response is
 * complete).
 *
 * PUT bodies are slices of the shared random pattern handed straight to
 * uv_write, at most BENCH_CHUNK bytes per write and one write in flight per
 * connection, so a 2 GiB body costs no memory. Response bodies are read into
 * a fixed per-connection buffer, counted and dropped.
 *
 * Connection states:
 *   IDLE        no socket (before the first connect, or waiting to retry)
 *   CONNECTING  uv_tcp_connect in flight
 *   READY       connected, no request
 *   BUSY        a request is in flight
 *   CLOSING     uv_close in flight; hc_after says what comes next
 *   DONE        finished for this phase
 */
#include "bench/bench.h"
#include "bench/httpresp.h"
#include "common/error.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define HL_RBUF_SIZE (64u << 10)
#define HL_HDR_MAX 2560
#define HL_RETRY_MS 100
#define HL_TICK_MS 100

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum { HC_IDLE, HC_CONNECTING, HC_READY, HC_BUSY, HC_CLOSING, HC_DONE };
enum { HC_AFTER_RETRY, HC_AFTER_RECONNECT, HC_AFTER_FINISH };

typedef struct hl_thread hl_thread_t;

typedef struct hl_conn {
    hl_thread_t *hc_th;
    const bench_target_t *hc_target;
    uv_tcp_t hc_tcp;
    uv_connect_t hc_connect;
    uv_write_t hc_write;
    uv_timer_t hc_retry;
    int hc_state;
    int hc_after;
    int hc_writing;     /* hc_write is in flight */
    int hc_hdr_sent;    /* the request head was handed to uv_write */
    int hc_body_done;   /* every body byte was written (callback seen) */
    int hc_peer_closed; /* EOF after a complete response */
    int hc_pending_get; /* put-get: the GET half comes next */
    int hc_write_err;   /* a write failed; waiting for the early response */
    bench_req_t hc_req;
    uint64_t hc_body_sent; /* body bytes handed to uv_write */
    uint64_t hc_t0_ns;
    uint64_t hc_progress_ns; /* last time bytes moved, for --timeout */
    size_t hc_hdr_len;
    char hc_hdr[HL_HDR_MAX];
    httpresp_t hc_resp;
    char *hc_rbuf;
} hl_conn_t;

struct hl_thread {
    uv_loop_t ht_loop;
    uv_timer_t ht_deadline;
    uv_timer_t ht_tick;
    bench_phase_t *ht_ph;
    bench_stats_t ht_stats;
    bench_rng_t ht_rng;
    hl_conn_t *ht_conns;
    unsigned ht_nconns;
    unsigned ht_live; /* connections not DONE */
    int ht_loop_ok;
    int ht_stopping;
    int ht_shut;
    int ht_rc;
};

static void hl_conn_connect(hl_conn_t *c);
static void hl_conn_next(hl_conn_t *c);

/* Counts an error of the given kind ("what.UV_NAME" when rc is given). */
static void hl_error(hl_conn_t *c, bench_op_t op, const char *what, int rc)
{
    char kind[BENCH_ERRNAME_MAX];

    if (rc != 0)
        snprintf(kind, sizeof(kind), "%s.%s", what, uv_err_name(rc));
    else
        snprintf(kind, sizeof(kind), "%s", what);
    bench_stats_error(&c->hc_th->ht_stats, c->hc_th->ht_ph, op, kind, uv_hrtime());
}

/* Closes every handle the thread owns so that uv_run returns. Idempotent. */
static void hl_thread_shutdown(hl_thread_t *th)
{
    unsigned i;

    if (th->ht_shut)
        return;
    th->ht_shut = 1;
    uv_close((uv_handle_t *)&th->ht_deadline, NULL);
    uv_close((uv_handle_t *)&th->ht_tick, NULL);
    for (i = 0; i < th->ht_nconns; i++)
        uv_close((uv_handle_t *)&th->ht_conns[i].hc_retry, NULL);
}

static void hl_conn_done(hl_conn_t *c)
{
    if (c->hc_state == HC_DONE)
        return;
    c->hc_state = HC_DONE;
    c->hc_th->ht_live--;
    if (c->hc_th->ht_live == 0)
        hl_thread_shutdown(c->hc_th);
}

static void hl_on_retry(uv_timer_t *t)
{
    hl_conn_connect(container_of(t, hl_conn_t, hc_retry));
}

/* The socket is gone (or never was): retry later, reconnect now, or finish. */
static void hl_after_close(hl_conn_t *c, int after)
{
    c->hc_state = HC_IDLE;
    c->hc_writing = 0;
    c->hc_peer_closed = 0;
    if (c->hc_th->ht_stopping || after == HC_AFTER_FINISH) {
        hl_conn_done(c);
        return;
    }
    if (after == HC_AFTER_RETRY)
        uv_timer_start(&c->hc_retry, hl_on_retry, HL_RETRY_MS, 0);
    else
        hl_conn_connect(c);
}

static void hl_on_close(uv_handle_t *h)
{
    hl_conn_t *c = container_of(h, hl_conn_t, hc_tcp);

    hl_after_close(c, c->hc_after);
}

/*
 * Starts closing c's socket; pending connect/write callbacks then run with
 * UV_ECANCELED and are ignored. Safe to call in any state.
 */
static void hl_conn_close(hl_conn_t *c, int after)
{
    if (c->hc_state == HC_CLOSING || c->hc_state == HC_DONE)
        return;
    if (c->hc_state == HC_IDLE) {
        uv_timer_stop(&c->hc_retry);
        hl_after_close(c, after);
        return;
    }
    c->hc_after = after;
    c->hc_state = HC_CLOSING;
    uv_close((uv_handle_t *)&c->hc_tcp, hl_on_close);
}

/* Stops the thread's part of the phase: requests in flight are abandoned. */
static void hl_thread_stop(hl_thread_t *th)
{
    hl_conn_t *c;
    unsigned i;

    if (th->ht_stopping)
        return;
    th->ht_stopping = 1;
    for (i = 0; i < th->ht_nconns; i++) {
        c = &th->ht_conns[i];
        if (c->hc_state == HC_BUSY)
            th->ht_stats.bs_aborted++;
        hl_conn_close(c, HC_AFTER_FINISH);
    }
    if (th->ht_live == 0)
        hl_thread_shutdown(th);
}

static void hl_on_deadline(uv_timer_t *t)
{
    hl_thread_t *th = t->data;

    bench_phase_stop(th->ht_ph, th->ht_ph->bp_deadline_ns);
    hl_thread_stop(th);
}

/* Every 100 ms: notice a stop from another thread, and fail stalled requests. */
static void hl_on_tick(uv_timer_t *t)
{
    hl_thread_t *th = t->data;
    uint64_t now, limit;
    hl_conn_t *c;
    unsigned i;

    if (atomic_load(&th->ht_ph->bp_stop)) {
        hl_thread_stop(th);
        return;
    }
    now = uv_hrtime();
    limit = (uint64_t)(th->ht_ph->bp_conf->bc_timeout_s * 1e9);
    for (i = 0; i < th->ht_nconns; i++) {
        c = &th->ht_conns[i];
        if ((c->hc_state == HC_BUSY || c->hc_state == HC_CONNECTING) &&
            now - c->hc_progress_ns > limit) {
            hl_error(c, c->hc_state == HC_BUSY ? c->hc_req.rq_op : BENCH_NOPS,
                     c->hc_state == HC_BUSY ? "timeout" : "connect.timeout", 0);
            hl_conn_close(c, HC_AFTER_RETRY);
        }
    }
}

static void hl_on_write(uv_write_t *req, int status);

/* Hands the request head (first time) and the next body slice to uv_write. */
static void hl_write_more(hl_conn_t *c)
{
    const bench_phase_t *ph = c->hc_th->ht_ph;
    uint64_t off, chunk;
    uv_buf_t bufs[2];
    unsigned n = 0;
    int rc;

    if (!c->hc_hdr_sent) {
        bufs[n++] = uv_buf_init(c->hc_hdr, (unsigned)c->hc_hdr_len);
        c->hc_hdr_sent = 1;
    }
    if (c->hc_req.rq_op == BENCH_OP_PUT && c->hc_body_sent < c->hc_req.rq_size) {
        off = (c->hc_req.rq_pat_off + c->hc_body_sent) % BENCH_PATTERN_SIZE;
        chunk = c->hc_req.rq_size - c->hc_body_sent;
        if (chunk > BENCH_PATTERN_SIZE - off)
            chunk = BENCH_PATTERN_SIZE - off;
        if (chunk > BENCH_CHUNK)
            chunk = BENCH_CHUNK;
        bufs[n++] = uv_buf_init((char *)ph->bp_pattern + off, (unsigned)chunk);
        c->hc_body_sent += chunk;
    }
    c->hc_writing = 1;
    rc = uv_write(&c->hc_write, (uv_stream_t *)&c->hc_tcp, bufs, n, hl_on_write);
    if (rc < 0) {
        c->hc_writing = 0;
        hl_error(c, c->hc_req.rq_op, "write", rc);
        hl_conn_close(c, HC_AFTER_RETRY);
    }
}

/* Names a non-success response: "http.STATUS.CODE" or "http.STATUS". */
static void hl_http_error(hl_conn_t *c)
{
    char code[32], kind[BENCH_ERRNAME_MAX];

    if (httpresp_error_code(&c->hc_resp, code, sizeof(code)) == 0)
        snprintf(kind, sizeof(kind), "http.%d.%s", c->hc_resp.hr_status, code);
    else
        snprintf(kind, sizeof(kind), "http.%d", c->hc_resp.hr_status);
    hl_error(c, c->hc_req.rq_op, kind, 0);
}

/* The response is complete and the request fully sent: account, go on. */
static void hl_on_response(hl_conn_t *c)
{
    hl_thread_t *th = c->hc_th;
    const bench_req_t *rq = &c->hc_req;
    int status = c->hc_resp.hr_status, ok;
    uint64_t now = uv_hrtime(), bytes;

    if (rq->rq_op == BENCH_OP_PUT)
        ok = status >= 200 && status < 300;
    else
        ok = status == 200;
    if (ok && rq->rq_op == BENCH_OP_GET && rq->rq_then_get &&
        c->hc_resp.hr_body_bytes != rq->rq_size) {
        hl_error(c, rq->rq_op, "verify.size", 0);
    } else if (ok) {
        bytes = rq->rq_op == BENCH_OP_PUT ? rq->rq_size : c->hc_resp.hr_body_bytes;
        bench_stats_ok(&th->ht_stats, th->ht_ph, rq->rq_op, c->hc_t0_ns, now, bytes);
        atomic_fetch_add_explicit(&th->ht_ph->bp_done_ops, 1, memory_order_relaxed);
        if (rq->rq_op == BENCH_OP_PUT && rq->rq_then_get)
            c->hc_pending_get = 1;
    } else {
        hl_http_error(c);
    }
    c->hc_state = HC_READY;
    if (!c->hc_resp.hr_keep_alive || c->hc_peer_closed)
        hl_conn_close(c, HC_AFTER_RECONNECT);
    else
        hl_conn_next(c);
}

/*
 * The parser saw the end of the response. If the body is still being sent
 * the server answered early (an error, or a protocol violation when it
 * claims success): the connection cannot be reused. If only the last write
 * callback is outstanding, its arrival completes the request.
 */
static void hl_on_complete(hl_conn_t *c)
{
    int status = c->hc_resp.hr_status;

    if (c->hc_body_done) {
        hl_on_response(c);
        return;
    }
    if (c->hc_writing && c->hc_body_sent == c->hc_req.rq_size)
        return;
    if (status >= 200 && status < 300)
        hl_error(c, c->hc_req.rq_op, "proto.early_response", 0);
    else
        hl_http_error(c);
    hl_conn_close(c, HC_AFTER_RECONNECT);
}

static void hl_on_write(uv_write_t *req, int status)
{
    hl_conn_t *c = container_of(req, hl_conn_t, hc_write);

    c->hc_writing = 0;
    if (c->hc_state != HC_BUSY)
        return;
    if (status < 0) {
        /*
         * A server refusing a body (413, 401) answers and closes while the
         * body is still coming, so the write fails; its answer may already
         * sit in the receive buffer. Keep reading: the response, EOF or the
         * timeout decides what is counted.
         */
        c->hc_write_err = status;
        if (c->hc_resp.hr_complete)
            hl_on_complete(c);
        return;
    }
    c->hc_progress_ns = uv_hrtime();
    if (c->hc_req.rq_op == BENCH_OP_PUT && c->hc_body_sent < c->hc_req.rq_size) {
        hl_write_more(c);
        return;
    }
    c->hc_body_done = 1;
    if (c->hc_resp.hr_complete)
        hl_on_response(c);
}

/* Builds the request head for c->hc_req. Returns 0 or CAIRN_ETOOBIG. */
static int hl_build_head(hl_conn_t *c)
{
    const bench_conf_t *conf = c->hc_th->ht_ph->bp_conf;
    const bench_req_t *rq = &c->hc_req;
    char key[1024];
    int n;

    bench_key_name(conf, rq->rq_key, 1, key, sizeof(key));
    if (rq->rq_op == BENCH_OP_PUT) {
        n = snprintf(c->hc_hdr, sizeof(c->hc_hdr),
                     "PUT /v1/blobs/%s%s%s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: %" PRIu64 "\r\n%s%s%s\r\n",
                     key, conf->bc_durability ? "?durability=" : "",
                     conf->bc_durability ? conf->bc_durability : "", c->hc_target->bt_hosthdr,
                     rq->rq_size, conf->bc_token ? "Authorization: Bearer " : "",
                     conf->bc_token ? conf->bc_token : "", conf->bc_token ? "\r\n" : "");
    } else {
        n = snprintf(c->hc_hdr, sizeof(c->hc_hdr),
                     "GET /v1/blobs/%s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", key,
                     c->hc_target->bt_hosthdr, conf->bc_token ? "Authorization: Bearer " : "",
                     conf->bc_token ? conf->bc_token : "", conf->bc_token ? "\r\n" : "");
    }
    if (n < 0 || (size_t)n >= sizeof(c->hc_hdr))
        return CAIRN_ETOOBIG;
    c->hc_hdr_len = (size_t)n;
    return 0;
}

/* Starts the next request on a READY connection, or finishes it. */
static void hl_conn_next(hl_conn_t *c)
{
    hl_thread_t *th = c->hc_th;
    uint64_t now = uv_hrtime();
    uint64_t key, size;

    if (th->ht_stopping) {
        hl_conn_close(c, HC_AFTER_FINISH);
        return;
    }
    if (c->hc_pending_get) {
        key = c->hc_req.rq_key;
        size = c->hc_req.rq_size;
        memset(&c->hc_req, 0, sizeof(c->hc_req));
        c->hc_req.rq_op = BENCH_OP_GET;
        c->hc_req.rq_key = key;
        c->hc_req.rq_size = size;
        c->hc_req.rq_then_get = 1;
        c->hc_pending_get = 0;
    } else if (!bench_claim(th->ht_ph, &th->ht_rng, now, &c->hc_req)) {
        hl_conn_close(c, HC_AFTER_FINISH);
        return;
    }
    if (hl_build_head(c) < 0) {
        hl_error(c, c->hc_req.rq_op, "request_too_long", 0);
        hl_conn_close(c, HC_AFTER_FINISH);
        return;
    }
    httpresp_reset(&c->hc_resp);
    c->hc_state = HC_BUSY;
    c->hc_hdr_sent = 0;
    c->hc_body_sent = 0;
    c->hc_body_done = 0;
    c->hc_write_err = 0;
    c->hc_t0_ns = now;
    c->hc_progress_ns = now;
    hl_write_more(c);
}

static void hl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    hl_conn_t *c = container_of(h, hl_conn_t, hc_tcp);

    (void)suggested;
    *buf = uv_buf_init(c->hc_rbuf, HL_RBUF_SIZE);
}

static void hl_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    hl_conn_t *c = container_of(s, hl_conn_t, hc_tcp);
    bench_op_t op = c->hc_state == HC_BUSY ? c->hc_req.rq_op : BENCH_NOPS;
    int rc;

    if (nread == 0 || c->hc_state == HC_CLOSING || c->hc_state == HC_DONE)
        return;
    c->hc_progress_ns = uv_hrtime();
    if (nread == UV_EOF) {
        if (c->hc_state != HC_BUSY) {
            /* The server closed an idle keep-alive connection. */
            hl_conn_close(c, HC_AFTER_RECONNECT);
            return;
        }
        rc = httpresp_finish(&c->hc_resp);
        if (rc == 1) {
            c->hc_peer_closed = 1;
            hl_on_complete(c);
            return;
        }
        if (c->hc_write_err != 0)
            hl_error(c, op, "write", c->hc_write_err);
        else
            hl_error(c, op, "eof", 0);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    if (nread < 0) {
        if (op != BENCH_NOPS && c->hc_write_err != 0)
            hl_error(c, op, "write", c->hc_write_err);
        else
            hl_error(c, op, "read", (int)nread);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    if (c->hc_state != HC_BUSY) {
        hl_error(c, op, "proto.unsolicited", 0);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    rc = httpresp_feed(&c->hc_resp, buf->base, (size_t)nread);
    if (rc < 0) {
        hl_error(c, op, "proto.parse", 0);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    if (rc == 1)
        hl_on_complete(c);
}

static void hl_on_connect(uv_connect_t *req, int status)
{
    hl_conn_t *c = container_of(req, hl_conn_t, hc_connect);
    int rc;

    if (status == UV_ECANCELED || c->hc_state != HC_CONNECTING)
        return;
    if (status < 0) {
        hl_error(c, BENCH_NOPS, "connect", status);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&c->hc_tcp, hl_alloc, hl_on_read);
    if (rc < 0) {
        hl_error(c, BENCH_NOPS, "read_start", rc);
        hl_conn_close(c, HC_AFTER_RETRY);
        return;
    }
    c->hc_state = HC_READY;
    hl_conn_next(c);
}

/* Opens a new socket for c (IDLE) and connects it. */
static void hl_conn_connect(hl_conn_t *c)
{
    hl_thread_t *th = c->hc_th;
    int rc;

    if (th->ht_stopping || atomic_load(&th->ht_ph->bp_stop)) {
        hl_conn_done(c);
        return;
    }
    rc = uv_tcp_init(&th->ht_loop, &c->hc_tcp);
    if (rc < 0) {
        hl_error(c, BENCH_NOPS, "socket", rc);
        uv_timer_start(&c->hc_retry, hl_on_retry, HL_RETRY_MS, 0);
        return;
    }
    c->hc_state = HC_CONNECTING;
    c->hc_progress_ns = uv_hrtime();
    uv_tcp_nodelay(&c->hc_tcp, 1);
    rc = uv_tcp_connect(&c->hc_connect, &c->hc_tcp, (const struct sockaddr *)&c->hc_target->bt_addr,
                        hl_on_connect);
    if (rc < 0) {
        hl_error(c, BENCH_NOPS, "connect", rc);
        hl_conn_close(c, HC_AFTER_RETRY);
    }
}

/* Worker thread body: runs the thread's connections until the phase ends. */
static void hl_worker(void *arg)
{
    hl_thread_t *th = arg;
    bench_phase_t *ph = th->ht_ph;
    uint64_t now;
    unsigned i;
    int rc;

    rc = uv_loop_init(&th->ht_loop);
    if (rc < 0) {
        th->ht_rc = rc;
        return;
    }
    th->ht_loop_ok = 1;
    uv_timer_init(&th->ht_loop, &th->ht_deadline);
    uv_timer_init(&th->ht_loop, &th->ht_tick);
    th->ht_deadline.data = th->ht_tick.data = th;
    for (i = 0; i < th->ht_nconns; i++)
        uv_timer_init(&th->ht_loop, &th->ht_conns[i].hc_retry);
    now = uv_hrtime();
    if (ph->bp_deadline_ns != 0)
        uv_timer_start(&th->ht_deadline, hl_on_deadline,
                       ph->bp_deadline_ns > now ? (ph->bp_deadline_ns - now + 999999) / 1000000 : 0,
                       0);
    uv_timer_start(&th->ht_tick, hl_on_tick, HL_TICK_MS, HL_TICK_MS);
    th->ht_live = th->ht_nconns;
    if (th->ht_live == 0)
        hl_thread_shutdown(th);
    for (i = 0; i < th->ht_nconns; i++)
        hl_conn_connect(&th->ht_conns[i]);
    uv_run(&th->ht_loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&th->ht_loop);
    if (rc < 0)
        th->ht_rc = rc;
}

int http_load_run(bench_phase_t *ph, bench_result_t *out)
{
    const bench_conf_t *conf = ph->bp_conf;
    unsigned nthreads, t, i, j, nconn = conf->bc_connections;
    hl_thread_t *ths = NULL;
    void **args = NULL;
    hl_conn_t *c;
    int rc = 0;

    nthreads = conf->bc_threads < nconn ? conf->bc_threads : nconn;
    if (nthreads == 0 || conf->bc_ntargets == 0)
        return CAIRN_EINVAL;
    ths = calloc(nthreads, sizeof(*ths));
    args = calloc(nthreads, sizeof(*args));
    if (ths == NULL || args == NULL) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    for (t = 0; t < nthreads; t++) {
        ths[t].ht_ph = ph;
        bench_stats_init(&ths[t].ht_stats);
        bench_rng_seed(&ths[t].ht_rng,
                       conf->bc_seed * 1000003u + t * 7919u + (ph->bp_prefill ? 1 : 0));
        ths[t].ht_nconns = nconn / nthreads + (t < nconn % nthreads ? 1 : 0);
        ths[t].ht_conns = calloc(ths[t].ht_nconns ? ths[t].ht_nconns : 1, sizeof(hl_conn_t));
        if (ths[t].ht_conns == NULL) {
            rc = CAIRN_ENOMEM;
            goto done;
        }
        for (i = 0; i < ths[t].ht_nconns; i++) {
            c = &ths[t].ht_conns[i];
            j = t + i * nthreads; /* global connection number */
            c->hc_th = &ths[t];
            c->hc_target = &conf->bc_targets[j % conf->bc_ntargets];
            c->hc_state = HC_IDLE;
            c->hc_rbuf = malloc(HL_RBUF_SIZE);
            if (c->hc_rbuf == NULL) {
                rc = CAIRN_ENOMEM;
                goto done;
            }
        }
        args[t] = &ths[t];
    }
    rc = bench_drive(ph, nthreads, hl_worker, args);
    if (rc < 0)
        goto done;
    bench_stats_init(&out->br_stats);
    for (t = 0; t < nthreads; t++) {
        if (ths[t].ht_rc < 0 && rc == 0)
            rc = ths[t].ht_rc;
        bench_stats_merge(&out->br_stats, &ths[t].ht_stats);
    }
    bench_result_finish(out, ph);
done:
    if (ths != NULL) {
        for (t = 0; t < nthreads; t++) {
            for (i = 0; ths[t].ht_conns != NULL && i < ths[t].ht_nconns; i++)
                free(ths[t].ht_conns[i].hc_rbuf);
            free(ths[t].ht_conns);
        }
    }
    free(ths);
    free(args);
    return rc;
}
