/*
 * workload.c -- built-in client threads (see workload.h).
 */
#include "cluster-tests/workload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/content.h"
#include "cluster-tests/hclient.h"
#include "cluster-tests/hutil.h"

typedef struct wthread {
    struct workload *wt_w;
    int wt_idx;
    int wt_focus;
    pthread_t wt_thread;
    int wt_started;
} wthread_t;

struct workload {
    wl_opts_t w_o;
    cluster_t *w_cl;
    history_t *w_h;
    uint64_t w_seed;
    int w_stop;       /* atomic */
    int w_focus_node; /* atomic */
    uint32_t w_mask;  /* atomic */
    uint64_t w_ops;   /* atomic */
    wthread_t w_threads[WL_MAX_THREADS + 1];
    int w_nthreads;
};

void wl_opts_default(wl_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->wo_threads = 4;
    o->wo_nkeys = 24;
    o->wo_max_size = (uint64_t)64 << 20;
    o->wo_large_pct = 10;
    o->wo_put_pct = 45;
    o->wo_get_pct = 40;
    o->wo_head_pct = 5;
    o->wo_del_pct = 10;
    o->wo_focus = 1;
    o->wo_pause_max_ms = 25;
}

void workload_key_name(int k, int nkeys, char *out)
{
    if (k >= nkeys)
        snprintf(out, 32, "k/hot");
    else
        snprintf(out, 32, "k/%03d", k);
}

static int stopping(workload_t *w)
{
    return __atomic_load_n(&w->w_stop, __ATOMIC_ACQUIRE);
}

/* Log-uniform size in [lo, hi]. */
static uint64_t log_uniform(hu_rng_t *r, uint64_t lo, uint64_t hi)
{
    int lb = 0, hb = 0;
    uint64_t a, b;

    if (hi <= lo)
        return lo;
    while ((2ull << lb) <= lo)
        lb++;
    while ((2ull << hb) <= hi)
        hb++;
    {
        int e = (int)hu_rng_range(r, lb, hb);
        a = 1ull << e;
        b = (2ull << e) - 1;
    }
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return a + hu_rng_below(r, b - a + 1);
}

static uint64_t pick_size(workload_t *w, hu_rng_t *r)
{
    uint64_t max = w->w_o.wo_max_size;

    if (hu_rng_pct(r, 8))
        return 0;
    if (max > (1u << 20) && hu_rng_pct(r, (unsigned)w->w_o.wo_large_pct))
        return log_uniform(r, 1u << 20, max);
    return log_uniform(r, 1, max < (256u << 10) ? max : (256u << 10));
}

static int pick_node(workload_t *w, hu_rng_t *r)
{
    uint32_t mask = __atomic_load_n(&w->w_mask, __ATOMIC_RELAXED);
    int n = w->w_cl->cl_n;

    for (int tries = 0; mask != 0 && tries < 64; tries++) {
        int i = 1 + (int)hu_rng_below(r, (uint64_t)n);
        if (mask & (1u << i))
            return i;
    }
    return 1 + (int)hu_rng_below(r, (uint64_t)n);
}

static void pick_key(workload_t *w, hu_rng_t *r, char *key)
{
    int k = hu_rng_pct(r, 15) ? w->w_o.wo_nkeys : (int)hu_rng_below(r, (uint64_t)w->w_o.wo_nkeys);
    workload_key_name(k, w->w_o.wo_nkeys, key);
}

static const char *pick_durability(hu_rng_t *r)
{
    uint64_t x = hu_rng_below(r, 100);
    return x < 30 ? "local" : x < 80 ? "majority" : "all";
}

static void fill_op(hop_t *op, const hresp_t *resp)
{
    op->ho_status = resp->hr_status;
    op->ho_result = resp->hr_result;
    snprintf(op->ho_code, sizeof(op->ho_code), "%s", resp->hr_code);
    snprintf(op->ho_etag, sizeof(op->ho_etag), "%s", resp->hr_etag);
    op->ho_version = resp->hr_version;
}

/* Runs one operation of the given kind and records it. */
static void run_op(workload_t *w, hclient_t *hc, hop_t *op, const char *url)
{
    hresp_t resp;

    op->ho_start_ms = hu_now_ms();
    switch (op->ho_kind) {
    case OP_PUT:
        content_hash(w->w_seed, op->ho_id, op->ho_size, op->ho_hash);
        op->ho_start_ms = hu_now_ms();
        hclient_put(hc, url, op->ho_key, op->ho_dur, w->w_seed, op->ho_id, op->ho_size, &resp);
        break;
    case OP_GET:
        hclient_get(hc, url, op->ho_key, &resp);
        op->ho_size = resp.hr_bytes;
        snprintf(op->ho_hash, sizeof(op->ho_hash), "%s", resp.hr_hash);
        break;
    case OP_HEAD:
        hclient_head(hc, url, op->ho_key, &resp);
        break;
    default:
        hclient_delete(hc, url, op->ho_key, op->ho_dur, &resp);
        break;
    }
    op->ho_end_ms = hu_now_ms();
    fill_op(op, &resp);
    history_add_op(w->w_h, op);
    __atomic_add_fetch(&w->w_ops, 1, __ATOMIC_RELAXED);
}

static void *client_main(void *arg)
{
    wthread_t *t = arg;
    workload_t *w = t->wt_w;
    hclient_t *hc = NULL;
    hu_rng_t r;
    uint64_t seq = 0;
    char key[32];

    hu_rng_seed(&r, w->w_seed ^ hu_mix64(0x574c0000u + (uint64_t)t->wt_idx));
    if (hclient_new(1000, 15, &hc) < 0)
        return NULL;
    while (!stopping(w)) {
        hop_t op;
        uint64_t x = hu_rng_below(&r, 100);
        int node;

        memset(&op, 0, sizeof(op));
        op.ho_id = ((uint64_t)(t->wt_idx + 1) << 32) | ++seq;
        if (t->wt_focus) {
            int f = __atomic_load_n(&w->w_focus_node, __ATOMIC_RELAXED);
            node = f > 0 ? f : pick_node(w, &r);
            op.ho_kind = OP_GET;
            op.ho_focus = 1;
        } else {
            node = pick_node(w, &r);
            if (x < (uint64_t)w->w_o.wo_put_pct)
                op.ho_kind = OP_PUT;
            else if (x < (uint64_t)(w->w_o.wo_put_pct + w->w_o.wo_get_pct))
                op.ho_kind = OP_GET;
            else if (x < (uint64_t)(w->w_o.wo_put_pct + w->w_o.wo_get_pct + w->w_o.wo_head_pct))
                op.ho_kind = OP_HEAD;
            else
                op.ho_kind = OP_DELETE;
        }
        pick_key(w, &r, key);
        op.ho_key = key;
        op.ho_node = node;
        if (op.ho_kind == OP_PUT || op.ho_kind == OP_DELETE)
            snprintf(op.ho_dur, sizeof(op.ho_dur), "%s", pick_durability(&r));
        if (op.ho_kind == OP_PUT)
            op.ho_size = pick_size(w, &r);
        run_op(w, hc, &op, w->w_cl->cl_nodes[node].hn_url);
        if (op.ho_result == RES_CONN_ERROR)
            hu_sleep_ms(100); /* the node is down: do not spin */
        else
            hu_sleep_ms(t->wt_focus ? 10 : hu_rng_range(&r, 0, w->w_o.wo_pause_max_ms));
    }
    hclient_free(hc);
    return NULL;
}

int workload_start(const wl_opts_t *o, cluster_t *cl, history_t *h, uint64_t seed, workload_t **out)
{
    workload_t *w;
    int n;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->w_o = *o;
    if (w->w_o.wo_threads < 0)
        w->w_o.wo_threads = 0;
    if (w->w_o.wo_threads > WL_MAX_THREADS)
        w->w_o.wo_threads = WL_MAX_THREADS;
    if (w->w_o.wo_nkeys < 1)
        w->w_o.wo_nkeys = 1;
    w->w_cl = cl;
    w->w_h = h;
    w->w_seed = seed;
    n = w->w_o.wo_threads + (w->w_o.wo_focus ? 1 : 0);
    for (int i = 0; i < n; i++) {
        wthread_t *t = &w->w_threads[i];
        t->wt_w = w;
        t->wt_idx = i;
        t->wt_focus = i == w->w_o.wo_threads;
        if (pthread_create(&t->wt_thread, NULL, client_main, t) != 0) {
            workload_stop(w);
            return -EAGAIN;
        }
        t->wt_started = 1;
        w->w_nthreads = i + 1;
    }
    *out = w;
    return 0;
}

void workload_set_focus(workload_t *w, int node)
{
    if (w != NULL)
        __atomic_store_n(&w->w_focus_node, node, __ATOMIC_RELAXED);
}

void workload_set_nodes(workload_t *w, uint32_t mask)
{
    if (w != NULL)
        __atomic_store_n(&w->w_mask, mask, __ATOMIC_RELAXED);
}

uint64_t workload_ops(workload_t *w)
{
    return w != NULL ? __atomic_load_n(&w->w_ops, __ATOMIC_RELAXED) : 0;
}

void workload_request_stop(workload_t *w)
{
    if (w != NULL)
        __atomic_store_n(&w->w_stop, 1, __ATOMIC_RELEASE);
}

void workload_stop(workload_t *w)
{
    if (w == NULL)
        return;
    __atomic_store_n(&w->w_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < w->w_nthreads; i++) {
        if (w->w_threads[i].wt_started)
            pthread_join(w->w_threads[i].wt_thread, NULL);
    }
    free(w);
}
