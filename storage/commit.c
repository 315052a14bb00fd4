/*
 * commit.c -- the commit thread: the only owner of LMDB write transactions.
 *
 * Callers queue a request (store_creq_t) and block until it is done. The
 * thread takes up to so_commit_batch_max queued requests, fsyncs each blob
 * directory they need once, applies them in one transaction (group commit),
 * updates the persisted meta, commits (synced), then unlinks the files the
 * batch unreferenced, signals the callers and wakes readers watching the
 * changed keys.
 *
 * Every request handler validates before it writes, so a failed condition
 * (CAIRN_EPRECOND, CAIRN_ESTALE, ...) affects only its own request and
 * leaves nothing behind in the transaction. A failure of LMDB itself fails
 * the whole batch; MDB_MAP_FULL grows the map (doubling, up to its maximum)
 * and retries, and at the maximum every request gets -ENOSPC.
 *
 * Inline versions (local writes of at most so_inline_max bytes) bring their
 * bytes in the request; apply_local stores them in `inline` under the
 * record's key in the same transaction, and rec_put removes them in the
 * transaction that replaces or deletes that record. They need no directory
 * fsync, no `files` entry and nothing is unlinked for them.
 *
 * Log entries (when so_log_changes; format in changelog.c): local changes
 * use origin = node id and seq = meta local_seq + 1; replica changes use
 * po_log_origin / po_log_seq and raise cursors[origin] to seq in the same
 * transaction, as does CR_SKIP. After a transaction that appended entries
 * commits, so_on_change gets the highest seq appended per origin.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"
#include "storage/store_int.h"

typedef struct ckey {
    uint8_t ck_enc[KEY_ENC_MAX];
    size_t ck_len;
} ckey_t;

/* Highest log seq appended for one origin in this transaction. */
typedef struct corigin {
    uint16_t co_origin;
    uint64_t co_seq;
} corigin_t;

/* Scratch state of one transaction attempt; reset on retry. */
typedef struct cbatch {
    store_t *cb_s;
    MDB_txn *cb_txn;
    uint64_t *cb_unlink; /* files unreferenced by this batch */
    size_t cb_nunlink;
    size_t cb_capunlink;
    ckey_t *cb_keys; /* keys whose record changed */
    size_t cb_nkeys;
    size_t cb_capkeys;
    corigin_t *cb_chg; /* origins that got log entries (for so_on_change) */
    size_t cb_nchg;
    size_t cb_capchg;
    int64_t cb_dblobs;
    int64_t cb_dbytes;
    int64_t cb_dtombs;
    int64_t cb_dinl_blobs;
    int64_t cb_dinl_bytes;
    uint64_t cb_local_seq;
    uint64_t cb_fid_hwm;
    int cb_wrote; /* the committed transaction was not empty (LMDB synced it) */
} cbatch_t;

static int push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint64_t *p = realloc(*a, nc * sizeof(*p));

        if (p == NULL)
            return CAIRN_ENOMEM;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int push_key(cbatch_t *b, const uint8_t *enc, size_t elen)
{
    for (size_t i = 0; i < b->cb_nkeys; i++) {
        if (b->cb_keys[i].ck_len == elen && memcmp(b->cb_keys[i].ck_enc, enc, elen) == 0)
            return 0;
    }
    if (b->cb_nkeys == b->cb_capkeys) {
        size_t nc = b->cb_capkeys ? b->cb_capkeys * 2 : 32;
        ckey_t *p = realloc(b->cb_keys, nc * sizeof(*p));

        if (p == NULL)
            return CAIRN_ENOMEM;
        b->cb_keys = p;
        b->cb_capkeys = nc;
    }
    memcpy(b->cb_keys[b->cb_nkeys].ck_enc, enc, elen);
    b->cb_keys[b->cb_nkeys].ck_len = elen;
    b->cb_nkeys++;
    return 0;
}

static int del_ok(int rc)
{
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static size_t tombkey(const record_t *r, const uint8_t *enc, size_t elen,
                      uint8_t out[STORE_TOMBKEY_MAX])
{
    u64_to_be(r->r_st.st_version.sv_hlc, out);
    out[8] = (uint8_t)(r->r_st.st_version.sv_origin >> 8);
    out[9] = (uint8_t)r->r_st.st_version.sv_origin;
    memcpy(out + 10, enc, elen);
    return 10 + elen;
}

static void count_rec(cbatch_t *b, const record_t *r, int sign)
{
    if (r->r_st.st_state == STORE_COMPLETE) {
        b->cb_dblobs += sign;
        b->cb_dbytes += sign * (int64_t)r->r_st.st_size;
        if (r->r_st.st_inline) {
            b->cb_dinl_blobs += sign;
            b->cb_dinl_bytes += sign * (int64_t)r->r_st.st_size;
        }
    } else if (r->r_st.st_state == STORE_TOMBSTONE) {
        b->cb_dtombs += sign;
    }
}

/*
 * Writes nr as the record of enc (replacing old, which may be NULL) and
 * keeps the derived state in step: counters, tombstone index, repair
 * entry (present exactly while the record is `receiving` or marked
 * damaged, or when a read or recovery found its file not whole), the
 * inline bytes of an old inline
 * version (removed unless nr is inline too: then the caller overwrites
 * them), changed-key list. Encoding is checked before anything is
 * written: CAIRN_EINVAL then means nothing changed. Other returns are
 * LMDB codes (batch failure).
 */
static int rec_put(cbatch_t *b, const uint8_t *enc, size_t elen, const record_t *old,
                   const record_t *nr)
{
    store_t *s = b->cb_s;
    uint8_t buf[RECORD_ENC_MAX];
    uint8_t tk[STORE_TOMBKEY_MAX];
    uint8_t fid[8];
    MDB_val k = {elen, (void *)enc};
    MDB_val v, tkv, empty = {0, NULL};
    int len;
    int rc;

    len = record_encode(nr, buf, sizeof(buf));
    if (len < 0)
        return CAIRN_EINVAL;
    v.mv_size = (size_t)len;
    v.mv_data = buf;
    rc = mdb_put(b->cb_txn, s->s_db_records, &k, &v, 0);
    if (rc != 0)
        return rc;
    if (old != NULL) {
        count_rec(b, old, -1);
        if (old->r_st.st_inline && !nr->r_st.st_inline) {
            rc = del_ok(mdb_del(b->cb_txn, s->s_db_inline, &k, NULL));
            if (rc != 0)
                return rc;
        }
        if (old->r_st.st_state == STORE_TOMBSTONE) {
            tkv.mv_size = tombkey(old, enc, elen, tk);
            tkv.mv_data = tk;
            rc = del_ok(mdb_del(b->cb_txn, s->s_db_tombs, &tkv, NULL));
            if (rc != 0)
                return rc;
        }
    }
    count_rec(b, nr, 1);
    if (nr->r_st.st_state == STORE_TOMBSTONE) {
        tkv.mv_size = tombkey(nr, enc, elen, tk);
        tkv.mv_data = tk;
        rc = mdb_put(b->cb_txn, s->s_db_tombs, &tkv, &empty, 0);
        if (rc != 0)
            return rc;
    }
    if (nr->r_st.st_state == STORE_RECEIVING || nr->r_st.st_damaged) {
        u64_to_be(nr->r_st.st_file_id, fid);
        v.mv_size = 8;
        v.mv_data = fid;
        rc = mdb_put(b->cb_txn, s->s_db_repair, &k, &v, 0);
    } else {
        rc = del_ok(mdb_del(b->cb_txn, s->s_db_repair, &k, NULL));
    }
    if (rc != 0)
        return rc;
    return push_key(b, enc, elen);
}

/* Records which record references file fid (0: an inline version, none). */
static int file_ref(cbatch_t *b, uint64_t fid, const uint8_t *enc, size_t elen,
                    const store_version_t *ver)
{
    uint8_t kb[8];
    uint8_t vb[KEY_ENC_MAX + 64];
    MDB_val k = {8, kb};
    MDB_val v;
    int len;

    if (fid == 0)
        return 0;
    len = fileent_encode(enc, elen, ver, vb, sizeof(vb));
    if (len < 0)
        return CAIRN_EINVAL;
    u64_to_be(fid, kb);
    v.mv_size = (size_t)len;
    v.mv_data = vb;
    return mdb_put(b->cb_txn, b->cb_s->s_db_files, &k, &v, 0);
}

/* fid is no longer referenced: it moves from `files` to `gc` and is
 * unlinked after the commit. 0 is "no file". */
static int file_unref(cbatch_t *b, uint64_t fid)
{
    uint8_t kb[8];
    MDB_val k = {8, kb};
    MDB_val empty = {0, NULL};
    int rc;

    if (fid == 0)
        return 0;
    u64_to_be(fid, kb);
    rc = del_ok(mdb_del(b->cb_txn, b->cb_s->s_db_files, &k, NULL));
    if (rc == 0)
        rc = mdb_put(b->cb_txn, b->cb_s->s_db_gc, &k, &empty, 0);
    if (rc == 0)
        rc = push_u64(&b->cb_unlink, &b->cb_nunlink, &b->cb_capunlink, fid);
    return rc;
}

/* Remembers that (origin, seq) was appended, for so_on_change. */
static int note_change(cbatch_t *b, uint16_t origin, uint64_t seq)
{
    for (size_t i = 0; i < b->cb_nchg; i++) {
        if (b->cb_chg[i].co_origin == origin) {
            if (seq > b->cb_chg[i].co_seq)
                b->cb_chg[i].co_seq = seq;
            return 0;
        }
    }
    if (b->cb_nchg == b->cb_capchg) {
        size_t nc = b->cb_capchg ? b->cb_capchg * 2 : 8;
        corigin_t *p = realloc(b->cb_chg, nc * sizeof(*p));

        if (p == NULL)
            return CAIRN_ENOMEM;
        b->cb_chg = p;
        b->cb_capchg = nc;
    }
    b->cb_chg[b->cb_nchg].co_origin = origin;
    b->cb_chg[b->cb_nchg].co_seq = seq;
    b->cb_nchg++;
    return 0;
}

/* Appends the change (origin, seq) to the replication log, replacing an
 * entry of the same identity. */
static int log_append(cbatch_t *b, uint16_t origin, uint64_t seq, const record_t *r)
{
    int rc;

    rc = store_log_put(b->cb_s, b->cb_txn, origin, seq, &r->r_st, 0, 0, NULL);
    if (rc == 0)
        rc = note_change(b, origin, seq);
    return rc;
}

/* A local change gets the next local seq, which is also reported to the
 * caller in st_log_seq (0 when the store does not log). */
static int log_local(cbatch_t *b, record_t *r)
{
    store_t *s = b->cb_s;

    r->r_st.st_log_seq = 0;
    if (!s->s_log_changes)
        return 0;
    b->cb_local_seq++;
    r->r_st.st_log_seq = b->cb_local_seq;
    return log_append(b, s->s_node_id, b->cb_local_seq, r);
}

static int log_replica(cbatch_t *b, uint16_t origin, uint64_t seq, const record_t *r)
{
    int rc;

    if (!b->cb_s->s_log_changes || origin == 0)
        return 0;
    rc = log_append(b, origin, seq, r);
    if (rc == 0)
        rc = store_cursor_raise(b->cb_s, b->cb_txn, origin, seq);
    return rc;
}

/* Loads the current record; *found says whether there is one. */
static int cur_get(cbatch_t *b, const store_creq_t *rq, record_t *cur, int *found)
{
    int rc;

    *found = 0;
    rc = store_rec_get(b->cb_s, b->cb_txn, rq->cr_enc, rq->cr_enclen, cur);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    if (rc == 0)
        *found = 1;
    return rc;
}

/* A fresh local version that beats the current record (even one from a
 * peer whose clock runs ahead). */
static store_version_t local_version(store_t *s, const record_t *cur, int found)
{
    store_version_t v;

    v.sv_hlc = hlc_now(s->s_clock);
    v.sv_origin = s->s_node_id;
    if (found && cur->r_st.st_version.sv_hlc >= v.sv_hlc) {
        hlc_observe(s->s_clock, cur->r_st.st_version.sv_hlc);
        v.sv_hlc = hlc_now(s->s_clock);
    }
    return v;
}

static int writer_live(store_t *s, uint64_t fid)
{
    int live;

    pthread_mutex_lock(&s->s_mu);
    live = fid != 0 && store_wt_find(s, fid) != NULL;
    pthread_mutex_unlock(&s->s_mu);
    return live;
}

/*
 * Last-writer-wins admission of replica version v against the current
 * record cur: *refuse = CAIRN_ESTALE (v loses), CAIRN_EEXIST (that version
 * is already here whole, or as a tombstone), CAIRN_EBUSY (a live writer
 * holds that version), else left 0. Returns store_version_cmp(v, cur).
 */
static int replica_admit(store_t *s, const store_version_t *v, const record_t *cur, int *refuse)
{
    int c = store_version_cmp(v, &cur->r_st.st_version);

    if (c < 0)
        *refuse = CAIRN_ESTALE;
    else if (c == 0 && cur->r_st.st_state == STORE_TOMBSTONE)
        *refuse = CAIRN_EEXIST;
    else if (c == 0 && writer_live(s, cur->r_st.st_file_id))
        *refuse = CAIRN_EBUSY;
    else if (c == 0 && store_rec_whole(s, cur))
        *refuse = CAIRN_EEXIST;
    return c;
}

/*
 * Replica begin: last-writer-wins against the current record, then the
 * `receiving` record on the fresh file. The previous complete file is
 * kept in r_prev_file until the new version completes; a superseded
 * receiving file (and a same-version leftover) goes to gc. A previous
 * inline version has no file to keep: its bytes go now (rec_put; readers
 * serving it hold their own copy).
 */
static int apply_begin(cbatch_t *b, store_creq_t *rq)
{
    store_t *s = b->cb_s;
    record_t cur, nr;
    uint64_t drop = 0;
    int found, c, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0) {
        rq->cr_rc = rc;
        return 0;
    }
    nr = rq->cr_rec;
    nr.r_st.st_state = STORE_RECEIVING;
    nr.r_st.st_damaged = 0;
    nr.r_prev_file = 0;
    if (found) {
        c = replica_admit(s, &nr.r_st.st_version, &cur, &rq->cr_rc);
        if (rq->cr_rc != 0)
            return 0;
        if (c == 0) {
            /* Same-version re-delivery over a crash leftover, a damaged
             * file or a copy marked damaged (inline: its bytes go in rec_put). */
            drop = cur.r_st.st_file_id;
            if (cur.r_st.st_state == STORE_RECEIVING)
                nr.r_prev_file = cur.r_prev_file;
        } else if (cur.r_st.st_state == STORE_COMPLETE) {
            nr.r_prev_file = cur.r_st.st_file_id;
        } else if (cur.r_st.st_state == STORE_RECEIVING) {
            nr.r_prev_file = cur.r_prev_file;
            drop = cur.r_st.st_file_id;
        }
    }
    rc = rec_put(b, rq->cr_enc, rq->cr_enclen, found ? &cur : NULL, &nr);
    if (rc == CAIRN_EINVAL) {
        rq->cr_rc = rc;
        return 0;
    }
    if (rc == 0)
        rc = file_ref(b, nr.r_st.st_file_id, rq->cr_enc, rq->cr_enclen, &nr.r_st.st_version);
    if (rc == 0)
        rc = file_unref(b, drop);
    if (rc != 0)
        return rc;
    hlc_observe(s->s_clock, nr.r_st.st_version.sv_hlc);
    rq->cr_rec = nr;
    return 0;
}

/* Local put: conditions against the live record, a fresh version, the
 * new complete record (with its bytes when inline); every file of the old
 * record goes to gc, old inline bytes are replaced or removed. */
static int apply_local(cbatch_t *b, store_creq_t *rq)
{
    store_t *s = b->cb_s;
    record_t cur, nr;
    int found, live, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0) {
        rq->cr_rc = rc;
        return 0;
    }
    live = found && cur.r_st.st_state != STORE_TOMBSTONE;
    if ((rq->cr_if_none_match && live) ||
        (rq->cr_has_if_match &&
         (!live || memcmp(cur.r_st.st_hash, rq->cr_if_match, STORE_HASH_LEN) != 0))) {
        rq->cr_rc = CAIRN_EPRECOND;
        return 0;
    }
    nr = rq->cr_rec;
    nr.r_st.st_version = local_version(s, &cur, found);
    nr.r_st.st_state = STORE_COMPLETE;
    nr.r_st.st_damaged = 0;
    nr.r_prev_file = 0;
    rc = rec_put(b, rq->cr_enc, rq->cr_enclen, found ? &cur : NULL, &nr);
    if (rc == CAIRN_EINVAL) {
        rq->cr_rc = rc;
        return 0;
    }
    if (rc == 0 && nr.r_st.st_inline) {
        MDB_val k = {rq->cr_enclen, rq->cr_enc};
        MDB_val v = {(size_t)nr.r_st.st_size, (void *)rq->cr_inline};

        rc = mdb_put(b->cb_txn, s->s_db_inline, &k, &v, 0);
    }
    if (rc == 0)
        rc = file_ref(b, nr.r_st.st_file_id, rq->cr_enc, rq->cr_enclen, &nr.r_st.st_version);
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_st.st_file_id);
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_prev_file);
    if (rc == 0)
        rc = log_local(b, &nr);
    if (rc != 0)
        return rc;
    rq->cr_rec = nr;
    return 0;
}

/* Replica finish: only while the record still names this file and
 * version; otherwise a newer version won meanwhile (CAIRN_ESTALE, the
 * writer removes its file). */
static int apply_finish(cbatch_t *b, store_creq_t *rq)
{
    record_t cur, nr;
    int found, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0) {
        rq->cr_rc = rc;
        return 0;
    }
    if (!found || cur.r_st.st_state != STORE_RECEIVING ||
        cur.r_st.st_file_id != rq->cr_rec.r_st.st_file_id ||
        store_version_cmp(&cur.r_st.st_version, &rq->cr_rec.r_st.st_version) != 0) {
        rq->cr_rc = CAIRN_ESTALE;
        return 0;
    }
    nr = cur;
    nr.r_st.st_state = STORE_COMPLETE;
    nr.r_st.st_damaged = 0;
    nr.r_prev_file = 0;
    rc = rec_put(b, rq->cr_enc, rq->cr_enclen, &cur, &nr);
    if (rc == CAIRN_EINVAL) {
        rq->cr_rc = rc;
        return 0;
    }
    if (rc == 0)
        rc = file_unref(b, cur.r_prev_file);
    if (rc == 0)
        rc = log_replica(b, rq->cr_log_origin, rq->cr_log_seq, &nr);
    if (rc != 0)
        return rc;
    rq->cr_rec = nr;
    return 0;
}

/*
 * Tombstone. Local: the key must be live (CAIRN_ENOTFOUND) and match
 * if-match. Replica: must win last-writer-wins (a duplicate of the current
 * tombstone is CAIRN_EEXIST); a tombstone is written even for an absent
 * key so an older put arriving later loses.
 */
static int apply_delete(cbatch_t *b, store_creq_t *rq)
{
    store_t *s = b->cb_s;
    record_t cur, nr;
    int found, c, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0) {
        rq->cr_rc = rc;
        return 0;
    }
    memset(&nr, 0, sizeof(nr));
    memcpy(nr.r_st.st_key, rq->cr_rec.r_st.st_key, rq->cr_rec.r_st.st_klen);
    nr.r_st.st_klen = rq->cr_rec.r_st.st_klen;
    nr.r_st.st_state = STORE_TOMBSTONE;
    if (!rq->cr_replica) {
        if (!found || cur.r_st.st_state == STORE_TOMBSTONE) {
            rq->cr_rc = CAIRN_ENOTFOUND;
            return 0;
        }
        if (rq->cr_has_if_match && memcmp(cur.r_st.st_hash, rq->cr_if_match, STORE_HASH_LEN) != 0) {
            rq->cr_rc = CAIRN_EPRECOND;
            return 0;
        }
        nr.r_st.st_version = local_version(s, &cur, found);
    } else {
        nr.r_st.st_version = rq->cr_rec.r_st.st_version;
        if (found) {
            c = store_version_cmp(&nr.r_st.st_version, &cur.r_st.st_version);
            if (c < 0 || (c == 0 && cur.r_st.st_state != STORE_TOMBSTONE)) {
                rq->cr_rc = CAIRN_ESTALE;
                return 0;
            }
            if (c == 0) {
                rq->cr_rc = CAIRN_EEXIST;
                return 0;
            }
        }
    }
    rc = rec_put(b, rq->cr_enc, rq->cr_enclen, found ? &cur : NULL, &nr);
    if (rc == CAIRN_EINVAL) {
        rq->cr_rc = rc;
        return 0;
    }
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_st.st_file_id);
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_prev_file);
    if (rc == 0)
        rc = rq->cr_replica ? log_replica(b, rq->cr_log_origin, rq->cr_log_seq, &nr)
                            : log_local(b, &nr);
    if (rc != 0)
        return rc;
    if (rq->cr_replica)
        hlc_observe(s->s_clock, nr.r_st.st_version.sv_hlc);
    rq->cr_rec = nr;
    return 0;
}

/* A read found the record's file unusable: remember it for repair (only
 * while the record still names that file). */
static int apply_repair(cbatch_t *b, store_creq_t *rq)
{
    record_t cur;
    uint8_t fid[8];
    MDB_val k = {rq->cr_enclen, rq->cr_enc};
    MDB_val v = {8, fid};
    int found, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0 || !found || cur.r_st.st_state == STORE_TOMBSTONE ||
        cur.r_st.st_file_id != rq->cr_rec.r_st.st_file_id)
        return 0;
    u64_to_be(cur.r_st.st_file_id, fid);
    return mdb_put(b->cb_txn, b->cb_s->s_db_repair, &k, &v, 0);
}

/* *intact = 1 when the inline bytes of cur (the record at rq's key) are
 * there with the record's size and hash. 0 or an LMDB code. */
static int inline_intact(cbatch_t *b, const store_creq_t *rq, const record_t *cur, int *intact)
{
    MDB_val k = {rq->cr_enclen, (void *)rq->cr_enc};
    MDB_val v;
    uint8_t hash[STORE_HASH_LEN];
    int rc;

    *intact = 0;
    rc = mdb_get(b->cb_txn, b->cb_s->s_db_inline, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size != cur->r_st.st_size)
        return 0;
    blobfile_hash(v.mv_data, v.mv_size, hash);
    *intact = memcmp(hash, cur->r_st.st_hash, STORE_HASH_LEN) == 0;
    return 0;
}

/*
 * store_report_damaged(): marks the current record's copy damaged, only
 * while the record is complete and still names rq's file id (0: inline,
 * and only when its inline bytes really fail the record's size or hash --
 * the commit thread has them at hand, and an inline record has no file id
 * to tell its versions apart). rec_put keeps the repair entry with the
 * mark and wakes readers of the key; nothing is logged (a local fact, not
 * a change). cr_rc CAIRN_ESTALE when there is nothing to mark; cr_rec gets
 * the marked (or already marked) record.
 */
static int apply_damaged(cbatch_t *b, store_creq_t *rq)
{
    record_t cur, nr;
    int found, intact, rc;

    rc = cur_get(b, rq, &cur, &found);
    if (rc < 0) {
        rq->cr_rc = rc;
        return 0;
    }
    if (!found || cur.r_st.st_state != STORE_COMPLETE ||
        cur.r_st.st_file_id != rq->cr_rec.r_st.st_file_id) {
        rq->cr_rc = CAIRN_ESTALE;
        return 0;
    }
    if (cur.r_st.st_damaged) {
        rq->cr_rec = cur;
        return 0;
    }
    if (cur.r_st.st_inline) {
        rc = inline_intact(b, rq, &cur, &intact);
        if (rc != 0)
            return rc;
        if (intact) {
            rq->cr_rc = CAIRN_ESTALE;
            return 0;
        }
    }
    nr = cur;
    nr.r_st.st_damaged = 1;
    rc = rec_put(b, rq->cr_enc, rq->cr_enclen, &cur, &nr);
    if (rc == CAIRN_EINVAL) {
        rq->cr_rc = rc;
        return 0;
    }
    if (rc != 0)
        return rc;
    rq->cr_rec = nr;
    return 0;
}

/* Drops tombstones older than the horizon, oldest first, via the index. */
static int apply_tombgc(cbatch_t *b, store_creq_t *rq)
{
    store_t *s = b->cb_s;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    record_t r;
    size_t n = 0;
    int rc;

    rc = mdb_cursor_open(b->cb_txn, s->s_db_tombs, &cur);
    if (rc != 0)
        return rc;
    while (rq->cr_max == 0 || n < rq->cr_max) {
        uint8_t tk[STORE_TOMBKEY_MAX];
        store_version_t tv;
        const uint8_t *enc;
        size_t elen;
        MDB_val rk;

        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        if (k.mv_size < 11 || k.mv_size > STORE_TOMBKEY_MAX) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0)
                break;
            continue;
        }
        memcpy(tk, k.mv_data, k.mv_size);
        tv.sv_hlc = u64_from_be(tk);
        if (tv.sv_hlc >= rq->cr_horizon)
            break;
        tv.sv_origin = (uint16_t)((tk[8] << 8) | tk[9]);
        enc = tk + 10;
        elen = k.mv_size - 10;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        rc = store_rec_get(s, b->cb_txn, enc, elen, &r);
        if (rc == 0 && r.r_st.st_state == STORE_TOMBSTONE &&
            store_version_cmp(&r.r_st.st_version, &tv) == 0) {
            rk.mv_size = elen;
            rk.mv_data = (void *)enc;
            rc = mdb_del(b->cb_txn, s->s_db_records, &rk, NULL);
            if (rc != 0)
                break;
            b->cb_dtombs--;
            n++;
            rc = push_key(b, enc, elen);
            if (rc != 0)
                break;
        }
        rc = 0;
    }
    mdb_cursor_close(cur);
    rq->cr_count = n;
    return rc;
}

/*
 * A received change (origin, seq) of record st that was not applied: its
 * entry (kept as it is when the identity is already logged) and the
 * cursor, in this transaction. It is a superseded marker unless the
 * record here has exactly its version (a duplicate of something applied:
 * relays must still carry the bytes). 0 or an LMDB code.
 */
static int skip_txn(cbatch_t *b, const uint8_t *enc, size_t elen, const store_stat_t *st,
                    uint16_t origin, uint64_t seq, int *fail)
{
    store_t *s = b->cb_s;
    record_t cur;
    int found = 0, superseded, added, rc;

    *fail = 0;
    rc = store_rec_get(s, b->cb_txn, enc, elen, &cur);
    if (rc == 0)
        found = 1;
    else if (rc != CAIRN_ENOTFOUND) {
        *fail = rc;
        return 0;
    }
    superseded = !found || store_version_cmp(&cur.r_st.st_version, &st->st_version) != 0;
    rc = store_log_put(s, b->cb_txn, origin, seq, st, superseded, 1, &added);
    if (rc == 0 && added)
        rc = note_change(b, origin, seq);
    if (rc == 0)
        rc = store_cursor_raise(s, b->cb_txn, origin, seq);
    return rc;
}

/* store_log_skip(): see skip_txn. */
static int apply_skip(cbatch_t *b, store_creq_t *rq)
{
    int fail, rc;

    rc = skip_txn(b, rq->cr_enc, rq->cr_enclen, &rq->cr_rec.r_st, rq->cr_log_origin, rq->cr_log_seq,
                  &fail);
    if (rc == 0 && fail < 0)
        rq->cr_rc = fail;
    return rc;
}

/*
 * One whole replica version, inline: the checks of apply_begin (LWW,
 * duplicate, live writer on the same version, same-version re-delivery
 * over a leftover or a damaged copy), then -- with nothing written before
 * they pass -- the complete inline record, its bytes, the files of the
 * record it replaces to gc, its log entry and cursor (apply_finish's
 * commit) in this transaction. it->sri_rc gets a logical failure
 * (nothing written for it); the return is 0 or an LMDB code.
 */
static int rinline_one(cbatch_t *b, store_ritem_t *it)
{
    store_t *s = b->cb_s;
    record_t cur, nr;
    int found = 0, rc;

    it->sri_rc = 0;
    rc = store_rec_get(s, b->cb_txn, it->sri_enc, it->sri_enclen, &cur);
    if (rc == 0)
        found = 1;
    else if (rc != CAIRN_ENOTFOUND) {
        it->sri_rc = rc;
        return 0;
    }
    nr = it->sri_rec;
    nr.r_st.st_state = STORE_COMPLETE;
    nr.r_st.st_damaged = 0;
    nr.r_st.st_inline = 1;
    nr.r_st.st_file_id = 0;
    nr.r_prev_file = 0;
    if (found) {
        (void)replica_admit(s, &nr.r_st.st_version, &cur, &it->sri_rc);
        if (it->sri_rc != 0)
            return 0;
    }
    rc = rec_put(b, it->sri_enc, it->sri_enclen, found ? &cur : NULL, &nr);
    if (rc == CAIRN_EINVAL) {
        it->sri_rc = rc;
        return 0;
    }
    if (rc == 0) {
        MDB_val k = {it->sri_enclen, it->sri_enc};
        MDB_val v = {(size_t)nr.r_st.st_size, (void *)it->sri_data};

        rc = mdb_put(b->cb_txn, s->s_db_inline, &k, &v, 0);
    }
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_st.st_file_id);
    if (rc == 0 && found)
        rc = file_unref(b, cur.r_prev_file);
    if (rc == 0)
        rc = log_replica(b, it->sri_log_origin, it->sri_log_seq, &nr);
    if (rc != 0)
        return rc;
    hlc_observe(s->s_clock, nr.r_st.st_version.sv_hlc);
    it->sri_rec = nr;
    return 0;
}

/*
 * store_put_replica_batch(): the elements in order until the first that
 * fails (cr_rc gets its code, cr_ndone its index); with cr_skip_lost a
 * losing or duplicate element is logged as skipped instead (when the
 * store logs changes and it has an identity) and the batch goes on.
 */
static int apply_rinline(cbatch_t *b, store_creq_t *rq)
{
    int fail, rc;

    rq->cr_ndone = 0;
    for (size_t i = 0; i < rq->cr_nitems; i++) {
        store_ritem_t *it = &rq->cr_items[i];

        int lost;

        rc = rinline_one(b, it);
        if (rc != 0)
            return rc;
        lost = it->sri_rc == CAIRN_ESTALE || it->sri_rc == CAIRN_EEXIST;
        fail = it->sri_rc;
        if (lost && rq->cr_skip_lost) {
            fail = 0;
            if (b->cb_s->s_log_changes && it->sri_log_origin != 0) {
                rc = skip_txn(b, it->sri_enc, it->sri_enclen, &it->sri_rec.r_st, it->sri_log_origin,
                              it->sri_log_seq, &fail);
                if (rc != 0)
                    return rc;
            }
        }
        if (fail < 0) {
            it->sri_rc = fail;
            rq->cr_rc = fail;
            return 0;
        }
        rq->cr_ndone = i + 1;
    }
    return 0;
}

static int apply_one(cbatch_t *b, store_creq_t *rq)
{
    switch (rq->cr_type) {
    case CR_HWM:
        b->cb_fid_hwm = (b->cb_fid_hwm ? b->cb_fid_hwm : b->cb_s->s_fid_hwm) + STORE_FID_RANGE;
        return 0;
    case CR_BEGIN:
        return apply_begin(b, rq);
    case CR_LOCAL:
        return apply_local(b, rq);
    case CR_FINISH:
        return apply_finish(b, rq);
    case CR_DELETE:
        return apply_delete(b, rq);
    case CR_REPAIR:
        return apply_repair(b, rq);
    case CR_DAMAGED:
        return apply_damaged(b, rq);
    case CR_TOMBGC:
        return apply_tombgc(b, rq);
    case CR_SKIP:
        return apply_skip(b, rq);
    case CR_RINLINE:
        return apply_rinline(b, rq);
    case CR_LOGTRIM:
        return store_log_trim_txn(b->cb_s, b->cb_txn, rq->cr_log_origin, rq->cr_log_seq, rq->cr_max,
                                  &rq->cr_count);
    }
    rq->cr_rc = CAIRN_EINVAL;
    return 0;
}

/* Meta kept in step with the batch: counters, sequence, file-id mark,
 * checkpoint, clock ceiling, and gc entries of files already unlinked. */
static int write_meta(cbatch_t *b, uint64_t *cp_out, uint64_t *hlc_out)
{
    store_t *s = b->cb_s;
    uint64_t cp, last;
    int rc = 0;

    if (b->cb_dblobs != 0 || b->cb_dbytes != 0) {
        rc = store_meta_put(s, b->cb_txn, "blobs",
                            (uint64_t)((int64_t)s->s_cnt_blobs + b->cb_dblobs));
        if (rc == 0)
            rc = store_meta_put(s, b->cb_txn, "bytes",
                                (uint64_t)((int64_t)s->s_cnt_bytes + b->cb_dbytes));
    }
    if (rc == 0 && b->cb_dtombs != 0)
        rc = store_meta_put(s, b->cb_txn, "tombstones",
                            (uint64_t)((int64_t)s->s_cnt_tombs + b->cb_dtombs));
    if (rc == 0 && (b->cb_dinl_blobs != 0 || b->cb_dinl_bytes != 0)) {
        rc = store_meta_put(s, b->cb_txn, "inline_blobs",
                            (uint64_t)((int64_t)s->s_cnt_inl_blobs + b->cb_dinl_blobs));
        if (rc == 0)
            rc = store_meta_put(s, b->cb_txn, "inline_bytes",
                                (uint64_t)((int64_t)s->s_cnt_inl_bytes + b->cb_dinl_bytes));
    }
    if (rc == 0 && b->cb_local_seq != s->s_local_seq)
        rc = store_meta_put(s, b->cb_txn, "local_seq", b->cb_local_seq);
    if (rc == 0 && b->cb_fid_hwm != 0)
        rc = store_meta_put(s, b->cb_txn, "fid_hwm", b->cb_fid_hwm);
    pthread_mutex_lock(&s->s_mu);
    cp = store_checkpoint_locked(s);
    pthread_mutex_unlock(&s->s_mu);
    *cp_out = cp;
    if (rc == 0 && cp != s->s_checkpoint)
        rc = store_meta_put(s, b->cb_txn, "checkpoint", cp);
    last = hlc_last(s->s_clock);
    *hlc_out = s->s_hlc_hwm;
    if (rc == 0 && last + STORE_HLC_SLACK > s->s_hlc_hwm) {
        *hlc_out = last + STORE_HLC_AHEAD;
        rc = store_meta_put(s, b->cb_txn, "hlc_hwm", *hlc_out);
    }
    for (size_t i = 0; rc == 0 && i < s->s_gcdone_n; i++) {
        uint8_t kb[8];
        MDB_val k = {8, kb};

        u64_to_be(s->s_gcdone[i], kb);
        rc = del_ok(mdb_del(b->cb_txn, s->s_db_gc, &k, NULL));
    }
    return rc;
}

/* Doubles the map (up to its maximum) with every read transaction out. */
static int grow_map(store_t *s)
{
    uint64_t nsize;
    int rc;

    if (s->s_map_size >= s->s_map_max)
        return -ENOSPC;
    nsize = s->s_map_size * 2;
    if (nsize > s->s_map_max || nsize < s->s_map_size)
        nsize = s->s_map_max;
    pthread_rwlock_wrlock(&s->s_map_lock);
    rc = mdb_env_set_mapsize(s->s_env, (size_t)nsize);
    pthread_rwlock_unlock(&s->s_map_lock);
    if (rc != 0) {
        LOG_ERROR("store.map.grow.fail", "dir=%s size=%" PRIu64 " err=\"%s\"", s->s_dir, nsize,
                  mdb_strerror(rc));
        return store_mdb_err(rc);
    }
    LOG_INFO("store.map.grow", "dir=%s from=%" PRIu64 " to=%" PRIu64, s->s_dir, s->s_map_size,
             nsize);
    s->s_map_size = nsize;
    return 0;
}

/*
 * fsyncs each distinct directory the batch's new files live in (and their
 * parents when directories were created) once. Requests whose directory
 * could not be synced fail (fsync failures are never retried).
 */
static void sync_dirs(store_t *s, store_creq_t **rqs, int *pre, size_t n)
{
    uint32_t done[3 * 64];
    size_t ndone = 0;
    char path[PATH_MAX + 32];
    int err = 0;

    for (size_t i = 0; i < n; i++) {
        store_creq_t *rq = rqs[i];
        uint64_t fid = rq->cr_rec.r_st.st_file_id;
        uint32_t keys[3];
        size_t nk = 1;

        if (!rq->cr_dirsync || pre[i] != 0)
            continue;
        keys[0] = (uint32_t)((fid >> 12) & 0xffff);
        if (rq->cr_new_dir) {
            keys[1] = 0x10000u | (uint32_t)((fid >> 20) & 0xff);
            keys[2] = 0x20000u;
            nk = 3;
        }
        for (size_t j = 0; j < nk; j++) {
            size_t d;
            int rc;

            for (d = 0; d < ndone; d++) {
                if (done[d] == keys[j])
                    break;
            }
            if (d < ndone)
                continue;
            if (keys[j] < 0x10000u)
                blobfile_dir(s->s_blobs, fid, path, sizeof(path));
            else if (keys[j] < 0x20000u)
                snprintf(path, sizeof(path), "%s/%02x", s->s_blobs, (unsigned)(keys[j] & 0xff));
            else
                snprintf(path, sizeof(path), "%s", s->s_blobs);
            rc = fio_fsync_dir(path);
            if (rc < 0) {
                LOG_ERROR("store.fsync.fail", "dir=%s path=%s err=%s", s->s_dir, path,
                          cairn_errname(rc));
                err = rc;
            }
            if (ndone < sizeof(done) / sizeof(done[0]))
                done[ndone++] = keys[j];
        }
    }
    if (err == 0)
        return;
    s->s_fatal = err;
    LOG_ERROR("store.fatal",
              "dir=%s err=%s msg=\"directory fsync failed; writes refused until restart\"",
              s->s_dir, cairn_errname(err));
    for (size_t i = 0; i < n; i++) {
        if (rqs[i]->cr_dirsync && pre[i] == 0)
            pre[i] = err;
    }
}

/*
 * Unlinks one collected file and remembers it for gc-entry removal.
 * Returns 1 when its writer is still in the writer table: the file is
 * left alone and its gc entry kept. Such a writer either fails (a
 * superseded replica write; its failure path removes the file) or has
 * committed and not yet left the table -- with group commit the
 * superseding version often commits in the same batch -- so the file must
 * be unlinked later, never forgotten. A failed unlink keeps the gc entry
 * for recovery.
 */
static int collect_one(store_t *s, uint64_t fid)
{
    int rc;

    if (writer_live(s, fid))
        return 1;
    rc = FAILPOINT("store.gc.unlink");
    if (rc == 0)
        rc = blobfile_remove(s->s_blobs, fid);
    if (rc < 0) {
        LOG_WARN("store.gc.fail", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, fid,
                 cairn_errname(rc));
        return 0;
    }
    STORE_ATOMIC_ADD(&s->s_st_collected, 1);
    (void)push_u64(&s->s_gcdone, &s->s_gcdone_n, &s->s_gcdone_cap, fid);
    return 0;
}

/* Retries the files deferred by earlier batches (commit thread, or the
 * closing thread once it has stopped). */
static void collect_deferred(store_t *s)
{
    size_t keep = 0;

    for (size_t i = 0; i < s->s_gcdefer_n; i++) {
        if (collect_one(s, s->s_gcdefer[i]) == 1)
            s->s_gcdefer[keep++] = s->s_gcdefer[i];
    }
    s->s_gcdefer_n = keep;
}

/* After the commit: unlink the files this batch collected and those
 * deferred before whose writers have ended since. A file that cannot be
 * deferred (no memory) keeps its gc entry: recovery unlinks it. */
static void unlink_collected(store_t *s, cbatch_t *b)
{
    collect_deferred(s);
    for (size_t i = 0; i < b->cb_nunlink; i++) {
        if (collect_one(s, b->cb_unlink[i]) == 1)
            (void)push_u64(&s->s_gcdefer, &s->s_gcdefer_n, &s->s_gcdefer_cap, b->cb_unlink[i]);
    }
}

/* One transaction attempt over the requests whose pre-phase passed.
 * Returns 0 (each request has its own cr_rc) or the raw failure. On
 * success cb_wrote says whether the commit wrote anything: LMDB skips an
 * empty transaction entirely, data sync included. */
static int attempt(store_t *s, cbatch_t *b, store_creq_t **rqs, const int *pre, size_t n)
{
    uint64_t cp = 0, hlc_hwm = 0;
    MDB_envinfo info;
    size_t txnid;
    int rc;

    b->cb_wrote = 0;
    b->cb_nunlink = 0;
    b->cb_nkeys = 0;
    b->cb_nchg = 0;
    b->cb_dblobs = b->cb_dbytes = b->cb_dtombs = 0;
    b->cb_dinl_blobs = b->cb_dinl_bytes = 0;
    b->cb_local_seq = s->s_local_seq;
    b->cb_fid_hwm = 0;
    rc = mdb_txn_begin(s->s_env, NULL, 0, &b->cb_txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rqs[i]->cr_rc = pre[i];
        if (pre[i] == 0)
            rc = apply_one(b, rqs[i]);
    }
    if (rc == 0)
        rc = write_meta(b, &cp, &hlc_hwm);
    if (rc != 0) {
        mdb_txn_abort(b->cb_txn);
        b->cb_txn = NULL;
        return rc;
    }
    txnid = mdb_txn_id(b->cb_txn);
    /* Before the commit: a reader that sees these entries sees this too. */
    __atomic_store_n(&s->s_local_committed, b->cb_local_seq, __ATOMIC_RELEASE);
    rc = mdb_txn_commit(b->cb_txn);
    b->cb_txn = NULL;
    if (rc != 0) {
        /* A failed commit may have failed its sync: never retried. */
        if (rc != MDB_MAP_FULL) {
            s->s_fatal = store_mdb_err(rc);
            LOG_ERROR("store.fatal",
                      "dir=%s err=%s msg=\"LMDB commit failed; writes refused until restart\"",
                      s->s_dir, cairn_errname(s->s_fatal));
        }
        return rc;
    }
    b->cb_wrote = mdb_env_info(s->s_env, &info) == 0 && info.me_last_txnid == txnid;

    STORE_ATOMIC_STORE(&s->s_cnt_blobs, (uint64_t)((int64_t)s->s_cnt_blobs + b->cb_dblobs));
    STORE_ATOMIC_STORE(&s->s_cnt_bytes, (uint64_t)((int64_t)s->s_cnt_bytes + b->cb_dbytes));
    STORE_ATOMIC_STORE(&s->s_cnt_tombs, (uint64_t)((int64_t)s->s_cnt_tombs + b->cb_dtombs));
    STORE_ATOMIC_STORE(&s->s_cnt_inl_blobs,
                       (uint64_t)((int64_t)s->s_cnt_inl_blobs + b->cb_dinl_blobs));
    STORE_ATOMIC_STORE(&s->s_cnt_inl_bytes,
                       (uint64_t)((int64_t)s->s_cnt_inl_bytes + b->cb_dinl_bytes));
    s->s_local_seq = b->cb_local_seq;
    s->s_checkpoint = cp;
    s->s_hlc_hwm = hlc_hwm;
    s->s_gcdone_n = 0;
    if (b->cb_fid_hwm != 0) {
        pthread_mutex_lock(&s->s_mu);
        s->s_fid_hwm = b->cb_fid_hwm;
        pthread_mutex_unlock(&s->s_mu);
    }
    STORE_ATOMIC_ADD(&s->s_st_commit_txns, 1);
    for (size_t i = 0; i < n; i++) {
        if (rqs[i]->cr_rc == 0)
            STORE_ATOMIC_ADD(&s->s_st_commits, 1);
    }
    return 0;
}

/* After the commit: so_on_change once per origin that got entries, with
 * no lock held and before any submitter of the batch is released. */
static void notify_changes(store_t *s, const cbatch_t *b)
{
    if (s->s_on_change == NULL)
        return;
    for (size_t i = 0; i < b->cb_nchg; i++)
        s->s_on_change(s->s_on_change_arg, b->cb_chg[i].co_origin, b->cb_chg[i].co_seq);
}

/*
 * Applies and commits one batch: directory fsyncs, then transaction
 * attempts (growing the map on MDB_MAP_FULL). Returns 0 when the batch is
 * committed -- each request has its own cr_rc, and the batch is visible to
 * readers but not yet known durable (see commit_main) -- or the cairn
 * error of a batch that failed as a whole, already stored in every cr_rc;
 * nothing of such a batch is committed.
 */
static int batch_commit(store_t *s, cbatch_t *b, store_creq_t **rqs, size_t n)
{
    int *pre = s->s_batch_pre;
    int rc;

    for (size_t i = 0; i < n; i++)
        pre[i] = 0;
    sync_dirs(s, rqs, pre, n);
    rc = s->s_fatal;
    if (rc == 0)
        rc = FAILPOINT("store.commit.batch");
    while (rc == 0) {
        rc = attempt(s, b, rqs, pre, n);
        if (rc != MDB_MAP_FULL)
            break;
        rc = grow_map(s);
    }
    if (rc == 0)
        return 0;
    rc = store_mdb_err(rc);
    LOG_ERROR("store.commit.fail", "dir=%s requests=%zu err=%s", s->s_dir, n, cairn_errname(rc));
    for (size_t i = 0; i < n; i++) {
        rqs[i]->cr_rc = rc;
        rqs[i]->cr_ndone = 0; /* CR_RINLINE: nothing of it was committed */
    }
    return rc;
}

/*
 * Makes the last committed batch durable: unless a later commit's own
 * data sync already covered its meta page (synced), an explicit
 * mdb_env_sync -- started after that commit returned. Never after a
 * fatal failure: an fsync that failed once is not retried (a second one
 * may report success for pages already lost), so the batch fails with
 * it. Returns 0 or the error to give the batch's requests.
 */
static int batch_settle(store_t *s, int synced)
{
    int rc = s->s_fatal;

    if (rc != 0)
        return rc;
    rc = FAILPOINT("store.commit.sync");
    if (rc == 0 && !synced)
        rc = store_mdb_err(mdb_env_sync(s->s_env, 1));
    if (rc != 0) {
        s->s_fatal = rc;
        LOG_ERROR("store.fatal",
                  "dir=%s err=%s msg=\"LMDB sync failed; writes refused until restart\"", s->s_dir,
                  cairn_errname(rc));
    }
    return rc;
}

/*
 * Ends a batch once its fate is known (rc 0: committed and durable; else
 * the error every request gets): changes announced, collected files
 * unlinked, readers watching its keys woken, submitters signalled,
 * detached requests freed. Nothing here runs before the batch is durable:
 * a peer must never get a log entry, nor a file be unlinked, for a commit
 * a power failure could still undo.
 */
static void batch_release(store_t *s, cbatch_t *b, store_creq_t **rqs, size_t n, int rc)
{
    store_creq_t *detached = NULL;

    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            rqs[i]->cr_rc = rc;
            rqs[i]->cr_ndone = 0; /* CR_RINLINE: nothing of it was committed */
        }
        b->cb_nunlink = 0;
        b->cb_nchg = 0;
    } else {
        __atomic_store_n(&s->s_local_durable, b->cb_local_seq, __ATOMIC_RELEASE);
        notify_changes(s, b);
        unlink_collected(s, b);
    }

    pthread_mutex_lock(&s->s_mu);
    for (size_t i = 0; i < b->cb_nkeys; i++)
        store_wlist_wake_key(&s->s_watch, b->cb_keys[i].ck_enc, b->cb_keys[i].ck_len);
    pthread_mutex_unlock(&s->s_mu);
    b->cb_nkeys = 0;

    /* A waiting submitter may free its request as soon as it sees done. */
    pthread_mutex_lock(&s->s_cq_mu);
    for (size_t i = 0; i < n; i++) {
        if (rqs[i]->cr_detached) {
            rqs[i]->cr_next = detached;
            detached = rqs[i];
        } else {
            rqs[i]->cr_done = 1;
            pthread_cond_signal(&rqs[i]->cr_cond); /* only its own submitter wakes */
        }
    }
    pthread_mutex_unlock(&s->s_cq_mu);
    while (detached != NULL) {
        store_creq_t *nx = detached->cr_next;

        free(detached);
        detached = nx;
    }
}

/*
 * The commit thread. Durability scheme (the environment runs with
 * MDB_NOMETASYNC while this thread owns it, see store_commit_start):
 *
 * mdb_txn_commit writes the transaction's pages, fdatasyncs the data file
 * and only then writes the new meta page -- without syncing it. So when a
 * commit returns, the transaction is visible and its pages are durable,
 * but a power failure could still bring back the previous meta page,
 * i.e. undo exactly that last transaction (LMDB documents that
 * NOMETASYNC keeps integrity and loses only durability: the pages a
 * commit writes were never reachable from either of the two newest meta
 * pages, since LMDB reuses a page only once no snapshot from the previous
 * two commits can need it). The meta page becomes durable with the next
 * fdatasync of the file: the next commit's data sync (which starts after
 * that meta page was written) or an explicit mdb_env_sync.
 *
 * Hence a committed batch is held back ("pending") and its requests are
 * released only after one of those syncs succeeded:
 *   - if more requests are queued, the next batch is applied and
 *     committed first; its data sync covers the pending batch's meta page
 *     (cb_wrote: LMDB skips empty transactions, sync included -- then an
 *     explicit sync is done);
 *   - if nothing is queued, an explicit mdb_env_sync.
 * Under load that is one fsync per batch instead of two (data sync, then
 * the O_DSYNC meta write of the default mode), and the batch being
 * applied overlaps the wait of the one before. A crash at any point
 * leaves either the previous or the new meta page (both consistent) and
 * nothing acknowledged depends on a meta page that was not yet synced.
 * Readers may see a batch one commit cycle before it is acknowledged (in
 * the default mode: for the duration of the meta write); a power failure
 * -- not a process crash, which loses no written page -- can undo such an
 * unacknowledged version. The replication log is held to the stricter
 * rule: store_log_read() withholds this node's own entries above
 * s_local_durable (up to s_local_committed), so no peer gets a local seq
 * that a power failure could undo and a later change would then reuse.
 */
static void *commit_main(void *arg)
{
    store_t *s = arg;
    cbatch_t b[2];
    store_creq_t **rqs[2];
    size_t nrq[2] = {0, 0};
    int cur = 0, pend = -1;

    memset(b, 0, sizeof(b));
    b[0].cb_s = s;
    b[1].cb_s = s;
    rqs[0] = s->s_batch;
    rqs[1] = s->s_batch + s->s_batch_max;
    for (;;) {
        size_t n = 0;
        int rc;

        pthread_mutex_lock(&s->s_cq_mu);
        while (s->s_cq_head == NULL && !s->s_cq_stop && pend < 0)
            pthread_cond_wait(&s->s_cq_cond, &s->s_cq_mu);
        while (s->s_cq_head != NULL && n < s->s_batch_max) {
            rqs[cur][n++] = s->s_cq_head;
            s->s_cq_head = s->s_cq_head->cr_next;
        }
        if (s->s_cq_head == NULL)
            s->s_cq_tail = NULL;
        pthread_mutex_unlock(&s->s_cq_mu);
        if (n == 0) {
            if (pend < 0)
                break; /* stopping and drained */
            batch_release(s, &b[pend], rqs[pend], nrq[pend], batch_settle(s, 0));
            pend = -1;
            continue;
        }
        nrq[cur] = n;
        rc = batch_commit(s, &b[cur], rqs[cur], n);
        if (pend >= 0) {
            batch_release(s, &b[pend], rqs[pend], nrq[pend],
                          batch_settle(s, rc == 0 && b[cur].cb_wrote));
            pend = -1;
        }
        if (rc != 0) {
            batch_release(s, &b[cur], rqs[cur], n, rc);
            continue;
        }
        pend = cur;
        cur ^= 1;
    }
    for (int i = 0; i < 2; i++) {
        free(b[i].cb_unlink);
        free(b[i].cb_keys);
        free(b[i].cb_chg);
    }
    return NULL;
}

/* Starts the commit thread; from here until store_commit_stop the
 * environment runs with MDB_NOMETASYNC (see commit_main). Recovery before
 * and the final checkpoint after use LMDB's default, synced commits. */
int store_commit_start(store_t *s)
{
    int rc;

    s->s_batch = calloc(2 * (size_t)s->s_batch_max, sizeof(*s->s_batch));
    s->s_batch_pre = calloc(s->s_batch_max, sizeof(*s->s_batch_pre));
    if (s->s_batch == NULL || s->s_batch_pre == NULL)
        return CAIRN_ENOMEM;
    /* What this open found may be a previous process's last commit, never
     * synced (it was killed in the window commit_main describes): make it
     * durable before anything builds on it. */
    rc = mdb_env_sync(s->s_env, 1);
    if (rc == 0)
        rc = mdb_env_set_flags(s->s_env, MDB_NOMETASYNC, 1);
    if (rc != 0)
        return store_mdb_err(rc);
    s->s_local_durable = s->s_local_seq;
    s->s_local_committed = s->s_local_seq;
    if (pthread_create(&s->s_cthread, NULL, commit_main, s) != 0) {
        (void)mdb_env_set_flags(s->s_env, MDB_NOMETASYNC, 0);
        return CAIRN_ENOMEM;
    }
    s->s_cthread_started = 1;
    return 0;
}

/* The thread settles (syncs) its last batch before it exits. */
void store_commit_stop(store_t *s)
{
    if (!s->s_cthread_started)
        return;
    pthread_mutex_lock(&s->s_cq_mu);
    s->s_cq_stop = 1;
    pthread_cond_signal(&s->s_cq_cond);
    pthread_mutex_unlock(&s->s_cq_mu);
    pthread_join(s->s_cthread, NULL);
    s->s_cthread_started = 0;
    (void)mdb_env_set_flags(s->s_env, MDB_NOMETASYNC, 0);
}

static int enqueue(store_t *s, store_creq_t *rq)
{
    rq->cr_next = NULL;
    rq->cr_done = 0;
    rq->cr_rc = 0;
    if (s->s_cq_stop)
        return CAIRN_ESHUTDOWN;
    if (s->s_cq_tail != NULL)
        s->s_cq_tail->cr_next = rq;
    else
        s->s_cq_head = rq;
    s->s_cq_tail = rq;
    pthread_cond_signal(&s->s_cq_cond);
    return 0;
}

/* Borrows rq until it is done; returns its result. */
int store_commit(store_t *s, store_creq_t *rq)
{
    int rc;

    rq->cr_detached = 0;
    pthread_cond_init(&rq->cr_cond, NULL);
    pthread_mutex_lock(&s->s_cq_mu);
    rc = enqueue(s, rq);
    while (rc == 0 && !rq->cr_done)
        pthread_cond_wait(&rq->cr_cond, &s->s_cq_mu);
    pthread_mutex_unlock(&s->s_cq_mu);
    pthread_cond_destroy(&rq->cr_cond);
    return rc < 0 ? rc : rq->cr_rc;
}

/* Takes ownership of rq (heap-allocated) in every case. */
int store_commit_detached(store_t *s, store_creq_t *rq)
{
    int rc;

    rq->cr_detached = 1;
    pthread_mutex_lock(&s->s_cq_mu);
    rc = enqueue(s, rq);
    pthread_mutex_unlock(&s->s_cq_mu);
    if (rc < 0)
        free(rq);
    return rc;
}

/*
 * The last transaction at close, on the closing thread (the commit thread
 * has stopped): removes gc entries of unlinked files and records the
 * checkpoint; clean only when no writer is live, so a careless close
 * still gets full recovery at the next open. Skipped after a fatal fsync
 * failure (nothing more is written; the store stays unclean).
 */
int store_commit_final(store_t *s)
{
    cbatch_t b;
    uint64_t cp = 0, hlc_hwm = 0, nw;
    int rc;

    if (s->s_fatal != 0) {
        /* Leave the store marked unclean: the next open runs recovery. */
        LOG_WARN("store.checkpoint.skip", "dir=%s err=%s", s->s_dir, cairn_errname(s->s_fatal));
        return s->s_fatal;
    }
    memset(&b, 0, sizeof(b));
    b.cb_s = s;
    b.cb_local_seq = s->s_local_seq;
    collect_deferred(s); /* writers are done by now (else: recovery) */
    rc = mdb_txn_begin(s->s_env, NULL, 0, &b.cb_txn);
    if (rc != 0)
        goto fail;
    rc = write_meta(&b, &cp, &hlc_hwm);
    pthread_mutex_lock(&s->s_mu);
    nw = s->s_nwriters;
    pthread_mutex_unlock(&s->s_mu);
    if (rc == 0)
        rc = store_meta_put(s, b.cb_txn, "clean", nw == 0 ? 1 : 0);
    if (rc != 0) {
        mdb_txn_abort(b.cb_txn);
        goto fail;
    }
    rc = mdb_txn_commit(b.cb_txn);
    if (rc != 0)
        goto fail;
    s->s_gcdone_n = 0;
    return 0;
fail:
    rc = store_mdb_err(rc);
    LOG_ERROR("store.checkpoint.fail", "dir=%s err=%s", s->s_dir, cairn_errname(rc));
    return rc;
}
