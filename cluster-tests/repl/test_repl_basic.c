/*
 * test_repl_basic.c -- three real nodes: a blob written on any node is read,
 * byte for byte and at the same version, from every node; an overwrite on
 * another node and a delete on a third reach every node too. Sizes 0 B,
 * 1 B, 4 KiB (inline in LMDB by default) and 1 MiB (a blob file).
 * The 256 MiB case is test_repl_large.c.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

#define NSIZES 4
#define NNODES 3

static const uint64_t sizes[NSIZES] = {0, 1, 4096, 1u << 20};

typedef struct bkey {
    char bk_key[64];
    uint64_t bk_size;
    char bk_hex[33];
    char bk_version[64];
    int bk_node; /* node the current version was written on */
} bkey_t;

/* Waits until every node serves exactly k's current content at the version
 * its PUT returned (or 404 when hex is NULL). Returns the slowest wait. */
static int64_t wait_everywhere(rt_t *t, const bkey_t *k, int deleted, const char *phase)
{
    int64_t slowest = 0;

    for (int j = 1; j <= NNODES; j++) {
        rt_resp_t last;
        char s[1024];
        int64_t ms = rt_wait_get(t->rt_h, rt_url(t, j), k->bk_key, deleted ? NULL : k->bk_hex,
                                 k->bk_size, 15000, &last);

        ck_assert_msg(ms >= 0,
                      "%s: GET %s on node %d (written on node %d): expected %s within 15 s, "
                      "last response %s",
                      phase, k->bk_key, j, k->bk_node,
                      deleted ? "404" : "200 with the written bytes",
                      rt_resp_str(&last, s, sizeof(s)));
        if (!deleted)
            ck_assert_msg(
                strcmp(last.rr_version, k->bk_version) == 0 && strcmp(last.rr_etag, k->bk_hex) == 0,
                "%s: GET %s on node %d: expected version %s ETag %s, got version %s ETag %s", phase,
                k->bk_key, j, k->bk_version, k->bk_hex, last.rr_version, last.rr_etag);
        if (ms > slowest)
            slowest = ms;
    }
    return slowest;
}

START_TEST(test_write_overwrite_delete_everywhere)
{
    rt_t t;
    bkey_t keys[NSIZES * NNODES];
    int64_t slowest = 0;
    int nk = 0;

    rt_setup(&t, "basic", NNODES, NULL);
    rt_start_all(&t);

    /* Write on each node. */
    for (int si = 0; si < NSIZES; si++) {
        for (int i = 1; i <= NNODES; i++) {
            bkey_t *k = &keys[nk++];
            uint64_t id = (uint64_t)(100 * si + i);
            rt_resp_t r;
            char what[160];

            snprintf(k->bk_key, sizeof(k->bk_key), "basic/s%llu/n%d", (unsigned long long)sizes[si],
                     i);
            k->bk_size = sizes[si];
            k->bk_node = i;
            rt_hash(t.rt_seed, id, k->bk_size, k->bk_hex);
            rt_put(t.rt_h, rt_url(&t, i), k->bk_key, "majority", t.rt_seed, id, k->bk_size, &r);
            snprintf(what, sizeof(what), "PUT %.63s (%llu B) on node %d", k->bk_key,
                     (unsigned long long)k->bk_size, i);
            rt_assert_put_ok(&r, what, k->bk_hex);
            snprintf(k->bk_version, sizeof(k->bk_version), "%s", r.rr_version);
        }
    }
    for (int k = 0; k < nk; k++) {
        int64_t ms = wait_everywhere(&t, &keys[k], 0, "after write");
        if (ms > slowest)
            slowest = ms;
    }
    rt_figure("basic_write_visible_everywhere_max_ms", "%lld", (long long)slowest);

    /* Overwrite each key on the next node, with another size. */
    for (int k = 0; k < nk; k++) {
        bkey_t *b = &keys[k];
        int node = b->bk_node % NNODES + 1;
        uint64_t id = 10000 + (uint64_t)k;
        rt_resp_t r;
        char what[160];

        b->bk_size = sizes[(k / NNODES + 1) % NSIZES];
        b->bk_node = node;
        rt_hash(t.rt_seed, id, b->bk_size, b->bk_hex);
        rt_put(t.rt_h, rt_url(&t, node), b->bk_key, "majority", t.rt_seed, id, b->bk_size, &r);
        snprintf(what, sizeof(what), "overwrite PUT %.63s (%llu B) on node %d", b->bk_key,
                 (unsigned long long)b->bk_size, node);
        rt_assert_put_ok(&r, what, b->bk_hex);
        snprintf(b->bk_version, sizeof(b->bk_version), "%s", r.rr_version);
    }
    for (int k = 0; k < nk; k++)
        wait_everywhere(&t, &keys[k], 0, "after overwrite");

    /* Delete each key on the third node. */
    for (int k = 0; k < nk; k++) {
        bkey_t *b = &keys[k];
        int node = b->bk_node % NNODES + 1;
        rt_resp_t r;
        char s[1024];

        rt_delete(t.rt_h, rt_url(&t, node), b->bk_key, "majority", &r);
        ck_assert_msg(r.rr_status == 204, "DELETE %s on node %d: expected 204, got %s", b->bk_key,
                      node, rt_resp_str(&r, s, sizeof(s)));
        b->bk_node = node;
    }
    for (int k = 0; k < nk; k++)
        wait_everywhere(&t, &keys[k], 1, "after delete");

    /* Every node still healthy. */
    for (int i = 1; i <= NNODES; i++)
        ck_assert_msg(rt_alive(&t, i), "node %d exited", i);
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_basic");
    TCase *tc = tcase_create("basic");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 140);
    tcase_add_test(tc, test_write_overwrite_delete_everywhere);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
