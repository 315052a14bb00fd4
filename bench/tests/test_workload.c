/* test_workload.c -- request claiming, the measured window, and the report. */
#include "bench/bench.h"
#include "bench/report.h"
#include "common/buf.h"
#include "common/error.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *pattern;

static void setup(void)
{
    pattern = malloc(BENCH_PATTERN_SIZE);
    ck_assert_ptr_nonnull(pattern);
    bench_pattern_fill(pattern, 9);
}

static void teardown(void)
{
    free(pattern);
}

static bench_conf_t *make_conf(bench_mode_t mode, const char *size)
{
    bench_conf_t *c = calloc(1, sizeof(*c));

    ck_assert_ptr_nonnull(c);
    c->bc_mode = mode;
    c->bc_connections = 1;
    c->bc_threads = 1;
    c->bc_keys = 100;
    c->bc_get_ratio = 0.25;
    c->bc_timeout_s = 1;
    ck_assert_int_eq(sizedist_parse(size, &c->bc_size), 0);
    snprintf(c->bc_size_spec, sizeof(c->bc_size_spec), "%s", size);
    snprintf(c->bc_prefix, sizeof(c->bc_prefix), "b/");
    return c;
}

START_TEST(test_prefill_in_order_once)
{
    bench_conf_t *c = make_conf(BENCH_MODE_GET, "1K");
    bench_phase_t ph;
    bench_rng_t r;
    bench_req_t rq;
    uint64_t i;

    bench_rng_seed(&r, 1);
    bench_phase_init(&ph, c, pattern, 1, 1000);
    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(bench_claim(&ph, &r, 2000, &rq), 1);
        ck_assert_int_eq(rq.rq_op, BENCH_OP_PUT);
        ck_assert_uint_eq(rq.rq_key, i);
        ck_assert_uint_eq(rq.rq_size, 1024);
        ck_assert_uint_lt(rq.rq_pat_off, BENCH_PATTERN_SIZE);
    }
    ck_assert_int_eq(bench_claim(&ph, &r, 2000, &rq), 0);
    ck_assert_int_eq(bench_claim(&ph, &r, 2000, &rq), 0);
    free(c);
}
END_TEST

START_TEST(test_request_budget_and_mix)
{
    bench_conf_t *c = make_conf(BENCH_MODE_MIXED, "1K-2K");
    unsigned gets = 0, i;
    bench_phase_t ph;
    bench_rng_t r;
    bench_req_t rq;

    c->bc_requests = 4000;
    bench_rng_seed(&r, 5);
    bench_phase_init(&ph, c, pattern, 0, 0);
    for (i = 0; i < 4000; i++) {
        ck_assert_int_eq(bench_claim(&ph, &r, 1, &rq), 1);
        ck_assert_uint_lt(rq.rq_key, 100);
        if (rq.rq_op == BENCH_OP_GET) {
            gets++;
            ck_assert_uint_eq(rq.rq_size, 0);
        } else {
            ck_assert_uint_ge(rq.rq_size, 1024);
            ck_assert_uint_le(rq.rq_size, 2048);
        }
    }
    ck_assert_int_eq(bench_claim(&ph, &r, 1, &rq), 0);
    ck_assert_uint_gt(gets, 900);
    ck_assert_uint_lt(gets, 1100);
    free(c);
}
END_TEST

START_TEST(test_deadline_and_stop)
{
    bench_conf_t *c = make_conf(BENCH_MODE_PUT, "1");
    bench_phase_t ph;
    bench_rng_t r;
    bench_req_t rq;

    c->bc_duration_s = 2;
    c->bc_warmup_s = 1;
    bench_rng_seed(&r, 5);
    bench_phase_init(&ph, c, pattern, 0, 1000000000ULL);
    ck_assert_uint_eq(ph.bp_warm_end_ns, 2000000000ULL);
    ck_assert_uint_eq(ph.bp_deadline_ns, 4000000000ULL);
    ck_assert_int_eq(bench_claim(&ph, &r, 3999999999ULL, &rq), 1);
    ck_assert_int_eq(bench_claim(&ph, &r, 4000000000ULL, &rq), 0);
    ck_assert_uint_eq(atomic_load(&ph.bp_stop_ns), 4000000000ULL);
    /* once stopped, always stopped */
    ck_assert_int_eq(bench_claim(&ph, &r, 0, &rq), 0);
    bench_phase_init(&ph, c, pattern, 0, 0);
    bench_phase_stop(&ph, 77);
    bench_phase_stop(&ph, 99);
    ck_assert_uint_eq(atomic_load(&ph.bp_stop_ns), 77);
    ck_assert_int_eq(bench_claim(&ph, &r, 1, &rq), 0);
    free(c);
}
END_TEST

START_TEST(test_put_get_round_robin_keys)
{
    bench_conf_t *c = make_conf(BENCH_MODE_PUTGET, "1K");
    bench_phase_t ph;
    bench_rng_t r;
    bench_req_t rq;
    unsigned i;

    c->bc_keys = 3;
    bench_rng_seed(&r, 5);
    bench_phase_init(&ph, c, pattern, 0, 0);
    for (i = 0; i < 7; i++) {
        ck_assert_int_eq(bench_claim(&ph, &r, 1, &rq), 1);
        ck_assert_int_eq(rq.rq_op, BENCH_OP_PUT);
        ck_assert(rq.rq_then_get);
        ck_assert_uint_eq(rq.rq_key, i % 3);
    }
    free(c);
}
END_TEST

/* Only completions inside [warmup end, deadline] are figures. */
START_TEST(test_window_and_elapsed)
{
    bench_conf_t *c = make_conf(BENCH_MODE_PUT, "1");
    bench_result_t *res = calloc(1, sizeof(*res));
    bench_phase_t ph;

    c->bc_duration_s = 2;
    c->bc_warmup_s = 1;
    bench_phase_init(&ph, c, pattern, 0, 0);
    bench_stats_init(&res->br_stats);
    bench_stats_ok(&res->br_stats, &ph, BENCH_OP_PUT, 0, 999999999ULL, 10); /* warmup */
    bench_stats_ok(&res->br_stats, &ph, BENCH_OP_PUT, 1000000000ULL, 1500000000ULL, 10);
    bench_stats_ok(&res->br_stats, &ph, BENCH_OP_PUT, 2000000000ULL, 2000250000ULL, 10);
    bench_stats_ok(&res->br_stats, &ph, BENCH_OP_PUT, 2000000000ULL, 3000000001ULL, 10); /* late */
    bench_stats_error(&res->br_stats, &ph, BENCH_OP_PUT, "http.503.unavailable", 1500000000ULL);
    bench_stats_error(&res->br_stats, &ph, BENCH_OP_PUT, "http.503.unavailable", 1600000000ULL);
    bench_stats_error(&res->br_stats, &ph, BENCH_NOPS, "connect.ECONNREFUSED", 1600000000ULL);
    ck_assert_uint_eq(res->br_stats.bs_op[BENCH_OP_PUT].os_ops, 2);
    ck_assert_uint_eq(res->br_stats.bs_op[BENCH_OP_PUT].os_bytes, 20);
    ck_assert_uint_eq(res->br_stats.bs_op[BENCH_OP_PUT].os_hist.h_max, 500000);
    ck_assert_uint_eq(res->br_stats.bs_op[BENCH_OP_PUT].os_hist.h_min, 250);
    ck_assert_uint_eq(res->br_stats.bs_op[BENCH_OP_PUT].os_errors, 2);
    ck_assert_uint_eq(bench_stats_errors(&res->br_stats), 3);
    ck_assert_uint_eq(res->br_stats.bs_nerrs, 2);
    /* a deadline phase is measured up to its deadline */
    bench_phase_stop(&ph, ph.bp_deadline_ns);
    bench_result_finish(res, &ph);
    ck_assert(res->br_elapsed_s > 1.999 && res->br_elapsed_s < 2.001);
    free(res);
    free(c);
}
END_TEST

START_TEST(test_error_kinds_overflow)
{
    bench_conf_t *c = make_conf(BENCH_MODE_PUT, "1");
    bench_stats_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    bench_phase_t ph;
    char kind[32];
    unsigned i;

    bench_phase_init(&ph, c, pattern, 0, 0);
    bench_stats_init(a);
    bench_stats_init(b);
    for (i = 0; i < BENCH_ERRKINDS + 5; i++) {
        snprintf(kind, sizeof(kind), "kind%u", i);
        bench_stats_error(a, &ph, BENCH_OP_GET, kind, 1);
        bench_stats_error(b, &ph, BENCH_OP_GET, kind, 1);
    }
    ck_assert_uint_eq(a->bs_nerrs, BENCH_ERRKINDS);
    ck_assert_uint_eq(a->bs_errs_other, 5);
    bench_stats_merge(a, b);
    ck_assert_uint_eq(bench_stats_errors(a), 2 * (BENCH_ERRKINDS + 5));
    ck_assert_uint_eq(a->bs_op[BENCH_OP_GET].os_errors, 2 * (BENCH_ERRKINDS + 5));
    ck_assert_uint_eq(a->bs_errs[0].ek_count, 2);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_report_json_and_ratio)
{
    bench_conf_t *c = make_conf(BENCH_MODE_PUT, "4K");
    bench_result_t *cr = calloc(1, sizeof(*cr)), *rr = calloc(1, sizeof(*rr));
    bench_node_mem_t nm = {.nm_pid = 42, .nm_ok = 1, .nm_peak_kb = 2048, .nm_samples = 3};
    bench_report_t rep;
    bench_phase_t ph;
    bench_figures_t f;
    const char *s;
    buf_t b;
    int i;

    bench_phase_init(&ph, c, pattern, 0, 0);
    bench_stats_init(&cr->br_stats);
    bench_stats_init(&rr->br_stats);
    for (i = 0; i < 100; i++) {
        bench_stats_ok(&cr->br_stats, &ph, BENCH_OP_PUT, 0, 2000000, 4096); /* 2 ms */
        bench_stats_ok(&rr->br_stats, &ph, BENCH_OP_PUT, 0, 1000000, 4096); /* 1 ms */
        bench_stats_ok(&rr->br_stats, &ph, BENCH_OP_PUT, 0, 1000000, 4096);
    }
    bench_stats_error(&cr->br_stats, &ph, BENCH_OP_PUT, "http.500.\"odd\"", 5);
    cr->br_elapsed_s = rr->br_elapsed_s = 1.0;
    cr->br_ran = rr->br_ran = 1;
    report_figures(cr, BENCH_OP_PUT, &f);
    ck_assert_uint_eq(f.bf_ops, 100);
    ck_assert(f.bf_ops_per_s == 100.0);
    ck_assert(f.bf_mb_per_s > 0.409 && f.bf_mb_per_s < 0.410);
    ck_assert_uint_eq(f.bf_p50_us, 2000);
    memset(&rep, 0, sizeof(rep));
    rep.rp_conf = c;
    rep.rp_cairn = cr;
    rep.rp_raw = rr;
    rep.rp_nodes = &nm;
    rep.rp_nnodes = 1;
    rep.rp_label = "say \"hi\"";
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(report_json(&rep, &b), 0);
    s = buf_cstr(&b);
    ck_assert_ptr_nonnull(strstr(s, "\"label\":\"say \\\"hi\\\"\""));
    ck_assert_ptr_nonnull(strstr(s, "\"http.500.\\\"odd\\\"\":1"));
    ck_assert_ptr_nonnull(strstr(s, "\"ratio\":{\"put\":{\"ops_per_s\":0.500,\"mb_per_s\":0.500,"
                                    "\"mb_per_s_per_request\":0.500,\"p50\":2.000"));
    ck_assert_ptr_nonnull(strstr(s, "\"cairn_prefill\":null"));
    ck_assert_ptr_nonnull(strstr(s, "\"rss_peak_kb\":2048"));
    ck_assert_ptr_nonnull(strstr(s, "\"p999\":2000"));
    buf_free(&b);
    free(cr);
    free(rr);
    free(c);
}
END_TEST

START_TEST(test_fmt_us)
{
    char b[32];

    ck_assert_str_eq(report_fmt_us(0, b, sizeof(b)), "0us");
    ck_assert_str_eq(report_fmt_us(999, b, sizeof(b)), "999us");
    ck_assert_str_eq(report_fmt_us(1234, b, sizeof(b)), "1.23ms");
    ck_assert_str_eq(report_fmt_us(2500000, b, sizeof(b)), "2.50s");
}
END_TEST

START_TEST(test_mode_names)
{
    bench_mode_t m;

    ck_assert_int_eq(bench_mode_parse("get-big", &m), 0);
    ck_assert_int_eq(m, BENCH_MODE_PUTGET);
    ck_assert_str_eq(bench_mode_name(m), "put-get");
    ck_assert_int_eq(bench_mode_parse("mixed", &m), 0);
    ck_assert_int_eq(m, BENCH_MODE_MIXED);
    ck_assert_int_eq(bench_mode_parse("PUT", &m), CAIRN_EINVAL);
    ck_assert_int_eq(bench_mode_parse("", &m), CAIRN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workload");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_prefill_in_order_once);
    tcase_add_test(tc, test_request_budget_and_mix);
    tcase_add_test(tc, test_deadline_and_stop);
    tcase_add_test(tc, test_put_get_round_robin_keys);
    tcase_add_test(tc, test_window_and_elapsed);
    tcase_add_test(tc, test_error_kinds_overflow);
    tcase_add_test(tc, test_report_json_and_ratio);
    tcase_add_test(tc, test_fmt_us);
    tcase_add_test(tc, test_mode_names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
