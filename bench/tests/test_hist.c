/* test_hist.c -- log-linear latency histogram: buckets, percentiles, merge. */
#include "bench/hist.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static hist_t *new_hist(void)
{
    hist_t *h = malloc(sizeof(*h));

    ck_assert_ptr_nonnull(h);
    hist_init(h);
    return h;
}

START_TEST(test_buckets_contiguous_and_precise)
{
    unsigned i;
    uint64_t lo, hi;

    ck_assert_uint_eq(hist_index(0), 0);
    ck_assert_uint_eq(hist_index(255), 255);
    ck_assert_uint_eq(hist_index(256), 256);
    ck_assert_uint_eq(hist_index(257), 256);
    ck_assert_uint_eq(hist_index(258), 257);
    ck_assert_uint_eq(hist_index(HIST_MAX_TRACKED), HIST_NBUCKETS - 1);
    ck_assert_uint_eq(hist_index(UINT64_MAX), HIST_NBUCKETS - 1);
    ck_assert_uint_ge(HIST_MAX_TRACKED, 60000000u);
    for (i = 0; i < HIST_NBUCKETS; i++) {
        lo = hist_bucket_low(i);
        hi = hist_bucket_high(i);
        ck_assert_uint_le(lo, hi);
        ck_assert_uint_eq(hist_index(lo), i);
        ck_assert_uint_eq(hist_index(hi), i);
        if (i > 0)
            ck_assert_uint_eq(hist_bucket_high(i - 1) + 1, lo);
        /* a bucket never spans more than 1/128 of its lowest value */
        if (lo >= 256)
            ck_assert_uint_le((hi - lo + 1) * 128, lo);
    }
    ck_assert_uint_eq(hist_bucket_high(HIST_NBUCKETS - 1), HIST_MAX_TRACKED);
}
END_TEST

START_TEST(test_empty)
{
    hist_t *h = new_hist();

    ck_assert_uint_eq(hist_percentile(h, 50), 0);
    ck_assert_uint_eq(hist_percentile(h, 100), 0);
    ck_assert(hist_mean(h) == 0.0);
    free(h);
}
END_TEST

START_TEST(test_single_value_exact)
{
    hist_t *h = new_hist();

    hist_record(h, 12345);
    ck_assert_uint_eq(hist_percentile(h, 0), 12345);
    ck_assert_uint_eq(hist_percentile(h, 50), 12345);
    ck_assert_uint_eq(hist_percentile(h, 99.9), 12345);
    ck_assert_uint_eq(hist_percentile(h, 100), 12345);
    ck_assert(hist_mean(h) == 12345.0);
    free(h);
}
END_TEST

/* Percentiles of 1..100000 are within 1% of the exact ones. */
START_TEST(test_uniform_percentiles)
{
    static const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    hist_t *h = new_hist();
    uint64_t v, got, want;
    unsigned i;

    for (v = 1; v <= 100000; v++)
        hist_record(h, v);
    ck_assert_uint_eq(h->h_total, 100000);
    ck_assert_uint_eq(h->h_min, 1);
    ck_assert_uint_eq(h->h_max, 100000);
    for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        want = (uint64_t)(pcts[i] * 1000.0 + 0.5);
        got = hist_percentile(h, pcts[i]);
        ck_assert_msg(got >= want && (double)got <= (double)want * 1.01, "p%g: got %llu want %llu",
                      pcts[i], (unsigned long long)got, (unsigned long long)want);
    }
    ck_assert_uint_eq(hist_percentile(h, 100), 100000);
    ck_assert(hist_mean(h) > 50000.4 && hist_mean(h) < 50000.6);
    free(h);
}
END_TEST

/* A tail: 990 fast samples, 10 slow ones; p99 is fast, p99.9 slow. */
START_TEST(test_tail)
{
    hist_t *h = new_hist();
    unsigned i;

    for (i = 0; i < 990; i++)
        hist_record(h, 1000);
    for (i = 0; i < 10; i++)
        hist_record(h, 5000000);
    ck_assert_uint_le(hist_percentile(h, 99), 1010);
    ck_assert_uint_ge(hist_percentile(h, 99.1), 5000000 * 0.99);
    ck_assert_uint_eq(hist_percentile(h, 100), 5000000);
    free(h);
}
END_TEST

START_TEST(test_merge_equals_combined)
{
    hist_t *a = new_hist(), *b = new_hist(), *all = new_hist();
    uint64_t v;
    unsigned i;

    for (v = 1; v < 200000; v += 7) {
        hist_record((v % 3) ? a : b, v);
        hist_record(all, v);
    }
    hist_merge(a, b);
    ck_assert_uint_eq(a->h_total, all->h_total);
    ck_assert_uint_eq(a->h_sum, all->h_sum);
    ck_assert_uint_eq(a->h_min, all->h_min);
    ck_assert_uint_eq(a->h_max, all->h_max);
    for (i = 0; i < HIST_NBUCKETS; i++)
        ck_assert_uint_eq(a->h_counts[i], all->h_counts[i]);
    ck_assert_uint_eq(hist_percentile(a, 99), hist_percentile(all, 99));
    /* merging an empty histogram changes nothing */
    hist_init(b);
    hist_merge(a, b);
    ck_assert_uint_eq(a->h_min, all->h_min);
    ck_assert_uint_eq(a->h_total, all->h_total);
    free(a);
    free(b);
    free(all);
}
END_TEST

START_TEST(test_beyond_range_clamped)
{
    hist_t *h = new_hist();

    hist_record(h, 100);
    hist_record(h, 120000000); /* 120 s */
    ck_assert_uint_eq(h->h_clamped, 1);
    ck_assert_uint_eq(h->h_max, 120000000);
    ck_assert_uint_eq(hist_percentile(h, 100), 120000000);
    ck_assert_uint_eq(hist_percentile(h, 50), 100);
    ck_assert_uint_ge(hist_percentile(h, 75), HIST_MAX_TRACKED);
    free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_buckets_contiguous_and_precise);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_single_value_exact);
    tcase_add_test(tc, test_uniform_percentiles);
    tcase_add_test(tc, test_tail);
    tcase_add_test(tc, test_merge_equals_combined);
    tcase_add_test(tc, test_beyond_range_clamped);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
