/*
 * test_damaged.c -- store_report_damaged(): a COMPLETE copy whose content
 * fails its hash (header intact, so the reader's own checks pass) is
 * marked, never served again, repaired by a same-version re-delivery;
 * the mark survives a restart; stale reports change nothing; inline
 * copies are re-checked by the store before they are marked.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hlc.h"
#include "storage/blobfile.h"
#include "storage/record.h"
#include "storage/store.h"
#include "storage/store_int.h"
#include "util_store.h"

#define N 100000

static char *dir;

static void setup(void)
{
    dir = ut_tmpdir("dmg");
}

static void teardown(void)
{
    ut_rm_rf(dir);
    free(dir);
}

/* Repair callback recorder (called from store threads). */
typedef struct repairs {
    int rp_calls;
    uint64_t rp_fid;
} repairs_t;

static void on_repair(void *arg, const char *key, size_t klen, const store_version_t *v,
                      uint64_t fid)
{
    repairs_t *r = arg;

    (void)key;
    (void)klen;
    (void)v;
    __atomic_store_n(&r->rp_fid, fid, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&r->rp_calls, 1, __ATOMIC_SEQ_CST);
}

static int calls(repairs_t *r)
{
    return __atomic_load_n(&r->rp_calls, __ATOMIC_SEQ_CST);
}

/* inline_max 0: every write file-backed. */
static store_t *open_rp(repairs_t *rp, uint64_t inline_max)
{
    store_opts_t o;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_inline_disable = inline_max == 0;
    o.so_inline_max = inline_max;
    o.so_repair = on_repair;
    o.so_repair_arg = rp;
    return ut_open(dir, &o);
}

/* Flips one content byte of fid's file; the header stays valid. */
static void flip_content(store_t *s, uint64_t fid, uint64_t off)
{
    char path[PATH_MAX];
    uint8_t byte;
    FILE *f;

    blobfile_path(s->s_blobs, fid, path, sizeof(path));
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)(BLOBFILE_HEADER_SIZE + off), SEEK_SET), 0);
    ck_assert_int_eq(fread(&byte, 1, 1, f), 1);
    byte ^= 0x5a;
    ck_assert_int_eq(fseek(f, (long)(BLOBFILE_HEADER_SIZE + off), SEEK_SET), 0);
    ck_assert_int_eq(fwrite(&byte, 1, 1, f), 1);
    ck_assert_int_eq(fclose(f), 0);
}

static store_stats_t stats(store_t *s)
{
    store_stats_t ss;

    store_get_stats(s, &ss);
    return ss;
}

static int damaged_flag(store_t *s, const char *key)
{
    store_stat_t st;

    ck_assert_int_eq(store_stat(s, key, strlen(key), 0, &st), 0);
    return st.st_damaged;
}

/* Puts data under key, damages its file, checks the damage is served
 * before the report (the precondition), returns the record. */
static store_stat_t put_and_damage(store_t *s, const char *key, const uint8_t *data)
{
    store_stat_t st;
    uint8_t *got = NULL;
    size_t len = 0;

    ck_assert_int_eq(ut_put_local(s, key, data, N, &st), 0);
    ck_assert_uint_ne(st.st_file_id, 0);
    flip_content(s, st.st_file_id, 777);
    ck_assert_int_eq(ut_read_all(s, key, 1000, &got, &len, NULL), 0);
    ck_assert_uint_eq(len, N);
    ck_assert(memcmp(got, data, N) != 0); /* the reader alone serves the damage */
    free(got);
    return st;
}

/* ------------------------------------------------------------ tests */

/* Marked: not served (EUNAVAIL at the deadline, reported for repair);
 * a same-version replica re-delivery is accepted, served and clears the
 * mark; the damaged file is collected. */
START_TEST(test_damaged_file_repaired)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 0);
    uint8_t *d = ut_data(N, 1);
    uint8_t *got = NULL;
    size_t len = 0;
    store_stat_t st, st2, now;
    int before;

    st = put_and_damage(s, "k", d);
    ck_assert_int_eq(damaged_flag(s, "k"), 0);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 0);

    ck_assert_int_eq(store_report_damaged(s, "k", 1, st.st_file_id), 0);
    ck_assert_int_eq(calls(&rp), 1); /* so_repair before the call returned */
    ck_assert_uint_eq(rp.rp_fid, st.st_file_id);
    ck_assert_int_eq(damaged_flag(s, "k"), 1);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 1);
    /* Reporting again is harmless (still marked, reported again). */
    ck_assert_int_eq(store_report_damaged(s, "k", 1, st.st_file_id), 0);
    ck_assert_int_eq(calls(&rp), 2);

    before = calls(&rp);
    ck_assert_int_eq(ut_read_all(s, "k", 200, &got, &len, NULL), CAIRN_EUNAVAIL);
    ck_assert_int_gt(calls(&rp), before);          /* the reader reported it too */
    ck_assert(ut_file_exists(dir, st.st_file_id)); /* kept until replaced */

    /* Same-version re-delivery into a fresh file. */
    ck_assert_int_eq(ut_put_replica(s, "k", d, N, st.st_version, &st2), 0);
    ck_assert_uint_ne(st2.st_file_id, st.st_file_id);
    ck_assert_int_eq(store_stat(s, "k", 1, 0, &now), 0);
    ck_assert_int_eq(now.st_state, STORE_COMPLETE);
    ck_assert_int_eq(now.st_damaged, 0);
    ck_assert_uint_eq(now.st_file_id, st2.st_file_id);
    ck_assert_int_eq(store_version_cmp(&now.st_version, &st.st_version), 0);
    ut_assert_content(s, "k", d, N);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 0);
    ck_assert(!ut_file_exists(dir, st.st_file_id));
    /* A second re-delivery of that version is refused: it is whole now. */
    ck_assert_int_eq(ut_put_replica(s, "k", d, N, st.st_version, NULL), CAIRN_EEXIST);
    /* And the old file id is stale now. */
    ck_assert_int_eq(store_report_damaged(s, "k", 1, st.st_file_id), CAIRN_ESTALE);
    store_close(s);
    free(d);
}
END_TEST

/* A reader waiting on the marked copy wakes up on the re-delivery and
 * serves the new file. */
START_TEST(test_damaged_reader_waits_for_repair)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 0);
    uint8_t *d = ut_data(N, 2);
    uint8_t *got = malloc(N);
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    store_step_t step;
    store_stat_t st;
    uint64_t pos = 0;

    st = put_and_damage(s, "w", d);
    ck_assert_int_eq(store_report_damaged(s, "w", 1, st.st_file_id), 0);
    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + 10000;
    ck_assert_int_eq(store_read_open(s, "w", 1, &ro, &r, NULL), 0);
    ck_assert_int_eq(store_read_next(r, &step), 0);
    ck_assert_int_eq(step.ss_kind, STORE_STEP_WAIT);
    ck_assert_int_eq(ut_put_replica(s, "w", d, N, st.st_version, NULL), 0);
    for (;;) {
        ssize_t n;

        ck_assert_int_eq(store_read_next(r, &step), 0);
        ck_assert_int_ne(step.ss_kind, STORE_STEP_WAIT);
        if (step.ss_kind == STORE_STEP_EOF)
            break;
        ck_assert_uint_le(pos + step.ss_len, N);
        n = ut_step_copy(&step, got + pos);
        ck_assert_int_eq(n, (ssize_t)step.ss_len);
        store_read_consumed(r, (uint64_t)n);
        pos += (uint64_t)n;
    }
    ck_assert_uint_eq(pos, N);
    ck_assert_mem_eq(got, d, N);
    store_read_close(r);
    store_close(s);
    free(got);
    free(d);
}
END_TEST

/* The mark is durable: after a restart the copy is still not served,
 * recovery reports it for repair and removes the file; a re-delivery
 * still repairs it. */
START_TEST(test_damaged_survives_restart)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 0);
    uint8_t *d = ut_data(N, 3);
    uint8_t *got = NULL;
    size_t len = 0;
    store_stat_t st;

    st = put_and_damage(s, "r", d);
    ck_assert_int_eq(store_report_damaged(s, "r", 1, st.st_file_id), 0);
    store_close(s);

    rp.rp_calls = 0;
    rp.rp_fid = 0;
    s = open_rp(&rp, 0);
    ck_assert_int_eq(calls(&rp), 1); /* recovery reported it */
    ck_assert_uint_eq(rp.rp_fid, st.st_file_id);
    ck_assert_int_eq(damaged_flag(s, "r"), 1);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 1);
    ck_assert(!ut_file_exists(dir, st.st_file_id)); /* removed like a leftover */
    ck_assert_int_eq(ut_read_all(s, "r", 200, &got, &len, NULL), CAIRN_EUNAVAIL);
    ck_assert_int_eq(ut_put_replica(s, "r", d, N, st.st_version, NULL), 0);
    ut_assert_content(s, "r", d, N);
    store_close(s);

    /* Repaired for good: a clean reopen reports nothing. */
    rp.rp_calls = 0;
    s = open_rp(&rp, 0);
    ck_assert_int_eq(calls(&rp), 0);
    ck_assert_int_eq(damaged_flag(s, "r"), 0);
    ut_assert_content(s, "r", d, N);
    store_close(s);
    free(d);
}
END_TEST

/* Reports that no longer match the record change nothing. */
START_TEST(test_damaged_stale_noop)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 0);
    uint8_t *d = ut_data(N, 4);
    store_stat_t v1, v2, rec;
    store_writer_t *w = NULL;
    store_put_opts_t po;
    store_del_opts_t dopt;
    store_version_t rv = {HLC_MAKE(1, 0), 2};

    ck_assert_int_eq(ut_put_local(s, "a", d, N, &v1), 0);
    ck_assert_int_eq(ut_put_local(s, "a", d, N, &v2), 0);
    /* the superseded file id */
    ck_assert_int_eq(store_report_damaged(s, "a", 1, v1.st_file_id), CAIRN_ESTALE);
    /* a file id never handed out, and 0 for a file-backed record */
    ck_assert_int_eq(store_report_damaged(s, "a", 1, v2.st_file_id + 1000), CAIRN_ESTALE);
    ck_assert_int_eq(store_report_damaged(s, "a", 1, 0), CAIRN_ESTALE);
    ck_assert_int_eq(damaged_flag(s, "a"), 0);
    ut_assert_content(s, "a", d, N);
    /* absent key */
    ck_assert_int_eq(store_report_damaged(s, "zz", 2, v2.st_file_id), CAIRN_ESTALE);
    /* a receiving record */
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = N;
    po.po_version = rv;
    po.po_hash = v1.st_hash;
    ck_assert_int_eq(store_put_begin(s, "b", 1, &po, &w), 0);
    ck_assert_int_eq(store_stat(s, "b", 1, 0, &rec), 0);
    ck_assert_int_eq(rec.st_state, STORE_RECEIVING);
    ck_assert_int_eq(store_report_damaged(s, "b", 1, rec.st_file_id), CAIRN_ESTALE);
    store_put_abort(w);
    /* a tombstone */
    memset(&dopt, 0, sizeof(dopt));
    ck_assert_int_eq(store_delete(s, "a", 1, &dopt, NULL), 0);
    ck_assert_int_eq(store_report_damaged(s, "a", 1, v2.st_file_id), CAIRN_ESTALE);
    /* bad arguments */
    ck_assert_int_eq(store_report_damaged(s, "", 0, 1), CAIRN_EINVAL);
    ck_assert_int_eq(store_report_damaged(NULL, "a", 1, 1), CAIRN_EINVAL);
    ck_assert_int_eq(calls(&rp), 1); /* only the aborted replica write reported */
    store_close(s);
    free(d);
}
END_TEST

/* A reader that read the damaged copy whole reports it through
 * store_read_report_damaged(). */
START_TEST(test_reader_reports_damaged)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 0);
    uint8_t *d = ut_data(N, 5);
    store_reader_t *r = NULL;
    store_step_t step;
    store_stat_t st;

    st = put_and_damage(s, "q", d);
    ck_assert_int_eq(store_read_open(s, "q", 1, NULL, &r, NULL), 0);
    for (;;) {
        ck_assert_int_eq(store_read_next(r, &step), 0);
        if (step.ss_kind == STORE_STEP_EOF)
            break;
        ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
        store_read_consumed(r, step.ss_len);
    }
    ck_assert_int_eq(store_read_report_damaged(r), 0);
    store_read_close(r);
    ck_assert_int_eq(damaged_flag(s, "q"), 1);
    ck_assert_int_eq(calls(&rp), 1);
    ck_assert_uint_eq(rp.rp_fid, st.st_file_id);
    ck_assert_int_eq(store_read_report_damaged(NULL), CAIRN_EINVAL);
    store_close(s);
    free(d);
}
END_TEST

/* Inline copies: reported only when the store's own check of the bytes
 * fails; then not served, and a same-version (file-backed) re-delivery
 * replaces them. */
START_TEST(test_damaged_inline)
{
    repairs_t rp = {0, 0};
    store_t *s = open_rp(&rp, 64 * 1024);
    uint8_t *d = ut_data(800, 6);
    uint8_t *bad = ut_data(800, 6);
    uint8_t enc[KEY_ENC_MAX];
    size_t elen = key_encode("i", 1, enc);
    store_reader_t *r = NULL;
    store_stat_t st, now;
    uint8_t *got = NULL;
    size_t len = 0;
    MDB_txn *txn = NULL;
    MDB_val k = {elen, enc}, v;

    ck_assert_int_eq(ut_put_local(s, "i", d, 800, &st), 0);
    ck_assert_int_eq(st.st_inline, 1);
    /* Intact bytes: the report is refused. */
    ck_assert_int_eq(store_report_damaged(s, "i", 1, 0), CAIRN_ESTALE);
    ck_assert_int_eq(damaged_flag(s, "i"), 0);
    ck_assert_int_eq(calls(&rp), 0);

    bad[17] ^= 1;
    v.mv_size = 800;
    v.mv_data = bad;
    ck_assert_int_eq(mdb_txn_begin(s->s_env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->s_db_inline, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(store_read_open(s, "i", 1, NULL, &r, NULL), CAIRN_ECORRUPT);

    ck_assert_int_eq(store_report_damaged(s, "i", 1, 0), 0);
    ck_assert_int_eq(calls(&rp), 1);
    ck_assert_uint_eq(rp.rp_fid, 0);
    ck_assert_int_eq(damaged_flag(s, "i"), 1);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 1);
    ck_assert_int_eq(ut_read_all(s, "i", 200, &got, &len, NULL), CAIRN_EUNAVAIL);
    ck_assert_int_ge(calls(&rp), 2);
    store_close(s);

    /* Durable, and recovery keeps reporting it. */
    rp.rp_calls = 0;
    s = open_rp(&rp, 64 * 1024);
    ck_assert_int_eq(calls(&rp), 1);
    ck_assert_int_eq(damaged_flag(s, "i"), 1);
    ck_assert_int_eq(ut_put_replica(s, "i", d, 800, st.st_version, NULL), 0);
    ck_assert_int_eq(store_stat(s, "i", 1, 0, &now), 0);
    ck_assert_int_eq(now.st_damaged, 0);
    ck_assert_int_eq(now.st_inline, 0);
    ck_assert_int_eq(store_version_cmp(&now.st_version, &st.st_version), 0);
    ut_assert_content(s, "i", d, 800);
    ck_assert_uint_eq(stats(s).ss_repairs_pending, 0);
    ck_assert_uint_eq(stats(s).ss_inline_blobs, 0);
    ck_assert_int_eq(store_rtxn_begin(s, &txn), 0);
    ck_assert_int_eq(mdb_get(txn, s->s_db_inline, &k, &v), MDB_NOTFOUND);
    store_rtxn_end(s, txn);
    store_close(s);
    free(bad);
    free(d);
}
END_TEST

/* The "d" field round-trips and is refused where it cannot be. */
START_TEST(test_record_damaged_field)
{
    record_t r, back;
    uint8_t buf[RECORD_ENC_MAX];
    int len;

    memset(&r, 0, sizeof(r));
    memcpy(r.r_st.st_key, "key", 3);
    r.r_st.st_klen = 3;
    r.r_st.st_version.sv_hlc = 5;
    r.r_st.st_version.sv_origin = 1;
    r.r_st.st_state = STORE_COMPLETE;
    r.r_st.st_file_id = 9;
    r.r_st.st_size = 10;
    r.r_st.st_damaged = 1;
    len = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(record_decode(buf, (size_t)len, &back), 0);
    ck_assert_int_eq(back.r_st.st_damaged, 1);
    r.r_st.st_damaged = 0;
    len = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_eq(record_decode(buf, (size_t)len, &back), 0);
    ck_assert_int_eq(back.r_st.st_damaged, 0);
    r.r_st.st_damaged = 2;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_st.st_damaged = 1;
    r.r_st.st_state = STORE_RECEIVING;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
}
END_TEST

static Suite *damaged_suite(void)
{
    Suite *s = suite_create("damaged");
    TCase *tc = tcase_create("damaged");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_damaged_file_repaired);
    tcase_add_test(tc, test_damaged_reader_waits_for_repair);
    tcase_add_test(tc, test_damaged_survives_restart);
    tcase_add_test(tc, test_damaged_stale_noop);
    tcase_add_test(tc, test_reader_reports_damaged);
    tcase_add_test(tc, test_damaged_inline);
    tcase_add_test(tc, test_record_damaged_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(damaged_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
