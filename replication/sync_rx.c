/*
 * sync_rx.c -- the receiving side of log shipping, per link.
 *
 * Offers ("chg") of an origin are accepted only from the link this node
 * subscribed to for that origin, only in seq order, and applied one at a
 * time in arrival order (a FIFO per link; one store job in flight):
 *   - tombstone:   store_delete(REPLICA, identity) -> ack
 *   - meta put:    the version was superseded at the sender, so its bytes
 *     and "nb":    do not move ("nb": the sender has no good copy). If a
 *                  whole copy of that version, or a newer version, is held
 *                  here: store_log_skip -> ack; otherwise queue a fetch
 *                  (that version or newer, from any peer) and answer
 *                  "later". Skipping a superseded put while this node still
 *                  holds an OLDER version would move the cursor past it:
 *                  the origin would count this node as holding the write
 *                  (durability, read-after-write) while it serves the
 *                  older bytes.
 *   - blob:        store_put_begin(REPLICA, identity) -- the record points
 *                  at a fresh file in state `receiving` at once -> "want";
 *                  each "dat" -> store_put_write, then credit back;
 *                  "end" -> store_put_finish (hash checked, record + log +
 *                  cursor in one transaction) -> ack. A version that loses
 *                  or is already here (CAIRN_ESTALE / CAIRN_EEXIST at begin)
 *                  is logged with store_log_skip and answered "have": no
 *                  bytes move.
 *   - small blob   (its bytes came inside the offer, "d"): consecutive
 *     with bytes:  such offers at the head of the queue (up to
 *                  REPL_RX_BATCH) are applied by one job in ONE store
 *                  commit, in order (store_put_replica_batch: record
 *                  complete + inline bytes + log entry + cursor; a version
 *                  that loses or is already here is logged as skipped in
 *                  the same transaction). The batch stops at the first
 *                  change that fails: nothing after it is committed, so
 *                  the cursor never passes a change not applied. Where
 *                  inline blobs are off here, the job writes the bytes
 *                  through store_put_begin/write/finish instead. One ack
 *                  per origin (its highest seq) answers the batch; the
 *                  bytes are credited back when the offer leaves the queue.
 * Whatever cannot be applied now (a live writer on that version, disk
 * errors, hash mismatch, a version too far ahead of the clock) is answered
 * "later": the cursor did not move, the queued offers of that origin are
 * dropped and the sender re-offers from that seq after a delay. An "abort"
 * from the sender, or the session ending, abandons the writer: the record
 * stays `receiving` (the store reports it for repair) until a copy arrives.
 *
 * Every "dat" frame accepted gets exactly one credit back: when written,
 * when its write failed, or when it is discarded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "replication/sync_int.h"

typedef enum { RJ_DELETE = 1, RJ_NB, RJ_BEGIN, RJ_WRITE, RJ_FINISH, RJ_ABORT, RJ_INLINE } rjkind_t;

/* One small blob of an RJ_INLINE job: copies, the queue may be freed
 * while the job runs. */
typedef struct rxinl {
    store_change_t xi_c;
    int xi_oi;
    uint8_t *xi_data; /* xi_c.sc_rec.st_size bytes, owned */
    int xi_skipped;   /* logged as skipped (lost, or already here) */
} rxinl_t;

typedef struct rxjob {
    rjob_t rj_job;
    psync_t *rj_p;
    rjkind_t rj_kind;
    uint64_t rj_session;
    int rj_oi;
    store_change_t rj_c; /* copy: the queue may be freed while the job runs */
    store_writer_t *rj_w;
    rxchunk_t *rj_chunk; /* RJ_WRITE: owned by the job */
    int rj_rc;
    int rj_skipped;  /* the change was logged with store_log_skip */
    int rj_fetch;    /* RJ_NB: no whole copy here, fetch one */
    int rj_sender;   /* RJ_ABORT: the sender aborted the head item */
    rxinl_t *rj_inl; /* RJ_INLINE: rj_ninl changes, in queue order */
    size_t rj_ninl;
    size_t rj_done; /* RJ_INLINE: leading changes committed (applied or skipped) */
} rxjob_t;

/* ------------------------------------------------------------ queue */

void repl__rx_credit(psync_t *p, uint64_t n)
{
    if (!p->p_up || n == 0)
        return;
    p->p_rx_credit_owed += n;
    repl__rx_credit_flush(p);
}

void repl__rx_credit_flush(psync_t *p)
{
    if (!p->p_up || p->p_rx_credit_owed == 0)
        return;
    if (repl_link_send_credit(p->p_link, p->p_rx_credit_owed) == 0)
        p->p_rx_credit_owed = 0;
}

static void chunk_free_credit(psync_t *p, rxchunk_t *ch, int credit)
{
    if (credit)
        repl__rx_credit(p, ch->rc_len);
    free(ch);
}

/* Frees an item; its queued chunks, and the bytes that came with its
 * offer, are credited back when credit is set. */
static void item_free(psync_t *p, rxitem_t *it, int credit)
{
    rxchunk_t *ch = it->ri_chunks;

    while (ch != NULL) {
        rxchunk_t *next = ch->rc_next;

        chunk_free_credit(p, ch, credit);
        ch = next;
    }
    if (it->ri_inl) {
        p->p_rxq_inl_bytes -= it->ri_c.sc_rec.st_size;
        if (credit)
            repl__rx_credit(p, it->ri_c.sc_rec.st_size);
    }
    free(it->ri_data);
    free(it);
}

/* Removes the head item (applied, skipped or given up). */
static void pop_head(psync_t *p)
{
    rxitem_t *it = p->p_rxq;
    rorigin_t *o = &p->p_r->r_orig[it->ri_oi];

    p->p_rxq = it->ri_next;
    if (p->p_rxq == NULL)
        p->p_rxq_tail = NULL;
    p->p_rxq_n--;
    if (o->or_src == p && o->or_rx_items > 0)
        o->or_rx_items--;
    item_free(p, it, 1);
}

/* The head item was applied (or skipped, logged as such): counted and
 * removed. */
static void head_applied(psync_t *p, int skipped)
{
    repl_metrics_t *m = &p->p_r->r_m;

    m->rm_changes_applied++;
    if (skipped)
        m->rm_changes_skipped++;
    p->p_changes_applied++;
    pop_head(p);
}

/* Drops every queued item of origin index oi (credits returned). */
static void drop_origin(psync_t *p, int oi)
{
    rxitem_t **pp = &p->p_rxq;
    rorigin_t *o = &p->p_r->r_orig[oi];

    p->p_rxq_tail = NULL;
    while (*pp != NULL) {
        rxitem_t *it = *pp;

        if (it->ri_oi == oi) {
            *pp = it->ri_next;
            p->p_rxq_n--;
            if (o->or_src == p && o->or_rx_items > 0)
                o->or_rx_items--;
            item_free(p, it, 1);
        } else {
            p->p_rxq_tail = it;
            pp = &it->ri_next;
        }
    }
}

/* "later": the cursor did not move; the sender re-offers from s. */
static void answer_later(psync_t *p, int oi, uint64_t s)
{
    rorigin_t *o = &p->p_r->r_orig[oi];

    drop_origin(p, oi);
    if (o->or_src == p)
        o->or_expect = s;
    repl__send_os(p, "later", o->or_id, s);
}

/*
 * The change (o, s) is committed here: the cursor moved. The source link
 * gets the ack (or "have" for a blob offer skipped), and the origin's own
 * link too when that is another, so its durability waits see it without
 * waiting for the next heads.
 */
static void committed(psync_t *p, int oi, uint64_t s, const char *answer)
{
    repl_t *r = p->p_r;
    rorigin_t *o = &r->r_orig[oi];
    repl_link_t *ol;
    int rc;

    repl__cursor_advanced(r, oi, s);
    rc = FAILPOINT("repl.ack.before_send");
    if (rc < 0)
        return; /* the ack is lost: the sender learns from heads */
    repl__send_os(p, answer, o->or_id, s);
    ol = repl_peers_link(r->r_ps, o->or_id);
    if (ol != NULL && repl__psync(ol) != p && repl__psync(ol)->p_up)
        repl__send_os(repl__psync(ol), "ack", o->or_id, s);
}

/* ------------------------------------------------------------- jobs */

/*
 * 1 when the record cur stands for version v or a newer one here: a newer
 * version in any state (a newer `receiving` record is served by following
 * its writer or by repair, never by older bytes), or v itself complete or
 * deleted. A change of version v may then be skipped without its bytes.
 */
static int holds_at_least(const store_stat_t *cur, const store_version_t *v)
{
    int cmp = store_version_cmp(&cur->st_version, v);

    return cmp > 0 || (cmp == 0 && cur->st_state != STORE_RECEIVING);
}

/*
 * A finish that reports CAIRN_ESTALE says "the record no longer names this
 * delivery". That may be skipped and acked only when this node durably holds
 * the delivered version or a newer one; anything else (an older record, the
 * same version still arriving through another writer, no record) must not
 * be acked: CAIRN_ECHANGED makes the sender re-offer the change later.
 * Returns CAIRN_ESTALE when skipping is right.
 */
static int held_here(store_t *s, const store_change_t *c)
{
    store_stat_t cur;
    int rc = store_stat(s, c->sc_rec.st_key, c->sc_rec.st_klen, 1, &cur);

    if (rc < 0)
        return rc == CAIRN_ENOTFOUND ? CAIRN_ECHANGED : rc;
    if (holds_at_least(&cur, &c->sc_rec.st_version))
        return CAIRN_ESTALE;
    LOG_WARN("repl.recv.not_superseded",
             "origin=%u seq=%" PRIu64
             " key_len=%zu msg=\"finish lost to a record that is not newer; "
             "re-offer\"",
             c->sc_origin, c->sc_seq, c->sc_rec.st_klen);
    return CAIRN_ECHANGED;
}

static int is_skip_case(int rc)
{
    return rc == CAIRN_ESTALE || rc == CAIRN_EEXIST;
}

/*
 * Pool thread. A small blob whose bytes are at hand, where this store
 * keeps no inline blobs: begin, write, finish as for a streamed blob (two
 * commits), with the same skip rules. 0 (applied or skipped) or an error
 * (nothing committed for it).
 */
static int put_whole_file(store_t *s, rxinl_t *x)
{
    const store_stat_t *c = &x->xi_c.sc_rec;
    store_writer_t *w = NULL;
    store_put_opts_t po;
    int rc;

    repl__replica_opts(&po, c, x->xi_c.sc_origin, x->xi_c.sc_seq);
    rc = store_put_begin(s, c->st_key, c->st_klen, &po, &w);
    if (is_skip_case(rc)) {
        x->xi_skipped = 1;
        return store_log_skip(s, &x->xi_c);
    }
    if (rc < 0)
        return rc;
    rc = store_put_write(w, x->xi_data, (size_t)c->st_size);
    if (rc < 0) {
        store_put_abort(w);
        return rc;
    }
    rc = store_put_finish(w, NULL);
    if (rc == CAIRN_ESTALE)
        rc = held_here(s, &x->xi_c);
    if (rc == CAIRN_ESTALE) {
        x->xi_skipped = 1;
        rc = store_log_skip(s, &x->xi_c);
    }
    return rc;
}

/*
 * Pool thread. Applies the job's small blobs in order, as many as possible
 * per commit (store_put_replica_batch, losing / duplicate versions logged
 * as skipped in the same transaction); one that cannot be inline here
 * (CAIRN_ETOOBIG) goes through put_whole_file. Stops at the first failure:
 * rj_done counts the changes committed before it, the return is its error.
 */
static int apply_inline(store_t *s, rxjob_t *rj)
{
    store_replica_put_t *v;
    size_t i = 0, n = rj->rj_ninl;
    int rc;

    rj->rj_done = 0;
    rc = FAILPOINT("repl.recv.before_commit");
    if (rc < 0)
        return rc;
    v = calloc(n, sizeof(*v));
    if (v == NULL)
        return CAIRN_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        const store_change_t *c = &rj->rj_inl[k].xi_c;

        v[k].rp_key = c->sc_rec.st_key;
        v[k].rp_klen = c->sc_rec.st_klen;
        v[k].rp_version = c->sc_rec.st_version;
        v[k].rp_hash = c->sc_rec.st_hash;
        v[k].rp_ctype = c->sc_rec.st_ctype[0] != '\0' ? c->sc_rec.st_ctype : NULL;
        v[k].rp_data = rj->rj_inl[k].xi_data;
        v[k].rp_len = (size_t)c->sc_rec.st_size;
        v[k].rp_log_origin = c->sc_origin;
        v[k].rp_log_seq = c->sc_seq;
    }
    while (i < n) {
        size_t done = 0;

        rc = store_put_replica_batch(s, v + i, n - i, 1, &done);
        for (size_t k = i; k < i + done; k++)
            rj->rj_inl[k].xi_skipped = v[k].rp_rc < 0;
        i += done;
        if (rc == CAIRN_ETOOBIG && i < n) {
            rc = put_whole_file(s, &rj->rj_inl[i]);
            if (rc < 0)
                break;
            i++;
            continue;
        }
        break;
    }
    rj->rj_done = i;
    free(v);
    return i == n ? 0 : rc;
}

static void rx_job_run(rjob_t *j)
{
    rxjob_t *rj = (rxjob_t *)j;
    store_t *s = j->j_r->r_store;
    const store_stat_t *c = &rj->rj_c.sc_rec;
    store_put_opts_t po;
    store_del_opts_t dopt;
    store_stat_t cur;
    int rc = 0;

    switch (rj->rj_kind) {
    case RJ_DELETE:
        memset(&dopt, 0, sizeof(dopt));
        dopt.do_mode = STORE_PUT_REPLICA;
        dopt.do_version = c->st_version;
        dopt.do_log_origin = rj->rj_c.sc_origin;
        dopt.do_log_seq = rj->rj_c.sc_seq;
        rc = store_delete_ex(s, c->st_key, c->st_klen, &dopt, NULL);
        if (is_skip_case(rc)) {
            rj->rj_skipped = 1;
            rc = store_log_skip(s, &rj->rj_c);
        }
        break;
    case RJ_NB:
        rc = store_stat(s, c->st_key, c->st_klen, 1, &cur);
        if (rc == 0 && holds_at_least(&cur, &c->st_version)) {
            rj->rj_skipped = 1;
            rc = store_log_skip(s, &rj->rj_c);
        } else if (rc == 0 || rc == CAIRN_ENOTFOUND) {
            rj->rj_fetch = 1;
            rc = 0;
        }
        break;
    case RJ_BEGIN:
        repl__replica_opts(&po, c, rj->rj_c.sc_origin, rj->rj_c.sc_seq);
        rc = store_put_begin(s, c->st_key, c->st_klen, &po, &rj->rj_w);
        if (is_skip_case(rc)) {
            rj->rj_skipped = 1;
            rc = store_log_skip(s, &rj->rj_c);
        }
        break;
    case RJ_WRITE:
        rc = store_put_write(rj->rj_w, rj->rj_chunk->rc_data, rj->rj_chunk->rc_len);
        if (rc == 0)
            rc = FAILPOINT("repl.recv.chunk");
        break;
    case RJ_FINISH:
        rc = FAILPOINT("repl.recv.before_commit");
        if (rc < 0) {
            store_put_abort(rj->rj_w);
        } else {
            rc = store_put_finish(rj->rj_w, NULL);
            if (rc == CAIRN_ESTALE)
                rc = held_here(s, &rj->rj_c);
            if (rc == CAIRN_ESTALE) {
                rj->rj_skipped = 1;
                rc = store_log_skip(s, &rj->rj_c);
            }
        }
        rj->rj_w = NULL;
        break;
    case RJ_ABORT:
        store_put_abort(rj->rj_w);
        rj->rj_w = NULL;
        break;
    case RJ_INLINE:
        rc = apply_inline(s, rj);
        break;
    }
    rj->rj_rc = rc;
}

static void log_later(psync_t *p, const rxjob_t *rj, const char *what)
{
    LOG_WARN("repl.recv.later", "peer=%u origin=%u seq=%" PRIu64 " step=%s err=%s",
             (unsigned)p->p_id, (unsigned)rj->rj_c.sc_origin, rj->rj_c.sc_seq, what,
             cairn_errname(rj->rj_rc));
}

/* Outcome of a job on the head item (session still current). */
static void head_done(psync_t *p, rxjob_t *rj)
{
    repl_t *r = p->p_r;
    rxitem_t *it = p->p_rxq;
    int oi = rj->rj_oi;
    uint64_t s = rj->rj_c.sc_seq;

    switch (rj->rj_kind) {
    case RJ_DELETE:
    case RJ_NB:
        if (rj->rj_rc < 0) {
            log_later(p, rj, "meta");
            answer_later(p, oi, s);
            return;
        }
        if (rj->rj_fetch) {
            /* Wait here for the key's fetch (the rest of this origin's
             * queue keeps its place); only after REPL_NB_FETCHES tries or
             * REPL_NB_WAIT_MS does the sender re-offer it later. */
            if (it->ri_fetches >= REPL_NB_FETCHES) {
                answer_later(p, oi, s);
                return;
            }
            it->ri_fetches++;
            it->ri_state = RI_FETCH;
            it->ri_fetch_until = repl__now(r) + REPL_NB_WAIT_MS;
            repl__fetch_queue(r, rj->rj_c.sc_rec.st_key, rj->rj_c.sc_rec.st_klen,
                              &rj->rj_c.sc_rec.st_version);
            repl__fetch_pump(r);
            return;
        }
        head_applied(p, rj->rj_skipped);
        committed(p, oi, s, "ack");
        return;
    case RJ_BEGIN:
        if (rj->rj_rc == 0 && rj->rj_w != NULL) {
            p->p_rx_w = rj->rj_w;
            p->p_rx_progress_ms = repl__now(r);
            it->ri_state = RI_RECV;
            repl__send_os(p, "want", rj->rj_c.sc_origin, s);
            return;
        }
        if (rj->rj_rc == 0 && rj->rj_skipped) {
            head_applied(p, 1);
            committed(p, oi, s, "have");
            return;
        }
        if (rj->rj_rc != CAIRN_EBUSY)
            log_later(p, rj, "begin");
        answer_later(p, oi, s);
        return;
    case RJ_WRITE:
        if (rj->rj_rc == 0) {
            it->ri_written += rj->rj_chunk->rc_len;
            return;
        }
        log_later(p, rj, "write");
        it->ri_aborted = RI_ABORT_LOCAL; /* the pump aborts the writer, then answers later */
        return;
    case RJ_FINISH:
        p->p_rx_w = NULL;
        if (rj->rj_rc == 0) {
            head_applied(p, rj->rj_skipped);
            committed(p, oi, s, "ack");
            return;
        }
        log_later(p, rj, "finish");
        answer_later(p, oi, s);
        return;
    case RJ_INLINE: /* inline_done */
        return;
    case RJ_ABORT:
        p->p_rx_w = NULL;
        if (rj->rj_sender) {
            /* The sender rewound to s itself and re-offers it. */
            drop_origin(p, oi);
            if (r->r_orig[oi].or_src == p)
                r->r_orig[oi].or_expect = s;
        } else {
            answer_later(p, oi, s);
        }
        return;
    }
}

/*
 * Outcome of an RJ_INLINE job (session still current): the changes
 * committed leave the queue (their bytes credited back) and each origin
 * gets one ack for its highest seq; the first change that failed is
 * answered "later" (dropping what is queued after it of its origin; other
 * origins' offers stay queued and are applied next). Only items still at
 * the head, in the job's order, are touched.
 */
static void inline_done(psync_t *p, rxjob_t *rj)
{
    int acked_oi[REPL_RX_BATCH];
    uint64_t acked_seq[REPL_RX_BATCH];
    size_t nacked = 0, k;

    for (k = 0; k < rj->rj_done; k++) {
        const rxinl_t *x = &rj->rj_inl[k];
        rxitem_t *it = p->p_rxq;
        size_t a;

        if (it == NULL || it->ri_oi != x->xi_oi || it->ri_c.sc_seq != x->xi_c.sc_seq)
            break;
        head_applied(p, x->xi_skipped);
        for (a = 0; a < nacked && acked_oi[a] != x->xi_oi; a++)
            ;
        if (a == nacked) {
            acked_oi[a] = x->xi_oi;
            nacked++;
        }
        acked_seq[a] = x->xi_c.sc_seq;
    }
    for (size_t a = 0; a < nacked; a++)
        committed(p, acked_oi[a], acked_seq[a], "ack");
    if (k == rj->rj_done && k < rj->rj_ninl && p->p_rxq != NULL &&
        p->p_rxq->ri_oi == rj->rj_inl[k].xi_oi &&
        p->p_rxq->ri_c.sc_seq == rj->rj_inl[k].xi_c.sc_seq) {
        rj->rj_c = rj->rj_inl[k].xi_c;
        if (rj->rj_rc != CAIRN_EBUSY)
            log_later(p, rj, "inline");
        answer_later(p, rj->rj_inl[k].xi_oi, rj->rj_inl[k].xi_c.sc_seq);
    }
}

static void rx_job_done(rjob_t *j)
{
    rxjob_t *rj = (rxjob_t *)j;
    psync_t *p = rj->rj_p;
    int current = p->p_up && p->p_session == rj->rj_session && p->p_rxq != NULL &&
                  p->p_rxq->ri_oi == rj->rj_oi && p->p_rxq->ri_c.sc_seq == rj->rj_c.sc_seq;

    p->p_rx_busy = 0;
    if (rj->rj_kind == RJ_INLINE) {
        if (p->p_up && p->p_session == rj->rj_session)
            inline_done(p, rj);
    } else if (current) {
        head_done(p, rj);
    } else {
        /* The session or the item went away meanwhile: keep only what must
         * be released (a writer created by begin). */
        if (rj->rj_kind == RJ_BEGIN && rj->rj_w != NULL)
            p->p_rx_w = rj->rj_w;
        if (rj->rj_kind == RJ_FINISH || rj->rj_kind == RJ_ABORT)
            p->p_rx_w = NULL;
    }
    if (rj->rj_kind == RJ_WRITE) /* durable (or failed): the sender may send more */
        chunk_free_credit(p, rj->rj_chunk, p->p_up && p->p_session == rj->rj_session);
    for (size_t k = 0; k < rj->rj_ninl; k++)
        free(rj->rj_inl[k].xi_data);
    free(rj->rj_inl);
    free(rj);
    repl__rx_pump(p);
}

static void submit(psync_t *p, rjkind_t kind, rxitem_t *it)
{
    rxjob_t *rj = calloc(1, sizeof(*rj));

    if (rj == NULL) {
        LOG_ERROR("repl.recv.nomem", "peer=%u", (unsigned)p->p_id);
        return; /* retried at the next tick */
    }
    rj->rj_p = p;
    rj->rj_kind = kind;
    rj->rj_session = p->p_session;
    rj->rj_w = p->p_rx_w;
    if (it != NULL) {
        rj->rj_oi = it->ri_oi;
        rj->rj_c = it->ri_c;
    }
    if (kind == RJ_ABORT && it != NULL)
        rj->rj_sender = it->ri_aborted == RI_ABORT_SENDER;
    if (kind == RJ_WRITE) {
        rj->rj_chunk = it->ri_chunks;
        it->ri_chunks = rj->rj_chunk->rc_next;
        if (it->ri_chunks == NULL)
            it->ri_chunks_tail = NULL;
        it->ri_qbytes -= rj->rj_chunk->rc_len;
    }
    p->p_rx_busy = 1;
    repl__job_submit(p->p_r, &rj->rj_job, rx_job_run, rx_job_done);
}

/* A change whose version is too far ahead of the wall clock is not applied
 * (it would drag this node's clock along); retried later. */
static int refuse_version(psync_t *p, rxitem_t *it)
{
    repl_t *r = p->p_r;

    if (!repl__version_too_new(r, &it->ri_c.sc_rec.st_version))
        return 0;
    r->r_m.rm_versions_refused++;
    LOG_WARN("repl.recv.version_ahead",
             "peer=%u origin=%u seq=%" PRIu64 " version=%" PRIu64 ".%u max_skew_ms=%" PRIu64,
             (unsigned)p->p_id, (unsigned)it->ri_c.sc_origin, it->ri_c.sc_seq,
             it->ri_c.sc_rec.st_version.sv_hlc, (unsigned)it->ri_c.sc_rec.st_version.sv_origin,
             r->r_tun.st_max_skew_ms);
    answer_later(p, it->ri_oi, it->ri_c.sc_seq);
    return 1;
}

/*
 * Submits one RJ_INLINE job for the run of small blobs (bytes with the
 * offer, not yet applied) at the head of the queue: up to REPL_RX_BATCH,
 * stopping before any other kind of offer and before a version too far
 * ahead (the head itself was checked by the caller). Copies what the job
 * needs. On allocation failure nothing is submitted (the next tick
 * retries).
 */
static void submit_inline(psync_t *p)
{
    rxjob_t *rj = calloc(1, sizeof(*rj));
    rxitem_t *it;
    size_t n = 0;

    if (rj != NULL)
        rj->rj_inl = calloc(REPL_RX_BATCH, sizeof(*rj->rj_inl));
    if (rj == NULL || rj->rj_inl == NULL) {
        LOG_ERROR("repl.recv.nomem", "peer=%u", (unsigned)p->p_id);
        free(rj);
        return;
    }
    for (it = p->p_rxq; it != NULL && n < REPL_RX_BATCH; it = it->ri_next) {
        rxinl_t *x = &rj->rj_inl[n];
        size_t len = (size_t)it->ri_c.sc_rec.st_size;

        if (it->ri_state != RI_NEW || !it->ri_inl ||
            (n > 0 && repl__version_too_new(p->p_r, &it->ri_c.sc_rec.st_version)))
            break;
        x->xi_data = malloc(len > 0 ? len : 1);
        if (x->xi_data == NULL)
            break;
        memcpy(x->xi_data, it->ri_data, len);
        x->xi_c = it->ri_c;
        x->xi_oi = it->ri_oi;
        n++;
    }
    if (n == 0) {
        free(rj->rj_inl);
        free(rj);
        return;
    }
    rj->rj_p = p;
    rj->rj_kind = RJ_INLINE;
    rj->rj_session = p->p_session;
    rj->rj_oi = rj->rj_inl[0].xi_oi;
    rj->rj_c = rj->rj_inl[0].xi_c;
    rj->rj_ninl = n;
    p->p_rx_busy = 1;
    repl__job_submit(p->p_r, &rj->rj_job, rx_job_run, rx_job_done);
}

/* See sync_int.h. Idempotent; at most one job. */
void repl__rx_pump(psync_t *p)
{
    rxitem_t *it;

    while (!p->p_rx_busy) {
        it = p->p_rxq;
        if (p->p_rx_w != NULL && (!p->p_up || it == NULL || it->ri_state != RI_RECV)) {
            submit(p, RJ_ABORT, NULL);
            return;
        }
        if (!p->p_up || p->p_r->r_stopping || it == NULL)
            return;
        if (it->ri_state == RI_NEW) {
            if (it->ri_c.sc_rec.st_state == STORE_TOMBSTONE) {
                if (refuse_version(p, it))
                    continue;
                submit(p, RJ_DELETE, it);
            } else if (it->ri_meta || it->ri_nb) {
                submit(p, RJ_NB, it);
            } else if (it->ri_inl) {
                if (refuse_version(p, it))
                    continue;
                submit_inline(p);
            } else {
                if (refuse_version(p, it))
                    continue;
                submit(p, RJ_BEGIN, it);
            }
            return;
        }
        if (it->ri_aborted) {
            submit(p, RJ_ABORT, it);
            return;
        }
        if (it->ri_chunks != NULL) {
            submit(p, RJ_WRITE, it);
            return;
        }
        if (it->ri_ended)
            submit(p, RJ_FINISH, it);
        return;
    }
}

/* ------------------------------------------------------------ frames */

/* An offer not queued: the bytes it carried (if any) are credited back at
 * once. Returns 0. */
static int discard(psync_t *p, size_t n)
{
    repl__rx_credit(p, n);
    return 0;
}

static int on_chg(psync_t *p, const msgpack_object *msg)
{
    repl_t *r = p->p_r;
    repl_link_stats_t ls;
    store_change_t c;
    rorigin_t *o;
    rxitem_t *it;
    const uint8_t *d = NULL;
    size_t dn = 0;
    int meta, nb, inl, oi, rc;

    rc = repl__parse_change(msg, &c);
    if (rc == 0)
        rc = repl__parse_flag(msg, "meta", &meta);
    if (rc == 0)
        rc = repl__parse_flag(msg, "nb", &nb);
    if (rc == 0)
        rc = repl__parse_inline(msg, &c, meta || nb, &d, &dn, &inl);
    if (rc < 0)
        return rc;
    oi = repl__origin(r, c.sc_origin);
    if (oi < 0 || oi == r->r_self_oi)
        return discard(p, dn);
    o = &r->r_orig[oi];
    if (o->or_src != p)
        return discard(p, dn); /* not subscribed here (any more): stale */
    if (o->or_expect == 0) {
        if (c.sc_seq <= o->or_sub_from)
            return discard(p, dn);
        if (c.sc_seq != o->or_sub_from + 1 && !o->or_gap_warned) {
            o->or_gap_warned = 1;
            LOG_WARN("repl.recv.gap",
                     "peer=%u origin=%u cursor=%" PRIu64 " first=%" PRIu64
                     " note=\"the source trimmed entries this node never received\"",
                     (unsigned)p->p_id, (unsigned)c.sc_origin, o->or_sub_from, c.sc_seq);
        }
    } else if (c.sc_seq != o->or_expect) {
        return discard(p, dn); /* in flight before a "later" / "abort": re-offered */
    }
    if (p->p_rxq_n >= REPL_RXQ_MAX)
        return CAIRN_EPROTO; /* the sender ignores the offer window */
    if (inl) {
        repl_link_get_stats(p->p_link, &ls);
        if (p->p_rxq_inl_bytes + dn > ls.ls_window + REPL_INL_MAX)
            return CAIRN_EPROTO; /* the sender ignores the flow-control window */
    }
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        return CAIRN_ENOMEM;
    if (inl) {
        it->ri_data = malloc(dn > 0 ? dn : 1);
        if (it->ri_data == NULL) {
            free(it);
            return CAIRN_ENOMEM;
        }
        memcpy(it->ri_data, d, dn);
        it->ri_inl = 1;
        p->p_rxq_inl_bytes += dn;
        r->r_m.rm_blob_bytes_received += dn;
    }
    it->ri_c = c;
    it->ri_oi = oi;
    it->ri_meta = meta;
    it->ri_nb = nb;
    if (p->p_rxq_tail != NULL)
        p->p_rxq_tail->ri_next = it;
    else
        p->p_rxq = it;
    p->p_rxq_tail = it;
    p->p_rxq_n++;
    o->or_expect = c.sc_seq + 1;
    o->or_rx_items++;
    repl__rx_pump(p);
    return 0;
}

/* The head item, when it is the blob (o, s) being received. */
static rxitem_t *receiving(psync_t *p, uint16_t o, uint64_t s)
{
    rxitem_t *it = p->p_rxq;

    if (it == NULL || it->ri_state != RI_RECV || it->ri_c.sc_origin != o || it->ri_c.sc_seq != s ||
        it->ri_aborted || it->ri_ended)
        return NULL;
    return it;
}

static int on_dat(psync_t *p, const msgpack_object *msg)
{
    repl_link_stats_t ls;
    rxitem_t *it;
    const uint8_t *d;
    uint64_t s, off;
    uint16_t o;
    size_t n;
    int rc;

    rc = repl__parse_os(msg, &o, &s);
    if (rc == 0)
        rc = repl__parse_data(msg, &off, &d, &n);
    if (rc < 0)
        return rc;
    it = receiving(p, o, s);
    if (it == NULL) {
        repl__rx_credit(p, n); /* stale: discarded */
        return 0;
    }
    repl_link_get_stats(p->p_link, &ls);
    if (off != it->ri_qoff || n > it->ri_c.sc_rec.st_size - off ||
        it->ri_qbytes + n > ls.ls_window + REPL_DAT_MAX)
        return CAIRN_EPROTO;
    rc = repl__chunk_append(&it->ri_chunks, &it->ri_chunks_tail, off, d, n);
    if (rc < 0)
        return rc;
    it->ri_qbytes += n;
    it->ri_qoff += n;
    p->p_rx_progress_ms = repl__now(p->p_r);
    p->p_r->r_m.rm_blob_bytes_received += n;
    repl__rx_pump(p);
    return 0;
}

/* end / abort for the blob being received. */
static int on_end(psync_t *p, const char *type, const msgpack_object *msg)
{
    rxitem_t *it;
    uint64_t s;
    uint16_t o;
    int rc;

    rc = repl__parse_os(msg, &o, &s);
    if (rc < 0)
        return rc;
    it = receiving(p, o, s);
    if (it == NULL)
        return 0;
    if (strcmp(type, "end") == 0) {
        if (it->ri_qoff != it->ri_c.sc_rec.st_size)
            return CAIRN_EPROTO;
        it->ri_ended = 1;
    } else {
        LOG_WARN("repl.recv.aborted",
                 "peer=%u origin=%u seq=%" PRIu64
                 " note=\"the sender's copy failed its hash; fetching elsewhere\"",
                 (unsigned)p->p_id, (unsigned)o, s);
        it->ri_aborted = RI_ABORT_SENDER;
    }
    repl__rx_pump(p);
    return 0;
}

int repl__rx_on_frame(psync_t *p, const char *type, const msgpack_object *msg)
{
    if (strcmp(type, "chg") == 0)
        return on_chg(p, msg);
    if (strcmp(type, "dat") == 0)
        return on_dat(p, msg);
    return on_end(p, type, msg);
}

/* --------------------------------------------------------- session */

void repl__rx_on_down(psync_t *p)
{
    rxitem_t *it = p->p_rxq;

    while (it != NULL) {
        rxitem_t *next = it->ri_next;

        item_free(p, it, 0);
        it = next;
    }
    p->p_rxq = p->p_rxq_tail = NULL;
    p->p_rxq_n = 0;
    p->p_rxq_inl_bytes = 0;
    p->p_rx_credit_owed = 0; /* the window starts again with the next session */
    repl__rx_pump(p);        /* abandons a writer */
}

int repl__rx_origin_idle(psync_t *p, int oi)
{
    return p->p_r->r_orig[oi].or_rx_items == 0;
}

/* The blob being received got no byte (nor end) for REPL_STALL_MS while
 * nothing here was holding it up: reset the session (see the sender's). */
void repl__rx_fetch_settled(repl_t *r, const char *key, size_t klen)
{
    for (size_t i = 0; i < r->r_npeers; i++) {
        psync_t *p = &r->r_peers[i];
        rxitem_t *it = p->p_rxq;

        if (!p->p_up || it == NULL || it->ri_state != RI_FETCH || it->ri_c.sc_rec.st_klen != klen ||
            memcmp(it->ri_c.sc_rec.st_key, key, klen) != 0)
            continue;
        it->ri_state = RI_NEW;
        repl__rx_pump(p);
    }
}

void repl__rx_watchdog(psync_t *p, uint64_t now)
{
    rxitem_t *it = p->p_rxq;

    if (p->p_up && it != NULL && it->ri_state == RI_FETCH && now >= it->ri_fetch_until) {
        answer_later(p, it->ri_oi, it->ri_c.sc_seq); /* the fetch did not settle in time */
        repl__rx_pump(p);
        return;
    }

    repl__rx_credit_flush(p);

    if (!p->p_up || it == NULL || it->ri_state != RI_RECV || it->ri_ended || it->ri_aborted ||
        it->ri_chunks != NULL || p->p_rx_busy || now - p->p_rx_progress_ms < REPL_STALL_MS)
        return;
    LOG_WARN("repl.sync.stalled",
             "peer=%u side=receive origin=%u seq=%" PRIu64 " received=%" PRIu64 " size=%" PRIu64,
             (unsigned)p->p_id, (unsigned)it->ri_c.sc_origin, it->ri_c.sc_seq, it->ri_qoff,
             it->ri_c.sc_rec.st_size);
    repl_link_disconnect(p->p_link, CAIRN_ETIMEDOUT);
}
