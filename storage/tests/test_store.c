/*
 * test_store.c -- the local store: records, write sessions, last-writer-
 * wins, conditional writes, the read algorithm (following live writers,
 * re-resolving past leftovers, repair), GC, recovery, map growth, group
 * commit and limits. Multi-process crash cells live in test_crash.c.
 * Every store here is opened with inline blobs off: this suite tests the
 * file-backed path (files, fsyncs, file ids); test_inline.c covers inline
 * blobs and their interplay with files.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/hlc.h"
#include "common/pack.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "util_store.h"

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("store");
}

static void teardown(void)
{
    failpoints_configure(NULL);
    ut_rm_rf(dir);
    free(dir);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static store_version_t ver(uint64_t ms, uint16_t origin)
{
    store_version_t v = {HLC_MAKE(ms, 0), origin};

    return v;
}

static store_stats_t stats(store_t *s)
{
    store_stats_t ss;

    store_get_stats(s, &ss);
    return ss;
}

/* Repair callback recorder (called from store threads). */
typedef struct repairs {
    int rp_calls;
    uint64_t rp_fid;
    char rp_key[64];
} repairs_t;

static void on_repair(void *arg, const char *key, size_t klen, const store_version_t *v,
                      uint64_t fid)
{
    repairs_t *r = arg;

    (void)v;
    if (klen < sizeof(r->rp_key)) {
        memcpy(r->rp_key, key, klen);
        r->rp_key[klen] = '\0';
    }
    __atomic_store_n(&r->rp_fid, fid, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&r->rp_calls, 1, __ATOMIC_SEQ_CST);
}

static int repair_calls(repairs_t *r)
{
    return __atomic_load_n(&r->rp_calls, __ATOMIC_SEQ_CST);
}

static store_t *open_with_repairs(repairs_t *rp)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_repair = on_repair;
    o.so_repair_arg = rp;
    return ut_open(dir, &o);
}

/* Begins a replica write of data at v; the caller writes and finishes. */
static store_writer_t *begin_replica(store_t *s, const char *key, const uint8_t *data, size_t len,
                                     store_version_t v, int *rc_out)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    uint8_t h[16];
    int rc;

    blobfile_hash(data, len, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)len;
    po.po_version = v;
    po.po_hash = h;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc_out != NULL)
        *rc_out = rc;
    else
        ck_assert_msg(rc == 0, "begin %s: %s", key, cairn_strerror(rc));
    return w;
}

/* ------------------------------------------------------------ basics */

START_TEST(test_put_get_stat)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *data = ut_data(100000, 1);
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_stat_t st, st2;
    uint8_t h[16];

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = -1; /* unknown size */
    po.po_ctype = "text/plain";
    ck_assert_int_eq(store_put_begin(s, "k1", 2, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, data, 40000), 0);
    ck_assert_uint_eq(store_put_written(w), 40000);
    /* Not visible before finish. */
    ck_assert_int_eq(store_stat(s, "k1", 2, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_live_writers, 1);
    ck_assert_int_eq(store_put_write(w, data + 40000, 60000), 0);
    ck_assert_int_eq(store_put_finish(w, &st), 0);

    blobfile_hash(data, 100000, h);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    ck_assert_uint_eq(st.st_size, 100000);
    ck_assert_uint_eq(st.st_version.sv_origin, 1);
    ck_assert_uint_ne(st.st_file_id, 0);
    ck_assert_mem_eq(st.st_hash, h, 16);
    ck_assert_str_eq(st.st_ctype, "text/plain");
    ck_assert_str_eq(st.st_key, "k1");
    ck_assert_int_eq(store_stat(s, "k1", 2, 0, &st2), 0);
    ck_assert_str_eq(st2.st_key, "k1");
    ck_assert_uint_eq(st2.st_klen, 2);
    ck_assert_int_eq(store_version_cmp(&st2.st_version, &st.st_version), 0);
    ck_assert_int_eq(st2.st_state, STORE_COMPLETE);
    ck_assert_uint_eq(st2.st_file_id, st.st_file_id);
    ck_assert_uint_eq(st2.st_size, st.st_size);
    ck_assert_mem_eq(st2.st_hash, h, 16);
    ck_assert_str_eq(st2.st_ctype, "text/plain");
    ut_assert_content(s, "k1", data, 100000);

    /* Empty blob. */
    ck_assert_int_eq(ut_put_local(s, "empty", data, 0, &st), 0);
    ck_assert_uint_eq(st.st_size, 0);
    ut_assert_content(s, "empty", data, 0);

    ck_assert_uint_eq(stats(s).ss_blobs, 2);
    ck_assert_uint_eq(stats(s).ss_bytes, 100000);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);

    /* Absent and invalid keys. */
    store_reader_t *r = NULL;
    ck_assert_int_eq(store_stat(s, "nope", 4, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_read_open(s, "nope", 4, NULL, &r, NULL), CAIRN_ENOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(store_stat(s, "", 0, 0, &st), CAIRN_EINVAL);
    ck_assert_int_eq(store_stat(s, "\xff", 1, 0, &st), CAIRN_EINVAL);
    ck_assert_int_eq(store_put_begin(s, "\xc0\x80", 2, &po, &w), CAIRN_EINVAL);
    ck_assert_ptr_null(w);

    /* Persisted across a clean restart. */
    store_close(s);
    s = ut_open(dir, NULL);
    ut_assert_content(s, "k1", data, 100000);
    ck_assert_uint_eq(stats(s).ss_blobs, 2);
    ck_assert_uint_eq(stats(s).ss_bytes, 100000);
    store_close(s);
    free(data);
}
END_TEST

START_TEST(test_overwrite_collects_old_file)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *a = ut_data(5000, 2), *b = ut_data(7000, 3);
    store_stat_t s1, s2;
    uint64_t ids[8];

    ck_assert_int_eq(ut_put_local(s, "k", a, 5000, &s1), 0);
    ck_assert(ut_file_exists(dir, s1.st_file_id));
    ck_assert_int_eq(ut_put_local(s, "k", b, 7000, &s2), 0);
    ck_assert_int_gt(store_version_cmp(&s2.st_version, &s1.st_version), 0);
    ck_assert_uint_gt(s2.st_file_id, s1.st_file_id);
    ck_assert(!ut_file_exists(dir, s1.st_file_id));
    ck_assert(ut_file_exists(dir, s2.st_file_id));
    ck_assert_uint_eq(stats(s).ss_files_collected, 1);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 1);
    ut_assert_content(s, "k", b, 7000);
    ck_assert_uint_eq(stats(s).ss_blobs, 1);
    ck_assert_uint_eq(stats(s).ss_bytes, 7000);
    store_close(s);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_delete)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *a = ut_data(3000, 4);
    store_del_opts_t dop;
    store_version_t dv;
    store_stat_t st, ts;
    uint8_t *got = NULL;
    size_t n = 0;

    memset(&dop, 0, sizeof(dop));
    ck_assert_int_eq(store_delete(s, "x", 1, &dop, &dv), CAIRN_ENOTFOUND);
    ck_assert_int_eq(ut_put_local(s, "x", a, 3000, &st), 0);
    ck_assert_int_eq(store_delete(s, "x", 1, &dop, &dv), 0);
    ck_assert_int_gt(store_version_cmp(&dv, &st.st_version), 0);
    ck_assert_int_eq(store_stat(s, "x", 1, 0, &ts), CAIRN_ENOTFOUND);
    ck_assert_int_eq(store_stat(s, "x", 1, 1, &ts), 0);
    ck_assert_int_eq(ts.st_state, STORE_TOMBSTONE);
    ck_assert_uint_eq(ts.st_file_id, 0);
    ck_assert_int_eq(store_version_cmp(&ts.st_version, &dv), 0);
    ck_assert_int_eq(ut_read_all(s, "x", 500, &got, &n, NULL), CAIRN_ENOTFOUND);
    ck_assert(!ut_file_exists(dir, st.st_file_id));
    ck_assert_int_eq(store_delete(s, "x", 1, &dop, &dv), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_tombstones, 1);
    ck_assert_uint_eq(stats(s).ss_blobs, 0);
    ck_assert_uint_eq(stats(s).ss_bytes, 0);

    /* A new put replaces the tombstone. */
    ck_assert_int_eq(ut_put_local(s, "x", a, 10, &st), 0);
    ck_assert_uint_eq(stats(s).ss_tombstones, 0);
    ut_assert_content(s, "x", a, 10);
    store_close(s);
    s = ut_open(dir, NULL);
    ck_assert_uint_eq(stats(s).ss_tombstones, 0);
    ck_assert_uint_eq(stats(s).ss_blobs, 1);
    store_close(s);
    free(a);
}
END_TEST

/* --------------------------------------------------------------- list */

typedef struct lacc {
    char la_keys[16][600];
    size_t la_n;
    int la_stop_at; /* return 7 after this many (0: never) */
} lacc_t;

static int list_cb(void *arg, const store_stat_t *st)
{
    lacc_t *a = arg;

    ck_assert_uint_lt(a->la_n, 16);
    ck_assert_uint_lt(st->st_klen, 600);
    memcpy(a->la_keys[a->la_n], st->st_key, st->st_klen + 1);
    a->la_n++;
    if (a->la_stop_at != 0 && (int)a->la_n == a->la_stop_at)
        return 7;
    return 0;
}

static int do_list(store_t *s, const char *prefix, const char *after, size_t limit, lacc_t *a,
                   int *more)
{
    memset(a, 0, sizeof(*a));
    return store_list(s, prefix, strlen(prefix), after, after ? strlen(after) : 0, limit, list_cb,
                      a, more);
}

START_TEST(test_list)
{
    store_t *s = ut_open(dir, NULL);
    const char *keys[] = {"a/1", "a/3", "a/2", "b/1", "a/2x", "a/4"};
    store_del_opts_t dop;
    char longk[3][480];
    lacc_t a;
    int more;

    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(ut_put_local(s, keys[i], "v", 1, NULL), 0);
    memset(&dop, 0, sizeof(dop));
    ck_assert_int_eq(store_delete(s, "a/4", 3, &dop, NULL), 0);
    for (int i = 0; i < 3; i++) {
        memset(longk[i], 'L', 460);
        snprintf(longk[i] + 460, 20, "%d", 3 - i);
        ck_assert_int_eq(ut_put_local(s, longk[i], "v", 1, NULL), 0);
    }

    ck_assert_int_eq(do_list(s, "a/", NULL, 10, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 4);
    ck_assert_str_eq(a.la_keys[0], "a/1");
    ck_assert_str_eq(a.la_keys[1], "a/2");
    ck_assert_str_eq(a.la_keys[2], "a/2x");
    ck_assert_str_eq(a.la_keys[3], "a/3");
    ck_assert_int_eq(more, 0);

    ck_assert_int_eq(do_list(s, "a/", NULL, 2, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 2);
    ck_assert_int_eq(more, 1);
    ck_assert_int_eq(do_list(s, "a/", "a/2", 2, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 2);
    ck_assert_str_eq(a.la_keys[0], "a/2x");
    ck_assert_str_eq(a.la_keys[1], "a/3");
    ck_assert_int_eq(more, 0);
    /* `after` before the prefix range starts at the prefix. */
    ck_assert_int_eq(do_list(s, "b/", "a/9", 5, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 1);
    ck_assert_str_eq(a.la_keys[0], "b/1");

    ck_assert_int_eq(do_list(s, "", NULL, 100, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 8);
    ck_assert_int_eq(do_list(s, "zzz", NULL, 100, &a, &more), 0);
    ck_assert_uint_eq(a.la_n, 0);

    /* Keys sharing their first 448+ bytes: pagination visits each once. */
    {
        char prefix[461];
        char seen[3][600];
        char after[600] = "";
        size_t nseen = 0;

        memset(prefix, 'L', 460);
        prefix[460] = '\0';
        for (int page = 0; page < 3; page++) {
            ck_assert_int_eq(do_list(s, prefix, page ? after : NULL, 1, &a, &more), 0);
            ck_assert_uint_eq(a.la_n, 1);
            ck_assert_int_eq(more, page < 2);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", a.la_keys[0]);
            snprintf(after, sizeof(after), "%s", a.la_keys[0]);
        }
        for (int i = 0; i < 3; i++) {
            int found = 0;

            for (size_t j = 0; j < nseen; j++)
                found += strcmp(seen[j], longk[i]) == 0;
            ck_assert_int_eq(found, 1);
        }
    }

    /* The callback's non-zero return stops the walk and is returned. */
    memset(&a, 0, sizeof(a));
    a.la_stop_at = 1;
    ck_assert_int_eq(store_list(s, "a/", 2, NULL, 0, 10, list_cb, &a, &more), 7);
    ck_assert_uint_eq(a.la_n, 1);
    store_close(s);
}
END_TEST

/* ---------------------------------------------------- last writer wins */

START_TEST(test_replica_lww)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *d = ut_data(2000, 5);
    store_stat_t st, st1, st2;
    store_del_opts_t dop;
    store_version_t v;
    uint64_t ids[16];
    size_t nfiles;

    ck_assert_int_eq(ut_put_replica(s, "k", d, 100, ver(1000, 2), &st1), 0);
    ck_assert_int_eq(st1.st_state, STORE_COMPLETE);
    ck_assert_int_eq(store_version_cmp(&st1.st_version, &(store_version_t){HLC_MAKE(1000, 0), 2}),
                     0);
    nfiles = ut_scan_files(dir, ids, 16);
    /* Older, and equal time with a lower origin: stale, nothing created. */
    ck_assert_int_eq(ut_put_replica(s, "k", d, 200, ver(500, 2), NULL), CAIRN_ESTALE);
    ck_assert_int_eq(ut_put_replica(s, "k", d, 200, ver(1000, 1), NULL), CAIRN_ESTALE);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 16), nfiles);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    /* Equal time, higher origin wins. */
    ck_assert_int_eq(ut_put_replica(s, "k", d, 300, ver(1000, 3), &st2), 0);
    ck_assert(!ut_file_exists(dir, st1.st_file_id));
    ut_assert_content(s, "k", d, 300);

    /* A replica version from the future: local writes still beat it. */
    v.sv_hlc = HLC_MAKE(hlc_wall_ms() + 3600 * 1000, 5);
    v.sv_origin = 2;
    ck_assert_int_eq(ut_put_replica(s, "k", d, 400, v, NULL), 0);
    ck_assert_int_eq(ut_put_local(s, "k", d, 500, &st), 0);
    ck_assert_int_gt(store_version_cmp(&st.st_version, &v), 0);
    ut_assert_content(s, "k", d, 500);

    /* Replica deletes. */
    memset(&dop, 0, sizeof(dop));
    dop.do_mode = STORE_PUT_REPLICA;
    dop.do_version = v; /* older than the local write */
    ck_assert_int_eq(store_delete(s, "k", 1, &dop, NULL), CAIRN_ESTALE);
    dop.do_version = st.st_version;
    dop.do_version.sv_hlc++;
    ck_assert_int_eq(store_delete(s, "k", 1, &dop, NULL), 0);
    ck_assert_int_eq(store_delete(s, "k", 1, &dop, NULL), CAIRN_EEXIST);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st2), CAIRN_ENOTFOUND);
    ck_assert_int_eq(ut_put_replica(s, "k", d, 10, st.st_version, NULL), CAIRN_ESTALE);

    /* A tombstone for an absent key still beats older puts. */
    dop.do_version = ver(100, 2);
    ck_assert_int_eq(store_delete(s, "fresh", 5, &dop, NULL), 0);
    ck_assert_int_eq(ut_put_replica(s, "fresh", d, 10, ver(50, 2), NULL), CAIRN_ESTALE);
    ck_assert_int_eq(ut_put_replica(s, "fresh", d, 10, ver(200, 2), NULL), 0);
    ut_assert_content(s, "fresh", d, 10);
    ck_assert_uint_eq(stats(s).ss_tombstones, 1);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_same_version_redelivery)
{
    repairs_t rp;
    memset(&rp, 0, sizeof(rp));
    store_t *s = open_with_repairs(&rp);
    uint8_t *d = ut_data(50000, 6);
    store_version_t v = ver(3000, 2);
    store_stat_t st, st2;
    store_writer_t *w, *w2;
    int rc;

    /* Complete and intact: a duplicate. */
    ck_assert_int_eq(ut_put_replica(s, "a", d, 50000, v, &st), 0);
    ck_assert_int_eq(ut_put_replica(s, "a", d, 50000, v, NULL), CAIRN_EEXIST);

    /* A live writer on the version: busy. */
    w = begin_replica(s, "b", d, 50000, v, NULL);
    ck_assert_int_eq(store_stat(s, "b", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_int_eq(store_put_write(w, d, 20000), 0);
    w2 = begin_replica(s, "b", d, 50000, v, &rc);
    ck_assert_int_eq(rc, CAIRN_EBUSY);
    ck_assert_ptr_null(w2);

    /* Abort: the record stays `receiving` on a leftover, reported. */
    store_put_abort(w);
    ck_assert_int_eq(repair_calls(&rp), 1);
    ck_assert_uint_eq(rp.rp_fid, st.st_file_id);
    ck_assert_str_eq(rp.rp_key, "b");
    ck_assert_int_eq(store_stat(s, "b", 1, 0, &st2), 0);
    ck_assert_int_eq(st2.st_state, STORE_RECEIVING);
    ck_assert(!ut_file_exists(dir, st.st_file_id));
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 1);
    memset(&rp, 0, sizeof(rp));
    ck_assert_int_eq(store_each_repair(s, on_repair, &rp), 0);
    ck_assert_int_eq(rp.rp_calls, 1);
    ck_assert_str_eq(rp.rp_key, "b");

    /* Same-version re-delivery into a fresh file is accepted. */
    ck_assert_int_eq(ut_put_replica(s, "b", d, 50000, v, &st2), 0);
    ck_assert_uint_ne(st2.st_file_id, st.st_file_id);
    ck_assert_int_eq(st2.st_state, STORE_COMPLETE);
    ut_assert_content(s, "b", d, 50000);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 0);

    /* A complete record whose file got damaged takes the same version again. */
    {
        char blobs[1024], path[2048];

        snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
        blobfile_path(blobs, st2.st_file_id, path, sizeof(path));
        ck_assert_int_eq(truncate(path, 100), 0);
        ck_assert_int_eq(ut_put_replica(s, "b", d, 50000, v, &st), 0);
        ck_assert_uint_ne(st.st_file_id, st2.st_file_id);
        ck_assert(!ut_file_exists(dir, st2.st_file_id));
        ut_assert_content(s, "b", d, 50000);
    }
    store_close(s);
    free(d);
}
END_TEST

/* A replica version is visible at begin; the previous complete file is
 * kept until the new version completes, then collected. */
START_TEST(test_replica_visible_at_begin)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *d = ut_data(10000, 7);
    store_stat_t st1, st, fin;
    store_writer_t *w;

    ck_assert_int_eq(ut_put_replica(s, "k", d, 10000, ver(100, 2), &st1), 0);
    w = begin_replica(s, "k", d, 10000, ver(200, 2), NULL);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_uint_eq(st.st_version.sv_hlc, HLC_MAKE(200, 0));
    ck_assert_uint_eq(st.st_size, 10000);
    ck_assert(ut_file_exists(dir, st1.st_file_id));
    ck_assert_int_eq(store_put_write(w, d, 10000), 0);
    ck_assert_int_eq(store_put_finish(w, &fin), 0);
    ck_assert_int_eq(fin.st_state, STORE_COMPLETE);
    ck_assert_uint_eq(fin.st_file_id, st.st_file_id);
    ck_assert(!ut_file_exists(dir, st1.st_file_id));
    ck_assert_uint_eq(stats(s).ss_blobs, 1);
    store_close(s);
    free(d);
}
END_TEST

/* ------------------------------------------------- conditional writes */

START_TEST(test_conditional_local)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *a = ut_data(1000, 8), *b = ut_data(1000, 9);
    uint8_t ha[16], wrong[16];
    store_put_opts_t po;
    store_writer_t *w = NULL, *w1 = NULL, *w2 = NULL;
    store_del_opts_t dop;
    store_stat_t st;
    uint64_t ids[8];
    size_t nfiles;

    ck_assert_int_eq(ut_put_local(s, "c", a, 1000, &st), 0);
    memcpy(ha, st.st_hash, 16);
    memset(wrong, 0xab, 16);

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = 1000;
    po.po_if_none_match = 1;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), CAIRN_EPRECOND);
    po.po_if_none_match = 0;
    po.po_if_match = wrong;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), CAIRN_EPRECOND);
    ck_assert_int_eq(store_put_begin(s, "absent", 6, &po, &w), CAIRN_EPRECOND);
    po.po_if_match = ha;
    ck_assert_int_eq(store_put_begin(s, "c", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, b, 1000), 0);
    ck_assert_int_eq(store_put_finish(w, &st), 0);
    ut_assert_content(s, "c", b, 1000);

    /* Checked atomically with the commit: two create-only writers race. */
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = 1000;
    po.po_if_none_match = 1;
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w1), 0);
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w2), 0);
    ck_assert_int_eq(store_put_write(w1, a, 1000), 0);
    ck_assert_int_eq(store_put_write(w2, b, 1000), 0);
    ck_assert_int_eq(store_put_finish(w1, NULL), 0);
    ck_assert_int_eq(store_put_finish(w2, NULL), CAIRN_EPRECOND);
    ut_assert_content(s, "r", a, 1000);
    nfiles = ut_scan_files(dir, ids, 8);
    ck_assert_uint_eq(nfiles, 2); /* "c" and "r": the loser's file is gone */

    /* Conditional delete. */
    memset(&dop, 0, sizeof(dop));
    dop.do_if_match = wrong;
    ck_assert_int_eq(store_delete(s, "c", 1, &dop, NULL), CAIRN_EPRECOND);
    dop.do_if_match = st.st_hash;
    ck_assert_int_eq(store_delete(s, "c", 1, &dop, NULL), 0);
    store_close(s);
    free(a);
    free(b);
}
END_TEST

/* -------------------------------------------------------------- reads */

typedef struct slow_writer {
    store_t *sw_s;
    const uint8_t *sw_data;
    size_t sw_len;
    size_t sw_chunk;
    unsigned sw_pause_ms;
    store_version_t sw_v;
    int sw_begun;
    int sw_finished;
    int sw_rc;
    int sw_bad_hash;
    int sw_abort_after; /* abort after this many chunks (0: never) */
} slow_writer_t;

/* Replica writer in its own thread: begin, chunks with pauses, finish. */
static void *slow_writer_main(void *arg)
{
    slow_writer_t *sw = arg;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    uint8_t h[16];
    int rc;

    blobfile_hash(sw->sw_data, sw->sw_len, h);
    if (sw->sw_bad_hash)
        h[0] ^= 1;
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)sw->sw_len;
    po.po_version = sw->sw_v;
    po.po_hash = h;
    rc = store_put_begin(sw->sw_s, "f", 1, &po, &w);
    __atomic_store_n(&sw->sw_begun, rc == 0 ? 1 : -1, __ATOMIC_SEQ_CST);
    if (rc < 0) {
        sw->sw_rc = rc;
        return NULL;
    }
    for (size_t off = 0; off < sw->sw_len && rc == 0; off += sw->sw_chunk) {
        size_t n = sw->sw_len - off < sw->sw_chunk ? sw->sw_len - off : sw->sw_chunk;

        sleep_ms(sw->sw_pause_ms);
        if (sw->sw_abort_after != 0 && off / sw->sw_chunk == (size_t)sw->sw_abort_after)
            rc = CAIRN_ESHUTDOWN;
        else
            rc = store_put_write(w, sw->sw_data + off, n);
    }
    if (rc < 0) {
        store_put_abort(w);
    } else {
        sleep_ms(sw->sw_pause_ms);
        rc = store_put_finish(w, NULL);
    }
    sw->sw_rc = rc;
    __atomic_store_n(&sw->sw_finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void wait_begun(slow_writer_t *sw)
{
    while (__atomic_load_n(&sw->sw_begun, __ATOMIC_SEQ_CST) == 0)
        sleep_ms(1);
    ck_assert_int_eq(sw->sw_begun, 1);
}

static int wakes;

static void count_wake(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&wakes, 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_follow_live_writer)
{
    store_t *s = ut_open(dir, NULL);
    size_t len = 8 * 16384;
    uint8_t *d = ut_data(len, 10);
    uint8_t *got = calloc(1, len);
    slow_writer_t sw = {s, d, len, 16384, 20, ver(500, 2), 0, 0, 0, 0};
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    store_stat_t st;
    pthread_t th;
    size_t n = 0, data_before_finish = 0;
    int nwait = 0;

    ck_assert_int_eq(pthread_create(&th, NULL, slow_writer_main, &sw), 0);
    wait_begun(&sw);
    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + 10000;
    ro.ro_wake = count_wake;
    ck_assert_int_eq(store_read_open(s, "f", 1, &ro, &r, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    for (;;) {
        store_step_t step;
        int rc = store_read_next(r, &step);

        ck_assert_msg(rc == 0, "next: %s", cairn_strerror(rc));
        if (step.ss_kind == STORE_STEP_EOF)
            break;
        if (step.ss_kind == STORE_STEP_WAIT) {
            nwait++;
            store_read_wait(r, 1000);
            continue;
        }
        ck_assert_uint_le(n + step.ss_len, len);
        ck_assert_int_eq(pread(step.ss_fd, got + n, step.ss_len, (off_t)step.ss_off),
                         (ssize_t)step.ss_len);
        if (!__atomic_load_n(&sw.sw_finished, __ATOMIC_SEQ_CST))
            data_before_finish += step.ss_len;
        n += step.ss_len;
        store_read_consumed(r, step.ss_len);
    }
    ck_assert_uint_eq(n, len);
    ck_assert_mem_eq(got, d, len);
    ck_assert_int_gt(nwait, 0);
    ck_assert_int_gt(data_before_finish, 0);
    ck_assert_int_gt(__atomic_load_n(&wakes, __ATOMIC_SEQ_CST), 0);
    /* Bounded waits: far fewer WAIT steps than would be a busy loop. */
    ck_assert_int_lt(nwait, 200);
    store_read_close(r);
    pthread_join(th, NULL);
    ck_assert_int_eq(sw.sw_rc, 0);
    ut_assert_content(s, "f", d, len);
    store_close(s);
    free(d);
    free(got);
}
END_TEST

/* Reads the next DATA step (waiting through WAITs) and consumes it. */
static int next_data(store_reader_t *r, uint8_t *buf, size_t cap, size_t *n)
{
    for (;;) {
        store_step_t step;
        int rc = store_read_next(r, &step);

        if (rc < 0)
            return rc;
        if (step.ss_kind == STORE_STEP_WAIT) {
            store_read_wait(r, 1000);
            continue;
        }
        if (step.ss_kind == STORE_STEP_EOF)
            return 1;
        ck_assert_uint_le(step.ss_len, cap);
        ck_assert_int_eq(pread(step.ss_fd, buf, step.ss_len, (off_t)step.ss_off),
                         (ssize_t)step.ss_len);
        *n = step.ss_len;
        store_read_consumed(r, step.ss_len);
        return 0;
    }
}

/*
 * A follower that consumed bytes of a replicated version:
 *  0: the version loses to a newer local write while arriving, but its
 *     delivery completes -- the follower gets that whole, verified version;
 *  1: the delivery fails its content hash -- CAIRN_ECHANGED;
 *  2: the delivery aborts and a newer version replaces it -- CAIRN_ECHANGED.
 * Never bytes of two versions, never unverified bytes at EOF.
 */
START_TEST(test_follower_outcomes)
{
    int mode = _i;
    store_t *s = ut_open(dir, NULL);
    size_t len = 4 * 8192;
    uint8_t *d = ut_data(len, 11);
    uint8_t *got = malloc(len);
    slow_writer_t sw = {s, d, len, 8192, 40, ver(700, 2), 0, 0, 0, mode == 1, mode == 2 ? 2 : 0};
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    pthread_t th;
    size_t n = 0, total = 0;
    int rc;

    ck_assert_int_eq(pthread_create(&th, NULL, slow_writer_main, &sw), 0);
    wait_begun(&sw);
    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + 5000;
    ck_assert_int_eq(store_read_open(s, "f", 1, &ro, &r, NULL), 0);
    ck_assert_int_eq(next_data(r, got, len, &n), 0);
    total = n;
    ck_assert_mem_eq(got, d, n);
    if (mode == 0)
        ck_assert_int_eq(ut_put_local(s, "f", "new", 3, NULL), 0);
    if (mode == 2) {
        pthread_join(th, NULL);
        ck_assert_int_eq(ut_put_local(s, "f", "new", 3, NULL), 0);
    }
    while ((rc = next_data(r, got + total, len - total, &n)) == 0)
        total += n;
    if (mode == 0) {
        ck_assert_int_eq(rc, 1);
        ck_assert_uint_eq(total, len);
        ck_assert_mem_eq(got, d, len);
    } else {
        ck_assert_int_eq(rc, CAIRN_ECHANGED);
    }
    store_read_close(r);
    if (mode != 2)
        pthread_join(th, NULL);
    ck_assert_int_eq(sw.sw_rc, mode == 0   ? CAIRN_ESTALE
                               : mode == 1 ? CAIRN_ECORRUPT
                                           : CAIRN_ESHUTDOWN);
    if (mode != 1)
        ut_assert_content(s, "f", "new", 3);
    store_close(s);
    free(d);
    free(got);
}
END_TEST

START_TEST(test_read_range)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *d = ut_data(1000, 12);
    uint8_t buf[2000];
    store_reader_t *r = NULL;
    size_t n = 0;

    ck_assert_int_eq(ut_put_local(s, "k", d, 1000, NULL), 0);
    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 990, 20), CAIRN_EINVAL);
    ck_assert_int_eq(store_read_set_range(r, 100, 50), 0);
    ck_assert_int_eq(next_data(r, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 50);
    ck_assert_mem_eq(buf, d + 100, 50);
    ck_assert_int_eq(next_data(r, buf, sizeof(buf), &n), 1);
    ck_assert_int_eq(store_read_set_range(r, 0, 1), CAIRN_EINVAL); /* after start */
    store_read_close(r);

    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 1000, 0), 0);
    ck_assert_int_eq(next_data(r, buf, sizeof(buf), &n), 1);
    store_read_close(r);
    store_close(s);
    free(d);
}
END_TEST

/* Before any byte is consumed a reader moves to the newest version; once
 * serving, it finishes the version it started even if it is collected. */
START_TEST(test_reader_versions)
{
    store_t *s = ut_open(dir, NULL);
    uint8_t *a = ut_data(200000, 13), *b = ut_data(300000, 14);
    uint8_t *buf = malloc(400000);
    store_reader_t *r = NULL;
    store_stat_t st1, st2, rs;
    size_t n = 0, total = 0;
    int rc;

    ck_assert_int_eq(ut_put_local(s, "k", a, 200000, &st1), 0);
    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, &rs), 0);
    ck_assert_int_eq(store_version_cmp(&rs.st_version, &st1.st_version), 0);
    ck_assert_int_eq(ut_put_local(s, "k", b, 300000, &st2), 0); /* a's file collected */
    while ((rc = next_data(r, buf + total, 400000 - total, &n)) == 0)
        total += n;
    ck_assert_int_eq(rc, 1);
    ck_assert_uint_eq(total, 300000);
    ck_assert_mem_eq(buf, b, 300000);
    ck_assert_int_eq(store_version_cmp(&store_read_stat(r)->st_version, &st2.st_version), 0);
    ck_assert_uint_ge(stats(s).ss_reads_reresolved, 1);
    store_read_close(r);

    /* Serving b: overwrite and collect b mid-read; the reader finishes b. */
    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, NULL), 0);
    ck_assert_int_eq(store_read_set_range(r, 0, 1000), 0);
    ck_assert_int_eq(next_data(r, buf, 1000, &n), 0);
    store_read_close(r);
    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, NULL), 0);
    {
        store_step_t step;

        ck_assert_int_eq(store_read_next(r, &step), 0);
        ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
        ck_assert_int_eq(pread(step.ss_fd, buf, 1000, (off_t)step.ss_off), 1000);
        store_read_consumed(r, 1000);
        total = 1000;
    }
    ck_assert_int_eq(ut_put_local(s, "k", a, 200000, NULL), 0);
    ck_assert(!ut_file_exists(dir, st2.st_file_id));
    while ((rc = next_data(r, buf + total, 400000 - total, &n)) == 0)
        total += n;
    ck_assert_int_eq(rc, 1);
    ck_assert_uint_eq(total, 300000);
    ck_assert_mem_eq(buf, b, 300000);
    store_read_close(r);

    /* Deleted before the first byte: not found. */
    ck_assert_int_eq(store_read_open(s, "k", 1, NULL, &r, NULL), 0);
    {
        store_del_opts_t dop;

        memset(&dop, 0, sizeof(dop));
        ck_assert_int_eq(store_delete(s, "k", 1, &dop, NULL), 0);
    }
    ck_assert_int_eq(next_data(r, buf, 400000, &n), CAIRN_ENOTFOUND);
    store_read_close(r);
    store_close(s);
    free(a);
    free(b);
    free(buf);
}
END_TEST

/* A leftover with no writer: the reader re-resolves, reports the key once,
 * waits (not spinning) and gives up at its deadline. */
START_TEST(test_read_leftover_deadline)
{
    repairs_t rp;
    memset(&rp, 0, sizeof(rp));
    store_t *s = open_with_repairs(&rp);
    uint8_t *d = ut_data(30000, 15);
    store_writer_t *w = begin_replica(s, "k", d, 30000, ver(900, 2), NULL);
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    uint64_t t0;
    int nsteps = 0, rc;

    ck_assert_int_eq(store_put_write(w, d, 10000), 0);
    store_put_abort(w);
    ck_assert_int_eq(repair_calls(&rp), 1);

    memset(&ro, 0, sizeof(ro));
    t0 = store_mono_ms();
    ro.ro_deadline_ms = t0 + 300;
    ck_assert_int_eq(store_read_open(s, "k", 1, &ro, &r, NULL), 0);
    for (;;) {
        store_step_t step;

        rc = store_read_next(r, &step);
        nsteps++;
        if (rc < 0)
            break;
        ck_assert_int_eq(step.ss_kind, STORE_STEP_WAIT);
        store_read_wait(r, 10000);
    }
    ck_assert_int_eq(rc, CAIRN_EUNAVAIL);
    ck_assert_uint_ge(store_mono_ms() - t0, 290);
    ck_assert_uint_lt(store_mono_ms() - t0, 2000);
    ck_assert_int_le(nsteps, 5);
    ck_assert_int_eq(repair_calls(&rp), 2); /* the reader reported it once */
    ck_assert_uint_eq(stats(s).ss_reads_reresolved, 1);
    store_read_close(r);
    store_close(s);
    free(d);
}
END_TEST

/* ------------------------------------------------- the defining scenario */

typedef struct redeliver {
    store_t *rd_s;
    const uint8_t *rd_data;
    size_t rd_len;
    store_version_t rd_v;
    unsigned rd_delay_ms;
    int rd_rc;
} redeliver_t;

static void *redeliver_main(void *arg)
{
    redeliver_t *rd = arg;
    store_writer_t *w = NULL;
    int rc;

    sleep_ms(rd->rd_delay_ms);
    w = begin_replica(rd->rd_s, "blob", rd->rd_data, rd->rd_len, rd->rd_v, &rc);
    for (size_t off = 0; rc == 0 && off < rd->rd_len; off += 65536) {
        size_t n = rd->rd_len - off < 65536 ? rd->rd_len - off : 65536;

        rc = store_put_write(w, rd->rd_data + off, n);
        sleep_ms(5);
    }
    if (rc == 0)
        rc = store_put_finish(w, NULL);
    else if (w != NULL)
        store_put_abort(w);
    rd->rd_rc = rc;
    return NULL;
}

/*
 * A node dies mid-way through receiving a replicated blob. After restart
 * the record is `receiving` on a leftover: recovery deletes the leftover
 * and reports the key; a reader re-resolves, reports it, waits; the
 * version is re-delivered into a fresh file; the reader wakes and serves
 * exactly that version's bytes.
 */
START_TEST(test_defining_scenario)
{
    size_t len = 6 * 65536 + 17;
    uint8_t *d = ut_data(len, 16);
    store_version_t v = ver(4000, 3);
    store_stat_t st;
    repairs_t rp;
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
        o.so_inline_disable = 1;
        if (store_open(&o, &cs) < 0 || failpoints_configure("store.write.chunk=crash@3") < 0)
            _exit(2);
        ut_put_replica(cs, "blob", d, len, v, NULL);
        _exit(3); /* not reached */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    memset(&rp, 0, sizeof(rp));
    store_t *s = open_with_repairs(&rp);
    ck_assert_int_eq(store_stat(s, "blob", 4, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_int_eq(store_version_cmp(&st.st_version, &v), 0);
    ck_assert_int_eq(repair_calls(&rp), 1); /* reported by recovery */
    ck_assert_uint_eq(rp.rp_fid, st.st_file_id);
    ck_assert_uint_eq(stats(s).ss_leftovers_removed, 1);
    ck_assert(!ut_file_exists(dir, st.st_file_id));

    redeliver_t rd = {s, d, len, v, 200, -1};
    pthread_t th;
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    uint8_t *got = malloc(len);
    size_t n = 0, chunk = 0;
    uint64_t t0 = store_mono_ms();
    int rc, nwait = 0;

    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = t0 + 10000;
    ck_assert_int_eq(store_read_open(s, "blob", 4, &ro, &r, NULL), 0);
    {
        store_step_t step;

        ck_assert_int_eq(store_read_next(r, &step), 0);
        ck_assert_int_eq(step.ss_kind, STORE_STEP_WAIT);
    }
    ck_assert_int_eq(repair_calls(&rp), 2); /* reported by the reader */
    ck_assert_int_eq(pthread_create(&th, NULL, redeliver_main, &rd), 0);
    store_read_wait(r, 10000);
    for (;;) {
        store_step_t step;

        rc = store_read_next(r, &step);
        ck_assert_msg(rc == 0, "next: %s", cairn_strerror(rc));
        if (step.ss_kind == STORE_STEP_EOF)
            break;
        if (step.ss_kind == STORE_STEP_WAIT) {
            nwait++;
            store_read_wait(r, 1000);
            continue;
        }
        chunk = step.ss_len;
        ck_assert_uint_le(n + chunk, len);
        ck_assert_int_eq(pread(step.ss_fd, got + n, chunk, (off_t)step.ss_off), (ssize_t)chunk);
        n += chunk;
        store_read_consumed(r, chunk);
    }
    ck_assert_uint_eq(n, len);
    ck_assert_mem_eq(got, d, len);
    ck_assert_int_eq(store_version_cmp(&store_read_stat(r)->st_version, &v), 0);
    ck_assert_uint_lt(store_mono_ms() - t0, 5000);
    ck_assert_int_lt(nwait, 100);
    store_read_close(r);
    pthread_join(th, NULL);
    ck_assert_int_eq(rd.rd_rc, 0);
    ck_assert_uint_ge(stats(s).ss_reads_reresolved, 1);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 0);
    ck_assert_int_eq(store_stat(s, "blob", 4, 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_COMPLETE);
    store_close(s);
    free(d);
    free(got);
}
END_TEST

/* ------------------------------------------------------- GC, recovery */

START_TEST(test_tombstone_gc)
{
    store_t *s = ut_open(dir, NULL);
    store_del_opts_t dop;
    store_stat_t st;
    size_t removed = 99;
    char k[16];

    memset(&dop, 0, sizeof(dop));
    for (int i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        ck_assert_int_eq(ut_put_local(s, k, "x", 1, NULL), 0);
        ck_assert_int_eq(store_delete(s, k, strlen(k), &dop, NULL), 0);
    }
    /* t5 lives again: its tombstone is gone, it must survive GC. */
    ck_assert_int_eq(ut_put_local(s, "t5", "y", 1, NULL), 0);
    ck_assert_uint_eq(stats(s).ss_tombstones, 5);

    ck_assert_int_eq(store_gc_tombstones(s, 1, 0, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    uint64_t horizon = hlc_now(store_clock(s)) + 1;
    ck_assert_int_eq(store_gc_tombstones(s, horizon, 2, &removed), 0);
    ck_assert_uint_eq(removed, 2);
    ck_assert_uint_eq(stats(s).ss_tombstones, 3);
    ck_assert_int_eq(store_gc_tombstones(s, horizon, 0, &removed), 0);
    ck_assert_uint_eq(removed, 3);
    ck_assert_uint_eq(stats(s).ss_tombstones, 0);
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "t%d", i);
        ck_assert_int_eq(store_stat(s, k, strlen(k), 1, &st), CAIRN_ENOTFOUND);
    }
    ut_assert_content(s, "t5", "y", 1);
    store_close(s);
    s = ut_open(dir, NULL);
    ck_assert_uint_eq(stats(s).ss_tombstones, 0);
    ck_assert_uint_eq(stats(s).ss_blobs, 1);
    store_close(s);
}
END_TEST

static void child_crash_mid_write(const uint8_t *big, size_t len)
{
    store_opts_t o;
    store_t *cs = NULL;

    memset(&o, 0, sizeof(o));
    o.so_dir = dir;
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    if (store_open(&o, &cs) < 0)
        _exit(2);
    if (ut_put_local(cs, "c", "ccc", 3, NULL) != 0)
        _exit(2);
    if (failpoints_configure("store.write.chunk=crash@2") < 0)
        _exit(2);
    ut_put_local(cs, "d", big, len, NULL);
    _exit(3);
}

START_TEST(test_recovery_after_crash)
{
    size_t len = 3 * 65536;
    uint8_t *a = ut_data(10000, 17), *big = ut_data(len, 18);
    uint64_t ids[16];
    uint64_t maxid = 0;
    store_stat_t st;
    size_t nfiles;
    int status = 0;
    pid_t pid;

    store_t *s = ut_open(dir, NULL);
    ck_assert_int_eq(ut_put_local(s, "a", a, 10000, NULL), 0);
    ck_assert_int_eq(ut_put_local(s, "b", a, 5000, NULL), 0);
    store_close(s);

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_crash_mid_write(big, len);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    nfiles = ut_scan_files(dir, ids, 16);
    ck_assert_uint_eq(nfiles, 4); /* a, b, c and d's leftover */
    for (size_t i = 0; i < nfiles; i++)
        maxid = ids[i] > maxid ? ids[i] : maxid;

    s = ut_open(dir, NULL);
    ck_assert_uint_eq(stats(s).ss_leftovers_removed, 1);
    ck_assert(!ut_file_exists(dir, maxid));
    ck_assert_uint_eq(ut_scan_files(dir, ids, 16), 3);
    ut_assert_content(s, "a", a, 10000);
    ut_assert_content(s, "b", a, 5000);
    ut_assert_content(s, "c", "ccc", 3);
    ck_assert_int_eq(store_stat(s, "d", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(stats(s).ss_blobs, 3);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    ck_assert_int_eq(ut_put_local(s, "e", "e", 1, &st), 0);
    ck_assert_uint_gt(st.st_file_id, maxid);
    store_close(s);

    /* A clean reopen has nothing to recover. */
    s = ut_open(dir, NULL);
    ck_assert_uint_eq(stats(s).ss_leftovers_removed, 0);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 16), 4);
    store_close(s);
    free(a);
    free(big);
}
END_TEST

/* Ids strictly increase across clean and unclean restarts. */
START_TEST(test_file_ids_never_reused)
{
    uint64_t last = 0;
    store_stat_t st;

    for (int round = 0; round < 4; round++) {
        if (round % 2 == 1) {
            /* Unclean: a child writes and exits without closing. */
            pid_t pid = fork();
            int status = 0;

            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                store_opts_t o;
                store_t *cs = NULL;

                memset(&o, 0, sizeof(o));
                o.so_dir = dir;
                o.so_node_id = 1;
                o.so_inline_disable = 1;
                if (store_open(&o, &cs) < 0 || ut_put_local(cs, "u", "u", 1, &st) < 0)
                    _exit(2);
                _exit(st.st_file_id > last ? 0 : 1);
            }
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        store_t *s = ut_open(dir, NULL);
        ck_assert_int_eq(store_stat(s, "u", 1, 0, &st) == 0, round >= 1);
        if (round % 2 == 1) {
            ck_assert_uint_gt(st.st_file_id, last);
            last = st.st_file_id;
        }
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(ut_put_local(s, "k", "v", 1, &st), 0);
            ck_assert_uint_gt(st.st_file_id, last);
            last = st.st_file_id;
        }
        store_close(s);
    }
}
END_TEST

/* --------------------------------------------------- map, batching, limits */

START_TEST(test_map_growth)
{
    store_opts_t o;
    store_t *s;
    char key[900];
    uint64_t initial;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_map_size = 256 * 1024;
    o.so_map_size_max = 64 << 20;
    s = ut_open(dir, &o);
    initial = s->s_map_size;
    memset(key, 'm', sizeof(key));
    for (int i = 0; i < 400; i++) {
        snprintf(key + 800, 20, "%04d", i);
        ck_assert_int_eq(ut_put_local(s, key, "v", 1, NULL), 0);
    }
    ck_assert_uint_gt(s->s_map_size, initial);
    ck_assert_uint_eq(stats(s).ss_blobs, 400);
    snprintf(key + 800, 20, "%04d", 123);
    ut_assert_content(s, key, "v", 1);
    store_close(s);
    s = ut_open(dir, &o);
    ck_assert_uint_eq(stats(s).ss_blobs, 400);
    ut_assert_content(s, key, "v", 1);
    store_close(s);
}
END_TEST

START_TEST(test_map_full_enospc)
{
    store_opts_t o;
    store_t *s;
    char key[900];
    uint64_t ids[4096];
    int i, rc = 0;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_map_size = 128 * 1024;
    o.so_map_size_max = 512 * 1024;
    s = ut_open(dir, &o);
    memset(key, 'n', sizeof(key));
    for (i = 0; i < 3000; i++) {
        snprintf(key + 800, 20, "%04d", i);
        rc = ut_put_local(s, key, "v", 1, NULL);
        if (rc != 0)
            break;
    }
    ck_assert_int_eq(rc, -ENOSPC);
    ck_assert_int_gt(i, 10);
    ck_assert_uint_eq(s->s_map_size, o.so_map_size_max);
    ck_assert_uint_eq(stats(s).ss_blobs, (uint64_t)i);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 4096), (size_t)i); /* failed put left nothing */
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);
    store_stat_t st;
    ck_assert_int_eq(store_stat(s, key, strlen(key), 1, &st), CAIRN_ENOTFOUND);
    snprintf(key + 800, 20, "%04d", 0);
    ut_assert_content(s, key, "v", 1);
    store_close(s);
}
END_TEST

typedef struct gc_thread {
    store_t *gt_s;
    int gt_id;
    int gt_n;
    int gt_failures;
} gc_thread_t;

static void *group_writer(void *arg)
{
    gc_thread_t *g = arg;
    uint8_t data[1024];
    char key[32];

    ut_fill(data, sizeof(data), (uint64_t)g->gt_id);
    for (int i = 0; i < g->gt_n; i++) {
        snprintf(key, sizeof(key), "g/%d/%d", g->gt_id, i);
        if (ut_put_local(g->gt_s, key, data, sizeof(data), NULL) != 0)
            g->gt_failures++;
    }
    return NULL;
}

static store_stats_t run_group(unsigned batch_max, int nthreads, int per_thread)
{
    store_opts_t o;
    store_t *s;
    pthread_t th[8];
    gc_thread_t g[8];
    store_stats_t before, after;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_commit_batch_max = batch_max;
    s = ut_open(dir, &o);
    /* Reserve file ids first so the measured batches are only puts. */
    ck_assert_int_eq(ut_put_local(s, "warm", "w", 1, NULL), 0);
    before = stats(s);
    for (int t = 0; t < nthreads; t++) {
        g[t] = (gc_thread_t){s, t, per_thread, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, group_writer, &g[t]), 0);
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(g[t].gt_failures, 0);
    }
    after = stats(s);
    ck_assert_uint_eq(after.ss_blobs, (uint64_t)(nthreads * per_thread + 1));
    {
        uint8_t data[1024];

        ut_fill(data, sizeof(data), 3);
        ut_assert_content(s, "g/3/7", data, sizeof(data));
    }
    store_close(s);
    after.ss_commits -= before.ss_commits;
    after.ss_commit_txns -= before.ss_commit_txns;
    return after;
}

/* Concurrent overwrites of one key: every superseded file is collected,
 * including one whose writer had committed but not yet returned when the
 * next version superseded it. */
typedef struct ow_thread {
    store_t *ot_s;
    int ot_id;
    int ot_failures;
} ow_thread_t;

static void *overwriter(void *arg)
{
    ow_thread_t *t = arg;
    uint8_t data[2048];

    ut_fill(data, sizeof(data), (uint64_t)t->ot_id);
    for (int i = 0; i < 150; i++) {
        if (ut_put_local(t->ot_s, "hot", data, sizeof(data), NULL) != 0)
            t->ot_failures++;
    }
    return NULL;
}

START_TEST(test_concurrent_overwrites_collect)
{
    store_t *s = ut_open(dir, NULL);
    pthread_t th[6];
    ow_thread_t t[6];
    uint64_t ids[64];
    store_stat_t st;

    for (int i = 0; i < 6; i++) {
        t[i] = (ow_thread_t){s, i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, overwriter, &t[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(t[i].ot_failures, 0);
    }
    /* A file superseded in the last batch while its writer was still
     * returning is unlinked by the next commit: make one. */
    ck_assert_int_eq(ut_put_local(s, "other", "o", 1, NULL), 0);
    ck_assert_int_eq(store_stat(s, "hot", 3, 0, &st), 0);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 64), 2);
    ck_assert(ut_file_exists(dir, st.st_file_id));
    ck_assert_uint_eq(stats(s).ss_files_collected, 6 * 150 - 1);
    store_close(s);
    /* ... and nothing is left for recovery to find either. */
    s = ut_open(dir, NULL);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 64), 2);
    ck_assert_uint_eq(stats(s).ss_leftovers_removed, 0);
    store_close(s);
}
END_TEST

START_TEST(test_group_commit)
{
    store_stats_t ss;

    /* Make every batch take a moment so concurrent finishers queue up. */
    ck_assert_int_eq(failpoints_configure("store.commit.batch=sleep(2)"), 0);
    ss = run_group(0, 8, 20);
    ck_assert_uint_eq(ss.ss_commits, 160);
    ck_assert_uint_lt(ss.ss_commit_txns, ss.ss_commits);
    /* Control: one commit per transaction when batching is disabled. */
    ut_rm_rf(dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ss = run_group(1, 4, 10);
    ck_assert_uint_eq(ss.ss_commits, 40);
    ck_assert_uint_eq(ss.ss_commit_txns, ss.ss_commits);
}
END_TEST

START_TEST(test_max_blob_size)
{
    store_opts_t o;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    uint8_t *d = ut_data(3000, 19);
    store_t *s;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_max_blob_size = 1000;
    s = ut_open(dir, &o);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = 1001;
    ck_assert_int_eq(store_put_begin(s, "k", 1, &po, &w), CAIRN_ETOOBIG);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(ut_put_local(s, "k", d, 1000, NULL), 0);

    /* Unknown size: refused once the stream passes the limit. */
    po.po_size = -1;
    ck_assert_int_eq(store_put_begin(s, "u", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 600), 0);
    ck_assert_int_eq(store_put_write(w, d, 600), CAIRN_ETOOBIG);
    store_put_abort(w);
    ck_assert_uint_eq(stats(s).ss_live_writers, 0);

    /* More than announced, or less at finish. */
    po.po_size = 100;
    ck_assert_int_eq(store_put_begin(s, "v", 1, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 101), CAIRN_ETOOBIG);
    ck_assert_int_eq(store_put_write(w, d, 50), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), CAIRN_EINVAL);
    store_stat_t st;
    uint64_t ids[8];
    ck_assert_int_eq(store_stat(s, "v", 1, 1, &st), CAIRN_ENOTFOUND);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 1);
    store_close(s);
    free(d);
}
END_TEST

static int failing_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

/* fsyncgate: a failed directory fsync is never retried -- that write
 * fails and the store refuses every later write until it is reopened;
 * reads keep working. */
START_TEST(test_fsync_failure_sticky)
{
    fileio_ops_t ops = *fileio_default_ops();
    uint64_t ids[8];
    store_stat_t st;
    store_t *s;

    s = ut_open(dir, NULL);
    ck_assert_int_eq(ut_put_local(s, "ok", "1", 1, NULL), 0);
    store_close(s);

    ops.fo_fsync = failing_fsync;
    fileio_set_ops(&ops);
    s = ut_open(dir, NULL);
    ck_assert_int_eq(ut_put_local(s, "a", "2", 1, NULL), -EIO);
    fileio_set_ops(NULL);
    ck_assert_int_eq(ut_put_local(s, "b", "3", 1, NULL), -EIO);
    ck_assert_int_eq(store_stat(s, "a", 1, 1, &st), CAIRN_ENOTFOUND);
    ut_assert_content(s, "ok", "1", 1);
    ck_assert_uint_eq(ut_scan_files(dir, ids, 8), 1);
    store_close(s);

    s = ut_open(dir, NULL);
    ck_assert_int_eq(ut_put_local(s, "b", "3", 1, NULL), 0);
    ut_assert_content(s, "b", "3", 1);
    store_close(s);
}
END_TEST

START_TEST(test_lock_same_process)
{
    store_opts_t o;
    store_t *s = ut_open(dir, NULL), *s2 = NULL;

    memset(&o, 0, sizeof(o));
    o.so_dir = dir;
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    ck_assert_int_eq(store_open(&o, &s2), CAIRN_ELOCKED);
    ck_assert_ptr_null(s2);
    store_close(s);
    ck_assert_int_eq(store_open(&o, &s2), 0);
    store_close(s2);
    /* Another node id on this directory is refused. */
    o.so_node_id = 2;
    ck_assert_int_eq(store_open(&o, &s2), CAIRN_EINVAL);
}
END_TEST

/* --------------------------------------------- replication log, clock */

typedef struct logent {
    uint16_t le_origin;
    uint64_t le_seq;
    uint64_t le_state;
} logent_t;

static size_t read_log(store_t *s, logent_t *out, size_t max)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    size_t n = 0;
    int rc;

    ck_assert_int_eq(store_rtxn_begin(s, &txn), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, s->s_db_log, &c), 0);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        msgpack_unpacked u;
        const uint8_t *kb = k.mv_data;

        ck_assert_uint_eq(k.mv_size, STORE_LOGKEY_LEN);
        out[n].le_origin = (uint16_t)((kb[0] << 8) | kb[1]);
        out[n].le_seq = u64_from_be(kb + 2);
        msgpack_unpacked_init(&u);
        ck_assert_int_eq(pack_unpack_one(v.mv_data, v.mv_size, 4, &u), 0);
        ck_assert_int_eq(pack_get_u64(&u.data, "s", 3, &out[n].le_state), 0);
        msgpack_unpacked_destroy(&u);
        n++;
    }
    mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    return n;
}

static uint64_t read_cursor(store_t *s, uint16_t origin)
{
    uint8_t kb[2] = {(uint8_t)(origin >> 8), (uint8_t)origin};
    MDB_val k = {2, kb}, v;
    MDB_txn *txn;
    uint64_t seq = 0;

    ck_assert_int_eq(store_rtxn_begin(s, &txn), 0);
    if (mdb_get(txn, s->s_db_cursors, &k, &v) == 0 && v.mv_size == 8)
        seq = u64_from_be(v.mv_data);
    store_rtxn_end(s, txn);
    return seq;
}

START_TEST(test_log_and_cursors)
{
    store_opts_t o;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_del_opts_t dop;
    logent_t le[16];
    uint8_t h[16];
    store_t *s;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    o.so_log_changes = 1;
    s = ut_open(dir, &o);
    ck_assert_int_eq(ut_put_local(s, "a", "a", 1, NULL), 0);
    memset(&dop, 0, sizeof(dop));
    ck_assert_int_eq(store_delete(s, "a", 1, &dop, NULL), 0);

    blobfile_hash("r", 1, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = 1;
    po.po_hash = h;
    po.po_version = ver(100, 2);
    po.po_log_origin = 2;
    po.po_log_seq = 7;
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w), 0);
    ck_assert_uint_eq(read_cursor(s, 2), 0); /* only at finish */
    ck_assert_int_eq(store_put_write(w, "r", 1), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ck_assert_uint_eq(read_cursor(s, 2), 7);
    po.po_log_seq = 5;
    po.po_version = ver(50, 2);
    ck_assert_int_eq(store_put_begin(s, "r2", 2, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, "r", 1), 0);
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    ck_assert_uint_eq(read_cursor(s, 2), 7); /* never moves back */
    po.po_log_seq = 9;
    ck_assert_int_eq(store_put_begin(s, "r", 1, &po, &w), CAIRN_ESTALE);

    ck_assert_uint_eq(read_log(s, le, 16), 4);
    ck_assert_uint_eq(le[0].le_origin, 1);
    ck_assert_uint_eq(le[0].le_seq, 1);
    ck_assert_uint_eq(le[0].le_state, STORE_COMPLETE);
    ck_assert_uint_eq(le[1].le_seq, 2);
    ck_assert_uint_eq(le[1].le_state, STORE_TOMBSTONE);
    ck_assert_uint_eq(le[2].le_origin, 2);
    ck_assert_uint_eq(le[2].le_seq, 5);
    ck_assert_uint_eq(le[3].le_seq, 7);
    store_close(s);

    s = ut_open(dir, &o);
    ck_assert_int_eq(ut_put_local(s, "b", "b", 1, NULL), 0);
    ck_assert_uint_eq(read_log(s, le, 16), 5);
    ck_assert_uint_eq(le[2].le_origin, 1);
    ck_assert_uint_eq(le[2].le_seq, 3); /* local_seq persisted */
    store_close(s);
}
END_TEST

static uint64_t wall_hour_ago(void)
{
    return hlc_wall_ms() - 3600 * 1000;
}

/* Local versions keep increasing across a restart even when the wall
 * clock went back: the persisted ceiling carries the clock over. */
START_TEST(test_clock_ceiling)
{
    store_opts_t o;
    store_stat_t st1, st2;
    hlc_t c;
    store_t *s;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = 1;
    s = ut_open(dir, &o);
    ck_assert_int_eq(ut_put_local(s, "k", "1", 1, &st1), 0);
    store_close(s);

    hlc_init(&c, 0);
    c.hc_wall_ms = wall_hour_ago;
    o.so_clock = &c;
    s = ut_open(dir, &o);
    ck_assert_ptr_eq(store_clock(s), &c);
    ck_assert_int_eq(ut_put_local(s, "k2", "2", 1, &st2), 0);
    ck_assert_uint_gt(st2.st_version.sv_hlc, st1.st_version.sv_hlc);
    store_close(s);
    hlc_destroy(&c);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *su = suite_create("store");
    TCase *tc;

    tc = tcase_create("basic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_put_get_stat);
    tcase_add_test(tc, test_overwrite_collects_old_file);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_lock_same_process);
    suite_add_tcase(su, tc);

    tc = tcase_create("versions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_replica_lww);
    tcase_add_test(tc, test_same_version_redelivery);
    tcase_add_test(tc, test_replica_visible_at_begin);
    tcase_add_test(tc, test_conditional_local);
    tcase_add_test(tc, test_log_and_cursors);
    tcase_add_test(tc, test_clock_ceiling);
    suite_add_tcase(su, tc);

    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_follow_live_writer);
    tcase_add_loop_test(tc, test_follower_outcomes, 0, 3);
    tcase_add_test(tc, test_read_range);
    tcase_add_test(tc, test_reader_versions);
    tcase_add_test(tc, test_read_leftover_deadline);
    tcase_add_test(tc, test_defining_scenario);
    suite_add_tcase(su, tc);

    tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tombstone_gc);
    tcase_add_test(tc, test_recovery_after_crash);
    tcase_add_test(tc, test_file_ids_never_reused);
    tcase_add_test(tc, test_map_growth);
    tcase_add_test(tc, test_map_full_enospc);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_concurrent_overwrites_collect);
    tcase_add_test(tc, test_max_blob_size);
    tcase_add_test(tc, test_fsync_failure_sticky);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
