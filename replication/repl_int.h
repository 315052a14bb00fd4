/*
 * repl_int.h -- private structures shared by link.c and peers.c.
 *
 * Ownership: a repl_peers_t owns its links (an array) and every connection
 * (repl_conn_t, heap-allocated). A connection is freed only from the close
 * callback of its last libuv handle, so it stays valid for the rest of any
 * callback that closes it. The peer set counts every open handle and
 * pending request in ps_refs and is released only when that reaches zero.
 */
#ifndef CAIRN_REPL_INT_H
#define CAIRN_REPL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "replication/auth.h"
#include "replication/frame.h"
#include "replication/link.h"
#include "replication/peers.h"

#define REPL_READ_BUF (64u * 1024u)
#define REPL_ADDR_MAX (REPL_HOST_MAX + 16)

#define repl_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum {
    CONN_CONNECTING = 0, /* outgoing TCP connect in flight */
    CONN_HELLO,          /* our hello sent, waiting for the peer's */
    CONN_AUTH,           /* hellos exchanged, our auth sent, waiting for the peer's */
    CONN_UP,             /* authenticated: the session of c_link */
    CONN_CLOSING,        /* handles closing; no more callbacks, no more I/O */
} conn_state_t;

typedef struct repl_conn repl_conn_t;

struct repl_conn {
    uv_tcp_t c_tcp;
    uv_timer_t c_timer; /* handshake deadline, then heartbeat tick */
    uv_connect_t c_connect;
    repl_peers_t *c_ps;
    repl_link_t *c_link; /* dialed: from the start; accepted: once authenticated */
    conn_state_t c_state;
    int c_outgoing;
    int c_handles;   /* open libuv handles; freed when it drops to 0 */
    int c_pending;   /* on the peer set's list of unauthenticated inbound conns */
    int c_replaced;  /* closed because a newer session took over */
    int c_write_err; /* a write failed synchronously; closing from the timer */
    int c_paused;    /* reading stopped by repl_link_pause_read */
    char c_addr[REPL_ADDR_MAX];
    uint16_t c_peer_id;
    uint8_t c_nonce[REPL_NONCE_LEN];
    uint8_t c_peer_nonce[REPL_NONCE_LEN];
    repl_frame_parser_t c_parser;
    uint64_t c_last_rx;           /* uv_now() of the last frame received */
    uint64_t c_last_tx;           /* uv_now() of the last frame queued */
    size_t c_queue_bytes;         /* bytes handed to uv_write and not yet completed */
    uint64_t c_unacked;           /* window bytes in flight */
    int c_over_high;              /* queue passed the high-water mark and has not drained to low */
    int c_want_writable;          /* a send was refused: call on_writable when it would pass */
    int c_blocked_window;         /* ... and the refusal was for lack of window */
    repl_conn_t *c_prev, *c_next; /* pending list */
    uint8_t c_rbuf[REPL_READ_BUF];
};

struct repl_link {
    repl_peers_t *l_ps;
    uint16_t l_peer_id;
    int l_dialer; /* this side dials (self id < peer id) */
    char l_host[REPL_HOST_MAX];
    int l_port;
    char l_addr[REPL_ADDR_MAX]; /* "host:port" for logs */
    repl_conn_t *l_conn;        /* current session, or NULL */
    repl_conn_t *l_dial;        /* outgoing connection being set up, or NULL */
    uv_timer_t l_retry;         /* redial backoff */
    uv_getaddrinfo_t l_gai;
    int l_gai_pending;
    uint32_t l_backoff_ms; /* base of the next redial delay */
    uint64_t l_session;
    void *l_udata;
    const char *l_last_reject; /* last rejection reason in this failure streak (static) */
    /* stats */
    uint64_t l_frames_in, l_frames_out, l_bytes_in, l_bytes_out;
    uint64_t l_last_rx_wall, l_up_since_wall;
    uint32_t l_rtt_ms;
    uint64_t l_dial_failures;
    int l_last_error;
};

/*
 * Rejections of inbound connections are rate-limited per (source address,
 * reason): the first in a window is a warning, repeats within it are debug
 * lines, counted and reported with the next warning.
 */
#define REPL_REJECT_SLOTS 16
#define REPL_REJECT_WINDOW_MS 60000u

typedef struct repl_reject_slot {
    char rs_ip[REPL_ADDR_MAX];
    const char *rs_reason; /* static string */
    uint64_t rs_last_ms;   /* uv_now() of the last warning */
    uint64_t rs_suppressed;
} repl_reject_slot_t;

struct repl_peers {
    uv_loop_t *ps_loop;
    uint16_t ps_self;
    repl_link_tuning_t ps_tun; /* defaults filled in */
    repl_auth_t ps_auth;
    repl_link_cbs_t ps_cbs;
    void *ps_cb_arg;
    repl_link_t *ps_links;
    size_t ps_nlinks;
    char ps_listen_host[REPL_HOST_MAX];
    int ps_listen_port; /* configured; -1 when not listening */
    uv_tcp_t ps_listener;
    int ps_listener_init;
    int ps_listening;
    int ps_started;
    repl_conn_t *ps_pending; /* unauthenticated inbound connections */
    size_t ps_npending;
    size_t ps_refs; /* open handles + pending requests */
    int ps_closing;
    int ps_closed; /* every handle closed */
    int ps_in_finish;
    int ps_free_on_close;
    repl_peers_closed_cb ps_closed_cb;
    void *ps_closed_arg;
    uint64_t ps_rng; /* xorshift state for backoff jitter */
    repl_reject_slot_t ps_rejects[REPL_REJECT_SLOTS];
};

/* peers.c */
void repl__peers_ref(repl_peers_t *ps);
void repl__peers_unref(repl_peers_t *ps);
uint64_t repl__peers_random(repl_peers_t *ps);

/* link.c */
void repl__link_init(repl_link_t *l, repl_peers_t *ps, const repl_peer_addr_t *a);
void repl__link_start(repl_link_t *l);
void repl__link_shutdown(repl_link_t *l);
void repl__conn_accept(repl_peers_t *ps, uv_stream_t *server);
void repl__conn_shutdown(repl_conn_t *c);

#endif
