/*
 * stats.c -- per-thread figures of a phase and their merging.
 */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>

void bench_stats_init(bench_stats_t *s)
{
    unsigned i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < BENCH_NOPS; i++)
        hist_init(&s->bs_op[i].os_hist);
}

/* Is done_ns inside the measured window [warmup end, deadline]? */
static int st_in_window(const bench_phase_t *ph, uint64_t done_ns)
{
    if (done_ns < ph->bp_warm_end_ns)
        return 0;
    if (ph->bp_deadline_ns != 0 && done_ns > ph->bp_deadline_ns)
        return 0;
    return 1;
}

void bench_stats_ok(bench_stats_t *s, const bench_phase_t *ph, bench_op_t op, uint64_t t0_ns,
                    uint64_t done_ns, uint64_t bytes)
{
    bench_opstats_t *os = &s->bs_op[op];

    if (done_ns > s->bs_last_ns)
        s->bs_last_ns = done_ns;
    if (!st_in_window(ph, done_ns))
        return;
    hist_record(&os->os_hist, done_ns > t0_ns ? (done_ns - t0_ns + 999) / 1000 : 0);
    os->os_ops++;
    os->os_bytes += bytes;
}

/* Adds count to the kind called name, making room for it when new. */
static void st_add_kind(bench_stats_t *s, const char *name, uint64_t count)
{
    unsigned i;

    for (i = 0; i < s->bs_nerrs; i++) {
        if (strcmp(s->bs_errs[i].ek_name, name) == 0) {
            s->bs_errs[i].ek_count += count;
            return;
        }
    }
    if (s->bs_nerrs == BENCH_ERRKINDS) {
        s->bs_errs_other += count;
        return;
    }
    snprintf(s->bs_errs[s->bs_nerrs].ek_name, BENCH_ERRNAME_MAX, "%s", name);
    s->bs_errs[s->bs_nerrs].ek_count = count;
    s->bs_nerrs++;
}

void bench_stats_error(bench_stats_t *s, const bench_phase_t *ph, bench_op_t op, const char *kind,
                       uint64_t done_ns)
{
    char name[BENCH_ERRNAME_MAX];

    if (done_ns > s->bs_last_ns)
        s->bs_last_ns = done_ns;
    if (ph->bp_deadline_ns != 0 && done_ns > ph->bp_deadline_ns)
        return;
    snprintf(name, sizeof(name), "%s", kind);
    st_add_kind(s, name, 1);
    if (op < BENCH_NOPS)
        s->bs_op[op].os_errors++;
}

void bench_stats_merge(bench_stats_t *dst, const bench_stats_t *src)
{
    unsigned i;

    for (i = 0; i < BENCH_NOPS; i++) {
        hist_merge(&dst->bs_op[i].os_hist, &src->bs_op[i].os_hist);
        dst->bs_op[i].os_ops += src->bs_op[i].os_ops;
        dst->bs_op[i].os_bytes += src->bs_op[i].os_bytes;
        dst->bs_op[i].os_errors += src->bs_op[i].os_errors;
    }
    for (i = 0; i < src->bs_nerrs; i++)
        st_add_kind(dst, src->bs_errs[i].ek_name, src->bs_errs[i].ek_count);
    dst->bs_errs_other += src->bs_errs_other;
    dst->bs_aborted += src->bs_aborted;
    if (src->bs_last_ns > dst->bs_last_ns)
        dst->bs_last_ns = src->bs_last_ns;
}

uint64_t bench_stats_errors(const bench_stats_t *s)
{
    uint64_t n = s->bs_errs_other;
    unsigned i;

    for (i = 0; i < s->bs_nerrs; i++)
        n += s->bs_errs[i].ek_count;
    return n;
}

/*
 * The window ends where the phase was stopped (deadline or SIGINT) or, for a
 * phase that simply ran out of requests, at its last completion.
 */
void bench_result_finish(bench_result_t *r, const bench_phase_t *ph)
{
    uint64_t end = atomic_load(&ph->bp_stop_ns);

    if (end == 0 ||
        (r->br_stats.bs_last_ns != 0 && r->br_stats.bs_last_ns < end && ph->bp_deadline_ns == 0))
        end = r->br_stats.bs_last_ns;
    r->br_elapsed_s = end > ph->bp_warm_end_ns ? (double)(end - ph->bp_warm_end_ns) / 1e9 : 0.0;
    r->br_ran = 1;
}
