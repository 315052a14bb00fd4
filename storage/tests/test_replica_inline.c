/*
 * test_replica_inline.c -- store_put_replica_inline() and
 * store_put_replica_batch(): a whole small replica version applied in one
 * commit (record complete and inline, bytes, log entry, cursor), with the
 * rules of store_put_begin()/store_put_finish(): last writer wins,
 * duplicates, a live writer on the same version, same-version re-delivery
 * over a leftover, hash mismatch never committed; batches applied in order
 * and stopped at the first failure (nothing logged after it), skips
 * recorded in the same transaction; durable across a reopen.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "storage/blobfile.h"
#include "storage/store.h"
#include "util_store.h"

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("rinl");
}

static void teardown(void)
{
    ut_rm_rf(dir);
    free(dir);
}

/* Node 1, logging changes, inline blobs up to max (0: disabled). */
static store_t *open_store(uint64_t max)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_log_changes = 1;
    o.so_inline_max = max;
    o.so_inline_disable = max == 0;
    return ut_open(dir, &o);
}

static store_version_t ver(uint64_t hlc, uint16_t origin)
{
    store_version_t v = {hlc, origin};

    return v;
}

/* A replica put of data under (origin 2, seq) at version v; h is filled
 * with data's hash (the caller may spoil it). */
static store_replica_put_t rput(const char *key, const uint8_t *data, size_t len, store_version_t v,
                                uint64_t seq, uint8_t h[STORE_HASH_LEN])
{
    store_replica_put_t p;

    blobfile_hash(data, len, h);
    memset(&p, 0, sizeof(p));
    p.rp_key = key;
    p.rp_klen = strlen(key);
    p.rp_version = v;
    p.rp_hash = h;
    p.rp_ctype = "text/x-rinl";
    p.rp_data = data;
    p.rp_len = len;
    p.rp_log_origin = 2;
    p.rp_log_seq = seq;
    return p;
}

static uint64_t cursor(store_t *s)
{
    uint64_t c = 0;

    ck_assert_int_eq(store_cursor_get(s, 2, &c), 0);
    return c;
}

typedef struct logseen {
    uint64_t ls_seq[16];
    int ls_sup[16];
    size_t ls_n;
} logseen_t;

static int log_collect(void *arg, const store_change_t *c)
{
    logseen_t *ls = arg;

    if (ls->ls_n < 16) {
        ls->ls_seq[ls->ls_n] = c->sc_seq;
        ls->ls_sup[ls->ls_n] = c->sc_superseded;
        ls->ls_n++;
    }
    return 0;
}

static logseen_t log_of_2(store_t *s)
{
    logseen_t ls;

    memset(&ls, 0, sizeof(ls));
    ck_assert_int_eq(store_log_read(s, 2, 0, 0, log_collect, &ls), 0);
    return ls;
}

static void count_repair(void *arg, const char *key, size_t klen, const store_version_t *v,
                         uint64_t fid)
{
    (void)key;
    (void)klen;
    (void)v;
    (void)fid;
    (*(int *)arg)++;
    return;
}

/* Applied in one commit: complete, inline, no file, log entry + cursor. */
START_TEST(test_apply)
{
    store_t *s = open_store(4096);
    uint8_t *d = ut_data(3000, 1);
    uint8_t h[STORE_HASH_LEN];
    store_replica_put_t p = rput("a", d, 3000, ver(1000, 2), 7, h);
    store_stats_t before, after;
    store_stat_t st, out;
    uint64_t ids[8];
    logseen_t ls;

    store_get_stats(s, &before);
    ck_assert_int_eq(store_put_replica_inline(s, &p, &out), 0);
    store_get_stats(s, &after);
    ck_assert_uint_eq(after.ss_commit_txns - before.ss_commit_txns, 1);
    ck_assert_int_eq(out.st_state, STORE_COMPLETE);
    ck_assert_int_eq(out.st_inline, 1);
    ck_assert_int_eq(store_stat(s, "a", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert_uint_eq(st.st_file_id, 0);
    ck_assert(store_version_cmp(&st.st_version, &p.rp_version) == 0);
    ck_assert_str_eq(st.st_ctype, "text/x-rinl");
    ut_assert_content(s, "a", d, 3000);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 0);
    ck_assert_uint_eq(cursor(s), 7);
    ls = log_of_2(s);
    ck_assert_uint_eq(ls.ls_n, 1);
    ck_assert_uint_eq(ls.ls_seq[0], 7);
    ck_assert_int_eq(ls.ls_sup[0], 0);
    /* the clock observed the version */
    ck_assert_uint_ge(hlc_last(store_clock(s)), 1000);

    /* durable: reopened, everything is there */
    store_close(s);
    s = open_store(4096);
    ut_assert_content(s, "a", d, 3000);
    ck_assert_uint_eq(cursor(s), 7);
    store_close(s);
    free(d);
}
END_TEST

/* Last writer wins, duplicates, tombstones, replacing a file-backed
 * version (its file collected). */
START_TEST(test_lww)
{
    store_t *s = open_store(4096);
    uint8_t *d1 = ut_data(100, 1), *d2 = ut_data(200, 2), *d3 = ut_data(300, 3);
    uint8_t h[STORE_HASH_LEN];
    store_replica_put_t p;
    store_del_opts_t dop;
    store_stat_t st;
    uint64_t ids[8];

    p = rput("k", d2, 200, ver(2000, 2), 1, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    /* older: loses, nothing logged, cursor unchanged */
    p = rput("k", d1, 100, ver(1000, 2), 2, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ESTALE);
    ck_assert_uint_eq(cursor(s), 1);
    ck_assert_uint_eq(log_of_2(s).ls_n, 1);
    ut_assert_content(s, "k", d2, 200);
    /* the same version again: already here */
    p = rput("k", d2, 200, ver(2000, 2), 3, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_EEXIST);
    ck_assert_uint_eq(cursor(s), 1);
    /* the same hlc from a higher origin id wins the tie */
    p = rput("k", d3, 300, ver(2000, 3), 4, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    ut_assert_content(s, "k", d3, 300);
    ck_assert_uint_eq(cursor(s), 4);

    /* over a file-backed version: that file is collected */
    ck_assert_int_eq(ut_put_replica(s, "f", d1, 100, ver(3000, 2), &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    ck_assert(ut_file_exists(dir, st.st_file_id));
    p = rput("f", d2, 200, ver(3001, 2), 5, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    ut_assert_content(s, "f", d2, 200);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 0);

    /* tombstones: the same version is already here, an older put loses,
     * a newer one revives the key */
    memset(&dop, 0, sizeof(dop));
    dop.do_mode = STORE_PUT_REPLICA;
    dop.do_version = ver(4000, 2);
    ck_assert_int_eq(store_delete(s, "t", 1, &dop, NULL), 0);
    p = rput("t", d1, 100, ver(4000, 2), 6, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_EEXIST);
    p = rput("t", d1, 100, ver(3999, 2), 6, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ESTALE);
    ck_assert_int_eq(store_stat(s, "t", 1, 0, &st), CAIRN_ENOTFOUND);
    p = rput("t", d1, 100, ver(4001, 2), 6, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    ut_assert_content(s, "t", d1, 100);
    store_close(s);
    free(d1);
    free(d2);
    free(d3);
}
END_TEST

/* A hash mismatch is never committed; bounds give CAIRN_ETOOBIG / EINVAL. */
START_TEST(test_hash_and_bounds)
{
    store_t *s = open_store(4096);
    uint8_t *d = ut_data(5000, 1);
    uint8_t h[STORE_HASH_LEN];
    store_replica_put_t p;
    store_stat_t st;
    store_stats_t ss;

    p = rput("x", d, 1000, ver(1000, 2), 1, h);
    h[3] ^= 1;
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ECORRUPT);
    ck_assert_int_eq(store_stat(s, "x", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(cursor(s), 0);
    ck_assert_uint_eq(log_of_2(s).ls_n, 0);
    /* a byte changed instead of the hash */
    p = rput("x", d, 1000, ver(1000, 2), 1, h);
    d[10] ^= 0x40;
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ECORRUPT);
    d[10] ^= 0x40;
    ck_assert_int_eq(store_stat(s, "x", 1, 1, &st), CAIRN_ENOTFOUND);

    p = rput("x", d, 5000, ver(1000, 2), 1, h); /* above so_inline_max */
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ETOOBIG);
    p = rput("x", d, 1000, ver(1000, 2), 1, h);
    p.rp_log_origin = 1; /* this node's own identity */
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_EINVAL);
    p = rput("x", d, 1000, ver(0, 2), 1, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_EINVAL);
    store_get_stats(s, &ss);
    ck_assert_uint_eq(ss.ss_blobs, 0);
    store_close(s);

    s = open_store(0); /* inline blobs disabled */
    p = rput("x", d, 10, ver(1000, 2), 1, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_ETOOBIG);
    store_close(s);
    free(d);
}
END_TEST

/* A live writer on the same version: CAIRN_EBUSY. Once it is abandoned
 * (a leftover, pending repair), the same version is re-delivered over it. */
START_TEST(test_busy_and_redelivery)
{
    store_t *s = open_store(4096);
    uint8_t *d = ut_data(700, 5);
    uint8_t h[STORE_HASH_LEN];
    store_replica_put_t p = rput("r", d, 700, ver(5000, 2), 9, h);
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;
    uint64_t ids[8];
    int repairs = 0;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 700;
    po.po_version = p.rp_version;
    po.po_hash = h;
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 100), 0);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), CAIRN_EBUSY);
    ck_assert_uint_eq(cursor(s), 0);
    store_put_abort(w);
    ck_assert_int_eq(store_stat(s, "r", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_int_eq(store_each_repair(s, count_repair, &repairs), 0);
    ck_assert_int_eq(repairs, 1);

    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    ck_assert_int_eq(store_stat(s, "r", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_int_eq(st.st_inline, 1);
    ut_assert_content(s, "r", d, 700);
    repairs = 0;
    ck_assert_int_eq(store_each_repair(s, count_repair, &repairs), 0);
    ck_assert_int_eq(repairs, 0);
    ck_assert_uint_eq(cursor(s), 9);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 0);

    /* a newer version while an older one is still arriving: the newer one
     * wins, the older writer's finish then loses */
    po.po_version = ver(6000, 2);
    blobfile_hash(d, 700, h);
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 700), 0);
    p = rput("r", d, 300, ver(6001, 2), 10, h);
    ck_assert_int_eq(store_put_replica_inline(s, &p, NULL), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_ESTALE);
    ut_assert_content(s, "r", d, 300);
    store_close(s);
    free(d);
}
END_TEST

/* Batches: in order, one transaction, stopped at the first failure with
 * nothing of it or after it committed; with skip_lost, losing elements are
 * logged as skipped in the same transaction. */
START_TEST(test_batch)
{
    store_t *s = open_store(4096);
    uint8_t *d = ut_data(2000, 7);
    uint8_t h[6][STORE_HASH_LEN];
    store_replica_put_t v[6];
    store_stats_t before, after;
    store_stat_t st;
    logseen_t ls;
    size_t done = 99;

    /* seq 1 ok, seq 2 corrupt, seq 3 ok: only seq 1 commits */
    v[0] = rput("b1", d, 100, ver(100, 2), 1, h[0]);
    v[1] = rput("b2", d, 200, ver(101, 2), 2, h[1]);
    v[2] = rput("b3", d, 300, ver(102, 2), 3, h[2]);
    h[1][0] ^= 1;
    ck_assert_int_eq(store_put_replica_batch(s, v, 3, 1, &done), CAIRN_ECORRUPT);
    ck_assert_uint_eq(done, 1);
    ck_assert_int_eq(v[0].rp_rc, 0);
    ck_assert_int_eq(v[1].rp_rc, CAIRN_ECORRUPT);
    ut_assert_content(s, "b1", d, 100);
    ck_assert_int_eq(store_stat(s, "b2", 2, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_stat(s, "b3", 2, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(cursor(s), 1);

    /* seq 2 (fixed), 3, a loser (seq 4), a duplicate (seq 5), two versions
     * of one key (seq 6, 7): one transaction, everything done in order */
    v[0] = rput("b2", d, 200, ver(101, 2), 2, h[0]);
    v[1] = rput("b3", d, 300, ver(102, 2), 3, h[1]);
    v[2] = rput("b1", d, 50, ver(99, 2), 4, h[2]);
    v[3] = rput("b1", d, 100, ver(100, 2), 5, h[3]);
    v[4] = rput("b4", d, 400, ver(200, 2), 6, h[4]);
    v[5] = rput("b4", d + 1, 500, ver(201, 2), 7, h[5]);
    store_get_stats(s, &before);
    ck_assert_int_eq(store_put_replica_batch(s, v, 6, 1, &done), 0);
    store_get_stats(s, &after);
    ck_assert_uint_eq(after.ss_commit_txns - before.ss_commit_txns, 1);
    ck_assert_uint_eq(done, 6);
    ck_assert_int_eq(v[0].rp_rc, 0);
    ck_assert_int_eq(v[2].rp_rc, CAIRN_ESTALE);
    ck_assert_int_eq(v[3].rp_rc, CAIRN_EEXIST);
    ck_assert_int_eq(v[5].rp_rc, 0);
    ut_assert_content(s, "b2", d, 200);
    ut_assert_content(s, "b3", d, 300);
    ut_assert_content(s, "b1", d, 100);
    ut_assert_content(s, "b4", d + 1, 500);
    ck_assert_uint_eq(cursor(s), 7);
    ls = log_of_2(s);
    ck_assert_uint_eq(ls.ls_n, 7);
    ck_assert_uint_eq(ls.ls_seq[3], 4);
    ck_assert_int_eq(ls.ls_sup[3], 1); /* the loser: a superseded marker */
    ck_assert_int_eq(ls.ls_sup[4], 0); /* the duplicate: applied here */

    /* without skip_lost a loser stops the batch */
    v[0] = rput("b5", d, 10, ver(300, 2), 8, h[0]);
    v[1] = rput("b1", d, 10, ver(1, 2), 9, h[1]);
    v[2] = rput("b6", d, 10, ver(301, 2), 10, h[2]);
    ck_assert_int_eq(store_put_replica_batch(s, v, 3, 0, &done), CAIRN_ESTALE);
    ck_assert_uint_eq(done, 1);
    ck_assert_uint_eq(cursor(s), 8);
    ck_assert_int_eq(store_stat(s, "b6", 2, 1, &st), CAIRN_ENOTFOUND);
    store_close(s);
    free(d);
}
END_TEST

/* A live writer inside a batch stops it: the cursor never passes the
 * change that was not applied. */
START_TEST(test_batch_busy_stops)
{
    store_t *s = open_store(4096);
    uint8_t *d = ut_data(600, 8);
    uint8_t h[3][STORE_HASH_LEN], hb[STORE_HASH_LEN];
    store_replica_put_t v[3];
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;
    size_t done = 99;

    v[0] = rput("c1", d, 100, ver(100, 2), 1, h[0]);
    v[1] = rput("c2", d, 600, ver(101, 2), 2, h[1]);
    v[2] = rput("c3", d, 300, ver(102, 2), 3, h[2]);
    blobfile_hash(d, 600, hb);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 600;
    po.po_version = v[1].rp_version;
    po.po_hash = hb;
    ck_assert_int_eq(store_put_begin(s, "c2", 2, &po, &w), 0);
    ck_assert_int_eq(store_put_replica_batch(s, v, 3, 1, &done), CAIRN_EBUSY);
    ck_assert_uint_eq(done, 1);
    ck_assert_uint_eq(cursor(s), 1);
    ck_assert_int_eq(store_stat(s, "c3", 2, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_put_write(w, d, 600), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ck_assert_int_eq(store_put_replica_batch(s, v + 1, 2, 1, &done), 0);
    ck_assert_uint_eq(done, 2);
    ck_assert_int_eq(v[1].rp_rc, CAIRN_EEXIST);
    ck_assert_uint_eq(cursor(s), 3);
    ut_assert_content(s, "c3", d, 300);
    ck_assert_int_eq(store_put_replica_batch(s, v, 0, 1, &done), CAIRN_EINVAL);
    store_close(s);
    free(d);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("replica_inline");
    TCase *tc = tcase_create("replica_inline");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_apply);
    tcase_add_test(tc, test_lww);
    tcase_add_test(tc, test_hash_and_bounds);
    tcase_add_test(tc, test_busy_and_redelivery);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_batch_busy_stops);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
