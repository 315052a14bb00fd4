/*
 * sync.c -- the replication module's lifecycle and hub: creation, the store
 * hooks (an inbox marshalled into the loop with uv_async_send), link
 * callbacks dispatching frames to the sender / receiver / fetch parts, the
 * origin table with this node's cursors, the periodic tick, and the
 * asynchronous stop. Heads and subscriptions are in sync_subs.c, status in
 * sync_status.c.
 *
 * See sync_int.h for ownership and threading, docs/replication.md for the
 * protocol.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "replication/sync_int.h"

/* ------------------------------------------------------------- jobs */

static void job_work(uv_work_t *req)
{
    rjob_t *j = repl_job_of(req);

    j->j_run(j);
}

/* The done half owns j; r may reach "stopped" afterwards. */
static void job_after(uv_work_t *req, int status)
{
    rjob_t *j = repl_job_of(req);
    repl_t *r = j->j_r;

    (void)status; /* jobs are never cancelled (uv_cancel is not used) */
    j->j_done(j);
    r->r_jobs--;
    repl__maybe_stopped(r);
}

void repl__job_submit(repl_t *r, rjob_t *j, rjob_fn run, rjob_fn done)
{
    int rc;

    j->j_r = r;
    j->j_run = run;
    j->j_done = done;
    r->r_jobs++;
    rc = uv_queue_work(r->r_loop, &j->j_req, job_work, job_after);
    if (rc != 0) {
        /* Only invalid arguments fail; run inline rather than lose the job. */
        LOG_ERROR("repl.job.queue_failed", "err=%s", uv_strerror(rc));
        run(j);
        done(j);
        r->r_jobs--;
    }
}

uint64_t repl__now(const repl_t *r)
{
    return uv_now(r->r_loop);
}

psync_t *repl__psync(repl_link_t *l)
{
    return repl_link_udata(l);
}

/* ----------------------------------------------------------- origins */

int repl__origin_find(const repl_t *r, uint16_t id)
{
    if (id == 0 || r->r_oidx[id] == 0)
        return -1;
    return (int)r->r_oidx[id] - 1;
}

int repl__origin(repl_t *r, uint16_t id)
{
    int oi = repl__origin_find(r, id);
    rorigin_t *o;

    if (oi >= 0 || id == 0)
        return oi;
    if (r->r_norig == REPL_ORIGINS_MAX) {
        LOG_WARN("repl.origins.full", "origin=%u max=%u", (unsigned)id, REPL_ORIGINS_MAX);
        return -1;
    }
    oi = (int)r->r_norig++;
    o = &r->r_orig[oi];
    memset(o, 0, sizeof(*o));
    o->or_id = id;
    r->r_oidx[id] = (uint16_t)(oi + 1);
    return oi;
}

/* Wakes every sender subscribed to the origin: its log grew. */
void repl__cursor_advanced(repl_t *r, int oi, uint64_t seq)
{
    rorigin_t *o = &r->r_orig[oi];

    if (seq <= o->or_cursor)
        return;
    o->or_cursor = seq;
    for (size_t i = 0; i < r->r_npeers; i++) {
        psync_t *p = &r->r_peers[i];

        if (p->p_up && p->p_subs[oi] != NULL)
            repl__tx_pump(p);
    }
}

/* ------------------------------------------------------ link callbacks */

static void on_up(repl_link_t *l, void *arg)
{
    repl_t *r = arg;
    psync_t *p = repl__psync(l);

    p->p_up = 1;
    p->p_session = repl_link_session(l);
    p->p_heads_seen = 0;
    memset(p->p_head, 0, sizeof(p->p_head));
    r->r_m.rm_links_up++;
    if (!r->r_running)
        return;
    repl__send_heads(p);
    repl__review_subs(r);
    repl__fetch_pump(r);
}

static void on_down(repl_link_t *l, int reason, void *arg)
{
    repl_t *r = arg;
    psync_t *p = repl__psync(l);

    (void)reason;
    if (!p->p_up)
        return;
    p->p_up = 0;
    p->p_heads_seen = 0;
    r->r_m.rm_links_up--;
    for (size_t oi = 0; oi < r->r_norig; oi++) {
        if (r->r_orig[oi].or_src == p) {
            r->r_orig[oi].or_src = NULL;
            r->r_orig[oi].or_rx_items = 0;
        }
    }
    repl__tx_on_down(p);
    repl__rx_on_down(p);
    repl__fs_on_down(p);
    repl__fetch_on_down(r, p);
    repl__review_subs(r);
}

static int on_frame(repl_link_t *l, const char *type, const msgpack_object *msg, void *arg)
{
    repl_t *r = arg;
    psync_t *p = repl__psync(l);

    if (r->r_stopping)
        return 0;
    if (strcmp(type, "heads") == 0)
        return repl__on_heads(p, msg);
    if (strcmp(type, "sub") == 0 || strcmp(type, "unsub") == 0 || strcmp(type, "want") == 0 ||
        strcmp(type, "have") == 0 || strcmp(type, "later") == 0 || strcmp(type, "ack") == 0)
        return repl__tx_on_frame(p, type, msg);
    if (strcmp(type, "chg") == 0 || strcmp(type, "dat") == 0 || strcmp(type, "end") == 0 ||
        strcmp(type, "abort") == 0)
        return repl__rx_on_frame(p, type, msg);
    if (strcmp(type, "fetch") == 0 || strcmp(type, "fgo") == 0 || strcmp(type, "fcancel") == 0)
        return repl__fs_on_frame(p, type, msg);
    if (type[0] == 'f')
        return repl__fetch_on_frame(p, type, msg);
    return CAIRN_EPROTO;
}

static void on_writable(repl_link_t *l, void *arg)
{
    psync_t *p = repl__psync(l);

    (void)arg;
    repl__rx_credit_flush(p);
    repl__tx_pump(p);
    repl__fs_pump(p);
}

/* ------------------------------------------------------ store inbox */

void repl_on_store_change(void *arg, uint16_t origin, uint64_t seq)
{
    repl_t *r = arg;
    int found = 0;

    pthread_mutex_lock(&r->r_mu);
    if (r->r_in_closed) {
        pthread_mutex_unlock(&r->r_mu);
        return;
    }
    for (size_t i = 0; i < r->r_in_nchg; i++) {
        if (r->r_in_chg[i].ic_origin == origin) {
            if (seq > r->r_in_chg[i].ic_seq)
                r->r_in_chg[i].ic_seq = seq;
            found = 1;
            break;
        }
    }
    if (!found && r->r_in_nchg < REPL_INBOX_CHG_MAX) {
        r->r_in_chg[r->r_in_nchg].ic_origin = origin;
        r->r_in_chg[r->r_in_nchg].ic_seq = seq;
        r->r_in_nchg++;
    } else if (!found) {
        r->r_in_chg_over = 1;
    }
    uv_async_send(&r->r_async);
    pthread_mutex_unlock(&r->r_mu);
}

void repl_on_store_repair(void *arg, const char *key, size_t klen, const store_version_t *version,
                          uint64_t file_id)
{
    repl_t *r = arg;
    rrepair_t *rr;

    (void)file_id;
    if (klen == 0 || klen > STORE_KEY_MAX)
        return;
    rr = malloc(sizeof(*rr));
    pthread_mutex_lock(&r->r_mu);
    if (r->r_in_closed || rr == NULL || r->r_in_nrep >= REPL_INBOX_REP_MAX) {
        if (!r->r_in_closed)
            r->r_in_rep_over = 1;
        pthread_mutex_unlock(&r->r_mu);
        free(rr);
        return;
    }
    memcpy(rr->rr_key, key, klen);
    rr->rr_klen = klen;
    rr->rr_min = *version;
    rr->rr_hash = 0;
    rr->rr_next = NULL;
    if (r->r_in_rep_tail != NULL)
        r->r_in_rep_tail->rr_next = rr;
    else
        r->r_in_rep = rr;
    r->r_in_rep_tail = rr;
    r->r_in_nrep++;
    uv_async_send(&r->r_async);
    pthread_mutex_unlock(&r->r_mu);
}

typedef struct curjob {
    rjob_t cj_job;
    int cj_rc;
    size_t cj_n;
    rinchg_t cj_cur[REPL_ORIGINS_MAX];
} curjob_t;

static int cur_collect(void *arg, uint16_t origin, uint64_t seq)
{
    curjob_t *cj = arg;

    if (cj->cj_n < REPL_ORIGINS_MAX) {
        cj->cj_cur[cj->cj_n].ic_origin = origin;
        cj->cj_cur[cj->cj_n].ic_seq = seq;
        cj->cj_n++;
    }
    return 0;
}

static void cur_run(rjob_t *j)
{
    curjob_t *cj = (curjob_t *)j;

    cj->cj_rc = store_each_cursor(j->j_r->r_store, cur_collect, cj);
}

static void start_peers_done(repl_t *r);

/* Cursors loaded (at start, or after the inbox overflowed). */
static void cur_done(rjob_t *j)
{
    curjob_t *cj = (curjob_t *)j;
    repl_t *r = j->j_r;

    r->r_cursor_busy = 0;
    if (cj->cj_rc < 0)
        LOG_ERROR("repl.cursors.load_failed", "err=%s", cairn_errname(cj->cj_rc));
    for (size_t i = 0; i < cj->cj_n; i++) {
        int oi = repl__origin(r, cj->cj_cur[i].ic_origin);

        if (oi >= 0)
            repl__cursor_advanced(r, oi, cj->cj_cur[i].ic_seq);
    }
    free(cj);
    if (!r->r_running && !r->r_stopping)
        start_peers_done(r);
}

static void load_cursors(repl_t *r)
{
    curjob_t *cj;

    if (r->r_cursor_busy || r->r_stopping)
        return;
    cj = calloc(1, sizeof(*cj));
    if (cj == NULL) {
        LOG_ERROR("repl.cursors.load_failed", "err=%s", cairn_errname(CAIRN_ENOMEM));
        return;
    }
    r->r_cursor_busy = 1;
    repl__job_submit(r, &cj->cj_job, cur_run, cur_done);
}

static void on_async(uv_async_t *h)
{
    repl_t *r = h->data;
    rinchg_t chg[REPL_INBOX_CHG_MAX];
    size_t nchg;
    rrepair_t *rep;
    int over;

    pthread_mutex_lock(&r->r_mu);
    nchg = r->r_in_nchg;
    memcpy(chg, r->r_in_chg, nchg * sizeof(chg[0]));
    r->r_in_nchg = 0;
    over = r->r_in_chg_over;
    r->r_in_chg_over = 0;
    rep = r->r_in_rep;
    r->r_in_rep = r->r_in_rep_tail = NULL;
    r->r_in_nrep = 0;
    r->r_in_rep_over = 0; /* dropped reports: the periodic sweep finds them again */
    pthread_mutex_unlock(&r->r_mu);

    for (size_t i = 0; i < nchg; i++) {
        int oi = repl__origin(r, chg[i].ic_origin);

        if (oi >= 0)
            repl__cursor_advanced(r, oi, chg[i].ic_seq);
    }
    if (over && r->r_started)
        load_cursors(r);
    while (rep != NULL) {
        rrepair_t *next = rep->rr_next;

        if (!r->r_stopping)
            repl__fetch_queue(r, rep->rr_key, rep->rr_klen, &rep->rr_min);
        free(rep);
        rep = next;
    }
    repl__fetch_pump(r);
}

/* ------------------------------------------------------ periodic work */

typedef struct sweepjob {
    rjob_t sw_job;
    int sw_rc;
} sweepjob_t;

static void sweep_run(rjob_t *j)
{
    sweepjob_t *sw = (sweepjob_t *)j;

    sw->sw_rc = store_each_repair(j->j_r->r_store, repl_on_store_repair, j->j_r);
}

static void sweep_done(rjob_t *j)
{
    sweepjob_t *sw = (sweepjob_t *)j;

    j->j_r->r_sweep_busy = 0;
    if (sw->sw_rc < 0)
        LOG_WARN("repl.repair.sweep_failed", "err=%s", cairn_errname(sw->sw_rc));
    free(sw);
}

int repl__links_up(const repl_t *r)
{
    for (size_t i = 0; i < r->r_npeers; i++) {
        if (r->r_peers[i].p_up)
            return 1;
    }
    return 0;
}

/* Re-queues repairs still pending in the store (reports dropped when the
 * inbox was full, fetches every peer refused). Pointless without peers. */
static void sweep_tick(repl_t *r, uint64_t now)
{
    sweepjob_t *sw;

    if (r->r_sweep_busy || now - r->r_last_sweep < r->r_sweep_ms || !repl__links_up(r))
        return;
    /* Back off while sweeps only produce failures (copies nobody has);
     * back to the base interval as soon as a repair succeeds. */
    if (r->r_m.rm_repairs_done != r->r_repairs_done_at_sweep ||
        r->r_m.rm_repairs_failed == r->r_repairs_failed_at_sweep)
        r->r_sweep_ms = r->r_tun.st_repair_sweep_ms;
    else if (r->r_sweep_ms < REPL_SWEEP_MAX_MS)
        r->r_sweep_ms =
            r->r_sweep_ms * 2 > REPL_SWEEP_MAX_MS ? REPL_SWEEP_MAX_MS : r->r_sweep_ms * 2;
    r->r_repairs_done_at_sweep = r->r_m.rm_repairs_done;
    r->r_repairs_failed_at_sweep = r->r_m.rm_repairs_failed;
    r->r_last_sweep = now;
    sw = calloc(1, sizeof(*sw));
    if (sw == NULL)
        return;
    r->r_sweep_busy = 1;
    repl__job_submit(r, &sw->sw_job, sweep_run, sweep_done);
}

static void on_tick(uv_timer_t *t)
{
    repl_t *r = t->data;
    uint64_t now = repl__now(r);

    if (!r->r_running || r->r_stopping)
        return;
    for (size_t i = 0; i < r->r_npeers; i++) {
        psync_t *p = &r->r_peers[i];

        if (!p->p_up)
            continue;
        repl__send_heads(p);
        repl__tx_watchdog(p, now);
        repl__rx_watchdog(p, now);
        repl__tx_pump(p);
        repl__rx_pump(p);
        repl__fs_pump(p);
    }
    repl__review_subs(r);
    repl__fetch_tick(r);
    sweep_tick(r, now);
    if (now - r->r_last_trim >= r->r_tun.st_trim_ms) {
        r->r_last_trim = now;
        repl__trim_tick(r);
    }
    repl__lag_tick(r);
}

/* ------------------------------------------------------------ create */

static void fill_tuning(repl_sync_tuning_t *t)
{
    if (t->st_tick_ms == 0)
        t->st_tick_ms = REPL_DEFAULT_TICK_MS;
    if (t->st_trim_ms == 0)
        t->st_trim_ms = REPL_DEFAULT_TRIM_MS;
    if (t->st_repair_sweep_ms == 0)
        t->st_repair_sweep_ms = REPL_DEFAULT_REPAIR_SWEEP_MS;
    if (t->st_fetch_timeout_ms == 0)
        t->st_fetch_timeout_ms = REPL_DEFAULT_FETCH_TIMEOUT_MS;
    if (t->st_chunk == 0)
        t->st_chunk = REPL_DEFAULT_CHUNK;
    if (t->st_max_fetches == 0)
        t->st_max_fetches = REPL_DEFAULT_MAX_FETCHES;
    if (t->st_max_skew_ms == 0)
        t->st_max_skew_ms = REPL_DEFAULT_MAX_SKEW_MS;
}

static void handle_closed(uv_handle_t *h)
{
    repl_t *r = h->data;

    r->r_handles--;
    repl__maybe_stopped(r);
}

static void free_now(repl_t *r)
{
    rrepair_t *rp;

    repl_peers_free(r->r_ps);
    repl__fetch_free(r);
    rp = r->r_in_rep;
    while (rp != NULL) {
        rrepair_t *next = rp->rr_next;

        free(rp);
        rp = next;
    }
    free(r->r_peers);
    free(r->r_oidx);
    pthread_mutex_destroy(&r->r_mu);
    free(r);
}

/*
 * See repl.h. The peer set is created here (no I/O) so that listen errors
 * surface from repl_start; the timers and the async handle exist from now
 * on, because store callbacks may arrive from store_open onwards.
 */
int repl_create(uv_loop_t *loop, const repl_conf_t *conf, repl_t **out)
{
    static const repl_link_cbs_t cbs = {on_up, on_down, on_frame, on_writable};
    repl_peers_conf_t pc;
    repl_t *r = NULL;
    int rc;

    if (out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (loop == NULL || conf == NULL || conf->rc_self_id == 0 ||
        (conf->rc_npeers > 0 && conf->rc_peers == NULL))
        return CAIRN_EINVAL;
    if (conf->rc_sync.st_chunk != 0 &&
        (conf->rc_sync.st_chunk < 1024 || conf->rc_sync.st_chunk > REPL_DAT_MAX))
        return CAIRN_EINVAL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CAIRN_ENOMEM;
    r->r_loop = loop;
    r->r_self = conf->rc_self_id;
    r->r_tun = conf->rc_sync;
    fill_tuning(&r->r_tun);
    r->r_oidx = calloc(65536, sizeof(uint16_t));
    r->r_peers = calloc(conf->rc_npeers > 0 ? conf->rc_npeers : 1, sizeof(psync_t));
    if (r->r_oidx == NULL || r->r_peers == NULL) {
        free(r->r_oidx);
        free(r->r_peers);
        free(r);
        return CAIRN_ENOMEM;
    }
    pthread_mutex_init(&r->r_mu, NULL);

    memset(&pc, 0, sizeof(pc));
    pc.pc_self_id = conf->rc_self_id;
    pc.pc_listen = conf->rc_listen;
    pc.pc_peers = conf->rc_peers;
    pc.pc_npeers = conf->rc_npeers;
    pc.pc_secret = conf->rc_secret;
    pc.pc_secret_len = conf->rc_secret_len;
    pc.pc_tuning = conf->rc_link;
    rc = repl_peers_create(loop, &pc, &cbs, r, &r->r_ps);
    if (rc < 0) {
        free(r->r_oidx);
        free(r->r_peers);
        pthread_mutex_destroy(&r->r_mu);
        free(r);
        return rc;
    }
    r->r_npeers = repl_peers_count(r->r_ps);
    for (size_t i = 0; i < r->r_npeers; i++) {
        psync_t *p = &r->r_peers[i];

        p->p_r = r;
        p->p_link = repl_peers_link_at(r->r_ps, i);
        p->p_id = repl_link_peer_id(p->p_link);
        p->p_index = i;
        repl_link_set_udata(p->p_link, p);
    }
    r->r_self_oi = repl__origin(r, r->r_self);
    for (size_t i = 0; i < r->r_npeers; i++)
        (void)repl__origin(r, r->r_peers[i].p_id);
    repl__durable_init(r);
    repl__fetch_init(r);
    if (r->r_fetch == NULL) {
        repl_peers_free(r->r_ps);
        r->r_ps = NULL;
        free_now(r);
        return CAIRN_ENOMEM;
    }

    uv_timer_init(loop, &r->r_tick);
    uv_timer_init(loop, &r->r_wtimer);
    uv_async_init(loop, &r->r_async, on_async);
    r->r_tick.data = r;
    r->r_wtimer.data = r;
    r->r_async.data = r;
    r->r_handles = 3;
    r->r_sweep_ms = r->r_tun.st_repair_sweep_ms;
    *out = r;
    return 0;
}

void repl_store_hooks(repl_t *r, store_opts_t *so)
{
    so->so_repair = repl_on_store_repair;
    so->so_repair_arg = r;
    so->so_on_change = repl_on_store_change;
    so->so_on_change_arg = r;
    so->so_log_changes = 1;
}

/* Cursors are known: sessions may start syncing. */
static void start_peers_done(repl_t *r)
{
    r->r_running = 1;
    r->r_last_trim = repl__now(r);
    uv_timer_start(&r->r_tick, on_tick, r->r_tun.st_tick_ms, r->r_tun.st_tick_ms);
    for (size_t i = 0; i < r->r_npeers; i++) {
        if (r->r_peers[i].p_up)
            repl__send_heads(&r->r_peers[i]);
    }
    repl__review_subs(r);
    repl__fetch_pump(r);
    LOG_INFO("repl.start", "node=%u peers=%zu origins=%zu", (unsigned)r->r_self, r->r_npeers,
             r->r_norig);
}

int repl_start(repl_t *r, store_t *store)
{
    int rc;

    if (r == NULL || store == NULL || r->r_started || r->r_stopping)
        return CAIRN_EINVAL;
    r->r_store = store;
    rc = repl_peers_start(r->r_ps);
    if (rc < 0)
        return rc;
    r->r_started = 1;
    load_cursors(r);
    return 0;
}

int repl_listen_port(const repl_t *r, int *port)
{
    return repl_peers_listen_port(r->r_ps, port);
}

/* ---------------------------------------------------------- shutdown */

static void peers_closed(repl_peers_t *ps, void *arg)
{
    repl_t *r = arg;

    (void)ps;
    r->r_peers_closed = 1;
    repl__maybe_stopped(r);
}

void repl__maybe_stopped(repl_t *r)
{
    if (!r->r_stopping || r->r_stopped || r->r_jobs > 0 || r->r_handles > 0 || !r->r_peers_closed)
        return;
    r->r_stopped = 1;
    LOG_INFO("repl.stopped", "node=%u", (unsigned)r->r_self);
    if (r->r_stop_cb != NULL)
        r->r_stop_cb(r, r->r_stop_arg);
    if (r->r_free_on_stop)
        free_now(r);
}

/*
 * See repl.h. Closing the peer set ends every session synchronously
 * (on_down), which hands held readers and writers to release jobs; the
 * stop completes when the last of them is done.
 */
void repl_stop(repl_t *r, repl_stopped_cb cb, void *arg)
{
    rrepair_t *rp;

    if (r == NULL || r->r_stopping)
        return;
    r->r_stopping = 1;
    r->r_stop_cb = cb;
    r->r_stop_arg = arg;
    repl__durable_shutdown(r);
    pthread_mutex_lock(&r->r_mu);
    r->r_in_closed = 1;
    rp = r->r_in_rep;
    r->r_in_rep = r->r_in_rep_tail = NULL;
    r->r_in_nrep = 0;
    pthread_mutex_unlock(&r->r_mu);
    while (rp != NULL) {
        rrepair_t *next = rp->rr_next;

        free(rp);
        rp = next;
    }
    uv_timer_stop(&r->r_tick);
    uv_timer_stop(&r->r_wtimer);
    uv_close((uv_handle_t *)&r->r_tick, handle_closed);
    uv_close((uv_handle_t *)&r->r_wtimer, handle_closed);
    uv_close((uv_handle_t *)&r->r_async, handle_closed);
    repl_peers_close(r->r_ps, peers_closed, r);
    repl__fetch_pump(r); /* abandons fetches in flight */
    repl__maybe_stopped(r);
}

void repl_free(repl_t *r)
{
    if (r == NULL)
        return;
    if (r->r_stopped) {
        free_now(r);
        return;
    }
    r->r_free_on_stop = 1;
    if (!r->r_stopping)
        repl_stop(r, NULL, NULL);
}
