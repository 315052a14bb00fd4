/*
 * test_repl_large.c -- a 256 MiB blob written on one node is read, exactly
 * (Content-Length, bytes received, XXH3-128), from every node; an
 * overwrite on another node and a delete on the third reach every node,
 * and no node keeps the 256 MiB file afterwards. Nothing of the blob is
 * ever held in memory: the upload is generated and the downloads hashed as
 * they stream.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/blobscan.h"
#include "rt.h"

#define NNODES 3
#define BIG (256ull << 20)

/* 1 when node's blob directory holds no file of content size `size`. */
static int no_file_of_size(rt_t *t, int node, uint64_t size)
{
    hscan_t sc;
    blobfile_info_t *whole = NULL;
    size_t nwhole = 0;
    int none = 1;

    ck_assert(blobscan_dir(t->rt_cl.cl_nodes[node].hn_data, &sc, &whole, &nwhole) == 0);
    for (size_t k = 0; k < nwhole; k++) {
        if (whole[k].bi_size == size)
            none = 0;
    }
    none = none && sc.hs_nleft == 0;
    free(whole);
    free(sc.hs_ids);
    free(sc.hs_left_ids);
    free(sc.hs_orphan_ids);
    return none;
}

START_TEST(test_256mib_everywhere)
{
    const char *key = "large/blob";
    rt_t t;
    rt_resp_t r;
    char hex[33], small[33], s[1024];
    int64_t t0, ms;

    /* A replica acknowledges only once the whole blob arrived after the
     * origin's commit: give the majority PUT of 256 MiB time for that even
     * on a slow (sanitizer) build. */
    static const char *const extra[] = {"--durability-timeout", "60", NULL};

    rt_setup(&t, "large", NNODES, extra);
    rt_start_all(&t);
    rt_hash(t.rt_seed, 1, BIG, hex);

    rt_put(t.rt_h, rt_url(&t, 2), key, "majority", t.rt_seed, 1, BIG, &r);
    rt_assert_put_ok(&r, "PUT 256 MiB on node 2 (durability=majority)", hex);
    rt_figure("large_put_256mib_ms", "%lld", (long long)r.rr_ms);
    rt_figure("large_put_MBps", "%.1f", (double)BIG / 1048576.0 / ((double)r.rr_ms / 1000.0));

    /* Every node: exact bytes. The first read on a node that is still
     * receiving follows the bytes as they arrive (or answers 503). */
    t0 = rt_now_ms();
    for (int j = 1; j <= NNODES; j++) {
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), key, hex, BIG, 60000, &r);
        ck_assert_msg(ms >= 0,
                      "GET %s (256 MiB) on node %d: expected 200 with %s and Content-Length "
                      "%llu within 60 s, last %s",
                      key, j, hex, (unsigned long long)BIG, rt_resp_str(&r, s, sizeof(s)));
        rt_figure(j == 1   ? "large_get_node1_ms"
                  : j == 2 ? "large_get_node2_ms"
                           : "large_get_node3_ms",
                  "%lld", (long long)r.rr_ms);
    }
    rt_figure("large_all_nodes_read_ms", "%lld", (long long)(rt_now_ms() - t0));

    /* Overwrite with 1 byte on node 3, then delete on node 1. */
    rt_hash(t.rt_seed, 2, 1, small);
    rt_put(t.rt_h, rt_url(&t, 3), key, "majority", t.rt_seed, 2, 1, &r);
    rt_assert_put_ok(&r, "overwrite PUT 1 B on node 3", small);
    for (int j = 1; j <= NNODES; j++) {
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), key, small, 1, 20000, &r);
        ck_assert_msg(ms >= 0,
                      "GET %s on node %d after the overwrite: expected the 1-byte blob, last %s",
                      key, j, rt_resp_str(&r, s, sizeof(s)));
    }
    rt_delete(t.rt_h, rt_url(&t, 1), key, "majority", &r);
    ck_assert_msg(r.rr_status == 204, "DELETE %s on node 1: expected 204, got %s", key,
                  rt_resp_str(&r, s, sizeof(s)));
    for (int j = 1; j <= NNODES; j++) {
        ms = rt_wait_get(t.rt_h, rt_url(&t, j), key, NULL, 0, 20000, &r);
        ck_assert_msg(ms >= 0, "GET %s on node %d after the delete: expected 404, last %s", key, j,
                      rt_resp_str(&r, s, sizeof(s)));
    }

    /* The 256 MiB file is collected on every node (bounded). */
    for (int j = 1; j <= NNODES; j++) {
        int64_t deadline = rt_now_ms() + 15000;
        while (!no_file_of_size(&t, j, BIG) && rt_now_ms() < deadline)
            rt_sleep_ms(100);
        ck_assert_msg(no_file_of_size(&t, j, BIG),
                      "node %d still holds a 256 MiB blob file (or a leftover) 15 s after the "
                      "blob was overwritten and deleted (%s)",
                      j, t.rt_cl.cl_nodes[j].hn_data);
    }
    for (int j = 1; j <= NNODES; j++)
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_large");
    TCase *tc = tcase_create("large");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 190);
    tcase_add_test(tc, test_256mib_everywhere);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
