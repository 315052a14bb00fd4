/*
 * recover.c -- recovery on open, and tombstone GC.
 *
 * Recovery work is bounded by what may be unsettled, never by store size:
 *   (a) gc entries: files unreferenced by a commit whose unlink may not
 *       have happened (crash between commit and unlink);
 *   (b) after an unclean stop, file ids in [checkpoint, fid_hwm): only
 *       they can have been written without their commit. Files there with
 *       no `files` entry are leftovers and deleted; files of records that
 *       are not whole (or `receiving`: no writer survives a restart) are
 *       deleted and their records queued for repair;
 *   (c) repair entries: records waiting for a whole copy are re-checked
 *       and reported through so_repair.
 * A copy marked damaged (record "d", store_report_damaged()) is never
 * whole, whatever its header says: its file is removed like a leftover
 * (an inline one keeps its bytes until the record is replaced) and the
 * record stays marked and reported until a new record replaces it.
 * The directories scanned in (b) are the ones whose id range intersects
 * [checkpoint, fid_hwm) (4096 ids per directory, see blobfile.h).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "storage/blobfile.h"
#include "storage/store_int.h"

typedef struct rstate {
    store_t *rs_s;
    MDB_txn *rs_txn;
    store_stat_t *rs_report; /* records to report after the commit */
    size_t rs_nreport, rs_capreport;
    uint64_t rs_leftovers;
    uint64_t rs_collected;
} rstate_t;

static int add_report(rstate_t *rs, const store_stat_t *st)
{
    if (rs->rs_nreport == rs->rs_capreport) {
        size_t nc = rs->rs_capreport ? rs->rs_capreport * 2 : 16;
        store_stat_t *p = realloc(rs->rs_report, nc * sizeof(*p));

        if (p == NULL)
            return CAIRN_ENOMEM;
        rs->rs_report = p;
        rs->rs_capreport = nc;
    }
    rs->rs_report[rs->rs_nreport++] = *st;
    return 0;
}

/* Removes fid's file if it exists, counting it as a crash leftover. */
static int remove_leftover(rstate_t *rs, uint64_t fid)
{
    store_t *s = rs->rs_s;
    int st, rc;

    st = store_file_state(s, fid, UINT64_MAX, NULL);
    if (st == BLOBFILE_MISSING)
        return 0;
    rc = blobfile_remove(s->s_blobs, fid);
    if (rc < 0) {
        LOG_ERROR("store.recover.unlink", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, fid,
                  cairn_errname(rc));
        return rc;
    }
    rs->rs_leftovers++;
    LOG_INFO("store.recover.leftover", "dir=%s file=%016" PRIx64 " state=%d", s->s_dir, fid, st);
    return 0;
}

static int put_repair(rstate_t *rs, const uint8_t *enc, size_t elen, uint64_t fid)
{
    uint8_t fb[8];
    MDB_val k = {elen, (void *)enc};
    MDB_val v = {8, fb};

    u64_to_be(fid, fb);
    return store_mdb_err(mdb_put(rs->rs_txn, rs->rs_s->s_db_repair, &k, &v, 0));
}

/* (a) Unlinks every file in gc and drops its entry. */
static int recover_gc(rstate_t *rs)
{
    store_t *s = rs->rs_s;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    rc = mdb_cursor_open(rs->rs_txn, s->s_db_gc, &c);
    if (rc != 0)
        return store_mdb_err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t fid;

        if (k.mv_size == 8) {
            fid = u64_from_be(k.mv_data);
            rc = blobfile_remove(s->s_blobs, fid);
            if (rc < 0) {
                LOG_ERROR("store.recover.gc", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, fid,
                          cairn_errname(rc));
                continue;
            }
            rs->rs_collected++;
        }
        rc = mdb_cursor_del(c, 0);
        if (rc != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

/* (b1) Files on disk with ids in [cp, hwm) and no `files` entry. */
static int recover_dirs(rstate_t *rs, uint64_t cp, uint64_t hwm)
{
    store_t *s = rs->rs_s;
    char dir[PATH_MAX];
    int rc = 0;

    for (uint64_t g = cp >> 12; rc == 0 && g <= (hwm - 1) >> 12; g++) {
        struct dirent *de;
        DIR *d;

        blobfile_dir(s->s_blobs, g << 12, dir, sizeof(dir));
        d = opendir(dir);
        if (d == NULL)
            continue;
        while (rc == 0 && (de = readdir(d)) != NULL) {
            uint8_t kb[8];
            MDB_val k = {8, kb}, v;
            uint64_t fid;
            int r;

            if (blobfile_parse_name(de->d_name, &fid) < 0 || fid < cp || (fid >> 12) != g)
                continue;
            u64_to_be(fid, kb);
            r = mdb_get(rs->rs_txn, s->s_db_files, &k, &v);
            if (r == 0)
                continue;
            if (r != MDB_NOTFOUND) {
                rc = store_mdb_err(r);
                break;
            }
            rc = remove_leftover(rs, fid);
        }
        closedir(d);
    }
    return rc;
}

/* (b2) Referenced files in [cp, hwm): the record's own file must be whole,
 * complete and not marked damaged; anything else is a leftover (removed,
 * queued for repair). */
static int recover_files(rstate_t *rs, uint64_t cp, uint64_t hwm)
{
    store_t *s = rs->rs_s;
    MDB_cursor *c = NULL;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    int rc;

    rc = mdb_cursor_open(rs->rs_txn, s->s_db_files, &c);
    if (rc != 0)
        return store_mdb_err(rc);
    u64_to_be(cp, kb);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint8_t enc[KEY_ENC_MAX];
        size_t elen = 0;
        store_version_t ver;
        record_t rec;
        uint64_t fid;
        int r, st;

        if (k.mv_size != 8)
            continue;
        fid = u64_from_be(k.mv_data);
        if (fid >= hwm)
            break;
        if (fileent_decode(v.mv_data, v.mv_size, enc, &elen, &ver) < 0)
            continue;
        r = store_rec_get(s, rs->rs_txn, enc, elen, &rec);
        if (r < 0 && r != CAIRN_ENOTFOUND) {
            rc = r;
            break;
        }
        if (r == CAIRN_ENOTFOUND || rec.r_st.st_file_id != fid)
            continue; /* a previous file, or settled elsewhere */
        if (rec.r_st.st_state == STORE_RECEIVING || rec.r_st.st_damaged) {
            st = BLOBFILE_INCOMPLETE;
        } else {
            st = store_file_state(s, fid, rec.r_st.st_size, rec.r_st.st_hash);
        }
        if (st == BLOBFILE_WHOLE)
            continue;
        r = remove_leftover(rs, fid);
        if (r == 0)
            r = put_repair(rs, enc, elen, fid);
        if (r < 0) {
            rc = r;
            break;
        }
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    return store_mdb_err(rc);
}

/* (c) Every repair entry: drop it if settled, otherwise clean the file up
 * and report the record. */
static int recover_repairs(rstate_t *rs)
{
    store_t *s = rs->rs_s;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    rc = mdb_cursor_open(rs->rs_txn, s->s_db_repair, &c);
    if (rc != 0)
        return store_mdb_err(rc);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        record_t rec;
        uint64_t fid;
        int r, st;

        if (v.mv_size != 8 || k.mv_size > KEY_ENC_MAX) {
            rc = mdb_cursor_del(c, 0);
            if (rc != 0)
                break;
            continue;
        }
        fid = u64_from_be(v.mv_data);
        r = store_rec_get(s, rs->rs_txn, k.mv_data, k.mv_size, &rec);
        if (r < 0 && r != CAIRN_ENOTFOUND) {
            rc = r;
            break;
        }
        if (r == CAIRN_ENOTFOUND || rec.r_st.st_file_id != fid ||
            rec.r_st.st_state == STORE_TOMBSTONE) {
            rc = mdb_cursor_del(c, 0);
            if (rc != 0)
                break;
            continue;
        }
        if (rec.r_st.st_state == STORE_COMPLETE && !rec.r_st.st_damaged) {
            /* Inline bytes live and die with their record: settled. */
            st = rec.r_st.st_inline ? BLOBFILE_WHOLE
                                    : store_file_state(s, fid, rec.r_st.st_size, rec.r_st.st_hash);
            if (st == BLOBFILE_WHOLE) {
                rc = mdb_cursor_del(c, 0);
                if (rc != 0)
                    break;
                continue;
            }
        }
        r = rec.r_st.st_inline ? 0 : remove_leftover(rs, fid);
        if (r == 0)
            r = add_report(rs, &rec.r_st);
        if (r < 0) {
            rc = r;
            break;
        }
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    return store_mdb_err(rc);
}

/* One recovery pass in one write transaction; idempotent, so a pass that
 * fails on a full map is simply run again after growing it. */
static int recover_once(rstate_t *rs, uint64_t *cp_out)
{
    store_t *s = rs->rs_s;
    uint64_t clean = 0, cp = 1;
    int found, rc;

    rs->rs_nreport = 0;
    rs->rs_leftovers = 0;
    rs->rs_collected = 0;
    rc = mdb_txn_begin(s->s_env, NULL, 0, &rs->rs_txn);
    if (rc != 0)
        return rc;
    rc = store_meta_get(s, rs->rs_txn, "clean", &clean, &found);
    if (rc == 0)
        rc = store_meta_get(s, rs->rs_txn, "checkpoint", &cp, &found);
    if (rc == 0 && (!found || cp == 0))
        cp = 1;
    if (rc == 0)
        rc = recover_gc(rs);
    if (rc == 0 && !clean && cp < s->s_fid_hwm) {
        rc = recover_dirs(rs, cp, s->s_fid_hwm);
        if (rc == 0)
            rc = recover_files(rs, cp, s->s_fid_hwm);
    }
    if (rc == 0)
        rc = recover_repairs(rs);
    if (rc == 0)
        rc = store_meta_put(s, rs->rs_txn, "clean", 0);
    if (rc == 0)
        rc = store_meta_put(s, rs->rs_txn, "checkpoint", s->s_fid_hwm);
    if (rc != 0) {
        mdb_txn_abort(rs->rs_txn);
        return rc;
    }
    rc = mdb_txn_commit(rs->rs_txn);
    if (rc == 0)
        LOG_INFO("store.recover",
                 "dir=%s clean=%" PRIu64 " checkpoint=%" PRIu64 " hwm=%" PRIu64
                 " leftovers=%" PRIu64 " collected=%" PRIu64 " repairs=%zu",
                 s->s_dir, clean, cp, s->s_fid_hwm, rs->rs_leftovers, rs->rs_collected,
                 rs->rs_nreport);
    *cp_out = s->s_fid_hwm;
    return rc;
}

/* See store_int.h. Runs before the commit thread exists, so it owns the
 * environment; so_repair is called after the commit, with no lock held. */
int store_recover(store_t *s)
{
    rstate_t rs;
    uint64_t cp = 0;
    int rc;

    memset(&rs, 0, sizeof(rs));
    rs.rs_s = s;
    for (;;) {
        rc = recover_once(&rs, &cp);
        if ((rc != MDB_MAP_FULL && rc != -ENOSPC) || s->s_map_size >= s->s_map_max)
            break;
        s->s_map_size = s->s_map_size * 2 > s->s_map_max ? s->s_map_max : s->s_map_size * 2;
        rc = mdb_env_set_mapsize(s->s_env, (size_t)s->s_map_size);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto done;
    }
    s->s_checkpoint = cp;
    STORE_ATOMIC_ADD(&s->s_st_leftovers, rs.rs_leftovers);
    STORE_ATOMIC_ADD(&s->s_st_collected, rs.rs_collected);
    for (size_t i = 0; i < rs.rs_nreport; i++)
        store_report_repair(s, &rs.rs_report[i]);
done:
    free(rs.rs_report);
    return rc;
}

/* ------------------------------------------------------ tombstone GC */

#define TOMBGC_CHUNK 1024

/* See store.h. Runs through the commit thread in bounded transactions. */
int store_gc_tombstones(store_t *s, uint64_t horizon_hlc, size_t max, size_t *removed)
{
    store_creq_t rq;
    size_t total = 0;
    int rc = 0;

    for (;;) {
        size_t want = TOMBGC_CHUNK;

        if (max != 0 && max - total < want)
            want = max - total;
        if (want == 0)
            break;
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_TOMBGC;
        rq.cr_horizon = horizon_hlc;
        rq.cr_max = want;
        rc = store_commit(s, &rq);
        if (rc < 0)
            break;
        total += rq.cr_count;
        if (rq.cr_count < want)
            break;
    }
    if (removed != NULL)
        *removed = total;
    if (total > 0)
        LOG_INFO("store.gc.tombstones", "dir=%s removed=%zu horizon=%" PRIu64, s->s_dir, total,
                 horizon_hlc);
    return rc;
}
