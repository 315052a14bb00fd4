/*
 * link.h -- one authenticated replication link to one peer node.
 *
 * A repl_link_t exists for every configured peer for the lifetime of its
 * peer set (peers.h). It outlives connections: each time a TCP connection to
 * the peer completes the handshake a new *session* starts (on_up) and when
 * that connection ends the session ends (on_down). Nothing survives from one
 * session to the next: frames still queued are discarded, the flow-control
 * window starts again from zero, and the layer above resynchronizes (the
 * "sub" message carries its cursors).
 *
 * Everything here runs on the peer set's libuv loop thread and is not
 * thread-safe. Callbacks are invoked from that loop:
 *   - on_up, on_frame and on_writable are only ever called from the loop
 *     (never from inside a repl_link_* or repl_peers_* call);
 *   - on_down is called from the loop, and also synchronously from
 *     repl_link_disconnect() and repl_peers_close()/repl_peers_free() for a
 *     link that was up. It is never called from repl_link_send*().
 * Any callback may call any function of this API, including
 * repl_link_disconnect() and repl_peers_close() / repl_peers_free().
 *
 * Frames handled by the transport itself and never delivered: hello, auth
 * (handshake), ping, pong (heartbeats) and credit (flow control). Every other
 * frame of an authenticated session is delivered to on_frame as a decoded
 * msgpack map.
 */
#ifndef CAIRN_REPL_LINK_H
#define CAIRN_REPL_LINK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

typedef struct repl_link repl_link_t;

typedef enum {
    REPL_LINK_IDLE = 0,   /* no session; this side only accepts and waits for the peer */
    REPL_LINK_CONNECTING, /* resolving, connecting or handshaking (dialing side) */
    REPL_LINK_BACKOFF,    /* waiting before the next dial attempt */
    REPL_LINK_UP,         /* authenticated session */
    REPL_LINK_CLOSED,     /* the peer set is shutting down or shut down */
} repl_link_state_t;

/* "idle", "connecting", "backoff", "up", "closed". */
const char *repl_link_state_name(repl_link_state_t s);

typedef struct repl_link_cbs {
    /* A session started: the link is authenticated and accepts sends. */
    void (*lc_on_up)(repl_link_t *l, void *arg);
    /*
     * The session ended; queued frames were discarded. reason:
     *   CAIRN_ESHUTDOWN  the peer set is closing
     *   CAIRN_ETIMEDOUT  nothing received from the peer within the dead time
     *   CAIRN_EPROTO     the peer broke the protocol (logged as repl.peer.rejected)
     *   CAIRN_EEXIST     replaced by a newer authenticated connection from the same peer
     *   -ECONNRESET      the peer closed the connection
     *   other negative   a socket error (-errno), or the code the layer above
     *                    returned from on_frame / passed to repl_link_disconnect
     */
    void (*lc_on_down)(repl_link_t *l, int reason, void *arg);
    /*
     * One frame of the current session. type is the "t" value (NUL-terminated,
     * 1..15 printable bytes); msg is the whole map, "t" included. Both are
     * borrowed for the duration of the call only: copy what must be kept
     * (strings and binaries in msg point into the receive buffer).
     * Return 0, or a negative code to declare a protocol error: the transport
     * logs repl.peer.rejected and ends the session with that code as reason.
     * Unknown types should be answered with CAIRN_EPROTO.
     */
    int (*lc_on_frame)(repl_link_t *l, const char *type, const msgpack_object *msg, void *arg);
    /*
     * A send refused with CAIRN_EBUSY in this session would now be accepted
     * (output queue drained to the low-water mark, and the window reopened
     * when the refusal was for lack of window). Called once per refusal
     * streak; the callback should send until refused again.
     */
    void (*lc_on_writable)(repl_link_t *l, void *arg);
} repl_link_cbs_t;

/*
 * Timing and size knobs. A zero field takes the default in brackets; tests
 * shorten the timings.
 */
typedef struct repl_link_tuning {
    uint32_t lt_handshake_ms;   /* connect + hello + auth must finish within [5000] */
    uint32_t lt_heartbeat_ms;   /* send a ping after this long without sending [1000] */
    uint32_t lt_dead_ms;        /* no frame received for this long: session dead [5000] */
    uint32_t lt_backoff_min_ms; /* first redial delay [100] */
    uint32_t lt_backoff_max_ms; /* redial delay cap [5000]; delays are jittered to 50..100% */
    size_t lt_queue_high;       /* output queue high-water mark, bytes [4 MiB] */
    size_t lt_queue_low;        /* resume at or below this [1 MiB; high/4 when high < 2 MiB] */
    uint64_t lt_window;         /* flow-control window, credit bytes in flight [8 MiB] */
    uint32_t lt_max_pending;    /* unauthenticated inbound connections at once [64] */
} repl_link_tuning_t;

#define REPL_DEFAULT_HANDSHAKE_MS 5000u
#define REPL_DEFAULT_HEARTBEAT_MS 1000u
#define REPL_DEFAULT_DEAD_MS 5000u
#define REPL_DEFAULT_BACKOFF_MIN_MS 100u
#define REPL_DEFAULT_BACKOFF_MAX_MS 5000u
#define REPL_DEFAULT_QUEUE_HIGH (4u * 1024u * 1024u)
#define REPL_DEFAULT_QUEUE_LOW (1u * 1024u * 1024u)
#define REPL_DEFAULT_WINDOW (8u * 1024u * 1024u)
#define REPL_DEFAULT_MAX_PENDING 64u

/* Bytes an urgent send may go beyond the high-water mark. */
#define REPL_URGENT_RESERVE (1024u * 1024u)

typedef struct repl_link_stats {
    repl_link_state_t ls_state;
    uint64_t ls_session;         /* sessions established so far; the current one's number when up */
    uint64_t ls_frames_in;       /* frames of authenticated sessions, all sessions, */
    uint64_t ls_frames_out;      /*   heartbeats and credits included */
    uint64_t ls_bytes_in;        /* the same frames' bytes, length prefixes included */
    uint64_t ls_bytes_out;       /*   (out: counted when written to the socket) */
    uint64_t ls_last_rx_unix_ms; /* wall clock of the last frame received; 0 = never */
    uint64_t ls_up_since_unix_ms; /* wall clock the current session started; 0 when not up */
    uint32_t ls_rtt_ms;           /* round trip of the last answered ping */
    size_t ls_queue_bytes;        /* bytes queued for the socket, not yet written */
    uint64_t ls_window_used;      /* credit bytes sent and not yet credited back */
    uint64_t ls_window;           /* the window size */
    uint64_t ls_dial_failures;    /* consecutive failed dial attempts (0 once up) */
    int ls_last_error;            /* reason of the last session end or dial failure; 0 = none */
} repl_link_stats_t;

/* The peer's node id (1..65535). */
uint16_t repl_link_peer_id(const repl_link_t *l);
/* "HOST:PORT" as configured for the peer; borrowed, valid as long as the link. */
const char *repl_link_peer_addr(const repl_link_t *l);
repl_link_state_t repl_link_state(const repl_link_t *l);
/* Number of the current session (changes on every on_up); 0 before the first. */
uint64_t repl_link_session(const repl_link_t *l);
void repl_link_get_stats(const repl_link_t *l, repl_link_stats_t *out);

/* One pointer of the layer above's own, kept across sessions (NULL initially). */
void repl_link_set_udata(repl_link_t *l, void *udata);
void *repl_link_udata(const repl_link_t *l);

/* ---- sending ---- */

/* A small control reply (ack, want, have, credit): may use REPL_URGENT_RESERVE
 * bytes beyond the high-water mark. */
#define REPL_SEND_URGENT 0x1u

/*
 * Queues one frame for the current session. payload is one encoded msgpack
 * map (1..REPL_FRAME_MAX bytes), copied: the caller keeps ownership.
 * credit is the number of flow-control bytes this frame consumes (the blob
 * bytes of a "dat" frame; 0 for anything not flow-controlled); the peer
 * returns them with credit frames (repl_link_send_credit).
 *
 * Returns 0 when queued, and then the frame is written in order after every
 * frame queued before it unless the session ends first. Otherwise nothing
 * was queued and the result is:
 *   CAIRN_EUNAVAIL  no session (not up, or the connection is failing)
 *   CAIRN_EBUSY     output queue above its high-water mark (until it drains
 *                   below the low-water mark), or credit > 0 and the bytes in
 *                   flight already fill the window; on_writable follows
 *   CAIRN_EINVAL    len 0;  CAIRN_ETOOBIG  len > REPL_FRAME_MAX;  CAIRN_ENOMEM
 * A frame is never refused for window when credit is 0, so the bytes in
 * flight can exceed the window by at most one frame's credit.
 */
int repl_link_send(repl_link_t *l, const void *payload, size_t len, uint64_t credit,
                   unsigned flags);

/*
 * The packer form: fn packs exactly one map into pk (the transport's own
 * buffer, behind the length prefix, so large "dat" payloads are copied
 * once). fn is called only after the queue and window checks passed; its
 * negative return aborts the send and is returned. Results as repl_link_send.
 */
typedef int (*repl_pack_fn)(msgpack_packer *pk, void *arg);
int repl_link_send_pack(repl_link_t *l, repl_pack_fn fn, void *arg, uint64_t credit,
                        unsigned flags);

/*
 * Sends {"t":"credit","n":n}: the receiving side gives back n flow-control
 * bytes (normally after making the corresponding blob bytes durable). Urgent.
 * n must be 1..2^53. Results as repl_link_send.
 */
int repl_link_send_credit(repl_link_t *l, uint64_t n);

/* Whether a send with this credit would be accepted right now. */
int repl_link_writable(const repl_link_t *l, uint64_t credit, unsigned flags);
/* Bytes queued for the socket in the current session (0 when not up). */
size_t repl_link_queue_bytes(const repl_link_t *l);
/* Window bytes still available (0 when not up or exhausted). */
uint64_t repl_link_window_avail(const repl_link_t *l);

/* ---- receiving ---- */

/*
 * Stops / restarts reading from the current session's socket (soft
 * backpressure for the receiving side). Frames already read into the
 * current receive buffer may still be delivered after pause (at most
 * 64 KiB of them). While paused, the dead-peer timeout is suspended. Both
 * return CAIRN_EUNAVAIL when not up; the pause ends with the session.
 */
int repl_link_pause_read(repl_link_t *l);
int repl_link_resume_read(repl_link_t *l);

/*
 * Ends the current session (if any) with reason (a negative code, e.g.
 * CAIRN_EPROTO when the layer above found the peer misbehaving
 * asynchronously). on_down is called before this returns. The dialing side
 * redials after backoff.
 */
void repl_link_disconnect(repl_link_t *l, int reason);

#endif
