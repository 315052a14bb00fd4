/*
 * repl.h -- the replication module of one cairn node: change-log shipping,
 * acks and durability waits, read-through repair, cluster status.
 *
 * docs/replication.md describes the protocol and the consistency model;
 * link.h / peers.h are the transport this rides on.
 *
 * Threads: everything here runs on the node's libuv loop thread and is not
 * thread-safe, except repl_on_store_repair() and repl_on_store_change(),
 * which the store calls from its own threads. Store calls are made on the
 * loop's thread pool (uv_queue_work), never on the loop thread.
 *
 * Lifetime, as cairnd uses it:
 *
 *     repl_create(loop, &conf, &r);           before store_open
 *     repl_store_hooks(r, &store_opts);       so_repair, so_on_change, so_log_changes
 *     store_open(&store_opts, &store);        recovery may already report repairs
 *     repl_start(r, store);                   listener, dialing, syncing
 *     ... uv_run ...
 *       PUT/DELETE: seq = st_log_seq of store_put_finish()/store_delete_ex();
 *                   repl_wait_durable(r, &w, seq, required, timeout, cb)
 *       /v1/cluster, /metrics: repl_get_peer_status(), repl_get_metrics()
 *     repl_stop(r, cb, arg);                  cb runs on the loop once stopped
 *     store_close(store);                     after cb
 *     repl_free(r);                           (after store_close: the store's
 *                                              callbacks may still arrive)
 *
 * Errors: 0 or a negative CAIRN_E* / -errno (common/error.h).
 */
#ifndef CAIRN_REPL_H
#define CAIRN_REPL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "replication/link.h"
#include "replication/peers.h"
#include "storage/store.h"

typedef struct repl repl_t;

/* Timing and size knobs of the sync layer. A zero field takes the default in
 * brackets; tests shorten the timings. */
typedef struct repl_sync_tuning {
    uint32_t st_tick_ms;          /* heads, subscription review, paused retries [1000] */
    uint32_t st_trim_ms;          /* log trimming + tombstone collection [5000] */
    uint32_t st_repair_sweep_ms;  /* re-queue repairs still pending in the store [2000] */
    uint32_t st_fetch_timeout_ms; /* a fetch without progress for this long moves on [10000] */
    uint32_t st_chunk;            /* blob bytes per frame [256 KiB]; 1 KiB .. REPL_DAT_MAX */
    uint32_t st_max_fetches;      /* concurrent read-through fetches [4] */
    uint64_t st_max_skew_ms;      /* refuse versions this far ahead of the wall clock [3600000] */
} repl_sync_tuning_t;

#define REPL_DEFAULT_TICK_MS 1000u
#define REPL_DEFAULT_TRIM_MS 5000u
#define REPL_DEFAULT_REPAIR_SWEEP_MS 2000u
#define REPL_DEFAULT_FETCH_TIMEOUT_MS 10000u
#define REPL_DEFAULT_CHUNK (256u * 1024u)
#define REPL_DEFAULT_MAX_FETCHES 4u
#define REPL_DEFAULT_MAX_SKEW_MS 3600000u

typedef struct repl_conf {
    uint16_t rc_self_id;              /* --node-id, 1..65535 */
    const char *rc_listen;            /* --peer-listen "HOST:PORT" (port 0: any); NULL: none */
    const repl_peer_addr_t *rc_peers; /* --peer, copied; ids unique and != self */
    size_t rc_npeers;
    const void *rc_secret; /* cluster secret, 1..4096 bytes, copied */
    size_t rc_secret_len;
    repl_link_tuning_t rc_link; /* zero fields = defaults */
    repl_sync_tuning_t rc_sync; /* zero fields = defaults */
} repl_conf_t;

/*
 * Builds the module on loop (no I/O, no store yet). Must be called on the
 * loop's thread. Returns 0 and *out, CAIRN_EINVAL for a bad configuration
 * (nothing allocated), or CAIRN_ENOMEM.
 */
int repl_create(uv_loop_t *loop, const repl_conf_t *conf, repl_t **out);

/*
 * Points the store options at this module: so_repair / so_on_change (with
 * r as their argument) and so_log_changes = 1. Call before store_open. A
 * node that wants its own repair hook as well can instead call
 * repl_on_store_repair() from it.
 */
void repl_store_hooks(repl_t *r, store_opts_t *so);

/* The store hooks. Any thread; they only queue and signal the loop. arg is
 * the repl_t. Reports that arrive before repl_start are kept (bounded) and
 * acted on once started; after repl_stop they are dropped. */
void repl_on_store_repair(void *arg, const char *key, size_t klen, const store_version_t *version,
                          uint64_t file_id);
void repl_on_store_change(void *arg, uint16_t origin, uint64_t seq);

/*
 * Starts replicating store (borrowed until the stop callback ran): reads the
 * cursors, then listens and dials. The store must have been opened with the
 * hooks above and this node's id. Returns 0, CAIRN_EINVAL when called twice
 * or after stop, or the bind/listen error (-errno, e.g. -EADDRINUSE); on
 * failure nothing runs and the caller stops and frees r.
 */
int repl_start(repl_t *r, store_t *store);

/* The bound --peer-listen port (useful with port 0); CAIRN_EUNAVAIL if none. */
int repl_listen_port(const repl_t *r, int *port);

/* ---------------------------------------------------------- durability */

typedef enum {
    REPL_DUR_LOCAL = 0,    /* this node committed */
    REPL_DUR_MAJORITY = 1, /* floor(N/2)+1 nodes, this one included */
    REPL_DUR_ALL = 2,      /* every configured node */
} repl_durability_t;

/* N: this node plus the configured peers. */
unsigned repl_nodes(const repl_t *r);
/* Acks a level needs: 1, floor(N/2)+1 or N. */
unsigned repl_required_acks(const repl_t *r, repl_durability_t level);
/*
 * Nodes known to hold this node's change seq durably (record and cursor
 * committed): 1 (this node) plus every peer whose acknowledged cursor for
 * this node is >= seq.
 */
unsigned repl_acks(const repl_t *r, uint64_t seq);

typedef struct repl_wait repl_wait_t;

/*
 * status: 0 when acks >= required; CAIRN_ETIMEDOUT when the timeout passed
 * first (the node answers 503 durability_timeout with acks/required; the
 * change stays and keeps replicating); CAIRN_ESHUTDOWN when the module
 * stopped. Called on the loop, never from inside repl_wait_durable().
 */
typedef void (*repl_durable_cb)(repl_wait_t *w, int status, unsigned acks, unsigned required);

/* Owned by the caller (embed it); fields other than data are private. It
 * must stay valid until its callback ran or repl_wait_cancel() returned. */
struct repl_wait {
    void *data; /* the caller's */
    /* private */
    repl_t *rw_r;
    repl_wait_t *rw_prev, *rw_next;
    uint64_t rw_seq;
    uint64_t rw_deadline; /* uv_now() ms */
    unsigned rw_required;
    repl_durable_cb rw_cb;
    int rw_active;
};

/*
 * Waits until `required` nodes hold this node's change seq (the st_log_seq
 * a local put/delete reported), at most timeout_ms. cb is called exactly
 * once, on the loop, never synchronously -- also when the count is already
 * reached. Returns 0, or CAIRN_EINVAL (seq 0, required 0 or above N, w
 * already waiting) / CAIRN_ESHUTDOWN (stopping; cb is not called).
 */
int repl_wait_durable(repl_t *r, repl_wait_t *w, uint64_t seq, unsigned required,
                      uint64_t timeout_ms, repl_durable_cb cb);

/* Withdraws a wait whose callback has not run (e.g. the client left); the
 * callback is not called. Safe on an inactive wait. */
void repl_wait_cancel(repl_wait_t *w);

/* ------------------------------------------------------------- status */

typedef struct repl_peer_status {
    uint16_t ps_id;
    const char *ps_addr; /* "HOST:PORT" as configured; borrowed, valid as long as r */
    repl_link_state_t ps_state;
    uint64_t ps_last_contact_unix_ms; /* last frame received; 0 = never */
    uint64_t ps_up_since_unix_ms;     /* 0 when not up */
    uint32_t ps_rtt_ms;
    /* Lag out: changes in this node's log the peer has not confirmed (sum over
     * origins of our cursor minus the peer's), and the blob bytes among them
     * (refreshed every tick; a lower bound past 10000 entries per origin).
     * Lag in: changes the peer advertised that this node lacks, and the
     * bytes the peer reported for them. Unknown (never heard) counts 0. */
    uint64_t ps_lag_out_entries, ps_lag_out_bytes;
    uint64_t ps_lag_in_entries, ps_lag_in_bytes;
    uint64_t ps_acked_seq;                     /* the peer's cursor for this node's own changes */
    uint64_t ps_bytes_sent, ps_bytes_received; /* link bytes, all sessions */
    uint64_t ps_changes_sent;    /* offers answered (applied or skipped by the peer) */
    uint64_t ps_changes_applied; /* changes from this peer committed here */
    /* Transfers in flight on this link (0 = none). */
    uint64_t ps_send_size, ps_send_done; /* blob being streamed to the peer */
    uint64_t ps_recv_size, ps_recv_done; /* blob being received from the peer */
    unsigned ps_fetches_serving;         /* read-through fetches the peer asked us for */
    unsigned ps_fetches_asking;          /* our fetches currently at this peer */
} repl_peer_status_t;

/* Configured peers, in configuration order. */
size_t repl_peer_count(const repl_t *r);
/* i in 0..count-1; CAIRN_EINVAL otherwise. */
int repl_get_peer_status(const repl_t *r, size_t i, repl_peer_status_t *out);

typedef struct repl_metrics {
    uint64_t rm_bytes_sent, rm_bytes_received;           /* link bytes, all peers */
    uint64_t rm_blob_bytes_sent, rm_blob_bytes_received; /* blob content (stream + fetch) */
    uint64_t rm_changes_sent;                            /* offers the peers answered */
    uint64_t rm_changes_applied; /* received changes committed (applied or skipped) */
    uint64_t rm_changes_skipped; /* of those: lost last-writer-wins or already here */
    uint64_t rm_repairs_done;    /* fetches that left a whole copy (or a newer one) */
    uint64_t rm_repairs_failed;  /* fetches every up peer refused; retried by the sweep */
    uint64_t rm_repairs_pending; /* queued + in flight */
    uint64_t rm_fetches_active;
    uint64_t rm_fetches_served;
    uint64_t rm_damaged_copies;   /* local copies that failed their hash while being sent */
    uint64_t rm_durable_waits;    /* waits in progress */
    uint64_t rm_durable_timeouts; /* waits that timed out (total) */
    uint64_t rm_log_trimmed;      /* log entries trimmed (total) */
    uint64_t rm_tombstones_collected;
    uint64_t rm_links_up;
    uint64_t rm_versions_refused; /* remote versions too far ahead of the clock */
} repl_metrics_t;

void repl_get_metrics(const repl_t *r, repl_metrics_t *out);

/* ----------------------------------------------------------- shutdown */

typedef void (*repl_stopped_cb)(repl_t *r, void *arg);

/*
 * Stops: durability waits end with CAIRN_ESHUTDOWN (synchronously, before
 * this returns), links close, in-flight transfers are abandoned (a partly
 * received blob stays `receiving` and is repaired or re-sent after the next
 * start). cb (may be NULL) runs on the loop once every thread-pool job has
 * finished and every handle is closed; only then may the store be closed.
 * Calling it again does nothing.
 */
void repl_stop(repl_t *r, repl_stopped_cb cb, void *arg);

/* Releases r: immediately when stopped, otherwise it stops first and frees
 * itself once stopped (the loop must keep running). NULL is ignored. */
void repl_free(repl_t *r);

#endif
