/*
 * test_inline.c -- inline blobs: local writes of at most so_inline_max
 * bytes stored in LMDB with their record (store.h, docs/storage.md
 * "Inline blobs").
 *
 * Covers: put/get/stat/list of inline blobs and the in-memory read steps
 * (ss_mem), the threshold boundary, unknown sizes that stay inline or
 * spill to a file, overwrites inline <-> file both ways (old file
 * collected, old inline bytes removed), deletes, ranges, readers across
 * overwrites, conditional writes, the interplay with replica writes
 * (always file-backed; same-version re-delivery of an inline version is a
 * duplicate), aborts, options, counters (also across reopen), group
 * commit, map growth and a full map, damaged inline bytes, the replication
 * log, and crash cells (a forked child killed at a failpoint) for inline
 * writes.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/hlc.h"
#include "storage/blobfile.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "util_store.h"

#define MAX 4096 /* so_inline_max of most tests: small data, same code paths */

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("inline");
}

static void teardown(void)
{
    failpoints_configure(NULL);
    ut_rm_rf(dir);
    free(dir);
}

static store_stats_t stats(store_t *s)
{
    store_stats_t ss;

    store_get_stats(s, &ss);
    return ss;
}

static store_opts_t inl_opts(uint64_t max)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_max = max;
    return o;
}

static store_t *open_inl(uint64_t max)
{
    store_opts_t o = inl_opts(max);

    return ut_open(dir, &o);
}

/* Entries in the `inline` sub-database. */
static size_t inline_entries(store_t *s)
{
    MDB_txn *txn = NULL;
    MDB_stat ms;

    ck_assert_int_eq(store_rtxn_begin(s, &txn), 0);
    ck_assert_int_eq(mdb_stat(txn, s->s_db_inline, &ms), 0);
    store_rtxn_end(s, txn);
    return ms.ms_entries;
}

static size_t nfiles(void)
{
    uint64_t ids[64];

    return ut_scan_files(dir, ids, 64);
}

/* A local put of unknown size (po_size -1) in chunks of `chunk` bytes. */
static int put_unknown(store_t *s, const char *key, const uint8_t *data, size_t len, size_t chunk,
                       store_stat_t *out)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    int rc;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = -1;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;

        rc = store_put_write(w, data + off, n);
        if (rc < 0) {
            store_put_abort(w);
            return rc;
        }
    }
    return store_put_finish(w, out);
}

/* Asserts the record of key is inline (or file-backed) and well formed. */
static void assert_kind(store_t *s, const char *key, int inl)
{
    store_stat_t st;

    ck_assert_int_eq(store_stat(s, key, strlen(key), 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_int_eq(st.st_inline, inl);
    if (inl)
        ck_assert_uint_eq(st.st_file_id, 0);
    else
        ck_assert(ut_file_exists(dir, st.st_file_id));
}

/* Opens a reader, takes one DATA step and checks it is served from memory. */
static void assert_mem_step(store_t *s, const char *key, const uint8_t *data, size_t len)
{
    store_reader_t *r = NULL;
    store_step_t step;

    ck_assert_int_eq(store_read_open(s, key, strlen(key), NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    if (len == 0) {
        ck_assert_int_eq(step.ss_kind, STORE_STEP_EOF);
    } else {
        ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
        ck_assert_ptr_nonnull(step.ss_mem);
        ck_assert_int_eq(step.ss_fd, -1);
        ck_assert_uint_eq(step.ss_off, 0);
        ck_assert_uint_eq(step.ss_len, len);
        ck_assert_mem_eq(step.ss_mem, data, len);
        store_read_consumed(r, len);
        ck_assert_int_eq(store_read_next(r, &step), 0);
        ck_assert_int_eq(step.ss_kind, STORE_STEP_EOF);
    }
    store_read_close(r);
}

static int count_list(void *arg, const store_stat_t *st)
{
    int *n = arg;

    if (st->st_inline && st->st_file_id == 0)
        (*n)++;
    return 0;
}

/* ------------------------------------------------------------ basics */

START_TEST(test_put_get)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(MAX + 1, 1);
    store_stat_t st;
    int n = 0, more = 0;

    ck_assert_int_eq(ut_put_local(s, "small", d, 100, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert_uint_eq(st.st_file_id, 0);
    ck_assert_uint_eq(st.st_size, 100);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    assert_kind(s, "small", 1);
    assert_mem_step(s, "small", d, 100);
    ut_assert_content(s, "small", d, 100);
    ck_assert_uint_eq(nfiles(), 0);
    ck_assert_uint_eq(inline_entries(s), 1);

    /* The threshold is inclusive: MAX bytes inline, MAX + 1 in a file. */
    ck_assert_int_eq(ut_put_local(s, "edge", d, MAX, NULL), 0);
    assert_kind(s, "edge", 1);
    ck_assert_int_eq(ut_put_local(s, "over", d, MAX + 1, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    assert_kind(s, "over", 0);
    ut_assert_content(s, "over", d, MAX + 1);

    /* Empty blobs are inline too. */
    ck_assert_int_eq(ut_put_local(s, "empty", d, 0, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    assert_mem_step(s, "empty", d, 0);
    ck_assert_uint_eq(inline_entries(s), 3);

    ck_assert_int_eq(store_list(s, "", 0, NULL, 0, 100, count_list, &n, &more), 0);
    ck_assert_int_eq(n, 3);
    store_close(s);

    s = open_inl(MAX);
    ut_assert_content(s, "small", d, 100);
    ut_assert_content(s, "edge", d, MAX);
    ut_assert_content(s, "empty", d, 0);
    ck_assert_uint_eq(nfiles(), 1);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_unknown_size)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(3 * MAX, 2);
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;

    /* Unknown size that stays within the threshold: inline. */
    ck_assert_int_eq(put_unknown(s, "u/in", d, MAX, 1000, NULL), 0);
    assert_kind(s, "u/in", 1);
    ut_assert_content(s, "u/in", d, MAX);

    /* Crossing it mid-stream spills to a file with the buffered bytes. */
    ck_assert_int_eq(put_unknown(s, "u/spill", d, MAX + 1, 1000, NULL), 0);
    assert_kind(s, "u/spill", 0);
    ut_assert_content(s, "u/spill", d, MAX + 1);
    ck_assert_int_eq(put_unknown(s, "u/first", d, 3 * MAX, 3 * MAX, NULL), 0);
    assert_kind(s, "u/first", 0);
    ut_assert_content(s, "u/first", d, 3 * MAX);
    ck_assert_int_eq(put_unknown(s, "u/odd", d, 3 * MAX - 7, 333, NULL), 0);
    ut_assert_content(s, "u/odd", d, 3 * MAX - 7);
    ck_assert_uint_eq(nfiles(), 3);
    ck_assert_uint_eq(inline_entries(s), 1);

    /* A buffering writer counts as live; it has no file until it spills. */
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = -1;
    ck_assert_int_eq(store_put_begin(s, "u/live", 6, &po, &w), 0);
    ck_assert_uint_eq(stats(s).ss_live_writers, 1);
    ck_assert_int_eq(store_put_write(w, d, MAX), 0);
    ck_assert_uint_eq(store_put_written(w), MAX);
    ck_assert_uint_eq(nfiles(), 3);
    ck_assert_int_eq(store_put_write(w, d + MAX, 1), 0);
    ck_assert_uint_eq(nfiles(), 4);
    ck_assert_uint_eq(stats(s).ss_live_writers, 1);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    ut_assert_content(s, "u/live", d, MAX + 1);

    /* A known size above the threshold gets its file at begin. */
    po.po_size = MAX + 1;
    ck_assert_int_eq(store_put_begin(s, "u/known", 7, &po, &w), 0);
    ck_assert_uint_eq(nfiles(), 5);
    store_put_abort(w);
    ck_assert_uint_eq(nfiles(), 4);

    /* A known size within it is held to that size like a file write. */
    po.po_size = 10;
    ck_assert_int_eq(store_put_begin(s, "u/short", 7, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 11), CAIRN_ETOOBIG);
    ck_assert_int_eq(store_put_write(w, d, 9), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_EINVAL);
    ck_assert_int_eq(store_stat(s, "u/short", 7, 1, &st), CAIRN_ENOTFOUND);
    store_close(s);
    free(d);
}
END_TEST

/* Overwrites between the two kinds: the old file is collected, old inline
 * bytes are replaced or removed, counters follow. */
START_TEST(test_overwrite_kinds)
{
    store_t *s = open_inl(MAX);
    uint8_t *d1 = ut_data(100, 1), *d2 = ut_data(MAX * 2, 2), *d3 = ut_data(MAX, 3);
    uint8_t *d4 = ut_data(7, 4);
    store_stat_t st, st2;
    store_stats_t ss;

    ck_assert_int_eq(ut_put_local(s, "k", d1, 100, &st), 0);
    ck_assert_uint_eq(inline_entries(s), 1);
    ss = stats(s);
    ck_assert_uint_eq(ss.ss_blobs, 1);
    ck_assert_uint_eq(ss.ss_bytes, 100);
    ck_assert_uint_eq(ss.ss_inline_blobs, 1);
    ck_assert_uint_eq(ss.ss_inline_bytes, 100);

    /* inline -> file */
    ck_assert_int_eq(ut_put_local(s, "k", d2, MAX * 2, &st2), 0);
    ck_assert_int_gt(store_version_cmp(&st2.st_version, &st.st_version), 0);
    assert_kind(s, "k", 0);
    ck_assert_uint_eq(inline_entries(s), 0);
    ut_assert_content(s, "k", d2, MAX * 2);
    ss = stats(s);
    ck_assert_uint_eq(ss.ss_blobs, 1);
    ck_assert_uint_eq(ss.ss_bytes, MAX * 2);
    ck_assert_uint_eq(ss.ss_inline_blobs, 0);
    ck_assert_uint_eq(ss.ss_inline_bytes, 0);

    /* file -> inline: the file is collected */
    ck_assert_int_eq(ut_put_local(s, "k", d3, MAX, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert(!ut_file_exists(dir, st2.st_file_id));
    ck_assert_uint_eq(nfiles(), 0);
    ck_assert_uint_eq(inline_entries(s), 1);
    ut_assert_content(s, "k", d3, MAX);
    ck_assert_uint_ge(stats(s).ss_files_collected, 1);

    /* inline -> inline: the bytes are replaced */
    ck_assert_int_eq(ut_put_local(s, "k", d4, 7, NULL), 0);
    ck_assert_uint_eq(inline_entries(s), 1);
    ut_assert_content(s, "k", d4, 7);
    ss = stats(s);
    ck_assert_uint_eq(ss.ss_blobs, 1);
    ck_assert_uint_eq(ss.ss_bytes, 7);
    ck_assert_uint_eq(ss.ss_inline_blobs, 1);
    ck_assert_uint_eq(ss.ss_inline_bytes, 7);
    store_close(s);

    /* Counters are persisted with the records. */
    s = open_inl(MAX);
    ss = stats(s);
    ck_assert_uint_eq(ss.ss_blobs, 1);
    ck_assert_uint_eq(ss.ss_inline_bytes, 7);
    ut_assert_content(s, "k", d4, 7);
    store_close(s);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
}
END_TEST

START_TEST(test_delete)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(500, 5);
    store_del_opts_t dopt;
    store_stat_t st, ts;
    uint8_t bad[STORE_HASH_LEN] = {0};
    uint8_t *got = NULL;
    size_t n = 0;

    ck_assert_int_eq(ut_put_local(s, "d", d, 500, &st), 0);
    memset(&dopt, 0, sizeof(dopt));
    dopt.do_mode = STORE_PUT_LOCAL;
    dopt.do_if_match = bad;
    ck_assert_int_eq(store_delete_ex(s, "d", 1, &dopt, &ts), CAIRN_EPRECOND);
    ck_assert_uint_eq(inline_entries(s), 1);
    dopt.do_if_match = st.st_hash;
    ck_assert_int_eq(store_delete_ex(s, "d", 1, &dopt, &ts), 0);
    ck_assert_int_eq(ts.st_state, STORE_TOMBSTONE);
    ck_assert_int_eq(ts.st_inline, 0);
    ck_assert_uint_eq(ts.st_file_id, 0);
    ck_assert_uint_eq(inline_entries(s), 0);
    ck_assert_int_eq(store_stat(s, "d", 1, 0, &st), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_stat(s, "d", 1, 1, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    ck_assert_int_eq(ut_read_all(s, "d", 100, &got, &n, NULL), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_blobs, 0);
    ck_assert_uint_eq(stats(s).ss_inline_blobs, 0);
    ck_assert_uint_eq(stats(s).ss_tombstones, 1);

    /* A new inline version over the tombstone. */
    ck_assert_int_eq(ut_put_local(s, "d", d, 10, NULL), 0);
    ut_assert_content(s, "d", d, 10);
    store_close(s);
    free(d);
}
END_TEST

/* ------------------------------------------------------------- reads */

START_TEST(test_ranges)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(3000, 6);
    store_reader_t *r = NULL;
    store_step_t step;

    ck_assert_int_eq(ut_put_local(s, "r", d, 3000, NULL), 0);
    ck_assert_int_eq(store_read_open(s, "r", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 2999, 2), CAIRN_EINVAL);
    ck_assert_int_eq(store_read_set_range(r, 100, 500), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
    ck_assert_uint_eq(step.ss_len, 500);
    ck_assert_int_eq(step.ss_fd, -1);
    ck_assert_mem_eq(step.ss_mem, d + 100, 500);
    store_read_consumed(r, 200); /* a partial send */
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
    ck_assert_uint_eq(step.ss_len, 300);
    ck_assert_mem_eq(step.ss_mem, d + 300, 300);
    store_read_consumed(r, 300);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_EOF);
    ck_assert_int_eq(store_read_set_range(r, 0, 1), CAIRN_EINVAL); /* started */
    store_read_close(r);

    /* The last byte, and an empty range. */
    ck_assert_int_eq(store_read_open(s, "r", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 2999, 1), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_uint_eq(step.ss_len, 1);
    ck_assert_mem_eq(step.ss_mem, d + 2999, 1);
    store_read_close(r);
    ck_assert_int_eq(store_read_open(s, "r", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 3000, 0), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_EOF);
    store_read_close(r);
    store_close(s);
    free(d);
}
END_TEST

/* Reads every remaining byte of r into out (at least want bytes of room). */
static size_t drain(store_reader_t *r, uint8_t *out, size_t room)
{
    store_step_t step;
    size_t n = 0;

    for (;;) {
        ck_assert_int_eq(store_read_next(r, &step), 0);
        if (step.ss_kind == STORE_STEP_EOF)
            return n;
        ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
        ck_assert_uint_le(n + step.ss_len, room);
        ck_assert_int_eq(ut_step_copy(&step, out + n), (ssize_t)step.ss_len);
        n += step.ss_len;
        store_read_consumed(r, step.ss_len);
    }
}

START_TEST(test_readers_across_overwrite)
{
    store_t *s = open_inl(MAX);
    uint8_t *v1 = ut_data(2000, 7), *v2 = ut_data(3 * MAX, 8), *v3 = ut_data(1500, 9);
    uint8_t *got = malloc(3 * MAX);
    store_reader_t *r1 = NULL, *r2 = NULL, *r3 = NULL;
    store_stat_t st1, st3, rst;
    store_step_t step;

    /* r1 resolved inline v1 and holds its copy; r3 has sent part of it. */
    ck_assert_int_eq(ut_put_local(s, "x", v1, 2000, &st1), 0);
    ck_assert_int_eq(store_read_open(s, "x", 1, NULL, &r1, &rst), 0);
    ck_assert_int_eq(rst.st_inline, 1);
    ck_assert_int_eq(store_read_open(s, "x", 1, NULL, &r3, NULL), 0);
    ck_assert_int_eq(store_read_next(r3, &step), 0);
    ck_assert_ptr_nonnull(step.ss_mem);
    store_read_consumed(r3, 500);

    /* Overwritten by a file version, then by another inline one. */
    ck_assert_int_eq(ut_put_local(s, "x", v2, 3 * MAX, NULL), 0);
    ck_assert_int_eq(store_read_open(s, "x", 1, NULL, &r2, &rst), 0);
    ck_assert_int_eq(rst.st_inline, 0);
    ck_assert_int_eq(ut_put_local(s, "x", v3, 1500, &st3), 0);

    ck_assert_uint_eq(drain(r1, got, 3 * MAX), 2000);
    ck_assert_mem_eq(got, v1, 2000);
    ck_assert_int_eq(store_version_cmp(&store_read_stat(r1)->st_version, &st1.st_version), 0);
    ck_assert_uint_eq(drain(r3, got, 3 * MAX), 1500);
    ck_assert_mem_eq(got, v1 + 500, 1500);

    /* r2 resolved the file version, which was collected before its first
     * step: it re-resolves and, having sent nothing, serves inline v3. */
    ck_assert_uint_eq(drain(r2, got, 3 * MAX), 1500);
    ck_assert_mem_eq(got, v3, 1500);
    ck_assert_int_eq(store_read_stat(r2)->st_inline, 1);
    ck_assert_int_eq(store_version_cmp(&store_read_stat(r2)->st_version, &st3.st_version), 0);
    ck_assert_uint_ge(stats(s).ss_reads_reresolved, 1);
    store_read_close(r1);
    store_read_close(r2);
    store_read_close(r3);

    /* A reader of inline v3 when the key is deleted keeps serving v3. */
    {
        store_del_opts_t dopt;

        memset(&dopt, 0, sizeof(dopt));
        ck_assert_int_eq(store_read_open(s, "x", 1, NULL, &r1, NULL), 0);
        ck_assert_int_eq(store_delete(s, "x", 1, &dopt, NULL), 0);
        ck_assert_uint_eq(drain(r1, got, 3 * MAX), 1500);
        ck_assert_mem_eq(got, v3, 1500);
        store_read_close(r1);
    }
    store_close(s);
    free(v1);
    free(v2);
    free(v3);
    free(got);
}
END_TEST

/* Damaged inline bytes (LMDB has no checksums of its own) are never served. */
START_TEST(test_damaged_inline)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(800, 10);
    uint8_t enc[KEY_ENC_MAX];
    size_t elen = key_encode("dmg", 3, enc);
    store_reader_t *r = NULL;
    MDB_txn *txn = NULL;
    MDB_val k = {elen, enc}, v;

    ck_assert_int_eq(ut_put_local(s, "dmg", d, 800, NULL), 0);
    /* Same size, one byte flipped: the hash check catches it. */
    d[17] ^= 1;
    v.mv_size = 800;
    v.mv_data = d;
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->s_db_inline, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(store_read_open(s, "dmg", 3, NULL, &r, NULL), CAIRN_ECORRUPT);
    ck_assert_ptr_null(r);
    /* Missing bytes. */
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_del(txn, s->s_db_inline, &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(store_read_open(s, "dmg", 3, NULL, &r, NULL), CAIRN_ECORRUPT);
    /* A new version repairs the key. */
    ck_assert_int_eq(ut_put_local(s, "dmg", d, 800, NULL), 0);
    ut_assert_content(s, "dmg", d, 800);
    store_close(s);
    free(d);
}
END_TEST

/* ----------------------------------------------------------- writes */

START_TEST(test_conditional)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(300, 11);
    uint8_t bad[STORE_HASH_LEN] = {1};
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;

    ck_assert_int_eq(ut_put_local(s, "c", d, 300, &st), 0);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = 10;
    po.po_if_none_match = 1;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), CAIRN_EPRECOND);

    /* The precondition is re-checked in the commit: it fails there too. */
    po.po_if_none_match = 0;
    po.po_if_match = st.st_hash;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 10), 0);
    ck_assert_int_eq(ut_put_local(s, "c", d + 1, 20, NULL), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_EPRECOND);
    ut_assert_content(s, "c", d + 1, 20);
    ck_assert_int_eq(store_stat(s, "c", 1, 0, &st), 0);
    po.po_if_match = bad;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), CAIRN_EPRECOND);
    po.po_if_match = st.st_hash;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 10), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ut_assert_content(s, "c", d, 10);
    ck_assert_uint_eq(inline_entries(s), 1);
    ck_assert_uint_eq(nfiles(), 0);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_abort)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(2 * MAX, 12);
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = -1;
    ck_assert_int_eq(store_put_begin(s, "a", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 100), 0);
    store_put_abort(w);
    ck_assert_int_eq(store_stat(s, "a", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);

    /* Aborted after spilling: the file goes too. */
    ck_assert_int_eq(store_put_begin(s, "a", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 2 * MAX), 0);
    ck_assert_uint_eq(nfiles(), 1);
    store_put_abort(w);
    ck_assert_uint_eq(nfiles(), 0);
    ck_assert_int_eq(store_stat(s, "a", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    ck_assert_uint_eq(inline_entries(s), 0);

    /* A failing chunk of a buffered write (failpoint): abort, nothing left. */
    ck_assert_int_eq(failpoints_configure("store.write.chunk=error"), 0);
    ck_assert_int_eq(ut_put_local(s, "a", d, 100, NULL), -EIO);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_int_eq(store_stat(s, "a", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_options)
{
    store_opts_t o = inl_opts(STORE_INLINE_LIMIT + 1);
    store_t *s = NULL;
    uint8_t *d = ut_data(STORE_INLINE_DEFAULT + 1, 13);
    store_stat_t st;

    o.so_dir = dir;
    ck_assert_int_eq(store_open(&o, &s), CAIRN_EINVAL);
    ck_assert_ptr_null(s);

    /* 0: the default threshold. */
    s = open_inl(0);
    ck_assert_int_eq(ut_put_local(s, "def", d, STORE_INLINE_DEFAULT, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert_int_eq(ut_put_local(s, "def+1", d, STORE_INLINE_DEFAULT + 1, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    store_close(s);

    /* Disabled: every write is a file; existing inline blobs still read. */
    o = inl_opts(0);
    o.so_inline_disable = 1;
    s = ut_open(dir, &o);
    ck_assert_int_eq(ut_put_local(s, "off", d, 1, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    ck_assert(ut_file_exists(dir, st.st_file_id));
    ut_assert_content(s, "def", d, STORE_INLINE_DEFAULT);
    store_close(s);

    /* A smaller threshold later: old inline blobs keep their kind. */
    s = open_inl(16);
    assert_kind(s, "def", 1);
    ck_assert_int_eq(ut_put_local(s, "k16", d, 17, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);

    /* The largest allowed threshold. */
    store_close(s);
    s = open_inl(STORE_INLINE_LIMIT);
    store_close(s);
    free(d);
}
END_TEST

/* ------------------------------------------------------ replication */

START_TEST(test_replica_interplay)
{
    store_t *s = open_inl(MAX);
    uint8_t *d = ut_data(1000, 14);
    store_version_t future = {hlc_now(store_clock(s)) + HLC_MAKE(3600 * 1000, 0), 2};
    store_version_t old = {HLC_MAKE(1000, 0), 2};
    store_stat_t st, rst;
    store_writer_t *w = NULL;
    store_put_opts_t po;
    uint8_t h[STORE_HASH_LEN];

    /* Replica writes are file-backed whatever their size. */
    ck_assert_int_eq(ut_put_replica(s, "rep", d, 10, old, &st), 0);
    ck_assert_int_eq(st.st_inline, 0);
    ck_assert(ut_file_exists(dir, st.st_file_id));

    /* An inline local version... */
    ck_assert_int_eq(ut_put_local(s, "k", d, 100, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    /* ...is whole here: re-delivery of the same version is a duplicate, an
     * older one loses. */
    ck_assert_int_eq(ut_put_replica(s, "k", d, 100, st.st_version, NULL), CAIRN_EEXIST);
    ck_assert_int_eq(ut_put_replica(s, "k", d, 100, old, NULL), CAIRN_ESTALE);
    ck_assert_uint_eq(inline_entries(s), 1);

    /* A newer replica version: visible `receiving` at begin, the inline
     * bytes of the superseded version are gone in that same commit. */
    blobfile_hash(d, 1000, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 1000;
    po.po_version = future;
    po.po_hash = h;
    ck_assert_int_eq(store_put_begin(s, "k", 1, &po, &w), 0);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &rst), 0);
    ck_assert_int_eq(rst.st_state, STORE_RECEIVING);
    ck_assert_int_eq(rst.st_inline, 0);
    ck_assert_uint_eq(inline_entries(s), 0);
    ck_assert_uint_eq(stats(s).ss_inline_blobs, 0);
    ck_assert_int_eq(store_put_write(w, d, 1000), 0);
    ck_assert_int_eq(store_put_finish(w, &rst), 0);
    ck_assert_int_eq(rst.st_inline, 0);
    ut_assert_content(s, "k", d, 1000);

    /* A local write over it gets a version above the peer's and goes inline. */
    ck_assert_int_eq(ut_put_local(s, "k", d, 50, &st), 0);
    ck_assert_int_gt(store_version_cmp(&st.st_version, &future), 0);
    ck_assert_int_eq(st.st_inline, 1);
    ck_assert(!ut_file_exists(dir, rst.st_file_id));
    ut_assert_content(s, "k", d, 50);
    store_close(s);
    free(d);
}
END_TEST

static int collect_one(void *arg, const store_change_t *c)
{
    store_change_t *out = arg;

    *out = *c;
    return 0;
}

START_TEST(test_log)
{
    store_opts_t o = inl_opts(MAX);
    store_change_t c;
    store_stat_t st;
    store_t *s;
    uint8_t *d = ut_data(200, 15);

    o.so_log_changes = 1;
    s = ut_open(dir, &o);
    ck_assert_int_eq(ut_put_local(s, "l", d, 200, &st), 0);
    ck_assert_uint_eq(st.st_log_seq, 1);
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(store_log_read(s, 1, 0, 0, collect_one, &c), 0);
    ck_assert_uint_eq(c.sc_seq, 1);
    ck_assert_uint_eq(c.sc_rec.st_size, 200);
    ck_assert_mem_eq(c.sc_rec.st_hash, st.st_hash, STORE_HASH_LEN);
    ck_assert_int_eq(store_version_cmp(&c.sc_rec.st_version, &st.st_version), 0);
    store_close(s);
    free(d);
}
END_TEST

/* ------------------------------------------------------ maintenance */

typedef struct gthread {
    store_t *gt_s;
    int gt_id;
    int gt_failures;
} gthread_t;

static void *group_writer(void *arg)
{
    gthread_t *g = arg;
    uint8_t data[3000];
    char key[32];

    ut_fill(data, sizeof(data), (uint64_t)g->gt_id);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "g/%d/%d", g->gt_id, i);
        if (ut_put_local(g->gt_s, key, data, sizeof(data), NULL) != 0)
            g->gt_failures++;
    }
    return NULL;
}

/* Inline writes share the group commit (and need no directory fsync). */
START_TEST(test_group_commit)
{
    store_t *s = open_inl(MAX);
    pthread_t th[8];
    gthread_t g[8];
    store_stats_t before, after;
    uint8_t data[3000];

    ck_assert_int_eq(failpoints_configure("store.commit.batch=sleep(2)"), 0);
    before = stats(s);
    for (int t = 0; t < 8; t++) {
        g[t] = (gthread_t){s, t, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, group_writer, &g[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(g[t].gt_failures, 0);
    }
    after = stats(s);
    ck_assert_uint_eq(after.ss_commits - before.ss_commits, 160);
    ck_assert_uint_lt(after.ss_commit_txns - before.ss_commit_txns, 160);
    ck_assert_uint_eq(after.ss_inline_blobs, 160);
    ck_assert_uint_eq(after.ss_inline_bytes, 160 * 3000);
    ck_assert_uint_eq(nfiles(), 0);
    ut_fill(data, sizeof(data), 5);
    ut_assert_content(s, "g/5/19", data, sizeof(data));
    store_close(s);
}
END_TEST

START_TEST(test_map_growth_and_full)
{
    store_opts_t o = inl_opts(STORE_INLINE_LIMIT);
    uint8_t *d = ut_data(60000, 16);
    char key[32];
    store_stat_t st;
    store_t *s;
    uint64_t initial;
    int i, rc = 0;

    o.so_map_size = 256 * 1024;
    o.so_map_size_max = 4 << 20;
    s = ut_open(dir, &o);
    initial = s->s_map_size;
    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "m/%03d", i);
        d[0] = (uint8_t)i;
        rc = ut_put_local(s, key, d, 60000, NULL);
        if (rc < 0)
            break;
    }
    /* The map grew and then filled up: -ENOSPC, nothing half-written. */
    ck_assert_int_eq(rc, -ENOSPC);
    ck_assert_int_gt(i, 10);
    ck_assert_uint_gt(s->s_map_size, initial);
    ck_assert_uint_eq(stats(s).ss_inline_blobs, (uint64_t)i);
    ck_assert_int_eq(store_stat(s, key, strlen(key), 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(nfiles(), 0);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    snprintf(key, sizeof(key), "m/%03d", 7);
    d[0] = 7;
    ut_assert_content(s, key, d, 60000);
    store_close(s);
    s = ut_open(dir, &o);
    ck_assert_uint_eq(stats(s).ss_inline_blobs, (uint64_t)i);
    ut_assert_content(s, key, d, 60000);
    store_close(s);
    free(d);
}
END_TEST

/* -------------------------------------------------------- crash cells */

typedef enum { OLD_NONE = 0, OLD_INLINE = 1, OLD_FILE = 2 } old_kind_t;

typedef struct crash_cell {
    const char *cc_fp; /* failpoint spec for the child */
    size_t cc_size;    /* new blob: written with unknown size in 1000-byte chunks */
    int cc_committed;  /* the crash comes after the commit */
} crash_cell_t;

static const crash_cell_t cells[] = {
    {"store.write.chunk=crash", 3000, 0},   /* first buffered chunk */
    {"store.write.chunk=crash@3", 3000, 0}, /* last buffered chunk */
    {"store.write.chunk=crash@6", 8000, 0}, /* after spilling (MAX 4096) */
    {"store.commit.batch=crash", 3000, 0},  /* commit thread, before the txn */
    {"store.commit.after=crash", 3000, 1},  /* inline version committed */
    {"store.commit.after=crash", 0, 1},     /* empty inline version committed */
    {"store.commit.after=crash", 8000, 1},  /* spilled version committed */
};
#define NCELLS (sizeof(cells) / sizeof(cells[0]))

static void child_write(const crash_cell_t *c)
{
    store_opts_t o = inl_opts(MAX);
    store_t *s = NULL;
    uint8_t *d = malloc(c->cc_size + 1);

    o.so_dir = dir;
    if (d == NULL || store_open(&o, &s) < 0)
        _exit(2);
    ut_fill(d, c->cc_size, 42);
    if (failpoints_configure(c->cc_fp) < 0)
        _exit(3);
    (void)put_unknown(s, "key", d, c->cc_size, 1000, NULL);
    _exit(4); /* the failpoint did not fire */
}

static void run_crash_cell(const crash_cell_t *c, old_kind_t old)
{
    size_t old_size = old == OLD_FILE ? 3 * MAX : 500;
    uint8_t *od = ut_data(old_size, 7);
    uint8_t *nd = ut_data(c->cc_size, 42);
    store_t *s = open_inl(MAX);
    store_stat_t st;
    int status = 0;
    pid_t pid;

    if (old != OLD_NONE)
        ck_assert_int_eq(ut_put_local(s, "key", od, old_size, NULL), 0);
    ck_assert_int_eq(ut_put_local(s, "other", od, 100, NULL), 0);
    store_close(s);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_write(c);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "%s size=%zu old=%d: child not killed (status %d)", c->cc_fp, c->cc_size, old,
                  status);

    s = open_inl(MAX);
    if (c->cc_committed) {
        ut_assert_content(s, "key", nd, c->cc_size);
        assert_kind(s, "key", c->cc_size <= MAX);
    } else if (old != OLD_NONE) {
        ut_assert_content(s, "key", od, old_size);
        assert_kind(s, "key", old == OLD_INLINE);
    } else {
        ck_assert_int_eq(store_stat(s, "key", 3, 1, &st), CAIRN_ENOTFOUND);
    }
    ut_assert_content(s, "other", od, 100);

    /* Nothing left over: only the current file-backed version has a file,
     * only the current inline versions have bytes, counters agree. */
    ck_assert_int_eq(store_stat(s, "key", 3, 1, &st) == 0 && !st.st_inline ? 1 : 0, (int)nfiles());
    ck_assert_uint_eq(inline_entries(s),
                      1 + (store_stat(s, "key", 3, 0, &st) == 0 && st.st_inline));
    ck_assert_uint_eq(stats(s).ss_blobs, 1 + (store_stat(s, "key", 3, 0, &st) == 0));
    ck_assert_uint_eq(stats(s).ss_inline_blobs, inline_entries(s));

    /* The store goes on: a new inline version, and a file one. */
    ck_assert_int_eq(ut_put_local(s, "key", nd, c->cc_size < 10 ? c->cc_size : 10, NULL), 0);
    {
        uint8_t *bd = ut_data(MAX + 1, 8);

        ck_assert_int_eq(ut_put_local(s, "big", bd, MAX + 1, NULL), 0);
        assert_kind(s, "big", 0);
        free(bd);
    }
    store_close(s);
    free(od);
    free(nd);
}

START_TEST(test_crash)
{
    run_crash_cell(&cells[(size_t)_i % NCELLS], (old_kind_t)((size_t)_i / NCELLS));
}
END_TEST

static Suite *inline_suite(void)
{
    Suite *su = suite_create("inline");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_put_get);
    tcase_add_test(tc, test_unknown_size);
    tcase_add_test(tc, test_overwrite_kinds);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_conditional);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_options);
    suite_add_tcase(su, tc);

    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_readers_across_overwrite);
    tcase_add_test(tc, test_damaged_inline);
    suite_add_tcase(su, tc);

    tc = tcase_create("replication");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_replica_interplay);
    tcase_add_test(tc, test_log);
    suite_add_tcase(su, tc);

    tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_map_growth_and_full);
    suite_add_tcase(su, tc);

    tc = tcase_create("crash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_crash, 0, (int)(3 * NCELLS));
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(inline_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
