/*
 * test_read_inline.c -- store_read_inline(), the event-loop fast path of a
 * whole read (store.h).
 *
 * It must serve exactly the versions that need no reader -- complete,
 * inline, not damaged, intact -- and hand everything else (-EAGAIN) to
 * store_read_open(): file-backed and receiving versions, damaged marks,
 * inline bytes that fail their check, blobs larger than the caller's
 * buffer, and a map lock it cannot take at once. Absent and deleted keys
 * are CAIRN_ENOTFOUND like store_read_open(). Also store_read_is_whole(),
 * which lets the node read a small whole file out and close the reader.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hlc.h"
#include "storage/blobfile.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "util_store.h"

#define MAX 4096 /* so_inline_max */

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("rdinl");
}

static void teardown(void)
{
    ut_rm_rf(dir);
    free(dir);
}

static store_t *open_inl(void)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_max = MAX;
    return ut_open(dir, &o);
}

/* store_read_inline into a buffer of cap bytes; asserts nothing. */
static int rd(store_t *s, const char *key, uint8_t *buf, size_t cap, store_stat_t *st, size_t *len)
{
    return store_read_inline(s, key, strlen(key), buf, cap, st, len);
}

/* Replaces key's inline bytes behind the store's back (len bytes of p). */
static void poke_inline(store_t *s, const char *key, const void *p, size_t len)
{
    uint8_t enc[KEY_ENC_MAX];
    MDB_val k, v;
    MDB_txn *txn = NULL;

    k.mv_size = key_encode(key, strlen(key), enc);
    k.mv_data = enc;
    v.mv_size = len;
    v.mv_data = (void *)p;
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->s_db_inline, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

START_TEST(test_serves_inline)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(MAX, 1);
    uint8_t *buf = malloc(MAX);
    store_stat_t put, st, ref;
    size_t len = 99;

    ck_assert_int_eq(ut_put_local(s, "a", d, 3000, &put), 0);
    ck_assert_int_eq(put.st_inline, 1);
    ck_assert_int_eq(rd(s, "a", buf, MAX, &st, &len), 0);
    ck_assert_uint_eq(len, 3000);
    ck_assert_mem_eq(buf, d, 3000);
    ck_assert_int_eq(store_stat(s, "a", 1, 0, &ref), 0);
    ck_assert_int_eq(store_version_cmp(&st.st_version, &ref.st_version), 0);
    ck_assert_mem_eq(st.st_hash, ref.st_hash, STORE_HASH_LEN);
    ck_assert_uint_eq(st.st_size, 3000);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert_str_eq(st.st_key, "a");

    /* The buffer bounds it: exactly the size is enough, one byte less not. */
    ck_assert_int_eq(rd(s, "a", buf, 3000, &st, &len), 0);
    ck_assert_int_eq(rd(s, "a", buf, 2999, &st, &len), -EAGAIN);
    ck_assert_uint_eq(len, 0);

    /* An empty blob. */
    ck_assert_int_eq(ut_put_local(s, "e", d, 0, NULL), 0);
    ck_assert_int_eq(rd(s, "e", buf, MAX, &st, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(st.st_size, 0);

    /* An overwrite is seen at once, also when it changes the kind. */
    ck_assert_int_eq(ut_put_local(s, "a", d + 7, 100, NULL), 0);
    ck_assert_int_eq(rd(s, "a", buf, MAX, &st, &len), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_mem_eq(buf, d + 7, 100);
    free(d);
    d = ut_data(2 * MAX, 2);
    ck_assert_int_eq(ut_put_local(s, "a", d, 2 * MAX, &put), 0);
    ck_assert_int_eq(put.st_inline, 0);
    ck_assert_int_eq(rd(s, "a", buf, MAX, &st, &len), -EAGAIN);
    ck_assert_int_eq(ut_put_local(s, "a", d, 10, NULL), 0);
    ck_assert_int_eq(rd(s, "a", buf, MAX, &st, &len), 0);
    ck_assert_mem_eq(buf, d, 10);
    store_close(s);
    free(buf);
    free(d);
}
END_TEST

START_TEST(test_not_found_and_args)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(100, 3);
    uint8_t buf[MAX];
    store_stat_t st;
    store_del_opts_t del;
    size_t len;

    ck_assert_int_eq(rd(s, "nope", buf, sizeof(buf), &st, &len), CAIRN_ENOTFOUND);
    ck_assert_int_eq(ut_put_local(s, "gone", d, 100, NULL), 0);
    memset(&del, 0, sizeof(del));
    del.do_mode = STORE_PUT_LOCAL;
    ck_assert_int_eq(store_delete(s, "gone", 4, &del, NULL), 0);
    ck_assert_int_eq(rd(s, "gone", buf, sizeof(buf), &st, &len), CAIRN_ENOTFOUND);
    /* Bad keys and arguments. */
    ck_assert_int_eq(store_read_inline(s, "", 0, buf, sizeof(buf), &st, &len), CAIRN_EINVAL);
    ck_assert_int_eq(store_read_inline(s, "a\0b", 3, buf, sizeof(buf), &st, &len), CAIRN_EINVAL);
    ck_assert_int_eq(store_read_inline(s, "k", 1, NULL, sizeof(buf), &st, &len), CAIRN_EINVAL);
    ck_assert_int_eq(store_read_inline(s, "k", 1, buf, sizeof(buf), NULL, &len), CAIRN_EINVAL);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_file_backed_and_receiving)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(3 * MAX, 4);
    uint8_t *buf = malloc(4 * MAX);
    store_version_t v = {hlc_now(store_clock(s)) + HLC_MAKE(1000, 0), 2};
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;
    uint8_t h[STORE_HASH_LEN];
    size_t len;

    /* File-backed, even when the buffer is big enough. */
    ck_assert_int_eq(ut_put_local(s, "big", d, 3 * MAX, NULL), 0);
    ck_assert_int_eq(rd(s, "big", buf, 4 * MAX, &st, &len), -EAGAIN);
    /* A replica version (always file-backed), small. */
    ck_assert_int_eq(ut_put_replica(s, "rep", d, 10, v, NULL), 0);
    ck_assert_int_eq(rd(s, "rep", buf, 4 * MAX, &st, &len), -EAGAIN);

    /* A newer replica version of an inline key, still arriving: the fast
     * path must not serve the superseded inline bytes nor the new ones. */
    ck_assert_int_eq(ut_put_local(s, "k", d, 50, NULL), 0);
    ck_assert_int_eq(rd(s, "k", buf, 4 * MAX, &st, &len), 0);
    blobfile_hash(d + 1, 20, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 20;
    po.po_version = (store_version_t){v.sv_hlc + HLC_MAKE(1000, 0), 2};
    po.po_hash = h;
    ck_assert_int_eq(store_put_begin(s, "k", 1, &po, &w), 0);
    ck_assert_int_eq(rd(s, "k", buf, 4 * MAX, &st, &len), -EAGAIN);
    ck_assert_int_eq(store_put_write(w, d + 1, 20), 0);
    ck_assert_int_eq(rd(s, "k", buf, 4 * MAX, &st, &len), -EAGAIN);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ck_assert_int_eq(rd(s, "k", buf, 4 * MAX, &st, &len), -EAGAIN);
    ut_assert_content(s, "k", d + 1, 20);
    store_close(s);
    free(buf);
    free(d);
}
END_TEST

START_TEST(test_bad_copy_and_damaged)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(800, 5);
    uint8_t *bad = ut_data(800, 5);
    uint8_t buf[MAX];
    store_reader_t *r = NULL;
    store_stat_t st;
    size_t len;

    ck_assert_int_eq(ut_put_local(s, "x", d, 800, NULL), 0);
    ck_assert_int_eq(rd(s, "x", buf, sizeof(buf), &st, &len), 0);
    /* Same size, one byte flipped: refused here, and the reader path still
     * reports it as it always did. */
    bad[17] ^= 1;
    poke_inline(s, "x", bad, 800);
    ck_assert_int_eq(rd(s, "x", buf, sizeof(buf), &st, &len), -EAGAIN);
    ck_assert_int_eq(store_read_open(s, "x", 1, NULL, &r, NULL), CAIRN_ECORRUPT);
    /* Wrong length. */
    poke_inline(s, "x", d, 799);
    ck_assert_int_eq(rd(s, "x", buf, sizeof(buf), &st, &len), -EAGAIN);

    /* Marked damaged (the store re-checks and marks the bad bytes); then
     * the good bytes come back behind its back: the mark alone keeps the
     * copy out of the fast path. */
    poke_inline(s, "x", bad, 800);
    ck_assert_int_eq(store_report_damaged(s, "x", 1, 0), 0);
    ck_assert_int_eq(store_stat(s, "x", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_damaged, 1);
    poke_inline(s, "x", d, 800);
    ck_assert_int_eq(rd(s, "x", buf, sizeof(buf), &st, &len), -EAGAIN);
    /* A new version clears it. */
    ck_assert_int_eq(ut_put_local(s, "x", d, 800, NULL), 0);
    ck_assert_int_eq(rd(s, "x", buf, sizeof(buf), &st, &len), 0);
    ck_assert_mem_eq(buf, d, 800);
    store_close(s);
    free(bad);
    free(d);
}
END_TEST

/* Holds the map lock exclusively (as the commit thread does while it grows
 * the map) until told to let go. */
typedef struct {
    store_t *h_s;
    pthread_mutex_t h_mu;
    pthread_cond_t h_cond;
    int h_held, h_release;
} holder_t;

static void *hold_map_lock(void *arg)
{
    holder_t *h = arg;

    pthread_rwlock_wrlock(&h->h_s->s_map_lock);
    pthread_mutex_lock(&h->h_mu);
    h->h_held = 1;
    pthread_cond_broadcast(&h->h_cond);
    while (!h->h_release)
        pthread_cond_wait(&h->h_cond, &h->h_mu);
    pthread_mutex_unlock(&h->h_mu);
    pthread_rwlock_unlock(&h->h_s->s_map_lock);
    return NULL;
}

START_TEST(test_never_waits_for_map_lock)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(100, 6);
    uint8_t buf[MAX];
    store_stat_t st;
    size_t len;
    holder_t h;
    pthread_t t;

    ck_assert_int_eq(ut_put_local(s, "m", d, 100, NULL), 0);
    memset(&h, 0, sizeof(h));
    h.h_s = s;
    pthread_mutex_init(&h.h_mu, NULL);
    pthread_cond_init(&h.h_cond, NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, hold_map_lock, &h), 0);
    pthread_mutex_lock(&h.h_mu);
    while (!h.h_held)
        pthread_cond_wait(&h.h_cond, &h.h_mu);
    pthread_mutex_unlock(&h.h_mu);
    /* Would hang (the test times out) if it waited for the lock. */
    ck_assert_int_eq(rd(s, "m", buf, sizeof(buf), &st, &len), -EAGAIN);
    pthread_mutex_lock(&h.h_mu);
    h.h_release = 1;
    pthread_cond_broadcast(&h.h_cond);
    pthread_mutex_unlock(&h.h_mu);
    pthread_join(t, NULL);
    ck_assert_int_eq(rd(s, "m", buf, sizeof(buf), &st, &len), 0);
    ck_assert_mem_eq(buf, d, 100);
    pthread_mutex_destroy(&h.h_mu);
    pthread_cond_destroy(&h.h_cond);
    store_close(s);
    free(d);
}
END_TEST

/* store_read_is_whole: only for a whole copy, never while following. */
START_TEST(test_is_whole)
{
    store_t *s = open_inl();
    uint8_t *d = ut_data(3 * MAX, 7);
    store_version_t v = {hlc_now(store_clock(s)) + HLC_MAKE(1000, 0), 2};
    store_reader_t *r = NULL;
    store_writer_t *w = NULL;
    store_put_opts_t po;
    store_step_t step;
    uint8_t h[STORE_HASH_LEN];

    ck_assert_int_eq(store_read_is_whole(NULL), 0);
    /* A complete file. */
    ck_assert_int_eq(ut_put_local(s, "f", d, 3 * MAX, NULL), 0);
    ck_assert_int_eq(store_read_open(s, "f", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_is_whole(r), 0); /* nothing resolved to a copy yet */
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
    ck_assert_int_eq(store_read_is_whole(r), 1);
    store_read_close(r);
    /* Inline. */
    ck_assert_int_eq(ut_put_local(s, "i", d, 10, NULL), 0);
    ck_assert_int_eq(store_read_open(s, "i", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(store_read_is_whole(r), 1);
    store_read_close(r);

    /* A replica delivery in progress: followed, not whole -- also when
     * every byte is there but the writer has not finished (its hash check
     * may still fail it). Whole once it finished. */
    blobfile_hash(d, 3 * MAX, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 3 * MAX;
    po.po_version = v;
    po.po_hash = h;
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w), 0);
    ck_assert_int_eq(store_read_open(s, "r", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_WAIT);
    ck_assert_int_eq(store_read_is_whole(r), 0);
    ck_assert_int_eq(store_put_write(w, d, 3 * MAX), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
    ck_assert_uint_eq(step.ss_len, 3 * MAX);
    ck_assert_int_eq(store_read_is_whole(r), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    store_read_consumed(r, step.ss_len);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_EOF);
    ck_assert_int_eq(store_read_is_whole(r), 1);
    store_read_close(r);
    store_close(s);
    free(d);
}
END_TEST

static Suite *read_inline_suite(void)
{
    Suite *su = suite_create("read_inline");
    TCase *tc = tcase_create("fast");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_serves_inline);
    tcase_add_test(tc, test_not_found_and_args);
    tcase_add_test(tc, test_file_backed_and_receiving);
    tcase_add_test(tc, test_bad_copy_and_damaged);
    tcase_add_test(tc, test_never_waits_for_map_lock);
    tcase_add_test(tc, test_is_whole);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(read_inline_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
