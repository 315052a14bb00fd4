/*
 * fetch_serve.c -- answering a peer's read-through fetch, per link.
 *
 * {"t":"fetch","id","k","v","vo"} asks for key at version (v, vo) or a
 * newer one. This side answers, one request at a time per link (up to
 * REPL_SERVEQ_MAX more queued, beyond that "fno"):
 *   - fhdr {"id","v","vo","z","h","ct"} when the current record here is
 *     that version or newer, COMPLETE and whole; after the fetcher's "fgo",
 *     "fdat" {"id","off","d"} frames (flow-controlled like "dat"), hashed
 *     while read, then "fend" -- or "fabort" when the local copy fails its
 *     hash (it is never vouched for, and never offered again);
 *   - fdel {"id","v","vo"} when a tombstone at or above that version is here;
 *   - fno {"id"} otherwise (absent, older, still arriving, damaged, busy).
 * "fcancel" {"id"} withdraws a request.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/sync_int.h"

typedef enum { FJ_OPEN = 1, FJ_CHUNK, FJ_CLOSE } fjkind_t;

typedef struct fsjob {
    rjob_t fj_job;
    psync_t *fj_p;
    fjkind_t fj_kind;
    uint64_t fj_session;
    uint64_t fj_id;
    bsrc_t *fj_src;
    fsreq_t fj_req;
    size_t fj_chunk;
    int fj_rc;
} fsjob_t;

static void fs_run(rjob_t *j)
{
    fsjob_t *fj = (fsjob_t *)j;

    switch (fj->fj_kind) {
    case FJ_OPEN:
        fj->fj_rc = repl__bsrc_open(j->j_r->r_store, fj->fj_src, fj->fj_req.fq_key,
                                    fj->fj_req.fq_klen, NULL, &fj->fj_req.fq_min, fj->fj_chunk);
        break;
    case FJ_CHUNK:
        fj->fj_rc = repl__bsrc_read(fj->fj_src);
        break;
    case FJ_CLOSE:
        repl__bsrc_close(fj->fj_src);
        free(fj->fj_src);
        break;
    }
}

/* The request being served is over (answered or given up). */
static void serve_end(psync_t *p)
{
    free(p->p_fs_cur);
    p->p_fs_cur = NULL;
    p->p_fs = FS_NONE;
    p->p_fs_chunk = 0;
}

static void send_version(psync_t *p, const char *type, uint64_t id, const store_stat_t *st,
                         int full)
{
    mmsg_t m;

    repl__msg_init(&m, type);
    repl__msg_u64(&m, "id", id);
    repl__msg_u64(&m, "v", st->st_version.sv_hlc);
    repl__msg_u64(&m, "vo", st->st_version.sv_origin);
    if (full) {
        repl__msg_u64(&m, "z", st->st_size);
        repl__msg_bin(&m, "h", st->st_hash, STORE_HASH_LEN);
        repl__msg_str(&m, "ct", st->st_ctype, strlen(st->st_ctype));
    }
    repl__send_ctl(p, &m);
}

/* The open finished: answer fhdr / fdel / fno, if still wanted. */
static void open_done(psync_t *p, fsjob_t *fj)
{
    bsrc_t *src = fj->fj_src;
    int current = p->p_up && p->p_session == fj->fj_session && p->p_fs == FS_OPENING &&
                  p->p_fs_cur != NULL && p->p_fs_cur->fq_id == fj->fj_id;

    if (fj->fj_rc == BSRC_OK) {
        p->p_fs_src = src; /* closed by the pump unless streamed */
        src = NULL;
    }
    if (!current) {
        free(src);
        return;
    }
    if (fj->fj_rc == BSRC_OK) {
        const store_stat_t *st = &p->p_fs_src->bs_st;

        if (repl__damaged_has(p->p_r, st->st_key, st->st_klen, &st->st_version)) {
            repl__send_id(p, "fno", fj->fj_id);
            serve_end(p);
        } else {
            send_version(p, "fhdr", fj->fj_id, st, 1);
            p->p_fs = FS_HDR;
        }
    } else if (fj->fj_rc == BSRC_DELETED) {
        send_version(p, "fdel", fj->fj_id, &src->bs_st, 0);
        serve_end(p);
    } else {
        if (fj->fj_rc == CAIRN_ECORRUPT) { /* an inline copy failing its hash */
            p->p_r->r_m.rm_damaged_copies++;
            repl__damaged_add(p->p_r, src->bs_st.st_key, src->bs_st.st_klen,
                              &src->bs_st.st_version);
        }
        repl__send_id(p, "fno", fj->fj_id);
        serve_end(p);
    }
    free(src);
}

static void fs_done(rjob_t *j)
{
    fsjob_t *fj = (fsjob_t *)j;
    psync_t *p = fj->fj_p;

    p->p_fs_busy = 0;
    switch (fj->fj_kind) {
    case FJ_OPEN:
        open_done(p, fj);
        break;
    case FJ_CHUNK:
        if (p->p_up && p->p_session == fj->fj_session && p->p_fs == FS_STREAMING &&
            p->p_fs_cur != NULL && p->p_fs_cur->fq_id == fj->fj_id) {
            if (fj->fj_rc < 0) {
                p->p_fs_src->bs_eof = 1; /* ends in the hash check: fabort */
                p->p_fs_src->bs_len = 0;
            }
            p->p_fs_chunk = p->p_fs_src->bs_len > 0;
        }
        break;
    case FJ_CLOSE:
        break;
    }
    free(fj);
    repl__fs_pump(p);
}

static fsjob_t *fs_submit(psync_t *p, fjkind_t kind, bsrc_t *src)
{
    fsjob_t *fj = calloc(1, sizeof(*fj));

    if (fj == NULL)
        return NULL;
    fj->fj_p = p;
    fj->fj_kind = kind;
    fj->fj_session = p->p_session;
    fj->fj_src = src;
    fj->fj_chunk = p->p_r->r_tun.st_chunk;
    if (p->p_fs_cur != NULL) {
        fj->fj_id = p->p_fs_cur->fq_id;
        fj->fj_req = *p->p_fs_cur;
    }
    p->p_fs_busy = 1;
    repl__job_submit(p->p_r, &fj->fj_job, fs_run, fs_done);
    return fj;
}

/* Sends the chunk read, reads the next, or ends with fend / fabort. */
static void stream_step(psync_t *p)
{
    repl_t *r = p->p_r;
    bsrc_t *src = p->p_fs_src;
    uint64_t id = p->p_fs_cur->fq_id;
    mmsg_t m;
    int rc;

    if (p->p_fs_busy)
        return; /* a chunk is being read: the source belongs to the job */
    if (p->p_fs_chunk) {
        repl__msg_init(&m, "fdat");
        repl__msg_u64(&m, "id", id);
        repl__msg_u64(&m, "off", src->bs_off - src->bs_len);
        repl__msg_bin(&m, "d", src->bs_buf, src->bs_len);
        rc = repl__send(p, &m, src->bs_len, 0);
        if (rc < 0)
            return; /* EBUSY: on_writable */
        p->p_fs_chunk = 0;
        r->r_m.rm_blob_bytes_sent += src->bs_len;
    }
    if (!src->bs_eof) {
        (void)fs_submit(p, FJ_CHUNK, src);
        return;
    }
    if (repl__bsrc_verify(src) == 0) {
        repl__send_id(p, "fend", id);
        r->r_m.rm_fetches_served++;
    } else {
        LOG_ERROR("repl.serve.damaged",
                  "peer=%u size=%" PRIu64 " read=%" PRIu64
                  " note=\"local copy fails its hash; fetch aborted\"",
                  (unsigned)p->p_id, src->bs_st.st_size, src->bs_off);
        r->r_m.rm_damaged_copies++;
        repl__damaged_add(r, src->bs_st.st_key, src->bs_st.st_klen, &src->bs_st.st_version);
        repl__send_id(p, "fabort", id);
    }
    serve_end(p);
}

void repl__fs_pump(psync_t *p)
{
    fsreq_t *q;

    if (!p->p_fs_busy && p->p_fs_src != NULL && (p->p_fs == FS_NONE || !p->p_up)) {
        bsrc_t *src = p->p_fs_src;

        p->p_fs_src = NULL;
        if (fs_submit(p, FJ_CLOSE, src) == NULL)
            p->p_fs_src = src;
        return;
    }
    if (!p->p_up || p->p_r->r_stopping || p->p_fs_busy)
        return;
    if (p->p_fs == FS_STREAMING && p->p_fs_src != NULL) {
        stream_step(p);
        return;
    }
    if (p->p_fs != FS_NONE || p->p_fsq == NULL || p->p_fs_src != NULL)
        return;
    q = p->p_fsq;
    p->p_fsq = q->fq_next;
    if (p->p_fsq == NULL)
        p->p_fsq_tail = NULL;
    p->p_fsq_n--;
    p->p_fs_cur = q;
    p->p_fs = FS_OPENING;
    {
        bsrc_t *src = calloc(1, sizeof(*src));

        if (src == NULL || fs_submit(p, FJ_OPEN, src) == NULL) {
            free(src);
            repl__send_id(p, "fno", q->fq_id);
            serve_end(p);
        }
    }
}

static int on_fetch(psync_t *p, const msgpack_object *msg)
{
    fsreq_t *q;
    const uint8_t *k;
    size_t klen;
    uint64_t id;
    int rc;

    rc = repl__parse_id(msg, &id);
    if (rc < 0)
        return rc;
    if (p->p_fsq_n >= REPL_SERVEQ_MAX) {
        repl__send_id(p, "fno", id);
        return 0;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return CAIRN_ENOMEM;
    q->fq_id = id;
    rc = pack_get_bin(msg, "k", STORE_KEY_MAX, 0, &k, &klen);
    if (rc < 0 || klen == 0 || memchr(k, '\0', klen) != NULL)
        rc = CAIRN_EPROTO;
    else
        rc = repl__parse_version(msg, "v", "vo", &q->fq_min);
    if (rc < 0) {
        free(q);
        return CAIRN_EPROTO;
    }
    memcpy(q->fq_key, k, klen);
    q->fq_klen = klen;
    if (p->p_fsq_tail != NULL)
        p->p_fsq_tail->fq_next = q;
    else
        p->p_fsq = q;
    p->p_fsq_tail = q;
    p->p_fsq_n++;
    repl__fs_pump(p);
    return 0;
}

int repl__fs_on_frame(psync_t *p, const char *type, const msgpack_object *msg)
{
    uint64_t id;
    int rc;

    if (strcmp(type, "fetch") == 0)
        return on_fetch(p, msg);
    rc = repl__parse_id(msg, &id);
    if (rc < 0)
        return rc;
    if (p->p_fs_cur == NULL || p->p_fs_cur->fq_id != id) {
        /* fcancel of a queued request: drop it */
        fsreq_t **pp = &p->p_fsq;

        if (strcmp(type, "fcancel") != 0)
            return 0;
        p->p_fsq_tail = NULL;
        while (*pp != NULL) {
            fsreq_t *q = *pp;

            if (q->fq_id == id) {
                *pp = q->fq_next;
                p->p_fsq_n--;
                free(q);
            } else {
                p->p_fsq_tail = q;
                pp = &q->fq_next;
            }
        }
        return 0;
    }
    if (strcmp(type, "fgo") == 0) {
        if (p->p_fs == FS_HDR)
            p->p_fs = FS_STREAMING;
    } else {
        serve_end(p); /* fcancel: the pump closes the source (an open in flight
                       * finds its request gone) */
    }
    repl__fs_pump(p);
    return 0;
}

void repl__fs_on_down(psync_t *p)
{
    fsreq_t *q = p->p_fsq;

    while (q != NULL) {
        fsreq_t *next = q->fq_next;

        free(q);
        q = next;
    }
    p->p_fsq = p->p_fsq_tail = NULL;
    p->p_fsq_n = 0;
    serve_end(p);
    repl__fs_pump(p);
}
