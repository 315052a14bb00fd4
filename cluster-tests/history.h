/*
 * history.h -- what happened during a run: client operations, injected
 * faults and other events, blob-directory scans and the final state of
 * every node. Written as JSON (format "cairn-harness-history/1",
 * docs/harness.md) and read back by `cairn-harness check`.
 *
 * Times are run-time milliseconds (hutil.h). Appending is thread-safe:
 * workload threads record operations while the scenario thread records
 * events.
 */
#ifndef CAIRN_HARNESS_HISTORY_H
#define CAIRN_HARNESS_HISTORY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HISTORY_FORMAT "cairn-harness-history/1"
#define HIST_MAX_NODES 16

typedef enum { OP_PUT = 0, OP_GET, OP_HEAD, OP_DELETE, OP_KIND_COUNT } hop_kind_t;

/* The outcome of one operation, from the client's point of view. */
typedef enum {
    RES_OK = 0,             /* 200/201/204 */
    RES_NOT_FOUND,          /* 404 */
    RES_UNAVAILABLE,        /* 503 unavailable */
    RES_DURABILITY_TIMEOUT, /* 503 durability_timeout: stored locally, durability not reached */
    RES_NO_SPACE,           /* 507 */
    RES_SERVER_ERROR,       /* 500 and other 5xx */
    RES_REFUSED,            /* other 4xx */
    RES_CONN_ERROR,         /* could not connect: the request never reached a node */
    RES_NET_ERROR,          /* connection lost or stalled mid-request (outcome unknown) */
    RES_COUNT
} hop_result_t;

/* A version: X-Cairn-Version "<hlc>-<origin>" (decimal). */
typedef struct hver {
    uint64_t hv_hlc;
    uint32_t hv_origin;
    int hv_set;
} hver_t;

typedef struct hop {
    uint64_t ho_id; /* unique in the history; write content is derived from it */
    hop_kind_t ho_kind;
    int ho_node;         /* node id the request went to */
    char *ho_key;        /* owned */
    int64_t ho_start_ms; /* before the request was sent */
    int64_t ho_end_ms;   /* after the response (or failure) was complete */
    int ho_status;       /* HTTP status, 0 when none */
    hop_result_t ho_result;
    char ho_code[32];    /* server error code or client failure, "" on success */
    char ho_dur[12];     /* PUT/DELETE: "local" | "majority" | "all" | "" (node default) */
    uint64_t ho_size;    /* PUT: bytes sent; GET: bytes received */
    char ho_hash[33];    /* PUT: hash of the content sent; GET ok: hash of the bytes read */
    char ho_etag[33];    /* ETag returned, "" if none */
    hver_t ho_version;   /* X-Cairn-Version returned */
    uint8_t ho_final;    /* 1: a read of the final phase (after healing) */
    uint8_t ho_focus;    /* 1: issued by the reader on the node under fault */
    uint8_t ho_external; /* 1: recorded by an external workload command */
} hop_t;

/* Event kinds: see docs/harness.md ("Events"). */
typedef struct hevent {
    int64_t he_t_ms;
    char he_kind[24];
    int he_node;      /* 0 when not about one node */
    int he_node2;     /* second node of a link event, else 0 */
    int he_flag;      /* kind-specific: start: after a crash; net: impaired after this event */
    char *he_detail;  /* owned, may be NULL */
    char *he_key;     /* damage: the key whose file was damaged; owned, may be NULL */
    char he_hash[33]; /* damage: content hash in the damaged file's header */
    uint64_t he_file_id;
} hevent_t;

/* One walk of a node's DATA/blobs. */
typedef struct hscan {
    int64_t hs_t_ms;
    int hs_node;
    char hs_when[24];  /* "before_restart" | "after_recovery" | "final" | "periodic" */
    uint64_t hs_files; /* .blob files */
    uint64_t hs_bytes; /* their total length on disk */
    uint64_t hs_max_id;
    uint64_t *hs_ids; /* every file id seen, ascending; owned */
    size_t hs_nids;
    uint64_t *hs_left_ids; /* files that are not whole (leftovers); owned */
    size_t hs_nleft;
    uint64_t *hs_orphan_ids; /* final scans: whole files no live version of the node's
                                listing accounts for (content hash vs ETag); owned */
    size_t hs_norphans;
} hscan_t;

/* The state of one node after healing and convergence. */
typedef struct hfinal {
    int hf_node;
    int hf_up;             /* answered /v1/health */
    int hf_listed;         /* the listing could be read */
    uint64_t hf_live_keys; /* keys in the listing */
    uint64_t hf_live_bytes;
    int64_t hf_pending; /* pending_repairs from /v1/cluster, -1 unknown */
} hfinal_t;

typedef struct history {
    pthread_mutex_t hi_lock;
    char hi_scenario[64];
    uint64_t hi_seed;
    int hi_nodes;
    int64_t hi_duration_s;
    int64_t hi_converge_timeout_ms;
    char hi_node_urls[HIST_MAX_NODES][64];
    hop_t *hi_ops;
    size_t hi_nops, hi_capops;
    hevent_t *hi_events;
    size_t hi_nevents, hi_capevents;
    hscan_t *hi_scans;
    size_t hi_nscans, hi_capscans;
    hfinal_t hi_final[HIST_MAX_NODES];
    int hi_nfinal;
    uint64_t hi_next_id;
} history_t;

const char *hop_kind_name(hop_kind_t k);
const char *hop_result_name(hop_result_t r);
int hop_kind_parse(const char *s, hop_kind_t *out);
int hop_result_parse(const char *s, hop_result_t *out);

/* "<hlc>-<origin>" -> v (hv_set = 1). CAIRN-style: 0 or -EINVAL. */
int hver_parse(const char *s, hver_t *v);
/* Orders versions like the servers do: by hlc, then origin. Unset < set. */
int hver_cmp(const hver_t *a, const hver_t *b);
/* Formats into out (32 bytes); "" when unset. */
void hver_fmt(const hver_t *v, char *out);

void history_init(history_t *h);
void history_free(history_t *h);

/* A fresh operation id (thread-safe). */
uint64_t history_next_id(history_t *h);

/* Appends a copy of op (the key is copied). 0 or -ENOMEM. Thread-safe. */
int history_add_op(history_t *h, const hop_t *op);

/* Appends an event stamped now; detail printf-style (may be NULL). Thread-safe. */
int history_event(history_t *h, const char *kind, int node, int node2, int flag, const char *fmt,
                  ...) __attribute__((format(printf, 6, 7)));
/* Appends a fully built event (key/detail copied). */
int history_add_event(history_t *h, const hevent_t *ev);

/* Appends a scan; takes ownership of its id arrays (even on failure). */
int history_add_scan(history_t *h, hscan_t *scan);

/* Writes the history as JSON to path. 0 or -errno. */
int history_write(history_t *h, const char *path);

/*
 * Reads a history written by history_write (or by hand, see
 * docs/harness.md) into h (initialised here). On failure err says why and
 * h is left empty (history_free still safe).
 */
int history_load(history_t *h, const char *path, char *err, size_t errlen);

/*
 * Merges operation records from an external workload: one JSON object per
 * line (docs/harness.md, "Plugging in your own workload"). Lines that do
 * not parse are counted in *bad and skipped. 0 or -errno (file unreadable).
 */
int history_merge_jsonl(history_t *h, const char *path, size_t *added, size_t *bad);

#endif
