/*
 * report.c -- summary and JSON report of a run (see report.h).
 */
#include "cluster-tests/report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Event kinds counted as injected faults, in report order. */
static const char *const fault_kinds[] = {"kill",       "crash",      "stop",
                                          "term",       "net",        "damage",
                                          "disk_fault", "clock_skew", "failpoint_not_hit",
                                          "died"};
#define NFAULT_KINDS (sizeof(fault_kinds) / sizeof(fault_kinds[0]))

typedef struct summary {
    uint64_t sm_ops[OP_KIND_COUNT][RES_COUNT];
    uint64_t sm_faults[NFAULT_KINDS]; /* before the end of the fault phase */
    uint64_t sm_final_reads;
    int64_t *sm_ready; /* start -> ready, ms */
    size_t sm_nready;
    int64_t *sm_drain; /* start (after a crash) -> repairs drained, ms */
    size_t sm_ndrain;
    int64_t sm_converge_ms; /* -1 unknown */
    int sm_converged;
} summary_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : (x > y);
}

/* Fills s from h; the arrays are malloc'ed (summary_free). */
static void summarize(const history_t *h, summary_t *s)
{
    int64_t started[HIST_MAX_NODES + 1];
    int64_t window[HIST_MAX_NODES + 1];
    int64_t heal = -1;

    memset(s, 0, sizeof(*s));
    s->sm_converge_ms = -1;
    for (int i = 0; i <= HIST_MAX_NODES; i++) {
        started[i] = -1;
        window[i] = -1;
    }
    for (size_t i = 0; i < h->hi_nops; i++) {
        const hop_t *o = &h->hi_ops[i];
        if (o->ho_final)
            s->sm_final_reads++;
        else if ((unsigned)o->ho_kind < OP_KIND_COUNT && (unsigned)o->ho_result < RES_COUNT)
            s->sm_ops[o->ho_kind][o->ho_result]++;
    }
    s->sm_ready = calloc(h->hi_nevents + 1, sizeof(int64_t));
    s->sm_drain = calloc(h->hi_nevents + 1, sizeof(int64_t));
    for (size_t i = 0; i < h->hi_nevents; i++) {
        const hevent_t *e = &h->hi_events[i];
        int n = e->he_node >= 0 && e->he_node <= HIST_MAX_NODES ? e->he_node : 0;

        for (size_t k = 0; heal < 0 && k < NFAULT_KINDS; k++) {
            if (strcmp(e->he_kind, fault_kinds[k]) == 0 &&
                (strcmp(e->he_kind, "net") != 0 || e->he_flag != 0) &&
                (strcmp(e->he_kind, "disk_fault") != 0 || e->he_flag != 0))
                s->sm_faults[k]++;
        }
        if (strcmp(e->he_kind, "start") == 0) {
            started[n] = e->he_t_ms;
            if (e->he_flag != 0)
                window[n] = e->he_t_ms;
        } else if (strcmp(e->he_kind, "damage") == 0) {
            window[n] = e->he_t_ms;
        } else if (strcmp(e->he_kind, "ready") == 0 && started[n] >= 0) {
            if (s->sm_ready != NULL)
                s->sm_ready[s->sm_nready++] = e->he_t_ms - started[n];
            started[n] = -1;
        } else if (strcmp(e->he_kind, "repairs_drained") == 0 && window[n] >= 0) {
            if (s->sm_drain != NULL)
                s->sm_drain[s->sm_ndrain++] = e->he_t_ms - window[n];
            window[n] = -1;
        } else if (strcmp(e->he_kind, "heal_all") == 0) {
            heal = e->he_t_ms;
        } else if (strcmp(e->he_kind, "converged") == 0 && heal >= 0) {
            s->sm_converge_ms = e->he_t_ms - heal;
            s->sm_converged = 1;
        }
    }
    if (s->sm_ready != NULL)
        qsort(s->sm_ready, s->sm_nready, sizeof(int64_t), cmp_i64);
    if (s->sm_drain != NULL)
        qsort(s->sm_drain, s->sm_ndrain, sizeof(int64_t), cmp_i64);
}

static void summary_free(summary_t *s)
{
    free(s->sm_ready);
    free(s->sm_drain);
}

static int64_t pct(const int64_t *v, size_t n, int p)
{
    size_t i;

    if (n == 0)
        return -1;
    i = (n * (size_t)p) / 100;
    return v[i < n ? i : n - 1];
}

void report_print(const history_t *h, const check_report_t *rep, FILE *f)
{
    summary_t s;

    summarize(h, &s);
    fprintf(f, "\nscenario %s: nodes=%d seed=%" PRIu64 " duration=%" PRId64 "s\n", h->hi_scenario,
            h->hi_nodes, h->hi_seed, h->hi_duration_s);
    fprintf(f, "  operations (by outcome):\n");
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        uint64_t total = 0;
        for (int r = 0; r < RES_COUNT; r++)
            total += s.sm_ops[k][r];
        fprintf(f, "    %-7s %7" PRIu64 " ", hop_kind_name((hop_kind_t)k), total);
        for (int r = 0; r < RES_COUNT; r++) {
            if (s.sm_ops[k][r] > 0)
                fprintf(f, " %s=%" PRIu64, hop_result_name((hop_result_t)r), s.sm_ops[k][r]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "    final reads after healing: %" PRIu64 "\n", s.sm_final_reads);
    fprintf(f, "  faults injected:");
    for (size_t k = 0; k < NFAULT_KINDS; k++) {
        if (s.sm_faults[k] > 0)
            fprintf(f, " %s=%" PRIu64, fault_kinds[k], s.sm_faults[k]);
    }
    fprintf(f,
            "\n  recovery: restarts=%zu start->ready p50=%" PRId64 "ms max=%" PRId64
            "ms; repairs drained after crash: n=%zu p50=%" PRId64 "ms max=%" PRId64 "ms\n",
            s.sm_nready, pct(s.sm_ready, s.sm_nready, 50), pct(s.sm_ready, s.sm_nready, 100),
            s.sm_ndrain, pct(s.sm_drain, s.sm_ndrain, 50), pct(s.sm_drain, s.sm_ndrain, 100));
    if (s.sm_converged)
        fprintf(f, "  convergence after healing: %" PRId64 " ms\n", s.sm_converge_ms);
    else
        fprintf(f, "  convergence after healing: not reached\n");
    fprintf(f, "  invariants:\n");
    check_report_print(rep, f);
    summary_free(&s);
}

int report_json(const history_t *h, const check_report_t *rep, const char *replay, const char *dir,
                buf_t *b)
{
    summary_t s;
    int rc;

    summarize(h, &s);
    rc = buf_appendf(b, "{\"scenario\":");
    if (rc == 0)
        rc = buf_append_json_str(b, h->hi_scenario, strlen(h->hi_scenario));
    if (rc == 0)
        rc = buf_appendf(b,
                         ",\"seed\":%" PRIu64 ",\"nodes\":%d,\"duration_s\":%" PRId64
                         ",\"passed\":%s,\"replay\":",
                         h->hi_seed, h->hi_nodes, h->hi_duration_s,
                         check_report_ok(rep) ? "true" : "false");
    if (rc == 0 && replay != NULL)
        rc = buf_append_json_str(b, replay, strlen(replay));
    else if (rc == 0)
        rc = buf_appendf(b, "null");
    if (rc == 0)
        rc = buf_appendf(b, ",\"dir\":");
    if (rc == 0 && dir != NULL)
        rc = buf_append_json_str(b, dir, strlen(dir));
    else if (rc == 0)
        rc = buf_appendf(b, "null");
    if (rc == 0)
        rc = buf_appendf(b, ",\"ops\":{");
    for (int k = 0; rc == 0 && k < OP_KIND_COUNT; k++) {
        rc = buf_appendf(b, "%s\"%s\":{", k ? "," : "", hop_kind_name((hop_kind_t)k));
        for (int r = 0, first = 1; rc == 0 && r < RES_COUNT; r++) {
            if (s.sm_ops[k][r] == 0)
                continue;
            rc = buf_appendf(b, "%s\"%s\":%" PRIu64, first ? "" : ",",
                             hop_result_name((hop_result_t)r), s.sm_ops[k][r]);
            first = 0;
        }
        if (rc == 0)
            rc = buf_appendf(b, "}");
    }
    if (rc == 0)
        rc = buf_appendf(b, "},\"final_reads\":%" PRIu64 ",\"faults\":{", s.sm_final_reads);
    for (size_t k = 0, first = 1; rc == 0 && k < NFAULT_KINDS; k++) {
        if (s.sm_faults[k] == 0)
            continue;
        rc = buf_appendf(b, "%s\"%s\":%" PRIu64, first ? "" : ",", fault_kinds[k], s.sm_faults[k]);
        first = 0;
    }
    if (rc == 0)
        rc = buf_appendf(
            b,
            "},\"recovery\":{\"restarts\":%zu,\"ready_ms_p50\":%" PRId64
            ",\"ready_ms_max\":%" PRId64 ",\"repairs_drained\":%zu,"
            "\"repairs_drained_ms_p50\":%" PRId64 ",\"repairs_drained_ms_max\":%" PRId64
            "},\"converge_ms\":%" PRId64 ",\"checks\":",
            s.sm_nready, pct(s.sm_ready, s.sm_nready, 50), pct(s.sm_ready, s.sm_nready, 100),
            s.sm_ndrain, pct(s.sm_drain, s.sm_ndrain, 50), pct(s.sm_drain, s.sm_ndrain, 100),
            s.sm_converged ? s.sm_converge_ms : -1);
    if (rc == 0)
        rc = check_report_json(rep, b);
    if (rc == 0)
        rc = buf_appendf(b, "}");
    summary_free(&s);
    return rc;
}
