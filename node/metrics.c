/*
 * metrics.c -- counters and Prometheus rendering (see metrics.h).
 */
#include "node/metrics.h"

#include <inttypes.h>
#include <string.h>

#include "common/error.h"

static const double bucket_bounds[METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   10};

void metrics_init(metrics_t *m)
{
    memset(m, 0, sizeof(*m));
}

const char *metrics_route_name(metrics_route_t route)
{
    static const char *names[ROUTE_COUNT] = {"blob",   "list",    "cluster",
                                             "health", "metrics", "other"};

    return (unsigned)route < ROUTE_COUNT ? names[route] : "other";
}

const char *metrics_method_name(metrics_method_t method)
{
    static const char *names[MMETHOD_COUNT] = {"GET", "HEAD", "PUT", "DELETE", "OTHER"};

    return (unsigned)method < MMETHOD_COUNT ? names[method] : "OTHER";
}

void metrics_request(metrics_t *m, metrics_route_t route, metrics_method_t method, int status,
                     double seconds)
{
    unsigned i, b;

    if ((unsigned)route >= ROUTE_COUNT)
        route = ROUTE_OTHER;
    if ((unsigned)method >= MMETHOD_COUNT)
        method = MMETHOD_OTHER;
    for (i = 0; i < m->m_nstatus; i++) {
        if (m->m_status[i].ms_status == status)
            break;
    }
    if (i == m->m_nstatus && m->m_nstatus < METRICS_STATUS_SLOTS) {
        m->m_status[i].ms_status = (uint16_t)status;
        m->m_nstatus++;
    }
    if (i < m->m_nstatus)
        m->m_status[i].ms_count[route][method]++;
    for (b = 0; b < METRICS_BUCKETS; b++) {
        if (seconds <= bucket_bounds[b]) {
            m->m_hist[route][b]++;
            break;
        }
    }
    m->m_hist_count[route]++;
    m->m_hist_sum[route] += seconds;
}

/* Appends "# HELP" and "# TYPE" lines. */
static int header(buf_t *out, const char *name, const char *type, const char *help)
{
    return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends one unlabelled sample with its HELP/TYPE. */
static int scalar(buf_t *out, const char *name, const char *type, const char *help, uint64_t v)
{
    int rc = header(out, name, type, help);

    if (rc < 0)
        return rc;
    return buf_appendf(out, "%s %" PRIu64 "\n", name, v);
}

int metrics_render(const metrics_t *m, const store_stats_t *st, const metrics_node_info_t *ni,
                   buf_t *out)
{
    unsigned i, r, k, b;
    uint64_t cum;
    int rc;

    rc = header(out, "cairn_http_requests_total", "counter",
                "HTTP requests by route, method and status.");
    if (rc < 0)
        return rc;
    for (i = 0; i < m->m_nstatus; i++) {
        for (r = 0; r < ROUTE_COUNT; r++) {
            for (k = 0; k < MMETHOD_COUNT; k++) {
                if (m->m_status[i].ms_count[r][k] == 0)
                    continue;
                rc = buf_appendf(out,
                                 "cairn_http_requests_total{route=\"%s\",method=\"%s\","
                                 "status=\"%u\"} %" PRIu64 "\n",
                                 metrics_route_name((metrics_route_t)r),
                                 metrics_method_name((metrics_method_t)k),
                                 (unsigned)m->m_status[i].ms_status, m->m_status[i].ms_count[r][k]);
                if (rc < 0)
                    return rc;
            }
        }
    }
    rc = header(out, "cairn_http_request_duration_seconds", "histogram",
                "Time from the first byte of a request to the last byte of its response.");
    if (rc < 0)
        return rc;
    for (r = 0; r < ROUTE_COUNT; r++) {
        const char *rn = metrics_route_name((metrics_route_t)r);

        cum = 0;
        for (b = 0; b < METRICS_BUCKETS; b++) {
            cum += m->m_hist[r][b];
            rc = buf_appendf(out,
                             "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                             "%" PRIu64 "\n",
                             rn, bucket_bounds[b], cum);
            if (rc < 0)
                return rc;
        }
        rc = buf_appendf(out,
                         "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                         "%" PRIu64 "\n"
                         "cairn_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                         "cairn_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
                         rn, m->m_hist_count[r], rn, m->m_hist_sum[r], rn, m->m_hist_count[r]);
        if (rc < 0)
            return rc;
    }
    struct {
        const char *name, *type, *help;
        uint64_t v;
    } rows[] = {
        {"cairn_http_bytes_in_total", "counter", "Request body bytes received.", m->m_bytes_in},
        {"cairn_http_bytes_out_total", "counter", "Response bytes sent (headers and bodies).",
         m->m_bytes_out},
        {"cairn_http_connections_open", "gauge", "Open HTTP connections.", m->m_conns_open},
        {"cairn_http_connections_total", "counter", "HTTP connections accepted.", m->m_conns_total},
        {"cairn_http_connections_rejected_total", "counter",
         "Connections refused because --max-connections was reached.", m->m_conns_rejected},
        {"cairn_http_timeouts_total", "counter",
         "Connections closed by the header or idle timeout.", m->m_timeouts},
        {"cairn_http_uploads_aborted_total", "counter",
         "Uploads that ended early or failed (nothing became visible).", m->m_uploads_aborted},
        {"cairn_http_reads_waited_total", "counter",
         "Reads that had to wait for bytes or a whole copy.", m->m_reads_waited},
        {"cairn_http_reads_inline_total", "counter",
         "GET/HEAD answered on the event loop without the thread pool (inline blob or no key).",
         m->m_reads_inline_fast},
        {"cairn_blobs", "gauge", "Live complete blobs.", st->ss_blobs},
        {"cairn_blob_bytes", "gauge", "Content bytes of live complete blobs.", st->ss_bytes},
        {"cairn_tombstones", "gauge", "Tombstones kept.", st->ss_tombstones},
        {"cairn_reads_reresolved_total", "counter",
         "Reads that met a crash leftover and re-resolved the record.", st->ss_reads_reresolved},
        {"cairn_repairs_queued_total", "counter", "Repair reports made by the store.",
         st->ss_repairs_queued},
        {"cairn_repairs_pending", "gauge", "Records waiting for a whole copy.",
         st->ss_repairs_pending},
        {"cairn_repair_callbacks_total", "counter", "Repair requests received by the node.",
         ni->mi_repair_reports},
        {"cairn_commits_total", "counter", "Changes committed.", st->ss_commits},
        {"cairn_commit_txns_total", "counter", "LMDB write transactions (group commit).",
         st->ss_commit_txns},
        {"cairn_files_collected_total", "counter", "Blob files unlinked by GC.",
         st->ss_files_collected},
        {"cairn_leftovers_removed_total", "counter", "Crash leftovers deleted by recovery.",
         st->ss_leftovers_removed},
        {"cairn_live_writers", "gauge", "Blob writes in progress.", st->ss_live_writers},
    };
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        rc = scalar(out, rows[i].name, rows[i].type, rows[i].help, rows[i].v);
        if (rc < 0)
            return rc;
    }
    rc = header(out, "cairn_node_info", "gauge", "Constant 1, labelled with the node id.");
    if (rc < 0)
        return rc;
    rc = buf_appendf(out, "cairn_node_info{node_id=\"%u\"} 1\n", (unsigned)ni->mi_node_id);
    if (rc < 0)
        return rc;
    rc = header(out, "cairn_uptime_seconds", "gauge", "Seconds since cairnd started.");
    if (rc < 0)
        return rc;
    return buf_appendf(out, "cairn_uptime_seconds %.3f\n", ni->mi_uptime_s);
}

/* One sample per peer of a per-peer family, with HELP/TYPE. */
typedef uint64_t (*peer_value_fn)(const repl_peer_status_t *ps);

static uint64_t pv_up(const repl_peer_status_t *ps)
{
    return ps->ps_state == REPL_LINK_UP;
}
static uint64_t pv_lag_out_entries(const repl_peer_status_t *ps)
{
    return ps->ps_lag_out_entries;
}
static uint64_t pv_lag_out_bytes(const repl_peer_status_t *ps)
{
    return ps->ps_lag_out_bytes;
}
static uint64_t pv_lag_in_entries(const repl_peer_status_t *ps)
{
    return ps->ps_lag_in_entries;
}
static uint64_t pv_lag_in_bytes(const repl_peer_status_t *ps)
{
    return ps->ps_lag_in_bytes;
}
static uint64_t pv_acked_seq(const repl_peer_status_t *ps)
{
    return ps->ps_acked_seq;
}
static uint64_t pv_bytes_sent(const repl_peer_status_t *ps)
{
    return ps->ps_bytes_sent;
}
static uint64_t pv_bytes_received(const repl_peer_status_t *ps)
{
    return ps->ps_bytes_received;
}
static uint64_t pv_changes_applied(const repl_peer_status_t *ps)
{
    return ps->ps_changes_applied;
}

int metrics_render_repl(const repl_t *r, uint64_t now_unix_ms, buf_t *out)
{
    static const struct {
        const char *name, *type, *help;
        peer_value_fn fn;
    } per_peer[] = {
        {"cairn_repl_peer_up", "gauge",
         "1 while the link to the peer has an authenticated session.", pv_up},
        {"cairn_repl_peer_lag_out_entries", "gauge",
         "Changes in this node's log the peer has not confirmed.", pv_lag_out_entries},
        {"cairn_repl_peer_lag_out_bytes", "gauge", "Blob bytes among the changes the peer lacks.",
         pv_lag_out_bytes},
        {"cairn_repl_peer_lag_in_entries", "gauge",
         "Changes the peer advertised that this node lacks.", pv_lag_in_entries},
        {"cairn_repl_peer_lag_in_bytes", "gauge",
         "Blob bytes the peer reported for the changes this node lacks.", pv_lag_in_bytes},
        {"cairn_repl_peer_acked_seq", "gauge",
         "The peer's cursor for this node's own changes (acknowledged seq).", pv_acked_seq},
        {"cairn_repl_peer_bytes_sent_total", "counter", "Link bytes sent to the peer.",
         pv_bytes_sent},
        {"cairn_repl_peer_bytes_received_total", "counter", "Link bytes received from the peer.",
         pv_bytes_received},
        {"cairn_repl_peer_changes_applied_total", "counter",
         "Changes received from the peer and committed here.", pv_changes_applied},
    };
    repl_metrics_t m;
    repl_peer_status_t ps;
    size_t i, p, n = r != NULL ? repl_peer_count(r) : 0;
    int rc;

    memset(&m, 0, sizeof(m));
    if (r != NULL)
        repl_get_metrics(r, &m);
    struct {
        const char *name, *type, *help;
        uint64_t v;
    } rows[] = {
        {"cairn_repl_active", "gauge", "1 when replication runs (peers configured).", r != NULL},
        {"cairn_repl_peers", "gauge", "Configured peers.", (uint64_t)n},
        {"cairn_repl_links_up", "gauge", "Peer links with an authenticated session.",
         m.rm_links_up},
        {"cairn_repl_bytes_sent_total", "counter", "Link bytes sent to all peers.",
         m.rm_bytes_sent},
        {"cairn_repl_bytes_received_total", "counter", "Link bytes received from all peers.",
         m.rm_bytes_received},
        {"cairn_repl_blob_bytes_sent_total", "counter",
         "Blob content bytes sent (log shipping and fetches).", m.rm_blob_bytes_sent},
        {"cairn_repl_blob_bytes_received_total", "counter",
         "Blob content bytes received (log shipping and fetches).", m.rm_blob_bytes_received},
        {"cairn_repl_changes_sent_total", "counter", "Changes offered and answered by peers.",
         m.rm_changes_sent},
        {"cairn_repl_changes_applied_total", "counter",
         "Received changes committed here (applied or skipped).", m.rm_changes_applied},
        {"cairn_repl_changes_skipped_total", "counter",
         "Received changes that lost last-writer-wins or were already here.", m.rm_changes_skipped},
        {"cairn_repl_repairs_done_total", "counter",
         "Read-through fetches that left a whole copy here.", m.rm_repairs_done},
        {"cairn_repl_repairs_failed_total", "counter",
         "Fetches every up peer refused (retried by the sweep).", m.rm_repairs_failed},
        {"cairn_repl_repairs_pending", "gauge", "Repairs queued or in flight.",
         m.rm_repairs_pending},
        {"cairn_repl_fetches_active", "gauge", "Read-through fetches in flight.",
         m.rm_fetches_active},
        {"cairn_repl_fetches_served_total", "counter", "Fetches answered for peers.",
         m.rm_fetches_served},
        {"cairn_repl_damaged_copies_total", "counter",
         "Local copies that failed their hash while being sent.", m.rm_damaged_copies},
        {"cairn_repl_durable_waits", "gauge", "Writes waiting for their durability level.",
         m.rm_durable_waits},
        {"cairn_repl_durability_timeouts_total", "counter",
         "Writes answered 503 durability_timeout.", m.rm_durable_timeouts},
        {"cairn_repl_log_trimmed_total", "counter", "Replication log entries trimmed.",
         m.rm_log_trimmed},
        {"cairn_repl_tombstones_collected_total", "counter", "Tombstones collected.",
         m.rm_tombstones_collected},
        {"cairn_repl_versions_refused_total", "counter",
         "Remote versions refused for being too far ahead of the clock.", m.rm_versions_refused},
    };
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        rc = scalar(out, rows[i].name, rows[i].type, rows[i].help, rows[i].v);
        if (rc < 0)
            return rc;
    }
    if (n == 0)
        return 0;
    for (i = 0; i < sizeof(per_peer) / sizeof(per_peer[0]); i++) {
        rc = header(out, per_peer[i].name, per_peer[i].type, per_peer[i].help);
        for (p = 0; rc == 0 && p < n; p++) {
            if (repl_get_peer_status(r, p, &ps) < 0)
                continue;
            rc = buf_appendf(out, "%s{peer=\"%u\"} %" PRIu64 "\n", per_peer[i].name,
                             (unsigned)ps.ps_id, per_peer[i].fn(&ps));
        }
        if (rc < 0)
            return rc;
    }
    rc = header(out, "cairn_repl_peer_rtt_seconds", "gauge", "Last heartbeat round trip.");
    for (p = 0; rc == 0 && p < n; p++) {
        if (repl_get_peer_status(r, p, &ps) < 0)
            continue;
        rc = buf_appendf(out, "cairn_repl_peer_rtt_seconds{peer=\"%u\"} %.3f\n", (unsigned)ps.ps_id,
                         (double)ps.ps_rtt_ms / 1000.0);
    }
    if (rc < 0)
        return rc;
    rc = header(out, "cairn_repl_peer_last_contact_seconds", "gauge",
                "Seconds since the last frame from the peer (absent: never heard from).");
    for (p = 0; rc == 0 && p < n; p++) {
        if (repl_get_peer_status(r, p, &ps) < 0 || ps.ps_last_contact_unix_ms == 0)
            continue;
        rc = buf_appendf(out, "cairn_repl_peer_last_contact_seconds{peer=\"%u\"} %.3f\n",
                         (unsigned)ps.ps_id,
                         now_unix_ms > ps.ps_last_contact_unix_ms
                             ? (double)(now_unix_ms - ps.ps_last_contact_unix_ms) / 1000.0
                             : 0.0);
    }
    return rc;
}
