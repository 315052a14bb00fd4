/*
 * driver.c -- runs a phase's worker threads and watches them from the main
 * thread: node memory samples every 100 ms, an optional progress line, and
 * SIGINT (first one stops the phase cleanly, a second one kills).
 */
#include "bench/bench.h"
#include "bench/procstat.h"
#include "common/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define DRV_TICK_MS 100

typedef struct drv drv_t;

typedef struct drv_worker {
    drv_t *dw_drv;
    bench_worker_fn dw_fn;
    void *dw_arg;
    uv_thread_t dw_tid;
    int dw_started;
} drv_worker_t;

struct drv {
    uv_loop_t dr_loop;
    uv_timer_t dr_timer;
    uv_async_t dr_async;
    uv_signal_t dr_sigint;
    bench_phase_t *dr_ph;
    drv_worker_t *dr_workers;
    unsigned dr_n;
    atomic_uint dr_done;
    int dr_closing;
    unsigned dr_ticks;
    uint64_t dr_last_ops;
};

void bench_sample_nodes(bench_sampler_t *sm)
{
    bench_node_mem_t *nm;
    uint64_t rss, hwm;
    unsigned i;
    int rc;

    if (sm == NULL)
        return;
    for (i = 0; i < sm->sm_nnodes; i++) {
        nm = &sm->sm_nodes[i];
        if (nm->nm_gone)
            continue;
        rc = procstat_read(nm->nm_pid, &rss, &hwm);
        if (rc < 0) {
            nm->nm_gone = rc == -ENOENT || rc == -ESRCH || rc == CAIRN_EINVAL;
            continue;
        }
        if (!nm->nm_ok) {
            nm->nm_start_kb = rss;
            nm->nm_ok = 1;
        }
        if (rss > nm->nm_peak_kb)
            nm->nm_peak_kb = rss;
        nm->nm_end_kb = rss;
        nm->nm_hwm_kb = hwm;
        nm->nm_samples++;
    }
}

static void drv_worker_main(void *arg)
{
    drv_worker_t *w = arg;

    w->dw_fn(w->dw_arg);
    atomic_fetch_add(&w->dw_drv->dr_done, 1);
    uv_async_send(&w->dw_drv->dr_async);
}

/* Once every worker has returned: join them (so none is still inside
 * uv_async_send) and close the handles, which ends the loop. */
static void drv_maybe_finish(drv_t *d)
{
    unsigned i;

    if (d->dr_closing || atomic_load(&d->dr_done) < d->dr_n)
        return;
    d->dr_closing = 1;
    for (i = 0; i < d->dr_n; i++) {
        if (d->dr_workers[i].dw_started) {
            uv_thread_join(&d->dr_workers[i].dw_tid);
            d->dr_workers[i].dw_started = 0;
        }
    }
    uv_close((uv_handle_t *)&d->dr_timer, NULL);
    uv_close((uv_handle_t *)&d->dr_async, NULL);
    uv_close((uv_handle_t *)&d->dr_sigint, NULL);
}

static void drv_on_async(uv_async_t *a)
{
    drv_maybe_finish(a->data);
}

static void drv_on_timer(uv_timer_t *t)
{
    drv_t *d = t->data;
    uint64_t ops;

    bench_sample_nodes(d->dr_ph->bp_sampler);
    d->dr_ticks++;
    if (d->dr_ph->bp_conf->bc_progress && d->dr_ticks % (1000 / DRV_TICK_MS) == 0) {
        ops = atomic_load(&d->dr_ph->bp_done_ops);
        fprintf(stderr, "cairn-bench: %s t=%us ops=%" PRIu64 " (+%" PRIu64 "/s)\n",
                d->dr_ph->bp_prefill ? "prefill" : "run", d->dr_ticks * DRV_TICK_MS / 1000, ops,
                ops - d->dr_last_ops);
        d->dr_last_ops = ops;
    }
    drv_maybe_finish(d);
}

static void drv_on_sigint(uv_signal_t *s, int signum)
{
    drv_t *d = s->data;

    (void)signum;
    fprintf(stderr, "cairn-bench: interrupted, stopping (again to kill)\n");
    atomic_store(&d->dr_ph->bp_interrupted, 1);
    bench_phase_stop(d->dr_ph, uv_hrtime());
    /* With no watcher left libuv restores the default action. */
    uv_signal_stop(s);
}

int bench_drive(bench_phase_t *ph, unsigned nworkers, bench_worker_fn fn, void **args)
{
    drv_t d;
    unsigned i;
    int rc, loop_ok = 0;

    memset(&d, 0, sizeof(d));
    d.dr_ph = ph;
    d.dr_n = nworkers;
    atomic_init(&d.dr_done, 0);
    d.dr_workers = calloc(nworkers ? nworkers : 1, sizeof(*d.dr_workers));
    if (d.dr_workers == NULL)
        return CAIRN_ENOMEM;
    rc = uv_loop_init(&d.dr_loop);
    if (rc < 0)
        goto done;
    loop_ok = 1;
    uv_timer_init(&d.dr_loop, &d.dr_timer);
    uv_async_init(&d.dr_loop, &d.dr_async, drv_on_async);
    uv_signal_init(&d.dr_loop, &d.dr_sigint);
    d.dr_timer.data = d.dr_async.data = d.dr_sigint.data = &d;
    uv_signal_start(&d.dr_sigint, drv_on_sigint, SIGINT);
    bench_sample_nodes(ph->bp_sampler);
    uv_timer_start(&d.dr_timer, drv_on_timer, DRV_TICK_MS, DRV_TICK_MS);
    for (i = 0; i < nworkers; i++) {
        d.dr_workers[i].dw_drv = &d;
        d.dr_workers[i].dw_fn = fn;
        d.dr_workers[i].dw_arg = args[i];
        rc = uv_thread_create(&d.dr_workers[i].dw_tid, drv_worker_main, &d.dr_workers[i]);
        if (rc < 0) {
            /* Stop the ones already running; the loop still waits for them. */
            bench_phase_stop(ph, uv_hrtime());
            d.dr_n = i;
            break;
        }
        d.dr_workers[i].dw_started = 1;
    }
    drv_maybe_finish(&d);
    uv_run(&d.dr_loop, UV_RUN_DEFAULT);
    bench_sample_nodes(ph->bp_sampler);
done:
    if (loop_ok)
        uv_loop_close(&d.dr_loop);
    free(d.dr_workers);
    return rc < 0 ? rc : 0;
}
