/*
 * sync_int.h -- private structures of the sync layer (repl.h), shared by
 * sync.c (lifecycle, store inbox, link callbacks, origins, periodic work),
 * sync_subs.c (heads, one source per origin), sync_status.c (status and
 * metrics), sync_msg.c (message encoding/decoding), sync_tx.c (sender), sync_rx.c
 * (receiver), sync_blobsrc.c (reading a blob with its hash verified),
 * sync_trim.c (log trimming, tombstone collection, lag), durable.c
 * (durability waits), fetch.c (read-through repair client) and
 * fetch_serve.c (answering peers' fetches).
 *
 * Everything runs on the loop thread except the j_run half of a job
 * (rjob_t), which runs on the libuv thread pool and may touch only what
 * its job owns plus the (thread-safe) store. The only state shared with
 * other threads is the inbox under r_mu (store callbacks).
 *
 * Ownership: repl_t owns one psync_t per configured peer (as long as it
 * lives) and everything hanging off them. Per direction of each link there
 * is at most one job in flight (p_tx_busy, p_rx_busy, p_fs_busy), across
 * sessions: when a session ends while a job runs, the job's completion sees
 * the stale session and releases what it created. Readers and writers held
 * between jobs (p_tx_src, p_rx_w, ...) are released by jobs too.
 */
#ifndef CAIRN_REPL_SYNC_INT_H
#define CAIRN_REPL_SYNC_INT_H

#include <msgpack.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <xxhash.h>

#include "replication/frame.h"
#include "replication/repl.h"

#define repl_job_of(req) ((rjob_t *)((char *)(req)-offsetof(rjob_t, j_req)))

#define REPL_ORIGINS_MAX 256    /* distinct origin node ids one node tracks */
#define REPL_OFFER_WINDOW 64    /* offers a sender has unanswered per link */
#define REPL_TXBUF 16           /* log entries read ahead per subscription */
#define REPL_RXQ_MAX 160        /* offers a receiver queues per link (> window) */
#define REPL_REPAIRQ_MAX 4096   /* keys waiting for a fetch */
#define REPL_INBOX_REP_MAX 1024 /* repair reports waiting for the loop */
#define REPL_INBOX_CHG_MAX 64   /* (origin, seq) notes waiting for the loop */
#define REPL_SERVEQ_MAX 8       /* fetch requests queued per link */
#define REPL_DAMAGED_MAX 256    /* local copies known to fail their hash */
#define REPL_LATER_MIN_MS 200   /* re-offer delay after "later", doubling */
#define REPL_LATER_MAX_MS 5000
#define REPL_HOLD_MS 500         /* re-check delay for a version still arriving here */
#define REPL_LAG_SCAN_MAX 10000  /* log entries summed per origin for lag bytes */
#define REPL_TRIM_GC_MAX 10000   /* tombstones collected per trim round */
#define REPL_INL_MAX (64 * 1024) /* blobs up to this size travel inside their "chg" offer */
#define REPL_RX_BATCH 64         /* small offers applied in one store commit */
#define REPL_STALL_MS                                                                              \
    60000 /* offers unanswered / a blob without bytes this long:                                   \
           * the session is reset (both sides resync) */

typedef struct psync psync_t;

/* ------------------------------------------------------------- jobs */

typedef struct rjob rjob_t;
typedef void (*rjob_fn)(rjob_t *j);

/* A thread-pool job: j_run on a pool thread, then j_done on the loop. The
 * embedding structure is the job's payload; j_done owns it afterwards. */
struct rjob {
    uv_work_t j_req;
    repl_t *j_r;
    rjob_fn j_run;
    rjob_fn j_done;
};

/* Queues j (counted in r_jobs until j_done has returned). */
void repl__job_submit(repl_t *r, rjob_t *j, rjob_fn run, rjob_fn done);

/* ----------------------------------------------------------- origins */

typedef struct rorigin {
    uint16_t or_id;
    uint64_t or_cursor;   /* this node's cursor = head of its log for this origin */
    uint64_t or_trimmed;  /* entries up to here trimmed (or being trimmed) */
    psync_t *or_src;      /* receiving: the link subscribed to, NULL when none */
    uint64_t or_sub_from; /* the cursor sent with that subscription */
    uint64_t or_expect;   /* next seq accepted from or_src; 0: any > or_sub_from */
    unsigned or_rx_items; /* offers of this origin queued or being applied */
    int or_gap_warned;
} rorigin_t;

/* Index of origin id in r_orig, adding it when new; -1 when the table is
 * full or id is 0. */
int repl__origin(repl_t *r, uint16_t id);
/* Index or -1 without adding. */
int repl__origin_find(const repl_t *r, uint16_t id);
/* Raises this node's cursor for origin index oi and wakes what waits on it. */
void repl__cursor_advanced(repl_t *r, int oi, uint64_t seq);

/* ------------------------------------------------------ blob source */

/*
 * A blob being read from the local store to be sent, its content hash
 * computed as it is read. Opened, read and closed only inside jobs.
 */
typedef struct bsrc {
    store_reader_t *bs_reader;
    store_stat_t bs_st;    /* the version served */
    store_step_t bs_step;  /* current DATA step */
    uint64_t bs_step_left; /* bytes of it not read yet */
    int bs_eof;            /* every byte was read */
    uint64_t bs_off;       /* content bytes read so far */
    XXH3_state_t *bs_xs;
    uint8_t *bs_buf; /* the last chunk read (bs_len bytes) */
    size_t bs_cap, bs_len;
} bsrc_t;

typedef enum {
    BSRC_OK = 0,         /* open, COMPLETE, first step ready */
    BSRC_SUPERSEDED = 1, /* the record here is another (newer) version, or gone */
    BSRC_HOLD = 2,       /* the version is here but not whole (arriving, leftover) */
    BSRC_DELETED = 3,    /* a tombstone at or above the minimum (its version in bs_st) */
} bsrc_open_t;

/*
 * Pool thread. Opens the current version of key: with exact != NULL it
 * must be exactly that version, otherwise at least *min. Returns a
 * bsrc_open_t (>= 0) or an error; for anything but BSRC_OK the source is
 * closed again (bs_st still tells what was found when available).
 */
int repl__bsrc_open(store_t *s, bsrc_t *b, const char *key, size_t klen,
                    const store_version_t *exact, const store_version_t *min, size_t chunk);
/* Pool thread. Reads the next chunk (up to the buffer size) into bs_buf,
 * hashing it; bs_len 0 with bs_eof at the end. */
int repl__bsrc_read(bsrc_t *b);
/* 0 when the bytes read hash to the record's hash, else CAIRN_ECORRUPT. */
int repl__bsrc_verify(bsrc_t *b);
/* Pool thread. Releases everything; the struct itself stays. Safe twice. */
void repl__bsrc_close(bsrc_t *b);

/* --------------------------------------------------------- messages */

enum { MK_U64 = 1, MK_BIN, MK_STR };

typedef struct mkv {
    const char *mk_key;
    int mk_kind;
    uint64_t mk_u;
    const void *mk_p;
    size_t mk_n;
} mkv_t;

/* A flat message: "t" plus up to 12 scalar fields. */
typedef struct mmsg {
    const char *mm_type;
    mkv_t mm_kv[12];
    int mm_n;
} mmsg_t;

void repl__msg_init(mmsg_t *m, const char *type);
void repl__msg_u64(mmsg_t *m, const char *key, uint64_t v);
void repl__msg_bin(mmsg_t *m, const char *key, const void *p, size_t n);
void repl__msg_str(mmsg_t *m, const char *key, const char *s, size_t n);
/* repl_pack_fn over an mmsg_t. */
int repl__msg_pack(msgpack_packer *pk, void *arg);
/* Adds the change fields (o, s, k, v, vo, st, z, h, ct). */
void repl__msg_change(mmsg_t *m, const store_change_t *c);

/* Sends m on p's current session (repl_link_send_pack). */
int repl__send(psync_t *p, mmsg_t *m, uint64_t credit, unsigned flags);
/* A small control message {"t":type,"o":o,"s":s} (urgent); a refused urgent
 * send ends the session (the peer resynchronizes from cursors). */
void repl__send_os(psync_t *p, const char *type, uint16_t o, uint64_t s);
/* {"t":type,"id":id} (urgent), same failure handling. */
void repl__send_id(psync_t *p, const char *type, uint64_t id);
/* Any small control message, urgent, same failure handling. */
void repl__send_ctl(psync_t *p, mmsg_t *m);

/* "o" (1..65535) and "s" (>= 1). CAIRN_EPROTO when missing or out of range. */
int repl__parse_os(const msgpack_object *msg, uint16_t *o, uint64_t *s);
/* "id". */
int repl__parse_id(const msgpack_object *msg, uint64_t *id);
/* A version pair ("v", "vo"), both required and non-zero. */
int repl__parse_version(const msgpack_object *msg, const char *hk, const char *ok,
                        store_version_t *v);
/* The change fields of a chg message, validated (key bounds, state, hash,
 * content type). CAIRN_EPROTO otherwise. */
int repl__parse_change(const msgpack_object *msg, store_change_t *c);
/* Optional uint flag: 0 when absent. */
int repl__parse_flag(const msgpack_object *msg, const char *key, int *out);
/* The optional "d" of a chg offer (a small blob's bytes, see sync_msg.c);
 * meta: the offer is "meta" or "nb". CAIRN_EPROTO when malformed. */
int repl__parse_inline(const msgpack_object *msg, const store_change_t *c, int meta,
                       const uint8_t **d, size_t *n, int *inl);
/* "off" and "d" of a dat/fdat frame. */
int repl__parse_data(const msgpack_object *msg, uint64_t *off, const uint8_t **d, size_t *n);

/* 64-bit hash of a key (damaged set, repair dedup). */
uint64_t repl__key_hash(const char *key, size_t klen);
/* 1 when version v is more than the allowed skew ahead of the wall clock. */
int repl__version_too_new(const repl_t *r, const store_version_t *v);
/* Options of a replica put of the version described by st (which they
 * borrow: key-independent fields only), logged as (origin, seq) when
 * origin is not 0. */
void repl__replica_opts(store_put_opts_t *po, const store_stat_t *st, uint16_t origin,
                        uint64_t seq);

/* ------------------------------------------------------------ sender */

typedef enum { TE_META = 1, TE_BLOB = 2, TE_HOLD = 3, TE_INLINE = 4 } txkind_t;

/* TE_INLINE: a blob of at most REPL_INL_MAX bytes read whole (hash
 * verified) by the log-read job; its bytes go inside the offer. */
typedef struct txent {
    store_change_t te_c;
    int te_kind;
    uint8_t *te_data; /* TE_INLINE: te_c.sc_rec.st_size bytes (owned), else NULL */
} txent_t;

/* One origin a peer subscribed to on this link. */
typedef struct txsub {
    uint64_t ts_read; /* last seq read from the log into ts_buf */
    txent_t ts_buf[REPL_TXBUF];
    unsigned ts_head, ts_n;   /* ring of entries read, not yet offered */
    uint64_t ts_paused_until; /* uv_now() ms; 0 = not paused */
    uint32_t ts_backoff_ms;   /* next "later" delay */
    uint64_t ts_later_seq;    /* seq the backoff applies to */
    uint64_t ts_gen;          /* bumped on (re)subscription and rewind */
} txsub_t;

typedef struct txoffer {
    uint16_t to_origin;
    uint64_t to_seq;
} txoffer_t;

typedef enum {
    TB_NONE = 0,  /* no blob offered */
    TB_OPENING,   /* open job for the head entry of sub p_tb_oi */
    TB_OFFERED,   /* chg sent, waiting for want / have / later */
    TB_STREAMING, /* sending dat frames */
    TB_ENDED,     /* end sent, waiting for the ack */
} tbstate_t;

/* ---------------------------------------------------------- receiver */

typedef struct rxchunk {
    struct rxchunk *rc_next;
    uint64_t rc_off;
    size_t rc_len;
    uint8_t rc_data[];
} rxchunk_t;

/* Copies n bytes of blob data at offset off into a new chunk appended to
 * the queue (*head, *tail). CAIRN_ENOMEM leaves the queue unchanged. */
int repl__chunk_append(rxchunk_t **head, rxchunk_t **tail, uint64_t off, const uint8_t *d,
                       size_t n);

/* RI_FETCH: a superseded ("meta") or "nb" put whose version, or a newer
 * one, is not here yet: waiting (at most REPL_NB_WAIT_MS) for the fetch of
 * its key to settle, then checked again. */
typedef enum { RI_NEW = 0, RI_RECV = 1, RI_FETCH = 2 } ristate_t;

#define REPL_NB_WAIT_MS 2000 /* longest wait of a head item for its key's fetch */
#define REPL_NB_FETCHES 2    /* fetches tried in place before answering "later" */

#define RI_ABORT_SENDER 1 /* the sender's copy failed its hash */
#define RI_ABORT_LOCAL 2  /* writing here failed */

typedef struct rxitem {
    struct rxitem *ri_next;
    store_change_t ri_c;
    int ri_oi;   /* origin index */
    int ri_meta; /* metadata only (tombstone or superseded at the sender) */
    int ri_nb;   /* the sender has no good copy: fetch elsewhere */
    ristate_t ri_state;
    rxchunk_t *ri_chunks, *ri_chunks_tail;
    size_t ri_qbytes;        /* bytes queued in ri_chunks */
    uint64_t ri_qoff;        /* next offset expected from the sender */
    uint64_t ri_written;     /* bytes durable in the writer */
    int ri_ended;            /* "end" received */
    int ri_aborted;          /* RI_ABORT_*, 0 when not aborted */
    uint8_t *ri_data;        /* a small blob's bytes that came with the offer ("d"), or NULL */
    int ri_inl;              /* the offer carried the bytes (ri_c.sc_rec.st_size of them) */
    int ri_fetches;          /* fetches started for this item while it waited (RI_FETCH) */
    uint64_t ri_fetch_until; /* RI_FETCH: answer "later" at this time (ms) */
} rxitem_t;

/* ---------------------------------------------------- fetch serving */

typedef struct fsreq {
    struct fsreq *fq_next;
    uint64_t fq_id;
    char fq_key[STORE_KEY_MAX];
    size_t fq_klen;
    store_version_t fq_min;
} fsreq_t;

typedef enum {
    FS_NONE = 0,
    FS_OPENING,   /* open job */
    FS_HDR,       /* fhdr sent, waiting for fgo / fcancel */
    FS_STREAMING, /* sending fdat frames */
} fsstate_t;

/* ------------------------------------------------------------- links */

struct psync {
    repl_t *p_r;
    repl_link_t *p_link;
    uint16_t p_id;
    size_t p_index;
    int p_up;
    uint64_t p_session;
    int p_heads_seen; /* heads received in this session */
    /* What the peer told us, indexed like r_orig. Cursors are monotone and
     * kept across sessions (they never go back on a node). */
    uint64_t p_cur[REPL_ORIGINS_MAX];
    uint8_t p_curk[REPL_ORIGINS_MAX]; /* p_cur known */
    uint64_t p_head[REPL_ORIGINS_MAX];
    uint64_t p_lag_in_bytes;
    uint64_t p_lag_out_bytes;
    /* sender */
    txsub_t *p_subs[REPL_ORIGINS_MAX];
    size_t p_rr;
    txoffer_t p_offers[REPL_OFFER_WINDOW];
    unsigned p_noffers;
    tbstate_t p_tb;
    int p_tb_oi; /* origin index of the blob offered */
    uint64_t p_tb_seq;
    bsrc_t *p_tx_src;          /* open reader (TB_OFFERED..TB_ENDED, or waiting to close) */
    uint64_t p_tx_size;        /* loop-side copies for status (the source belongs to */
    uint64_t p_tx_sent;        /*   the job while one runs): blob size, bytes sent */
    int p_tx_chunk;            /* bs_buf holds a chunk not yet sent */
    int p_tx_busy;             /* a blob-source job (open, chunk, close) is in flight */
    int p_tx_rbusy;            /* a log-read job is in flight */
    uint64_t p_tx_progress_ms; /* last answer / chunk sent while offers were out */
    /* receiver */
    rxitem_t *p_rxq, *p_rxq_tail;
    unsigned p_rxq_n;
    uint64_t p_rxq_inl_bytes;  /* bytes of small blobs queued with their offers */
    uint64_t p_rx_credit_owed; /* window credit not sent yet (the link refused it) */
    store_writer_t *p_rx_w;    /* writer of the head item (RI_RECV), or stale */
    int p_rx_busy;
    uint64_t p_rx_progress_ms; /* last byte / end received for the head blob */
    /* fetch serving */
    fsreq_t *p_fsq, *p_fsq_tail;
    unsigned p_fsq_n;
    fsreq_t *p_fs_cur;
    fsstate_t p_fs;
    bsrc_t *p_fs_src;
    int p_fs_chunk;
    int p_fs_busy;
    /* counters */
    uint64_t p_changes_sent, p_changes_applied;
};

void repl__tx_on_down(psync_t *p);
void repl__tx_pump(psync_t *p);
int repl__tx_on_frame(psync_t *p, const char *type, const msgpack_object *msg);
/* The peer's cursor for origin index oi is at least seq (ack, have, heads). */
void repl__peer_cursor(psync_t *p, int oi, uint64_t seq);

/* Resets a session whose exchange made no progress for REPL_STALL_MS. */
void repl__tx_watchdog(psync_t *p, uint64_t now);
void repl__rx_watchdog(psync_t *p, uint64_t now);

void repl__rx_on_down(psync_t *p);
/* Gives n bytes of window credit back to the peer (this session). A credit
 * frame the link refuses (its queue is full) is owed, never lost: it is
 * sent with the next credit, on_writable or the next tick. */
void repl__rx_credit(psync_t *p, uint64_t n);
/* Sends what is owed, if anything. */
void repl__rx_credit_flush(psync_t *p);
void repl__rx_pump(psync_t *p);
/* A fetch of key ended (whatever its outcome): head items waiting for it
 * (RI_FETCH) are checked again. */
void repl__rx_fetch_settled(repl_t *r, const char *key, size_t klen);
int repl__rx_on_frame(psync_t *p, const char *type, const msgpack_object *msg);
/* Drops queued offers of origin index oi (unsubscribing when idle). */
int repl__rx_origin_idle(psync_t *p, int oi);

void repl__fs_on_down(psync_t *p);
void repl__fs_pump(psync_t *p);
int repl__fs_on_frame(psync_t *p, const char *type, const msgpack_object *msg);

/* ----------------------------------------------------------- fetcher */

typedef struct rrepair {
    struct rrepair *rr_next;
    uint64_t rr_hash;
    store_version_t rr_min;
    size_t rr_klen;
    char rr_key[STORE_KEY_MAX];
} rrepair_t;

typedef enum {
    F_FREE = 0,
    F_PICK,   /* choose a peer and ask */
    F_ASKED,  /* fetch sent, waiting for fhdr / fdel / fno */
    F_BEGIN,  /* begin (or delete) job */
    F_RECV,   /* fgo sent, bytes arriving */
    F_FINISH, /* finish job */
} fstate_t;

#define REPL_FETCH_NEG 64       /* recently failed keys remembered */
#define REPL_FETCH_NEG_MS 1000  /* ... and not fetched again for this long */
#define REPL_SWEEP_MAX_MS 60000 /* the repair sweep backs off to this */

typedef struct rfneg {
    uint64_t fn_hash;
    uint64_t fn_at_ms;
} rfneg_t;

typedef struct rfetch {
    fstate_t f_state;
    uint64_t f_id;
    uint64_t f_hash;
    char f_key[STORE_KEY_MAX];
    size_t f_klen;
    store_version_t f_min;
    psync_t *f_peer;
    uint64_t f_session;
    uint8_t *f_tried;   /* bitmap by peer index */
    store_stat_t f_hdr; /* what the peer offered */
    int f_del;          /* the peer answered with a tombstone */
    store_writer_t *f_w;
    rxchunk_t *f_chunks, *f_chunks_tail;
    uint64_t f_qoff, f_written;
    int f_ended;
    int f_busy;
    uint64_t f_progress_ms; /* uv_now() of the last progress */
    uint64_t f_started_ms;
} rfetch_t;

void repl__fetch_init(repl_t *r);
void repl__fetch_free(repl_t *r);
/* Queues a repair of key (dedup by key; bounded). */
void repl__fetch_queue(repl_t *r, const char *key, size_t klen, const store_version_t *min);
void repl__fetch_pump(repl_t *r);
void repl__fetch_on_down(repl_t *r, psync_t *p);
void repl__fetch_tick(repl_t *r);
int repl__fetch_on_frame(psync_t *p, const char *type, const msgpack_object *msg);
unsigned repl__fetch_asking(const repl_t *r, const psync_t *p);

/* ------------------------------------------------------------ damaged */

typedef struct rdamaged {
    uint64_t rd_hash;
    store_version_t rd_version;
} rdamaged_t;

void repl__damaged_add(repl_t *r, const char *key, size_t klen, const store_version_t *v);
int repl__damaged_has(const repl_t *r, const char *key, size_t klen, const store_version_t *v);

/* ---------------------------------------------------------- durability */

/* Re-checks the waits (a peer's cursor for this node moved). */
void repl__durable_check(repl_t *r);
/* Fails every wait with CAIRN_ESHUTDOWN. */
void repl__durable_shutdown(repl_t *r);
void repl__durable_init(repl_t *r);

/* ---------------------------------------------------------- trimming */

void repl__trim_tick(repl_t *r);
void repl__lag_tick(repl_t *r);

/* --------------------------------------------------------------- repl */

typedef struct rinchg {
    uint16_t ic_origin;
    uint64_t ic_seq;
} rinchg_t;

struct repl {
    uv_loop_t *r_loop;
    uint16_t r_self;
    repl_sync_tuning_t r_tun;
    repl_peers_t *r_ps;
    store_t *r_store;
    psync_t *r_peers;
    size_t r_npeers;
    int r_started; /* repl_start called */
    int r_running; /* cursors loaded, peers started */
    int r_stopping;
    int r_stopped;
    int r_free_on_stop;
    repl_stopped_cb r_stop_cb;
    void *r_stop_arg;
    unsigned r_jobs;    /* thread-pool jobs in flight */
    int r_handles;      /* open uv handles of our own */
    int r_peers_closed; /* the peer set's close callback ran */

    /* inbox from store threads (r_mu) */
    pthread_mutex_t r_mu;
    uv_async_t r_async;
    int r_in_closed;
    rinchg_t r_in_chg[REPL_INBOX_CHG_MAX];
    size_t r_in_nchg;
    int r_in_chg_over;
    rrepair_t *r_in_rep, *r_in_rep_tail;
    size_t r_in_nrep;
    int r_in_rep_over;

    /* origins */
    rorigin_t r_orig[REPL_ORIGINS_MAX];
    size_t r_norig;
    uint16_t *r_oidx; /* 65536 entries: origin id -> index + 1 */
    int r_self_oi;

    /* timers and periodic work */
    uv_timer_t r_tick;
    uv_timer_t r_wtimer; /* durability deadlines */
    uint64_t r_last_trim, r_last_sweep;
    uint32_t r_sweep_ms; /* grows while sweeps repair nothing */
    int r_trim_busy, r_sweep_busy, r_lag_busy, r_cursor_busy;

    /* durability waits */
    repl_wait_t *r_waits;

    /* fetcher */
    rrepair_t *r_rq, *r_rq_tail;
    size_t r_rq_n;
    rfetch_t *r_fetch;
    size_t r_nfetch;
    uint64_t r_fetch_id;
    size_t r_fetch_rr;
    uint64_t r_repairs_done_at_sweep;
    uint64_t r_repairs_failed_at_sweep;
    rfneg_t r_fneg[REPL_FETCH_NEG];
    size_t r_fneg_next;

    /* damaged local copies */
    rdamaged_t r_dmg[REPL_DAMAGED_MAX];
    size_t r_ndmg, r_dmg_next;

    repl_metrics_t r_m;
};

/* Called when a job or handle finished while stopping. */
void repl__maybe_stopped(repl_t *r);
/* Runs the subscription review for every origin (sync_subs.c). */
void repl__review_subs(repl_t *r);
/* Sends this node's heads on p's session (sync_subs.c). */
void repl__send_heads(psync_t *p);
/* A "heads" frame from p. */
int repl__on_heads(psync_t *p, const msgpack_object *msg);
/* The sync state of a configured peer link (its udata). */
psync_t *repl__psync(repl_link_t *l);
/* 1 when at least one link is up. */
int repl__links_up(const repl_t *r);
/* uv_now() of the loop. */
uint64_t repl__now(const repl_t *r);

#endif
