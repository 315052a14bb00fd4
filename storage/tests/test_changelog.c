/*
 * test_changelog.c -- the replication log API of the store: local log
 * seqs (st_log_seq), store_log_read order and bounds, store_log_skip
 * (markers, duplicates, idempotence), cursors (monotonic, self = local
 * seq, store_each_cursor), store_log_trim bounds and batching,
 * store_log_oldest_hlc, so_on_change, replica writes that must not move a
 * cursor, atomicity of record + log + cursor across crashes, and restart
 * persistence.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/hlc.h"
#include "storage/blobfile.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "util_store.h"

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("chlog");
}

static void teardown(void)
{
    failpoints_configure(NULL);
    ut_rm_rf(dir);
    free(dir);
}

static store_version_t ver(uint64_t ms, uint16_t origin)
{
    store_version_t v = {HLC_MAKE(ms, 0), origin};

    return v;
}

/* ------------------------------------------------ so_on_change recorder */

#define REC_MAX 256

typedef struct notes {
    pthread_mutex_t n_mu;
    size_t n_calls;
    uint16_t n_origin[REC_MAX];
    uint64_t n_seq[REC_MAX];
} notes_t;

static notes_t notes;

static void on_change(void *arg, uint16_t origin, uint64_t seq)
{
    notes_t *n = arg;

    pthread_mutex_lock(&n->n_mu);
    if (n->n_calls < REC_MAX) {
        n->n_origin[n->n_calls] = origin;
        n->n_seq[n->n_calls] = seq;
    }
    n->n_calls++;
    pthread_mutex_unlock(&n->n_mu);
}

static void notes_reset(void)
{
    pthread_mutex_lock(&notes.n_mu);
    notes.n_calls = 0;
    pthread_mutex_unlock(&notes.n_mu);
}

static size_t notes_calls(void)
{
    size_t n;

    pthread_mutex_lock(&notes.n_mu);
    n = notes.n_calls;
    pthread_mutex_unlock(&notes.n_mu);
    return n;
}

/* Asserts the last call was exactly (origin, seq) and returns the count. */
static size_t notes_assert_last(uint16_t origin, uint64_t seq)
{
    size_t n;

    pthread_mutex_lock(&notes.n_mu);
    n = notes.n_calls;
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, REC_MAX);
    ck_assert_uint_eq(notes.n_origin[n - 1], origin);
    ck_assert_uint_eq(notes.n_seq[n - 1], seq);
    pthread_mutex_unlock(&notes.n_mu);
    return n;
}

/* Highest seq notified for origin (0 if none). */
static uint64_t notes_max(uint16_t origin)
{
    uint64_t m = 0;

    pthread_mutex_lock(&notes.n_mu);
    for (size_t i = 0; i < notes.n_calls && i < REC_MAX; i++) {
        if (notes.n_origin[i] == origin && notes.n_seq[i] > m)
            m = notes.n_seq[i];
    }
    pthread_mutex_unlock(&notes.n_mu);
    return m;
}

/* -------------------------------------------------------------- helpers */

static store_t *open_node(uint16_t node, int log_changes)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = node;
    o.so_log_changes = log_changes;
    o.so_on_change = on_change;
    o.so_on_change_arg = &notes;
    notes_reset();
    return ut_open(dir, &o);
}

static int put_local_ct(store_t *s, const char *key, const char *data, const char *ctype,
                        store_stat_t *out)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    size_t len = strlen(data);
    int rc;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = (int64_t)len;
    po.po_ctype = ctype;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    rc = store_put_write(w, data, len);
    if (rc < 0) {
        store_put_abort(w);
        return rc;
    }
    return store_put_finish(w, out);
}

/* Begins a replica put of data at version v with identity (origin, seq). */
static int begin_replica(store_t *s, const char *key, const char *data, store_version_t v,
                         uint16_t origin, uint64_t seq, store_writer_t **w)
{
    store_put_opts_t po;
    uint8_t h[STORE_HASH_LEN];

    blobfile_hash(data, strlen(data), h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)strlen(data);
    po.po_version = v;
    po.po_hash = h;
    po.po_log_origin = origin;
    po.po_log_seq = seq;
    return store_put_begin(s, key, strlen(key), &po, w);
}

static int put_replica(store_t *s, const char *key, const char *data, store_version_t v,
                       uint16_t origin, uint64_t seq, store_stat_t *out)
{
    store_writer_t *w = NULL;
    int rc;

    rc = begin_replica(s, key, data, v, origin, seq, &w);
    if (rc < 0)
        return rc;
    rc = store_put_write(w, data, strlen(data));
    if (rc < 0) {
        store_put_abort(w);
        return rc;
    }
    return store_put_finish(w, out);
}

static int del_replica(store_t *s, const char *key, store_version_t v, uint16_t origin,
                       uint64_t seq)
{
    store_del_opts_t d;

    memset(&d, 0, sizeof(d));
    d.do_mode = STORE_PUT_REPLICA;
    d.do_version = v;
    d.do_log_origin = origin;
    d.do_log_seq = seq;
    return store_delete(s, key, strlen(key), &d, NULL);
}

static store_change_t mkchange(uint16_t origin, uint64_t seq, const char *key, store_version_t v,
                               store_state_t state)
{
    store_change_t c;

    memset(&c, 0, sizeof(c));
    c.sc_origin = origin;
    c.sc_seq = seq;
    snprintf(c.sc_rec.st_key, sizeof(c.sc_rec.st_key), "%s", key);
    c.sc_rec.st_klen = strlen(key);
    c.sc_rec.st_version = v;
    c.sc_rec.st_state = state;
    if (state != STORE_TOMBSTONE) {
        c.sc_rec.st_size = 3;
        memset(c.sc_rec.st_hash, 0xab, STORE_HASH_LEN);
        snprintf(c.sc_rec.st_ctype, sizeof(c.sc_rec.st_ctype), "x/y");
    }
    return c;
}

/* Log reader that collects entries. */
#define COL_MAX 200

typedef struct coll {
    size_t c_n;
    int c_stop_at; /* return 7 after this many entries (0: never) */
    store_change_t c_e[COL_MAX];
} coll_t;

static int collect(void *arg, const store_change_t *c)
{
    coll_t *col = arg;

    if (col->c_n < COL_MAX)
        col->c_e[col->c_n] = *c;
    col->c_n++;
    if (col->c_stop_at != 0 && col->c_n == (size_t)col->c_stop_at)
        return 7;
    return 0;
}

static coll_t *read_log(store_t *s, uint16_t origin, uint64_t after, size_t max, int *rc)
{
    coll_t *col = calloc(1, sizeof(*col));

    ck_assert_ptr_nonnull(col);
    *rc = store_log_read(s, origin, after, max, collect, col);
    return col;
}

/* Number of entries of origin (asserting the read succeeds). */
static size_t log_count(store_t *s, uint16_t origin)
{
    int rc;
    coll_t *col = read_log(s, origin, 0, 0, &rc);
    size_t n = col->c_n;

    ck_assert_int_eq(rc, 0);
    free(col);
    return n;
}

static uint64_t cursor(store_t *s, uint16_t origin)
{
    uint64_t seq = 12345;

    ck_assert_int_eq(store_cursor_get(s, origin, &seq), 0);
    return seq;
}

/*
 * Raw entries go straight into the log in the test's own write
 * transaction (bypassing the commit thread, which is idle meanwhile), so
 * large logs are cheap to build. The map lock is held shared so the map
 * cannot be resized under the transaction.
 */
static MDB_txn *raw_begin(store_t *s)
{
    MDB_txn *txn = NULL;

    pthread_rwlock_rdlock(&s->s_map_lock);
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    return txn;
}

static void raw_commit(store_t *s, MDB_txn *txn)
{
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    pthread_rwlock_unlock(&s->s_map_lock);
}

static void raw_add(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t first, uint64_t count,
                    uint64_t hlc)
{
    store_change_t c = mkchange(origin, 0, "raw", ver(1, origin), STORE_COMPLETE);

    c.sc_rec.st_version.sv_hlc = hlc;
    for (uint64_t i = 0; i < count; i++)
        ck_assert_int_eq(store_log_put(s, txn, origin, first + i, &c.sc_rec, 0, 0, NULL), 0);
}

static void raw_fill(store_t *s, uint16_t origin, uint64_t first, uint64_t count, uint64_t hlc)
{
    MDB_txn *txn = raw_begin(s);

    raw_add(s, txn, origin, first, count, hlc);
    raw_commit(s, txn);
}

/* Entries of origin counted straight from LMDB (seq 0 included). */
static size_t raw_count(store_t *s, uint16_t origin)
{
    uint8_t kb[STORE_LOGKEY_LEN] = {(uint8_t)(origin >> 8), (uint8_t)origin};
    MDB_val k = {STORE_LOGKEY_LEN, kb}, v;
    MDB_txn *txn;
    MDB_cursor *c;
    size_t n = 0;
    int rc;

    ck_assert_int_eq(store_rtxn_begin(s, &txn), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, s->s_db_log, &c), 0);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;

        if (((p[0] << 8) | p[1]) != origin)
            break;
        n++;
    }
    mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    return n;
}

static void raw_put_value(store_t *s, uint16_t origin, uint64_t seq, const void *val, size_t len)
{
    uint8_t kb[STORE_LOGKEY_LEN];
    MDB_val k = {STORE_LOGKEY_LEN, kb};
    MDB_val v = {len, (void *)val};
    MDB_txn *txn;

    kb[0] = (uint8_t)(origin >> 8);
    kb[1] = (uint8_t)origin;
    u64_to_be(seq, kb + 2);
    pthread_rwlock_rdlock(&s->s_map_lock);
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->s_db_log, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    pthread_rwlock_unlock(&s->s_map_lock);
}

/* ------------------------------------------------------- local changes */

START_TEST(test_local_seq)
{
    store_stat_t p1, p2, del, st;
    store_del_opts_t dop;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_version_t v;
    coll_t *col;
    int rc;
    store_t *s = open_node(1, 1);

    ck_assert_uint_eq(cursor(s, 1), 0);
    ck_assert_int_eq(put_local_ct(s, "a", "alpha", "text/plain", &p1), 0);
    ck_assert_uint_eq(p1.st_log_seq, 1);
    ck_assert_uint_eq(notes_assert_last(1, 1), 1);
    ck_assert_int_eq(put_local_ct(s, "b", "beta", NULL, &p2), 0);
    ck_assert_uint_eq(p2.st_log_seq, 2);
    ck_assert_uint_eq(notes_assert_last(1, 2), 2);
    /* Records read back never carry a log seq. */
    ck_assert_int_eq(store_stat(s, "a", 1, 0, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 0);

    /* A condition that fails inside the commit consumes no seq and
     * notifies nothing: create-only "c" loses to a put made meanwhile. */
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = 1;
    po.po_if_none_match = 1;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, "z", 1), 0);
    ck_assert_int_eq(put_local_ct(s, "c", "first", NULL, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 3);
    ck_assert_int_eq(store_put_finish(w, &st), CAIRN_EPRECOND);
    ck_assert_uint_eq(notes_assert_last(1, 3), 3);

    /* Local delete through store_delete_ex: the whole tombstone. */
    memset(&dop, 0, sizeof(dop));
    ck_assert_int_eq(store_delete_ex(s, "a", 1, &dop, &del), 0);
    ck_assert_uint_eq(del.st_log_seq, 4);
    ck_assert_int_eq(del.st_state, STORE_TOMBSTONE);
    ck_assert_str_eq(del.st_key, "a");
    ck_assert_uint_eq(del.st_klen, 1);
    ck_assert_uint_eq(del.st_file_id, 0);
    ck_assert_uint_eq(del.st_size, 0);
    ck_assert_int_eq(store_version_cmp(&del.st_version, &p1.st_version), 1);
    ck_assert_int_eq(store_stat(s, "a", 1, 1, &st), 0);
    ck_assert_int_eq(store_version_cmp(&st.st_version, &del.st_version), 0);
    ck_assert_uint_eq(notes_assert_last(1, 4), 4);
    /* The old entry point is unchanged (and logs too). */
    ck_assert_int_eq(store_delete(s, "b", 1, &dop, &v), 0);
    ck_assert_int_eq(store_stat(s, "b", 1, 1, &st), 0);
    ck_assert_int_eq(store_version_cmp(&st.st_version, &v), 0);
    ck_assert_uint_eq(notes_assert_last(1, 5), 5);
    /* A failed delete: no seq, *out untouched. */
    ck_assert_int_eq(store_delete_ex(s, "nope", 4, &dop, &del), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(del.st_log_seq, 4);
    ck_assert_uint_eq(notes_calls(), 5);
    ck_assert_uint_eq(cursor(s, 1), 5);

    /* The log holds exactly those five, with the committed contents. */
    col = read_log(s, 1, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(col->c_e[i].sc_origin, 1);
        ck_assert_uint_eq(col->c_e[i].sc_seq, i + 1);
        ck_assert_int_eq(col->c_e[i].sc_superseded, 0);
        ck_assert_uint_eq(col->c_e[i].sc_rec.st_file_id, 0);
        ck_assert_uint_eq(col->c_e[i].sc_rec.st_log_seq, 0);
    }
    ck_assert_str_eq(col->c_e[0].sc_rec.st_key, "a");
    ck_assert_uint_eq(col->c_e[0].sc_rec.st_klen, 1);
    ck_assert_int_eq(col->c_e[0].sc_rec.st_state, STORE_COMPLETE);
    ck_assert_int_eq(store_version_cmp(&col->c_e[0].sc_rec.st_version, &p1.st_version), 0);
    ck_assert_uint_eq(col->c_e[0].sc_rec.st_size, 5);
    ck_assert_mem_eq(col->c_e[0].sc_rec.st_hash, p1.st_hash, STORE_HASH_LEN);
    ck_assert_str_eq(col->c_e[0].sc_rec.st_ctype, "text/plain");
    ck_assert_str_eq(col->c_e[1].sc_rec.st_ctype, "");
    ck_assert_str_eq(col->c_e[2].sc_rec.st_key, "c");
    ck_assert_int_eq(col->c_e[3].sc_rec.st_state, STORE_TOMBSTONE);
    ck_assert_int_eq(store_version_cmp(&col->c_e[3].sc_rec.st_version, &del.st_version), 0);
    ck_assert_str_eq(col->c_e[4].sc_rec.st_key, "b");
    ck_assert_int_eq(col->c_e[4].sc_rec.st_state, STORE_TOMBSTONE);
    free(col);
    store_close(s);
}
END_TEST

/* Without so_log_changes: no seqs, no entries, no notifications. */
START_TEST(test_no_logging)
{
    store_stat_t st;
    store_del_opts_t dop;
    store_change_t c = mkchange(2, 1, "k", ver(100, 2), STORE_COMPLETE);
    store_t *s = open_node(1, 0);

    ck_assert_int_eq(put_local_ct(s, "a", "x", NULL, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 0);
    memset(&dop, 0, sizeof(dop));
    ck_assert_int_eq(store_delete_ex(s, "a", 1, &dop, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 0);
    ck_assert_int_eq(put_replica(s, "r", "y", ver(100, 2), 2, 5, NULL), 0);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(log_count(s, 1), 0);
    ck_assert_uint_eq(log_count(s, 2), 0);
    ck_assert_uint_eq(cursor(s, 1), 0);
    ck_assert_uint_eq(cursor(s, 2), 0);
    ck_assert_uint_eq(notes_calls(), 0);
    store_close(s);
}
END_TEST

/* ------------------------------------------------------------- reading */

START_TEST(test_log_read_order)
{
    MDB_txn *txn;
    coll_t *col;
    int rc;
    store_t *s = open_node(1, 1);

    /* Origins 2 and 3 interleaved and out of order, around a chunk (64). */
    txn = raw_begin(s);
    for (uint64_t i = 0; i < 150; i++) {
        uint64_t seq = (i * 37) % 150 + 1; /* a permutation of 1..150 */

        raw_add(s, txn, 2, seq, 1, 1000 + seq);
        if (i % 10 == 0)
            raw_add(s, txn, 3, seq, 1, 1000);
    }
    raw_commit(s, txn);
    ck_assert_int_eq(put_local_ct(s, "l", "x", NULL, NULL), 0);

    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 150);
    for (size_t i = 0; i < 150; i++) {
        ck_assert_uint_eq(col->c_e[i].sc_origin, 2);
        ck_assert_uint_eq(col->c_e[i].sc_seq, i + 1);
        ck_assert_uint_eq(col->c_e[i].sc_rec.st_version.sv_hlc, 1000 + i + 1);
    }
    free(col);

    /* after_seq is exclusive; max bounds the count. */
    col = read_log(s, 2, 60, 10, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 10);
    ck_assert_uint_eq(col->c_e[0].sc_seq, 61);
    ck_assert_uint_eq(col->c_e[9].sc_seq, 70);
    free(col);
    col = read_log(s, 2, 20, 100, &rc); /* crosses a chunk boundary */
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 100);
    ck_assert_uint_eq(col->c_e[99].sc_seq, 120);
    free(col);
    col = read_log(s, 2, 149, 0, &rc);
    ck_assert_uint_eq(col->c_n, 1);
    free(col);
    col = read_log(s, 2, 150, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 0);
    free(col);
    col = read_log(s, 2, UINT64_MAX, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 0);
    free(col);

    /* Other origins are separate runs. */
    ck_assert_uint_eq(log_count(s, 3), 15);
    ck_assert_uint_eq(log_count(s, 1), 1);
    ck_assert_uint_eq(log_count(s, 4), 0);

    /* fn's non-zero return stops the walk and is returned. */
    col = calloc(1, sizeof(*col));
    ck_assert_ptr_nonnull(col);
    col->c_stop_at = 70;
    ck_assert_int_eq(store_log_read(s, 2, 0, 0, collect, col), 7);
    ck_assert_uint_eq(col->c_n, 70);
    free(col);

    ck_assert_int_eq(store_log_read(s, 0, 0, 0, collect, NULL), CAIRN_EINVAL);
    ck_assert_int_eq(store_log_read(s, 2, 0, 0, NULL, NULL), CAIRN_EINVAL);
    store_close(s);
}
END_TEST

/* A malformed entry ends the walk loudly after the good ones. */
START_TEST(test_log_read_corrupt)
{
    static const uint8_t junk[] = {0x93, 0x01, 0x02};
    uint64_t hlc;
    coll_t *col;
    int rc;
    store_t *s = open_node(1, 1);

    raw_fill(s, 2, 1, 2, 500);
    raw_put_value(s, 2, 3, junk, sizeof(junk));
    raw_fill(s, 2, 4, 1, 500);
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, CAIRN_ECORRUPT);
    ck_assert_uint_eq(col->c_n, 2);
    free(col);
    col = read_log(s, 2, 3, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 1);
    free(col);
    raw_put_value(s, 5, 1, junk, sizeof(junk));
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), CAIRN_ECORRUPT);
    store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- skip */

START_TEST(test_skip)
{
    store_change_t c, bad;
    coll_t *col;
    int rc;
    store_t *s = open_node(1, 1);

    /* A change that lost LWW: marker + cursor in one go. */
    ck_assert_int_eq(put_replica(s, "k", "new", ver(900, 3), 3, 1, NULL), 0);
    notes_reset();
    c = mkchange(2, 5, "k", ver(100, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(cursor(s, 2), 5);
    ck_assert_uint_eq(notes_assert_last(2, 5), 1);
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_uint_eq(col->c_e[0].sc_seq, 5);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 1);
    ck_assert_str_eq(col->c_e[0].sc_rec.st_key, "k");
    ck_assert_int_eq(store_version_cmp(&col->c_e[0].sc_rec.st_version, &c.sc_rec.st_version), 0);
    ck_assert_uint_eq(col->c_e[0].sc_rec.st_size, 3);
    ck_assert_mem_eq(col->c_e[0].sc_rec.st_hash, c.sc_rec.st_hash, STORE_HASH_LEN);
    ck_assert_str_eq(col->c_e[0].sc_rec.st_ctype, "x/y");
    free(col);

    /* Idempotent: the same identity again (even with other contents)
     * keeps the entry, appends nothing, notifies nothing. */
    c.sc_rec.st_size = 99;
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(notes_calls(), 1);
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_uint_eq(col->c_e[0].sc_rec.st_size, 3);
    free(col);

    /* A lower seq is logged but the cursor never goes back. */
    c = mkchange(2, 3, "k", ver(90, 2), STORE_TOMBSTONE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(cursor(s, 2), 5);
    ck_assert_uint_eq(log_count(s, 2), 2);
    ck_assert_uint_eq(notes_assert_last(2, 3), 2);

    /* A duplicate of what the record holds is not a superseded marker:
     * relays of it must carry the bytes. */
    c = mkchange(4, 8, "k", ver(900, 3), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    col = read_log(s, 4, 0, 0, &rc);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 0);
    free(col);
    ck_assert_uint_eq(cursor(s, 4), 8);
    /* A key never seen here: superseded marker too. */
    c = mkchange(4, 9, "absent", ver(5, 4), STORE_TOMBSTONE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    col = read_log(s, 4, 8, 0, &rc);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 1);
    ck_assert_int_eq(col->c_e[0].sc_rec.st_state, STORE_TOMBSTONE);
    free(col);

    /* Bad input changes nothing. */
    bad = mkchange(0, 1, "k", ver(1, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(1, 1, "k", ver(1, 2), STORE_COMPLETE); /* own origin */
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(2, 0, "k", ver(1, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(2, 50, "", ver(1, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(2, 50, "k", ver(1, 2), (store_state_t)0);
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(2, 50, "k", ver(1, 0), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    bad = mkchange(2, 50, "k", ver(1, 2), STORE_COMPLETE);
    memset(bad.sc_rec.st_ctype, 'a', sizeof(bad.sc_rec.st_ctype));
    ck_assert_int_eq(store_log_skip(s, &bad), CAIRN_EINVAL);
    ck_assert_int_eq(store_log_skip(s, NULL), CAIRN_EINVAL);
    ck_assert_uint_eq(cursor(s, 2), 5);
    ck_assert_uint_eq(log_count(s, 2), 2);
    ck_assert_uint_eq(log_count(s, 1), 0);
    store_close(s);
}
END_TEST

/* ------------------------------------------------------------- cursors */

typedef struct curs {
    size_t cu_n;
    uint16_t cu_origin[16];
    uint64_t cu_seq[16];
    size_t cu_stop_at;
} curs_t;

static int cursor_cb(void *arg, uint16_t origin, uint64_t seq)
{
    curs_t *c = arg;

    if (c->cu_n < 16) {
        c->cu_origin[c->cu_n] = origin;
        c->cu_seq[c->cu_n] = seq;
    }
    c->cu_n++;
    return c->cu_n == c->cu_stop_at ? 9 : 0;
}

START_TEST(test_cursors)
{
    curs_t cu;
    store_t *s = open_node(3, 1);

    /* Only this node before anything happened. */
    memset(&cu, 0, sizeof(cu));
    ck_assert_int_eq(store_each_cursor(s, cursor_cb, &cu), 0);
    ck_assert_uint_eq(cu.cu_n, 1);
    ck_assert_uint_eq(cu.cu_origin[0], 3);
    ck_assert_uint_eq(cu.cu_seq[0], 0);

    /* Replica writes: the cursor is raised, never lowered. */
    ck_assert_int_eq(put_replica(s, "a", "1", ver(100, 2), 2, 7, NULL), 0);
    ck_assert_uint_eq(cursor(s, 2), 7);
    ck_assert_int_eq(put_replica(s, "b", "1", ver(100, 2), 2, 5, NULL), 0);
    ck_assert_uint_eq(cursor(s, 2), 7);
    ck_assert_int_eq(del_replica(s, "c", ver(100, 5), 5, 4), 0);
    ck_assert_uint_eq(cursor(s, 5), 4);
    ck_assert_int_eq(put_replica(s, "a", "2", ver(200, 2), 2, 9, NULL), 0);
    ck_assert_uint_eq(cursor(s, 2), 9);
    ck_assert_int_eq(put_local_ct(s, "l", "x", NULL, NULL), 0);
    ck_assert_uint_eq(cursor(s, 3), 1);
    ck_assert_uint_eq(cursor(s, 4), 0);

    memset(&cu, 0, sizeof(cu));
    ck_assert_int_eq(store_each_cursor(s, cursor_cb, &cu), 0);
    ck_assert_uint_eq(cu.cu_n, 3);
    ck_assert_uint_eq(cu.cu_origin[0], 2);
    ck_assert_uint_eq(cu.cu_seq[0], 9);
    ck_assert_uint_eq(cu.cu_origin[1], 3); /* self, in origin order */
    ck_assert_uint_eq(cu.cu_seq[1], 1);
    ck_assert_uint_eq(cu.cu_origin[2], 5);
    ck_assert_uint_eq(cu.cu_seq[2], 4);

    memset(&cu, 0, sizeof(cu));
    cu.cu_stop_at = 2;
    ck_assert_int_eq(store_each_cursor(s, cursor_cb, &cu), 9);
    ck_assert_uint_eq(cu.cu_n, 2);

    /* Trimming never touches cursors. */
    ck_assert_int_eq(store_log_trim(s, 2, UINT64_MAX, NULL), 0);
    ck_assert_uint_eq(cursor(s, 2), 9);

    {
        uint64_t seq;

        ck_assert_int_eq(store_cursor_get(s, 0, &seq), CAIRN_EINVAL);
        ck_assert_int_eq(store_cursor_get(s, 2, NULL), CAIRN_EINVAL);
        ck_assert_int_eq(store_each_cursor(s, NULL, NULL), CAIRN_EINVAL);
    }
    store_close(s);
}
END_TEST

/* Self sorts last when every other origin is smaller. */
START_TEST(test_cursors_self_last)
{
    curs_t cu;
    store_t *s = open_node(9, 1);

    ck_assert_int_eq(put_replica(s, "a", "1", ver(100, 2), 2, 1, NULL), 0);
    memset(&cu, 0, sizeof(cu));
    ck_assert_int_eq(store_each_cursor(s, cursor_cb, &cu), 0);
    ck_assert_uint_eq(cu.cu_n, 2);
    ck_assert_uint_eq(cu.cu_origin[0], 2);
    ck_assert_uint_eq(cu.cu_origin[1], 9);
    store_close(s);
}
END_TEST

/* ------------------------------------------------------------ trimming */

START_TEST(test_trim)
{
    size_t removed = 99;
    coll_t *col;
    int rc;
    store_t *s = open_node(2, 1);

    raw_fill(s, 1, UINT64_MAX - 3, 4, 100); /* neighbours right below and above origin 2 */
    raw_fill(s, 2, 0, 11, 100);             /* seqs 0..10 */
    raw_fill(s, 3, 0, 2, 100);
    raw_fill(s, 2, UINT64_MAX - 1, 2, 100);

    ck_assert_int_eq(store_log_trim(s, 2, 5, &removed), 0);
    ck_assert_uint_eq(removed, 6); /* 0..5 */
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 7);
    ck_assert_uint_eq(col->c_e[0].sc_seq, 6);
    free(col);
    ck_assert_int_eq(store_log_trim(s, 2, 5, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(store_log_trim(s, 2, 9, &removed), 0);
    ck_assert_uint_eq(removed, 4);
    ck_assert_uint_eq(raw_count(s, 2), 3);
    ck_assert_uint_eq(raw_count(s, 1), 4);
    ck_assert_uint_eq(raw_count(s, 3), 2);
    ck_assert_int_eq(store_log_trim(s, 2, UINT64_MAX, &removed), 0);
    ck_assert_uint_eq(removed, 3); /* 10, max-1, max */
    ck_assert_uint_eq(raw_count(s, 2), 0);
    ck_assert_uint_eq(raw_count(s, 1), 4);
    ck_assert_uint_eq(raw_count(s, 3), 2);
    ck_assert_int_eq(store_log_trim(s, 9, UINT64_MAX, NULL), 0);
    ck_assert_int_eq(store_log_trim(s, 0, 1, &removed), CAIRN_EINVAL);
    ck_assert_uint_eq(removed, 0);

    /* This node's own entries trim the same way; the local seq goes on. */
    ck_assert_int_eq(put_local_ct(s, "a", "1", NULL, NULL), 0);
    ck_assert_int_eq(put_local_ct(s, "b", "1", NULL, NULL), 0);
    ck_assert_int_eq(store_log_trim(s, 2, 1, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_uint_eq(cursor(s, 2), 2);
    {
        store_stat_t st;

        ck_assert_int_eq(put_local_ct(s, "c", "1", NULL, &st), 0);
        ck_assert_uint_eq(st.st_log_seq, 3);
    }
    store_close(s);
}
END_TEST

/* Large trims run as several bounded transactions. */
START_TEST(test_trim_batches)
{
    store_stats_t a, b;
    size_t removed = 0;
    store_t *s = open_node(1, 1);

    raw_fill(s, 2, 1, 25000, 100);
    raw_fill(s, 3, 1, 10, 100);
    store_get_stats(s, &a);
    ck_assert_int_eq(store_log_trim(s, 2, 24999, &removed), 0);
    store_get_stats(s, &b);
    ck_assert_uint_eq(removed, 24999);
    ck_assert_uint_eq(b.ss_commit_txns - a.ss_commit_txns, 3); /* 10000 + 10000 + 4999 */
    ck_assert_uint_eq(log_count(s, 2), 1);
    ck_assert_uint_eq(log_count(s, 3), 10);
    store_close(s);
}
END_TEST

/* --------------------------------------------------------- GC horizon */

START_TEST(test_oldest_hlc)
{
    store_change_t c;
    store_stat_t st;
    uint64_t hlc = 1;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_log_oldest_hlc(s, NULL), CAIRN_EINVAL);

    ck_assert_int_eq(put_local_ct(s, "l", "x", NULL, &st), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, st.st_version.sv_hlc);

    ck_assert_int_eq(put_replica(s, "a", "1", ver(500, 2), 2, 1, NULL), 0);
    ck_assert_int_eq(put_replica(s, "b", "1", ver(600, 2), 2, 2, NULL), 0);
    c = mkchange(3, 4, "c", ver(300, 3), STORE_TOMBSTONE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    c = mkchange(3, 5, "c", ver(200, 3), STORE_TOMBSTONE); /* not first of 3 */
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, HLC_MAKE(300, 0));

    ck_assert_int_eq(store_log_trim(s, 3, 5, NULL), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, HLC_MAKE(500, 0));
    ck_assert_int_eq(store_log_trim(s, 2, 1, NULL), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, HLC_MAKE(600, 0));
    ck_assert_int_eq(store_log_trim(s, 2, 2, NULL), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, st.st_version.sv_hlc);
    ck_assert_int_eq(store_log_trim(s, 1, UINT64_MAX, NULL), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), CAIRN_ENOTFOUND);

    /* The highest possible origin is seen too. */
    raw_fill(s, UINT16_MAX, 1, 1, 42);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc), 0);
    ck_assert_uint_eq(hlc, 42);
    store_close(s);
}
END_TEST

/* -------------------------------------------------- change notification */

START_TEST(test_on_change)
{
    store_writer_t *w = NULL;
    store_stat_t st;
    store_change_t c;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(put_local_ct(s, "a", "1", NULL, &st), 0);
    ck_assert_uint_eq(notes_assert_last(1, st.st_log_seq), 1);

    /* Replica put: nothing at begin, (origin, seq) once committed. */
    ck_assert_int_eq(begin_replica(s, "r", "abc", ver(100, 2), 2, 7, &w), 0);
    ck_assert_uint_eq(notes_calls(), 1);
    ck_assert_int_eq(store_put_write(w, "abc", 3), 0);
    ck_assert_int_eq(store_put_finish(w, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 0); /* only local changes have one */
    ck_assert_uint_eq(notes_assert_last(2, 7), 2);

    /* Replica delete. */
    ck_assert_int_eq(del_replica(s, "r", ver(200, 3), 3, 4), 0);
    ck_assert_uint_eq(notes_assert_last(3, 4), 3);
    /* Local delete. */
    {
        store_del_opts_t d;

        memset(&d, 0, sizeof(d));
        ck_assert_int_eq(store_delete_ex(s, "a", 1, &d, &st), 0);
        ck_assert_uint_eq(st.st_log_seq, 2);
        ck_assert_uint_eq(notes_assert_last(1, 2), 4);
    }
    /* Skip. */
    c = mkchange(2, 8, "r", ver(150, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(notes_assert_last(2, 8), 5);

    /* Nothing for failures, unlogged replica writes, trims. */
    ck_assert_int_eq(put_replica(s, "r", "old", ver(50, 2), 2, 9, NULL), CAIRN_ESTALE);
    ck_assert_int_eq(del_replica(s, "r", ver(200, 3), 3, 5), CAIRN_EEXIST);
    ck_assert_int_eq(put_replica(s, "n", "x", ver(300, 2), 0, 0, NULL), 0);
    ck_assert_int_eq(store_log_trim(s, 2, UINT64_MAX, NULL), 0);
    ck_assert_int_eq(store_log_skip(s, &c), 0); /* trimmed: appended again */
    ck_assert_uint_eq(notes_assert_last(2, 8), 6);
    ck_assert_int_eq(store_log_skip(s, &c), 0); /* now a duplicate */
    ck_assert_uint_eq(notes_calls(), 6);
    store_close(s);
}
END_TEST

/* Group commit: one call per origin per transaction with its highest
 * seq, always made before the writers of that transaction return. */
typedef struct gthr {
    store_t *g_s;
    int g_id;
    uint64_t g_seqs[10];
    int g_bad;
} gthr_t;

static void *group_put(void *arg)
{
    gthr_t *g = arg;
    char key[32];
    store_stat_t st;

    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "g/%d/%d", g->g_id, i);
        if (put_local_ct(g->g_s, key, "data", NULL, &st) != 0) {
            g->g_bad++;
            continue;
        }
        g->g_seqs[i] = st.st_log_seq;
        if (notes_max(1) < st.st_log_seq)
            g->g_bad++;
    }
    return NULL;
}

START_TEST(test_on_change_group)
{
    pthread_t th[4];
    gthr_t g[4];
    uint8_t seen[42];
    store_stats_t a, b;
    size_t calls;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(put_local_ct(s, "warm", "w", NULL, NULL), 0); /* seq 1, file ids */
    ck_assert_int_eq(failpoints_configure("store.commit.batch=sleep(2)"), 0);
    notes_reset();
    store_get_stats(s, &a);
    for (int t = 0; t < 4; t++) {
        memset(&g[t], 0, sizeof(g[t]));
        g[t].g_s = s;
        g[t].g_id = t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, group_put, &g[t]), 0);
    }
    memset(seen, 0, sizeof(seen));
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(g[t].g_bad, 0);
        for (int i = 0; i < 10; i++) {
            ck_assert_uint_ge(g[t].g_seqs[i], 2);
            ck_assert_uint_le(g[t].g_seqs[i], 41);
            ck_assert_int_eq(seen[g[t].g_seqs[i]], 0);
            seen[g[t].g_seqs[i]] = 1;
        }
    }
    store_get_stats(s, &b);
    calls = notes_calls();
    ck_assert_uint_eq(calls, b.ss_commit_txns - a.ss_commit_txns);
    ck_assert_uint_lt(calls, 40); /* batched */
    pthread_mutex_lock(&notes.n_mu);
    for (size_t i = 0; i < calls; i++) {
        ck_assert_uint_eq(notes.n_origin[i], 1);
        if (i > 0)
            ck_assert_uint_gt(notes.n_seq[i], notes.n_seq[i - 1]);
    }
    ck_assert_uint_eq(notes.n_seq[calls - 1], 41);
    pthread_mutex_unlock(&notes.n_mu);
    store_close(s);
}
END_TEST

/* ------------------------------------ replica writes that do not apply */

START_TEST(test_replica_no_cursor_move)
{
    store_writer_t *w = NULL, *w2 = NULL;
    store_put_opts_t po;
    uint8_t h[STORE_HASH_LEN];
    store_change_t c;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(put_replica(s, "k", "cur", ver(500, 2), 2, 1, NULL), 0);
    ck_assert_uint_eq(cursor(s, 2), 1);
    notes_reset();

    /* begin ESTALE: loses LWW. */
    ck_assert_int_eq(begin_replica(s, "k", "old", ver(400, 3), 3, 10, &w), CAIRN_ESTALE);
    ck_assert_ptr_null(w);
    /* begin EEXIST: this version is complete here already. */
    ck_assert_int_eq(begin_replica(s, "k", "cur", ver(500, 2), 3, 11, &w), CAIRN_EEXIST);
    /* begin EBUSY: a live writer receives this very version. */
    ck_assert_int_eq(begin_replica(s, "k", "new", ver(600, 2), 4, 1, &w), 0);
    ck_assert_int_eq(begin_replica(s, "k", "new", ver(600, 2), 3, 12, &w2), CAIRN_EBUSY);
    ck_assert_ptr_null(w2);
    /* finish ESTALE: a newer version arrived between begin and finish. */
    ck_assert_int_eq(begin_replica(s, "k", "newer", ver(700, 5), 5, 1, &w2), 0);
    ck_assert_int_eq(store_put_write(w, "new", 3), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_ESTALE);
    ck_assert_uint_eq(cursor(s, 4), 0);
    ck_assert_uint_eq(log_count(s, 4), 0);
    /* abort. */
    store_put_abort(w2);
    ck_assert_uint_eq(cursor(s, 5), 0);
    /* finish ECORRUPT: content does not match the announced hash. */
    blobfile_hash("good", 4, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 4;
    po.po_version = ver(800, 6);
    po.po_hash = h;
    po.po_log_origin = 6;
    po.po_log_seq = 3;
    ck_assert_int_eq(store_put_begin(s, "k", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, "evil", 4), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_ECORRUPT);
    ck_assert_uint_eq(cursor(s, 6), 0);
    /* Replica deletes: ESTALE and EEXIST. */
    ck_assert_int_eq(del_replica(s, "t", ver(900, 2), 2, 2), 0);
    ck_assert_uint_eq(cursor(s, 2), 2);
    ck_assert_int_eq(del_replica(s, "t", ver(850, 3), 3, 13), CAIRN_ESTALE);
    ck_assert_int_eq(del_replica(s, "t", ver(900, 2), 3, 14), CAIRN_EEXIST);

    ck_assert_uint_eq(cursor(s, 3), 0);
    ck_assert_uint_eq(log_count(s, 3), 0);
    ck_assert_uint_eq(log_count(s, 4), 0);
    ck_assert_uint_eq(log_count(s, 5), 0);
    ck_assert_uint_eq(log_count(s, 6), 0);
    ck_assert_uint_eq(log_count(s, 2), 2);
    ck_assert_uint_eq(notes_assert_last(2, 2), 1); /* only the applied delete */

    /* The replication layer records the losers with store_log_skip. */
    c = mkchange(3, 10, "k", ver(400, 3), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(cursor(s, 3), 10);
    c = mkchange(4, 1, "k", ver(600, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_uint_eq(cursor(s, 4), 1);
    store_close(s);
}
END_TEST

/* A failed commit moves neither record, log nor cursor; the re-delivery
 * moves all three together. */
START_TEST(test_replica_commit_atomic)
{
    store_writer_t *w = NULL;
    store_stat_t st;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(begin_replica(s, "k", "abc", ver(100, 2), 2, 7, &w), 0);
    ck_assert_int_eq(store_put_write(w, "abc", 3), 0);
    ck_assert_int_eq(failpoints_configure("store.commit.batch=error"), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), -EIO);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_uint_eq(cursor(s, 2), 0);
    ck_assert_uint_eq(log_count(s, 2), 0);
    ck_assert_uint_eq(notes_calls(), 0);

    ck_assert_int_eq(put_replica(s, "k", "abc", ver(100, 2), 2, 7, NULL), 0);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_uint_eq(cursor(s, 2), 7);
    ck_assert_uint_eq(log_count(s, 2), 1);
    store_close(s);
}
END_TEST

/* Runs one replica put (2, 7) or local put in a child that is killed at
 * the failpoint `fp`; returns after checking it died by SIGKILL. */
static void crash_child(const char *fp, int replica)
{
    pid_t pid;
    int status = 0;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        store_opts_t o;
        store_t *cs = NULL;

        memset(&o, 0, sizeof(o));
        o.so_dir = dir;
        o.so_node_id = 1;
        o.so_log_changes = 1;
        if (store_open(&o, &cs) < 0 || failpoints_configure(fp) < 0)
            _exit(2);
        if (replica)
            put_replica(cs, "k", "abc", ver(100, 2), 2, 7, NULL);
        else
            put_local_ct(cs, "l", "abc", NULL, NULL);
        _exit(3); /* not reached */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

START_TEST(test_crash_atomic)
{
    store_stat_t st;
    coll_t *col;
    int rc;
    store_t *s;

    /* Killed with the blob durable but the commit not made. */
    crash_child("store.write.finalized=crash", 1);
    s = open_node(1, 1);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_uint_eq(cursor(s, 2), 0);
    ck_assert_uint_eq(log_count(s, 2), 0);
    store_close(s);

    /* Killed right after the commit: record, entry and cursor all there. */
    crash_child("store.commit.after=crash", 1);
    s = open_node(1, 1);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_uint_eq(cursor(s, 2), 7);
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_uint_eq(col->c_e[0].sc_seq, 7);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 0);
    free(col);
    store_close(s);

    /* Local: the seq handed out before a crash is never handed out again. */
    crash_child("store.commit.after=crash", 0);
    s = open_node(1, 1);
    ck_assert_uint_eq(cursor(s, 1), 1);
    ck_assert_uint_eq(log_count(s, 1), 1);
    ck_assert_int_eq(put_local_ct(s, "m", "x", NULL, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 2);
    store_close(s);
}
END_TEST

/* ------------------------------------------------------------- restart */

START_TEST(test_restart)
{
    store_change_t c;
    store_stat_t st;
    curs_t cu;
    coll_t *col;
    uint64_t hlc1, hlc2;
    int rc;
    store_t *s = open_node(1, 1);

    ck_assert_int_eq(put_local_ct(s, "a", "1", "t/a", NULL), 0);
    ck_assert_int_eq(put_local_ct(s, "b", "2", NULL, NULL), 0);
    ck_assert_int_eq(put_replica(s, "r", "3", ver(100, 2), 2, 4, NULL), 0);
    c = mkchange(2, 6, "r", ver(50, 2), STORE_COMPLETE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    c = mkchange(3, 2, "q", ver(60, 3), STORE_TOMBSTONE);
    ck_assert_int_eq(store_log_skip(s, &c), 0);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc1), 0);
    store_close(s);

    s = open_node(1, 1);
    ck_assert_uint_eq(cursor(s, 1), 2);
    ck_assert_uint_eq(cursor(s, 2), 6);
    ck_assert_uint_eq(cursor(s, 3), 2);
    memset(&cu, 0, sizeof(cu));
    ck_assert_int_eq(store_each_cursor(s, cursor_cb, &cu), 0);
    ck_assert_uint_eq(cu.cu_n, 3);
    col = read_log(s, 1, 0, 0, &rc);
    ck_assert_uint_eq(col->c_n, 2);
    ck_assert_str_eq(col->c_e[0].sc_rec.st_ctype, "t/a");
    free(col);
    col = read_log(s, 2, 0, 0, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(col->c_n, 2);
    ck_assert_uint_eq(col->c_e[0].sc_seq, 4);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 0);
    ck_assert_uint_eq(col->c_e[1].sc_seq, 6);
    ck_assert_int_eq(col->c_e[1].sc_superseded, 1);
    free(col);
    col = read_log(s, 3, 0, 0, &rc);
    ck_assert_uint_eq(col->c_n, 1);
    ck_assert_int_eq(col->c_e[0].sc_superseded, 1);
    ck_assert_int_eq(col->c_e[0].sc_rec.st_state, STORE_TOMBSTONE);
    free(col);
    ck_assert_int_eq(store_log_oldest_hlc(s, &hlc2), 0);
    ck_assert_uint_eq(hlc1, hlc2);
    ck_assert_uint_eq(hlc2, HLC_MAKE(60, 0));
    ck_assert_int_eq(put_local_ct(s, "c", "4", NULL, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 3);
    ck_assert_uint_eq(notes_assert_last(1, 3), 1);
    store_close(s);
}
END_TEST

static Suite *changelog_suite(void)
{
    Suite *su = suite_create("changelog");
    TCase *tc;

    pthread_mutex_init(&notes.n_mu, NULL);
    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_local_seq);
    tcase_add_test(tc, test_no_logging);
    tcase_add_test(tc, test_log_read_order);
    tcase_add_test(tc, test_log_read_corrupt);
    tcase_add_test(tc, test_skip);
    tcase_add_test(tc, test_cursors);
    tcase_add_test(tc, test_cursors_self_last);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_trim_batches);
    tcase_add_test(tc, test_oldest_hlc);
    suite_add_tcase(su, tc);

    tc = tcase_create("notify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_on_change);
    tcase_add_test(tc, test_on_change_group);
    suite_add_tcase(su, tc);

    tc = tcase_create("replica");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_replica_no_cursor_move);
    tcase_add_test(tc, test_replica_commit_atomic);
    tcase_add_test(tc, test_crash_atomic);
    tcase_add_test(tc, test_restart);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(changelog_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
