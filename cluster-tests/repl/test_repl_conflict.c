/*
 * test_repl_conflict.c -- concurrent writes of one key on different nodes
 * converge to one winner everywhere: the write with the highest version
 * (HLC, then origin id) among those acknowledged, with the same ETag,
 * version and bytes on every node. Some rounds race a DELETE against the
 * PUTs: then every node must agree too (all the same version, or all 404).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cluster-tests/history.h"
#include "rt.h"

#define NNODES 3
#define ROUNDS 16

typedef struct wres {
    int wr_delete;
    uint64_t wr_size;
    char wr_hex[33];
    rt_resp_t wr_r;
} wres_t;

typedef struct writer {
    rt_t *w_t;
    int w_node;
    pthread_barrier_t *w_bar;
    wres_t w_res[ROUNDS];
} writer_t;

static int is_delete_round(int round, int node)
{
    return round % 4 == 3 && node == NNODES;
}

static uint64_t round_size(int round, int node)
{
    /* Mostly small (inline); every third round a few hundred KiB (files). */
    return round % 3 == 2 ? 200000u + (uint64_t)node * 4099u : 500u + (uint64_t)node * 37u;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    CURL *h = rt_handle();

    for (int round = 0; round < ROUNDS; round++) {
        wres_t *res = &w->w_res[round];
        char key[64];
        uint64_t id = (uint64_t)(round * 10 + w->w_node);

        snprintf(key, sizeof(key), "conflict/%02d", round);
        res->wr_delete = is_delete_round(round, w->w_node);
        res->wr_size = round_size(round, w->w_node);
        if (!res->wr_delete)
            rt_hash(w->w_t->rt_seed, id, res->wr_size, res->wr_hex);
        pthread_barrier_wait(w->w_bar);
        if (res->wr_delete)
            rt_delete(h, rt_url(w->w_t, w->w_node), key, "local", &res->wr_r);
        else
            rt_put(h, rt_url(w->w_t, w->w_node), key, "local", w->w_t->rt_seed, id, res->wr_size,
                   &res->wr_r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* What one node serves for a key. */
typedef struct seen {
    int sn_status;
    char sn_etag[64];
    char sn_version[64];
    char sn_hash[33];
    int sn_exact; /* 200 complete, Content-Length matched, hash == ETag */
} seen_t;

static void look(CURL *h, const char *base, const char *key, seen_t *sn)
{
    rt_resp_t r;

    rt_get(h, base, key, &r);
    memset(sn, 0, sizeof(*sn));
    sn->sn_status = r.rr_status;
    snprintf(sn->sn_etag, sizeof(sn->sn_etag), "%s", r.rr_etag);
    snprintf(sn->sn_version, sizeof(sn->sn_version), "%s", r.rr_version);
    snprintf(sn->sn_hash, sizeof(sn->sn_hash), "%s", r.rr_hash);
    sn->sn_exact = r.rr_status == 200 && r.rr_curl == 0 && r.rr_clen == (int64_t)r.rr_bytes &&
                   strcmp(r.rr_hash, r.rr_etag) == 0;
}

static int agree(const seen_t *a, const seen_t *b)
{
    if (a->sn_status != b->sn_status)
        return 0;
    if (a->sn_status == 404)
        return 1;
    return a->sn_status == 200 && a->sn_exact && b->sn_exact &&
           strcmp(a->sn_etag, b->sn_etag) == 0 && strcmp(a->sn_version, b->sn_version) == 0;
}

START_TEST(test_concurrent_writes_converge)
{
    rt_t t;
    writer_t w[NNODES + 1];
    pthread_t th[NNODES + 1];
    pthread_barrier_t bar;
    int64_t t0, deadline;
    int lww_checked = 0;

    rt_setup(&t, "conflict", NNODES, NULL);
    rt_start_all(&t);
    /* Every key exists everywhere first, so each round overwrites (and a
     * racing DELETE always has something to delete). */
    for (int round = 0; round < ROUNDS; round++) {
        char key[64], hex[33], what[96];
        rt_resp_t r;

        snprintf(key, sizeof(key), "conflict/%02d", round);
        rt_hash(t.rt_seed, 9000 + (uint64_t)round, 10, hex);
        rt_put(t.rt_h, rt_url(&t, 1 + round % NNODES), key, "all", t.rt_seed,
               9000 + (uint64_t)round, 10, &r);
        snprintf(what, sizeof(what), "initial PUT %.60s (durability=all)", key);
        rt_assert_put_ok(&r, what, hex);
    }
    ck_assert(pthread_barrier_init(&bar, NULL, NNODES) == 0);
    memset(w, 0, sizeof(w));
    for (int i = 1; i <= NNODES; i++) {
        w[i].w_t = &t;
        w[i].w_node = i;
        w[i].w_bar = &bar;
        ck_assert(pthread_create(&th[i], NULL, writer_main, &w[i]) == 0);
    }
    for (int i = 1; i <= NNODES; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    t0 = rt_now_ms();

    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 1; i <= NNODES; i++) {
            wres_t *res = &w[i].w_res[round];
            char s[1024];
            ck_assert_msg(res->wr_delete ? res->wr_r.rr_status == 204 : res->wr_r.rr_status == 201,
                          "round %d: %s on node %d (durability=local): got %s", round,
                          res->wr_delete ? "DELETE" : "PUT", i,
                          rt_resp_str(&res->wr_r, s, sizeof(s)));
        }
    }

    /* Quiescence: every node serves the same thing for every key. */
    deadline = rt_now_ms() + 20000;
    for (int round = 0; round < ROUNDS; round++) {
        char key[64];
        seen_t sn[NNODES + 1];
        int ok = 0;

        snprintf(key, sizeof(key), "conflict/%02d", round);
        while (!ok) {
            for (int j = 1; j <= NNODES; j++)
                look(t.rt_h, rt_url(&t, j), key, &sn[j]);
            ok = (sn[1].sn_status == 404 || sn[1].sn_exact) && agree(&sn[1], &sn[2]) &&
                 agree(&sn[1], &sn[3]);
            if (!ok) {
                ck_assert_msg(rt_now_ms() < deadline,
                              "%s did not converge within 20 s: node1 %d %s %s, node2 %d %s %s, "
                              "node3 %d %s %s",
                              key, sn[1].sn_status, sn[1].sn_etag, sn[1].sn_version,
                              sn[2].sn_status, sn[2].sn_etag, sn[2].sn_version, sn[3].sn_status,
                              sn[3].sn_etag, sn[3].sn_version);
                rt_sleep_ms(50);
            }
        }

        /* Rounds of PUTs only: the winner is the highest acknowledged version. */
        int has_delete = 0;
        int best = 0;
        hver_t bestv, v;

        memset(&bestv, 0, sizeof(bestv));
        for (int i = 1; i <= NNODES; i++) {
            wres_t *res = &w[i].w_res[round];
            if (res->wr_delete) {
                has_delete = 1;
                continue;
            }
            ck_assert_msg(hver_parse(res->wr_r.rr_version, &v) == 0,
                          "round %d: PUT on node %d returned no valid X-Cairn-Version (\"%s\")",
                          round, i, res->wr_r.rr_version);
            ck_assert_msg(strcmp(res->wr_r.rr_etag, res->wr_hex) == 0,
                          "round %d: PUT on node %d returned ETag %s for content %s", round, i,
                          res->wr_r.rr_etag, res->wr_hex);
            if (best == 0 || hver_cmp(&v, &bestv) > 0) {
                bestv = v;
                best = i;
            }
        }
        if (has_delete)
            continue;
        lww_checked++;
        ck_assert_msg(sn[1].sn_status == 200 &&
                          strcmp(sn[1].sn_version, w[best].w_res[round].wr_r.rr_version) == 0 &&
                          strcmp(sn[1].sn_etag, w[best].w_res[round].wr_hex) == 0,
                      "%s: every node converged to version %s ETag %s (status %d), but the highest "
                      "acknowledged version is %s (node %d, ETag %s); the writes were %s / %s / %s",
                      key, sn[1].sn_version, sn[1].sn_etag, sn[1].sn_status,
                      w[best].w_res[round].wr_r.rr_version, best, w[best].w_res[round].wr_hex,
                      w[1].w_res[round].wr_r.rr_version, w[2].w_res[round].wr_r.rr_version,
                      w[3].w_res[round].wr_r.rr_version);
    }
    rt_figure("conflict_converge_ms", "%lld", (long long)(rt_now_ms() - t0));
    rt_figure("conflict_rounds_lww_checked", "%d", lww_checked);
    for (int j = 1; j <= NNODES; j++)
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_conflict");
    TCase *tc = tcase_create("conflict");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_concurrent_writes_converge);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
