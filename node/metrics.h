/*
 * metrics.h -- the node's counters and their Prometheus text rendering.
 *
 * A metrics_t is owned by the server and touched only on the event loop
 * thread (no locks). Store-side numbers come from store_get_stats(), taken
 * on a worker thread and handed to metrics_render().
 */
#ifndef CAIRN_NODE_METRICS_H
#define CAIRN_NODE_METRICS_H

#include <stdint.h>

#include "common/buf.h"
#include "replication/repl.h"
#include "storage/store.h"

typedef enum {
    ROUTE_BLOB = 0,
    ROUTE_LIST,
    ROUTE_CLUSTER,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_OTHER,
    ROUTE_COUNT
} metrics_route_t;

typedef enum {
    MMETHOD_GET = 0,
    MMETHOD_HEAD,
    MMETHOD_PUT,
    MMETHOD_DELETE,
    MMETHOD_OTHER,
    MMETHOD_COUNT
} metrics_method_t;

#define METRICS_BUCKETS 12
#define METRICS_STATUS_SLOTS 64

typedef struct metrics_status {
    uint16_t ms_status;
    uint64_t ms_count[ROUTE_COUNT][MMETHOD_COUNT];
} metrics_status_t;

typedef struct metrics {
    metrics_status_t m_status[METRICS_STATUS_SLOTS]; /* one slot per distinct status */
    unsigned m_nstatus;
    uint64_t m_hist[ROUTE_COUNT][METRICS_BUCKETS]; /* cumulative-free bucket counts */
    uint64_t m_hist_count[ROUTE_COUNT];
    double m_hist_sum[ROUTE_COUNT];
    uint64_t m_bytes_in;
    uint64_t m_bytes_out;
    uint64_t m_conns_open;
    uint64_t m_conns_total;
    uint64_t m_conns_rejected;
    uint64_t m_timeouts;
    uint64_t m_uploads_aborted;
    uint64_t m_reads_waited;
    uint64_t m_reads_inline_fast; /* GET/HEAD answered on the loop thread (get_inline) */
} metrics_t;

/* Extra node-level numbers rendered beside the store's. */
typedef struct metrics_node_info {
    uint16_t mi_node_id;
    uint64_t mi_repair_reports; /* so_repair callbacks received */
    double mi_uptime_s;
} metrics_node_info_t;

void metrics_init(metrics_t *m);

/* Counts one finished request. */
void metrics_request(metrics_t *m, metrics_route_t route, metrics_method_t method, int status,
                     double seconds);

const char *metrics_route_name(metrics_route_t route);
const char *metrics_method_name(metrics_method_t method);

/*
 * Appends the whole Prometheus text exposition (format 0.0.4) to out.
 * Returns 0 or CAIRN_ETOOBIG when out's cap is too small.
 */
int metrics_render(const metrics_t *m, const store_stats_t *st, const metrics_node_info_t *ni,
                   buf_t *out);

/*
 * Appends the replication families (cairn_repl_*): module counters from
 * repl_get_metrics() and per-peer gauges labelled peer="ID". r NULL (no
 * peers) renders cairn_repl_active 0 and zero counters. Loop thread (the
 * module is not thread-safe). Returns 0 or CAIRN_ETOOBIG.
 */
int metrics_render_repl(const repl_t *r, uint64_t now_unix_ms, buf_t *out);

#endif
