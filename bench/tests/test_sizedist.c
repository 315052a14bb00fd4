/* test_sizedist.c -- --size specs: parsing, limits and sampling. */
#include "bench/sizedist.h"
#include "common/error.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_fixed)
{
    sizedist_t d;
    bench_rng_t r;
    int i;

    ck_assert_int_eq(sizedist_parse("64K", &d), 0);
    ck_assert_uint_eq(d.sd_n, 1);
    ck_assert_uint_eq(d.sd_e[0].se_min, 65536);
    ck_assert_uint_eq(d.sd_e[0].se_max, 65536);
    ck_assert(sizedist_is_fixed(&d));
    ck_assert_uint_eq(sizedist_max(&d), 65536);
    ck_assert(sizedist_mean(&d) == 65536.0);
    bench_rng_seed(&r, 1);
    for (i = 0; i < 100; i++)
        ck_assert_uint_eq(sizedist_sample(&d, &r), 65536);
    ck_assert_int_eq(sizedist_parse("0", &d), 0);
    ck_assert_uint_eq(sizedist_max(&d), 0);
    ck_assert_int_eq(sizedist_parse("2G", &d), 0);
    ck_assert_uint_eq(d.sd_e[0].se_min, 2ULL << 30);
    ck_assert_int_eq(sizedist_parse("1T", &d), 0);
    ck_assert_int_eq(sizedist_parse("4096", &d), 0);
    ck_assert_uint_eq(d.sd_e[0].se_min, 4096);
}
END_TEST

START_TEST(test_range)
{
    sizedist_t d;
    bench_rng_t r;
    uint64_t v, lo = UINT64_MAX, hi = 0;
    int i;

    ck_assert_int_eq(sizedist_parse("1K-4K", &d), 0);
    ck_assert_uint_eq(d.sd_e[0].se_min, 1024);
    ck_assert_uint_eq(d.sd_e[0].se_max, 4096);
    ck_assert(!sizedist_is_fixed(&d));
    ck_assert(sizedist_mean(&d) == 2560.0);
    bench_rng_seed(&r, 7);
    for (i = 0; i < 100000; i++) {
        v = sizedist_sample(&d, &r);
        ck_assert_uint_ge(v, 1024);
        ck_assert_uint_le(v, 4096);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* both ends are reachable */
    ck_assert_uint_eq(lo, 1024);
    ck_assert_uint_eq(hi, 4096);
    ck_assert_int_eq(sizedist_parse("5-5", &d), 0);
    ck_assert(sizedist_is_fixed(&d));
}
END_TEST

START_TEST(test_weighted)
{
    sizedist_t d;
    bench_rng_t r;
    unsigned small = 0, big = 0, mid = 0, i;
    uint64_t v;

    ck_assert_int_eq(sizedist_parse("4K:90,1M:10", &d), 0);
    ck_assert_uint_eq(d.sd_n, 2);
    ck_assert_uint_eq(d.sd_total_weight, 100);
    ck_assert_uint_eq(sizedist_max(&d), 1 << 20);
    ck_assert(sizedist_mean(&d) == 0.9 * 4096 + 0.1 * 1048576);
    bench_rng_seed(&r, 3);
    for (i = 0; i < 100000; i++) {
        v = sizedist_sample(&d, &r);
        ck_assert(v == 4096 || v == 1048576);
        if (v == 4096)
            small++;
        else
            big++;
    }
    ck_assert_uint_gt(small, 89000);
    ck_assert_uint_lt(small, 91000);
    ck_assert_uint_eq(small + big, 100000);
    ck_assert_int_eq(sizedist_parse("1K-2K:1,8K,1M-2M:2", &d), 0);
    ck_assert_uint_eq(d.sd_n, 3);
    ck_assert_uint_eq(d.sd_total_weight, 4);
    small = big = 0;
    for (i = 0; i < 40000; i++) {
        v = sizedist_sample(&d, &r);
        if (v >= 1024 && v <= 2048)
            small++;
        else if (v == 8192)
            mid++;
        else if (v >= (1 << 20) && v <= (2 << 20))
            big++;
        else
            ck_abort_msg("size %llu outside every entry", (unsigned long long)v);
    }
    ck_assert_uint_gt(big, 19000);
    ck_assert_uint_gt(small, 9000);
    ck_assert_uint_gt(mid, 9000);
}
END_TEST

START_TEST(test_invalid)
{
    static const char *const bad[] = {
        "",         "x",
        "4Q",       "-4K",
        "4K-",      "4K-2K",
        "1K-2K-3K", "4K:",
        "4K:0",     "4K:-1",
        "4K:+3",    "4K:1000001",
        "4K:1x",    ",4K",
        "4K,",      "4K,,8K",
        " 4K",      "4K ",
        "2T",       "1K--2K",
        "4K:90:1",  "99999999999999999999",
    };
    sizedist_t d, orig;
    char big[SIZEDIST_MAX_SPEC + 10], many[512];
    unsigned i;

    ck_assert_int_eq(sizedist_parse("77", &orig), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d = orig;
        ck_assert_msg(sizedist_parse(bad[i], &d) == CAIRN_EINVAL, "accepted '%s'", bad[i]);
        ck_assert_msg(memcmp(&d, &orig, sizeof(d)) == 0, "'%s' changed the output", bad[i]);
    }
    ck_assert_int_eq(sizedist_parse(NULL, &d), CAIRN_EINVAL);
    memset(big, '1', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(sizedist_parse(big, &d), CAIRN_EINVAL);
    /* 16 entries are fine, 17 are not */
    many[0] = '\0';
    for (i = 0; i < 16; i++)
        strcat(many, i ? ",1K" : "1K");
    ck_assert_int_eq(sizedist_parse(many, &d), 0);
    ck_assert_uint_eq(d.sd_n, 16);
    strcat(many, ",1K");
    ck_assert_int_eq(sizedist_parse(many, &d), CAIRN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sizedist");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_fixed);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_weighted);
    tcase_add_test(tc, test_invalid);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
