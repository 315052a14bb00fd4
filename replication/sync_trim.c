/*
 * sync_trim.c -- keeping the replication log bounded, and measuring lag.
 *
 * Trimming: every st_trim_ms, for each origin O, the entries with seq <=
 * min over ALL configured peers of their cursor for O are deleted (a peer
 * never heard from blocks trimming of every origin: it may still need
 * everything). Trimmed entries are held by every peer, so no subscription
 * ever needs them.
 *
 * Tombstone collection: a tombstone can go once every peer has it and no
 * older put can still arrive anywhere. The horizon is the HLC of the oldest
 * entry left in the log across origins (store_log_oldest_hlc; each origin's
 * entries have non-decreasing HLCs), or the wall clock when the log is
 * empty; tombstones below it are removed (store_gc_tombstones). Nothing is
 * collected while this node is behind a peer on any origin (a peer's head
 * beyond this node's cursor) or has not heard from every peer: an entry it
 * has not received yet may be an older put of a deleted key, and a
 * tombstone fetched ahead of the log (see sync_rx.c) must stay until that
 * put arrives and loses.
 *
 * Lag: for each peer, the blob bytes of the log entries it has not
 * confirmed (scanning at most REPL_LAG_SCAN_MAX entries per origin), for
 * /v1/cluster and for the peer's own "lag in" (sent with heads).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/hlc.h"
#include "common/log.h"
#include "replication/sync_int.h"

typedef struct trimreq {
    uint16_t tr_origin;
    int tr_oi;
    uint64_t tr_upto;
    int tr_rc;
    size_t tr_removed;
} trimreq_t;

typedef struct trimjob {
    rjob_t tj_job;
    size_t tj_n;
    size_t tj_tombs;
    int tj_gc; /* collect tombstones this round */
    int tj_gc_rc;
    trimreq_t tj_req[REPL_ORIGINS_MAX];
} trimjob_t;

static void trim_run(rjob_t *j)
{
    trimjob_t *tj = (trimjob_t *)j;
    store_t *s = j->j_r->r_store;
    uint64_t horizon;
    int rc;

    for (size_t i = 0; i < tj->tj_n; i++) {
        trimreq_t *t = &tj->tj_req[i];

        t->tr_rc = store_log_trim(s, t->tr_origin, t->tr_upto, &t->tr_removed);
    }
    if (!tj->tj_gc)
        return;
    rc = store_log_oldest_hlc(s, &horizon);
    if (rc == CAIRN_ENOTFOUND) {
        horizon = HLC_MAKE(hlc_wall_ms(), 0);
        rc = 0;
    }
    if (rc == 0)
        rc = store_gc_tombstones(s, horizon, REPL_TRIM_GC_MAX, &tj->tj_tombs);
    tj->tj_gc_rc = rc;
}

static void trim_done(rjob_t *j)
{
    trimjob_t *tj = (trimjob_t *)j;
    repl_t *r = j->j_r;

    r->r_trim_busy = 0;
    for (size_t i = 0; i < tj->tj_n; i++) {
        trimreq_t *t = &tj->tj_req[i];

        r->r_m.rm_log_trimmed += t->tr_removed;
        if (t->tr_rc == 0) {
            if (t->tr_upto > r->r_orig[t->tr_oi].or_trimmed)
                r->r_orig[t->tr_oi].or_trimmed = t->tr_upto;
        } else {
            LOG_WARN("repl.log.trim_failed", "origin=%u upto=%" PRIu64 " err=%s",
                     (unsigned)t->tr_origin, t->tr_upto, cairn_errname(t->tr_rc));
        }
    }
    if (tj->tj_gc_rc < 0)
        LOG_WARN("repl.tombstones.gc_failed", "err=%s", cairn_errname(tj->tj_gc_rc));
    r->r_m.rm_tombstones_collected += tj->tj_tombs;
    free(tj);
}

/* 1 when every peer was heard from and none is known to hold entries of
 * any origin beyond this node's cursor. */
static int caught_up(const repl_t *r)
{
    for (size_t i = 0; i < r->r_npeers; i++) {
        const psync_t *p = &r->r_peers[i];

        if (r->r_self_oi < 0 || !p->p_curk[r->r_self_oi])
            return 0;
        for (size_t oi = 0; oi < r->r_norig; oi++) {
            if ((int)oi != r->r_self_oi && p->p_head[oi] > r->r_orig[oi].or_cursor)
                return 0;
        }
    }
    return 1;
}

void repl__trim_tick(repl_t *r)
{
    trimjob_t *tj;

    if (r->r_trim_busy || r->r_stopping || !r->r_running)
        return;
    tj = calloc(1, sizeof(*tj));
    if (tj == NULL)
        return;
    for (size_t oi = 0; oi < r->r_norig; oi++) {
        uint64_t upto = r->r_orig[oi].or_cursor;
        int known = 1;

        for (size_t i = 0; i < r->r_npeers; i++) {
            const psync_t *p = &r->r_peers[i];

            if (!p->p_curk[oi]) {
                known = 0;
                break;
            }
            if (p->p_cur[oi] < upto)
                upto = p->p_cur[oi];
        }
        if (!known || upto <= r->r_orig[oi].or_trimmed)
            continue;
        tj->tj_req[tj->tj_n].tr_origin = r->r_orig[oi].or_id;
        tj->tj_req[tj->tj_n].tr_oi = (int)oi;
        tj->tj_req[tj->tj_n].tr_upto = upto;
        tj->tj_n++;
    }
    tj->tj_gc = caught_up(r);
    r->r_trim_busy = 1;
    repl__job_submit(r, &tj->tj_job, trim_run, trim_done);
}

/* --------------------------------------------------------------- lag */

typedef struct lagreq {
    size_t lr_peer;
    uint16_t lr_origin;
    uint64_t lr_after;
    uint64_t lr_bytes;
    size_t lr_seen;
} lagreq_t;

typedef struct lagjob {
    rjob_t lj_job;
    size_t lj_n;
    lagreq_t *lj_req;
} lagjob_t;

static int lag_collect(void *arg, const store_change_t *c)
{
    lagreq_t *lr = arg;

    lr->lr_seen++;
    if (!c->sc_superseded && c->sc_rec.st_state != STORE_TOMBSTONE)
        lr->lr_bytes += c->sc_rec.st_size;
    return 0;
}

static void lag_run(rjob_t *j)
{
    lagjob_t *lj = (lagjob_t *)j;

    for (size_t i = 0; i < lj->lj_n; i++) {
        lagreq_t *lr = &lj->lj_req[i];

        (void)store_log_read(j->j_r->r_store, lr->lr_origin, lr->lr_after, REPL_LAG_SCAN_MAX,
                             lag_collect, lr);
    }
}

static void lag_done(rjob_t *j)
{
    lagjob_t *lj = (lagjob_t *)j;
    repl_t *r = j->j_r;

    r->r_lag_busy = 0;
    for (size_t i = 0; i < r->r_npeers; i++)
        r->r_peers[i].p_lag_out_bytes = 0;
    for (size_t i = 0; i < lj->lj_n; i++)
        r->r_peers[lj->lj_req[i].lr_peer].p_lag_out_bytes += lj->lj_req[i].lr_bytes;
    free(lj->lj_req);
    free(lj);
}

void repl__lag_tick(repl_t *r)
{
    lagjob_t *lj;
    size_t n = 0;

    if (r->r_lag_busy || r->r_stopping || !r->r_running)
        return;
    for (size_t i = 0; i < r->r_npeers; i++) {
        const psync_t *p = &r->r_peers[i];

        for (size_t oi = 0; oi < r->r_norig; oi++) {
            if (p->p_curk[oi] && r->r_orig[oi].or_cursor > p->p_cur[oi] &&
                r->r_orig[oi].or_id != p->p_id)
                n++;
        }
    }
    if (n == 0) {
        for (size_t i = 0; i < r->r_npeers; i++)
            r->r_peers[i].p_lag_out_bytes = 0;
        return;
    }
    lj = calloc(1, sizeof(*lj));
    if (lj == NULL)
        return;
    lj->lj_req = calloc(n, sizeof(lagreq_t));
    if (lj->lj_req == NULL) {
        free(lj);
        return;
    }
    for (size_t i = 0; i < r->r_npeers; i++) {
        const psync_t *p = &r->r_peers[i];

        for (size_t oi = 0; oi < r->r_norig; oi++) {
            if (!(p->p_curk[oi] && r->r_orig[oi].or_cursor > p->p_cur[oi] &&
                  r->r_orig[oi].or_id != p->p_id))
                continue;
            lj->lj_req[lj->lj_n].lr_peer = i;
            lj->lj_req[lj->lj_n].lr_origin = r->r_orig[oi].or_id;
            lj->lj_req[lj->lj_n].lr_after = p->p_cur[oi];
            lj->lj_n++;
        }
    }
    r->r_lag_busy = 1;
    repl__job_submit(r, &lj->lj_job, lag_run, lag_done);
}
