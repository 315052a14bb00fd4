/*
 * test_sync.c -- log shipping between store+replication instances sharing
 * one libuv loop over 127.0.0.1: writes, overwrites and deletes reach every
 * node byte-exact; relaying when a link is missing or cut; last writer wins
 * everywhere; losing versions move no bytes; log trimming and tombstone
 * collection once every peer has passed an entry.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/hlc.h"
#include "replication/tests/util_repl.h"
#include "replication/tests/util_sync.h"

static tcluster_t C;

static void *xmalloc_fill(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n > 0 ? n : 1);

    ck_assert_ptr_nonnull(p);
    tc_fill(p, n, seed);
    return p;
}

/* Write on node 1; every node gets every version byte-exact, content type
 * and version preserved, zero-length blobs included. */
START_TEST(test_write_reaches_all)
{
    static const size_t sizes[] = {0, 1, 1000, 64 * 1024, 1500 * 1000};
    store_stat_t st[5];
    char key[32];

    tc_init(&C, 3);
    tc_start_all(&C);
    for (int k = 0; k < 5; k++) {
        void *d = xmalloc_fill(sizes[k], (uint64_t)k + 1);

        snprintf(key, sizeof(key), "key/%d", k);
        tc_put(&C, 0, key, d, sizes[k], &st[k]);
        ck_assert_uint_eq(st[k].st_log_seq, (uint64_t)k + 1);
        free(d);
    }
    for (int k = 0; k < 5; k++) {
        void *d = xmalloc_fill(sizes[k], (uint64_t)k + 1);
        store_stat_t b;

        snprintf(key, sizeof(key), "key/%d", k);
        ck_assert_msg(tc_wait_has(&C, 0x7, key, &st[k].st_version, d, sizes[k], 10000),
                      "%s did not reach every node", key);
        ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, key, strlen(key), 0, &b), 0);
        ck_assert_str_eq(b.st_ctype, "application/x-test");
        ck_assert_int_eq(memcmp(b.st_hash, st[k].st_hash, 16), 0);
        free(d);
    }
    /* The receivers' cursors for node 1 moved with the records. */
    {
        uint64_t cur = 0;

        ck_assert_int_eq(store_cursor_get(C.tc_node[2].sn_store, 1, &cur), 0);
        ck_assert_uint_eq(cur, 5);
    }
    tc_destroy(&C);
}
END_TEST

/* Overwrites and deletes converge on every node; tombstones replicate. */
START_TEST(test_overwrite_delete)
{
    uint8_t v1[5000], v2[7000];
    store_stat_t s1, s2, sd;

    tc_fill(v1, sizeof(v1), 11);
    tc_fill(v2, sizeof(v2), 12);
    tc_init(&C, 3);
    tc_start_all(&C);
    tc_put(&C, 1, "a", v1, sizeof(v1), &s1);
    ck_assert(tc_wait_has(&C, 0x7, "a", &s1.st_version, v1, sizeof(v1), 10000));
    tc_put(&C, 2, "a", v2, sizeof(v2), &s2);
    ck_assert(store_version_cmp(&s2.st_version, &s1.st_version) > 0);
    ck_assert(tc_wait_has(&C, 0x7, "a", &s2.st_version, v2, sizeof(v2), 10000));
    tc_put(&C, 0, "b", v1, sizeof(v1), NULL);
    ck_assert(tc_wait_has(&C, 0x7, "b", NULL, v1, sizeof(v1), 10000));
    tc_delete(&C, 1, "b", &sd);
    ck_assert_uint_gt(sd.st_log_seq, 0);
    for (int i = 0; i < 3; i++) {
        int ok = 0;

        for (int t = 0; t < 500 && !ok; t++) {
            ok = tc_deleted(&C, i, "b", NULL);
            if (!ok)
                tc_run_for(&C, 20);
        }
        ck_assert_msg(ok, "node %d still has b", i + 1);
    }
    tc_destroy(&C);
}
END_TEST

/* 1 and 3 have no link (not configured): 3 gets 1's writes through 2. */
START_TEST(test_relay_not_configured)
{
    size_t n = 300 * 1000;
    void *d = xmalloc_fill(n, 21);
    store_stat_t st;
    repl_metrics_t m3;

    tc_init(&C, 3);
    C.tc_link[0][2] = C.tc_link[2][0] = 0;
    tc_start_all(&C);
    tc_put(&C, 0, "relayed", d, n, &st);
    ck_assert(tc_wait_has(&C, 0x7, "relayed", &st.st_version, d, n, 10000));
    m3 = tc_metrics(&C, 2);
    ck_assert_uint_eq(m3.rm_blob_bytes_received, n); /* once, from node 2 */
    free(d);
    tc_destroy(&C);
}
END_TEST

/* 1 dials 3 at a dead address (the link is cut from the start). */
START_TEST(test_relay_cut)
{
    size_t n = 200 * 1000;
    void *d = xmalloc_fill(n, 22);
    store_stat_t st;

    tc_init(&C, 3);
    C.tc_dead[0][2] = 1;
    tc_start_all(&C);
    tc_put(&C, 0, "cut", d, n, &st);
    ck_assert(tc_wait_has(&C, 0x7, "cut", &st.st_version, d, n, 10000));
    /* and the other way round: 3's write reaches 1 through 2 */
    tc_put(&C, 2, "back", d, 1000, &st);
    ck_assert(tc_wait_has(&C, 0x7, "back", &st.st_version, d, 1000, 10000));
    free(d);
    tc_destroy(&C);
}
END_TEST

/* Concurrent writes of one key on every node: all converge to the
 * highest version. */
START_TEST(test_lww_converges)
{
    uint8_t d[3][4000];
    store_stat_t st[3];
    int win = 0;

    tc_init(&C, 3);
    tc_start_all(&C);
    for (int i = 0; i < 3; i++) {
        tc_fill(d[i], sizeof(d[i]), 30 + (uint64_t)i);
        tc_put(&C, i, "race", d[i], sizeof(d[i]), &st[i]);
    }
    for (int i = 1; i < 3; i++) {
        if (store_version_cmp(&st[i].st_version, &st[win].st_version) > 0)
            win = i;
    }
    ck_assert(tc_wait_has(&C, 0x7, "race", &st[win].st_version, d[win], sizeof(d[win]), 10000));
    tc_destroy(&C);
}
END_TEST

/* Node 2's newer version of a key exists before the nodes meet: node 2
 * receives node 1's older version as metadata only (no bytes), node 1
 * receives node 2's bytes once. */
START_TEST(test_skip_without_bytes)
{
    size_t n1 = 900 * 1000, n2 = 300 * 1000;
    void *d1 = xmalloc_fill(n1, 41), *d2 = xmalloc_fill(n2, 42);
    store_stat_t s1, s2;
    store_t *st;
    repl_metrics_t m1, m2;

    tc_init(&C, 2);
    st = tc_open_store_only(&C, 0);
    C.tc_node[0].sn_store = st;
    tc_put(&C, 0, "k", d1, n1, &s1);
    store_close(st);
    C.tc_node[0].sn_store = NULL;
    st = tc_open_store_only(&C, 1);
    C.tc_node[1].sn_store = st;
    tc_put(&C, 1, "k", d2, n2, &s2);
    store_close(st);
    C.tc_node[1].sn_store = NULL;
    ck_assert(store_version_cmp(&s2.st_version, &s1.st_version) > 0);

    tc_start_all(&C);
    ck_assert(tc_wait_has(&C, 0x3, "k", &s2.st_version, d2, n2, 10000));
    tc_run_for(&C, 300); /* let node 2 settle node 1's change too */
    m1 = tc_metrics(&C, 0);
    m2 = tc_metrics(&C, 1);
    ck_assert_uint_eq(m1.rm_blob_bytes_received, n2);
    ck_assert_uint_eq(m2.rm_blob_bytes_received, 0);
    ck_assert_uint_ge(m2.rm_changes_skipped, 1);
    {
        uint64_t cur = 0;

        ck_assert_int_eq(store_cursor_get(C.tc_node[1].sn_store, 1, &cur), 0);
        ck_assert_uint_eq(cur, 1);
    }
    free(d1);
    free(d2);
    tc_destroy(&C);
}
END_TEST

/* Steady state: every node receives each blob's bytes exactly once, even
 * with relays available. */
START_TEST(test_no_duplicate_bytes)
{
    size_t n = 250 * 1000, total = 0;
    void *d = xmalloc_fill(n, 51);
    store_stat_t st;
    char key[32];

    tc_init(&C, 3);
    tc_start_all(&C);
    tc_run_for(&C, 300); /* links up, subscriptions settled */
    for (int k = 0; k < 6; k++) {
        snprintf(key, sizeof(key), "dup/%d", k);
        tc_put(&C, k % 3, key, d, n, &st);
        ck_assert(tc_wait_has(&C, 0x7, key, &st.st_version, d, n, 10000));
        total += n;
    }
    tc_run_for(&C, 300);
    for (int i = 0; i < 3; i++) {
        repl_metrics_t m = tc_metrics(&C, i);

        /* each node wrote 2 of the 6 and received the other 4, once */
        ck_assert_uint_eq(m.rm_blob_bytes_received, total - 2 * n);
    }
    free(d);
    tc_destroy(&C);
}
END_TEST

static int logs_empty(tcluster_t *c, void *arg)
{
    (void)arg;
    for (int i = 0; i < c->tc_n; i++) {
        if (c->tc_node[i].sn_running && tc_metrics(c, i).rm_log_trimmed == 0)
            return 0; /* the trim job's completion not seen yet */
        for (uint16_t o = 1; o <= (uint16_t)c->tc_n; o++) {
            if (tc_log_count(c, i, o) != 0)
                return 0;
        }
    }
    return 1;
}

static int tombs_gone(tcluster_t *c, void *arg)
{
    store_stat_t st;

    for (int i = 0; i < c->tc_n; i++) {
        if (store_stat(c->tc_node[i].sn_store, (const char *)arg, strlen(arg), 1, &st) !=
            CAIRN_ENOTFOUND)
            return 0;
    }
    return 1;
}

/* Once every peer has every entry, logs are trimmed and tombstones
 * collected; while a peer is down, nothing of what it lacks is trimmed. */
START_TEST(test_trim_and_tombstone_gc)
{
    uint8_t d[3000];
    store_stat_t st;

    tc_fill(d, sizeof(d), 61);
    tc_init(&C, 3);
    tc_start_all(&C);
    tc_put(&C, 0, "t1", d, sizeof(d), &st);
    tc_put(&C, 1, "t2", d, sizeof(d), &st);
    tc_delete(&C, 0, "t1", &st);
    ck_assert(tc_wait_has(&C, 0x7, "t2", NULL, d, sizeof(d), 10000));
    ck_assert_msg(tc_run_until(&C, logs_empty, NULL, 10000), "logs not trimmed");
    ck_assert_msg(tc_run_until(&C, tombs_gone, "t1", 10000), "tombstone not collected");
    ck_assert_uint_ge(tc_metrics(&C, 0).rm_log_trimmed, 1);

    /* node 3 down: node 1's new entries stay until it comes back */
    tc_stop(&C, 2);
    tc_put(&C, 0, "t3", d, sizeof(d), &st);
    ck_assert(tc_wait_has(&C, 0x3, "t3", NULL, d, sizeof(d), 10000));
    tc_run_for(&C, 800);
    ck_assert_uint_eq(tc_log_count(&C, 0, 1), 1);
    ck_assert_uint_eq(tc_log_count(&C, 1, 1), 1);
    tc_start(&C, 2);
    ck_assert(tc_wait_has(&C, 0x7, "t3", NULL, d, sizeof(d), 10000));
    ck_assert_msg(tc_run_until(&C, logs_empty, NULL, 10000), "logs not trimmed after rejoin");
    tc_destroy(&C);
}
END_TEST

/* A node down while others write catches up from its cursors on return. */
START_TEST(test_catch_up_after_restart)
{
    uint8_t d[20][2000];
    store_stat_t st[20];
    char key[32];

    tc_init(&C, 3);
    tc_start_all(&C);
    tc_stop(&C, 1);
    for (int k = 0; k < 20; k++) {
        tc_fill(d[k], sizeof(d[k]), 70 + (uint64_t)k);
        snprintf(key, sizeof(key), "c/%d", k);
        tc_put(&C, k % 2 == 0 ? 0 : 2, key, d[k], sizeof(d[k]), &st[k]);
    }
    tc_start(&C, 1);
    for (int k = 0; k < 20; k++) {
        snprintf(key, sizeof(key), "c/%d", k);
        ck_assert(tc_wait_has(&C, 0x7, key, &st[k].st_version, d[k], sizeof(d[k]), 10000));
    }
    tc_destroy(&C);
}
END_TEST

/* A version far ahead of the wall clock is refused (not applied, the
 * receiver's clock untouched) and retried; it never becomes visible. */
START_TEST(test_version_too_far_ahead)
{
    uint8_t d[100];
    store_stat_t st;
    uint64_t before;

    tc_fill(d, sizeof(d), 81);
    tc_init(&C, 2);
    C.tc_sync.st_max_skew_ms = 60000;
    tc_start_all(&C);
    hlc_set_offset_ms(&C.tc_node[0].sn_clock, 2 * 3600 * 1000);
    tc_put(&C, 0, "future", d, sizeof(d), &st);
    tc_put(&C, 0, "after", d, sizeof(d), NULL);
    before = hlc_last(&C.tc_node[1].sn_clock);
    tc_run_for(&C, 800);
    ck_assert(!tc_has(&C, 1, "future", NULL, d, sizeof(d)));
    ck_assert(!tc_has(&C, 1, "after", NULL, d, sizeof(d))); /* in order: stays behind */
    ck_assert_uint_ge(tc_metrics(&C, 1).rm_versions_refused, 1);
    ck_assert_uint_lt(HLC_PHYS(hlc_last(&C.tc_node[1].sn_clock)), HLC_PHYS(before) + 3600 * 1000);
    tc_destroy(&C);
}
END_TEST

/* The origin is down: node 2 catches up on node 1's changes from node 3;
 * once node 1 is back, node 2 takes node 1's new changes from it directly.
 * Every blob arrives once. */
START_TEST(test_source_switch)
{
    size_t n = 150 * 1000;
    void *d = xmalloc_fill(n, 91);
    store_stat_t s1, s2, s3;
    repl_peer_status_t ps;
    repl_metrics_t m;

    tc_init(&C, 3);
    tc_start_all(&C);
    tc_put(&C, 0, "w1", d, n, &s1);
    ck_assert(tc_wait_has(&C, 0x7, "w1", &s1.st_version, d, n, 10000));
    tc_stop(&C, 1);
    tc_put(&C, 0, "w2", d, n, &s2);
    ck_assert(tc_wait_has(&C, 0x5, "w2", &s2.st_version, d, n, 10000));
    tc_stop(&C, 0);
    tc_start(&C, 1); /* node 1 down: node 3 relays */
    ck_assert(tc_wait_has(&C, 0x2, "w2", &s2.st_version, d, n, 10000));
    tc_run_for(&C, 200); /* the commit is visible before its completion ran here */
    m = tc_metrics(&C, 1);
    ck_assert_uint_eq(m.rm_blob_bytes_received, n);
    ck_assert_int_eq(repl_get_peer_status(C.tc_node[1].sn_repl, 1, &ps), 0);
    ck_assert_uint_eq(ps.ps_id, 3);
    ck_assert_uint_ge(ps.ps_changes_applied, 1);
    tc_start(&C, 0);
    tc_run_for(&C, 300);
    tc_put(&C, 0, "w3", d, n, &s3);
    ck_assert(tc_wait_has(&C, 0x7, "w3", &s3.st_version, d, n, 10000));
    tc_run_for(&C, 200);
    m = tc_metrics(&C, 1);
    ck_assert_uint_eq(m.rm_blob_bytes_received, 2 * n);
    ck_assert_int_eq(repl_get_peer_status(C.tc_node[1].sn_repl, 0, &ps), 0);
    ck_assert_uint_eq(ps.ps_id, 1);
    ck_assert_uint_ge(ps.ps_changes_applied, 1); /* w3 came from node 1 itself */
    free(d);
    tc_destroy(&C);
}
END_TEST

static void count_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        (*(int *)arg)++;
}

static void lc_stopped(repl_t *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
}

static int lc_flag(tcluster_t *c, void *arg)
{
    (void)c;
    return *(int *)arg > 0;
}

/* Lifecycle edges: freed without ever starting; a start refused because
 * the listen port is taken, then stopped and freed; both leave nothing on
 * the loop. Bad configurations are refused. */
START_TEST(test_lifecycle_edges)
{
    repl_peer_addr_t peer;
    repl_conf_t rc;
    repl_t *r = NULL, *r2 = NULL;
    store_t *s;
    char listen[64];
    int stopped = 0;

    tc_init(&C, 2);
    ck_assert_int_eq(repl_peer_addr_parse("2@127.0.0.1:1", &peer), 0);
    memset(&rc, 0, sizeof(rc));
    rc.rc_self_id = 1;
    rc.rc_peers = &peer;
    rc.rc_npeers = 1;
    rc.rc_secret = TC_SECRET;
    rc.rc_secret_len = strlen(TC_SECRET);
    ck_assert_int_eq(repl_create(&C.tc_loop, NULL, &r), CAIRN_EINVAL);
    rc.rc_self_id = 0;
    ck_assert_int_eq(repl_create(&C.tc_loop, &rc, &r), CAIRN_EINVAL);
    rc.rc_self_id = 1;
    rc.rc_sync.st_chunk = 100;
    ck_assert_int_eq(repl_create(&C.tc_loop, &rc, &r), CAIRN_EINVAL);
    rc.rc_sync.st_chunk = 0;

    /* created, never started, freed */
    ck_assert_int_eq(repl_create(&C.tc_loop, &rc, &r), 0);
    repl_free(r);
    tc_run_for(&C, 100);

    /* the listen port is taken by node 2 */
    tc_start(&C, 1);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", C.tc_node[1].sn_port);
    rc.rc_listen = listen;
    ck_assert_int_eq(repl_create(&C.tc_loop, &rc, &r2), 0);
    s = tc_open_store_only(&C, 0);
    ck_assert_int_ne(repl_start(r2, s), 0);
    repl_stop(r2, lc_stopped, &stopped);
    repl_stop(r2, lc_stopped, &stopped); /* twice is fine */
    ck_assert(tc_run_until(&C, lc_flag, &stopped, 5000));
    ck_assert_int_eq(stopped, 1);
    store_close(s);
    repl_free(r2);
    tc_stop(&C, 1);
    tc_run_for(&C, 50);
    {
        int n = 0;

        uv_walk(&C.tc_loop, count_handle, &n);
        ck_assert_int_eq(n, 0); /* nothing left behind on the loop */
    }
    tc_destroy(&C);
}
END_TEST

#define CV_KEYS 24

/* Every running node has the same version and state of every key, and
 * live versions read back byte-exact as written. */
static int converged(tcluster_t *c, void *arg)
{
    uint8_t **content = arg;

    for (int k = 0; k < CV_KEYS; k++) {
        char key[32];
        store_stat_t st0, st;
        int rc0, rc;

        snprintf(key, sizeof(key), "cv/%d", k);
        rc0 = store_stat(c->tc_node[0].sn_store, key, strlen(key), 1, &st0);
        for (int i = 1; i < c->tc_n; i++) {
            rc = store_stat(c->tc_node[i].sn_store, key, strlen(key), 1, &st);
            if (rc != rc0)
                return 0;
            if (rc == 0 && (store_version_cmp(&st.st_version, &st0.st_version) != 0 ||
                            st.st_state != st0.st_state))
                return 0;
        }
        if (rc0 == 0 && st0.st_state == STORE_RECEIVING)
            return 0;
        if (rc0 == 0 && st0.st_state == STORE_COMPLETE) {
            /* the content of the winning version: its seed is in the hash table */
            const uint8_t *d = NULL;

            for (int j = 0; content[j] != NULL; j += 2) {
                if (memcmp(content[j], st0.st_hash, 16) == 0)
                    d = content[j + 1];
            }
            if (d == NULL)
                return 0;
            for (int i = 0; i < c->tc_n; i++) {
                if (!tc_has(c, i, key, &st0.st_version, d, st0.st_size))
                    return 0;
            }
        }
    }
    return 1;
}

/* Random puts, overwrites and deletes on all three nodes, a node restarted
 * in the middle: every node ends with the same version of every key. */
START_TEST(test_random_converges)
{
    enum { OPS = 150 };
    uint8_t *content[2 * OPS + 2];
    int nc = 0;
    uint64_t x = 12345;

    memset(content, 0, sizeof(content));
    tc_init(&C, 3);
    tc_start_all(&C);
    for (int op = 0; op < OPS; op++) {
        int node, k;
        char key[32];

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        node = (int)(x % 3);
        k = (int)((x >> 8) % CV_KEYS);
        snprintf(key, sizeof(key), "cv/%d", k);
        if (op == OPS / 2) {
            tc_stop(&C, 2);
        } else if (op == OPS / 2 + 30) {
            tc_start(&C, 2);
        }
        if (!C.tc_node[node].sn_running)
            node = (node + 1) % 3;
        if ((x >> 20) % 5 == 0) {
            store_del_opts_t d;

            memset(&d, 0, sizeof(d));
            d.do_mode = STORE_PUT_LOCAL;
            (void)store_delete_ex(C.tc_node[node].sn_store, key, strlen(key), &d, NULL);
        } else {
            size_t n = (size_t)((x >> 24) % 3 == 0 ? (x >> 30) % 300000 : (x >> 30) % 3000);
            uint8_t *d = malloc(n + 1);
            store_stat_t st;

            tc_fill(d, n, x);
            tc_put(&C, node, key, d, n, &st);
            content[nc] = malloc(16);
            memcpy(content[nc], st.st_hash, 16);
            content[nc + 1] = d;
            nc += 2;
        }
        if (op % 10 == 0)
            tc_run_for(&C, 20);
    }
    ck_assert_msg(tc_run_until(&C, converged, content, 20000), "nodes did not converge");
    for (int j = 0; j < nc; j++)
        free(content[j]);
    tc_destroy(&C);
}
END_TEST

/* ------------------------------------------------- small blobs inline */

#define SMALL_N 120

/* Size of the k-th small blob: the edges (0, 1, exactly REPL_INL_MAX,
 * one byte more) among 4 KiB ones. */
static size_t small_size(int k)
{
    static const size_t edges[] = {0, 1, 64 * 1024, 64 * 1024 + 1, 100};

    return k < 5 ? edges[k] : 4096;
}

/* Writes SMALL_N blobs alternately on nodes 1 and 2 (keys s/0..), all in a
 * row, then waits until every node has every one byte-exact. */
static void write_small(tcluster_t *c, store_stat_t *st)
{
    char key[32];

    for (int k = 0; k < SMALL_N; k++) {
        size_t n = small_size(k);
        void *d = xmalloc_fill(n, 500 + (uint64_t)k);

        snprintf(key, sizeof(key), "s/%d", k);
        tc_put(c, k % 2, key, d, n, &st[k]);
        free(d);
    }
    for (int k = 0; k < SMALL_N; k++) {
        size_t n = small_size(k);
        void *d = xmalloc_fill(n, 500 + (uint64_t)k);

        snprintf(key, sizeof(key), "s/%d", k);
        ck_assert_msg(tc_wait_has(c, 0x7, key, &st[k].st_version, d, n, 20000),
                      "%s (%zu bytes) did not reach every node", key, n);
        free(d);
    }
}

/* Small blobs travel inside their offers and are applied in batches:
 * every node converges byte-exact, the receivers keep them inline (the
 * one over the bound streams into a file as before), every byte is
 * received once, and every receiver's cursor for each origin is at its
 * last change. */
START_TEST(test_small_inline)
{
    store_stat_t st[SMALL_N];
    uint64_t total = 0, by[2] = {0, 0};

    tc_init(&C, 3);
    tc_start_all(&C);
    tc_run_for(&C, 300);
    write_small(&C, st);
    for (int k = 0; k < SMALL_N; k++) {
        by[k % 2] += small_size(k);
        total += small_size(k);
    }
    tc_run_for(&C, 300);
    for (int i = 0; i < 3; i++) {
        repl_metrics_t m = tc_metrics(&C, i);
        uint64_t want = i == 2 ? total : total - by[i];

        ck_assert_uint_eq(m.rm_blob_bytes_received, want);
        for (uint16_t o = 1; o <= 2; o++) {
            uint64_t cur = 0;

            ck_assert_int_eq(store_cursor_get(C.tc_node[i].sn_store, o, &cur), 0);
            ck_assert_uint_eq(cur, SMALL_N / 2);
        }
    }
    for (int k = 0; k < SMALL_N; k++) {
        store_stat_t b;
        char key[32];
        int recv = k % 2 == 0 ? 1 : 0; /* a node that received it */

        snprintf(key, sizeof(key), "s/%d", k);
        ck_assert_int_eq(store_stat(C.tc_node[recv].sn_store, key, strlen(key), 0, &b), 0);
        ck_assert_int_eq(b.st_inline, small_size(k) <= 64 * 1024);
        ck_assert_str_eq(b.st_ctype, "application/x-test");
        ck_assert_int_eq(store_stat(C.tc_node[2].sn_store, key, strlen(key), 0, &b), 0);
        ck_assert_int_eq(b.st_inline, small_size(k) <= 64 * 1024);
    }
    tc_destroy(&C);
}
END_TEST

/* A receiver whose store keeps no inline blobs still applies small
 * blobs that came with their offers (into files). */
START_TEST(test_small_inline_receiver_files)
{
    store_stat_t st[SMALL_N], b;

    tc_init(&C, 3);
    C.tc_inline_off[2] = 1;
    tc_start_all(&C);
    tc_run_for(&C, 300);
    write_small(&C, st);
    ck_assert_int_eq(store_stat(C.tc_node[2].sn_store, "s/6", 3, 0, &b), 0);
    ck_assert_int_eq(b.st_inline, 0);
    ck_assert_uint_ne(b.st_file_id, 0);
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "s/6", 3, 0, &b), 0);
    ck_assert_int_eq(b.st_inline, 1);
    tc_destroy(&C);
}
END_TEST

/* A batch that cannot be committed (the failpoint fails the first one)
 * is answered "later" as a whole: nothing after the failed change is
 * applied out of order, the changes are offered again and every node
 * converges, its cursors at each origin's last change. */
START_TEST(test_small_inline_later)
{
    store_stat_t st[SMALL_N];

    tc_init(&C, 3);
    tc_start_all(&C);
    tc_run_for(&C, 300);
    t_log_capture_start();
    ck_assert_int_eq(failpoints_configure("repl.recv.before_commit=error@1"), 0);
    write_small(&C, st);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_int_ge(t_log_count("repl.recv.later", "step=inline"), 1);
    t_log_capture_end();
    for (int i = 0; i < 3; i++) {
        for (uint16_t o = 1; o <= 2; o++) {
            uint64_t cur = 0;

            ck_assert_int_eq(store_cursor_get(C.tc_node[i].sn_store, o, &cur), 0);
            ck_assert_uint_eq(cur, SMALL_N / 2);
        }
    }
    tc_destroy(&C);
}
END_TEST

static int has_n_keys(tcluster_t *c, void *arg)
{
    uint64_t cur = 0;

    (void)store_cursor_get(c->tc_node[1].sn_store, 1, &cur);
    return cur >= *(uint64_t *)arg;
}

/* SYNC_BENCH=1: replication throughput between two nodes (not a check). */
START_TEST(bench_throughput)
{
    static const struct {
        size_t size;
        int count;
    } runs[] = {{64u << 20, 1}, {256 * 1024, 100}, {4096, 500}};
    uint64_t seq = 0;

    tc_init(&C, 2);
    C.tc_sync.st_chunk = 0; /* default 256 KiB */
    tc_start_all(&C);
    tc_run_for(&C, 300);
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        void *d = xmalloc_fill(runs[r].size, 99);
        uint64_t t0, t1, t2;
        char key[64];

        t0 = store_mono_ms();
        for (int k = 0; k < runs[r].count; k++) {
            snprintf(key, sizeof(key), "bench/%zu/%d", r, k);
            tc_put(&C, 0, key, d, runs[r].size, NULL);
        }
        seq += (uint64_t)runs[r].count;
        t1 = store_mono_ms();
        ck_assert(tc_run_until(&C, has_n_keys, &seq, 120000));
        t2 = store_mono_ms();
        fprintf(stderr,
                "BENCH size=%zu count=%d local_ms=%llu replicated_ms=%llu (after writes: %llu) "
                "MB/s=%.1f blobs/s=%.1f\n",
                runs[r].size, runs[r].count, (unsigned long long)(t1 - t0),
                (unsigned long long)(t2 - t0), (unsigned long long)(t2 - t1),
                (double)runs[r].size * runs[r].count / 1e6 / ((double)(t2 - t0) / 1000.0),
                runs[r].count / ((double)(t2 - t0) / 1000.0));
        free(d);
    }
    tc_destroy(&C);
}
END_TEST

/* SYNC_TEST=name runs one test only (debugging). */
#define ADD(fn)                                                                                    \
    do {                                                                                           \
        if (only == NULL || strcmp(only, #fn) == 0)                                                \
            tcase_add_test(tc, fn);                                                                \
    } while (0)

static Suite *sync_suite(void)
{
    const char *only = getenv("SYNC_TEST");
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("sync");

    tcase_set_timeout(tc, 60);
    ADD(test_write_reaches_all);
    ADD(test_overwrite_delete);
    ADD(test_relay_not_configured);
    ADD(test_relay_cut);
    ADD(test_lww_converges);
    ADD(test_skip_without_bytes);
    ADD(test_no_duplicate_bytes);
    ADD(test_trim_and_tombstone_gc);
    ADD(test_catch_up_after_restart);
    ADD(test_version_too_far_ahead);
    ADD(test_random_converges);
    ADD(test_lifecycle_edges);
    ADD(test_source_switch);
    ADD(test_small_inline);
    ADD(test_small_inline_receiver_files);
    ADD(test_small_inline_later);
    if (getenv("SYNC_BENCH") != NULL) {
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, bench_throughput);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tc_main(sync_suite());
}
