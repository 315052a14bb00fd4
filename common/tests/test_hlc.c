/* test_hlc.c -- hybrid logical clock. */
#include "common/hlc.h"

#include <check.h>
#include <stdlib.h>

static uint64_t fake_ms;

static uint64_t fake_wall(void)
{
    return fake_ms;
}

static void init_fake(hlc_t *c, uint64_t floor, uint64_t start_ms)
{
    hlc_init(c, floor);
    fake_ms = start_ms;
    c->hc_wall_ms = fake_wall;
}

START_TEST(test_follows_wall_clock)
{
    hlc_t c;
    uint64_t v;

    init_fake(&c, 0, 1000);
    v = hlc_now(&c);
    ck_assert_uint_eq(v, HLC_MAKE(1000, 0));
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(1000, 1));
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(1000, 2));
    fake_ms = 1005;
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(1005, 0));
    ck_assert_uint_eq(hlc_last(&c), HLC_MAKE(1005, 0));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_monotonic_when_wall_steps_back)
{
    hlc_t c;
    uint64_t prev, v;
    int i;

    init_fake(&c, 0, 50000);
    prev = hlc_now(&c);
    fake_ms = 10000; /* 40 s backwards */
    for (i = 0; i < 1000; i++) {
        v = hlc_now(&c);
        ck_assert_uint_gt(v, prev);
        ck_assert_uint_eq(HLC_PHYS(v), 50000);
        prev = v;
    }
    fake_ms = 50001;
    v = hlc_now(&c);
    ck_assert_uint_eq(v, HLC_MAKE(50001, 0));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_logical_overflow_carries)
{
    hlc_t c;
    uint64_t v;

    init_fake(&c, 0, 7);
    hlc_observe(&c, HLC_MAKE(7, 0xffff));
    v = hlc_now(&c);
    ck_assert_uint_eq(v, HLC_MAKE(8, 0));
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(8, 1));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_observe)
{
    hlc_t c;
    uint64_t remote = HLC_MAKE(90000, 17);

    init_fake(&c, 0, 1000);
    hlc_now(&c);
    hlc_observe(&c, remote);
    ck_assert_uint_eq(hlc_last(&c), remote);
    ck_assert_uint_eq(hlc_now(&c), remote + 1);
    /* An older remote value changes nothing. */
    hlc_observe(&c, HLC_MAKE(5, 0));
    ck_assert_uint_eq(hlc_last(&c), remote + 1);
    /* Once the wall clock passes the remote, it takes over again. */
    fake_ms = 90001;
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(90001, 0));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_offset)
{
    hlc_t c;

    init_fake(&c, 0, 100000);
    hlc_set_offset_ms(&c, 5000);
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(105000, 0));
    /* A negative offset must not move the clock backwards. */
    hlc_set_offset_ms(&c, -20000);
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(105000, 1));
    fake_ms = 130000;
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(110000, 0));
    /* Offsets below the epoch clamp to 0 rather than wrapping. */
    hlc_set_offset_ms(&c, INT64_MIN);
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(110000, 1));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_floor)
{
    hlc_t c;
    uint64_t floor = HLC_MAKE(200000, 3);

    init_fake(&c, floor, 1000);
    ck_assert_uint_eq(hlc_last(&c), floor);
    ck_assert_uint_gt(hlc_now(&c), floor);
    hlc_destroy(&c);

    init_fake(&c, floor, 300000);
    ck_assert_uint_eq(hlc_now(&c), HLC_MAKE(300000, 0));
    hlc_destroy(&c);
}
END_TEST

START_TEST(test_real_wall_clock)
{
    hlc_t c;
    uint64_t w = hlc_wall_ms(), v;

    /* Sanity: after 2020-01-01 and within the 48-bit range. */
    ck_assert_uint_gt(w, 1577836800000ULL);
    ck_assert_uint_lt(w, (uint64_t)1 << 48);
    hlc_init(&c, 0);
    v = hlc_now(&c);
    ck_assert_uint_ge(HLC_PHYS(v), w);
    ck_assert_uint_le(HLC_PHYS(v), hlc_wall_ms());
    hlc_destroy(&c);
}
END_TEST

#define NTHREADS 4
#define PER_THREAD 20000

static hlc_t shared;
static uint64_t results[NTHREADS][PER_THREAD];

static void *thread_main(void *arg)
{
    uint64_t *out = arg;
    int i;

    for (i = 0; i < PER_THREAD; i++)
        out[i] = hlc_now(&shared);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_threads_unique)
{
    pthread_t t[NTHREADS];
    uint64_t *all;
    int i, j;

    hlc_init(&shared, 0);
    for (i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main, results[i]), 0);
    for (i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < NTHREADS; i++) {
        for (j = 1; j < PER_THREAD; j++)
            ck_assert_uint_gt(results[i][j], results[i][j - 1]);
    }
    all = (uint64_t *)results;
    qsort(all, NTHREADS * PER_THREAD, sizeof(uint64_t), cmp_u64);
    for (i = 1; i < NTHREADS * PER_THREAD; i++)
        ck_assert_uint_ne(all[i], all[i - 1]);
    hlc_destroy(&shared);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hlc");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_follows_wall_clock);
    tcase_add_test(tc, test_monotonic_when_wall_steps_back);
    tcase_add_test(tc, test_logical_overflow_carries);
    tcase_add_test(tc, test_observe);
    tcase_add_test(tc, test_offset);
    tcase_add_test(tc, test_floor);
    tcase_add_test(tc, test_real_wall_clock);
    tcase_add_test(tc, test_threads_unique);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
