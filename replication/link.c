/*
 * link.c -- peer connections on libuv: handshake, heartbeats, redial with
 * backoff, bounded output queue, flow-control window, frame delivery.
 *
 * A connection (repl_conn_t) goes CONNECTING (outgoing only) -> HELLO ->
 * AUTH -> UP -> CLOSING. Every way out ends in conn_close(), which detaches
 * the connection from its link, closes both its handles, schedules a redial
 * when this side dials, and reports the end of a session with on_down. The
 * connection's memory goes in the last handle's close callback, so code
 * running inside a callback for a connection may keep using it after
 * closing it, as long as it checks c_state for CONN_CLOSING.
 *
 * Logging: a peer that breaks the protocol produces exactly one
 * `repl.peer.rejected` warning per connection (conn_reject); everything else
 * that ends a connection is logged by conn_lost at a level fitting the
 * state. A connection is closed only once, so nothing is logged twice.
 */
#include "replication/repl_int.h"
#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct conn_write {
    uv_write_t w_req;
    repl_conn_t *w_conn;
    uint8_t *w_data; /* owned: the whole frame, prefix included */
    size_t w_len;
    int w_counted; /* a session frame: counts in the link's stats */
} conn_write_t;

static void conn_close(repl_conn_t *c, int reason);
static void link_schedule_retry(repl_link_t *l);
static void link_dial(repl_link_t *l);

static const char *const state_names[] = {"idle", "connecting", "backoff", "up", "closed"};

const char *repl_link_state_name(repl_link_state_t s)
{
    if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[s];
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Heartbeat tick: a quarter of the shorter of heartbeat and dead time. */
static uint32_t tick_ms(const repl_peers_t *ps)
{
    uint32_t t = ps->ps_tun.lt_heartbeat_ms;

    if (ps->ps_tun.lt_dead_ms < t)
        t = ps->ps_tun.lt_dead_ms;
    t /= 4;
    return t < 5 ? 5 : t;
}

/* libuv's UV_EOF is not an errno; everything else on unix is -errno. */
static const char *reason_name(int rc)
{
    if (rc == UV_EOF)
        return "eof";
    return cairn_errname(rc);
}

/* ---- pending list (unauthenticated inbound connections) ---- */

static void pending_add(repl_peers_t *ps, repl_conn_t *c)
{
    c->c_prev = NULL;
    c->c_next = ps->ps_pending;
    if (ps->ps_pending != NULL)
        ps->ps_pending->c_prev = c;
    ps->ps_pending = c;
    ps->ps_npending++;
    c->c_pending = 1;
}

static void pending_remove(repl_peers_t *ps, repl_conn_t *c)
{
    if (!c->c_pending)
        return;
    if (c->c_prev != NULL)
        c->c_prev->c_next = c->c_next;
    else
        ps->ps_pending = c->c_next;
    if (c->c_next != NULL)
        c->c_next->c_prev = c->c_prev;
    c->c_prev = c->c_next = NULL;
    c->c_pending = 0;
    ps->ps_npending--;
}

/* ---- connection lifetime ---- */

/*
 * Last handle of a connection closed: every write and connect callback has
 * run (libuv cancels them before the close callback), so nothing refers to
 * the connection any more.
 */
static void on_conn_closed(uv_handle_t *h)
{
    repl_conn_t *c = h->data;
    repl_peers_t *ps = c->c_ps;

    if (--c->c_handles > 0)
        return;
    repl_frame_parser_free(&c->c_parser);
    free(c);
    repl__peers_unref(ps);
}

static void on_conn_timer(uv_timer_t *t);

/*
 * Allocates a connection with its TCP handle and timer initialized and the
 * handshake deadline armed. l is the link being dialed, NULL for an inbound
 * connection. Returns NULL when out of memory or entropy (nothing to clean
 * up then). The peer set's reference is taken here and dropped when the
 * last handle closes.
 */
static repl_conn_t *conn_new(repl_peers_t *ps, repl_link_t *l)
{
    repl_conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    if (repl_auth_nonce(c->c_nonce) < 0 || uv_tcp_init(ps->ps_loop, &c->c_tcp) < 0) {
        free(c);
        return NULL;
    }
    /* uv_timer_init cannot fail once the loop is initialized. */
    (void)uv_timer_init(ps->ps_loop, &c->c_timer);
    c->c_tcp.data = c;
    c->c_timer.data = c;
    c->c_connect.data = c;
    c->c_handles = 2;
    c->c_ps = ps;
    c->c_link = l;
    c->c_outgoing = l != NULL;
    c->c_state = CONN_HELLO;
    repl_frame_parser_init(&c->c_parser, REPL_FRAME_HANDSHAKE_MAX);
    c->c_last_rx = c->c_last_tx = uv_now(ps->ps_loop);
    snprintf(c->c_addr, sizeof(c->c_addr), "%s", l != NULL ? l->l_addr : "unknown");
    repl__peers_ref(ps);
    uv_timer_start(&c->c_timer, on_conn_timer, ps->ps_tun.lt_handshake_ms, 0);
    return c;
}

/*
 * The one way a connection ends. Detaches it from its link / the pending
 * list, closes its handles, schedules a redial when this side dials, and
 * calls on_down when it carried a session. Safe to call on a closing
 * connection (does nothing).
 */
static void conn_close(repl_conn_t *c, int reason)
{
    repl_peers_t *ps = c->c_ps;
    repl_link_t *l = c->c_link;
    int was_up = 0, was_dial = 0;

    if (c->c_state == CONN_CLOSING)
        return;
    c->c_state = CONN_CLOSING;
    pending_remove(ps, c);
    if (l != NULL && l->l_dial == c) {
        l->l_dial = NULL;
        was_dial = 1;
    }
    if (l != NULL && l->l_conn == c) {
        l->l_conn = NULL;
        was_up = 1;
    }
    uv_close((uv_handle_t *)&c->c_tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->c_timer, on_conn_closed);
    if (l == NULL)
        return;
    if (was_dial) {
        l->l_dial_failures++;
        l->l_last_error = reason;
    }
    if (was_up) {
        l->l_last_error = reason;
        l->l_up_since_wall = 0;
    }
    if (!c->c_replaced)
        link_schedule_retry(l);
    if (was_up && ps->ps_cbs.lc_on_down != NULL)
        ps->ps_cbs.lc_on_down(l, reason, ps->ps_cb_arg);
}

/*
 * Level of the line for rejecting an inbound connection from addr ("ip:port")
 * for reason: a warning the first time in REPL_REJECT_WINDOW_MS for that
 * source address and reason, debug for repeats. *suppressed gets the number
 * of repeats logged at debug since the previous warning. The table is
 * small and recycles its least recently warned slot.
 */
static log_level_t reject_level(repl_peers_t *ps, const char *addr, const char *reason,
                                uint64_t *suppressed)
{
    uint64_t now = uv_now(ps->ps_loop);
    repl_reject_slot_t *s, *victim = &ps->ps_rejects[0];
    const char *colon = strrchr(addr, ':');
    char ip[REPL_ADDR_MAX];
    size_t i, n;

    n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    if (n >= sizeof(ip))
        n = sizeof(ip) - 1;
    memcpy(ip, addr, n);
    ip[n] = '\0';
    *suppressed = 0;
    for (i = 0; i < REPL_REJECT_SLOTS; i++) {
        s = &ps->ps_rejects[i];
        if (s->rs_reason != NULL && strcmp(s->rs_reason, reason) == 0 &&
            strcmp(s->rs_ip, ip) == 0) {
            if (now - s->rs_last_ms < REPL_REJECT_WINDOW_MS) {
                s->rs_suppressed++;
                return LOG_DEBUG;
            }
            *suppressed = s->rs_suppressed;
            s->rs_suppressed = 0;
            s->rs_last_ms = now;
            return LOG_WARN;
        }
        if (victim->rs_reason != NULL &&
            (s->rs_reason == NULL || s->rs_last_ms < victim->rs_last_ms))
            victim = s;
    }
    memcpy(victim->rs_ip, ip, n + 1);
    victim->rs_reason = reason;
    victim->rs_last_ms = now;
    victim->rs_suppressed = 0;
    return LOG_WARN;
}

/*
 * The peer broke the protocol: one line, then close. Repeats are demoted
 * to debug so a misconfigured peer that keeps redialing does not flood the
 * log: on the dialing side when the reason equals the previous attempt's,
 * on the accepting side per source address and reason (reject_level).
 * Rejections inside an authenticated session are always warnings.
 */
static void conn_reject(repl_conn_t *c, const char *reason, int code, const char *type)
{
    repl_link_t *l = c->c_link;
    log_level_t lvl = LOG_WARN;
    uint64_t suppressed = 0;
    char idbuf[24] = "";
    char tbuf[48] = "";
    char sbuf[40] = "";

    if (c->c_state == CONN_CLOSING)
        return;
    if (c->c_outgoing && c->c_state != CONN_UP && l != NULL) {
        if (l->l_last_reject != NULL && strcmp(l->l_last_reject, reason) == 0)
            lvl = LOG_DEBUG;
        l->l_last_reject = reason;
    } else if (!c->c_outgoing && c->c_state != CONN_UP) {
        lvl = reject_level(c->c_ps, c->c_addr, reason, &suppressed);
    }
    if (c->c_peer_id != 0)
        snprintf(idbuf, sizeof(idbuf), " peer_id=%u", (unsigned)c->c_peer_id);
    if (type != NULL)
        snprintf(tbuf, sizeof(tbuf), " type=%s", type);
    if (suppressed > 0)
        snprintf(sbuf, sizeof(sbuf), " suppressed=%llu", (unsigned long long)suppressed);
    if (log_enabled(lvl))
        log_event(lvl, "repl.peer.rejected", "reason=%s peer=%s%s%s code=%s%s", reason, c->c_addr,
                  idbuf, tbuf, reason_name(code), sbuf);
    conn_close(c, code);
}

/*
 * A connection ended for a reason that is not the peer's fault (EOF, socket
 * error, heartbeat timeout, failed dial). why names it in the log; NULL
 * uses the code's name.
 */
static void conn_lost(repl_conn_t *c, int reason, const char *why)
{
    repl_link_t *l = c->c_link;

    if (c->c_state == CONN_CLOSING)
        return;
    if (why == NULL)
        why = reason_name(reason);
    if (reason == UV_EOF)
        reason = -ECONNRESET;
    if (c->c_state == CONN_UP) {
        LOG_WARN("repl.link.down", "peer_id=%u peer=%s reason=%s session=%llu",
                 (unsigned)l->l_peer_id, c->c_addr, why, (unsigned long long)l->l_session);
    } else if (c->c_outgoing && l != NULL) {
        if (l->l_dial_failures == 0)
            LOG_INFO("repl.link.dial_failed", "peer_id=%u peer=%s reason=%s",
                     (unsigned)l->l_peer_id, c->c_addr, why);
        else
            LOG_DEBUG("repl.link.dial_failed", "peer_id=%u peer=%s reason=%s failures=%llu",
                      (unsigned)l->l_peer_id, c->c_addr, why,
                      (unsigned long long)l->l_dial_failures);
    } else {
        LOG_INFO("repl.conn.closed", "peer=%s reason=%s", c->c_addr, why);
    }
    conn_close(c, reason);
}

/* Closes a pending inbound connection during shutdown, silently. */
void repl__conn_shutdown(repl_conn_t *c)
{
    conn_close(c, CAIRN_ESHUTDOWN);
}

/* ---- output ---- */

static void conn_check_writable(repl_conn_t *c);

/*
 * One queued frame left (written, failed, or cancelled by close). Frees it,
 * updates the queue and stats, and reports a drain below the low-water mark
 * to a producer that was refused.
 */
static void on_write(uv_write_t *req, int status)
{
    conn_write_t *w = repl_container_of(req, conn_write_t, w_req);
    repl_conn_t *c = w->w_conn;
    repl_link_t *l = c->c_link;

    c->c_queue_bytes -= w->w_len;
    if (status == 0 && w->w_counted && l != NULL) {
        l->l_frames_out++;
        l->l_bytes_out += w->w_len;
    }
    free(w->w_data);
    free(w);
    if (c->c_state == CONN_CLOSING)
        return;
    if (status < 0) {
        conn_lost(c, status, NULL);
        return;
    }
    if (c->c_over_high && c->c_queue_bytes <= c->c_ps->ps_tun.lt_queue_low)
        c->c_over_high = 0;
    conn_check_writable(c);
}

/*
 * Queues frame (malloc'ed, prefix included; ownership passes here in every
 * case). A synchronous uv_write failure is not acted on here: the caller
 * may be the layer above in the middle of its own work, so the connection
 * is marked failed and closed from its timer on the next loop turn.
 */
static int conn_write(repl_conn_t *c, uint8_t *frame, size_t len)
{
    conn_write_t *w = NULL;
    uv_buf_t b;
    int rc;

    if (c->c_state == CONN_CLOSING || c->c_write_err != 0) {
        rc = CAIRN_EUNAVAIL;
        goto fail;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        rc = CAIRN_ENOMEM;
        goto fail;
    }
    w->w_conn = c;
    w->w_data = frame;
    w->w_len = len;
    w->w_counted = c->c_state == CONN_UP;
    b = uv_buf_init((char *)frame, (unsigned int)len);
    rc = uv_write(&w->w_req, (uv_stream_t *)&c->c_tcp, &b, 1, on_write);
    if (rc < 0) {
        c->c_write_err = rc;
        uv_timer_start(&c->c_timer, on_conn_timer, 0, 0);
        goto fail;
    }
    c->c_queue_bytes += len;
    c->c_last_tx = uv_now(c->c_ps->ps_loop);
    if (c->c_queue_bytes >= c->c_ps->ps_tun.lt_queue_high)
        c->c_over_high = 1;
    return 0;
fail:
    free(w);
    free(frame);
    return rc;
}

/* Encodes one frame with fn into a fresh buffer handed to the caller. */
static int encode_frame(repl_pack_fn fn, void *arg, uint8_t **frame, size_t *len)
{
    repl_frame_enc_t e;
    int rc;

    rc = repl_frame_enc_init(&e);
    if (rc == 0)
        rc = fn(repl_frame_enc_packer(&e), arg);
    if (rc == 0)
        rc = repl_frame_enc_finish(&e, REPL_FRAME_MAX, frame, len);
    repl_frame_enc_free(&e);
    return rc;
}

/* Encodes with fn and queues; no admission check (callers do that). */
static int conn_send(repl_conn_t *c, repl_pack_fn fn, void *arg)
{
    uint8_t *frame;
    size_t len;
    int rc;

    rc = encode_frame(fn, arg, &frame, &len);
    if (rc < 0)
        return rc;
    return conn_write(c, frame, len);
}

/*
 * Whether the session may take a frame now. With mark set, a refusal is
 * remembered so on_writable fires once the frame would pass.
 */
static int conn_admit(repl_conn_t *c, uint64_t credit, unsigned flags, int mark)
{
    const repl_link_tuning_t *t = &c->c_ps->ps_tun;
    int busy;

    if (flags & REPL_SEND_URGENT)
        busy = c->c_queue_bytes >= t->lt_queue_high + REPL_URGENT_RESERVE;
    else
        busy = c->c_over_high;
    if (busy) {
        if (mark)
            c->c_want_writable = 1;
        return CAIRN_EBUSY;
    }
    if (credit > 0 && c->c_unacked >= t->lt_window) {
        if (mark) {
            c->c_want_writable = 1;
            c->c_blocked_window = 1;
        }
        return CAIRN_EBUSY;
    }
    return 0;
}

/*
 * Fires on_writable once when a refused producer could now send: the queue
 * is below its mark and, if the refusal was for window, credit came back.
 */
static void conn_check_writable(repl_conn_t *c)
{
    repl_peers_t *ps = c->c_ps;

    if (!c->c_want_writable || c->c_state != CONN_UP || c->c_over_high)
        return;
    if (c->c_blocked_window && c->c_unacked >= ps->ps_tun.lt_window)
        return;
    c->c_want_writable = 0;
    c->c_blocked_window = 0;
    if (ps->ps_cbs.lc_on_writable != NULL)
        ps->ps_cbs.lc_on_writable(c->c_link, ps->ps_cb_arg);
}

/* ---- small control messages ---- */

typedef struct ctl_msg {
    const char *cm_type;
    const char *cm_key;
    uint64_t cm_val;
} ctl_msg_t;

static int pack_ctl(msgpack_packer *pk, void *arg)
{
    const ctl_msg_t *m = arg;
    int rc;

    rc = msgpack_pack_map(pk, 2) == 0 ? 0 : -ENOMEM;
    if (rc == 0)
        rc = pack_kv_str(pk, "t", m->cm_type, strlen(m->cm_type));
    if (rc == 0)
        rc = pack_kv_u64(pk, m->cm_key, m->cm_val);
    return rc;
}

/* Sends ping/pong/credit; heartbeats are skipped silently when the queue is full. */
static int conn_send_ctl(repl_conn_t *c, const char *type, const char *key, uint64_t val)
{
    ctl_msg_t m = {type, key, val};
    int rc;

    rc = conn_admit(c, 0, REPL_SEND_URGENT, 0);
    if (rc < 0)
        return rc;
    return conn_send(c, pack_ctl, &m);
}

static int pack_hello(msgpack_packer *pk, void *arg)
{
    return repl_hello_pack(pk, arg);
}

static int pack_auth(msgpack_packer *pk, void *arg)
{
    return repl_auth_msg_pack(pk, arg);
}

/* ---- handshake ---- */

static void conn_on_hello(repl_conn_t *c, const repl_msg_t *m)
{
    repl_peers_t *ps = c->c_ps;
    uint8_t mac[REPL_MAC_LEN];
    repl_hello_t h;
    repl_link_t *l;
    int rc;

    if (strcmp(m->rm_type, "hello") != 0) {
        conn_reject(c, "unexpected_frame", CAIRN_EPROTO, m->rm_type);
        return;
    }
    if (repl_hello_parse(m->rm_obj, &h) < 0) {
        conn_reject(c, "bad_hello", CAIRN_EPROTO, NULL);
        return;
    }
    if (h.rh_proto != REPL_PROTO_VERSION) {
        conn_reject(c, "proto_version", CAIRN_EPROTO, NULL);
        return;
    }
    if (memcmp(h.rh_cluster, ps->ps_auth.ra_cluster, REPL_CLUSTER_ID_LEN) != 0) {
        conn_reject(c, "cluster_mismatch", CAIRN_EPROTO, NULL);
        return;
    }
    c->c_peer_id = h.rh_node;
    l = repl_peers_link(ps, h.rh_node);
    if (h.rh_node == ps->ps_self) {
        conn_reject(c, "self_connect", CAIRN_EPROTO, NULL);
        return;
    }
    if (l == NULL) {
        conn_reject(c, "unknown_node", CAIRN_EPROTO, NULL);
        return;
    }
    if (c->c_outgoing && l != c->c_link) {
        conn_reject(c, "unexpected_node", CAIRN_EPROTO, NULL);
        return;
    }
    if (memcmp(h.rh_nonce, c->c_nonce, REPL_NONCE_LEN) == 0) {
        conn_reject(c, "nonce_reuse", CAIRN_EPROTO, NULL);
        return;
    }
    memcpy(c->c_peer_nonce, h.rh_nonce, REPL_NONCE_LEN);
    rc = repl_auth_mac(&ps->ps_auth, ps->ps_self, h.rh_node, c->c_nonce, c->c_peer_nonce, mac);
    if (rc == 0)
        rc = conn_send(c, pack_auth, mac);
    if (rc < 0) {
        conn_lost(c, rc, NULL);
        return;
    }
    c->c_state = CONN_AUTH;
}

/*
 * The peer proved the secret: the connection becomes its link's session.
 * An older session of the same link is ended first (on_down before on_up).
 */
static void conn_up(repl_conn_t *c)
{
    repl_peers_t *ps = c->c_ps;
    repl_link_t *l = repl_peers_link(ps, c->c_peer_id);
    repl_conn_t *old;
    uint32_t tick = tick_ms(ps);

    pending_remove(ps, c);
    c->c_link = l;
    if (l->l_dial == c)
        l->l_dial = NULL;
    old = l->l_conn;
    if (old != NULL) {
        LOG_INFO("repl.link.replaced", "peer_id=%u peer=%s old_session=%llu",
                 (unsigned)l->l_peer_id, c->c_addr, (unsigned long long)l->l_session);
        old->c_replaced = 1;
        conn_close(old, CAIRN_EEXIST);
        if (ps->ps_closing) {
            conn_close(c, CAIRN_ESHUTDOWN);
            return;
        }
    }
    l->l_conn = c;
    c->c_state = CONN_UP;
    c->c_last_rx = uv_now(ps->ps_loop);
    l->l_session++;
    l->l_backoff_ms = ps->ps_tun.lt_backoff_min_ms;
    l->l_dial_failures = 0;
    l->l_last_reject = NULL;
    l->l_up_since_wall = wall_ms();
    l->l_last_rx_wall = l->l_up_since_wall;
    repl_frame_parser_set_max(&c->c_parser, REPL_FRAME_MAX);
    uv_timer_start(&c->c_timer, on_conn_timer, tick, tick);
    uv_timer_stop(&l->l_retry);
    LOG_INFO("repl.link.up", "peer_id=%u peer=%s session=%llu dir=%s", (unsigned)l->l_peer_id,
             c->c_addr, (unsigned long long)l->l_session, c->c_outgoing ? "out" : "in");
    if (ps->ps_cbs.lc_on_up != NULL)
        ps->ps_cbs.lc_on_up(l, ps->ps_cb_arg);
}

static void conn_on_auth(repl_conn_t *c, const repl_msg_t *m)
{
    repl_peers_t *ps = c->c_ps;
    uint8_t mac[REPL_MAC_LEN];

    if (strcmp(m->rm_type, "auth") != 0) {
        conn_reject(c, "unexpected_frame", CAIRN_EPROTO, m->rm_type);
        return;
    }
    if (repl_auth_msg_parse(m->rm_obj, mac) < 0) {
        conn_reject(c, "bad_auth", CAIRN_EPROTO, NULL);
        return;
    }
    if (repl_auth_verify(&ps->ps_auth, c->c_peer_id, ps->ps_self, c->c_peer_nonce, c->c_nonce,
                         mac) < 0) {
        conn_reject(c, "bad_mac", CAIRN_EPROTO, NULL);
        return;
    }
    conn_up(c);
}

/* ---- session frames ---- */

static void conn_on_session_frame(repl_conn_t *c, const repl_msg_t *m, size_t len)
{
    repl_peers_t *ps = c->c_ps;
    repl_link_t *l = c->c_link;
    const char *t = m->rm_type;
    uint64_t v, now;
    int rc;

    l->l_frames_in++;
    l->l_bytes_in += len + REPL_FRAME_HDR_LEN;
    l->l_last_rx_wall = wall_ms();
    if (strcmp(t, "ping") == 0) {
        if (pack_get_u64(m->rm_obj, "ts", UINT64_MAX, &v) < 0) {
            conn_reject(c, "bad_ping", CAIRN_EPROTO, NULL);
            return;
        }
        (void)conn_send_ctl(c, "pong", "ts", v); /* a full queue drops it: fine */
    } else if (strcmp(t, "pong") == 0) {
        if (pack_get_u64(m->rm_obj, "ts", UINT64_MAX, &v) < 0) {
            conn_reject(c, "bad_pong", CAIRN_EPROTO, NULL);
            return;
        }
        now = uv_now(ps->ps_loop);
        if (v <= now)
            l->l_rtt_ms = now - v > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - v);
    } else if (strcmp(t, "credit") == 0) {
        if (pack_get_u64(m->rm_obj, "n", UINT64_MAX, &v) < 0 || v == 0 || v > c->c_unacked) {
            conn_reject(c, "bad_credit", CAIRN_EPROTO, NULL);
            return;
        }
        c->c_unacked -= v;
        conn_check_writable(c);
    } else if (strcmp(t, "hello") == 0 || strcmp(t, "auth") == 0 ||
               ps->ps_cbs.lc_on_frame == NULL) {
        conn_reject(c, "unexpected_frame", CAIRN_EPROTO, t);
    } else {
        rc = ps->ps_cbs.lc_on_frame(l, t, m->rm_obj, ps->ps_cb_arg);
        if (rc < 0 && c->c_state == CONN_UP)
            conn_reject(c, "frame_refused", rc, t);
    }
}

/* Parser callback: one payload, borrowed. Returns 1 to stop once closing. */
static int conn_on_frame(void *arg, const uint8_t *payload, size_t len)
{
    repl_conn_t *c = arg;
    repl_msg_t m;
    int rc;

    if (c->c_state == CONN_CLOSING)
        return 1;
    c->c_last_rx = uv_now(c->c_ps->ps_loop);
    rc = repl_msg_decode(payload, len, &m);
    if (rc == CAIRN_ENOMEM)
        conn_lost(c, rc, NULL);
    else if (rc < 0)
        conn_reject(c, rc == CAIRN_EINVAL ? "bad_msgpack" : "bad_message", CAIRN_EPROTO, NULL);
    else if (c->c_state == CONN_HELLO)
        conn_on_hello(c, &m);
    else if (c->c_state == CONN_AUTH)
        conn_on_auth(c, &m);
    else if (c->c_state == CONN_UP)
        conn_on_session_frame(c, &m, len);
    repl_msg_free(&m);
    return c->c_state == CONN_CLOSING ? 1 : 0;
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    repl_conn_t *c = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)c->c_rbuf, sizeof(c->c_rbuf));
}

/*
 * Frames are processed synchronously, so one receive buffer per connection
 * suffices: libuv does not call alloc again before this returns.
 */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    repl_conn_t *c = s->data;
    int rc;

    if (c->c_state == CONN_CLOSING || nread == 0)
        return;
    if (nread < 0) {
        conn_lost(c, (int)nread, NULL);
        return;
    }
    rc = repl_frame_parser_feed(&c->c_parser, buf->base, (size_t)nread, conn_on_frame, c, NULL);
    if (rc >= 0 || c->c_state == CONN_CLOSING)
        return;
    if (rc == CAIRN_ETOOBIG)
        conn_reject(c, "frame_too_big", CAIRN_EPROTO, NULL);
    else if (rc == CAIRN_EPROTO)
        conn_reject(c, "bad_frame", CAIRN_EPROTO, NULL);
    else
        conn_lost(c, rc, NULL);
}

/* ---- timers ---- */

/* Handshake deadline before UP; heartbeat tick after; deferred write failure. */
static void on_conn_timer(uv_timer_t *t)
{
    repl_conn_t *c = t->data;
    repl_peers_t *ps = c->c_ps;
    uint64_t now = uv_now(ps->ps_loop);

    if (c->c_state == CONN_CLOSING)
        return;
    if (c->c_write_err != 0) {
        conn_lost(c, c->c_write_err, "write_failed");
        return;
    }
    if (c->c_state == CONN_CONNECTING) {
        conn_lost(c, CAIRN_ETIMEDOUT, "connect_timeout");
        return;
    }
    if (c->c_state != CONN_UP) {
        conn_reject(c, "handshake_timeout", CAIRN_ETIMEDOUT, NULL);
        return;
    }
    if (!c->c_paused && now - c->c_last_rx >= ps->ps_tun.lt_dead_ms) {
        conn_lost(c, CAIRN_ETIMEDOUT, "heartbeat_timeout");
        return;
    }
    if (now - c->c_last_tx >= ps->ps_tun.lt_heartbeat_ms)
        (void)conn_send_ctl(c, "ping", "ts", now);
}

/* ---- starting connections ---- */

/* Both sides speak first: hello goes out as soon as the socket is connected. */
static void conn_begin(repl_conn_t *c)
{
    repl_peers_t *ps = c->c_ps;
    repl_hello_t h;
    int rc;

    (void)uv_tcp_nodelay(&c->c_tcp, 1);
    c->c_state = CONN_HELLO;
    h.rh_proto = REPL_PROTO_VERSION;
    memcpy(h.rh_cluster, ps->ps_auth.ra_cluster, REPL_CLUSTER_ID_LEN);
    h.rh_node = ps->ps_self;
    memcpy(h.rh_nonce, c->c_nonce, REPL_NONCE_LEN);
    rc = uv_read_start((uv_stream_t *)&c->c_tcp, on_alloc, on_read);
    if (rc == 0)
        rc = conn_send(c, pack_hello, &h);
    if (rc < 0)
        conn_lost(c, rc, NULL);
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[64] = "?";
    int port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        uv_ip4_name(sin, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(sin6, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(out, cap, "unknown");
    }
}

/*
 * The listener has a connection: accept it as a pending (unauthenticated)
 * connection. Past the pending limit it is accepted and rejected at once,
 * since leaving it in the backlog would stall the listener.
 */
void repl__conn_accept(repl_peers_t *ps, uv_stream_t *server)
{
    struct sockaddr_storage ss;
    int sl = (int)sizeof(ss);
    repl_conn_t *c;
    int rc;

    c = conn_new(ps, NULL);
    if (c == NULL) {
        LOG_ERROR("repl.accept.failed", "reason=no_memory");
        return;
    }
    pending_add(ps, c);
    rc = uv_accept(server, (uv_stream_t *)&c->c_tcp);
    if (rc < 0) {
        LOG_WARN("repl.accept.failed", "reason=%s", reason_name(rc));
        conn_close(c, rc);
        return;
    }
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&c->c_tcp, (struct sockaddr *)&ss, &sl) == 0)
        format_sockaddr(&ss, c->c_addr, sizeof(c->c_addr));
    if (ps->ps_npending > ps->ps_tun.lt_max_pending) {
        conn_reject(c, "too_many_pending", CAIRN_EBUSY, NULL);
        return;
    }
    conn_begin(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    repl_conn_t *c = req->data;

    if (c->c_state == CONN_CLOSING)
        return; /* cancelled by close */
    if (status < 0) {
        conn_lost(c, status, NULL);
        return;
    }
    conn_begin(c);
}

/* A dial attempt failed before a connection existed (resolve error, no memory). */
static void link_dial_failed(repl_link_t *l, int rc, const char *why)
{
    if (l->l_dial_failures == 0)
        LOG_INFO("repl.link.dial_failed", "peer_id=%u peer=%s reason=%s", (unsigned)l->l_peer_id,
                 l->l_addr, why);
    l->l_dial_failures++;
    l->l_last_error = rc;
    link_schedule_retry(l);
}

static void link_connect(repl_link_t *l, const struct sockaddr *sa)
{
    repl_conn_t *c = conn_new(l->l_ps, l);
    int rc;

    if (c == NULL) {
        link_dial_failed(l, CAIRN_ENOMEM, "no_memory");
        return;
    }
    l->l_dial = c;
    c->c_state = CONN_CONNECTING;
    rc = uv_tcp_connect(&c->c_connect, &c->c_tcp, sa, on_connect);
    if (rc < 0)
        conn_lost(c, rc, NULL);
}

/* Resolution finished (or was cancelled by shutdown). Drops its reference last. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    repl_link_t *l = req->data;
    repl_peers_t *ps = l->l_ps;

    l->l_gai_pending = 0;
    if (!ps->ps_closing) {
        if (status < 0 || res == NULL)
            link_dial_failed(l, status < 0 ? status : -ENOENT, "resolve_failed");
        else
            link_connect(l, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    repl__peers_unref(ps);
}

/* Starts one dial attempt unless one is running or a session exists. */
static void link_dial(repl_link_t *l)
{
    repl_peers_t *ps = l->l_ps;
    struct sockaddr_storage ss;
    struct addrinfo hints;
    char port[16];
    int rc;

    if (ps->ps_closing || l->l_conn != NULL || l->l_dial != NULL || l->l_gai_pending)
        return;
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(l->l_host, l->l_port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(l->l_host, l->l_port, (struct sockaddr_in6 *)&ss) == 0) {
        link_connect(l, (const struct sockaddr *)&ss);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", l->l_port);
    l->l_gai.data = l;
    rc = uv_getaddrinfo(ps->ps_loop, &l->l_gai, on_resolved, l->l_host, port, &hints);
    if (rc < 0) {
        link_dial_failed(l, rc, "resolve_failed");
        return;
    }
    l->l_gai_pending = 1;
    repl__peers_ref(ps);
}

static void on_retry(uv_timer_t *t)
{
    link_dial(t->data);
}

/*
 * Arms the redial timer with the current backoff, jittered to 50..100%,
 * and doubles the backoff up to its cap. Only for the dialing side, and only
 * when no session or attempt exists.
 */
static void link_schedule_retry(repl_link_t *l)
{
    repl_peers_t *ps = l->l_ps;
    uint64_t base = l->l_backoff_ms, half = base / 2, delay;

    if (ps->ps_closing || !l->l_dialer || l->l_conn != NULL || l->l_dial != NULL ||
        l->l_gai_pending)
        return;
    delay = half + repl__peers_random(ps) % (base - half + 1);
    l->l_backoff_ms = base * 2 > ps->ps_tun.lt_backoff_max_ms ? ps->ps_tun.lt_backoff_max_ms
                                                              : (uint32_t)(base * 2);
    uv_timer_start(&l->l_retry, on_retry, delay, 0);
}

static void on_retry_closed(uv_handle_t *h)
{
    repl_link_t *l = h->data;

    repl__peers_unref(l->l_ps);
}

void repl__link_init(repl_link_t *l, repl_peers_t *ps, const repl_peer_addr_t *a)
{
    memset(l, 0, sizeof(*l));
    l->l_ps = ps;
    l->l_peer_id = a->pa_id;
    l->l_dialer = ps->ps_self < a->pa_id;
    snprintf(l->l_host, sizeof(l->l_host), "%s", a->pa_host);
    l->l_port = a->pa_port;
    if (strchr(l->l_host, ':') != NULL)
        snprintf(l->l_addr, sizeof(l->l_addr), "[%s]:%d", l->l_host, l->l_port);
    else
        snprintf(l->l_addr, sizeof(l->l_addr), "%s:%d", l->l_host, l->l_port);
    l->l_backoff_ms = ps->ps_tun.lt_backoff_min_ms;
    (void)uv_timer_init(ps->ps_loop, &l->l_retry);
    l->l_retry.data = l;
    repl__peers_ref(ps);
}

void repl__link_start(repl_link_t *l)
{
    if (l->l_dialer)
        link_dial(l);
}

/* Ends everything of one link for shutdown; ps_closing is already set. */
void repl__link_shutdown(repl_link_t *l)
{
    if (l->l_dial != NULL)
        conn_close(l->l_dial, CAIRN_ESHUTDOWN);
    if (l->l_conn != NULL) {
        LOG_INFO("repl.link.down", "peer_id=%u peer=%s reason=shutdown session=%llu",
                 (unsigned)l->l_peer_id, l->l_conn->c_addr, (unsigned long long)l->l_session);
        conn_close(l->l_conn, CAIRN_ESHUTDOWN);
    }
    if (l->l_gai_pending)
        (void)uv_cancel((uv_req_t *)&l->l_gai);
    uv_close((uv_handle_t *)&l->l_retry, on_retry_closed);
}

/* ---- public API ---- */

uint16_t repl_link_peer_id(const repl_link_t *l)
{
    return l->l_peer_id;
}

const char *repl_link_peer_addr(const repl_link_t *l)
{
    return l->l_addr;
}

repl_link_state_t repl_link_state(const repl_link_t *l)
{
    if (l->l_ps->ps_closing)
        return REPL_LINK_CLOSED;
    if (l->l_conn != NULL)
        return REPL_LINK_UP;
    if (l->l_dial != NULL || l->l_gai_pending)
        return REPL_LINK_CONNECTING;
    if (uv_is_active((const uv_handle_t *)&l->l_retry))
        return REPL_LINK_BACKOFF;
    return REPL_LINK_IDLE;
}

uint64_t repl_link_session(const repl_link_t *l)
{
    return l->l_session;
}

void repl_link_get_stats(const repl_link_t *l, repl_link_stats_t *out)
{
    const repl_conn_t *c = l->l_conn;

    memset(out, 0, sizeof(*out));
    out->ls_state = repl_link_state(l);
    out->ls_session = l->l_session;
    out->ls_frames_in = l->l_frames_in;
    out->ls_frames_out = l->l_frames_out;
    out->ls_bytes_in = l->l_bytes_in;
    out->ls_bytes_out = l->l_bytes_out;
    out->ls_last_rx_unix_ms = l->l_last_rx_wall;
    out->ls_up_since_unix_ms = l->l_up_since_wall;
    out->ls_rtt_ms = l->l_rtt_ms;
    out->ls_window = l->l_ps->ps_tun.lt_window;
    out->ls_dial_failures = l->l_dial_failures;
    out->ls_last_error = l->l_last_error;
    if (c != NULL) {
        out->ls_queue_bytes = c->c_queue_bytes;
        out->ls_window_used = c->c_unacked;
    }
}

void repl_link_set_udata(repl_link_t *l, void *udata)
{
    l->l_udata = udata;
}

void *repl_link_udata(const repl_link_t *l)
{
    return l->l_udata;
}

/* The connection carrying the current session, or NULL. */
static repl_conn_t *session_conn(const repl_link_t *l)
{
    repl_conn_t *c = l->l_conn;

    if (c == NULL || c->c_state != CONN_UP || c->c_write_err != 0)
        return NULL;
    return c;
}

/* Queues an encoded frame on the session and charges the window. */
static int link_queue(repl_conn_t *c, uint8_t *frame, size_t len, uint64_t credit)
{
    int rc = conn_write(c, frame, len);

    if (rc == 0)
        c->c_unacked += credit;
    return rc;
}

int repl_link_send(repl_link_t *l, const void *payload, size_t len, uint64_t credit, unsigned flags)
{
    repl_conn_t *c = session_conn(l);
    uint8_t *frame;
    size_t flen;
    int rc;

    if (c == NULL)
        return CAIRN_EUNAVAIL;
    if (len == 0 || payload == NULL)
        return CAIRN_EINVAL;
    if (len > REPL_FRAME_MAX)
        return CAIRN_ETOOBIG;
    rc = conn_admit(c, credit, flags, 1);
    if (rc < 0)
        return rc;
    rc = repl_frame_wrap(payload, len, &frame, &flen);
    if (rc < 0)
        return rc;
    return link_queue(c, frame, flen, credit);
}

int repl_link_send_pack(repl_link_t *l, repl_pack_fn fn, void *arg, uint64_t credit, unsigned flags)
{
    repl_conn_t *c = session_conn(l);
    uint8_t *frame;
    size_t flen;
    int rc;

    if (c == NULL)
        return CAIRN_EUNAVAIL;
    if (fn == NULL)
        return CAIRN_EINVAL;
    rc = conn_admit(c, credit, flags, 1);
    if (rc < 0)
        return rc;
    rc = encode_frame(fn, arg, &frame, &flen);
    if (rc < 0)
        return rc;
    if (session_conn(l) != c) { /* fn ended the session */
        free(frame);
        return CAIRN_EUNAVAIL;
    }
    return link_queue(c, frame, flen, credit);
}

int repl_link_send_credit(repl_link_t *l, uint64_t n)
{
    repl_conn_t *c = session_conn(l);
    ctl_msg_t m = {"credit", "n", n};
    int rc;

    if (c == NULL)
        return CAIRN_EUNAVAIL;
    if (n == 0 || n > (1ull << 53))
        return CAIRN_EINVAL;
    rc = conn_admit(c, 0, REPL_SEND_URGENT, 1);
    if (rc < 0)
        return rc;
    return conn_send(c, pack_ctl, &m);
}

int repl_link_writable(const repl_link_t *l, uint64_t credit, unsigned flags)
{
    repl_conn_t *c = session_conn(l);

    return c != NULL && conn_admit(c, credit, flags, 0) == 0;
}

size_t repl_link_queue_bytes(const repl_link_t *l)
{
    return l->l_conn != NULL ? l->l_conn->c_queue_bytes : 0;
}

uint64_t repl_link_window_avail(const repl_link_t *l)
{
    const repl_conn_t *c = session_conn(l);
    uint64_t w = l->l_ps->ps_tun.lt_window;

    if (c == NULL || c->c_unacked >= w)
        return 0;
    return w - c->c_unacked;
}

int repl_link_pause_read(repl_link_t *l)
{
    repl_conn_t *c = session_conn(l);

    if (c == NULL)
        return CAIRN_EUNAVAIL;
    if (!c->c_paused) {
        (void)uv_read_stop((uv_stream_t *)&c->c_tcp);
        c->c_paused = 1;
    }
    return 0;
}

int repl_link_resume_read(repl_link_t *l)
{
    repl_conn_t *c = session_conn(l);
    int rc;

    if (c == NULL)
        return CAIRN_EUNAVAIL;
    if (!c->c_paused)
        return 0;
    rc = uv_read_start((uv_stream_t *)&c->c_tcp, on_alloc, on_read);
    if (rc < 0)
        return rc;
    c->c_paused = 0;
    c->c_last_rx = uv_now(l->l_ps->ps_loop);
    return 0;
}

void repl_link_disconnect(repl_link_t *l, int reason)
{
    repl_conn_t *c = l->l_conn;

    if (c == NULL || c->c_state != CONN_UP)
        return;
    if (reason >= 0)
        reason = CAIRN_EINVAL;
    LOG_INFO("repl.link.down", "peer_id=%u peer=%s reason=local code=%s session=%llu",
             (unsigned)l->l_peer_id, c->c_addr, reason_name(reason),
             (unsigned long long)l->l_session);
    conn_close(c, reason);
}
