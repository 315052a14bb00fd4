/*
 * raw_load.c -- the machine's own limit for the same workload, no server.
 *
 * One thread per --connections, each taking requests from the same
 * bench_claim() as the HTTP backend:
 *   PUT  write the body to DIR/tmp.<thread>.<seq> (new file), fdatasync,
 *        close, rename to DIR/blob.<key>, fsync DIR
 *   GET  open DIR/blob.<key>, read it to the end into a scratch buffer, close
 * This is the least a durable blob store has to do per request, so the
 * ratio of cairn's figure to this one is cairn's overhead.
 */
#include "bench/bench.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define RL_RBUF_SIZE (256u << 10)

typedef struct rl_worker {
    bench_phase_t *rw_ph;
    int rw_dirfd;
    unsigned rw_index;
    uint64_t rw_seq;
    bench_rng_t rw_rng;
    bench_stats_t rw_stats;
    char *rw_rbuf; /* allocated on the first GET */
} rl_worker_t;

/* Counts a failed step as "raw.STEP.ERRNO". */
static void rl_error(rl_worker_t *w, bench_op_t op, const char *step, int err)
{
    char kind[BENCH_ERRNAME_MAX];

    snprintf(kind, sizeof(kind), "raw.%s.%s", step, cairn_errname(err));
    bench_stats_error(&w->rw_stats, w->rw_ph, op, kind, uv_hrtime());
}

/* Writes the whole body of rq to fd from the pattern. 0 or -errno. */
static int rl_write_body(rl_worker_t *w, int fd, const bench_req_t *rq)
{
    const unsigned char *pat = w->rw_ph->bp_pattern;
    uint64_t done = 0, off, chunk;
    ssize_t n;

    while (done < rq->rq_size) {
        off = (rq->rq_pat_off + done) % BENCH_PATTERN_SIZE;
        chunk = rq->rq_size - done;
        if (chunk > BENCH_PATTERN_SIZE - off)
            chunk = BENCH_PATTERN_SIZE - off;
        if (chunk > BENCH_CHUNK)
            chunk = BENCH_CHUNK;
        n = write(fd, pat + off, (size_t)chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        done += (uint64_t)n;
    }
    return 0;
}

/* One durable create-and-replace; the temporary is removed on failure. */
static int rl_put(rl_worker_t *w, const bench_req_t *rq)
{
    char tmp[64], final[64];
    const char *step = "open";
    int fd, rc;

    snprintf(tmp, sizeof(tmp), "tmp.%u.%" PRIu64, w->rw_index, w->rw_seq++);
    snprintf(final, sizeof(final), "blob.%" PRIu64, rq->rq_key);
    fd = openat(w->rw_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    step = "write";
    rc = rl_write_body(w, fd, rq);
    if (rc == 0) {
        step = "fdatasync";
        rc = fdatasync(fd) < 0 ? -errno : 0;
    }
    if (close(fd) < 0 && rc == 0) {
        step = "close";
        rc = -errno;
    }
    if (rc < 0)
        goto fail_unlink;
    step = "rename";
    if (renameat(w->rw_dirfd, tmp, w->rw_dirfd, final) < 0) {
        rc = -errno;
        goto fail_unlink;
    }
    step = "dirfsync";
    if (fsync(w->rw_dirfd) < 0) {
        rc = -errno;
        goto fail;
    }
    return 0;
fail_unlink:
    unlinkat(w->rw_dirfd, tmp, 0);
fail:
    rl_error(w, BENCH_OP_PUT, step, rc);
    return rc;
}

/* Reads DIR/blob.<key> to its end; *bytes gets the size. */
static int rl_get(rl_worker_t *w, const bench_req_t *rq, uint64_t *bytes)
{
    char final[64];
    uint64_t total = 0;
    const char *step = "open";
    ssize_t n;
    int fd, rc = 0;

    if (w->rw_rbuf == NULL) {
        w->rw_rbuf = malloc(RL_RBUF_SIZE);
        if (w->rw_rbuf == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    snprintf(final, sizeof(final), "blob.%" PRIu64, rq->rq_key);
    fd = openat(w->rw_dirfd, final, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    step = "read";
    for (;;) {
        n = read(fd, w->rw_rbuf, RL_RBUF_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    close(fd);
    if (rc < 0)
        goto fail;
    *bytes = total;
    return 0;
fail:
    rl_error(w, BENCH_OP_GET, step, rc);
    return rc;
}

static void rl_worker_main(void *arg)
{
    rl_worker_t *w = arg;
    bench_phase_t *ph = w->rw_ph;
    uint64_t t0, t1, bytes = 0;
    bench_req_t rq;

    while (bench_claim(ph, &w->rw_rng, uv_hrtime(), &rq)) {
        t0 = uv_hrtime();
        if (rq.rq_op == BENCH_OP_PUT) {
            if (rl_put(w, &rq) < 0)
                continue;
            t1 = uv_hrtime();
            bench_stats_ok(&w->rw_stats, ph, BENCH_OP_PUT, t0, t1, rq.rq_size);
            atomic_fetch_add_explicit(&ph->bp_done_ops, 1, memory_order_relaxed);
            if (!rq.rq_then_get || atomic_load(&ph->bp_stop))
                continue;
            t0 = t1;
            rq.rq_op = BENCH_OP_GET;
        }
        if (rl_get(w, &rq, &bytes) < 0)
            continue;
        t1 = uv_hrtime();
        if (rq.rq_then_get && bytes != rq.rq_size) {
            bench_stats_error(&w->rw_stats, ph, BENCH_OP_GET, "verify.size", t1);
            continue;
        }
        bench_stats_ok(&w->rw_stats, ph, BENCH_OP_GET, t0, t1, bytes);
        atomic_fetch_add_explicit(&ph->bp_done_ops, 1, memory_order_relaxed);
    }
}

int raw_load_run(bench_phase_t *ph, const char *dir, bench_result_t *out)
{
    const bench_conf_t *conf = ph->bp_conf;
    unsigned n = conf->bc_connections, i;
    rl_worker_t *ws = NULL;
    void **args = NULL;
    int dirfd, rc;

    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -errno;
    ws = calloc(n, sizeof(*ws));
    args = calloc(n, sizeof(*args));
    if (ws == NULL || args == NULL) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    for (i = 0; i < n; i++) {
        ws[i].rw_ph = ph;
        ws[i].rw_dirfd = dirfd;
        ws[i].rw_index = i;
        bench_rng_seed(&ws[i].rw_rng,
                       conf->bc_seed * 1000003u + i * 7919u + (ph->bp_prefill ? 1 : 0));
        bench_stats_init(&ws[i].rw_stats);
        args[i] = &ws[i];
    }
    rc = bench_drive(ph, n, rl_worker_main, args);
    if (rc < 0)
        goto done;
    bench_stats_init(&out->br_stats);
    for (i = 0; i < n; i++)
        bench_stats_merge(&out->br_stats, &ws[i].rw_stats);
    bench_result_finish(out, ph);
done:
    if (ws != NULL) {
        for (i = 0; i < n; i++)
            free(ws[i].rw_rbuf);
    }
    free(ws);
    free(args);
    close(dirfd);
    return rc;
}
