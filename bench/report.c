/*
 * report.c -- turns results into a table for people and JSON for scripts.
 */
#include "bench/report.h"
#include "common/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void report_figures(const bench_result_t *r, bench_op_t op, bench_figures_t *f)
{
    hist_t *h, *merged = NULL;
    const bench_opstats_t *os;
    unsigned i;

    memset(f, 0, sizeof(*f));
    if (op < BENCH_NOPS) {
        os = &r->br_stats.bs_op[op];
        h = (hist_t *)&os->os_hist;
        f->bf_ops = os->os_ops;
        f->bf_errors = os->os_errors;
        f->bf_bytes = os->os_bytes;
    } else {
        merged = malloc(sizeof(*merged));
        if (merged == NULL)
            return;
        hist_init(merged);
        for (i = 0; i < BENCH_NOPS; i++) {
            os = &r->br_stats.bs_op[i];
            hist_merge(merged, &os->os_hist);
            f->bf_ops += os->os_ops;
            f->bf_bytes += os->os_bytes;
        }
        f->bf_errors = bench_stats_errors(&r->br_stats);
        h = merged;
    }
    if (r->br_elapsed_s > 0) {
        f->bf_ops_per_s = (double)f->bf_ops / r->br_elapsed_s;
        f->bf_mb_per_s = (double)f->bf_bytes / 1e6 / r->br_elapsed_s;
    }
    if (h->h_sum > 0)
        f->bf_req_mb_per_s = (double)f->bf_bytes / (double)h->h_sum;
    f->bf_mean_us = hist_mean(h);
    f->bf_min_us = h->h_total ? h->h_min : 0;
    f->bf_p50_us = hist_percentile(h, 50.0);
    f->bf_p90_us = hist_percentile(h, 90.0);
    f->bf_p99_us = hist_percentile(h, 99.0);
    f->bf_p999_us = hist_percentile(h, 99.9);
    f->bf_max_us = h->h_max;
    free(merged);
}

const char *report_fmt_us(uint64_t us, char *out, size_t cap)
{
    if (us < 1000)
        snprintf(out, cap, "%" PRIu64 "us", us);
    else if (us < 1000000)
        snprintf(out, cap, "%.2fms", (double)us / 1e3);
    else
        snprintf(out, cap, "%.2fs", (double)us / 1e6);
    return out;
}

/* Which ops a mode produces; the "all" row is shown for mixed only. */
static int rp_op_shown(bench_mode_t m, bench_op_t op)
{
    switch (m) {
    case BENCH_MODE_PUT:
        return op == BENCH_OP_PUT;
    case BENCH_MODE_GET:
        return op == BENCH_OP_GET;
    case BENCH_MODE_MIXED:
        return 1;
    case BENCH_MODE_PUTGET:
        return op != BENCH_NOPS;
    }
    return 0;
}

static const char *rp_row_name(bench_op_t op)
{
    return op == BENCH_NOPS ? "all" : bench_op_name(op);
}

static void rp_print_row(FILE *f, const char *name, const bench_figures_t *x)
{
    char l[5][24];

    fprintf(f, "  %-6s %10" PRIu64 " %10.1f %9.2f %9s %9s %9s %9s %9s %7" PRIu64 "\n", name,
            x->bf_ops, x->bf_ops_per_s, x->bf_mb_per_s, report_fmt_us(x->bf_p50_us, l[0], 24),
            report_fmt_us(x->bf_p90_us, l[1], 24), report_fmt_us(x->bf_p99_us, l[2], 24),
            report_fmt_us(x->bf_p999_us, l[3], 24), report_fmt_us(x->bf_max_us, l[4], 24),
            x->bf_errors);
}

/* "0.45x", or "-" when the raw figure is 0. */
static const char *rp_ratio(double a, double b, char *out, size_t cap)
{
    if (b <= 0 || !isfinite(a / b))
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2fx", a / b);
    return out;
}

static void rp_print_ratio_row(FILE *f, const char *name, const bench_figures_t *c,
                               const bench_figures_t *r)
{
    char x[7][24];

    fprintf(f, "  %-6s %10s %10s %9s %9s %9s %9s %9s %9s\n", name, "",
            rp_ratio(c->bf_ops_per_s, r->bf_ops_per_s, x[0], 24),
            rp_ratio(c->bf_mb_per_s, r->bf_mb_per_s, x[1], 24),
            rp_ratio((double)c->bf_p50_us, (double)r->bf_p50_us, x[2], 24),
            rp_ratio((double)c->bf_p90_us, (double)r->bf_p90_us, x[3], 24),
            rp_ratio((double)c->bf_p99_us, (double)r->bf_p99_us, x[4], 24),
            rp_ratio((double)c->bf_p999_us, (double)r->bf_p999_us, x[5], 24),
            rp_ratio((double)c->bf_max_us, (double)r->bf_max_us, x[6], 24));
}

static void rp_print_header(FILE *f, const char *title, double elapsed)
{
    fprintf(f, "%s, %.2f s measured\n", title, elapsed);
    fprintf(f, "  %-6s %10s %10s %9s %9s %9s %9s %9s %9s %7s\n", "op", "ops", "ops/s", "MB/s",
            "p50", "p90", "p99", "p99.9", "max", "errors");
}

static void rp_print_result(FILE *f, const bench_report_t *r, const char *title,
                            const bench_result_t *res)
{
    bench_figures_t x;
    unsigned op;

    rp_print_header(f, title, res->br_elapsed_s);
    for (op = 0; op <= BENCH_NOPS; op++) {
        if (!rp_op_shown(r->rp_conf->bc_mode, (bench_op_t)op))
            continue;
        report_figures(res, (bench_op_t)op, &x);
        rp_print_row(f, rp_row_name((bench_op_t)op), &x);
    }
}

/* Errors by kind, the per-request rate of put-get runs, requests cut off. */
static void rp_print_notes(FILE *f, const bench_report_t *r, const char *what,
                           const bench_result_t *res)
{
    const bench_stats_t *s = &res->br_stats;
    bench_figures_t xp, xg;
    unsigned i;

    if (bench_stats_errors(s) > 0) {
        fprintf(f, "  %s errors:", what);
        for (i = 0; i < s->bs_nerrs; i++)
            fprintf(f, " %s=%" PRIu64, s->bs_errs[i].ek_name, s->bs_errs[i].ek_count);
        if (s->bs_errs_other)
            fprintf(f, " other=%" PRIu64, s->bs_errs_other);
        fprintf(f, "\n");
    }
    if (r->rp_conf->bc_mode == BENCH_MODE_PUTGET) {
        report_figures(res, BENCH_OP_PUT, &xp);
        report_figures(res, BENCH_OP_GET, &xg);
        fprintf(f, "  per request (body bytes / request time): put %.1f MB/s, get %.1f MB/s\n",
                xp.bf_req_mb_per_s, xg.bf_req_mb_per_s);
    }
    if (s->bs_aborted)
        fprintf(f, "  %" PRIu64 " requests in flight when the time was up (not counted)\n",
                s->bs_aborted);
}

static void rp_print_prefill(FILE *f, const char *what, const bench_result_t *res)
{
    bench_figures_t x;

    report_figures(res, BENCH_OP_PUT, &x);
    fprintf(f, "%s prefill: %" PRIu64 " puts in %.2f s (%.1f ops/s, %" PRIu64 " errors)\n", what,
            x.bf_ops, res->br_elapsed_s, x.bf_ops_per_s, bench_stats_errors(&res->br_stats));
}

void report_print(FILE *f, const bench_report_t *r)
{
    const bench_conf_t *c = r->rp_conf;
    bench_figures_t xc, xr;
    const bench_node_mem_t *nm;
    char title[600];
    unsigned i, op;

    fprintf(f, "cairn-bench %s: mode=%s size=%s connections=%u threads=%u keys=%" PRIu64,
            BENCH_VERSION, bench_mode_name(c->bc_mode), c->bc_size_spec, c->bc_connections,
            c->bc_threads, c->bc_keys);
    if (c->bc_mode == BENCH_MODE_MIXED)
        fprintf(f, " get-ratio=%.2f", c->bc_get_ratio);
    fprintf(f, " durability=%s", c->bc_durability ? c->bc_durability : "(node default)");
    if (c->bc_requests)
        fprintf(f, " requests=%" PRIu64, c->bc_requests);
    if (c->bc_duration_s > 0)
        fprintf(f, " duration=%.1fs", c->bc_duration_s);
    if (c->bc_warmup_s > 0)
        fprintf(f, " warmup=%.1fs", c->bc_warmup_s);
    fprintf(f, "\n");
    if (r->rp_label)
        fprintf(f, "label: %s\n", r->rp_label);
    if (c->bc_ntargets) {
        fprintf(f, "targets:");
        for (i = 0; i < c->bc_ntargets; i++)
            fprintf(f, " %s", c->bc_targets[i].bt_url);
        fprintf(f, "\n");
    }
    if (r->rp_cairn_prefill)
        rp_print_prefill(f, "cairn", r->rp_cairn_prefill);
    if (r->rp_raw_prefill)
        rp_print_prefill(f, "raw", r->rp_raw_prefill);
    if (r->rp_cairn) {
        rp_print_result(f, r, "cairn", r->rp_cairn);
        rp_print_notes(f, r, "cairn", r->rp_cairn);
    }
    if (r->rp_raw) {
        snprintf(title, sizeof(title), "raw (write+fdatasync+rename+dir fsync in %s)",
                 r->rp_raw_path ? r->rp_raw_path : "?");
        rp_print_result(f, r, title, r->rp_raw);
        rp_print_notes(f, r, "raw", r->rp_raw);
    }
    if (r->rp_cairn && r->rp_raw) {
        fprintf(f,
                "cairn/raw (throughput: share of the raw limit; latency: times the raw latency)\n");
        fprintf(f, "  %-6s %10s %10s %9s %9s %9s %9s %9s %9s\n", "op", "", "ops/s", "MB/s", "p50",
                "p90", "p99", "p99.9", "max");
        for (op = 0; op <= BENCH_NOPS; op++) {
            if (!rp_op_shown(c->bc_mode, (bench_op_t)op))
                continue;
            report_figures(r->rp_cairn, (bench_op_t)op, &xc);
            report_figures(r->rp_raw, (bench_op_t)op, &xr);
            rp_print_ratio_row(f, rp_row_name((bench_op_t)op), &xc, &xr);
        }
        if (c->bc_mode == BENCH_MODE_PUTGET) {
            char rp[24], rg[24];

            report_figures(r->rp_cairn, BENCH_OP_PUT, &xc);
            report_figures(r->rp_raw, BENCH_OP_PUT, &xr);
            rp_ratio(xc.bf_req_mb_per_s, xr.bf_req_mb_per_s, rp, sizeof(rp));
            report_figures(r->rp_cairn, BENCH_OP_GET, &xc);
            report_figures(r->rp_raw, BENCH_OP_GET, &xr);
            rp_ratio(xc.bf_req_mb_per_s, xr.bf_req_mb_per_s, rg, sizeof(rg));
            fprintf(f, "  per request MB/s: put %s, get %s\n", rp, rg);
        }
    }
    for (i = 0; i < r->rp_nnodes; i++) {
        nm = &r->rp_nodes[i];
        if (!nm->nm_ok) {
            fprintf(f, "node pid %ld: no memory samples (%s)\n", (long)nm->nm_pid,
                    nm->nm_gone ? "process not found" : "unreadable");
            continue;
        }
        fprintf(f,
                "node pid %ld: RSS start %.1f MiB, peak %.1f MiB, end %.1f MiB; VmHWM %.1f MiB "
                "(%" PRIu64 " samples every 100 ms%s)\n",
                (long)nm->nm_pid, (double)nm->nm_start_kb / 1024, (double)nm->nm_peak_kb / 1024,
                (double)nm->nm_end_kb / 1024, (double)nm->nm_hwm_kb / 1024, nm->nm_samples,
                nm->nm_gone ? "; process exited during the run" : "");
    }
}

/* JSON number for a double; non-finite values become 0. */
static int rp_num(buf_t *b, double v)
{
    if (!isfinite(v))
        v = 0;
    return buf_appendf(b, "%.3f", v);
}

static int rp_json_figures(buf_t *b, const bench_figures_t *x)
{
    int rc = 0;

    rc |= buf_appendf(
        b, "{\"ops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"ops_per_s\":",
        x->bf_ops, x->bf_errors, x->bf_bytes);
    rc |= rp_num(b, x->bf_ops_per_s);
    rc |= buf_appendf(b, ",\"mb_per_s\":");
    rc |= rp_num(b, x->bf_mb_per_s);
    rc |= buf_appendf(b, ",\"mb_per_s_per_request\":");
    rc |= rp_num(b, x->bf_req_mb_per_s);
    rc |= buf_appendf(b, ",\"latency_us\":{\"min\":%" PRIu64 ",\"mean\":", x->bf_min_us);
    rc |= rp_num(b, x->bf_mean_us);
    rc |= buf_appendf(b,
                      ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
                      ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}}",
                      x->bf_p50_us, x->bf_p90_us, x->bf_p99_us, x->bf_p999_us, x->bf_max_us);
    return rc < 0 ? CAIRN_ENOMEM : 0;
}

/* A result as JSON; mode decides which op rows appear (prefill: put only). */
static int rp_json_result(buf_t *b, bench_mode_t mode, const bench_result_t *res)
{
    const bench_stats_t *s;
    bench_figures_t x;
    unsigned op, i;
    int rc = 0, first = 1;

    if (res == NULL)
        return buf_appendf(b, "null");
    s = &res->br_stats;
    rc |= buf_appendf(b, "{\"elapsed_s\":");
    rc |= rp_num(b, res->br_elapsed_s);
    rc |= buf_appendf(b, ",\"ops\":{");
    for (op = 0; op <= BENCH_NOPS; op++) {
        if (!rp_op_shown(mode, (bench_op_t)op))
            continue;
        report_figures(res, (bench_op_t)op, &x);
        rc |= buf_appendf(b, "%s\"%s\":", first ? "" : ",", rp_row_name((bench_op_t)op));
        rc |= rp_json_figures(b, &x);
        first = 0;
    }
    rc |= buf_appendf(b, "},\"errors_total\":%" PRIu64 ",\"errors\":{", bench_stats_errors(s));
    for (i = 0; i < s->bs_nerrs; i++) {
        rc |= buf_appendf(b, "%s", i ? "," : "");
        rc |= buf_append_json_str(b, s->bs_errs[i].ek_name, strlen(s->bs_errs[i].ek_name));
        rc |= buf_appendf(b, ":%" PRIu64, s->bs_errs[i].ek_count);
    }
    if (s->bs_errs_other)
        rc |= buf_appendf(b, "%s\"other\":%" PRIu64, s->bs_nerrs ? "," : "", s->bs_errs_other);
    rc |= buf_appendf(b, "},\"aborted_at_end\":%" PRIu64 "}", s->bs_aborted);
    return rc < 0 ? CAIRN_ENOMEM : 0;
}

static int rp_json_str_or_null(buf_t *b, const char *s)
{
    if (s == NULL)
        return buf_appendf(b, "null");
    return buf_append_json_str(b, s, strlen(s));
}

/* ,"name":a/b (or null when b is 0); no leading comma when first. */
static int rp_json_ratio_field(buf_t *b, const char *name, double a, double bb, int first)
{
    int rc;

    rc = buf_appendf(b, "%s\"%s\":", first ? "" : ",", name);
    if (rc < 0)
        return rc;
    if (bb > 0)
        return rp_num(b, a / bb);
    return buf_appendf(b, "null");
}

static int rp_json_ratio(buf_t *b, const bench_report_t *r)
{
    bench_figures_t xc, xr;
    unsigned op;
    int rc = 0, first = 1;

    if (r->rp_cairn == NULL || r->rp_raw == NULL)
        return buf_appendf(b, "null");
    rc |= buf_appendf(b, "{");
    for (op = 0; op <= BENCH_NOPS; op++) {
        if (!rp_op_shown(r->rp_conf->bc_mode, (bench_op_t)op))
            continue;
        report_figures(r->rp_cairn, (bench_op_t)op, &xc);
        report_figures(r->rp_raw, (bench_op_t)op, &xr);
        rc |= buf_appendf(b, "%s\"%s\":{", first ? "" : ",", rp_row_name((bench_op_t)op));
        rc |= rp_json_ratio_field(b, "ops_per_s", xc.bf_ops_per_s, xr.bf_ops_per_s, 1);
        rc |= rp_json_ratio_field(b, "mb_per_s", xc.bf_mb_per_s, xr.bf_mb_per_s, 0);
        rc |= rp_json_ratio_field(b, "mb_per_s_per_request", xc.bf_req_mb_per_s, xr.bf_req_mb_per_s,
                                  0);
        rc |= rp_json_ratio_field(b, "p50", (double)xc.bf_p50_us, (double)xr.bf_p50_us, 0);
        rc |= rp_json_ratio_field(b, "p90", (double)xc.bf_p90_us, (double)xr.bf_p90_us, 0);
        rc |= rp_json_ratio_field(b, "p99", (double)xc.bf_p99_us, (double)xr.bf_p99_us, 0);
        rc |= rp_json_ratio_field(b, "p999", (double)xc.bf_p999_us, (double)xr.bf_p999_us, 0);
        rc |= rp_json_ratio_field(b, "max", (double)xc.bf_max_us, (double)xr.bf_max_us, 0);
        rc |= buf_appendf(b, "}");
        first = 0;
    }
    rc |= buf_appendf(b, "}");
    return rc < 0 ? CAIRN_ENOMEM : 0;
}

int report_json(const bench_report_t *r, buf_t *b)
{
    const bench_conf_t *c = r->rp_conf;
    const bench_node_mem_t *nm;
    unsigned i;
    int rc = 0;

    rc |= buf_appendf(b, "{\"tool\":\"cairn-bench\",\"version\":\"%s\",\"label\":", BENCH_VERSION);
    rc |= rp_json_str_or_null(b, r->rp_label);
    rc |= buf_appendf(b, ",\"config\":{\"mode\":\"%s\",\"size\":", bench_mode_name(c->bc_mode));
    rc |= buf_append_json_str(b, c->bc_size_spec, strlen(c->bc_size_spec));
    rc |= buf_appendf(b, ",\"size_mean\":");
    rc |= rp_num(b, sizedist_mean(&c->bc_size));
    rc |= buf_appendf(b,
                      ",\"size_max\":%" PRIu64 ",\"connections\":%u,\"threads\":%u,\"duration_s\":",
                      sizedist_max(&c->bc_size), c->bc_connections, c->bc_threads);
    rc |= rp_num(b, c->bc_duration_s);
    rc |= buf_appendf(b, ",\"warmup_s\":");
    rc |= rp_num(b, c->bc_warmup_s);
    rc |= buf_appendf(b, ",\"requests\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"key_prefix\":",
                      c->bc_requests, c->bc_keys);
    rc |= buf_append_json_str(b, c->bc_prefix, strlen(c->bc_prefix));
    rc |= buf_appendf(b, ",\"get_ratio\":");
    rc |= rp_num(b, c->bc_get_ratio);
    rc |= buf_appendf(b, ",\"durability\":");
    rc |= rp_json_str_or_null(b, c->bc_durability);
    rc |= buf_appendf(b, ",\"prefill\":%s,\"timeout_s\":", c->bc_prefill ? "true" : "false");
    rc |= rp_num(b, c->bc_timeout_s);
    rc |= buf_appendf(b, ",\"seed\":%" PRIu64 ",\"targets\":[", c->bc_seed);
    for (i = 0; i < c->bc_ntargets; i++) {
        rc |= buf_appendf(b, "%s", i ? "," : "");
        rc |= buf_append_json_str(b, c->bc_targets[i].bt_url, strlen(c->bc_targets[i].bt_url));
    }
    rc |= buf_appendf(b, "],\"raw_dir\":");
    rc |= rp_json_str_or_null(b, c->bc_raw_dir);
    rc |= buf_appendf(b, "},\"cairn_prefill\":");
    rc |= rp_json_result(b, BENCH_MODE_PUT, r->rp_cairn_prefill);
    rc |= buf_appendf(b, ",\"cairn\":");
    rc |= rp_json_result(b, c->bc_mode, r->rp_cairn);
    rc |= buf_appendf(b, ",\"raw_prefill\":");
    rc |= rp_json_result(b, BENCH_MODE_PUT, r->rp_raw_prefill);
    rc |= buf_appendf(b, ",\"raw\":");
    rc |= rp_json_result(b, c->bc_mode, r->rp_raw);
    rc |= buf_appendf(b, ",\"ratio\":");
    rc |= rp_json_ratio(b, r);
    rc |= buf_appendf(b, ",\"nodes\":[");
    for (i = 0; i < r->rp_nnodes; i++) {
        nm = &r->rp_nodes[i];
        rc |= buf_appendf(b,
                          "%s{\"pid\":%ld,\"samples\":%" PRIu64 ",\"rss_start_kb\":%" PRIu64
                          ",\"rss_peak_kb\":%" PRIu64 ",\"rss_end_kb\":%" PRIu64
                          ",\"vm_hwm_kb\":%" PRIu64 ",\"exited\":%s}",
                          i ? "," : "", (long)nm->nm_pid, nm->nm_samples, nm->nm_start_kb,
                          nm->nm_peak_kb, nm->nm_end_kb, nm->nm_hwm_kb,
                          nm->nm_gone ? "true" : "false");
    }
    rc |= buf_appendf(b, "]}\n");
    return rc < 0 ? CAIRN_ENOMEM : 0;
}
