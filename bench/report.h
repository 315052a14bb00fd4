/*
 * report.h -- the human summary and the JSON file of a run.
 */
#ifndef CAIRN_BENCH_REPORT_H
#define CAIRN_BENCH_REPORT_H

#include "bench/bench.h"
#include "common/buf.h"

#include <stdio.h>

typedef struct bench_report {
    const bench_conf_t *rp_conf;
    const bench_result_t *rp_cairn_prefill; /* NULL when not run (same below) */
    const bench_result_t *rp_cairn;
    const bench_result_t *rp_raw_prefill;
    const bench_result_t *rp_raw;
    const bench_node_mem_t *rp_nodes;
    unsigned rp_nnodes;
    const char *rp_label;    /* free text or NULL */
    const char *rp_raw_path; /* the directory the raw files went to */
} bench_report_t;

/* Figures of one op (or of all ops together) in a result. */
typedef struct bench_figures {
    uint64_t bf_ops;
    uint64_t bf_errors;
    uint64_t bf_bytes;
    double bf_ops_per_s;
    double bf_mb_per_s;     /* 10^6 bytes per second over the measured window */
    double bf_req_mb_per_s; /* body bytes / summed request time: one stream's rate */
    double bf_mean_us;
    uint64_t bf_min_us, bf_p50_us, bf_p90_us, bf_p99_us, bf_p999_us, bf_max_us;
} bench_figures_t;

/* op BENCH_NOPS means all ops merged. */
void report_figures(const bench_result_t *r, bench_op_t op, bench_figures_t *f);
/* Formats a latency for people: "850us", "1.23ms", "2.50s". Returns out. */
const char *report_fmt_us(uint64_t us, char *out, size_t cap);

void report_print(FILE *f, const bench_report_t *r);
/* Appends the whole report as one JSON object to out. 0 or CAIRN_ETOOBIG/ENOMEM. */
int report_json(const bench_report_t *r, buf_t *out);

#endif
