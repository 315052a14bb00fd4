/*
 * test_repl_catchup.c -- a node restarted after missing 1,000 writes catches
 * up: all 1,000 keys readable on it with the right ETag and bytes. The
 * catch-up time and rate are printed. Afterwards every node trims its
 * replication log (a /metrics counter of trimmed log entries reaches the
 * number of changes every node has).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define NKEYS 1000
#define NWRITERS 4

typedef struct ckey {
    char ck_key[32];
    uint64_t ck_size;
    char ck_hex[33];
    int ck_seen; /* listing on the catching-up node shows the right ETag */
} ckey_t;

typedef struct cwriter {
    rt_t *cw_t;
    ckey_t *cw_keys;
    int cw_index;
    int cw_failures;
    char cw_first_failure[1200];
} cwriter_t;

static uint64_t key_size(int i)
{
    /* 16 KiB .. 128 KiB: both inline (<= 64 KiB by default) and file blobs. */
    return (16u << 10) * (uint64_t)(1 + (i * 7919) % 8);
}

/* Writes every NWRITERS-th key on nodes 1 and 2 alternately; records
 * failures (no assertions off the main thread). */
static void *cwriter_main(void *arg)
{
    cwriter_t *cw = arg;
    CURL *h = rt_handle();

    for (int i = cw->cw_index; i < NKEYS; i += NWRITERS) {
        ckey_t *k = &cw->cw_keys[i];
        int node = 1 + i % 2;
        rt_resp_t r;

        rt_put(h, rt_url(cw->cw_t, node), k->ck_key, "majority", cw->cw_t->rt_seed, (uint64_t)i,
               k->ck_size, &r);
        if (r.rr_status != 201 || strcmp(r.rr_etag, k->ck_hex) != 0) {
            char s[1024];
            cw->cw_failures++;
            if (cw->cw_failures == 1)
                snprintf(cw->cw_first_failure, sizeof(cw->cw_first_failure),
                         "PUT %s on node %d (majority, node 3 down): expected 201 ETag %s, got %s",
                         k->ck_key, node, k->ck_hex, rt_resp_str(&r, s, sizeof(s)));
        }
    }
    curl_easy_cleanup(h);
    return NULL;
}

typedef struct lstate {
    ckey_t *ls_keys;
    int ls_matched;
} lstate_t;

/* Listing callback: counts keys whose ETag is the one written. */
static void on_item(void *arg, const char *key, const char *etag)
{
    lstate_t *ls = arg;
    int i;

    if (strncmp(key, "cu/", 3) != 0)
        return;
    i = atoi(key + 3);
    if (i < 0 || i >= NKEYS || strcmp(ls->ls_keys[i].ck_key, key) != 0)
        return;
    if (strcmp(etag, ls->ls_keys[i].ck_hex) == 0)
        ls->ls_matched++;
}

/* The trimmed-entries counter of a node, or -1 when /metrics has none. */
static double trimmed(rt_t *t, int node, char *name, size_t cap)
{
    static const char *const subs[] = {"trim", NULL};
    char *m = rt_metrics(t->rt_h, rt_url(t, node));
    double v;

    if (m == NULL)
        return -1;
    v = rt_metric_find(m, subs, name, cap);
    free(m);
    return v;
}

START_TEST(test_restarted_node_catches_up)
{
    rt_t t;
    ckey_t *keys = calloc(NKEYS, sizeof(*keys));
    cwriter_t cw[NWRITERS];
    pthread_t th[NWRITERS];
    uint64_t total = 0;
    int64_t t0, deadline, catchup_ms;
    lstate_t ls;
    char s[1024], name[256] = "", names[2048];

    ck_assert(keys != NULL);
    rt_setup(&t, "catchup", 3, NULL);
    rt_start_all(&t);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i].ck_key, sizeof(keys[i].ck_key), "cu/%04d", i);
        keys[i].ck_size = key_size(i);
        rt_hash(t.rt_seed, (uint64_t)i, keys[i].ck_size, keys[i].ck_hex);
        total += keys[i].ck_size;
    }

    ck_assert(cluster_term(&t.rt_cl, 3, 15000) == 0);
    t0 = rt_now_ms();
    memset(cw, 0, sizeof(cw));
    for (int w = 0; w < NWRITERS; w++) {
        cw[w].cw_t = &t;
        cw[w].cw_keys = keys;
        cw[w].cw_index = w;
        ck_assert(pthread_create(&th[w], NULL, cwriter_main, &cw[w]) == 0);
    }
    for (int w = 0; w < NWRITERS; w++)
        pthread_join(th[w], NULL);
    for (int w = 0; w < NWRITERS; w++)
        ck_assert_msg(cw[w].cw_failures == 0, "%d PUT(s) failed; first: %s", cw[w].cw_failures,
                      cw[w].cw_first_failure);
    rt_figure("catchup_write_1000_ms", "%lld", (long long)(rt_now_ms() - t0));
    rt_figure("catchup_bytes", "%llu", (unsigned long long)total);

    /* Node 3 returns: time until its listing shows all 1,000 right ETags. */
    t0 = rt_now_ms();
    rt_start(&t, 3, NULL, 0);
    deadline = t0 + 90000;
    for (;;) {
        long n;

        memset(&ls, 0, sizeof(ls));
        ls.ls_keys = keys;
        n = rt_list(t.rt_h, rt_url(&t, 3), "cu/", on_item, &ls);
        if (n >= 0 && ls.ls_matched == NKEYS)
            break;
        ck_assert_msg(rt_now_ms() < deadline,
                      "node 3 shows %d of %d keys with the right ETag 90 s after its restart "
                      "(listing %s)",
                      ls.ls_matched, NKEYS, n < 0 ? "failed" : "ok");
        ck_assert_msg(rt_alive(&t, 3), "node 3 exited while catching up");
        rt_sleep_ms(100);
    }
    catchup_ms = rt_now_ms() - t0;
    rt_figure("catchup_1000_keys_ms", "%lld", (long long)catchup_ms);
    rt_figure("catchup_MBps", "%.1f",
              (double)total / 1048576.0 / ((double)(catchup_ms > 0 ? catchup_ms : 1) / 1000.0));

    /* Every key readable on node 3, exactly. */
    for (int i = 0; i < NKEYS; i++) {
        rt_resp_t r;

        rt_get(t.rt_h, rt_url(&t, 3), keys[i].ck_key, &r);
        ck_assert_msg(rt_get_exact(&r, keys[i].ck_hex, keys[i].ck_size) &&
                          strcmp(r.rr_etag, keys[i].ck_hex) == 0,
                      "GET %s on node 3 after catch-up: expected %llu bytes with hash and ETag "
                      "%s, got %s",
                      keys[i].ck_key, (unsigned long long)keys[i].ck_size, keys[i].ck_hex,
                      rt_resp_str(&r, s, sizeof(s)));
    }

    /* Two nodes could send each change: each must have come once. */
    {
        static const char *const subs[] = {"repl", "blob", "bytes", "received", NULL};
        char *m = rt_metrics(t.rt_h, rt_url(&t, 3));
        char rname[256] = "";
        double got, ratio;

        ck_assert_msg(m != NULL, "node 3: /metrics did not answer 200");
        got = rt_metric_find(m, subs, rname, sizeof(rname));
        free(m);
        ck_assert_msg(got >= 0, "node 3: /metrics has no replicated blob bytes received metric");
        ratio = got / (double)total;
        rt_figure("catchup_bytes_received_ratio", "%.4f", ratio);
        ck_assert_msg(ratio >= 0.999 && ratio <= 1.05,
                      "node 3 caught up on %llu blob bytes but %s = %.0f (ratio %.4f, want "
                      "1..1.05)",
                      (unsigned long long)total, rname, got, ratio);
    }

    /* The log is trimmed once every peer's cursor passed the entries. */
    deadline = rt_now_ms() + 25000;
    for (int j = 1; j <= 3; j++) {
        double v;

        for (;;) {
            v = trimmed(&t, j, name, sizeof(name));
            if (v < 0) {
                char *m = rt_metrics(t.rt_h, rt_url(&t, j));
                rt_metric_names(m != NULL ? m : "", "repl", names, sizeof(names));
                free(m);
                ck_assert_msg(0,
                              "node %d's /metrics has no metric with \"trim\" in its name "
                              "(replication metrics: %s)",
                              j, names[0] ? names : "none");
            }
            if (v >= NKEYS)
                break;
            ck_assert_msg(rt_now_ms() < deadline,
                          "node %d: %s = %.0f, expected >= %d (every node holds the 1,000 "
                          "changes) within 25 s of the catch-up",
                          j, name, v, NKEYS);
            rt_sleep_ms(250);
        }
        printf("node %d: %s = %.0f\n", j, name, v);
        if (j == 1)
            rt_figure("catchup_log_trimmed_node1", "%.0f", v);
    }
    rt_figure("catchup_trimmed_after_ms", "%lld", (long long)(rt_now_ms() - t0 - catchup_ms));
    for (int j = 1; j <= 3; j++)
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    rt_teardown(&t);
    free(keys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_catchup");
    TCase *tc = tcase_create("catchup");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 190);
    tcase_add_test(tc, test_restarted_node_catches_up);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
