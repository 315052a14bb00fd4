/*
 * peers.h -- the set of replication links of one node: listener, dial policy, lookup.
 *
 * A peer set holds one repl_link_t per configured peer (--peer ID@HOST:PORT)
 * and the listener on --peer-listen. Dial policy: for each pair the node
 * with the lower id dials and the higher one only accepts, so a pair has one
 * link; an inbound connection is accepted from any configured peer and, once
 * authenticated, replaces an older session of the same peer.
 *
 * Lifetime: create, start, and eventually close and free. Closing is
 * asynchronous like uv_close(): every handle must see its close callback on
 * the loop before memory can go, so the loop has to keep running until
 * the closed callback has fired (or, after repl_peers_free, until uv_run
 * returns).
 */
#ifndef CAIRN_REPL_PEERS_H
#define CAIRN_REPL_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "replication/link.h"

typedef struct repl_peers repl_peers_t;

#define REPL_HOST_MAX 256   /* host names and literal addresses, NUL included */
#define REPL_PEERS_MAX 1024 /* configured peers */

typedef struct repl_peer_addr {
    uint16_t pa_id;              /* 1..65535 */
    char pa_host[REPL_HOST_MAX]; /* name, IPv4 or IPv6 literal (without brackets) */
    int pa_port;                 /* 1..65535 */
} repl_peer_addr_t;

/*
 * Parses "ID@HOST:PORT" (HOST may be [v6]) as given to --peer. CAIRN_EINVAL
 * for anything malformed or out of range; *out is then undefined.
 */
int repl_peer_addr_parse(const char *s, repl_peer_addr_t *out);

typedef struct repl_peers_conf {
    uint16_t pc_self_id;              /* this node, 1..65535 */
    const char *pc_listen;            /* "HOST:PORT" for --peer-listen (port 0 picks
                                         a free one); NULL: accept no connections */
    const repl_peer_addr_t *pc_peers; /* copied; ids unique and != self */
    size_t pc_npeers;
    const void *pc_secret; /* shared cluster secret, 1..4096 bytes, copied */
    size_t pc_secret_len;
    repl_link_tuning_t pc_tuning; /* zero fields = defaults */
} repl_peers_conf_t;

/*
 * Builds the peer set on loop (no I/O yet). cbs is copied; cb_arg is passed
 * to every callback. Returns 0 and *out, CAIRN_EINVAL for a bad
 * configuration (nothing allocated), or CAIRN_ENOMEM.
 */
int repl_peers_create(uv_loop_t *loop, const repl_peers_conf_t *conf, const repl_link_cbs_t *cbs,
                      void *cb_arg, repl_peers_t **out);

/*
 * Binds and listens (when pc_listen is set) and starts dialing every peer
 * with a higher id. Returns 0, CAIRN_EINVAL when called twice or after
 * close, or the bind/listen error (-errno, e.g. -EADDRINUSE) with nothing
 * started; the caller then frees the set.
 * Also sets SIGPIPE to ignored if it is still at its default disposition:
 * libuv writes sockets with write(2), and a peer vanishing mid-write must
 * not kill the process (the write fails with EPIPE instead).
 */
int repl_peers_start(repl_peers_t *ps);

/* The bound listener port (useful with port 0); CAIRN_EUNAVAIL when not listening. */
int repl_peers_listen_port(const repl_peers_t *ps, int *port);

uint16_t repl_peers_self_id(const repl_peers_t *ps);
size_t repl_peers_count(const repl_peers_t *ps);
/* i in 0..count-1, in configuration order; NULL otherwise. */
repl_link_t *repl_peers_link_at(repl_peers_t *ps, size_t i);
/* The link of a configured peer, NULL for any other id. */
repl_link_t *repl_peers_link(repl_peers_t *ps, uint16_t node_id);

typedef void (*repl_peers_closed_cb)(repl_peers_t *ps, void *arg);

/*
 * Starts shutting down: stops listening, ends every session (on_down with
 * CAIRN_ESHUTDOWN, synchronously), drops connections in progress, stops
 * redial timers. No callback but on_down fires after this is called. cb
 * (may be NULL) runs on the loop once every handle has been closed; the
 * memory stays until repl_peers_free. Calling it again does nothing.
 */
void repl_peers_close(repl_peers_t *ps, repl_peers_closed_cb cb, void *arg);

/*
 * Releases the peer set: immediately when it is fully closed, otherwise it
 * closes it (if not already closing) and frees it on the loop once the last
 * handle is closed. ps must not be used afterwards. NULL is ignored.
 */
void repl_peers_free(repl_peers_t *ps);

#endif
