/*
 * write.c -- write sessions (store_put_*), the writer table and deletes.
 *
 * A writer streams content into a fresh file (blobfile.h) with a constant
 * amount of memory: the XXH3-128 state and the caller's chunk. Its entry in
 * the writer table (file id -> progress, waiters) is the "lock" that tells
 * readers the file is being written; the table is empty after a restart,
 * so an incomplete file without an entry is a crash leftover.
 *
 * A local write that may end up inline (size unknown or <= s_inline_max)
 * starts "buffering" instead: no file id, no file, no writer-table entry
 * (nobody can follow a local write), the bytes in a buffer of at most
 * s_inline_max bytes. If more arrives it spills: a fresh id and file are
 * made as at begin, the buffer is written there and freed, and the write
 * goes on file-backed. A write still buffering at finish commits its bytes
 * with its record (commit.c); a crash before that commit leaves nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"
#include "storage/store_int.h"

struct store_writer {
    store_t *w_s;
    store_went_t *w_ent; /* our reference to the writer-table entry */
    int w_fd;
    int w_replica;
    int w_new_dir;
    int w_visible; /* replica: the `receiving` record was committed */
    uint64_t w_fid;
    int64_t w_size; /* expected size, -1 unknown */
    uint64_t w_written;
    XXH3_state_t *w_xs;
    record_t w_rec; /* key, ctype, size; replica: version and announced hash */
    uint8_t w_enc[KEY_ENC_MAX];
    size_t w_enclen;
    int w_if_none_match;
    int w_has_if_match;
    uint8_t w_if_match[STORE_HASH_LEN];
    uint16_t w_log_origin;
    uint64_t w_log_seq;
    int w_buffering; /* local, no file yet: content in w_buf (counted in s_nbuffered) */
    uint8_t *w_buf;  /* w_written bytes of content, capacity w_bufcap <= s_inline_max */
    size_t w_bufcap;
    int w_spill_rc; /* a failed spill: every later write/finish fails with it */
};

/* The content of an empty inline blob (LMDB gets a non-NULL pointer). */
static const uint8_t empty_content[1];

/* ------------------------------------------------------- writer table */

store_went_t *store_wt_find(store_t *s, uint64_t fid)
{
    for (store_went_t *e = s->s_wt[fid % STORE_WT_BUCKETS]; e != NULL; e = e->we_next) {
        if (e->we_fid == fid)
            return e;
    }
    return NULL;
}

void store_went_unref(store_went_t *e)
{
    if (--e->we_refs == 0)
        free(e);
}

/* With s_mu held: removes e from the table (its id becomes settled). */
static void wt_unhash(store_t *s, store_went_t *e)
{
    store_went_t **pp = &s->s_wt[e->we_fid % STORE_WT_BUCKETS];

    if (!e->we_hashed)
        return;
    while (*pp != NULL && *pp != e)
        pp = &(*pp)->we_next;
    if (*pp == e)
        *pp = e->we_next;
    e->we_next = NULL;
    e->we_hashed = 0;
    s->s_nwriters--;
}

/*
 * Ends the writer's entry with its final state: readers following it are
 * woken (they re-check the file or re-resolve), the id leaves the table and
 * the writer's reference is dropped. The file must already be in its final
 * state (whole, or removed) so woken readers see it.
 */
static void writer_end(store_writer_t *w, store_went_state_t state)
{
    store_t *s = w->w_s;

    if (w->w_ent == NULL)
        return;
    pthread_mutex_lock(&s->s_mu);
    w->w_ent->we_state = state;
    wt_unhash(s, w->w_ent);
    store_wlist_wake(&w->w_ent->we_waiters);
    store_wlist_detach_all(&w->w_ent->we_waiters);
    store_went_unref(w->w_ent);
    pthread_mutex_unlock(&s->s_mu);
    w->w_ent = NULL;
}

/* Leaves buffering mode: frees the buffer, uncounts the writer. */
static void writer_unbuffer(store_writer_t *w)
{
    if (!w->w_buffering)
        return;
    free(w->w_buf);
    w->w_buf = NULL;
    w->w_bufcap = 0;
    w->w_buffering = 0;
    STORE_ATOMIC_SUB(&w->w_s->s_nbuffered, 1);
}

static void writer_free(store_writer_t *w)
{
    fio_close(w->w_fd);
    writer_unbuffer(w);
    if (w->w_xs != NULL)
        XXH3_freeState(w->w_xs);
    free(w);
}

/*
 * The failure path shared by finish and abort: the file (if one was made)
 * goes first, then the entry (so woken followers find the file gone), then -- for a replica
 * write whose `receiving` record still names this file -- the key is
 * reported for repair (its repair entry exists since begin). Frees w.
 */
static void writer_fail(store_writer_t *w, store_went_state_t state, int why)
{
    store_t *s = w->w_s;
    record_t cur;
    char kbuf[128];
    int rc;

    fio_close(w->w_fd);
    w->w_fd = -1;
    rc = w->w_fid != 0 ? blobfile_remove(s->s_blobs, w->w_fid) : 0;
    if (rc < 0)
        LOG_WARN("store.put.remove.fail", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, w->w_fid,
                 cairn_errname(rc));
    writer_end(w, state);
    LOG_INFO("store.put.fail", "key=%s file=%016" PRIx64 " replica=%d err=%s",
             log_kv_str(kbuf, sizeof(kbuf), w->w_rec.r_st.st_key, w->w_rec.r_st.st_klen), w->w_fid,
             w->w_replica, cairn_errname(why));
    if (w->w_visible && store_rec_read(s, w->w_enc, w->w_enclen, &cur) == 0 &&
        cur.r_st.st_file_id == w->w_fid && cur.r_st.st_state != STORE_TOMBSTONE)
        store_report_repair(s, &cur.r_st);
    writer_free(w);
}

/* ------------------------------------------------------------- begin */

static int check_opts(const store_t *s, const char *key, size_t klen, const store_put_opts_t *o)
{
    if (key == NULL || o == NULL || key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    if (o->po_ctype != NULL && strnlen(o->po_ctype, STORE_CTYPE_MAX + 1) > STORE_CTYPE_MAX)
        return CAIRN_EINVAL;
    if (o->po_size < -1)
        return CAIRN_EINVAL;
    if (o->po_mode == STORE_PUT_REPLICA) {
        if (o->po_size < 0 || o->po_hash == NULL || o->po_version.sv_origin == 0 ||
            o->po_version.sv_hlc == 0)
            return CAIRN_EINVAL;
    } else if (o->po_mode != STORE_PUT_LOCAL) {
        return CAIRN_EINVAL;
    }
    if (s->s_max_blob != 0 && o->po_size > 0 && (uint64_t)o->po_size > s->s_max_blob)
        return CAIRN_ETOOBIG;
    return 0;
}

/*
 * Answers early what the commit would answer, before any byte is moved:
 * a conditional local write that cannot succeed, a replica version that
 * loses or is already here. The commit re-checks (the record may change).
 */
static int precheck(store_t *s, store_writer_t *w, const store_put_opts_t *o)
{
    record_t cur;
    int live, c, wl, rc;

    if (!w->w_replica && !o->po_if_none_match && o->po_if_match == NULL)
        return 0;
    rc = store_rec_read(s, w->w_enc, w->w_enclen, &cur);
    if (rc == CAIRN_ENOTFOUND) {
        return (!w->w_replica && o->po_if_match != NULL) ? CAIRN_EPRECOND : 0;
    }
    if (rc < 0)
        return rc;
    live = cur.r_st.st_state != STORE_TOMBSTONE;
    if (!w->w_replica) {
        if (o->po_if_none_match && live)
            return CAIRN_EPRECOND;
        if (o->po_if_match != NULL &&
            (!live || memcmp(cur.r_st.st_hash, o->po_if_match, STORE_HASH_LEN) != 0))
            return CAIRN_EPRECOND;
        return 0;
    }
    c = store_version_cmp(&o->po_version, &cur.r_st.st_version);
    if (c < 0)
        return CAIRN_ESTALE;
    if (c > 0)
        return 0;
    if (!live)
        return CAIRN_EEXIST;
    pthread_mutex_lock(&s->s_mu);
    wl = store_wt_find(s, cur.r_st.st_file_id) != NULL;
    pthread_mutex_unlock(&s->s_mu);
    if (wl)
        return CAIRN_EBUSY;
    if (store_rec_whole(s, &cur))
        return CAIRN_EEXIST;
    return 0;
}

/*
 * Gives w a fresh file id, registers it in the writer table and creates
 * its file (WRITING header with the expected size, if known). On failure
 * whatever was made stays recorded in w (w_ent, w_fid, w_fd) for the
 * caller's failure path to undo.
 */
static int writer_open_file(store_writer_t *w)
{
    store_t *s = w->w_s;
    store_went_t *e;
    int rc;

    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return CAIRN_ENOMEM;
    e->we_refs = 1;
    e->we_state = WE_WRITING;
    rc = store_fid_alloc(s, e);
    if (rc < 0) {
        free(e);
        return rc;
    }
    w->w_ent = e;
    w->w_fid = e->we_fid;
    w->w_rec.r_st.st_file_id = w->w_fid;
    rc = blobfile_create(s->s_blobs, w->w_fid,
                         w->w_size >= 0 ? (uint64_t)w->w_size : BLOBFILE_SIZE_UNKNOWN, &w->w_fd,
                         &w->w_new_dir);
    if (rc < 0)
        LOG_ERROR("store.create.fail", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, w->w_fid,
                  cairn_errname(rc));
    return rc;
}

/*
 * See store.h. Order: validate, early checks, then either buffering (a
 * local write that may end up inline: nothing else happens now) or file
 * id + writer entry (one step, see store_fid_alloc), file creation, and
 * for a replica the `receiving` record commit. Every failure undoes what
 * was done: the file is removed and the entry leaves the table; *out
 * stays NULL.
 */
int store_put_begin(store_t *s, const char *key, size_t klen, const store_put_opts_t *o,
                    store_writer_t **out)
{
    store_writer_t *w = NULL;
    store_creq_t rq;
    store_stat_t *st;
    int rc;

    if (out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (s == NULL)
        return CAIRN_EINVAL;
    rc = check_opts(s, key, klen, o);
    if (rc < 0)
        return rc;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return CAIRN_ENOMEM;
    w->w_s = s;
    w->w_fd = -1;
    w->w_replica = o->po_mode == STORE_PUT_REPLICA;
    w->w_size = o->po_size;
    st = &w->w_rec.r_st;
    memcpy(st->st_key, key, klen);
    st->st_klen = klen;
    if (o->po_ctype != NULL)
        memcpy(st->st_ctype, o->po_ctype, strlen(o->po_ctype));
    if (w->w_replica) {
        st->st_version = o->po_version;
        st->st_size = (uint64_t)o->po_size;
        memcpy(st->st_hash, o->po_hash, STORE_HASH_LEN);
        w->w_log_origin = o->po_log_origin;
        w->w_log_seq = o->po_log_seq;
    } else {
        w->w_if_none_match = o->po_if_none_match;
        if (o->po_if_match != NULL) {
            w->w_has_if_match = 1;
            memcpy(w->w_if_match, o->po_if_match, STORE_HASH_LEN);
        }
    }
    w->w_enclen = key_encode(key, klen, w->w_enc);
    rc = precheck(s, w, o);
    if (rc < 0)
        goto fail;

    w->w_xs = XXH3_createState();
    if (w->w_xs == NULL || XXH3_128bits_reset(w->w_xs) != XXH_OK) {
        rc = CAIRN_ENOMEM;
        goto fail;
    }
    if (!w->w_replica && s->s_inline_on &&
        (o->po_size < 0 || (uint64_t)o->po_size <= s->s_inline_max)) {
        w->w_buffering = 1;
        STORE_ATOMIC_ADD(&s->s_nbuffered, 1);
        *out = w;
        return 0;
    }
    rc = writer_open_file(w);
    if (rc < 0)
        goto fail;

    if (w->w_replica) {
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_BEGIN;
        rq.cr_replica = 1;
        memcpy(rq.cr_enc, w->w_enc, w->w_enclen);
        rq.cr_enclen = w->w_enclen;
        rq.cr_rec = w->w_rec;
        rc = store_commit(s, &rq);
        if (rc < 0) {
            fio_close(w->w_fd);
            w->w_fd = -1;
            (void)blobfile_remove(s->s_blobs, w->w_fid);
            goto fail;
        }
        w->w_visible = 1;
        w->w_rec = rq.cr_rec;
    }
    *out = w;
    return 0;

fail:
    if (w->w_fd >= 0) {
        fio_close(w->w_fd);
        w->w_fd = -1;
        (void)blobfile_remove(s->s_blobs, w->w_fid);
    }
    writer_end(w, WE_FAILED);
    writer_free(w);
    return rc;
}

/* ------------------------------------------------------ write / finish */

/* Makes room for `need` (<= s_inline_max) buffered bytes: the announced
 * size at once, otherwise doubling, never past s_inline_max. */
static int buf_reserve(store_writer_t *w, size_t need)
{
    size_t max = (size_t)w->w_s->s_inline_max;
    size_t ncap;
    uint8_t *p;

    if (need <= w->w_bufcap)
        return 0;
    ncap = w->w_bufcap ? w->w_bufcap * 2 : (w->w_size > 0 ? (size_t)w->w_size : 16384);
    if (ncap < need)
        ncap = need;
    if (ncap > max)
        ncap = max;
    p = realloc(w->w_buf, ncap);
    if (p == NULL)
        return CAIRN_ENOMEM;
    w->w_buf = p;
    w->w_bufcap = ncap;
    return 0;
}

/*
 * A buffering writer outgrew s_inline_max: it gets its file (fresh id,
 * writer entry) and the buffered bytes are written there, then it goes on
 * like any file-backed write. On failure the error sticks (w_spill_rc)
 * and what was made is left for the abort to undo.
 */
static int writer_spill(store_writer_t *w)
{
    int rc;

    rc = writer_open_file(w);
    if (rc == 0 && w->w_written > 0)
        rc = fio_pwrite_all(w->w_fd, w->w_buf, (size_t)w->w_written, BLOBFILE_HEADER_SIZE);
    if (rc < 0) {
        w->w_spill_rc = rc;
        return rc;
    }
    LOG_DEBUG("store.put.spill", "dir=%s file=%016" PRIx64 " buffered=%" PRIu64, w->w_s->s_dir,
              w->w_fid, w->w_written);
    writer_unbuffer(w);
    return 0;
}

/*
 * See store.h. The chunk is written (to the buffer or the file), hashed,
 * the failpoint evaluated, and only then published to followers.
 */
int store_put_write(store_writer_t *w, const void *p, size_t len)
{
    store_t *s = w->w_s;
    int rc;

    if (w->w_spill_rc < 0)
        return w->w_spill_rc;
    if (len == 0)
        return 0;
    if (w->w_size >= 0 && w->w_written + len > (uint64_t)w->w_size)
        return CAIRN_ETOOBIG;
    if (s->s_max_blob != 0 && w->w_written + len > s->s_max_blob)
        return CAIRN_ETOOBIG;
    if (w->w_buffering && w->w_written + len > s->s_inline_max) {
        rc = writer_spill(w);
        if (rc < 0)
            return rc;
    }
    if (w->w_buffering) {
        rc = buf_reserve(w, (size_t)w->w_written + len);
        if (rc < 0)
            return rc;
        memcpy(w->w_buf + w->w_written, p, len);
    } else {
        rc = fio_pwrite_all(w->w_fd, p, len, BLOBFILE_HEADER_SIZE + w->w_written);
        if (rc < 0)
            return rc;
    }
    (void)XXH3_128bits_update(w->w_xs, p, len);
    w->w_written += len;
    rc = FAILPOINT("store.write.chunk");
    if (rc < 0)
        return rc;
    if (w->w_ent != NULL) {
        pthread_mutex_lock(&s->s_mu);
        w->w_ent->we_written = w->w_written;
        store_wlist_wake(&w->w_ent->we_waiters);
        pthread_mutex_unlock(&s->s_mu);
    }
    return 0;
}

uint64_t store_put_written(const store_writer_t *w)
{
    return w->w_written;
}

/*
 * See store.h. Durability order: size and hash checks, then for a file
 * blobfile_finalize (fdatasync, COMPLETE header, fdatasync) and the commit
 * request (the commit thread fsyncs the directory first); for a write
 * still buffering only the commit request, which carries the bytes (the
 * synced LMDB commit makes them durable with the record). After a
 * successful commit the version stays committed whatever
 * store.commit.after returns.
 */
int store_put_finish(store_writer_t *w, store_stat_t *out)
{
    store_t *s = w->w_s;
    store_went_state_t fstate = WE_FAILED;
    XXH128_canonical_t canon;
    uint8_t hash[STORE_HASH_LEN];
    store_creq_t rq;
    char kbuf[128];
    int rc;

    if (w->w_spill_rc < 0) {
        rc = w->w_spill_rc;
        goto fail;
    }
    if (w->w_size >= 0 && w->w_written != (uint64_t)w->w_size) {
        rc = CAIRN_EINVAL;
        goto fail;
    }
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(w->w_xs));
    memcpy(hash, canon.digest, STORE_HASH_LEN);
    if (w->w_replica && memcmp(hash, w->w_rec.r_st.st_hash, STORE_HASH_LEN) != 0) {
        LOG_WARN("store.put.hash_mismatch", "dir=%s file=%016" PRIx64, s->s_dir, w->w_fid);
        fstate = WE_CORRUPT;
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    memcpy(w->w_rec.r_st.st_hash, hash, STORE_HASH_LEN);
    w->w_rec.r_st.st_size = w->w_written;

    memset(&rq, 0, sizeof(rq));
    if (w->w_buffering) {
        w->w_rec.r_st.st_inline = 1;
        w->w_rec.r_st.st_file_id = 0;
        rq.cr_inline = w->w_buf != NULL ? w->w_buf : empty_content;
    } else {
        rc = blobfile_finalize(w->w_fd, w->w_fid, w->w_written, hash);
        if (rc < 0) {
            LOG_ERROR("store.finalize.fail", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir,
                      w->w_fid, cairn_errname(rc));
            goto fail;
        }
        pthread_mutex_lock(&s->s_mu);
        w->w_ent->we_state = WE_FINALIZED;
        store_wlist_wake(&w->w_ent->we_waiters);
        pthread_mutex_unlock(&s->s_mu);
        rq.cr_dirsync = 1;
        rq.cr_new_dir = w->w_new_dir;
    }

    rq.cr_type = w->w_replica ? CR_FINISH : CR_LOCAL;
    rq.cr_replica = w->w_replica;
    memcpy(rq.cr_enc, w->w_enc, w->w_enclen);
    rq.cr_enclen = w->w_enclen;
    rq.cr_rec = w->w_rec;
    rq.cr_if_none_match = w->w_if_none_match;
    rq.cr_has_if_match = w->w_has_if_match;
    memcpy(rq.cr_if_match, w->w_if_match, STORE_HASH_LEN);
    rq.cr_log_origin = w->w_log_origin;
    rq.cr_log_seq = w->w_log_seq;
    rc = store_commit(s, &rq);
    if (rc < 0)
        goto fail;

    if (out != NULL)
        *out = rq.cr_rec.r_st;
    writer_end(w, WE_DONE);
    LOG_DEBUG("store.put.done",
              "key=%s file=%016" PRIx64 " inline=%d size=%" PRIu64 " version=%" PRIu64
              ".%u replica=%d",
              log_kv_str(kbuf, sizeof(kbuf), w->w_rec.r_st.st_key, w->w_rec.r_st.st_klen), w->w_fid,
              w->w_rec.r_st.st_inline, w->w_written, rq.cr_rec.r_st.st_version.sv_hlc,
              (unsigned)rq.cr_rec.r_st.st_version.sv_origin, w->w_replica);
    writer_free(w);
    return FAILPOINT("store.commit.after");

fail:
    writer_fail(w, fstate, rc);
    return rc;
}

void store_put_abort(store_writer_t *w)
{
    if (w == NULL)
        return;
    writer_fail(w, WE_FAILED, CAIRN_ESHUTDOWN);
}

/* ----------------------------------------------- whole replica puts */

/*
 * Validates one whole replica put and fills its commit element: bounds,
 * inline eligibility (CAIRN_ETOOBIG when it cannot be inline here), then
 * the content hash (CAIRN_ECORRUPT, logged). Touches nothing in the store.
 */
static int ritem_prepare(store_t *s, const store_replica_put_t *p, store_ritem_t *it)
{
    XXH128_canonical_t canon;
    store_stat_t *st = &it->sri_rec.r_st;

    if (p->rp_key == NULL || key_validate(p->rp_key, p->rp_klen) < 0 || p->rp_hash == NULL ||
        p->rp_version.sv_origin == 0 || p->rp_version.sv_hlc == 0 ||
        (p->rp_data == NULL && p->rp_len > 0) ||
        (p->rp_log_origin != 0 && (p->rp_log_origin == s->s_node_id || p->rp_log_seq == 0)))
        return CAIRN_EINVAL;
    if (p->rp_ctype != NULL && strnlen(p->rp_ctype, STORE_CTYPE_MAX + 1) > STORE_CTYPE_MAX)
        return CAIRN_EINVAL;
    if (!s->s_inline_on || p->rp_len > s->s_inline_max ||
        (s->s_max_blob != 0 && p->rp_len > s->s_max_blob))
        return CAIRN_ETOOBIG;
    XXH128_canonicalFromHash(
        &canon, XXH3_128bits(p->rp_data != NULL ? p->rp_data : empty_content, p->rp_len));
    if (memcmp(canon.digest, p->rp_hash, STORE_HASH_LEN) != 0) {
        char kbuf[128];

        LOG_WARN("store.put.hash_mismatch", "dir=%s key=%s inline=1", s->s_dir,
                 log_kv_str(kbuf, sizeof(kbuf), p->rp_key, p->rp_klen));
        return CAIRN_ECORRUPT;
    }
    memset(it, 0, sizeof(*it));
    it->sri_enclen = key_encode(p->rp_key, p->rp_klen, it->sri_enc);
    memcpy(st->st_key, p->rp_key, p->rp_klen);
    st->st_klen = p->rp_klen;
    st->st_version = p->rp_version;
    st->st_state = STORE_COMPLETE;
    st->st_size = p->rp_len;
    memcpy(st->st_hash, p->rp_hash, STORE_HASH_LEN);
    if (p->rp_ctype != NULL)
        memcpy(st->st_ctype, p->rp_ctype, strlen(p->rp_ctype));
    it->sri_data = p->rp_data != NULL ? p->rp_data : empty_content;
    it->sri_log_origin = p->rp_log_origin;
    it->sri_log_seq = p->rp_log_seq;
    return 0;
}

/*
 * See store.h. Elements are prepared in order; the first that fails
 * preparation ends the batch there (the ones before it are still
 * committed). The commit thread applies the rest in one transaction
 * (CR_RINLINE, commit.c) and stops at the first failure. The elements
 * live on the heap (a few KiB each) until the commit is done.
 */
int store_put_replica_batch(store_t *s, store_replica_put_t *v, size_t n, int skip_lost,
                            size_t *done)
{
    store_ritem_t *items = NULL;
    store_creq_t rq;
    size_t ready = 0;
    int prc = 0, rc;

    if (done != NULL)
        *done = 0;
    if (s == NULL || v == NULL || done == NULL || n == 0 || n > STORE_REPLICA_BATCH_MAX)
        return CAIRN_EINVAL;
    items = malloc(n * sizeof(*items));
    if (items == NULL)
        return CAIRN_ENOMEM;
    for (ready = 0; ready < n; ready++) {
        v[ready].rp_rc = 0;
        prc = ritem_prepare(s, &v[ready], &items[ready]);
        if (prc < 0) {
            v[ready].rp_rc = prc;
            break;
        }
    }
    rc = prc;
    if (ready > 0) {
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_RINLINE;
        rq.cr_replica = 1;
        rq.cr_items = items;
        rq.cr_nitems = ready;
        rq.cr_skip_lost = skip_lost;
        rc = store_commit(s, &rq);
        *done = rq.cr_ndone; /* 0 when the transaction failed as a whole */
        for (size_t i = 0; i < *done; i++)
            v[i].rp_rc = items[i].sri_rc;
        if (rc < 0 && *done < ready)
            v[*done].rp_rc = rc;
        if (rc == 0)
            rc = prc;
    }
    free(items);
    return rc;
}

/* See store.h: a batch of one, without skipping. */
int store_put_replica_inline(store_t *s, const store_replica_put_t *p, store_stat_t *out)
{
    store_ritem_t *it;
    store_creq_t rq;
    int rc;

    if (s == NULL || p == NULL)
        return CAIRN_EINVAL;
    it = malloc(sizeof(*it));
    if (it == NULL)
        return CAIRN_ENOMEM;
    rc = ritem_prepare(s, p, it);
    if (rc == 0) {
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_RINLINE;
        rq.cr_replica = 1;
        rq.cr_items = it;
        rq.cr_nitems = 1;
        rc = store_commit(s, &rq);
        if (rc == 0 && out != NULL)
            *out = it->sri_rec.r_st;
    }
    free(it);
    if (rc < 0)
        return rc;
    return FAILPOINT("store.commit.after");
}

/* ------------------------------------------------------------ delete */

/* See store.h. The superseded files are collected by the commit thread. */
int store_delete_ex(store_t *s, const char *key, size_t klen, const store_del_opts_t *o,
                    store_stat_t *out)
{
    store_creq_t rq;
    int rc;

    if (s == NULL || key == NULL || o == NULL || key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    if (o->do_mode != STORE_PUT_LOCAL && o->do_mode != STORE_PUT_REPLICA)
        return CAIRN_EINVAL;
    memset(&rq, 0, sizeof(rq));
    rq.cr_type = CR_DELETE;
    rq.cr_replica = o->do_mode == STORE_PUT_REPLICA;
    if (rq.cr_replica && (o->do_version.sv_origin == 0 || o->do_version.sv_hlc == 0))
        return CAIRN_EINVAL;
    rq.cr_enclen = key_encode(key, klen, rq.cr_enc);
    memcpy(rq.cr_rec.r_st.st_key, key, klen);
    rq.cr_rec.r_st.st_klen = klen;
    rq.cr_rec.r_st.st_version = o->do_version;
    if (o->do_if_match != NULL) {
        rq.cr_has_if_match = 1;
        memcpy(rq.cr_if_match, o->do_if_match, STORE_HASH_LEN);
    }
    rq.cr_log_origin = o->do_log_origin;
    rq.cr_log_seq = o->do_log_seq;
    rc = store_commit(s, &rq);
    if (rc < 0)
        return rc;
    if (out != NULL)
        *out = rq.cr_rec.r_st;
    return FAILPOINT("store.commit.after");
}

/* See store.h: store_delete_ex() keeping only the version. */
int store_delete(store_t *s, const char *key, size_t klen, const store_del_opts_t *o,
                 store_version_t *version)
{
    store_stat_t st;
    int rc;

    memset(&st, 0, sizeof(st));
    rc = store_delete_ex(s, key, klen, o, &st);
    if (version != NULL && (rc == 0 || st.st_state == STORE_TOMBSTONE))
        *version = st.st_version;
    return rc;
}
