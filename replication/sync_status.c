/*
 * sync_status.c -- /v1/cluster and /metrics figures of the replication
 * module (repl.h, "status"). Loop thread only; reads loop-side state.
 */
#include <string.h>

#include "common/error.h"
#include "replication/sync_int.h"

size_t repl_peer_count(const repl_t *r)
{
    return r->r_npeers;
}

int repl_get_peer_status(const repl_t *r, size_t i, repl_peer_status_t *out)
{
    const psync_t *p;
    repl_link_stats_t ls;

    if (i >= r->r_npeers || out == NULL)
        return CAIRN_EINVAL;
    p = &r->r_peers[i];
    memset(out, 0, sizeof(*out));
    repl_link_get_stats(p->p_link, &ls);
    out->ps_id = p->p_id;
    out->ps_addr = repl_link_peer_addr(p->p_link);
    out->ps_state = ls.ls_state;
    out->ps_last_contact_unix_ms = ls.ls_last_rx_unix_ms;
    out->ps_up_since_unix_ms = ls.ls_up_since_unix_ms;
    out->ps_rtt_ms = ls.ls_rtt_ms;
    out->ps_bytes_sent = ls.ls_bytes_out;
    out->ps_bytes_received = ls.ls_bytes_in;
    for (size_t oi = 0; oi < r->r_norig; oi++) {
        uint64_t mine = r->r_orig[oi].or_cursor;

        if (r->r_orig[oi].or_id == p->p_id)
            continue; /* the peer's own changes: it has them all */
        if (p->p_curk[oi] && mine > p->p_cur[oi])
            out->ps_lag_out_entries += mine - p->p_cur[oi];
        if ((int)oi != r->r_self_oi && p->p_head[oi] > mine)
            out->ps_lag_in_entries += p->p_head[oi] - mine;
    }
    out->ps_lag_out_bytes = p->p_lag_out_bytes;
    out->ps_lag_in_bytes = p->p_lag_in_bytes;
    if (r->r_self_oi >= 0 && p->p_curk[r->r_self_oi])
        out->ps_acked_seq = p->p_cur[r->r_self_oi];
    out->ps_changes_sent = p->p_changes_sent;
    out->ps_changes_applied = p->p_changes_applied;
    if (p->p_tb == TB_STREAMING) {
        out->ps_send_size = p->p_tx_size;
        out->ps_send_done = p->p_tx_sent;
    }
    if (p->p_rxq != NULL && p->p_rxq->ri_state == RI_RECV) {
        out->ps_recv_size = p->p_rxq->ri_c.sc_rec.st_size;
        out->ps_recv_done = p->p_rxq->ri_written;
    }
    out->ps_fetches_serving = p->p_fsq_n + (p->p_fs_cur != NULL ? 1u : 0u);
    out->ps_fetches_asking = repl__fetch_asking(r, p);
    return 0;
}

void repl_get_metrics(const repl_t *r, repl_metrics_t *out)
{
    *out = r->r_m;
    out->rm_bytes_sent = 0;
    out->rm_bytes_received = 0;
    for (size_t i = 0; i < r->r_npeers; i++) {
        repl_link_stats_t ls;

        repl_link_get_stats(r->r_peers[i].p_link, &ls);
        out->rm_bytes_sent += ls.ls_bytes_out;
        out->rm_bytes_received += ls.ls_bytes_in;
    }
    out->rm_repairs_pending = r->r_rq_n + out->rm_fetches_active;
}
