/*
 * read.c -- the reader state machine (the read algorithm of DESIGN.md 3)
 * and the waiter lists that wake it.
 *
 * A reader resolves the record (short read transaction, copied out; an
 * inline version's bytes are copied out of the same transaction), then:
 *   MEM     the version is inline: hand out (memory, length) steps from
 *           the reader's own copy -- never stale, nothing to wait for;
 *   SERVE   the file is whole: hand out (fd, offset, length) steps;
 *   FOLLOW  a live writer holds the file: hand out what it has published,
 *           wait for progress, switch to SERVE once the file is whole.
 * A file that is incomplete with no writer, missing or damaged is "stale":
 * the reader never opens it again, re-resolves the record, and if the
 * record still names it, reports the key for repair and waits for the
 * record to change -- until its deadline (CAIRN_EUNAVAIL). A record in
 * state `receiving` whose file has no live writer is a crash leftover
 * even when the file happens to be whole: only a completed delivery makes
 * a replicated version servable. A copy marked damaged (st_damaged, see
 * store_report_damaged()) is stale the same way, file or inline.
 *
 * store_read_next() never sleeps: waiting is the caller's (a wake callback
 * or store_read_wait()). Wakes come from writer progress/completion and
 * from every commit that changes the reader's key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"
#include "storage/store_int.h"

#define READ_MAX_HOPS 64 /* re-resolutions within one store_read_next() */

typedef enum { RD_NONE = 0, RD_SERVE = 1, RD_FOLLOW = 2, RD_MEM = 3 } rd_mode_t;

struct store_reader {
    store_t *r_s;
    store_stat_t r_st; /* the version served (fixed once a byte is consumed) */
    uint8_t r_enc[KEY_ENC_MAX];
    size_t r_enclen;
    int r_fd;
    uint8_t *r_mem; /* r_st inline: its st_size bytes (owned), else NULL */
    rd_mode_t r_mode;
    store_went_t *r_went; /* FOLLOW: our reference to the writer entry */
    uint64_t r_pos;       /* next content offset to serve */
    int r_ranged;
    uint64_t r_roff, r_rlen;
    int r_started; /* store_read_next() was called */
    uint64_t r_consumed;
    uint64_t r_last_len; /* length of the last DATA step */
    uint64_t *r_stale;   /* file ids never to open again */
    size_t r_nstale, r_capstale;
    uint64_t r_reported; /* file id reported for repair (0: inline) ... */
    int r_did_report;    /* ... valid once a report was made */
    int r_switched;      /* moved to another copy after consuming bytes */
    int r_counted;       /* counted in ss_reads_reresolved */
    uint64_t r_deadline;
    store_waiter_t r_wwriter; /* on the followed writer's entry */
    store_waiter_t r_wkey;    /* on the store's key-watch list */
    store_wake_fn r_wake;
    void *r_wake_arg;
    pthread_mutex_t r_mu;
    pthread_cond_t r_cond;
    int r_woken;
};

/* ------------------------------------------------------------ waiters */

void store_waiter_add(store_wlist_t *l, store_waiter_t *w)
{
    if (w->sw_on == l)
        return;
    if (w->sw_on != NULL)
        store_waiter_del(w);
    w->sw_prev = NULL;
    w->sw_next = l->wl_head;
    if (l->wl_head != NULL)
        l->wl_head->sw_prev = w;
    l->wl_head = w;
    w->sw_on = l;
}

void store_waiter_del(store_waiter_t *w)
{
    if (w->sw_on == NULL)
        return;
    if (w->sw_prev != NULL)
        w->sw_prev->sw_next = w->sw_next;
    else
        w->sw_on->wl_head = w->sw_next;
    if (w->sw_next != NULL)
        w->sw_next->sw_prev = w->sw_prev;
    w->sw_prev = w->sw_next = NULL;
    w->sw_on = NULL;
}

void store_wlist_wake(store_wlist_t *l)
{
    for (store_waiter_t *w = l->wl_head; w != NULL; w = w->sw_next)
        w->sw_fn(w->sw_arg);
}

void store_wlist_wake_key(store_wlist_t *l, const uint8_t *enc, size_t elen)
{
    for (store_waiter_t *w = l->wl_head; w != NULL; w = w->sw_next) {
        if (w->sw_klen == elen && memcmp(w->sw_key, enc, elen) == 0)
            w->sw_fn(w->sw_arg);
    }
}

void store_wlist_detach_all(store_wlist_t *l)
{
    while (l->wl_head != NULL)
        store_waiter_del(l->wl_head);
}

/* Runs under s_mu: only signals. */
static void reader_wake(void *arg)
{
    store_reader_t *r = arg;

    pthread_mutex_lock(&r->r_mu);
    r->r_woken = 1;
    pthread_cond_signal(&r->r_cond);
    pthread_mutex_unlock(&r->r_mu);
    if (r->r_wake != NULL)
        r->r_wake(r->r_wake_arg);
}

/* ------------------------------------------------------------ helpers */

static uint64_t range_end(const store_reader_t *r)
{
    return r->r_ranged ? r->r_roff + r->r_rlen : r->r_st.st_size;
}

static int is_stale(const store_reader_t *r, uint64_t fid)
{
    for (size_t i = 0; i < r->r_nstale; i++) {
        if (r->r_stale[i] == fid)
            return 1;
    }
    return 0;
}

/* Drops the open file and any writer reference (back to RD_NONE). */
static void drop_file(store_reader_t *r)
{
    store_t *s = r->r_s;

    fio_close(r->r_fd);
    r->r_fd = -1;
    if (r->r_went != NULL) {
        pthread_mutex_lock(&s->s_mu);
        store_waiter_del(&r->r_wwriter);
        store_went_unref(r->r_went);
        pthread_mutex_unlock(&s->s_mu);
        r->r_went = NULL;
    }
    r->r_mode = RD_NONE;
}

/* Counts this read once in ss_reads_reresolved. */
static void count_reresolved(store_reader_t *r)
{
    if (!r->r_counted) {
        r->r_counted = 1;
        STORE_ATOMIC_ADD(&r->r_s->s_st_reresolved, 1);
    }
}

/* Remembers fid as never to be read again; counts the read once. */
static int mark_stale(store_reader_t *r, uint64_t fid)
{
    count_reresolved(r);
    if (is_stale(r, fid))
        return 0;
    if (r->r_nstale == r->r_capstale) {
        size_t nc = r->r_capstale ? r->r_capstale * 2 : 4;
        uint64_t *p = realloc(r->r_stale, nc * sizeof(*p));

        if (p == NULL)
            return CAIRN_ENOMEM;
        r->r_stale = p;
        r->r_capstale = nc;
    }
    r->r_stale[r->r_nstale++] = fid;
    return 0;
}

/* The reader now serves rec (with mem, its inline copy or NULL; taken). */
static void take_resolved(store_reader_t *r, const record_t *rec, uint8_t *mem)
{
    free(r->r_mem);
    r->r_mem = mem;
    r->r_st = rec->r_st;
}

/*
 * Opens the resolved file and picks the mode. Returns 0 with r_mode set,
 * or 1 when the file is stale (marked), or an error. An inline version
 * has no file: its bytes are already in r_mem.
 */
static int open_file(store_reader_t *r)
{
    store_t *s = r->r_s;
    store_went_t *e;
    blobfile_hdr_t h;
    int fd = -1;
    int st;

    if (r->r_st.st_damaged) {
        /* Marked damaged: a leftover, whatever its header says. An inline
         * copy has no file to remember: its mark is what keeps it out. */
        if (r->r_st.st_inline) {
            count_reresolved(r);
            return 1;
        }
        return mark_stale(r, r->r_st.st_file_id) < 0 ? CAIRN_ENOMEM : 1;
    }
    if (r->r_st.st_inline) {
        r->r_mode = RD_MEM;
        return 0;
    }

    pthread_mutex_lock(&s->s_mu);
    e = store_wt_find(s, r->r_st.st_file_id);
    if (e != NULL && e->we_state == WE_WRITING) {
        e->we_refs++;
        r->r_went = e;
    } else if (e == NULL && r->r_st.st_state == STORE_RECEIVING) {
        /* No writer and never completed: a crash leftover. */
        pthread_mutex_unlock(&s->s_mu);
        return mark_stale(r, r->r_st.st_file_id) < 0 ? CAIRN_ENOMEM : 1;
    }
    pthread_mutex_unlock(&s->s_mu);

    if (r->r_went != NULL) {
        st = blobfile_open(s->s_blobs, r->r_st.st_file_id, UINT64_MAX, NULL, &fd, &h);
        if (st == BLOBFILE_INCOMPLETE || st == BLOBFILE_WHOLE) {
            r->r_fd = fd;
            r->r_mode = RD_FOLLOW;
            return 0;
        }
        fio_close(fd);
        drop_file(r);
        /* The writer failed in between; treat like any unusable file. */
        return st < 0 ? st : (mark_stale(r, r->r_st.st_file_id) < 0 ? CAIRN_ENOMEM : 1);
    }
    st = blobfile_open(s->s_blobs, r->r_st.st_file_id, r->r_st.st_size, r->r_st.st_hash, &fd, &h);
    if (st == BLOBFILE_WHOLE) {
        r->r_fd = fd;
        r->r_mode = RD_SERVE;
        return 0;
    }
    fio_close(fd);
    if (st < 0)
        LOG_WARN("store.read.io", "dir=%s file=%016" PRIx64 " err=%s", s->s_dir, r->r_st.st_file_id,
                 cairn_errname(st));
    return mark_stale(r, r->r_st.st_file_id) < 0 ? CAIRN_ENOMEM : 1;
}

/* Queues a repair mark for the record (fire and forget) and reports it. */
static void report(store_reader_t *r, const record_t *rec)
{
    store_t *s = r->r_s;
    store_creq_t *rq;

    r->r_reported = rec->r_st.st_file_id;
    r->r_did_report = 1;
    rq = calloc(1, sizeof(*rq));
    if (rq != NULL) {
        rq->cr_type = CR_REPAIR;
        memcpy(rq->cr_enc, r->r_enc, r->r_enclen);
        rq->cr_enclen = r->r_enclen;
        rq->cr_rec.r_st.st_file_id = rec->r_st.st_file_id;
        (void)store_commit_detached(s, rq);
    }
    store_report_repair(s, &rec->r_st);
}

/*
 * The file at hand is unusable: resolve the record again. Returns 0 when
 * the reader moved to another file (loop on), STORE_STEP_WAIT when the
 * record still names a stale file (reported for repair; the key watch wakes
 * us), or an error (CAIRN_ENOTFOUND, CAIRN_ECHANGED, CAIRN_EUNAVAIL...).
 */
static int reresolve(store_reader_t *r)
{
    store_t *s = r->r_s;
    record_t rec;
    uint8_t *mem = NULL;
    int rc;

    drop_file(r);
    /* Watch first, then read: a change after the read still wakes us. */
    pthread_mutex_lock(&s->s_mu);
    store_waiter_add(&s->s_watch, &r->r_wkey);
    pthread_mutex_unlock(&s->s_mu);
    rc = store_rec_read_mem(s, r->r_enc, r->r_enclen, &rec, &mem);
    if (rc == 0 && rec.r_st.st_state == STORE_TOMBSTONE)
        rc = CAIRN_ENOTFOUND;
    if (rc == CAIRN_ENOTFOUND)
        return r->r_consumed > 0 ? CAIRN_ECHANGED : CAIRN_ENOTFOUND;
    if (rc < 0)
        return rc;

    if (rec.r_st.st_damaged || (!rec.r_st.st_inline && is_stale(r, rec.r_st.st_file_id))) {
        if (!rec.r_st.st_inline && mark_stale(r, rec.r_st.st_file_id) < 0)
            return CAIRN_ENOMEM;
        if (!r->r_did_report || r->r_reported != rec.r_st.st_file_id)
            report(r, &rec);
        if (store_mono_ms() >= r->r_deadline)
            return CAIRN_EUNAVAIL;
        return STORE_STEP_WAIT;
    }
    if (r->r_consumed > 0) {
        if (store_version_cmp(&rec.r_st.st_version, &r->r_st.st_version) != 0) {
            free(mem);
            return CAIRN_ECHANGED;
        }
        /* Same version elsewhere (another file, or inline): go on at the
         * same offset; the size and hash are those of the same version. */
        take_resolved(r, &rec, mem);
        r->r_switched = 1;
        return 0;
    }
    take_resolved(r, &rec, mem);
    if (r->r_ranged && (r->r_roff > r->r_st.st_size || r->r_rlen > r->r_st.st_size - r->r_roff))
        return CAIRN_EINVAL;
    r->r_pos = r->r_ranged ? r->r_roff : 0;
    return 0;
}

/* ---------------------------------------------------------------- API */

/* See store.h. */
int store_read_open(store_t *s, const char *key, size_t klen, const store_read_opts_t *o,
                    store_reader_t **out, store_stat_t *st)
{
    store_reader_t *r = NULL;
    record_t rec;
    uint8_t *mem = NULL;
    int rc;

    if (out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (s == NULL || key == NULL || key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->r_s = s;
    r->r_fd = -1;
    r->r_enclen = key_encode(key, klen, r->r_enc);
    r->r_deadline = (o != NULL && o->ro_deadline_ms != 0)
                        ? o->ro_deadline_ms
                        : store_mono_ms() + STORE_DEFAULT_DEADLINE_MS;
    if (o != NULL) {
        r->r_wake = o->ro_wake;
        r->r_wake_arg = o->ro_wake_arg;
    }
    r->r_wwriter.sw_fn = reader_wake;
    r->r_wwriter.sw_arg = r;
    r->r_wkey.sw_fn = reader_wake;
    r->r_wkey.sw_arg = r;
    r->r_wkey.sw_key = r->r_enc;
    r->r_wkey.sw_klen = r->r_enclen;
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->r_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_mutex_init(&r->r_mu, NULL);

    rc = store_rec_read_mem(s, r->r_enc, r->r_enclen, &rec, &mem);
    if (rc == 0 && rec.r_st.st_state == STORE_TOMBSTONE)
        rc = CAIRN_ENOTFOUND;
    if (rc < 0)
        goto fail;
    take_resolved(r, &rec, mem);
    mem = NULL;
    if (st != NULL)
        *st = r->r_st;
    *out = r;
    return 0;

fail:
    free(mem);
    store_read_close(r);
    return rc;
}

/*
 * See store.h. The record and the bytes come from one read transaction, so
 * they belong to the same version; the bytes are copied before it ends and
 * checked after. Only the case with nothing to follow, wait for or repair
 * is served here (complete, inline, not damaged); everything else is
 * -EAGAIN so the caller takes store_read_open() and the reader state
 * machine decides (a bad inline copy is logged and refused there). The map
 * lock is only tried: the commit thread holds it exclusively while it
 * grows the map, and an event loop must not wait for that.
 */
int store_read_inline(store_t *s, const char *key, size_t klen, void *buf, size_t cap,
                      store_stat_t *st, size_t *len)
{
    uint8_t enc[KEY_ENC_MAX];
    uint8_t hash[STORE_HASH_LEN];
    MDB_txn *txn = NULL;
    MDB_val k, v;
    record_t rec;
    size_t elen;
    int mrc, rc;

    if (len != NULL)
        *len = 0;
    if (s == NULL || key == NULL || buf == NULL || st == NULL || len == NULL ||
        key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    elen = key_encode(key, klen, enc);
    if (pthread_rwlock_tryrdlock(&s->s_map_lock) != 0)
        return -EAGAIN;
    mrc = mdb_txn_begin(s->s_env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        pthread_rwlock_unlock(&s->s_map_lock);
        return store_mdb_err(mrc);
    }
    rc = store_rec_get(s, txn, enc, elen, &rec);
    if (rc == 0 && rec.r_st.st_state == STORE_TOMBSTONE)
        rc = CAIRN_ENOTFOUND;
    else if (rc == 0 && (rec.r_st.st_state != STORE_COMPLETE || !rec.r_st.st_inline ||
                         rec.r_st.st_damaged || rec.r_st.st_size > cap))
        rc = -EAGAIN;
    if (rc == 0) {
        k.mv_size = elen;
        k.mv_data = enc;
        mrc = mdb_get(txn, s->s_db_inline, &k, &v);
        if (mrc == 0 && v.mv_size == rec.r_st.st_size)
            memcpy(buf, v.mv_data, v.mv_size);
        else if (mrc == 0 || mrc == MDB_NOTFOUND)
            rc = -EAGAIN; /* store_read_open() reports the bad copy */
        else
            rc = store_mdb_err(mrc);
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->s_map_lock);
    if (rc < 0)
        return rc;
    blobfile_hash(buf, (size_t)rec.r_st.st_size, hash);
    if (memcmp(hash, rec.r_st.st_hash, STORE_HASH_LEN) != 0)
        return -EAGAIN;
    *st = rec.r_st;
    *len = (size_t)rec.r_st.st_size;
    return 0;
}

int store_read_set_range(store_reader_t *r, uint64_t off, uint64_t len)
{
    if (r->r_started || off > r->r_st.st_size || len > r->r_st.st_size - off)
        return CAIRN_EINVAL;
    r->r_ranged = 1;
    r->r_roff = off;
    r->r_rlen = len;
    r->r_pos = off;
    return 0;
}

/* FOLLOW: published bytes, or a wait registration, or the writer's end. */
static int follow_step(store_reader_t *r, store_step_t *step, int *again)
{
    store_t *s = r->r_s;
    store_went_t *e = r->r_went;
    uint64_t end = range_end(r);
    store_went_state_t ws;
    blobfile_hdr_t hdr;
    uint64_t avail;
    int rc;

    *again = 0;
    pthread_mutex_lock(&s->s_mu);
    ws = e->we_state;
    if (ws == WE_WRITING) {
        avail = e->we_written < end ? e->we_written : end;
        if (avail > r->r_pos) {
            pthread_mutex_unlock(&s->s_mu);
            step->ss_kind = STORE_STEP_DATA;
            step->ss_fd = r->r_fd;
            step->ss_off = BLOBFILE_HEADER_SIZE + r->r_pos;
            step->ss_len = avail - r->r_pos;
            r->r_last_len = step->ss_len;
            return 0;
        }
        if (store_mono_ms() >= r->r_deadline) {
            pthread_mutex_unlock(&s->s_mu);
            return CAIRN_EUNAVAIL;
        }
        store_waiter_add(&e->we_waiters, &r->r_wwriter);
        pthread_mutex_unlock(&s->s_mu);
        step->ss_kind = STORE_STEP_WAIT;
        return 0;
    }
    pthread_mutex_unlock(&s->s_mu);

    /* The writer is finished one way or another: judge the file itself.
     * FINALIZED or DONE: the inode we follow is whole, but a writer whose
     * version lost meanwhile unlinks it as soon as its finish returns, so
     * judge the descriptor we hold rather than reopening by path. */
    *again = 1;
    if ((ws == WE_FINALIZED || ws == WE_DONE) && r->r_fd >= 0 &&
        blobfile_classify_fd(r->r_fd, r->r_st.st_file_id, r->r_st.st_size, r->r_st.st_hash, &hdr) ==
            BLOBFILE_WHOLE) {
        int fd = r->r_fd;

        r->r_fd = -1; /* keep the descriptor across drop_file */
        drop_file(r);
        r->r_fd = fd;
        r->r_mode = RD_SERVE;
        return 0;
    }
    drop_file(r);
    if (ws == WE_CORRUPT || ws == WE_FAILED) {
        if (ws == WE_CORRUPT && r->r_consumed > 0)
            return CAIRN_ECHANGED; /* bytes already sent failed their hash */
        rc = mark_stale(r, r->r_st.st_file_id);
        return rc;
    }
    /* FINALIZED or DONE: the file is whole; a replica record may still say
     * `receiving` until its commit, so classify the file directly. */
    {
        blobfile_hdr_t h;
        int fd = -1;
        int st = blobfile_open(s->s_blobs, r->r_st.st_file_id, r->r_st.st_size, r->r_st.st_hash,
                               &fd, &h);

        if (st == BLOBFILE_WHOLE) {
            r->r_fd = fd;
            r->r_mode = RD_SERVE;
            return 0;
        }
        fio_close(fd);
        return mark_stale(r, r->r_st.st_file_id);
    }
}

/* See store.h: the read algorithm, one step at a time. */
int store_read_next(store_reader_t *r, store_step_t *step)
{
    store_t *s = r->r_s;
    int again;
    int rc;

    memset(step, 0, sizeof(*step));
    step->ss_fd = -1;
    r->r_started = 1;
    r->r_last_len = 0;
    if (r->r_went != NULL) { /* the writer list is only ever ours while following */
        pthread_mutex_lock(&s->s_mu);
        store_waiter_del(&r->r_wwriter);
        pthread_mutex_unlock(&s->s_mu);
    }
    for (int hop = 0; hop < READ_MAX_HOPS; hop++) {
        if (r->r_mode == RD_NONE) {
            if (!r->r_st.st_inline && is_stale(r, r->r_st.st_file_id)) {
                rc = 1;
            } else {
                rc = open_file(r);
                if (rc < 0)
                    return rc;
            }
            if (rc == 1) {
                rc = reresolve(r);
                if (rc == STORE_STEP_WAIT) {
                    step->ss_kind = STORE_STEP_WAIT;
                    return 0;
                }
                if (rc < 0)
                    return rc;
                continue;
            }
        }
        if (r->r_mode == RD_SERVE || r->r_mode == RD_MEM) {
            uint64_t end = range_end(r);

            if (r->r_pos >= end) {
                step->ss_kind = STORE_STEP_EOF;
                return 0;
            }
            step->ss_kind = STORE_STEP_DATA;
            if (r->r_mode == RD_MEM) {
                step->ss_mem = r->r_mem + r->r_pos;
            } else {
                step->ss_fd = r->r_fd;
                step->ss_off = BLOBFILE_HEADER_SIZE + r->r_pos;
            }
            step->ss_len = end - r->r_pos;
            r->r_last_len = step->ss_len;
            return 0;
        }
        rc = follow_step(r, step, &again);
        if (rc < 0)
            return rc;
        if (!again)
            return 0;
    }
    /* Pathological churn: let the caller wait for the next change. */
    if (store_mono_ms() >= r->r_deadline)
        return CAIRN_EUNAVAIL;
    step->ss_kind = STORE_STEP_WAIT;
    return 0;
}

void store_read_consumed(store_reader_t *r, uint64_t n)
{
    if (n > r->r_last_len)
        n = r->r_last_len;
    r->r_last_len -= n;
    r->r_pos += n;
    r->r_consumed += n;
}

/* See store.h: RD_SERVE and RD_MEM never go back to following or waiting. */
int store_read_is_whole(const store_reader_t *r)
{
    return r != NULL && (r->r_mode == RD_SERVE || r->r_mode == RD_MEM);
}

const store_stat_t *store_read_stat(const store_reader_t *r)
{
    return &r->r_st;
}

/* See store.h. The copy is the one resolved last; a reader that moved
 * copies after consuming bytes cannot say which one was bad. */
int store_read_report_damaged(store_reader_t *r)
{
    if (r == NULL)
        return CAIRN_EINVAL;
    if (r->r_switched || r->r_st.st_state != STORE_COMPLETE)
        return CAIRN_ESTALE;
    return store_report_damaged(r->r_s, r->r_st.st_key, r->r_st.st_klen,
                                r->r_st.st_inline ? 0 : r->r_st.st_file_id);
}

/* Sleeps until a wake, timeout_ms or the reader's deadline, whichever first. */
void store_read_wait(store_reader_t *r, uint64_t timeout_ms)
{
    uint64_t now = store_mono_ms();
    uint64_t until = now + timeout_ms;
    struct timespec ts;

    if (until > r->r_deadline)
        until = r->r_deadline;
    ts.tv_sec = (time_t)(until / 1000);
    ts.tv_nsec = (long)(until % 1000) * 1000000L;
    pthread_mutex_lock(&r->r_mu);
    while (!r->r_woken && store_mono_ms() < until) {
        if (pthread_cond_timedwait(&r->r_cond, &r->r_mu, &ts) == ETIMEDOUT)
            break;
    }
    r->r_woken = 0;
    pthread_mutex_unlock(&r->r_mu);
}

void store_read_close(store_reader_t *r)
{
    store_t *s;

    if (r == NULL)
        return;
    s = r->r_s;
    drop_file(r);
    pthread_mutex_lock(&s->s_mu);
    store_waiter_del(&r->r_wkey);
    store_waiter_del(&r->r_wwriter);
    pthread_mutex_unlock(&s->s_mu);
    pthread_mutex_destroy(&r->r_mu);
    pthread_cond_destroy(&r->r_cond);
    free(r->r_stale);
    free(r->r_mem);
    free(r);
}
