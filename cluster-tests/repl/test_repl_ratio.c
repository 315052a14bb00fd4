/*
 * test_repl_ratio.c -- a blob is not transferred twice to a node in steady
 * state: 50 blobs of 1 MiB written through random nodes of three; after
 * convergence each node's replicated blob bytes received (/metrics) are at
 * most 1.05 times the bytes written on the other nodes (and at least all
 * of them: every node stores every blob).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/hutil.h"
#include "rt.h"

#define NNODES 3
#define NBLOBS 50
#define SIZE (1u << 20)

typedef struct rkey {
    char rk_key[32];
    char rk_hex[33];
    int rk_node;
} rkey_t;

typedef struct rlist {
    rkey_t *rl_keys;
    int rl_matched;
} rlist_t;

static void on_item(void *arg, const char *key, const char *etag)
{
    rlist_t *rl = arg;
    int i;

    if (strncmp(key, "ratio/", 6) != 0)
        return;
    i = atoi(key + 6);
    if (i >= 0 && i < NBLOBS && strcmp(rl->rl_keys[i].rk_key, key) == 0 &&
        strcmp(rl->rl_keys[i].rk_hex, etag) == 0)
        rl->rl_matched++;
}

START_TEST(test_bytes_received_ratio)
{
    static const char *const subs_repl[] = {"repl", "blob", "bytes", "received", NULL};
    static const char *const subs_any[] = {"blob", "bytes", "received", NULL};
    rt_t t;
    rkey_t keys[NBLOBS];
    uint64_t written[NNODES + 1] = {0};
    hu_rng_t rng;
    int64_t deadline;
    double worst = 0;

    rt_setup(&t, "ratio", NNODES, NULL);
    rt_start_all(&t);
    hu_rng_seed(&rng, t.rt_seed);
    for (int i = 0; i < NBLOBS; i++) {
        rkey_t *k = &keys[i];
        rt_resp_t r;
        char what[96];

        snprintf(k->rk_key, sizeof(k->rk_key), "ratio/%02d", i);
        k->rk_node = 1 + (int)hu_rng_below(&rng, NNODES);
        rt_hash(t.rt_seed, (uint64_t)i, SIZE, k->rk_hex);
        rt_put(t.rt_h, rt_url(&t, k->rk_node), k->rk_key, "majority", t.rt_seed, (uint64_t)i, SIZE,
               &r);
        snprintf(what, sizeof(what), "PUT %.31s (1 MiB) on node %d", k->rk_key, k->rk_node);
        rt_assert_put_ok(&r, what, k->rk_hex);
        written[k->rk_node] += SIZE;
    }

    /* Convergence: every node lists every blob with its ETag, and pending
     * repairs and transfers have drained. */
    deadline = rt_now_ms() + 30000;
    for (int j = 1; j <= NNODES; j++) {
        for (;;) {
            rlist_t rl = {keys, 0};
            long n = rt_list(t.rt_h, rt_url(&t, j), "ratio/", on_item, &rl);

            if (n >= 0 && rl.rl_matched == NBLOBS && rt_pending(&t, t.rt_h, j) == 0)
                break;
            ck_assert_msg(rt_now_ms() < deadline,
                          "node %d lists %d of %d blobs with the right ETag after 30 s", j,
                          rl.rl_matched, NBLOBS);
            rt_sleep_ms(100);
        }
    }
    rt_sleep_ms(1500); /* let a late duplicate transfer, if any, show up */

    for (int j = 1; j <= NNODES; j++) {
        char *m = rt_metrics(t.rt_h, rt_url(&t, j));
        char name[256] = "", names[2048];
        uint64_t others = 0;
        double got, ratio;

        ck_assert_msg(m != NULL, "node %d: /metrics did not answer 200", j);
        got = rt_metric_find(m, subs_repl, name, sizeof(name));
        if (got < 0)
            got = rt_metric_find(m, subs_any, name, sizeof(name));
        if (got < 0) {
            rt_metric_names(m, "repl", names, sizeof(names));
            free(m);
            ck_assert_msg(0,
                          "node %d: /metrics has no replicated blob bytes received metric "
                          "(replication metrics: %s)",
                          j, names[0] ? names : "none");
        }
        free(m);
        for (int i = 1; i <= NNODES; i++) {
            if (i != j)
                others += written[i];
        }
        ratio = others > 0 ? got / (double)others : 0;
        printf("node %d: %s = %.0f, written on other nodes = %llu, ratio %.4f\n", j, name, got,
               (unsigned long long)others, ratio);
        {
            char fname[64];
            snprintf(fname, sizeof(fname), "ratio_bytes_received_node%d", j);
            rt_figure(fname, "%.4f", ratio);
        }
        if (ratio > worst)
            worst = ratio;
        ck_assert_msg(others == 0 || ratio <= 1.05,
                      "node %d received %.0f blob bytes (%s) for %llu bytes written elsewhere: "
                      "ratio %.4f > 1.05 (blobs sent twice?)",
                      j, got, name, (unsigned long long)others, ratio);
        ck_assert_msg(others == 0 || ratio >= 0.999,
                      "node %d received only %.0f blob bytes (%s) for %llu bytes written "
                      "elsewhere (ratio %.4f), although it serves every blob",
                      j, got, name, (unsigned long long)others, ratio);
    }
    rt_figure("ratio_bytes_received_max", "%.4f", worst);
    for (int j = 1; j <= NNODES; j++)
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_ratio");
    TCase *tc = tcase_create("ratio");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bytes_received_ratio);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
