/*
 * test_repl_origin_dies.c -- a change reaches every live node even when its
 * origin dies right after one peer got it (changes are relayed).
 *
 * Node 3 is SIGSTOPped; node 1 takes writes with durability=majority (node 2
 * acks each: an 8 MiB blob, a small one, a delete of an older key); node 1
 * is SIGKILLed; node 3 is SIGCONTed and must get all of it from node 2.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

#define BIG (8ull << 20)

START_TEST(test_origin_dies_after_one_peer)
{
    rt_t t;
    rt_resp_t r;
    char hex_old[33], hex_big[33], hex_small[33], s[1024];
    int64_t t0, ms, slowest = 0;

    rt_setup(&t, "origin", 3, NULL);
    rt_start_all(&t);

    /* A key every node has, to be deleted while node 3 is stopped. */
    rt_hash(t.rt_seed, 1, 1000, hex_old);
    rt_put(t.rt_h, rt_url(&t, 1), "origin/old", "all", t.rt_seed, 1, 1000, &r);
    rt_assert_put_ok(&r, "PUT origin/old on node 1 (durability=all)", hex_old);

    ck_assert(cluster_pause(&t.rt_cl, 3) == 0);
    rt_hash(t.rt_seed, 2, BIG, hex_big);
    rt_put(t.rt_h, rt_url(&t, 1), "origin/big", "majority", t.rt_seed, 2, BIG, &r);
    rt_assert_put_ok(&r, "PUT origin/big 8 MiB on node 1 with node 3 stopped (majority)", hex_big);
    rt_hash(t.rt_seed, 3, 3000, hex_small);
    rt_put(t.rt_h, rt_url(&t, 1), "origin/small", "majority", t.rt_seed, 3, 3000, &r);
    rt_assert_put_ok(&r, "PUT origin/small on node 1 with node 3 stopped (majority)", hex_small);
    rt_delete(t.rt_h, rt_url(&t, 1), "origin/old", "majority", &r);
    ck_assert_msg(r.rr_status == 204,
                  "DELETE origin/old on node 1 (majority): expected 204, got %s",
                  rt_resp_str(&r, s, sizeof(s)));

    /* Node 2 acknowledged all of it: it must serve it now. */
    ms = rt_wait_get(t.rt_h, rt_url(&t, 2), "origin/big", hex_big, BIG, 3000, &r);
    ck_assert_msg(ms >= 0, "node 2 acked origin/big but does not serve it: %s",
                  rt_resp_str(&r, s, sizeof(s)));

    ck_assert(cluster_kill(&t.rt_cl, 1) == 0);
    t0 = rt_now_ms();
    ck_assert(cluster_resume(&t.rt_cl, 3) == 0);

    ms = rt_wait_get(t.rt_h, rt_url(&t, 3), "origin/big", hex_big, BIG, 30000, &r);
    ck_assert_msg(ms >= 0,
                  "node 3 (resumed after node 1 died) did not get origin/big from node 2 within "
                  "30 s: last GET %s",
                  rt_resp_str(&r, s, sizeof(s)));
    slowest = rt_now_ms() - t0;
    ms = rt_wait_get(t.rt_h, rt_url(&t, 3), "origin/small", hex_small, 3000, 10000, &r);
    ck_assert_msg(ms >= 0, "node 3 did not get origin/small from node 2: last GET %s",
                  rt_resp_str(&r, s, sizeof(s)));
    ms = rt_wait_get(t.rt_h, rt_url(&t, 3), "origin/old", NULL, 0, 10000, &r);
    ck_assert_msg(ms >= 0, "node 3 did not get the delete of origin/old from node 2: last GET %s",
                  rt_resp_str(&r, s, sizeof(s)));
    rt_figure("origin_dies_relay_ms", "%lld", (long long)(rt_now_ms() - t0));
    rt_figure("origin_dies_big_on_node3_ms", "%lld", (long long)slowest);

    ck_assert_msg(rt_alive(&t, 2) && rt_alive(&t, 3), "node 2 or 3 exited");
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_origin_dies");
    TCase *tc = tcase_create("origin_dies");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_origin_dies_after_one_peer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
