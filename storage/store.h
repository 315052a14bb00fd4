/*
 * store.h -- the local blob store of one cairn node.
 *
 * Records live in LMDB (DATA/meta/), blob content in one file per version
 * (DATA/blobs/xx/yy/<16 hex>.blob, see blobfile.h). docs/storage.md
 * describes the on-disk format, the durability order and the read
 * algorithm; this header is the API the node and replication use.
 *
 * Threads: every function may block on disk and must not be called on an
 * event loop thread (store_read_inline() is the one exception, made for
 * it). All functions are thread-safe except that one
 * store_writer_t / store_reader_t must be used by one thread at a time.
 * Write transactions are owned by one internal commit thread that groups
 * concurrent commits into one LMDB transaction (group commit).
 *
 * Errors: 0 or a negative CAIRN_E* / -errno (see common/error.h).
 * -ENOSPC means the disk (or the LMDB map at its maximum) is full.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/hlc.h"

#define STORE_KEY_MAX 1024
#define STORE_CTYPE_MAX 255
#define STORE_HASH_LEN 16

typedef struct store store_t;
typedef struct store_writer store_writer_t;
typedef struct store_reader store_reader_t;

/* A version: HLC timestamp with the origin node id as tie-break. */
typedef struct store_version {
    uint64_t sv_hlc;
    uint16_t sv_origin;
} store_version_t;

/* <0, 0, >0 as a is older than, equal to, newer than b (last writer wins). */
int store_version_cmp(const store_version_t *a, const store_version_t *b);

typedef enum {
    STORE_COMPLETE = 1,  /* content whole and durable */
    STORE_RECEIVING = 2, /* replicated version, bytes still arriving (or a crash leftover) */
    STORE_TOMBSTONE = 3, /* deleted at this version */
} store_state_t;

/* A copy of one record; owns nothing. */
typedef struct store_stat {
    char st_key[STORE_KEY_MAX + 1]; /* NUL-terminated copy of the key */
    size_t st_klen;
    store_version_t st_version;
    store_state_t st_state;
    uint64_t st_file_id;             /* 0 for tombstones */
    uint64_t st_size;                /* final size (receiving: the size announced by the sender) */
    uint8_t st_hash[STORE_HASH_LEN]; /* XXH3-128 of the content, big-endian canonical form */
    char st_ctype[STORE_CTYPE_MAX + 1];
    /* The (origin = this node) sequence number the change got in the
     * replication log: set only in what store_put_finish() and
     * store_delete_ex() return for a LOCAL write while so_log_changes is on;
     * 0 everywhere else (replica writes, records read back, listings). */
    uint64_t st_log_seq;
    /* 1: the content is stored inline in LMDB (state complete, st_file_id
     * 0, no blob file); see so_inline_max. 0 for file-backed versions,
     * receiving records and tombstones. */
    int st_inline;
    /* 1: this complete version's local copy (its file, or its inline bytes)
     * was reported damaged (store_report_damaged()): it is never served
     * again and waits for a same-version repair. 0 everywhere else. */
    int st_damaged;
} store_stat_t;

/*
 * Called when a read finds that the current record's file is not whole and
 * nobody is writing it (a crash leftover, missing or damaged file), and by
 * recovery for every such record it finds. The replication layer fetches the
 * version (or a newer one) from a peer. Called from any store thread, with no
 * store lock held; it must not block (queue the work and return).
 */
typedef void (*store_repair_fn)(void *arg, const char *key, size_t klen,
                                const store_version_t *version, uint64_t file_id);

typedef struct store_opts {
    const char *so_dir;        /* data directory; created if missing */
    uint16_t so_node_id;       /* 1..65535: origin id of local writes */
    uint64_t so_map_size;      /* initial LMDB map size (0: 256 MiB); grows on demand */
    uint64_t so_map_size_max;  /* map never grows past this (0: 1 TiB); then -ENOSPC */
    uint64_t so_max_blob_size; /* 0: unlimited; bigger writes fail with CAIRN_ETOOBIG */
    int so_log_changes;        /* append every applied change to the replication log */
    store_repair_fn so_repair; /* may be NULL */
    void *so_repair_arg;
    hlc_t *so_clock;              /* shared clock, or NULL for a private one */
    unsigned so_commit_batch_max; /* commits per LMDB transaction (0: 256) */
    /*
     * May be NULL. Called by the commit thread after a transaction that
     * appended replication-log entries has committed (so the entries are
     * durable and visible to store_log_read()): once per origin that got
     * entries in that transaction, with the highest seq appended for it
     * (a group commit of local seqs 5, 6, 7 gives one call (self, 7)).
     * Called before the writers of that transaction are woken, so when
     * store_put_finish()/store_delete_ex()/store_log_skip() returns, the
     * call for its entry (or a higher seq of the same origin) was made.
     * No store lock is held, but every commit waits for it: it must not
     * block and must not call into the store (signal, e.g. uv_async_send,
     * and return). Not called for trims or failed transactions.
     */
    void (*so_on_change)(void *arg, uint16_t origin, uint64_t seq);
    void *so_on_change_arg;
    /*
     * Inline blobs. A LOCAL write whose final size is <= so_inline_max bytes
     * is stored in LMDB (sub-database `inline`) inside the same group-commit
     * transaction as its record: no blob file, no fsync of its own (the
     * synced LMDB commit is its durability). 0 = STORE_INLINE_DEFAULT; at
     * most STORE_INLINE_LIMIT (larger: store_open fails with CAIRN_EINVAL).
     * Replica writes through store_put_begin() are file-backed (visible
     * and followable at begin); store_put_replica_inline() stores a whole
     * small replica version inline. Blobs already stored keep their kind when the threshold
     * changes. Memory: a local writer buffers at most so_inline_max bytes
     * while its size is unknown or <= so_inline_max (it spills to a file
     * when more arrives); a reader of an inline version holds one copy.
     */
    uint64_t so_inline_max;
    int so_inline_disable; /* non-zero: every write is file-backed */
} store_opts_t;

/* Default and hard maximum of so_inline_max (docs/storage.md "Inline blobs"
 * has the measurements behind the default). */
#define STORE_INLINE_DEFAULT ((uint64_t)64 * 1024)
#define STORE_INLINE_LIMIT ((uint64_t)1024 * 1024)

/*
 * Opens (creating when needed) the store in opts->so_dir, takes DATA/LOCK
 * with flock() -- CAIRN_ELOCKED when another process holds it -- and runs
 * recovery: leftovers from a crash are found (bounded by the work since the
 * last checkpoint), records pointing at them are queued for repair (and
 * reported through so_repair), unreferenced files are deleted. On failure
 * nothing is left open. The store borrows so_clock (if given) until close.
 */
int store_open(const store_opts_t *opts, store_t **out);

/*
 * Waits for queued commits, aborts nothing (the caller must have finished
 * or aborted its writers and closed its readers), writes a clean
 * checkpoint, closes LMDB and releases the lock. Safe on NULL.
 */
void store_close(store_t *s);

/* ------------------------------------------------------------------ write */

typedef enum {
    STORE_PUT_LOCAL = 0,   /* client write: invisible until finish, gets a fresh local version */
    STORE_PUT_REPLICA = 1, /* replicated write: visible at begin as `receiving` */
} store_put_mode_t;

typedef struct store_put_opts {
    store_put_mode_t po_mode;
    int64_t po_size;      /* expected size; -1 = unknown (local only). A different
                           * final size fails finish with CAIRN_EINVAL. A local
                           * write with po_size -1 or <= so_inline_max is
                           * buffered and may end up inline (see so_inline_max). */
    const char *po_ctype; /* content type, NULL for none; max STORE_CTYPE_MAX bytes */
    /* local only, checked atomically with the commit: */
    int po_if_none_match;       /* CAIRN_EPRECOND if a live version exists */
    const uint8_t *po_if_match; /* CAIRN_EPRECOND unless the live version has this hash */
    /* replica only: */
    store_version_t po_version; /* the version being delivered */
    const uint8_t *po_hash;     /* its content hash (required): checked at finish */
    uint16_t po_log_origin;     /* change identity for the log/cursor (0: none) */
    uint64_t po_log_seq;
} store_put_opts_t;

/*
 * Starts writing a new version of key into a fresh file id (a write never
 * reopens an existing file). Local: nothing is visible until finish.
 * Replica: the version is checked against the current record first --
 * CAIRN_ESTALE if it loses last-writer-wins, CAIRN_EEXIST if this version is
 * already complete and intact here, CAIRN_EBUSY if a live writer is
 * receiving this very version -- otherwise the record points at the new file
 * in state `receiving` before this returns (a current record of the same
 * version whose file is a crash leftover is replaced: same-version
 * re-delivery). On failure nothing is created and *out is NULL.
 */
int store_put_begin(store_t *s, const char *key, size_t klen, const store_put_opts_t *o,
                    store_writer_t **out);

/*
 * Appends len bytes. Readers following a replica write see them after this
 * returns. A buffering local writer keeps them in memory until they would
 * exceed so_inline_max; then it creates its file (fresh id), writes what
 * it buffered and goes on as a file-backed write. Failpoint
 * store.write.chunk is evaluated after each chunk either way. On failure
 * (-ENOSPC, -EIO, CAIRN_ETOOBIG, CAIRN_ENOMEM) the writer is still valid
 * and must be aborted.
 */
int store_put_write(store_writer_t *w, const void *p, size_t len);

/* Bytes written so far. */
uint64_t store_put_written(const store_writer_t *w);

/*
 * Makes the version durable and visible: content fdatasync, header
 * COMPLETE, fdatasync, directory fsync, then the record commit (group
 * commit, synced). Local writes get their version here. On success fills
 * *out (may be NULL) with the committed record (a local write's log seq in
 * st_log_seq when so_log_changes). Frees w in every case; on
 * failure the file is removed and the previous version is untouched.
 * CAIRN_ESTALE: a newer version won meanwhile (replica); CAIRN_ECORRUPT:
 * content hash differs from po_hash (replica).
 * A local write still buffered at finish (final size <= so_inline_max)
 * is inline: its bytes go into LMDB in the record's own commit (no file,
 * no fsync, failpoints store.write.synced/finalized are not reached);
 * *out has st_inline 1 and st_file_id 0.
 */
int store_put_finish(store_writer_t *w, store_stat_t *out);

/* Abandons the write: the file is removed, nothing becomes visible (a
 * replica record stays `receiving` and is queued for repair). Frees w. */
void store_put_abort(store_writer_t *w);

/*
 * A replicated put whose bytes are all at hand (a small blob that arrived
 * whole inside its offer): see store_put_replica_inline() and
 * store_put_replica_batch(). Everything is borrowed for the call.
 */
typedef struct store_replica_put {
    const char *rp_key;
    size_t rp_klen;
    store_version_t rp_version; /* the version being delivered */
    const uint8_t *rp_hash;     /* its content hash (required), checked before any commit */
    const char *rp_ctype;       /* NULL for none; max STORE_CTYPE_MAX bytes */
    const void *rp_data;        /* the rp_len content bytes (NULL allowed when rp_len is 0) */
    size_t rp_len;
    uint16_t rp_log_origin; /* change identity for the log/cursor (0: none) */
    uint64_t rp_log_seq;
    int rp_rc; /* out (batch): 0 applied, CAIRN_ESTALE / CAIRN_EEXIST skipped */
} store_replica_put_t;

/*
 * The whole replica put of begin + write + finish in ONE commit, with no
 * `receiving` phase: the content hash is checked first (CAIRN_ECORRUPT:
 * nothing is committed), then, in one transaction, the same rules as
 * store_put_begin()/store_put_finish() -- CAIRN_ESTALE if the version
 * loses last-writer-wins, CAIRN_EEXIST if it is already complete and
 * intact here (or deleted at that version), CAIRN_EBUSY if a live writer
 * is receiving this very version, a same-version re-delivery replaces a
 * crash leftover or a copy marked damaged -- and on success the record
 * (complete, inline: the bytes go into LMDB with it), its log entry and
 * cursor[rp_log_origin] are committed together. CAIRN_ETOOBIG when the
 * blob cannot be inline here (inline blobs disabled, rp_len above
 * so_inline_max or so_max_blob): use store_put_begin() then. Failures
 * commit nothing and log nothing (store_log_skip() is the caller's).
 * *out (may be NULL) gets the committed record.
 */
int store_put_replica_inline(store_t *s, const store_replica_put_t *p, store_stat_t *out);

/*
 * n replica puts (as store_put_replica_inline) applied IN ORDER in one
 * commit: the first one that fails stops the batch -- nothing of it or of
 * any later element is committed -- so a change is never logged (nor its
 * cursor raised) after one that was not. With skip_lost, an element that
 * loses (CAIRN_ESTALE) or is already here (CAIRN_EEXIST) does not stop
 * the batch: it is recorded as store_log_skip() would, in the same
 * transaction, and its rp_rc says which. *done gets the number of leading
 * elements committed (applied or skipped). Returns 0 when all n were, else
 * the error of element *done (CAIRN_ECORRUPT, CAIRN_EBUSY, CAIRN_ETOOBIG,
 * ...; a failed transaction fails them all: *done 0). n is 1 ..
 * STORE_REPLICA_BATCH_MAX.
 */
#define STORE_REPLICA_BATCH_MAX 256
int store_put_replica_batch(store_t *s, store_replica_put_t *v, size_t n, int skip_lost,
                            size_t *done);

typedef struct store_del_opts {
    store_put_mode_t do_mode;
    const uint8_t *do_if_match; /* local: CAIRN_EPRECOND unless live hash matches */
    store_version_t do_version; /* replica: the tombstone's version */
    uint16_t do_log_origin;
    uint64_t do_log_seq;
} store_del_opts_t;

/*
 * Writes a tombstone. Local: CAIRN_ENOTFOUND when there is no live version.
 * Replica: CAIRN_ESTALE when it loses to the current record. The superseded
 * file is collected after the commit. *version (may be NULL) gets the
 * tombstone's version.
 */
int store_delete(store_t *s, const char *key, size_t klen, const store_del_opts_t *o,
                 store_version_t *version);

/*
 * store_delete() returning the whole tombstone record: *out (may be NULL)
 * gets key, version, state STORE_TOMBSTONE, file id 0, size 0, and for a
 * local delete with so_log_changes the log seq in st_log_seq. Same errors;
 * on failure *out is untouched. *out is filled once the tombstone is
 * committed, even when failpoint store.commit.after then fails the call.
 */
int store_delete_ex(store_t *s, const char *key, size_t klen, const store_del_opts_t *o,
                    store_stat_t *out);

/* ------------------------------------------------------------------- read */

/* Copies the record of key. CAIRN_ENOTFOUND when absent or a tombstone
 * (unless with_tombstones). */
int store_stat(store_t *s, const char *key, size_t klen, int with_tombstones, store_stat_t *out);

typedef int (*store_list_fn)(void *arg, const store_stat_t *st);

/*
 * Calls fn for up to limit live records (complete or receiving) whose key
 * starts with prefix, in store order, beginning after the key `after` (may
 * be NULL). Store order is byte order of the key, except that keys longer
 * than 448 bytes sharing their first 448 bytes are ordered by a hash of the
 * key -- pagination with `after` is exact either way. *more is set to 1 when
 * further matching records exist. fn returning non-zero stops the walk and
 * that value is returned.
 */
int store_list(store_t *s, const char *prefix, size_t plen, const char *after, size_t alen,
               size_t limit, store_list_fn fn, void *arg, int *more);

/* Wakes a waiting reader; called from any thread with store locks held:
 * it must only signal (uv_async_send, a condition variable). */
typedef void (*store_wake_fn)(void *arg);

typedef struct store_read_opts {
    uint64_t ro_deadline_ms; /* absolute CLOCK_MONOTONIC ms; 0 = now + 30 s */
    store_wake_fn ro_wake;   /* NULL: use store_read_wait() */
    void *ro_wake_arg;
} store_read_opts_t;

typedef enum {
    STORE_STEP_DATA = 1, /* read ss_len bytes at ss_off from ss_fd */
    STORE_STEP_WAIT = 2, /* nothing available yet: wait for a wake or the deadline */
    STORE_STEP_EOF = 3,  /* every requested byte was served */
} store_step_kind_t;

/*
 * A DATA step is either file-backed (ss_mem NULL: read ss_len bytes at file
 * offset ss_off of ss_fd, e.g. with sendfile) or in memory (ss_mem non-NULL:
 * an inline blob; ss_mem points at the ss_len bytes of the step, ss_fd is
 * -1 and ss_off 0). Consumers must check ss_mem first. Both are borrowed
 * from the reader until the next store_read_* call on it.
 */
typedef struct store_step {
    store_step_kind_t ss_kind;
    int ss_fd;          /* DATA: borrowed until the next store_read_* call on r; -1 with ss_mem */
    uint64_t ss_off;    /* DATA: file offset of the next byte (0 with ss_mem) */
    uint64_t ss_len;    /* DATA: bytes available at ss_off / ss_mem (> 0) */
    const void *ss_mem; /* DATA of an inline blob: the bytes (borrowed, as ss_fd); else NULL */
} store_step_t;

/*
 * Opens a reader on the current version of key (CAIRN_ENOTFOUND when absent
 * or deleted) and copies that record into *st (may be NULL). The reader
 * implements the read algorithm: complete files are served, live writers
 * followed, and a file that is incomplete with no writer (or missing,
 * truncated, damaged) is never read twice: the record is re-resolved, and
 * when it still names that file the key is reported for repair and the
 * reader waits for the record to change, until its deadline. An inline
 * version's bytes are copied (with the record, in one read transaction)
 * into memory owned by the reader whenever it resolves the record: at
 * most STORE_INLINE_LIMIT bytes; their size and hash are checked against
 * the record (CAIRN_ECORRUPT when they do not match).
 */
int store_read_open(store_t *s, const char *key, size_t klen, const store_read_opts_t *o,
                    store_reader_t **out, store_stat_t *st);

/* Restricts the reader to content bytes [off, off+len) of the version it
 * serves; call before the first store_read_next(). CAIRN_EINVAL if out of
 * range for the currently resolved size. */
int store_read_set_range(store_reader_t *r, uint64_t off, uint64_t len);

/*
 * The next step. Errors: CAIRN_EUNAVAIL when the deadline passed with no
 * whole copy to serve; CAIRN_ECHANGED when bytes were already consumed and
 * the version changed to a different one (the caller must abort its
 * response); CAIRN_ENOTFOUND when the key was deleted before any byte was
 * consumed. Before any byte is consumed the reader may move to a newer
 * version: store_read_stat() tells which one is served. DATA steps of an
 * inline version carry ss_mem (see store_step_t).
 */
int store_read_next(store_reader_t *r, store_step_t *step);

/*
 * 1 when the reader serves a whole copy: a complete file found whole, or
 * an inline version's bytes. Then the bytes of its DATA steps are final and
 * the steps after them are only more of the same copy and EOF: a caller
 * may read a step's bytes out (e.g. pread of a small blob) and close the
 * reader without taking the remaining steps. 0 before the first
 * store_read_next(), while following a live writer (its end may still fail
 * the read), or waiting.
 */
int store_read_is_whole(const store_reader_t *r);

/* Tells the reader n bytes of the last DATA step were sent. */
void store_read_consumed(store_reader_t *r, uint64_t n);

/* The record being served (the version is fixed once a byte is consumed). */
const store_stat_t *store_read_stat(const store_reader_t *r);

/*
 * The content this reader handed out does not hash to the record's hash:
 * store_report_damaged() of the copy it read (its file id, or 0 for an
 * inline version). Only when every byte came from that one copy (the
 * reader never moved to another copy after consuming bytes); otherwise
 * CAIRN_ESTALE and nothing is marked. Blocks for a commit.
 */
int store_read_report_damaged(store_reader_t *r);

/*
 * The fast path for a whole small read, meant for an event loop thread (the
 * one exception to "every function may block", see below). In one short
 * read transaction it copies key's record into *st and, when that version
 * is inline, complete, not marked damaged and at most cap bytes, its bytes
 * into buf (borrowed for the call; *len gets st_size). The bytes are
 * checked against the record's size and hash like store_read_open() does.
 * Returns 0 with *st and buf filled; CAIRN_ENOTFOUND when the key is absent
 * or deleted; -EAGAIN when this version must go through store_read_open()
 * (file-backed, receiving, damaged, larger than cap, bytes failing their
 * check, or the store's map lock was not free at once -- it never waits
 * for it); CAIRN_EINVAL for a bad key; another error from LMDB. On any
 * failure *st and buf hold nothing to use.
 * Blocking: no file is opened and no store lock is waited for; the LMDB
 * pages read may still fault in from disk when they are not in the page
 * cache (the records and inline sub-databases are small and hot).
 */
int store_read_inline(store_t *s, const char *key, size_t klen, void *buf, size_t cap,
                      store_stat_t *st, size_t *len);

/* For readers opened without ro_wake: blocks until a wake or timeout_ms. */
void store_read_wait(store_reader_t *r, uint64_t timeout_ms);

/* Closes the reader and its file. Safe on NULL. */
void store_read_close(store_reader_t *r);

/* -------------------------------------------------------- replication log */

/*
 * With so_log_changes on, every applied change is appended to the log under
 * its identity (origin, seq), in the same LMDB transaction as the record:
 *   - local puts and deletes: origin = so_node_id, seq = the next local
 *     sequence number (1, 2, ...; never reused, survives restarts);
 *   - replica puts (at store_put_finish) and deletes with po_log_origin /
 *     do_log_origin != 0: that identity; cursor[origin] is raised to
 *     max(cursor, seq) in the same transaction. A replica write that fails
 *     -- begin or finish CAIRN_ESTALE, CAIRN_EEXIST, CAIRN_EBUSY,
 *     CAIRN_ECORRUPT, any error, or an abort -- logs nothing and leaves the
 *     cursor where it was: the caller records a lost or duplicate change
 *     with store_log_skip();
 *   - store_log_skip(): a change received but not applied.
 * Without so_log_changes nothing is logged and no cursor moves.
 */

/* One log entry, copied out; owns nothing. */
typedef struct store_change {
    uint16_t sc_origin;  /* change identity: origin node id ... */
    uint64_t sc_seq;     /* ... and its sequence number there */
    int sc_superseded;   /* 1: a marker, this node did not apply the change
                          * (it lost last-writer-wins): relay metadata only */
    store_stat_t sc_rec; /* the change: key, version, state, size, hash, ctype;
                          * st_file_id and st_log_seq are 0 */
} store_change_t;

/* Called for each entry; non-zero stops the walk and is returned. */
typedef int (*store_change_fn)(void *arg, const store_change_t *c);

/*
 * Calls fn for up to max entries (0: no limit) of origin with seq >
 * after_seq, in seq order. Entries are copied out of short read
 * transactions in chunks and fn is called with no transaction or lock
 * held, so it may call back into the store (even write); entries appended
 * meanwhile may or may not be seen. *c is valid during the call only.
 * A malformed entry ends the walk with CAIRN_ECORRUPT after the entries
 * before it were delivered. CAIRN_EINVAL for origin 0.
 */
int store_log_read(store_t *s, uint16_t origin, uint64_t after_seq, size_t max, store_change_fn fn,
                   void *arg);

/*
 * Records that the change c (received from a peer, identity (sc_origin,
 * sc_seq)) was not applied here -- its put/delete failed with CAIRN_ESTALE
 * (lost last-writer-wins) or CAIRN_EEXIST (duplicate) -- in one
 * transaction: the entry is appended from sc_rec (key, version, state,
 * size, hash, ctype) and cursor[sc_origin] raised to max(cursor, sc_seq).
 * sc_superseded given by the caller is ignored: the entry is a superseded
 * marker unless the current record here has exactly c's version (a
 * duplicate: the change IS applied here, so relays of this entry must carry
 * its bytes). If an entry (sc_origin, sc_seq) already exists it is kept as
 * it is (idempotent; the cursor is still raised). so_on_change is called
 * when an entry was appended. No-op without so_log_changes. CAIRN_EINVAL
 * for origin 0, origin == so_node_id (this node's own log is written only
 * by its local writes), seq 0, or a malformed sc_rec.
 */
int store_log_skip(store_t *s, const store_change_t *c);

/*
 * *seq = cursor[origin]: the highest seq of origin applied or skipped here
 * (0 when none). For origin == so_node_id: the last local seq handed out.
 * CAIRN_EINVAL for origin 0.
 */
int store_cursor_get(store_t *s, uint16_t origin, uint64_t *seq);

/*
 * Calls fn(arg, origin, seq) for every origin with a cursor, in origin
 * order, always including this node (its last local seq, possibly 0).
 * Copied out of one read transaction first; fn runs with nothing held.
 * fn returning non-zero stops the walk and that value is returned.
 */
int store_each_cursor(store_t *s, int (*fn)(void *arg, uint16_t origin, uint64_t seq), void *arg);

/*
 * Deletes the log entries of origin with seq <= upto_seq, in bounded
 * transactions (10000 entries each, so other commits are not held up).
 * Cursors are not touched. *removed (may be NULL) gets the count, also on
 * failure (what earlier transactions removed stays removed).
 */
int store_log_trim(store_t *s, uint16_t origin, uint64_t upto_seq, size_t *removed);

/*
 * *hlc = the smallest version HLC among the first (lowest-seq) remaining
 * entry of each origin: the tombstone GC horizon. It assumes an origin's
 * entries carry non-decreasing HLCs in seq order, which holds for changes
 * made at that origin (local versions are issued in commit order).
 * CAIRN_ENOTFOUND when the log is empty (the caller uses "now").
 */
int store_log_oldest_hlc(store_t *s, uint64_t *hlc);

/* ------------------------------------------------------------ maintenance */

typedef struct store_stats {
    uint64_t ss_blobs; /* live complete records */
    uint64_t ss_bytes; /* their content bytes */
    uint64_t ss_tombstones;
    uint64_t ss_reads_reresolved;  /* reads that met a leftover and re-resolved */
    uint64_t ss_repairs_queued;    /* repair reports made (total) */
    uint64_t ss_repairs_pending;   /* records currently waiting for a whole copy */
    uint64_t ss_commit_txns;       /* LMDB write transactions */
    uint64_t ss_commits;           /* changes committed (>= txns: group commit) */
    uint64_t ss_files_collected;   /* files unlinked by GC */
    uint64_t ss_leftovers_removed; /* crash leftovers deleted by recovery */
    uint64_t ss_live_writers;      /* includes local writers still buffering */
    uint64_t ss_inline_blobs;      /* of ss_blobs: those stored inline */
    uint64_t ss_inline_bytes;      /* of ss_bytes: their content bytes */
} store_stats_t;

void store_get_stats(store_t *s, store_stats_t *out);

/*
 * A COMPLETE local copy is damaged (its content fails the record's hash,
 * found by a caller that read it whole, e.g. the replication sender):
 * marks it, durably and only while key's current record is COMPLETE and
 * still names file_id (0: the record is inline -- then the store re-checks
 * the inline bytes itself and marks them only when they really fail).
 * From then on (restarts included) readers treat the copy like a crash
 * leftover (never served: re-resolve, report for repair, wait until the
 * deadline), store_stat() shows st_damaged, a replica delivery of the
 * same version is accepted into a fresh file (store_put_begin), and the
 * key has a repair entry; so_repair is called (no lock held) before this
 * returns. The mark goes with the record: a re-delivery, a newer version
 * or a delete replaces it. Not logged for replication (a local fact).
 * Returns 0 when the copy is marked (now or before), CAIRN_ESTALE when the
 * record is absent, deleted, receiving, another file or version, or (inline)
 * its bytes are intact -- nothing changed -- or CAIRN_EINVAL / a commit
 * error. Blocks for a commit: not on an event loop thread.
 */
int store_report_damaged(store_t *s, const char *key, size_t klen, uint64_t file_id);

/* Calls fn for every record currently pending repair (from any thread). */
int store_each_repair(store_t *s, store_repair_fn fn, void *arg);

/* Removes tombstones whose version is below horizon_hlc (at most max of
 * them; 0 = no limit); the count removed goes to *removed (may be NULL). */
int store_gc_tombstones(store_t *s, uint64_t horizon_hlc, size_t max, size_t *removed);

/* The store's clock (shared or private), for versions and horizons. */
hlc_t *store_clock(store_t *s);

/* CLOCK_MONOTONIC in ms (the time base of deadlines). */
uint64_t store_mono_ms(void);

#endif
