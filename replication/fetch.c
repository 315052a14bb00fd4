/*
 * fetch.c -- read-through repair: fetching a whole copy of a key from a
 * peer into a fresh local file.
 *
 * The store reports a key whose current file is not whole and has no live
 * writer (a crash leftover, an abandoned transfer, a missing or damaged
 * file) through so_repair; reports are deduplicated by key in a bounded
 * queue and served by at most st_max_fetches fetches at once. A fetch asks
 * one up peer at a time, round robin, never the same peer twice:
 *     -> {"t":"fetch","id","k","v","vo"}      (that version or newer)
 *     <- fhdr: store_put_begin(REPLICA, the peer's version, its hash, no log
 *              identity): the record swings to a fresh file at once, so a
 *              reader waiting on the key wakes, follows this writer and
 *              streams the bytes as they arrive -> {"t":"fgo"}
 *     <- fdat*: store_put_write, credit back;  <- fend: store_put_finish
 *     <- fdel: the key was deleted meanwhile: store_delete(REPLICA)
 *     <- fno / fabort / link down / no progress for st_fetch_timeout_ms:
 *              abandon the partial file, ask the next peer.
 * When every up peer said no, the fetch is given up; the store keeps the
 * repair pending and the periodic sweep (store_each_repair) re-queues it.
 * A begin refused with CAIRN_EEXIST / CAIRN_ESTALE (a whole copy or a newer
 * version got here meanwhile) or CAIRN_EBUSY (replication is delivering
 * that very version now) ends the fetch: nothing more to do.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/sync_int.h"

typedef enum { FB_BEGIN = 1, FB_DELETE, FB_WRITE, FB_FINISH, FB_ABORT } fbkind_t;

typedef struct fjob {
    rjob_t fb_job;
    size_t fb_slot;
    uint64_t fb_id;
    fbkind_t fb_kind;
    store_writer_t *fb_w;
    rxchunk_t *fb_chunk;
    psync_t *fb_peer;    /* FB_WRITE: the link the chunk came from ... */
    uint64_t fb_session; /* ... and its session (credit goes back there) */
    store_stat_t fb_hdr;
    int fb_rc;
} fjob_t;

static void fetch_log(const rfetch_t *f, const char *event, const char *what, int rc)
{
    char kbuf[128];

    LOG_INFO(event, "key=%s version=%" PRIu64 ".%u peer=%u what=%s err=%s",
             log_kv_str(kbuf, sizeof(kbuf), f->f_key, f->f_klen), f->f_min.sv_hlc,
             (unsigned)f->f_min.sv_origin, f->f_peer != NULL ? (unsigned)f->f_peer->p_id : 0u, what,
             rc != 0 ? cairn_errname(rc) : "none");
}

/* ------------------------------------------------------------- setup */

void repl__fetch_init(repl_t *r)
{
    size_t bytes = r->r_npeers / 8 + 1;

    r->r_nfetch = r->r_tun.st_max_fetches;
    r->r_fetch = calloc(r->r_nfetch, sizeof(rfetch_t));
    if (r->r_fetch == NULL)
        return;
    for (size_t i = 0; i < r->r_nfetch; i++) {
        r->r_fetch[i].f_tried = calloc(bytes, 1);
        if (r->r_fetch[i].f_tried == NULL) {
            repl__fetch_free(r);
            return;
        }
    }
}

static void chunks_free(repl_t *r, rfetch_t *f, int credit)
{
    rxchunk_t *ch = f->f_chunks;

    while (ch != NULL) {
        rxchunk_t *next = ch->rc_next;

        if (credit && f->f_peer != NULL && f->f_peer->p_up && f->f_peer->p_session == f->f_session)
            repl__rx_credit(f->f_peer, ch->rc_len);
        free(ch);
        ch = next;
    }
    f->f_chunks = f->f_chunks_tail = NULL;
    (void)r;
}

void repl__fetch_free(repl_t *r)
{
    rrepair_t *rp = r->r_rq;

    while (rp != NULL) {
        rrepair_t *next = rp->rr_next;

        free(rp);
        rp = next;
    }
    r->r_rq = r->r_rq_tail = NULL;
    r->r_rq_n = 0;
    for (size_t i = 0; r->r_fetch != NULL && i < r->r_nfetch; i++) {
        chunks_free(r, &r->r_fetch[i], 0);
        free(r->r_fetch[i].f_tried);
    }
    free(r->r_fetch);
    r->r_fetch = NULL;
}

/* ------------------------------------------------------------- queue */

void repl__fetch_queue(repl_t *r, const char *key, size_t klen, const store_version_t *min)
{
    uint64_t h = repl__key_hash(key, klen);
    rrepair_t *rp;

    if (r->r_stopping || klen == 0 || klen > STORE_KEY_MAX)
        return;
    for (size_t i = 0; i < REPL_FETCH_NEG; i++) {
        if (r->r_fneg[i].fn_hash == h && r->r_fneg[i].fn_at_ms != 0 &&
            repl__now(r) - r->r_fneg[i].fn_at_ms < REPL_FETCH_NEG_MS)
            return; /* every peer just said no: not again so soon */
    }
    for (size_t i = 0; i < r->r_nfetch; i++) {
        rfetch_t *f = &r->r_fetch[i];

        if (f->f_state != F_FREE && f->f_hash == h && f->f_klen == klen &&
            memcmp(f->f_key, key, klen) == 0)
            return; /* in flight */
    }
    for (rp = r->r_rq; rp != NULL; rp = rp->rr_next) {
        if (rp->rr_hash == h && rp->rr_klen == klen && memcmp(rp->rr_key, key, klen) == 0) {
            if (store_version_cmp(min, &rp->rr_min) > 0)
                rp->rr_min = *min;
            return;
        }
    }
    if (r->r_rq_n >= REPL_REPAIRQ_MAX)
        return; /* the sweep finds it later */
    rp = malloc(sizeof(*rp));
    if (rp == NULL)
        return;
    memcpy(rp->rr_key, key, klen);
    rp->rr_klen = klen;
    rp->rr_min = *min;
    rp->rr_hash = h;
    rp->rr_next = NULL;
    if (r->r_rq_tail != NULL)
        r->r_rq_tail->rr_next = rp;
    else
        r->r_rq = rp;
    r->r_rq_tail = rp;
    r->r_rq_n++;
}

/* ------------------------------------------------------------- jobs */

static void fb_run(rjob_t *j)
{
    fjob_t *fb = (fjob_t *)j;
    store_t *s = j->j_r->r_store;
    const store_stat_t *h = &fb->fb_hdr;
    store_put_opts_t po;
    store_del_opts_t dopt;

    switch (fb->fb_kind) {
    case FB_BEGIN:
        repl__replica_opts(&po, h, 0, 0); /* no log identity: a repair */
        fb->fb_rc = store_put_begin(s, h->st_key, h->st_klen, &po, &fb->fb_w);
        break;
    case FB_DELETE:
        memset(&dopt, 0, sizeof(dopt));
        dopt.do_mode = STORE_PUT_REPLICA;
        dopt.do_version = h->st_version;
        fb->fb_rc = store_delete_ex(s, h->st_key, h->st_klen, &dopt, NULL);
        break;
    case FB_WRITE:
        fb->fb_rc = store_put_write(fb->fb_w, fb->fb_chunk->rc_data, fb->fb_chunk->rc_len);
        break;
    case FB_FINISH:
        fb->fb_rc = store_put_finish(fb->fb_w, NULL);
        fb->fb_w = NULL;
        break;
    case FB_ABORT:
        store_put_abort(fb->fb_w);
        fb->fb_w = NULL;
        break;
    }
}

static void slot_free(repl_t *r, rfetch_t *f)
{
    int settled = f->f_state != F_FREE;

    chunks_free(r, f, 1);
    f->f_state = F_FREE;
    f->f_peer = NULL;
    f->f_w = NULL;
    f->f_ended = 0;
    if (settled && !r->r_stopping)
        repl__rx_fetch_settled(r, f->f_key, f->f_klen);
}

/* Leaves the current peer (telling it when it still streams) for the next. */
static void next_peer(repl_t *r, rfetch_t *f, int cancel)
{
    if (cancel && f->f_peer != NULL && f->f_peer->p_up && f->f_peer->p_session == f->f_session)
        repl__send_id(f->f_peer, "fcancel", f->f_id);
    chunks_free(r, f, 1);
    f->f_ended = 0;
    f->f_state = F_PICK;
}

static void done_ok(repl_t *r, rfetch_t *f, const char *what)
{
    r->r_m.rm_repairs_done++;
    fetch_log(f, "repl.repair.done", what, 0);
    slot_free(r, f);
}

static void fb_done(rjob_t *j)
{
    fjob_t *fb = (fjob_t *)j;
    repl_t *r = j->j_r;
    rfetch_t *f = &r->r_fetch[fb->fb_slot];
    int live = f->f_id == fb->fb_id && f->f_peer != NULL && f->f_peer->p_up &&
               f->f_peer->p_session == f->f_session && !r->r_stopping;

    f->f_busy = 0;
    switch (fb->fb_kind) {
    case FB_BEGIN:
        if (fb->fb_rc == 0) {
            f->f_w = fb->fb_w; /* aborted by the pump unless receiving */
            if (live) {
                f->f_state = F_RECV;
                f->f_progress_ms = repl__now(r);
                repl__send_id(f->f_peer, "fgo", f->f_id);
            } else if (f->f_state == F_BEGIN) {
                f->f_state = F_PICK;
            }
            break;
        }
        if (f->f_peer != NULL && f->f_peer->p_up && f->f_peer->p_session == f->f_session)
            repl__send_id(f->f_peer, "fcancel", f->f_id);
        if (fb->fb_rc == CAIRN_EEXIST || fb->fb_rc == CAIRN_ESTALE || fb->fb_rc == CAIRN_EBUSY) {
            done_ok(r, f, fb->fb_rc == CAIRN_EBUSY ? "being_delivered" : "already_here");
        } else {
            fetch_log(f, "repl.repair.begin_failed", "begin", fb->fb_rc);
            f->f_state = F_PICK;
        }
        break;
    case FB_DELETE:
        if (fb->fb_rc == 0 || fb->fb_rc == CAIRN_EEXIST || fb->fb_rc == CAIRN_ESTALE) {
            done_ok(r, f, "deleted");
        } else {
            fetch_log(f, "repl.repair.delete_failed", "delete", fb->fb_rc);
            f->f_state = F_PICK;
        }
        break;
    case FB_WRITE:
        if (fb->fb_peer->p_up && fb->fb_peer->p_session == fb->fb_session)
            repl__rx_credit(fb->fb_peer, fb->fb_chunk->rc_len);
        if (fb->fb_rc == 0) {
            f->f_written += fb->fb_chunk->rc_len;
        } else if (f->f_id == fb->fb_id && f->f_state == F_RECV) {
            fetch_log(f, "repl.repair.write_failed", "write", fb->fb_rc);
            next_peer(r, f, 1);
        }
        free(fb->fb_chunk);
        break;
    case FB_FINISH:
        f->f_w = NULL;
        if (fb->fb_rc == 0 || fb->fb_rc == CAIRN_ESTALE) {
            done_ok(r, f, fb->fb_rc == 0 ? "fetched" : "superseded");
        } else {
            fetch_log(f, "repl.repair.finish_failed", "finish", fb->fb_rc);
            next_peer(r, f, 0);
        }
        break;
    case FB_ABORT:
        f->f_w = NULL;
        break;
    }
    free(fb);
    repl__fetch_pump(r);
}

static void fb_submit(repl_t *r, size_t slot, fbkind_t kind)
{
    rfetch_t *f = &r->r_fetch[slot];
    fjob_t *fb = calloc(1, sizeof(*fb));

    if (fb == NULL)
        return; /* retried by the next pump */
    fb->fb_slot = slot;
    fb->fb_id = f->f_id;
    fb->fb_kind = kind;
    fb->fb_w = f->f_w;
    fb->fb_hdr = f->f_hdr;
    if (kind == FB_WRITE) {
        fb->fb_peer = f->f_peer;
        fb->fb_session = f->f_session;
        fb->fb_chunk = f->f_chunks;
        f->f_chunks = fb->fb_chunk->rc_next;
        if (f->f_chunks == NULL)
            f->f_chunks_tail = NULL;
    }
    if (kind == FB_FINISH || kind == FB_ABORT)
        f->f_w = NULL;
    f->f_busy = 1;
    repl__job_submit(r, &fb->fb_job, fb_run, fb_done);
}

/* ------------------------------------------------------------ pumping */

/* Asks the next untried up peer; 0 when asked, CAIRN_EUNAVAIL when none. */
static int ask(repl_t *r, rfetch_t *f)
{
    for (size_t k = 0; k < r->r_npeers; k++) {
        size_t i = (r->r_fetch_rr + k) % r->r_npeers;
        psync_t *p = &r->r_peers[i];
        mmsg_t m;

        if (!p->p_up || (f->f_tried[i / 8] & (1u << (i % 8))))
            continue;
        f->f_tried[i / 8] |= (uint8_t)(1u << (i % 8));
        r->r_fetch_rr = (i + 1) % r->r_npeers;
        f->f_id = ++r->r_fetch_id;
        f->f_peer = p;
        f->f_session = p->p_session;
        repl__msg_init(&m, "fetch");
        repl__msg_u64(&m, "id", f->f_id);
        repl__msg_bin(&m, "k", f->f_key, f->f_klen);
        repl__msg_u64(&m, "v", f->f_min.sv_hlc);
        repl__msg_u64(&m, "vo", f->f_min.sv_origin);
        repl__send_ctl(p, &m);
        f->f_state = F_ASKED;
        f->f_progress_ms = repl__now(r);
        f->f_qoff = f->f_written = 0;
        return 0;
    }
    return CAIRN_EUNAVAIL;
}

static int any_untried_up(const repl_t *r, const rfetch_t *f)
{
    for (size_t i = 0; i < r->r_npeers; i++) {
        if (r->r_peers[i].p_up && !(f->f_tried[i / 8] & (1u << (i % 8))))
            return 1;
    }
    return 0;
}

static void start_one(repl_t *r, rfetch_t *f)
{
    rrepair_t *rp = r->r_rq;

    r->r_rq = rp->rr_next;
    if (r->r_rq == NULL)
        r->r_rq_tail = NULL;
    r->r_rq_n--;
    memcpy(f->f_key, rp->rr_key, rp->rr_klen);
    f->f_klen = rp->rr_klen;
    f->f_hash = rp->rr_hash;
    f->f_min = rp->rr_min;
    free(rp);
    memset(f->f_tried, 0, r->r_npeers / 8 + 1);
    f->f_state = F_PICK;
    f->f_peer = NULL;
    f->f_started_ms = repl__now(r);
    f->f_progress_ms = f->f_started_ms;
}

/* One slot's next step. */
static void pump_slot(repl_t *r, size_t i)
{
    rfetch_t *f = &r->r_fetch[i];

    if (f->f_busy)
        return;
    if (f->f_w != NULL && (f->f_state != F_RECV || r->r_stopping)) {
        fb_submit(r, i, FB_ABORT);
        return;
    }
    if (r->r_stopping) {
        if (f->f_state != F_FREE)
            slot_free(r, f);
        return;
    }
    switch (f->f_state) {
    case F_FREE:
        if (r->r_rq != NULL && r->r_running && repl__links_up(r))
            start_one(r, f);
        if (f->f_state != F_PICK)
            return;
        /* fall through */
    case F_PICK:
        if (ask(r, f) == 0)
            return;
        if (!any_untried_up(r, f)) {
            r->r_fneg[r->r_fneg_next].fn_hash = f->f_hash;
            r->r_fneg[r->r_fneg_next].fn_at_ms = repl__now(r);
            r->r_fneg_next = (r->r_fneg_next + 1) % REPL_FETCH_NEG;
            r->r_m.rm_repairs_failed++;
            fetch_log(f, "repl.repair.failed", "no_peer_has_it", 0);
            slot_free(r, f);
        }
        return;
    case F_RECV:
        if (f->f_chunks != NULL)
            fb_submit(r, i, FB_WRITE);
        else if (f->f_ended)
            fb_submit(r, i, FB_FINISH);
        return;
    default:
        return;
    }
}

void repl__fetch_pump(repl_t *r)
{
    uint64_t active = 0;

    if (r->r_fetch == NULL)
        return;
    for (size_t i = 0; i < r->r_nfetch; i++) {
        pump_slot(r, i);
        if (r->r_fetch[i].f_state != F_FREE)
            active++;
    }
    r->r_m.rm_fetches_active = active;
}

/* Fetches without progress move on; so do those of a peer gone quiet. */
void repl__fetch_tick(repl_t *r)
{
    uint64_t now = repl__now(r);

    for (size_t i = 0; i < r->r_nfetch; i++) {
        rfetch_t *f = &r->r_fetch[i];

        if (f->f_busy || (f->f_state != F_ASKED && f->f_state != F_RECV))
            continue;
        if (now - f->f_progress_ms < r->r_tun.st_fetch_timeout_ms)
            continue;
        fetch_log(f, "repl.repair.timeout", f->f_state == F_ASKED ? "answer" : "bytes",
                  CAIRN_ETIMEDOUT);
        next_peer(r, f, 1);
    }
    repl__fetch_pump(r);
}

void repl__fetch_on_down(repl_t *r, psync_t *p)
{
    for (size_t i = 0; i < r->r_nfetch; i++) {
        rfetch_t *f = &r->r_fetch[i];

        if (f->f_peer != p || f->f_busy)
            continue;
        if (f->f_state == F_ASKED || f->f_state == F_RECV) {
            chunks_free(r, f, 0);
            f->f_ended = 0;
            f->f_state = F_PICK;
        }
    }
    repl__fetch_pump(r);
}

unsigned repl__fetch_asking(const repl_t *r, const psync_t *p)
{
    unsigned n = 0;

    for (size_t i = 0; i < r->r_nfetch; i++) {
        if (r->r_fetch[i].f_state != F_FREE && r->r_fetch[i].f_peer == p)
            n++;
    }
    return n;
}

/* ------------------------------------------------------------ frames */

/* The fetch of this link with this id, in the given state; NULL if none. */
static rfetch_t *find(repl_t *r, psync_t *p, uint64_t id, fstate_t state, size_t *slot)
{
    for (size_t i = 0; i < r->r_nfetch; i++) {
        rfetch_t *f = &r->r_fetch[i];

        if (f->f_state == state && f->f_peer == p && f->f_id == id &&
            f->f_session == p->p_session) {
            *slot = i;
            return f;
        }
    }
    return NULL;
}

static int on_fhdr(repl_t *r, psync_t *p, const msgpack_object *msg, uint64_t id, int del)
{
    store_stat_t *h;
    rfetch_t *f;
    const uint8_t *hp;
    const char *ct;
    size_t n, slot;
    int rc;

    f = find(r, p, id, F_ASKED, &slot);
    if (f == NULL)
        return 0;
    h = &f->f_hdr;
    memset(h, 0, sizeof(*h));
    rc = repl__parse_version(msg, "v", "vo", &h->st_version);
    if (rc == 0 && !del) {
        rc = pack_get_u64(msg, "z", (uint64_t)INT64_MAX, &h->st_size);
        if (rc == 0)
            rc = pack_get_bin(msg, "h", STORE_HASH_LEN, STORE_HASH_LEN, &hp, &n);
        if (rc == 0)
            memcpy(h->st_hash, hp, STORE_HASH_LEN);
        if (rc == 0)
            rc = pack_get_str(msg, "ct", STORE_CTYPE_MAX, &ct, &n);
        if (rc == 0 && memchr(ct, '\0', n) != NULL)
            rc = CAIRN_EPROTO;
        if (rc == 0)
            memcpy(h->st_ctype, ct, n);
    }
    if (rc < 0)
        return CAIRN_EPROTO;
    memcpy(h->st_key, f->f_key, f->f_klen);
    h->st_klen = f->f_klen;
    if (store_version_cmp(&h->st_version, &f->f_min) < 0 ||
        repl__version_too_new(r, &h->st_version)) {
        if (!del)
            repl__send_id(p, "fcancel", id);
        next_peer(r, f, 0);
        repl__fetch_pump(r);
        return 0;
    }
    f->f_del = del;
    f->f_state = F_BEGIN;
    f->f_progress_ms = repl__now(r);
    fb_submit(r, slot, del ? FB_DELETE : FB_BEGIN);
    return 0;
}

static int on_fdat(repl_t *r, psync_t *p, const msgpack_object *msg, uint64_t id)
{
    rfetch_t *f;
    const uint8_t *d;
    uint64_t off;
    size_t n, slot;
    int rc;

    rc = repl__parse_data(msg, &off, &d, &n);
    if (rc < 0)
        return rc;
    f = find(r, p, id, F_RECV, &slot);
    if (f == NULL || f->f_ended) {
        repl__rx_credit(p, n); /* stale: discarded */
        return 0;
    }
    if (off != f->f_qoff || n > f->f_hdr.st_size - off)
        return CAIRN_EPROTO;
    rc = repl__chunk_append(&f->f_chunks, &f->f_chunks_tail, off, d, n);
    if (rc < 0)
        return rc;
    f->f_qoff += n;
    f->f_progress_ms = repl__now(r);
    r->r_m.rm_blob_bytes_received += n;
    repl__fetch_pump(r);
    return 0;
}

int repl__fetch_on_frame(psync_t *p, const char *type, const msgpack_object *msg)
{
    repl_t *r = p->p_r;
    rfetch_t *f;
    uint64_t id;
    size_t slot;
    int rc;

    rc = repl__parse_id(msg, &id);
    if (rc < 0)
        return rc;
    if (strcmp(type, "fhdr") == 0)
        return on_fhdr(r, p, msg, id, 0);
    if (strcmp(type, "fdel") == 0)
        return on_fhdr(r, p, msg, id, 1);
    if (strcmp(type, "fdat") == 0)
        return on_fdat(r, p, msg, id);
    if (strcmp(type, "fno") == 0) {
        f = find(r, p, id, F_ASKED, &slot);
        if (f != NULL) {
            next_peer(r, f, 0);
            repl__fetch_pump(r);
        }
        return 0;
    }
    if (strcmp(type, "fend") == 0 || strcmp(type, "fabort") == 0) {
        f = find(r, p, id, F_RECV, &slot);
        if (f == NULL)
            return 0;
        if (type[1] == 'a') {
            fetch_log(f, "repl.repair.peer_aborted", "damaged_at_peer", 0);
            next_peer(r, f, 0);
        } else if (f->f_qoff != f->f_hdr.st_size) {
            return CAIRN_EPROTO;
        } else {
            f->f_ended = 1;
            f->f_progress_ms = repl__now(r);
        }
        repl__fetch_pump(r);
        return 0;
    }
    return CAIRN_EPROTO;
}
