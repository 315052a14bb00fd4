/*
 * sync_tx.c -- the sending side of log shipping, per link.
 *
 * The peer subscribes per origin ({"t":"sub","o":O,"from":cursor}); for
 * each subscription this side reads its log from `from`+1 in seq order and
 * offers every entry ({"t":"chg",...}):
 *   - metadata only ("meta":1) for tombstones, superseded markers and puts
 *     whose version is no longer the current record here: no bytes;
 *   - "nb":1 ("no bytes here") for a version whose local copy is known
 *     damaged: the receiver fetches it elsewhere;
 *   - a small blob (at most REPL_INL_MAX bytes) goes with its bytes inside
 *     the offer ("d"): the log-read job read it whole and verified its
 *     hash; the offer is credit-bearing (flow-control window) and answered
 *     like a metadata offer (ack / later), with no "want" round trip;
 *   - otherwise a blob offer: the local copy is opened first (pinning the
 *     file), then the receiver answers "want" (stream "dat" frames, hashed
 *     while read, then "end" -- or "abort" when the hash does not match),
 *     "have" (skip the bytes) or "later" (retry after a delay).
 * Up to REPL_OFFER_WINDOW offers may be unanswered; at most one of them is
 * a streamed blob. A version still arriving here (`receiving`) pauses the origin on
 * this link. The receiver applies each origin's offers in order and
 * answers each with ack / have / later.
 *
 * Jobs: one blob-source job (open, chunk read, close) and one log-read job
 * may be in flight per link; both outlive sessions and their completions
 * check that what they worked for is still wanted.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/sync_int.h"

typedef enum { TJ_READ = 1, TJ_OPEN, TJ_CHUNK, TJ_CLOSE } tjkind_t;

typedef struct txjob {
    rjob_t tj_job;
    psync_t *tj_p;
    tjkind_t tj_kind;
    uint64_t tj_session;
    int tj_rc;
    int tj_oi;
    /* TJ_OPEN / TJ_CHUNK / TJ_CLOSE */
    bsrc_t *tj_src;
    uint64_t tj_seq;
    store_change_t tj_c;
    size_t tj_chunk;
    int tj_fp;      /* TJ_CHUNK: a chunk was just sent, evaluate repl.send.chunk first */
    int tj_fp_rc;   /* ... what it returned */
    int tj_readnow; /* TJ_CHUNK: the next chunk was read (0 at the end of the blob) */
    /* TJ_READ */
    uint16_t tj_origin;
    uint64_t tj_after;
    uint64_t tj_gen;
    int tj_hold; /* stopped at an entry whose version is still arriving here */
    size_t tj_n;
    txent_t *tj_ents; /* REPL_TXBUF of them, read jobs only */
} txjob_t;

/* ------------------------------------------------------------ offers */

/* Drops the offers of origin `origin` with seq <= upto; returns how many. */
static unsigned retire(psync_t *p, uint16_t origin, uint64_t upto)
{
    unsigned kept = 0, gone = 0;

    for (unsigned i = 0; i < p->p_noffers; i++) {
        if (p->p_offers[i].to_origin == origin && p->p_offers[i].to_seq <= upto)
            gone++;
        else
            p->p_offers[kept++] = p->p_offers[i];
    }
    p->p_noffers = kept;
    return gone;
}

static void add_offer(psync_t *p, uint16_t origin, uint64_t seq)
{
    if (p->p_noffers == 0)
        p->p_tx_progress_ms = repl__now(p->p_r);
    p->p_offers[p->p_noffers].to_origin = origin;
    p->p_offers[p->p_noffers].to_seq = seq;
    p->p_noffers++;
}

/* The blob slot goes back to idle; the pump closes the source. */
static void blob_reset(psync_t *p)
{
    p->p_tb = TB_NONE;
    p->p_tx_chunk = 0;
}

/* Releases the bytes an entry may own (TE_INLINE). */
static void ent_release(txent_t *e)
{
    free(e->te_data);
    e->te_data = NULL;
}

/* Drops the head entry of the ring. */
static void sub_pop(txsub_t *ts)
{
    ent_release(&ts->ts_buf[ts->ts_head]);
    ts->ts_head = (ts->ts_head + 1) % REPL_TXBUF;
    ts->ts_n--;
}

/* Frees a subscription and the bytes its entries own. Safe on NULL. */
static void sub_free(txsub_t *ts)
{
    if (ts == NULL)
        return;
    while (ts->ts_n > 0)
        sub_pop(ts);
    free(ts);
}

static void sub_clear(txsub_t *ts)
{
    while (ts->ts_n > 0)
        sub_pop(ts);
    ts->ts_head = 0;
    ts->ts_n = 0;
    ts->ts_gen++;
}

/* Re-reads origin oi's log from seq on, not before delay_ms. */
static void sub_rewind(psync_t *p, int oi, uint64_t seq, uint32_t delay_ms)
{
    txsub_t *ts = p->p_subs[oi];

    if (ts == NULL)
        return;
    sub_clear(ts);
    ts->ts_read = seq - 1;
    ts->ts_paused_until = repl__now(p->p_r) + delay_ms;
}

void repl__peer_cursor(psync_t *p, int oi, uint64_t seq)
{
    repl_t *r = p->p_r;
    uint16_t origin = r->r_orig[oi].or_id;

    if (p->p_curk[oi] && seq <= p->p_cur[oi])
        return;
    p->p_cur[oi] = seq;
    p->p_curk[oi] = 1;
    p->p_changes_sent += retire(p, origin, seq);
    r->r_m.rm_changes_sent = 0;
    for (size_t i = 0; i < r->r_npeers; i++)
        r->r_m.rm_changes_sent += r->r_peers[i].p_changes_sent;
    if (p->p_tb != TB_NONE && p->p_tb != TB_OPENING && p->p_tb_oi == oi && p->p_tb_seq <= seq)
        blob_reset(p);
    if (oi == r->r_self_oi)
        repl__durable_check(r);
    repl__tx_pump(p); /* offers were retired: the window has room */
}

/* ------------------------------------------------------------- jobs */

static void tx_job_run(rjob_t *j);
static void tx_job_done(rjob_t *j);

static txjob_t *job_new(psync_t *p, tjkind_t kind)
{
    txjob_t *tj = calloc(1, sizeof(*tj));

    if (tj == NULL)
        return NULL;
    if (kind == TJ_READ) {
        tj->tj_ents = malloc(REPL_TXBUF * sizeof(txent_t));
        if (tj->tj_ents == NULL) {
            free(tj);
            return NULL;
        }
    }
    tj->tj_p = p;
    tj->tj_kind = kind;
    tj->tj_session = p->p_session;
    return tj;
}

/*
 * Pool thread. Reads a small blob entry whole into e->te_data, its hash
 * verified, and makes it TE_INLINE. Anything else (superseded, still
 * arriving, damaged, an error) leaves it a plain TE_BLOB: the offer path
 * opens it again and deals with what it finds there.
 */
static void read_inline(store_t *s, txent_t *e)
{
    const store_stat_t *c = &e->te_c.sc_rec;
    bsrc_t b;
    int rc;

    /* one byte more than the size: the read meets the end in one call */
    rc =
        repl__bsrc_open(s, &b, c->st_key, c->st_klen, &c->st_version, NULL, (size_t)c->st_size + 1);
    if (rc != BSRC_OK)
        return;
    rc = repl__bsrc_read(&b);
    if (rc == 0 && b.bs_eof && b.bs_len == c->st_size && repl__bsrc_verify(&b) == 0) {
        e->te_data = b.bs_buf;
        e->te_kind = TE_INLINE;
        b.bs_buf = NULL;
    }
    repl__bsrc_close(&b);
}

/*
 * Entries are classified against the current record here: superseded
 * markers, tombstones and versions no longer current go as metadata; the
 * current COMPLETE version as a blob; a current version still `receiving`
 * stops the batch (held).
 */
static int read_collect(void *arg, const store_change_t *c)
{
    txjob_t *tj = arg;
    txent_t *e = &tj->tj_ents[tj->tj_n];
    store_stat_t cur;
    int cmp, rc;

    e->te_c = *c;
    e->te_kind = TE_META;
    if (!c->sc_superseded && c->sc_rec.st_state != STORE_TOMBSTONE) {
        rc = store_stat(tj->tj_job.j_r->r_store, c->sc_rec.st_key, c->sc_rec.st_klen, 1, &cur);
        if (rc < 0 && rc != CAIRN_ENOTFOUND)
            return rc;
        if (rc == 0) {
            cmp = store_version_cmp(&cur.st_version, &c->sc_rec.st_version);
            if (cmp < 0 || (cmp == 0 && cur.st_state == STORE_RECEIVING)) {
                tj->tj_hold = 1;
                return 1;
            }
            if (cmp == 0 && cur.st_state == STORE_COMPLETE)
                e->te_kind = TE_BLOB;
        }
    }
    e->te_data = NULL;
    if (e->te_kind == TE_BLOB && c->sc_rec.st_size <= REPL_INL_MAX)
        read_inline(tj->tj_job.j_r->r_store, e);
    tj->tj_n++;
    return 0;
}

static void tx_job_run(rjob_t *j)
{
    txjob_t *tj = (txjob_t *)j;
    store_t *s = j->j_r->r_store;
    int rc;

    switch (tj->tj_kind) {
    case TJ_READ:
        rc = store_log_read(s, tj->tj_origin, tj->tj_after, REPL_TXBUF, read_collect, tj);
        tj->tj_rc = rc > 0 ? 0 : rc;
        break;
    case TJ_OPEN:
        tj->tj_rc = repl__bsrc_open(s, tj->tj_src, tj->tj_c.sc_rec.st_key, tj->tj_c.sc_rec.st_klen,
                                    &tj->tj_c.sc_rec.st_version, NULL, tj->tj_chunk);
        break;
    case TJ_CHUNK:
        /* Here, on an I/O thread, so that a `sleep` action stalls this
         * stream only, never the event loop. */
        if (tj->tj_fp)
            tj->tj_fp_rc = FAILPOINT("repl.send.chunk");
        if (tj->tj_fp_rc == 0 && !tj->tj_src->bs_eof) {
            tj->tj_readnow = 1;
            tj->tj_rc = repl__bsrc_read(tj->tj_src);
        }
        break;
    case TJ_CLOSE:
        repl__bsrc_close(tj->tj_src);
        free(tj->tj_src);
        tj->tj_src = NULL;
        break;
    }
}

/* Log entries read: append them to the subscription if it is still the
 * same one (same session, not re-subscribed or rewound since). */
static void read_done(psync_t *p, txjob_t *tj)
{
    txsub_t *ts = p->p_subs[tj->tj_oi];
    repl_t *r = p->p_r;

    p->p_tx_rbusy = 0;
    if (!p->p_up || p->p_session != tj->tj_session || ts == NULL || ts->ts_gen != tj->tj_gen)
        return;
    if (tj->tj_rc < 0) {
        LOG_WARN("repl.log.read_failed", "peer=%u origin=%u after=%" PRIu64 " err=%s",
                 (unsigned)p->p_id, (unsigned)tj->tj_origin, tj->tj_after,
                 cairn_errname(tj->tj_rc));
        ts->ts_paused_until = repl__now(r) + r->r_tun.st_tick_ms;
        return;
    }
    for (size_t i = 0; i < tj->tj_n; i++) {
        ts->ts_buf[(ts->ts_head + ts->ts_n) % REPL_TXBUF] = tj->tj_ents[i];
        tj->tj_ents[i].te_data = NULL; /* the ring owns the bytes now */
        ts->ts_n++;
        ts->ts_read = tj->tj_ents[i].te_c.sc_seq;
    }
    if (tj->tj_hold)
        ts->ts_paused_until = repl__now(r) + REPL_HOLD_MS;
    else if (tj->tj_n == 0) /* nothing readable although the cursor is ahead: no spinning */
        ts->ts_paused_until = repl__now(r) + r->r_tun.st_tick_ms;
}

/* Offers the opened blob, or turns the entry into what the store said. */
static void open_done(psync_t *p, txjob_t *tj)
{
    txsub_t *ts = p->p_subs[tj->tj_oi];
    bsrc_t *src = tj->tj_src;
    txent_t *e;
    mmsg_t m;
    int rc;

    p->p_tx_busy = 0;
    if (tj->tj_rc == BSRC_OK)
        p->p_tx_src = src; /* closed by the pump unless offered below */
    else
        free(src);
    if (!p->p_up || p->p_session != tj->tj_session || p->p_tb != TB_OPENING ||
        p->p_tb_oi != tj->tj_oi || p->p_tb_seq != tj->tj_seq || ts == NULL || ts->ts_n == 0 ||
        ts->ts_buf[ts->ts_head].te_c.sc_seq != tj->tj_seq) {
        if (p->p_tb == TB_OPENING && p->p_tb_oi == tj->tj_oi && p->p_tb_seq == tj->tj_seq)
            blob_reset(p);
        return;
    }
    e = &ts->ts_buf[ts->ts_head];
    blob_reset(p);
    switch (tj->tj_rc) {
    case BSRC_OK:
        repl__msg_init(&m, "chg");
        repl__msg_change(&m, &e->te_c);
        rc = repl__send(p, &m, 0, 0);
        if (rc < 0) /* EBUSY: re-opened after on_writable; the source is closed meanwhile */
            return;
        p->p_tb = TB_OFFERED;
        p->p_tx_size = src->bs_st.st_size;
        p->p_tx_sent = 0;
        p->p_tb_oi = tj->tj_oi;
        p->p_tb_seq = tj->tj_seq;
        add_offer(p, e->te_c.sc_origin, e->te_c.sc_seq);
        ts->ts_head = (ts->ts_head + 1) % REPL_TXBUF;
        ts->ts_n--;
        break;
    case BSRC_SUPERSEDED:
    case BSRC_DELETED:
        e->te_kind = TE_META;
        break;
    default:
        if (tj->tj_rc == CAIRN_ECORRUPT) {
            /* An inline copy that fails its hash (the store checks those at
             * open): offered as "no bytes here" from now on. */
            LOG_ERROR("repl.send.damaged",
                      "peer=%u origin=%u seq=%" PRIu64
                      " note=\"local copy fails its hash; not sent, peer fetches elsewhere\"",
                      (unsigned)p->p_id, (unsigned)e->te_c.sc_origin, e->te_c.sc_seq);
            p->p_r->r_m.rm_damaged_copies++;
            repl__damaged_add(p->p_r, e->te_c.sc_rec.st_key, e->te_c.sc_rec.st_klen,
                              &e->te_c.sc_rec.st_version);
            break;
        }
        if (tj->tj_rc < 0)
            LOG_WARN("repl.send.open_failed", "peer=%u origin=%u seq=%" PRIu64 " err=%s",
                     (unsigned)p->p_id, (unsigned)e->te_c.sc_origin, e->te_c.sc_seq,
                     cairn_errname(tj->tj_rc));
        sub_rewind(p, tj->tj_oi, tj->tj_seq, REPL_HOLD_MS);
        break;
    }
}

static void chunk_done(psync_t *p, txjob_t *tj)
{
    p->p_tx_busy = 0;
    if (!p->p_up || p->p_session != tj->tj_session || p->p_tb != TB_STREAMING)
        return;
    if (tj->tj_fp_rc < 0) {
        repl_link_disconnect(p->p_link, tj->tj_fp_rc);
        return;
    }
    if (!tj->tj_readnow) {
        p->p_tx_chunk = 0; /* the end of the blob: the pump verifies and ends it */
        return;
    }
    if (tj->tj_rc < 0) {
        LOG_WARN("repl.send.read_failed", "peer=%u origin=%u seq=%" PRIu64 " err=%s",
                 (unsigned)p->p_id, (unsigned)p->p_r->r_orig[p->p_tb_oi].or_id, p->p_tb_seq,
                 cairn_errname(tj->tj_rc));
        p->p_tx_src->bs_eof = 1; /* ends in the hash check: aborted as damaged */
        p->p_tx_src->bs_len = 0;
        return;
    }
    p->p_tx_chunk = p->p_tx_src->bs_len > 0;
}

static void tx_job_done(rjob_t *j)
{
    txjob_t *tj = (txjob_t *)j;
    psync_t *p = tj->tj_p;

    switch (tj->tj_kind) {
    case TJ_READ:
        read_done(p, tj);
        break;
    case TJ_OPEN:
        open_done(p, tj);
        break;
    case TJ_CHUNK:
        chunk_done(p, tj);
        break;
    case TJ_CLOSE:
        p->p_tx_busy = 0;
        break;
    }
    for (size_t i = 0; tj->tj_ents != NULL && i < tj->tj_n; i++)
        ent_release(&tj->tj_ents[i]); /* entries not taken (stale job, error) */
    free(tj->tj_ents);
    free(tj);
    repl__tx_pump(p);
}

static void submit(psync_t *p, txjob_t *tj)
{
    if (tj->tj_kind == TJ_READ)
        p->p_tx_rbusy = 1;
    else
        p->p_tx_busy = 1;
    repl__job_submit(p->p_r, &tj->tj_job, tx_job_run, tx_job_done);
}

/* ------------------------------------------------------------ pumping */

/*
 * Streaming: send the chunk read, read the next, or finish with end
 * (hash verified) / abort (damaged copy: never ends, the receiver drops
 * what it got and this node stops offering bytes of that version).
 */
static void stream_step(psync_t *p)
{
    repl_t *r = p->p_r;
    bsrc_t *src = p->p_tx_src;
    uint16_t origin = r->r_orig[p->p_tb_oi].or_id;
    txjob_t *tj;
    mmsg_t m;
    int sent = 0;
    int rc;

    if (p->p_tx_busy)
        return; /* a chunk is being read: the source belongs to the job */
    if (p->p_tx_chunk) {
        repl__msg_init(&m, "dat");
        repl__msg_u64(&m, "o", origin);
        repl__msg_u64(&m, "s", p->p_tb_seq);
        repl__msg_u64(&m, "off", src->bs_off - src->bs_len);
        repl__msg_bin(&m, "d", src->bs_buf, src->bs_len);
        rc = repl__send(p, &m, src->bs_len, 0);
        if (rc < 0)
            return; /* EBUSY: on_writable pumps again */
        p->p_tx_chunk = 0;
        p->p_tx_sent = src->bs_off;
        p->p_tx_progress_ms = repl__now(r);
        r->r_m.rm_blob_bytes_sent += src->bs_len;
        sent = 1;
    }
    /* The next chunk is read by a job, which first evaluates
     * repl.send.chunk for the chunk just sent (also after the last one
     * while failpoints are configured). */
    if (!src->bs_eof || (sent && failpoints_active)) {
        tj = job_new(p, TJ_CHUNK);
        if (tj == NULL)
            return;
        tj->tj_src = src;
        tj->tj_fp = sent;
        submit(p, tj);
        return;
    }
    if (repl__bsrc_verify(src) == 0) {
        repl__send_os(p, "end", origin, p->p_tb_seq);
        p->p_tb = TB_ENDED;
        return;
    }
    LOG_ERROR("repl.send.damaged",
              "peer=%u origin=%u seq=%" PRIu64 " size=%" PRIu64 " read=%" PRIu64
              " note=\"local copy fails its hash; not sent, peer fetches elsewhere\"",
              (unsigned)p->p_id, (unsigned)origin, p->p_tb_seq, src->bs_st.st_size, src->bs_off);
    r->r_m.rm_damaged_copies++;
    repl__damaged_add(r, src->bs_st.st_key, src->bs_st.st_klen, &src->bs_st.st_version);
    repl__send_os(p, "abort", origin, p->p_tb_seq);
    retire(p, origin, UINT64_MAX); /* the receiver drops what it queued after it */
    sub_rewind(p, p->p_tb_oi, p->p_tb_seq, REPL_LATER_MIN_MS);
    blob_reset(p);
}

/* Sends one metadata offer; 0 or the send's error. */
static int offer_meta(psync_t *p, const store_change_t *c, int nb)
{
    mmsg_t m;
    int rc;

    repl__msg_init(&m, "chg");
    repl__msg_change(&m, c);
    repl__msg_u64(&m, nb ? "nb" : "meta", 1);
    rc = repl__send(p, &m, 0, 0);
    if (rc == 0)
        add_offer(p, c->sc_origin, c->sc_seq);
    return rc;
}

/*
 * Sends a small blob's offer with its bytes ("d"). The frame costs its
 * bytes in the flow-control window; the receiver gives them back once the
 * offer is applied or dropped. 0 or the send's error (CAIRN_EBUSY: the
 * queue or the window is full; on_writable follows).
 */
static int offer_inline(psync_t *p, const txent_t *e)
{
    const store_stat_t *st = &e->te_c.sc_rec;
    mmsg_t m;
    int rc;

    repl__msg_init(&m, "chg");
    repl__msg_change(&m, &e->te_c);
    repl__msg_bin(&m, "d", e->te_data, (size_t)st->st_size);
    rc = repl__send(p, &m, st->st_size, 0);
    if (rc < 0)
        return rc;
    add_offer(p, e->te_c.sc_origin, e->te_c.sc_seq);
    p->p_r->r_m.rm_blob_bytes_sent += st->st_size;
    return 0;
}

/*
 * Offers what the subscriptions have buffered, round robin over origins,
 * each origin in seq order, while the window has room. Returns 0, or
 * CAIRN_EBUSY when the link refused (on_writable follows).
 */
static int offer_loop(psync_t *p)
{
    repl_t *r = p->p_r;
    size_t n = r->r_norig;

    for (size_t k = 0; k < n && p->p_noffers < REPL_OFFER_WINDOW; k++) {
        size_t oi = (p->p_rr + k) % n;
        txsub_t *ts = p->p_subs[oi];

        while (ts != NULL && ts->ts_n > 0 && p->p_noffers < REPL_OFFER_WINDOW) {
            txent_t *e = &ts->ts_buf[ts->ts_head];
            const store_stat_t *st = &e->te_c.sc_rec;
            int nb = 0;
            int rc;

            if (p->p_curk[oi] && e->te_c.sc_seq <= p->p_cur[oi]) {
                sub_pop(ts); /* the peer has it already */
                continue;
            }
            if (e->te_kind == TE_INLINE &&
                !repl__damaged_has(r, st->st_key, st->st_klen, &st->st_version)) {
                rc = offer_inline(p, e);
                if (rc < 0)
                    return rc;
                sub_pop(ts);
                continue;
            }
            if (e->te_kind == TE_BLOB) {
                nb = repl__damaged_has(r, st->st_key, st->st_klen, &st->st_version);
                if (!nb) {
                    txjob_t *tj;

                    if (p->p_tb != TB_NONE || p->p_tx_busy || p->p_tx_src != NULL)
                        break; /* one blob at a time; this origin waits */
                    tj = job_new(p, TJ_OPEN);
                    if (tj == NULL)
                        break;
                    tj->tj_src = calloc(1, sizeof(bsrc_t));
                    if (tj->tj_src == NULL) {
                        free(tj);
                        break;
                    }
                    tj->tj_oi = (int)oi;
                    tj->tj_seq = e->te_c.sc_seq;
                    tj->tj_c = e->te_c;
                    tj->tj_chunk = r->r_tun.st_chunk;
                    p->p_tb = TB_OPENING;
                    p->p_tb_oi = (int)oi;
                    p->p_tb_seq = e->te_c.sc_seq;
                    submit(p, tj);
                    break;
                }
            }
            if (e->te_kind == TE_INLINE)
                nb = 1; /* known damaged since it was read */
            rc = offer_meta(p, &e->te_c, nb);
            if (rc < 0)
                return rc;
            sub_pop(ts);
        }
    }
    p->p_rr = n > 0 ? (p->p_rr + 1) % n : 0;
    return 0;
}

/* Reads more of one subscription's log when its buffer ran dry. */
static void read_step(psync_t *p)
{
    repl_t *r = p->p_r;
    size_t n = r->r_norig;
    uint64_t now = repl__now(r);

    if (p->p_tx_rbusy)
        return;
    for (size_t k = 0; k < n; k++) {
        size_t oi = (p->p_rr + k) % n;
        txsub_t *ts = p->p_subs[oi];
        txjob_t *tj;

        if (ts == NULL || ts->ts_n > 0 || now < ts->ts_paused_until ||
            r->r_orig[oi].or_cursor <= ts->ts_read)
            continue;
        tj = job_new(p, TJ_READ);
        if (tj == NULL)
            return;
        tj->tj_oi = (int)oi;
        tj->tj_origin = r->r_orig[oi].or_id;
        tj->tj_after = ts->ts_read;
        tj->tj_gen = ts->ts_gen;
        submit(p, tj);
        return;
    }
}

/*
 * See sync_int.h. Order: release a source nobody uses, stream, offer,
 * read ahead. Idempotent: call it whenever anything changed.
 */
void repl__tx_pump(psync_t *p)
{
    repl_t *r = p->p_r;

    if (!p->p_tx_busy && p->p_tx_src != NULL && (p->p_tb == TB_NONE || !p->p_up)) {
        txjob_t *tj = job_new(p, TJ_CLOSE);

        if (tj != NULL) {
            tj->tj_src = p->p_tx_src;
            p->p_tx_src = NULL;
            submit(p, tj);
        }
    }
    if (!p->p_up || r->r_stopping)
        return;
    if (p->p_tb == TB_STREAMING && p->p_tx_src != NULL)
        stream_step(p);
    if (!p->p_up)
        return;
    if (offer_loop(p) < 0)
        return;
    read_step(p);
}

/* --------------------------------------------------------- session */

void repl__tx_on_down(psync_t *p)
{
    for (size_t oi = 0; oi < REPL_ORIGINS_MAX; oi++) {
        sub_free(p->p_subs[oi]);
        p->p_subs[oi] = NULL;
    }
    p->p_noffers = 0;
    blob_reset(p);
    repl__tx_pump(p);
}

/* ------------------------------------------------------------ frames */

static int on_sub(psync_t *p, const msgpack_object *msg)
{
    repl_t *r = p->p_r;
    txsub_t *ts;
    uint64_t o, from;
    int oi;

    if (pack_get_u64(msg, "o", UINT16_MAX, &o) < 0 || o == 0 ||
        pack_get_u64(msg, "from", UINT64_MAX - 1, &from) < 0)
        return CAIRN_EPROTO;
    oi = repl__origin(r, (uint16_t)o);
    if (oi < 0 || o == p->p_id)
        return 0;
    ts = p->p_subs[oi];
    if (ts == NULL) {
        ts = calloc(1, sizeof(*ts));
        if (ts == NULL)
            return CAIRN_ENOMEM;
        p->p_subs[oi] = ts;
    }
    sub_clear(ts);
    ts->ts_read = from;
    ts->ts_paused_until = 0;
    ts->ts_backoff_ms = 0;
    retire(p, (uint16_t)o, UINT64_MAX);
    if (p->p_tb != TB_NONE && p->p_tb != TB_OPENING && p->p_tb_oi == oi)
        blob_reset(p);
    repl__peer_cursor(p, oi, from);
    LOG_DEBUG("repl.sub.peer", "peer=%u origin=%u from=%" PRIu64, (unsigned)p->p_id, (unsigned)o,
              from);
    repl__tx_pump(p);
    return 0;
}

static int on_unsub(psync_t *p, const msgpack_object *msg)
{
    uint64_t o;
    int oi;

    if (pack_get_u64(msg, "o", UINT16_MAX, &o) < 0 || o == 0)
        return CAIRN_EPROTO;
    oi = repl__origin_find(p->p_r, (uint16_t)o);
    if (oi < 0)
        return 0;
    sub_free(p->p_subs[oi]);
    p->p_subs[oi] = NULL;
    retire(p, (uint16_t)o, UINT64_MAX);
    if (p->p_tb != TB_NONE && p->p_tb != TB_OPENING && p->p_tb_oi == oi)
        blob_reset(p);
    repl__tx_pump(p);
    return 0;
}

/* want / have / later / ack: {"o","s"}. */
int repl__tx_on_frame(psync_t *p, const char *type, const msgpack_object *msg)
{
    repl_t *r = p->p_r;
    txsub_t *ts;
    uint16_t o;
    uint64_t s;
    int oi, rc;

    if (strcmp(type, "sub") == 0)
        return on_sub(p, msg);
    if (strcmp(type, "unsub") == 0)
        return on_unsub(p, msg);
    rc = repl__parse_os(msg, &o, &s);
    if (rc < 0)
        return rc;
    p->p_tx_progress_ms = repl__now(r);
    oi = repl__origin(r, o);
    if (oi < 0)
        return 0;
    if (strcmp(type, "want") == 0) {
        if (p->p_tb == TB_OFFERED && p->p_tb_oi == oi && p->p_tb_seq == s) {
            p->p_tb = TB_STREAMING;
            repl__tx_pump(p);
        }
        return 0;
    }
    if (strcmp(type, "later") == 0) {
        retire(p, o, UINT64_MAX);
        if (p->p_tb != TB_NONE && p->p_tb != TB_OPENING && p->p_tb_oi == oi)
            blob_reset(p);
        ts = p->p_subs[oi];
        if (ts != NULL) {
            if (ts->ts_later_seq == s && ts->ts_backoff_ms > 0)
                ts->ts_backoff_ms = ts->ts_backoff_ms * 2 > REPL_LATER_MAX_MS
                                        ? REPL_LATER_MAX_MS
                                        : ts->ts_backoff_ms * 2;
            else
                ts->ts_backoff_ms = REPL_LATER_MIN_MS;
            ts->ts_later_seq = s;
            sub_rewind(p, oi, s, ts->ts_backoff_ms);
        }
        repl__tx_pump(p);
        return 0;
    }
    /* have / ack: the peer's cursor for o is at least s */
    repl__peer_cursor(p, oi, s);
    return 0;
}

/*
 * A safety net, not a protocol step: offers out (or a blob in flight) and
 * neither an answer nor a chunk sent for REPL_STALL_MS means the two sides
 * disagree about the exchange; ending the session makes both resynchronize
 * from their cursors.
 */
void repl__tx_watchdog(psync_t *p, uint64_t now)
{
    if (!p->p_up || (p->p_noffers == 0 && p->p_tb == TB_NONE) ||
        now - p->p_tx_progress_ms < REPL_STALL_MS)
        return;
    LOG_WARN("repl.sync.stalled", "peer=%u side=send offers=%u blob_state=%d", (unsigned)p->p_id,
             p->p_noffers, (int)p->p_tb);
    repl_link_disconnect(p->p_link, CAIRN_ETIMEDOUT);
}
