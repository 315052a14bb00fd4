/*
 * cluster_status.c -- GET /v1/cluster (see cluster_status.h).
 */
#include "node/cluster_status.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

uint64_t cluster_now_unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The coarse link word of the first API version: up, connecting or down. */
static const char *link_word(repl_link_state_t s)
{
    switch (s) {
    case REPL_LINK_UP:
        return "up";
    case REPL_LINK_CONNECTING:
        return "connecting";
    default:
        return "down";
    }
}

/* Appends `,"name":AGE` (ms since unix_ms) or `,"name":null` when unix_ms is 0. */
static int append_age(buf_t *b, const char *name, uint64_t now, uint64_t unix_ms)
{
    if (unix_ms == 0)
        return buf_appendf(b, ",\"%s\":null", name);
    return buf_appendf(b, ",\"%s\":%" PRIu64, name, now > unix_ms ? now - unix_ms : 0);
}

/* Appends `,"name":{"size":S,"done":D}` for a transfer in flight, else null. */
static int append_transfer(buf_t *b, const char *name, uint64_t size, uint64_t done)
{
    if (size == 0 && done == 0)
        return buf_appendf(b, "\"%s\":null", name);
    return buf_appendf(b, "\"%s\":{\"size\":%" PRIu64 ",\"done\":%" PRIu64 "}", name, size, done);
}

/* One element of "peers". */
static int append_peer(buf_t *b, const repl_peer_status_t *ps, uint64_t now)
{
    int rc;

    rc = buf_appendf(b, "{\"node_id\":%u,\"address\":", (unsigned)ps->ps_id);
    if (rc == 0)
        rc = buf_append_json_str(b, ps->ps_addr, strlen(ps->ps_addr));
    if (rc == 0)
        rc = buf_appendf(b, ",\"link\":\"%s\",\"link_state\":\"%s\"", link_word(ps->ps_state),
                         repl_link_state_name(ps->ps_state));
    if (rc == 0)
        rc = append_age(b, "last_contact_ms", now, ps->ps_last_contact_unix_ms);
    if (rc == 0)
        rc = append_age(b, "up_for_ms", now, ps->ps_up_since_unix_ms);
    if (rc == 0)
        rc = buf_appendf(b,
                         ",\"rtt_ms\":%u,\"lag_entries\":%" PRIu64 ",\"lag_bytes\":%" PRIu64
                         ",\"lag_out_entries\":%" PRIu64 ",\"lag_out_bytes\":%" PRIu64
                         ",\"lag_in_entries\":%" PRIu64 ",\"lag_in_bytes\":%" PRIu64
                         ",\"acked_seq\":%" PRIu64 ",\"transfer\":{",
                         (unsigned)ps->ps_rtt_ms, ps->ps_lag_out_entries, ps->ps_lag_out_bytes,
                         ps->ps_lag_out_entries, ps->ps_lag_out_bytes, ps->ps_lag_in_entries,
                         ps->ps_lag_in_bytes, ps->ps_acked_seq);
    if (rc == 0)
        rc = append_transfer(b, "send", ps->ps_send_size, ps->ps_send_done);
    if (rc == 0)
        rc = buf_append(b, ",", 1);
    if (rc == 0)
        rc = append_transfer(b, "recv", ps->ps_recv_size, ps->ps_recv_done);
    if (rc == 0)
        rc = buf_appendf(b,
                         ",\"fetches_serving\":%u,\"fetches_asking\":%u},\"bytes_sent\":%" PRIu64
                         ",\"bytes_received\":%" PRIu64 ",\"changes_sent\":%" PRIu64
                         ",\"changes_applied\":%" PRIu64 "}",
                         ps->ps_fetches_serving, ps->ps_fetches_asking, ps->ps_bytes_sent,
                         ps->ps_bytes_received, ps->ps_changes_sent, ps->ps_changes_applied);
    return rc;
}

int cluster_status_json(const node_config_t *cfg, const repl_t *r, const store_stats_t *st,
                        uint64_t now_unix_ms, buf_t *out)
{
    repl_metrics_t m;
    repl_peer_status_t ps;
    size_t i, n = r != NULL ? repl_peer_count(r) : 0;
    unsigned nodes = r != NULL ? repl_nodes(r) : 1;
    int rc;

    memset(&m, 0, sizeof(m));
    if (r != NULL)
        repl_get_metrics(r, &m);
    rc = buf_appendf(out,
                     "{\"node_id\":%u,\"cluster_size\":%u,\"replication\":\"%s\","
                     "\"default_durability\":\"%s\",\"durability_timeout_s\":%u,"
                     "\"required_acks\":{\"local\":1,\"majority\":%u,\"all\":%u},\"peers\":[",
                     (unsigned)cfg->nc_node_id, nodes, r != NULL ? "active" : "none",
                     durability_name(cfg->nc_durability), cfg->nc_durability_timeout_s,
                     r != NULL ? repl_required_acks(r, REPL_DUR_MAJORITY) : 1,
                     r != NULL ? repl_required_acks(r, REPL_DUR_ALL) : 1);
    for (i = 0; rc == 0 && i < n; i++) {
        rc = repl_get_peer_status(r, i, &ps);
        if (rc < 0)
            break;
        if (i > 0)
            rc = buf_append(out, ",", 1);
        if (rc == 0)
            rc = append_peer(out, &ps, now_unix_ms);
    }
    if (rc == 0)
        rc = buf_appendf(out,
                         "],\"links_up\":%" PRIu64 ",\"pending_repairs\":%" PRIu64
                         ",\"repairs_queued_total\":%" PRIu64 ",\"repairs_done\":%" PRIu64
                         ",\"repairs_failed\":%" PRIu64 ",\"repairs_in_flight\":%" PRIu64
                         ",\"live_writers\":%" PRIu64 ",\"durable_waits\":%" PRIu64
                         ",\"durability_timeouts_total\":%" PRIu64 "}\n",
                         m.rm_links_up, st->ss_repairs_pending, st->ss_repairs_queued,
                         m.rm_repairs_done, m.rm_repairs_failed, m.rm_repairs_pending,
                         st->ss_live_writers, m.rm_durable_waits, m.rm_durable_timeouts);
    return rc;
}
