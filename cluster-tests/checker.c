/*
 * checker.c -- the invariants over a history (see checker.h and
 * docs/harness.md for the exact rules).
 */
#include "cluster-tests/checker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    const history_t *cx_h;
    const check_opts_t *cx_o;
    size_t *cx_idx; /* op indices sorted by key, then start time */
    size_t cx_nidx;
    size_t *cx_ev; /* event indices sorted by time */
    int cx_have_final;
    int cx_skew; /* a clock skew was injected: real-time order says less */
    int cx_n;    /* cluster size */
} ctx_t;

/* A run of ops on one key: cx_idx[kg_lo .. kg_hi). */
typedef struct kgroup {
    size_t kg_lo, kg_hi;
} kgroup_t;

void check_opts_default(check_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->co_grace_ms = 6000;
}

/* ---------------------------------------------------------------- results */

check_result_t *check_report_add(check_report_t *rep, const char *name, const char *title,
                                 int enforced)
{
    check_result_t *c;

    if (rep->ck_n >= CHECK_MAX)
        return NULL;
    c = &rep->ck_checks[rep->ck_n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->cr_name, sizeof(c->cr_name), "%s", name);
    snprintf(c->cr_title, sizeof(c->cr_title), "%s", title);
    c->cr_enforced = enforced;
    return c;
}

void check_violation(check_result_t *c, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    c->cr_violations++;
    if (c->cr_nmsgs >= CHECK_MAX_MSGS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->cr_msgs[c->cr_nmsgs] = strdup(msg);
    if (c->cr_msgs[c->cr_nmsgs] != NULL)
        c->cr_nmsgs++;
}

void check_stat(check_result_t *c, const char *name, double v)
{
    for (int i = 0; i < c->cr_nstats; i++) {
        if (strcmp(c->cr_stat_names[i], name) == 0) {
            c->cr_stat_vals[i] = v;
            return;
        }
    }
    if (c->cr_nstats >= CHECK_MAX_STATS)
        return;
    snprintf(c->cr_stat_names[c->cr_nstats], sizeof(c->cr_stat_names[0]), "%s", name);
    c->cr_stat_vals[c->cr_nstats++] = v;
}

int check_report_ok(const check_report_t *rep)
{
    for (int i = 0; i < rep->ck_n; i++) {
        if (rep->ck_checks[i].cr_enforced && rep->ck_checks[i].cr_violations > 0)
            return 0;
    }
    return 1;
}

const check_result_t *check_report_find(const check_report_t *rep, const char *name)
{
    for (int i = 0; i < rep->ck_n; i++) {
        if (strcmp(rep->ck_checks[i].cr_name, name) == 0)
            return &rep->ck_checks[i];
    }
    return NULL;
}

void check_report_free(check_report_t *rep)
{
    for (int i = 0; i < rep->ck_n; i++) {
        for (int j = 0; j < rep->ck_checks[i].cr_nmsgs; j++)
            free(rep->ck_checks[i].cr_msgs[j]);
    }
    memset(rep, 0, sizeof(*rep));
}

/* ---------------------------------------------------------------- helpers */

static const hop_t *op_at(const ctx_t *cx, size_t i)
{
    return &cx->cx_h->hi_ops[cx->cx_idx[i]];
}

static int cmp_ops(const void *a, const void *b, void *arg)
{
    const history_t *h = arg;
    const hop_t *x = &h->hi_ops[*(const size_t *)a];
    const hop_t *y = &h->hi_ops[*(const size_t *)b];
    int c = strcmp(x->ho_key, y->ho_key);

    if (c != 0)
        return c;
    if (x->ho_start_ms != y->ho_start_ms)
        return x->ho_start_ms < y->ho_start_ms ? -1 : 1;
    return x->ho_id < y->ho_id ? -1 : (x->ho_id > y->ho_id);
}

static int cmp_events(const void *a, const void *b, void *arg)
{
    const history_t *h = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t x = h->hi_events[i].he_t_ms, y = h->hi_events[j].he_t_ms;

    if (x != y)
        return x < y ? -1 : 1;
    return i < j ? -1 : (i > j); /* stable: recording order */
}

static const hevent_t *ev_at(const ctx_t *cx, size_t i)
{
    return &cx->cx_h->hi_events[cx->cx_ev[i]];
}

static int is_exit_event(const char *k)
{
    return strcmp(k, "kill") == 0 || strcmp(k, "crash") == 0 || strcmp(k, "died") == 0 ||
           strcmp(k, "term") == 0 || strcmp(k, "exit") == 0;
}

/* Applies one event to a node's (up, paused) state. */
static void node_apply(const hevent_t *e, int *up, int *paused)
{
    if (strcmp(e->he_kind, "ready") == 0) {
        *up = 1;
        *paused = 0;
    } else if (is_exit_event(e->he_kind)) {
        *up = 0;
        *paused = 0;
    } else if (strcmp(e->he_kind, "stop") == 0) {
        *paused = 1;
    } else if (strcmp(e->he_kind, "cont") == 0) {
        *paused = 0;
    }
}

/* 1 if node was up and not paused during all of [t0, t1]. */
static int node_ok_during(const ctx_t *cx, int node, int64_t t0, int64_t t1)
{
    int up = 0, paused = 0;
    size_t i;

    for (i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = ev_at(cx, i);
        if (e->he_t_ms > t0)
            break;
        if (e->he_node == node)
            node_apply(e, &up, &paused);
    }
    if (!up || paused)
        return 0;
    for (; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = ev_at(cx, i);
        if (e->he_t_ms > t1)
            break;
        if (e->he_node == node) {
            node_apply(e, &up, &paused);
            if (!up || paused)
                return 0;
        }
    }
    return 1;
}

/* 1 if no link was cut, slowed or delayed during [t0, t1] ("net" events). */
static int net_ok_during(const ctx_t *cx, int64_t t0, int64_t t1)
{
    int impaired = 0;

    for (size_t i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = ev_at(cx, i);
        if (e->he_t_ms > t1)
            break;
        if (strcmp(e->he_kind, "net") != 0)
            continue;
        impaired = e->he_flag != 0;
        if (e->he_t_ms >= t0 && impaired)
            return 0;
    }
    return !impaired;
}

/* 1 if the node's disk lost the copy of key it held (a "damage" event) and
 * no other node could give it back. */
static int damage_excused(const ctx_t *cx, int node, const char *key)
{
    if (cx->cx_n > 1)
        return 0;
    for (size_t i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = &cx->cx_h->hi_events[i];
        if (strcmp(e->he_kind, "damage") == 0 && e->he_node == node && e->he_key != NULL &&
            strcmp(e->he_key, key) == 0)
            return 1;
    }
    return 0;
}

static int damage_count(const ctx_t *cx, int node)
{
    int n = 0;

    for (size_t i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = &cx->cx_h->hi_events[i];
        if (strcmp(e->he_kind, "damage") == 0 && e->he_node == node)
            n++;
    }
    return n;
}

static int is_damaged_file(const ctx_t *cx, int node, uint64_t id)
{
    for (size_t i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = &cx->cx_h->hi_events[i];
        if (strcmp(e->he_kind, "damage") == 0 && e->he_node == node && e->he_file_id == id)
            return 1;
    }
    return 0;
}

static int is_acked_put(const hop_t *o)
{
    return o->ho_kind == OP_PUT && o->ho_result == RES_OK && !o->ho_final;
}

/* A write the node certainly did not apply: refused before any effect. */
static int definitely_failed(const hop_t *o)
{
    return o->ho_result == RES_NO_SPACE || o->ho_result == RES_REFUSED ||
           o->ho_result == RES_CONN_ERROR || o->ho_result == RES_SERVER_ERROR;
}

/*
 * 1 if a delete of this key can explain a not-found after write w: an
 * acknowledged delete with a newer version, or a delete whose version is
 * unknown and that did not end before w started (with a clock skew
 * injected, real-time order proves nothing, so any possibly applied one).
 */
static int delete_explains(const ctx_t *cx, const kgroup_t *g, const hop_t *w)
{
    for (size_t i = g->kg_lo; i < g->kg_hi; i++) {
        const hop_t *d = op_at(cx, i);
        if (d->ho_kind != OP_DELETE || d->ho_final)
            continue;
        if (d->ho_result == RES_OK && d->ho_version.hv_set && w->ho_version.hv_set) {
            if (hver_cmp(&d->ho_version, &w->ho_version) > 0)
                return 1;
            continue;
        }
        if (definitely_failed(d) || d->ho_result == RES_NOT_FOUND)
            continue;
        if (d->ho_end_ms > w->ho_start_ms || cx->cx_skew)
            return 1;
    }
    return 0;
}

/* The last final-phase GET of the group on node, or NULL. */
static const hop_t *final_read(const ctx_t *cx, const kgroup_t *g, int node)
{
    const hop_t *f = NULL;

    for (size_t i = g->kg_lo; i < g->kg_hi; i++) {
        const hop_t *o = op_at(cx, i);
        if (o->ho_final && o->ho_kind == OP_GET && o->ho_node == node)
            f = o;
    }
    return f;
}

static const hevent_t *find_event(const ctx_t *cx, const char *kind, int64_t after)
{
    for (size_t i = 0; i < cx->cx_h->hi_nevents; i++) {
        const hevent_t *e = ev_at(cx, i);
        if (e->he_t_ms >= after && strcmp(e->he_kind, kind) == 0)
            return e;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : (x > y);
}

static void latency_stats(check_result_t *c, const char *prefix, int64_t *v, size_t n)
{
    char name[32];

    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), cmp_i64);
    snprintf(name, sizeof(name), "%s_p50_ms", prefix);
    check_stat(c, name, (double)v[n / 2]);
    snprintf(name, sizeof(name), "%s_p99_ms", prefix);
    check_stat(c, name, (double)v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
    snprintf(name, sizeof(name), "%s_max_ms", prefix);
    check_stat(c, name, (double)v[n - 1]);
}

/* ------------------------------------------------------------- invariant 2 */

/*
 * reads_exact: every successful GET delivered bytes whose hash equals the
 * ETag it was served with and the content of one write of that key which had
 * started before the read ended and was not refused; a version header, when
 * both sides have one, must be that write's version. HEAD: the ETag must be
 * one written to the key.
 */
static void check_reads_exact(const ctx_t *cx, const kgroup_t *g, check_result_t *c)
{
    for (size_t i = g->kg_lo; i < g->kg_hi; i++) {
        const hop_t *r = op_at(cx, i);
        const char *hash;
        int matches = 0, started = 0, accepted = 0, version_ok = 0;

        if ((r->ho_kind != OP_GET && r->ho_kind != OP_HEAD) || r->ho_result != RES_OK)
            continue;
        c->cr_checked++;
        hash = r->ho_kind == OP_GET ? r->ho_hash : r->ho_etag;
        if (r->ho_kind == OP_GET && hash[0] == '\0') {
            if (!r->ho_external)
                check_violation(
                    c, "op %" PRIu64 ": GET %s on node %d succeeded without a content hash",
                    r->ho_id, r->ho_key, r->ho_node);
            continue;
        }
        if (hash[0] == '\0')
            continue;
        if (r->ho_kind == OP_GET && r->ho_etag[0] != '\0' && strcmp(r->ho_etag, r->ho_hash) != 0) {
            check_violation(c,
                            "op %" PRIu64 ": GET %s on node %d: bytes hash %s but ETag %s "
                            "(torn or mixed content)",
                            r->ho_id, r->ho_key, r->ho_node, r->ho_hash, r->ho_etag);
            continue;
        }
        for (size_t j = g->kg_lo; j < g->kg_hi; j++) {
            const hop_t *w = op_at(cx, j);
            if (w->ho_kind != OP_PUT || strcmp(w->ho_hash, hash) != 0)
                continue;
            if (r->ho_kind == OP_GET && w->ho_size != r->ho_size)
                continue;
            matches++;
            if (w->ho_start_ms > r->ho_end_ms)
                continue;
            started++;
            if (definitely_failed(w))
                continue;
            accepted++;
            if (!r->ho_version.hv_set || !w->ho_version.hv_set ||
                hver_cmp(&r->ho_version, &w->ho_version) == 0)
                version_ok++;
        }
        if (matches == 0)
            check_violation(c,
                            "op %" PRIu64 ": %s %s on node %d returned %" PRIu64
                            " bytes (hash %s) that no write of this key produced",
                            r->ho_id, hop_kind_name(r->ho_kind), r->ho_key, r->ho_node, r->ho_size,
                            hash);
        else if (started == 0)
            check_violation(
                c, "op %" PRIu64 ": read of %s on node %d returned a write that had not started",
                r->ho_id, r->ho_key, r->ho_node);
        else if (accepted == 0)
            check_violation(c,
                            "op %" PRIu64 ": read of %s on node %d returned the content of a write "
                            "that was refused",
                            r->ho_id, r->ho_key, r->ho_node);
        else if (version_ok == 0) {
            char v[32];
            hver_fmt(&r->ho_version, v);
            check_violation(c,
                            "op %" PRIu64 ": read of %s on node %d: version %s does not belong to "
                            "these bytes",
                            r->ho_id, r->ho_key, r->ho_node, v);
        }
    }
}

/* ------------------------------------------------------------- invariant 1 */

/*
 * acked_writes_durable: after healing, on every node, the key's final read
 * returns an acknowledged write's version or a newer one (byte-exact when
 * it is the same version), or not-found explained by a delete; an
 * acknowledged delete is not undone by an older version.
 */
static void check_durable(const ctx_t *cx, const kgroup_t *g, check_result_t *c)
{
    for (int node = 1; node <= cx->cx_n; node++) {
        const hop_t *f = final_read(cx, g, node);
        const char *key = op_at(cx, g->kg_lo)->ho_key;
        int reported_missing = 0;

        for (size_t i = g->kg_lo; i < g->kg_hi; i++) {
            const hop_t *w = op_at(cx, i);
            char vw[32], vf[32];

            if (!(is_acked_put(w) || (w->ho_kind == OP_DELETE && w->ho_result == RES_OK &&
                                      !w->ho_final && w->ho_version.hv_set)))
                continue;
            c->cr_checked++;
            if (f == NULL) {
                if (!reported_missing)
                    check_violation(c, "%s: no final read on node %d", key, node);
                reported_missing = 1;
                continue;
            }
            hver_fmt(&w->ho_version, vw);
            hver_fmt(&f->ho_version, vf);
            if (w->ho_kind == OP_DELETE) {
                if (f->ho_result == RES_OK && f->ho_version.hv_set &&
                    hver_cmp(&f->ho_version, &w->ho_version) < 0)
                    check_violation(c,
                                    "%s: acknowledged delete op %" PRIu64 " (version %s) undone on "
                                    "node %d by older version %s",
                                    key, w->ho_id, vw, node, vf);
                continue;
            }
            if (f->ho_result == RES_OK) {
                if (!f->ho_version.hv_set || !w->ho_version.hv_set) {
                    if (strcmp(f->ho_hash, w->ho_hash) != 0 && f->ho_end_ms < w->ho_start_ms)
                        check_violation(c, "%s: node %d final read predates write op %" PRIu64, key,
                                        node, w->ho_id);
                    continue;
                }
                if (hver_cmp(&f->ho_version, &w->ho_version) < 0)
                    check_violation(c,
                                    "%s: acknowledged write op %" PRIu64
                                    " (version %s, node %d, %s) "
                                    "lost: node %d holds older version %s",
                                    key, w->ho_id, vw, w->ho_node, w->ho_dur, node, vf);
                else if (hver_cmp(&f->ho_version, &w->ho_version) == 0 &&
                         strcmp(f->ho_hash, w->ho_hash) != 0)
                    check_violation(c,
                                    "%s: node %d serves version %s with bytes %s, written as %s "
                                    "(op %" PRIu64 ")",
                                    key, node, vw, f->ho_hash, w->ho_hash, w->ho_id);
            } else if (f->ho_result == RES_NOT_FOUND) {
                if (!delete_explains(cx, g, w))
                    check_violation(c,
                                    "%s: acknowledged write op %" PRIu64
                                    " (version %s, node %d, %s) "
                                    "lost: node %d has no such key and no delete explains it",
                                    key, w->ho_id, vw, w->ho_node, w->ho_dur, node);
            } else if (!damage_excused(cx, node, key)) {
                check_violation(c,
                                "%s: node %d cannot serve acknowledged write op %" PRIu64
                                " after healing (%s)",
                                key, node, w->ho_id, hop_result_name(f->ho_result));
            }
        }
    }
}

/* ------------------------------------------------------------- invariant 4 */

/* 1 if two final reads show the same state of a key. */
static int same_state(const hop_t *a, const hop_t *b)
{
    if (a->ho_result != b->ho_result)
        return 0;
    if (a->ho_result != RES_OK)
        return 1;
    return strcmp(a->ho_hash, b->ho_hash) == 0 && hver_cmp(&a->ho_version, &b->ho_version) == 0;
}

static void check_converged_key(const ctx_t *cx, const kgroup_t *g, check_result_t *c)
{
    const hop_t *first = NULL;
    int first_node = 0;

    for (int node = 1; node <= cx->cx_n; node++) {
        const hop_t *f = final_read(cx, g, node);
        char va[32], vb[32];

        if (f == NULL)
            continue;
        c->cr_checked++;
        if (f->ho_result != RES_OK && f->ho_result != RES_NOT_FOUND &&
            !damage_excused(cx, node, f->ho_key)) {
            check_violation(c, "%s: node %d answers %s after healing", f->ho_key, node,
                            hop_result_name(f->ho_result));
            continue;
        }
        if (first == NULL) {
            first = f;
            first_node = node;
            continue;
        }
        if (!same_state(first, f)) {
            hver_fmt(&first->ho_version, va);
            hver_fmt(&f->ho_version, vb);
            check_violation(c, "%s: node %d has %s %s, node %d has %s %s", f->ho_key, first_node,
                            hop_result_name(first->ho_result), va, node,
                            hop_result_name(f->ho_result), vb);
        }
    }
}

/* ------------------------------------------------------------- invariant 5 */

/* 1 if a majority of nodes were up and the network whole during [t0, t1]. */
static int majority_reachable(const ctx_t *cx, int node, int64_t t0, int64_t t1)
{
    int ok = 0;

    if (!node_ok_during(cx, node, t0, t1) || !net_ok_during(cx, t0, t1))
        return 0;
    for (int n = 1; n <= cx->cx_n; n++)
        ok += node_ok_during(cx, n, t0, t1);
    return ok >= cx->cx_n / 2 + 1;
}

/*
 * read_after_write: for a read starting after write w was acknowledged:
 * on w's own node, or on any node when w was acknowledged at "all", the
 * read must return w's version or a newer one (not-found only when a delete
 * explains it) -- enforced. On another node after a "majority" write,
 * while that node and a majority were up with the network whole, the same
 * is expected; those misses are counted (and enforced with --strict-raw).
 */
static void check_raw(const ctx_t *cx, const kgroup_t *g, check_result_t *c, uint64_t *reported,
                      int64_t *lag, size_t *nlag, size_t lagcap)
{
    for (size_t i = g->kg_lo; i < g->kg_hi; i++) {
        const hop_t *r = op_at(cx, i);

        if ((r->ho_kind != OP_GET && r->ho_kind != OP_HEAD) || r->ho_final ||
            (r->ho_result != RES_OK && r->ho_result != RES_NOT_FOUND))
            continue;
        for (size_t j = g->kg_lo; j < g->kg_hi; j++) {
            const hop_t *w = op_at(cx, j);
            int enforced, stale;
            char vw[32], vr[32];

            if (!is_acked_put(w) || !w->ho_version.hv_set || w->ho_end_ms >= r->ho_start_ms)
                continue;
            enforced = w->ho_node == r->ho_node || strcmp(w->ho_dur, "all") == 0;
            if (!enforced && strcmp(w->ho_dur, "majority") != 0 && w->ho_dur[0] != '\0')
                continue; /* local writes promise nothing to other nodes */
            if (!enforced && !majority_reachable(cx, r->ho_node, r->ho_start_ms, r->ho_end_ms))
                continue;
            c->cr_checked++;
            if (r->ho_result == RES_OK)
                stale = r->ho_version.hv_set && hver_cmp(&r->ho_version, &w->ho_version) < 0;
            else
                stale = !delete_explains(cx, g, w);
            if (!stale)
                continue;
            hver_fmt(&w->ho_version, vw);
            hver_fmt(&r->ho_version, vr);
            if (enforced || cx->cx_o->co_strict_raw) {
                check_violation(c,
                                "%s: read op %" PRIu64 " on node %d returned %s %s after write op "
                                "%" PRIu64 " (version %s, %s) was acknowledged by node %d",
                                r->ho_key, r->ho_id, r->ho_node, hop_result_name(r->ho_result), vr,
                                w->ho_id, vw, w->ho_dur[0] ? w->ho_dur : "default", w->ho_node);
            } else {
                (*reported)++;
                if (*nlag < lagcap)
                    lag[(*nlag)++] = r->ho_start_ms - w->ho_end_ms;
            }
            break; /* one finding per read */
        }
    }
}

/* ------------------------------------------------------------- invariant 3 */

/* End of the leftover window that starts at event index i for node. */
static int64_t window_end(const ctx_t *cx, size_t i, int node)
{
    for (size_t j = i + 1; j < cx->cx_h->hi_nevents; j++) {
        const hevent_t *e = ev_at(cx, j);
        if (e->he_node != node)
            continue;
        if (strcmp(e->he_kind, "repairs_drained") == 0 || is_exit_event(e->he_kind))
            return e->he_t_ms;
    }
    return INT64_MAX;
}

/*
 * leftover_reads: a node that restarted after a crash (or whose blob files
 * were damaged) may hold records whose file is a leftover until its
 * repairs drain. Reads it serves in that window are counted with their
 * latency; one that gives up with 503 while every other node was up and
 * the network whole (for the grace period before it, and during it) is a
 * violation -- a node holding the version was reachable.
 */
static int check_leftover_reads(const ctx_t *cx, check_result_t *c)
{
    const history_t *h = cx->cx_h;
    int64_t *lat = calloc(h->hi_nops + 1, sizeof(int64_t));
    size_t nlat = 0;
    uint64_t reads = 0, ok = 0, unavail = 0, windows = 0;

    if (lat == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < h->hi_nevents; i++) {
        const hevent_t *e = ev_at(cx, i);
        int64_t t0, t1;

        if (!((strcmp(e->he_kind, "start") == 0 && e->he_flag != 0) ||
              strcmp(e->he_kind, "damage") == 0))
            continue;
        windows++;
        t0 = e->he_t_ms;
        t1 = window_end(cx, i, e->he_node);
        for (size_t k = 0; k < h->hi_nops; k++) {
            const hop_t *r = &h->hi_ops[k];
            int others_ok = cx->cx_n > 1;

            if (r->ho_kind != OP_GET || r->ho_final || r->ho_node != e->he_node ||
                r->ho_start_ms < t0 || r->ho_start_ms > t1)
                continue;
            if (r->ho_result == RES_CONN_ERROR)
                continue; /* the node itself was not answering yet */
            reads++;
            c->cr_checked++;
            if (r->ho_result == RES_OK || r->ho_result == RES_NOT_FOUND) {
                ok++;
                lat[nlat++] = r->ho_end_ms - r->ho_start_ms;
                continue;
            }
            if (r->ho_result != RES_UNAVAILABLE)
                continue;
            unavail++;
            for (int n = 1; others_ok && n <= cx->cx_n; n++) {
                if (n != r->ho_node &&
                    !node_ok_during(cx, n, r->ho_start_ms - cx->cx_o->co_grace_ms, r->ho_end_ms))
                    others_ok = 0;
            }
            if (others_ok &&
                net_ok_during(cx, r->ho_start_ms - cx->cx_o->co_grace_ms, r->ho_end_ms))
                check_violation(c,
                                "op %" PRIu64
                                ": read of %s on node %d (holding a leftover) gave up "
                                "with 503 although every other node was up and reachable",
                                r->ho_id, r->ho_key, r->ho_node);
        }
    }
    check_stat(c, "windows", (double)windows);
    check_stat(c, "reads", (double)reads);
    check_stat(c, "succeeded", (double)ok);
    check_stat(c, "unavailable", (double)unavail);
    latency_stats(c, "latency", lat, nlat);
    if (windows == 0)
        c->cr_skipped = 1;
    free(lat);
    return 0;
}

/* ------------------------------------------------------------- invariant 6 */

static int id_in(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id)
            return 1;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int cmp_scan_time(const void *a, const void *b, void *arg)
{
    const history_t *h = arg;
    const hscan_t *x = &h->hi_scans[*(const size_t *)a], *y = &h->hi_scans[*(const size_t *)b];

    if (x->hs_t_ms != y->hs_t_ms)
        return x->hs_t_ms < y->hs_t_ms ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/*
 * files_clean, per node: (a) a file id that was absent from a scan after
 * being seen must never be seen again, and after a restart no id at or
 * below the highest id present before it may appear unless it was there
 * already; (b) the final scan holds no leftover and no orphan (a whole file
 * that no live version of the node's listing accounts for: blobs small
 * enough to be stored inline have no file, so files are matched to live
 * versions by content hash rather than counted).
 * Damaged files of a single node (nothing to repair them from) are forgiven.
 */
static int check_files(const ctx_t *cx, check_result_t *c)
{
    const history_t *h = cx->cx_h;
    size_t *order = calloc(h->hi_nscans + 1, sizeof(size_t));
    uint64_t scans_seen = 0;

    if (order == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < h->hi_nscans; i++)
        order[i] = i;
    qsort_r(order, h->hi_nscans, sizeof(size_t), cmp_scan_time, (void *)h);

    for (int node = 1; node <= cx->cx_n; node++) {
        const hscan_t *prev = NULL;
        const hscan_t *before = NULL; /* the last "before_restart" scan */
        const hscan_t *final = NULL;

        for (size_t k = 0; k < h->hi_nscans; k++) {
            const hscan_t *s = &h->hi_scans[order[k]];
            if (s->hs_node != node)
                continue;
            scans_seen++;
            c->cr_checked++;
            for (size_t i = 0; i < s->hs_nids; i++) {
                uint64_t id = s->hs_ids[i];
                /* Seen in an earlier scan of this node, gone from the previous one:
                 * only possible if the id was handed out again. */
                if (prev != NULL && !id_in(prev->hs_ids, prev->hs_nids, id)) {
                    for (size_t q = 0; q < k; q++) {
                        const hscan_t *o = &h->hi_scans[order[q]];
                        if (o->hs_node == node && o != prev && id_in(o->hs_ids, o->hs_nids, id)) {
                            check_violation(c,
                                            "node %d: file id %" PRIu64
                                            " disappeared and came back (reused)",
                                            node, id);
                            break;
                        }
                    }
                }
                if (before != NULL && s != before && id <= before->hs_max_id &&
                    !id_in(before->hs_ids, before->hs_nids, id))
                    check_violation(c,
                                    "node %d: file id %" PRIu64
                                    " appeared after a restart although "
                                    "ids up to %" PRIu64 " had been handed out before it",
                                    node, id, before->hs_max_id);
            }
            if (strcmp(s->hs_when, "before_restart") == 0)
                before = s;
            if (strcmp(s->hs_when, "final") == 0)
                final = s;
            prev = s;
        }
        if (final != NULL) {
            uint64_t left = 0;
            int dmg = cx->cx_n == 1 ? damage_count(cx, node) : 0;

            for (size_t i = 0; i < final->hs_nleft; i++) {
                if (dmg > 0 && is_damaged_file(cx, node, final->hs_left_ids[i]))
                    continue;
                left++;
                check_violation(c, "node %d: leftover file %016" PRIx64 ".blob survived", node,
                                final->hs_left_ids[i]);
            }
            for (size_t i = 0; i < final->hs_norphans; i++)
                check_violation(c,
                                "node %d: blob file %016" PRIx64 ".blob is whole but no live "
                                "version needs it (disk not returned)",
                                node, final->hs_orphan_ids[i]);
            check_stat(c, "final_files", (double) final->hs_files);
            check_stat(c, "final_bytes", (double) final->hs_bytes);
            (void)left;
        }
    }
    if (scans_seen == 0)
        c->cr_skipped = 1;
    free(order);
    return 0;
}

/* ---------------------------------------------------------------- the run */

static void check_final_nodes(const ctx_t *cx, check_result_t *pend, check_result_t *health)
{
    const history_t *h = cx->cx_h;

    for (size_t i = 0; i < h->hi_nevents; i++) {
        const hevent_t *e = &h->hi_events[i];
        health->cr_checked++;
        if (strcmp(e->he_kind, "died") == 0)
            check_violation(health, "node %d exited unexpectedly at %" PRId64 " ms (%s)",
                            e->he_node, e->he_t_ms, e->he_detail != NULL ? e->he_detail : "?");
    }
    for (int i = 0; i < h->hi_nfinal; i++) {
        const hfinal_t *f = &h->hi_final[i];
        int dmg = cx->cx_n == 1 ? damage_count(cx, f->hf_node) : 0;

        pend->cr_checked++;
        health->cr_checked++;
        if (!f->hf_up)
            check_violation(health, "node %d is not up at the end", f->hf_node);
        if (f->hf_pending > dmg)
            check_violation(pend, "node %d still has %" PRId64 " pending repairs after healing",
                            f->hf_node, f->hf_pending);
        else if (f->hf_pending < 0 && f->hf_up)
            check_violation(pend, "node %d: pending repairs unknown", f->hf_node);
    }
    if (h->hi_nfinal == 0)
        pend->cr_skipped = 1;
}

int checker_run(const history_t *h, const check_opts_t *o, check_report_t *rep)
{
    ctx_t cx;
    check_result_t *c1, *c2, *c3, *c4, *c5, *c6, *c7, *c8;
    int64_t *lag = NULL;
    size_t nlag = 0;
    uint64_t reported = 0;
    int rc = 0;

    memset(rep, 0, sizeof(*rep));
    memset(&cx, 0, sizeof(cx));
    cx.cx_h = h;
    cx.cx_o = o;
    cx.cx_n = h->hi_nodes > 0 ? h->hi_nodes : 1;
    cx.cx_idx = calloc(h->hi_nops + 1, sizeof(size_t));
    cx.cx_ev = calloc(h->hi_nevents + 1, sizeof(size_t));
    lag = calloc(h->hi_nops + 1, sizeof(int64_t));
    if (cx.cx_idx == NULL || cx.cx_ev == NULL || lag == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < h->hi_nops; i++) {
        cx.cx_idx[i] = i;
        if (h->hi_ops[i].ho_final)
            cx.cx_have_final = 1;
    }
    cx.cx_nidx = h->hi_nops;
    qsort_r(cx.cx_idx, h->hi_nops, sizeof(size_t), cmp_ops, (void *)h);
    for (size_t i = 0; i < h->hi_nevents; i++) {
        cx.cx_ev[i] = i;
        if (strcmp(h->hi_events[i].he_kind, "clock_skew") == 0)
            cx.cx_skew = 1;
    }
    qsort_r(cx.cx_ev, h->hi_nevents, sizeof(size_t), cmp_events, (void *)h);

    c1 = check_report_add(rep, "acked_writes_durable",
                          "acknowledged writes readable byte-exact from every node after healing",
                          1);
    c2 = check_report_add(rep, "reads_exact",
                          "every read returned exactly one written version, or not-found, or 503",
                          1);
    c3 = check_report_add(rep, "leftover_reads",
                          "reads on a node holding a crash leftover succeed while a holder is up",
                          1);
    c4 = check_report_add(rep, "convergence",
                          "after healing all nodes converge to the same version of every key", 1);
    c5 = check_report_add(rep, "read_after_write",
                          "reads after an acknowledged write return it or a newer version", 1);
    c6 =
        check_report_add(rep, "files_clean",
                         "no leftover file survives, no file id reused, disk usage = live data", 1);
    c7 = check_report_add(rep, "pending_cleared", "no repair stays pending after healing", 1);
    c8 = check_report_add(rep, "nodes_healthy", "no unexpected node exit; every node up at the end",
                          1);

    for (size_t lo = 0; lo < cx.cx_nidx;) {
        kgroup_t g = {lo, lo + 1};
        while (g.kg_hi < cx.cx_nidx &&
               strcmp(op_at(&cx, g.kg_hi)->ho_key, op_at(&cx, lo)->ho_key) == 0)
            g.kg_hi++;
        check_reads_exact(&cx, &g, c2);
        if (cx.cx_have_final) {
            check_durable(&cx, &g, c1);
            check_converged_key(&cx, &g, c4);
        }
        check_raw(&cx, &g, c5, &reported, lag, &nlag, h->hi_nops);
        lo = g.kg_hi;
    }
    if (!cx.cx_have_final) {
        c1->cr_skipped = 1;
        c4->cr_skipped = 1;
    }
    {
        const hevent_t *heal = find_event(&cx, "heal_all", 0);
        const hevent_t *conv = find_event(&cx, "converged", 0);
        const hevent_t *notc = find_event(&cx, "not_converged", 0);
        if (notc != NULL)
            check_violation(c4, "nodes did not converge within %" PRId64 " ms after healing",
                            h->hi_converge_timeout_ms);
        if (heal != NULL && conv != NULL) {
            check_stat(c4, "converge_ms", (double)(conv->he_t_ms - heal->he_t_ms));
            c4->cr_skipped = 0;
        }
    }
    check_stat(c5, "cross_node_stale_reads", (double)reported);
    latency_stats(c5, "stale_after", lag, nlag);
    rc = check_leftover_reads(&cx, c3);
    if (rc == 0)
        rc = check_files(&cx, c6);
    if (rc == 0)
        check_final_nodes(&cx, c7, c8);
done:
    free(cx.cx_idx);
    free(cx.cx_ev);
    free(lag);
    return rc;
}

/* ---------------------------------------------------------------- output */

void check_report_print(const check_report_t *rep, FILE *f)
{
    for (int i = 0; i < rep->ck_n; i++) {
        const check_result_t *c = &rep->ck_checks[i];
        const char *verdict = c->cr_violations == 0 ? (c->cr_skipped ? "n/a " : "PASS")
                              : c->cr_enforced      ? "FAIL"
                                                    : "WARN";
        fprintf(f, "  %s  %-21s %s (checked %" PRIu64 ", violations %" PRIu64 ")\n", verdict,
                c->cr_name, c->cr_title, c->cr_checked, c->cr_violations);
        if (c->cr_nstats > 0) {
            fprintf(f, "        ");
            for (int s = 0; s < c->cr_nstats; s++)
                fprintf(f, "%s%s=%g", s ? " " : "", c->cr_stat_names[s], c->cr_stat_vals[s]);
            fprintf(f, "\n");
        }
        for (int m = 0; m < c->cr_nmsgs; m++)
            fprintf(f, "        - %s\n", c->cr_msgs[m]);
        if (c->cr_violations > (uint64_t)c->cr_nmsgs)
            fprintf(f, "        - ... and %" PRIu64 " more\n",
                    c->cr_violations - (uint64_t)c->cr_nmsgs);
    }
}

int check_report_json(const check_report_t *rep, buf_t *b)
{
    int rc = buf_appendf(b, "[");

    for (int i = 0; rc == 0 && i < rep->ck_n; i++) {
        const check_result_t *c = &rep->ck_checks[i];
        rc = buf_appendf(b,
                         "%s{\"name\":\"%s\",\"held\":%s,\"enforced\":%s,\"skipped\":%s,"
                         "\"checked\":%" PRIu64 ",\"violations\":%" PRIu64 ",\"title\":",
                         i ? "," : "", c->cr_name, c->cr_violations == 0 ? "true" : "false",
                         c->cr_enforced ? "true" : "false", c->cr_skipped ? "true" : "false",
                         c->cr_checked, c->cr_violations);
        if (rc == 0)
            rc = buf_append_json_str(b, c->cr_title, strlen(c->cr_title));
        if (rc == 0)
            rc = buf_appendf(b, ",\"stats\":{");
        for (int s = 0; rc == 0 && s < c->cr_nstats; s++)
            rc = buf_appendf(b, "%s\"%s\":%.17g", s ? "," : "", c->cr_stat_names[s],
                             c->cr_stat_vals[s]);
        if (rc == 0)
            rc = buf_appendf(b, "},\"messages\":[");
        for (int m = 0; rc == 0 && m < c->cr_nmsgs; m++) {
            rc = buf_appendf(b, "%s", m ? "," : "");
            if (rc == 0)
                rc = buf_append_json_str(b, c->cr_msgs[m], strlen(c->cr_msgs[m]));
        }
        if (rc == 0)
            rc = buf_appendf(b, "]}");
    }
    if (rc == 0)
        rc = buf_appendf(b, "]");
    return rc;
}
