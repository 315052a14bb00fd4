/*
 * store_int.h -- private state of the local store (storage/store.h).
 *
 * Files: store.c (open/close, LMDB env, meta, file-id allocation, lock,
 * stats), commit.c (the commit thread: group commit, map growth, GC
 * unlinks), write.c (writer sessions, writer table, deletes), read.c
 * (reader state machine, waiters and key watches), recover.c (recovery on
 * open, tombstone GC), list.c (stat, list, repair walk), changelog.c (the
 * replication log and cursors: format, reads, skip, trim), damaged.c
 * (marking a complete copy damaged).
 *
 * Locks, in the order they may nest:
 *   s_map_lock (rw)  held shared by every read transaction, exclusively by
 *                    the commit thread while it grows the LMDB map;
 *   s_cq_mu          the commit queue;
 *   s_mu             writer table, file-id range, waiter lists, key watches;
 *   r_mu             one reader's wake flag (taken by wakes under s_mu).
 * No store lock is held while calling so_repair or so_on_change (the
 * latter runs on the commit thread between commit and wake-up) or while
 * waiting for a commit. Wake callbacks (store_wake_fn) run with s_mu held.
 *
 * LMDB sub-databases (all keys/values described in docs/storage.md):
 *   records  key_encode(key) -> record (record.h)
 *   files    u64be(file id) -> fileent: the record that references the file
 *   gc       u64be(file id) -> "": unreferenced, to unlink (then removed)
 *   repair   key_encode(key) -> u64be(file id): record waiting for a whole copy
 *            (receiving, found not whole by a read or recovery, or marked
 *            damaged: record "d", st_damaged; file id 0 for an inline one)
 *   inline   key_encode(key) -> content bytes of the record's version while
 *            that record is inline (r_st.st_inline); written, replaced and
 *            deleted only together with the record (rec_put in commit.c)
 *   tombs    u64be(hlc) u16be(origin) key_encode(key) -> "": tombstone index,
 *            so store_gc_tombstones() is a range scan, not a store scan
 *   log      u16be(origin) u64be(seq) -> msgpack change (see changelog.c)
 *   cursors  u16be(origin) -> u64be(highest seq applied from that origin)
 *   meta     name -> u64be value (schema, node_id, fid_hwm, hlc_hwm,
 *            checkpoint, clean, local_seq, blobs, bytes, tombstones,
 *            inline_blobs, inline_bytes)
 */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <xxhash.h>

#include "common/hlc.h"
#include "storage/keys.h"
#include "storage/record.h"
#include "storage/store.h"

#define STORE_SCHEMA 1
#define STORE_DIR_MAX (PATH_MAX - 64) /* data dir paths leave room for file names */
#define STORE_FID_RANGE 1024          /* file ids reserved per persisted high-water bump */
#define STORE_WT_BUCKETS 256          /* writer table hash buckets */
#define STORE_MAXDBS 16
#define STORE_MAXREADERS 1024
#define STORE_HLC_AHEAD HLC_MAKE(10000, 0) /* persisted clock ceiling: last + 10 s */
#define STORE_HLC_SLACK HLC_MAKE(5000, 0)  /* re-persist when within 5 s of it */
#define STORE_DEFAULT_MAP ((uint64_t)256 << 20)
#define STORE_DEFAULT_MAP_MAX ((uint64_t)1 << 40)
#define STORE_DEFAULT_BATCH 256
#define STORE_DEFAULT_DEADLINE_MS 30000
#define STORE_TOMBKEY_MAX (8 + 2 + KEY_ENC_MAX)
#define STORE_LOGKEY_LEN 10

/* ------------------------------------------------------------ waiters */

typedef struct store_wlist store_wlist_t;

/*
 * One registration of a reader: on a writer entry's list (progress) or on
 * the store's key-watch list (record changes of sw_key). Embedded in the
 * reader; linked only under s_mu.
 */
typedef struct store_waiter {
    void (*sw_fn)(void *arg);
    void *sw_arg;
    const uint8_t *sw_key; /* key watches: encoded key (borrowed from the reader) */
    size_t sw_klen;
    struct store_waiter *sw_prev;
    struct store_waiter *sw_next;
    store_wlist_t *sw_on; /* list it is linked into, NULL when unlinked */
} store_waiter_t;

struct store_wlist {
    store_waiter_t *wl_head;
};

/* All with s_mu held. */
void store_waiter_add(store_wlist_t *l, store_waiter_t *w);
void store_waiter_del(store_waiter_t *w);
void store_wlist_wake(store_wlist_t *l);
void store_wlist_wake_key(store_wlist_t *l, const uint8_t *enc, size_t elen);
void store_wlist_detach_all(store_wlist_t *l);

/* ------------------------------------------------------- writer table */

typedef enum {
    WE_WRITING = 0,   /* bytes arriving */
    WE_FINALIZED = 1, /* file whole on disk, record commit pending */
    WE_DONE = 2,      /* committed */
    WE_FAILED = 3,    /* aborted or failed; file removed */
    WE_CORRUPT = 4,   /* failed its content-hash check; file removed */
} store_went_state_t;

/*
 * A live writer ("the lock" on its file id). Hashed in s_wt from id
 * allocation until the writer finishes or aborts; reference counted so a
 * following reader can still see how the writer ended. All fields under s_mu.
 */
typedef struct store_went {
    uint64_t we_fid;
    uint64_t we_written;
    store_went_state_t we_state;
    int we_hashed;
    unsigned we_refs;
    store_wlist_t we_waiters;
    struct store_went *we_next;
} store_went_t;

/* With s_mu held: the hashed entry of fid or NULL. */
store_went_t *store_wt_find(store_t *s, uint64_t fid);
/* With s_mu held: drops one reference, freeing the entry at zero. */
void store_went_unref(store_went_t *e);

/* ------------------------------------------------------- commit queue */

typedef enum {
    CR_HWM = 1, /* persist the next file-id high-water mark */
    CR_BEGIN,   /* replica put: `receiving` record on a fresh file */
    CR_LOCAL,   /* local put finish: new complete version */
    CR_FINISH,  /* replica put finish: receiving -> complete */
    CR_DELETE,  /* tombstone (local or replica) */
    CR_REPAIR,  /* mark a record's file as needing repair (fire and forget) */
    CR_TOMBGC,  /* drop old tombstones */
    CR_SKIP,    /* log a received change that was not applied + raise its cursor */
    CR_LOGTRIM, /* drop log entries of cr_log_origin with seq <= cr_log_seq */
    CR_DAMAGED, /* mark a complete record's copy damaged (store_report_damaged) */
    CR_RINLINE, /* whole replica puts, inline, in order (store_put_replica_batch) */
} store_creq_type_t;

/*
 * One element of a CR_RINLINE request: a replica version whose bytes are
 * given (already hash-checked by the submitter). sri_rec holds key,
 * version, size, hash and ctype on input and the committed record on
 * output; sri_rc is the element's result.
 */
typedef struct store_ritem {
    uint8_t sri_enc[KEY_ENC_MAX];
    size_t sri_enclen;
    record_t sri_rec;
    const void *sri_data; /* sri_rec.r_st.st_size bytes, borrowed from the submitter */
    uint16_t sri_log_origin;
    uint64_t sri_log_seq;
    int sri_rc;
} store_ritem_t;

/*
 * A commit request. The submitter owns it and blocks until cr_done, unless
 * cr_detached (then the commit thread frees it). cr_rec is the record to
 * write on input (key, file id, size, hash, ctype; the version for replica
 * requests) and the committed record on output.
 */
typedef struct store_creq {
    store_creq_type_t cr_type;
    int cr_rc;
    int cr_done;
    int cr_detached;
    pthread_cond_t cr_cond; /* the submitter waits on it (s_cq_mu) until cr_done */
    struct store_creq *cr_next;
    uint8_t cr_enc[KEY_ENC_MAX];
    size_t cr_enclen;
    record_t cr_rec;
    int cr_replica;
    int cr_if_none_match;
    int cr_has_if_match;
    uint8_t cr_if_match[STORE_HASH_LEN];
    uint16_t cr_log_origin;
    uint64_t cr_log_seq;
    const void *cr_inline;   /* CR_LOCAL of an inline version (cr_rec.r_st.st_inline):
                              * its cr_rec.r_st.st_size content bytes, borrowed from
                              * the writer until the request is done */
    int cr_dirsync;          /* fsync the file's directory before the commit */
    int cr_new_dir;          /* ... and its parents (directories were created) */
    uint64_t cr_horizon;     /* CR_TOMBGC */
    size_t cr_max;           /* CR_TOMBGC, CR_LOGTRIM: at most this many */
    size_t cr_count;         /* ... how many were removed */
    store_ritem_t *cr_items; /* CR_RINLINE: the elements, applied in order until one fails */
    size_t cr_nitems;
    int cr_skip_lost; /* ... losing / duplicate elements are logged as skipped */
    size_t cr_ndone;  /* ... out: leading elements committed */
} store_creq_t;

/* ------------------------------------------------------------- store */

struct store {
    char s_dir[STORE_DIR_MAX];
    char s_blobs[STORE_DIR_MAX];
    int s_lock_fd;
    uint16_t s_node_id;
    uint64_t s_max_blob;
    unsigned s_batch_max;
    int s_log_changes;
    int s_inline_on; /* local writes of <= s_inline_max bytes go inline */
    uint64_t s_inline_max;
    store_repair_fn s_repair;
    void *s_repair_arg;
    void (*s_on_change)(void *arg, uint16_t origin, uint64_t seq);
    void *s_on_change_arg;
    hlc_t *s_clock;
    hlc_t s_own_clock;
    int s_own_clock_init;

    MDB_env *s_env;
    MDB_dbi s_db_records, s_db_files, s_db_gc, s_db_repair, s_db_tombs;
    MDB_dbi s_db_log, s_db_cursors, s_db_meta, s_db_inline;
    pthread_rwlock_t s_map_lock;
    int s_map_lock_init;
    uint64_t s_map_size; /* commit thread (and open/close) only */
    uint64_t s_map_max;

    pthread_mutex_t s_mu;
    pthread_cond_t s_id_cond;
    int s_mu_init;
    store_went_t *s_wt[STORE_WT_BUCKETS];
    uint64_t s_nwriters;
    uint64_t s_fid_next; /* next id to hand out */
    uint64_t s_fid_hwm;  /* persisted: ids below it may have been handed out */
    int s_fid_bumping;
    store_wlist_t s_watch; /* readers waiting for a key's record to change */

    pthread_mutex_t s_cq_mu;
    pthread_cond_t s_cq_cond; /* commit thread waits for work */
    int s_cq_init;
    store_creq_t *s_cq_head;
    store_creq_t *s_cq_tail;
    int s_cq_stop;
    pthread_t s_cthread;
    int s_cthread_started;
    store_creq_t **s_batch; /* commit thread's two batches (2 x s_batch_max slots):
                             * the one being committed, the one awaiting its sync */
    int *s_batch_pre;       /* per-request result of the pre-commit phase */

    /* Commit-thread state (mirrors of persisted meta). */
    int s_fatal; /* an fsync (LMDB commit or blob directory) failed: every
                  * later commit fails with this code (never retried) */
    uint64_t s_hlc_hwm;
    uint64_t s_local_seq;
    uint64_t s_local_durable;   /* (atomic) highest local log seq whose commit is
                                 * durable, and */
    uint64_t s_local_committed; /* (atomic) highest one committed or being
                                 * committed: store_log_read() withholds this
                                 * node's entries in between (commit_main) */
    uint64_t s_checkpoint;
    uint64_t *s_gcdone; /* unlinked files whose gc entries are still to delete */
    size_t s_gcdone_n;
    size_t s_gcdone_cap;
    uint64_t *s_gcdefer; /* collected files whose writer was still live: unlinked
                          * by a later batch (or at close); gc entry kept */
    size_t s_gcdefer_n;
    size_t s_gcdefer_cap;

    /* Statistics (atomics). */
    uint64_t s_cnt_blobs, s_cnt_bytes, s_cnt_tombs;
    uint64_t s_cnt_inl_blobs, s_cnt_inl_bytes; /* the inline part of blobs/bytes */
    uint64_t s_nbuffered;                      /* local writers buffering (no file id yet) */
    uint64_t s_st_reresolved, s_st_repairs_queued, s_st_commit_txns, s_st_commits;
    uint64_t s_st_collected, s_st_leftovers;
};

#define STORE_ATOMIC_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define STORE_ATOMIC_SUB(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define STORE_ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* ---------------------------------------------------------- store.c */

/* Maps an LMDB return code to a cairn code (MDB_MAP_FULL -> -ENOSPC). */
int store_mdb_err(int rc);
/* A short read transaction: takes s_map_lock shared. */
int store_rtxn_begin(store_t *s, MDB_txn **out);
void store_rtxn_end(store_t *s, MDB_txn *txn);
/* Reads and decodes the record at enc: 0, CAIRN_ENOTFOUND, or an error. */
int store_rec_get(store_t *s, MDB_txn *txn, const uint8_t *enc, size_t elen, record_t *r);
/* The same in its own short read transaction. */
int store_rec_read(store_t *s, const uint8_t *enc, size_t elen, record_t *r);
/*
 * store_rec_read() that also copies an inline record's content out of the
 * same transaction: *mem gets a malloc'ed copy (caller frees; at least one
 * byte is allocated) when r->r_st.st_inline, else NULL. The copy's size
 * and hash are checked against the record: CAIRN_ECORRUPT (logged) when
 * the bytes are missing or differ. On failure *mem is NULL. A damaged
 * inline record (st_damaged) is returned without a copy (*mem NULL).
 */
int store_rec_read_mem(store_t *s, const uint8_t *enc, size_t elen, record_t *r, uint8_t **mem);
/* 1 when r is complete, not marked damaged, and its content is here
 * whole: inline (the bytes live and die with the record) or a whole file. */
int store_rec_whole(store_t *s, const record_t *r);
/* meta values (8-byte big-endian). */
int store_meta_get(store_t *s, MDB_txn *txn, const char *name, uint64_t *v, int *found);
int store_meta_put(store_t *s, MDB_txn *txn, const char *name, uint64_t v);
/* Allocates a fresh file id and registers e under it in the writer table. */
int store_fid_alloc(store_t *s, store_went_t *e);
/* With s_mu held: the lowest id that may still be unsettled. */
uint64_t store_checkpoint_locked(store_t *s);
/* Classifies fid's file against the record's size/hash: BLOBFILE_* or -errno. */
int store_file_state(store_t *s, uint64_t fid, uint64_t size, const uint8_t *hash);
/* Reports key for repair through so_repair (no lock held) and counts it. */
void store_report_repair(store_t *s, const store_stat_t *st);

/* --------------------------------------------------------- commit.c */

int store_commit_start(store_t *s);
/* Drains the queue and stops the thread. */
void store_commit_stop(store_t *s);
/* Queues rq and waits for it; returns rq->cr_rc. */
int store_commit(store_t *s, store_creq_t *rq);
/* Queues a heap-allocated rq that the commit thread frees. */
int store_commit_detached(store_t *s, store_creq_t *rq);
/* Final checkpoint at close (commit thread stopped): gc entries, clean flag. */
int store_commit_final(store_t *s);

/* ------------------------------------------------------ changelog.c */

/*
 * Transaction-level pieces of the replication log and cursors, used by the
 * commit thread inside its write transaction. They return 0, a raw LMDB
 * code, or CAIRN_ENOMEM (encoding); any of those fails the whole batch.
 */

/* Appends (origin, seq) -> st (key, version, state, size, hash, ctype;
 * superseded marks a change not applied here). With noover, an existing
 * entry is kept and *added is 0; otherwise it is replaced. added may be NULL. */
int store_log_put(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t seq, const store_stat_t *st,
                  int superseded, int noover, int *added);
/* cursors[origin] = max(cursors[origin], seq). */
int store_cursor_raise(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t seq);
/* Deletes up to max entries of origin with seq <= upto; *n gets the count. */
int store_log_trim_txn(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t upto, size_t max,
                       size_t *n);

/* -------------------------------------------------------- recover.c */

/* Runs recovery inside store_open (before the commit thread starts). */
int store_recover(store_t *s);

#endif
