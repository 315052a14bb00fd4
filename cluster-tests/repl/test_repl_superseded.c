/*
 * test_repl_superseded.c -- a version superseded at its origin before a
 * peer got it must not be counted as held by that peer while the peer
 * still serves an OLDER version (found by cairn-harness, clock-skew seed 1).
 *
 * The origin offers a superseded put as metadata (no bytes). A receiver
 * that skipped it while holding an older version moved its cursor past the
 * change: the origin then counted it for `durability=all` while it served
 * the older bytes -- a read-after-write violation. Now a receiver skips
 * such an offer only when it holds that version or a newer one, and
 * otherwise fetches the newer copy first.
 *
 * Node 3 holds V1 and is stopped. Node 1 takes V2 at `all` (it waits for
 * node 3), then a 32 MiB blob and V3 at `majority`, so V2 is superseded on
 * node 1 before node 3 hears of it. Node 3 restarts with every log chunk it
 * receives slowed down (repl.recv.chunk=sleep), so after V2's offer it
 * spends seconds on the 32 MiB blob before V3's offer comes. V2's `all`
 * must not be answered 201 while node 3 serves V1 (before the fix: 201 at
 * once, and node 3 served V1 for seconds).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

#define KEY "sup/k"
#define BIG (32ull << 20)

typedef struct v2put {
    const char *vp_url;
    uint64_t vp_seed;
    rt_resp_t vp_r;
} v2put_t;

static void *v2_main(void *arg)
{
    v2put_t *vp = arg;
    CURL *h = rt_handle();

    rt_put(h, vp->vp_url, KEY, "all", vp->vp_seed, 2, 200000, &vp->vp_r);
    curl_easy_cleanup(h);
    return NULL;
}

START_TEST(test_superseded_not_counted_while_older_served)
{
    static const char *const extra[] = {"--durability-timeout", "10", NULL};
    rt_t t;
    rt_resp_t r, g;
    v2put_t vp;
    pthread_t th;
    char hex1[33], hex2[33], hex3[33], hexb[33], s[1024], s2[1024];

    rt_setup(&t, "superseded", 3, extra);
    rt_start_all(&t);
    rt_hash(t.rt_seed, 1, 1500, hex1);
    rt_hash(t.rt_seed, 2, 200000, hex2);
    rt_hash(t.rt_seed, 3, 300000, hex3);
    rt_hash(t.rt_seed, 4, BIG, hexb);
    rt_put(t.rt_h, rt_url(&t, 3), KEY, "all", t.rt_seed, 1, 1500, &r);
    rt_assert_put_ok(&r, "PUT V1 on node 3 (durability=all)", hex1);

    ck_assert(cluster_term(&t.rt_cl, 3, 10000) == 0);
    memset(&vp, 0, sizeof(vp));
    vp.vp_url = rt_url(&t, 1);
    vp.vp_seed = t.rt_seed;
    ck_assert(pthread_create(&th, NULL, v2_main, &vp) == 0);
    usleep(300 * 1000); /* V2 commits on node 1 and waits for node 3 */
    rt_put(t.rt_h, rt_url(&t, 1), "sup/big", "majority", t.rt_seed, 4, BIG, &r);
    rt_assert_put_ok(&r, "PUT sup/big 32 MiB on node 1 (majority, node 3 down)", hexb);
    rt_put(t.rt_h, rt_url(&t, 1), KEY, "majority", t.rt_seed, 3, 300000, &r);
    rt_assert_put_ok(&r, "PUT V3 on node 1 (majority, node 3 down)", hex3);
    rt_start(&t, 3, "repl.recv.chunk=sleep(40)", 1);
    pthread_join(th, NULL);

    rt_get(t.rt_h, rt_url(&t, 3), KEY, &g);
    if (vp.vp_r.rr_status == 201)
        ck_assert_msg(rt_get_exact(&g, hex2, 200000) || rt_get_exact(&g, hex3, 300000),
                      "V2 was acknowledged at durability=all, yet node 3 serves: %s (V1 is %s)",
                      rt_resp_str(&g, s, sizeof(s)), hex1);
    else
        ck_assert_msg(vp.vp_r.rr_status == 503 && strstr(vp.vp_r.rr_body, "durability_timeout"),
                      "PUT V2 at all: expected 201 or 503 durability_timeout, got %s",
                      rt_resp_str(&vp.vp_r, s2, sizeof(s2)));
    ck_assert_msg(rt_wait_get(t.rt_h, rt_url(&t, 3), KEY, hex3, 300000, 60000, &g) >= 0,
                  "node 3 did not converge to V3 within 60 s: %s", rt_resp_str(&g, s, sizeof(s)));
    ck_assert_msg(rt_wait_get(t.rt_h, rt_url(&t, 3), "sup/big", hexb, BIG, 60000, &g) >= 0,
                  "node 3 did not get sup/big within 60 s: %s", rt_resp_str(&g, s, sizeof(s)));
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("repl_superseded");
    TCase *tc = tcase_create("superseded");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_superseded_not_counted_while_older_served);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
