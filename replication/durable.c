/*
 * durable.c -- durability waits: "tell me when this node's change seq is
 * held by `required` nodes, or when the timeout passed".
 *
 * A peer holds change seq of this node when its cursor for this node is at
 * least seq: the receiver commits record, log entry and cursor in one
 * transaction and only then acks, so the cursor is a durable fact. Cursors
 * arrive with "ack"/"have" frames (from the peer that applied the change,
 * also when it got it through a relay) and with the periodic "heads". Each
 * node counts itself: the wait starts after the local commit.
 *
 * Waits are a list owned by the callers (repl_wait_t embedded in their
 * request); one loop timer fires at the earliest deadline.
 */
#include <stdlib.h>

#include "common/error.h"
#include "replication/sync_int.h"

void repl__durable_init(repl_t *r)
{
    r->r_waits = NULL;
}

unsigned repl_nodes(const repl_t *r)
{
    return (unsigned)r->r_npeers + 1;
}

unsigned repl_required_acks(const repl_t *r, repl_durability_t level)
{
    unsigned n = repl_nodes(r);

    switch (level) {
    case REPL_DUR_LOCAL:
        return 1;
    case REPL_DUR_ALL:
        return n;
    case REPL_DUR_MAJORITY:
    default:
        return n / 2 + 1;
    }
}

unsigned repl_acks(const repl_t *r, uint64_t seq)
{
    unsigned acks = 1;
    int oi = r->r_self_oi;

    for (size_t i = 0; oi >= 0 && i < r->r_npeers; i++) {
        const psync_t *p = &r->r_peers[i];

        if (p->p_curk[oi] && p->p_cur[oi] >= seq)
            acks++;
    }
    return acks;
}

static void unlink_wait(repl_t *r, repl_wait_t *w)
{
    if (w->rw_prev != NULL)
        w->rw_prev->rw_next = w->rw_next;
    else
        r->r_waits = w->rw_next;
    if (w->rw_next != NULL)
        w->rw_next->rw_prev = w->rw_prev;
    w->rw_prev = w->rw_next = NULL;
    w->rw_active = 0;
    r->r_m.rm_durable_waits--;
}

static void on_wtimer(uv_timer_t *t);

/* Arms the timer for the earliest deadline, or at once when a wait is
 * already met (none: stopped). */
static void arm(repl_t *r)
{
    uint64_t now = repl__now(r);
    uint64_t next = UINT64_MAX;

    if (r->r_stopping)
        return;
    for (repl_wait_t *w = r->r_waits; w != NULL; w = w->rw_next) {
        if (repl_acks(r, w->rw_seq) >= w->rw_required)
            next = now;
        else if (w->rw_deadline < next)
            next = w->rw_deadline;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&r->r_wtimer);
        return;
    }
    uv_timer_start(&r->r_wtimer, on_wtimer, next > now ? next - now : 0, 0);
}

/*
 * Completes waits one at a time: met ones with 0, expired ones with
 * CAIRN_ETIMEDOUT (when expire is set). The list is re-scanned after each
 * callback because a callback may start or cancel waits.
 */
static void complete_ready(repl_t *r, int expire)
{
    uint64_t now = repl__now(r);
    int again = 1;

    while (again) {
        again = 0;
        for (repl_wait_t *w = r->r_waits; w != NULL; w = w->rw_next) {
            unsigned acks = repl_acks(r, w->rw_seq);
            int status;

            if (acks >= w->rw_required)
                status = 0;
            else if (expire && now >= w->rw_deadline)
                status = CAIRN_ETIMEDOUT;
            else
                continue;
            unlink_wait(r, w);
            if (status == CAIRN_ETIMEDOUT)
                r->r_m.rm_durable_timeouts++;
            w->rw_cb(w, status, acks, w->rw_required);
            again = 1;
            break;
        }
    }
    arm(r);
}

static void on_wtimer(uv_timer_t *t)
{
    complete_ready(t->data, 1);
}

void repl__durable_check(repl_t *r)
{
    if (r->r_waits != NULL)
        complete_ready(r, 0);
}

void repl__durable_shutdown(repl_t *r)
{
    while (r->r_waits != NULL) {
        repl_wait_t *w = r->r_waits;
        unsigned acks = repl_acks(r, w->rw_seq);

        unlink_wait(r, w);
        w->rw_cb(w, CAIRN_ESHUTDOWN, acks, w->rw_required);
    }
}

/* See repl.h. An already met wait completes from the timer (0 ms), never
 * from inside this call. */
int repl_wait_durable(repl_t *r, repl_wait_t *w, uint64_t seq, unsigned required,
                      uint64_t timeout_ms, repl_durable_cb cb)
{
    if (r == NULL || w == NULL || cb == NULL || seq == 0 || required == 0 ||
        required > repl_nodes(r) || w->rw_active)
        return CAIRN_EINVAL;
    if (r->r_stopping)
        return CAIRN_ESHUTDOWN;
    w->rw_r = r;
    w->rw_seq = seq;
    w->rw_required = required;
    w->rw_cb = cb;
    w->rw_deadline = repl__now(r) + timeout_ms;
    w->rw_active = 1;
    w->rw_prev = NULL;
    w->rw_next = r->r_waits;
    if (r->r_waits != NULL)
        r->r_waits->rw_prev = w;
    r->r_waits = w;
    r->r_m.rm_durable_waits++;
    arm(r);
    return 0;
}

void repl_wait_cancel(repl_wait_t *w)
{
    repl_t *r;

    if (w == NULL || !w->rw_active)
        return;
    r = w->rw_r;
    unlink_wait(r, w);
    arm(r);
}
