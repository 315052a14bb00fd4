/*
 * test_repl_durability.c -- durability=all with a node down: the PUT and
 * the DELETE answer 503 {"error":"durability_timeout","acks":2,"required":3}
 * after the durability timeout, the writes stay on the live nodes and keep
 * replicating; when the node returns it converges, and durability=all
 * writes succeed again.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cluster-tests/json.h"
#include "rt.h"

#define SIZE (1u << 20)

/* Asserts r is 503 durability_timeout with acks/required as expected. */
static void assert_dur_timeout(const rt_resp_t *r, const char *what, int acks, int required)
{
    char s[1024], err[256];
    jv_t *v = NULL;

    ck_assert_msg(r->rr_status == 503, "%s: expected 503 durability_timeout, got %s", what,
                  rt_resp_str(r, s, sizeof(s)));
    ck_assert_msg(json_parse(r->rr_body, r->rr_body_len, &v, err, sizeof(err)) == 0,
                  "%s: 503 body is not JSON (%s): %s", what, err, r->rr_body);
    ck_assert_msg(
        strcmp(json_str(json_get(v, "error"), ""), "durability_timeout") == 0 &&
            json_int(json_get(v, "acks"), -1) == acks &&
            json_int(json_get(v, "required"), -1) == required,
        "%s: expected {\"error\":\"durability_timeout\",\"acks\":%d,\"required\":%d}, got %s", what,
        acks, required, r->rr_body);
    json_free(v);
}

START_TEST(test_all_with_a_node_down)
{
    rt_t t;
    rt_resp_t r;
    char hex_a0[33], hex_a1[33], hex_d[33], hex_b[33], s[1024];
    int64_t ms, t0;

    rt_setup(&t, "durall", 3, NULL);
    rt_start_all(&t);

    rt_hash(t.rt_seed, 1, SIZE, hex_a0);
    rt_put(t.rt_h, rt_url(&t, 1), "dur/a", "all", t.rt_seed, 1, SIZE, &r);
    rt_assert_put_ok(&r, "PUT dur/a on node 1 (durability=all, all nodes up)", hex_a0);
    rt_hash(t.rt_seed, 2, 100, hex_d);
    rt_put(t.rt_h, rt_url(&t, 2), "dur/d", "all", t.rt_seed, 2, 100, &r);
    rt_assert_put_ok(&r, "PUT dur/d on node 2 (durability=all, all nodes up)", hex_d);

    ck_assert(cluster_term(&t.rt_cl, 3, 15000) == 0);

    rt_hash(t.rt_seed, 3, SIZE, hex_a1);
    rt_put(t.rt_h, rt_url(&t, 1), "dur/a", "all", t.rt_seed, 3, SIZE, &r);
    rt_figure("durability_all_timeout_ms", "%lld", (long long)r.rr_ms);
    assert_dur_timeout(&r, "PUT dur/a on node 1 (durability=all, node 3 down)", 2, 3);
    ck_assert_msg(r.rr_ms < 40000, "the durability timeout took %lld ms", (long long)r.rr_ms);
    rt_delete(t.rt_h, rt_url(&t, 2), "dur/d", "all", &r);
    assert_dur_timeout(&r, "DELETE dur/d on node 2 (durability=all, node 3 down)", 2, 3);

    /* The writes stay and replicate between the live nodes. */
    for (int j = 1; j <= 2; j++) {
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), "dur/a", hex_a1, SIZE, 10000, &r);
        ck_assert_msg(ms >= 0, "node %d does not serve the timed-out write of dur/a: %s", j,
                      rt_resp_str(&r, s, sizeof(s)));
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), "dur/d", NULL, 0, 10000, &r);
        ck_assert_msg(ms >= 0, "node %d does not show the timed-out delete of dur/d: %s", j,
                      rt_resp_str(&r, s, sizeof(s)));
    }

    /* Node 3 returns and converges. */
    t0 = rt_now_ms();
    rt_start(&t, 3, NULL, 1);
    ms = rt_wait_get(t.rt_h, rt_url(&t, 3), "dur/a", hex_a1, SIZE, 20000, &r);
    ck_assert_msg(ms >= 0, "node 3, back, does not serve the new dur/a within 20 s: %s",
                  rt_resp_str(&r, s, sizeof(s)));
    ms = rt_wait_get(t.rt_h, rt_url(&t, 3), "dur/d", NULL, 0, 20000, &r);
    ck_assert_msg(ms >= 0, "node 3, back, still serves the deleted dur/d: %s",
                  rt_resp_str(&r, s, sizeof(s)));
    rt_figure("durability_returning_node_converged_ms", "%lld", (long long)(rt_now_ms() - t0));

    rt_wait_links(&t, 0, 20000);
    rt_hash(t.rt_seed, 4, SIZE, hex_b);
    rt_put(t.rt_h, rt_url(&t, 3), "dur/b", "all", t.rt_seed, 4, SIZE, &r);
    rt_assert_put_ok(&r, "PUT dur/b on node 3 (durability=all, all nodes back)", hex_b);
    for (int j = 1; j <= 3; j++) {
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), "dur/b", hex_b, SIZE, 1000, &r);
        ck_assert_msg(ms >= 0, "dur/b acked at durability=all but node %d does not serve it: %s", j,
                      rt_resp_str(&r, s, sizeof(s)));
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    }
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_durability");
    TCase *tc = tcase_create("durability");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 140);
    tcase_add_test(tc, test_all_with_a_node_down);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
