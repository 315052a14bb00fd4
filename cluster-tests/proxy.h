/*
 * proxy.h -- the harness's TCP proxy between cairn peers.
 *
 * Every node's --peer entry for node j points at a route (i -> j): a port
 * of this proxy that forwards to j's real --peer-listen port. A connection
 * through route (i, j) carries bytes from i to j one way and from j to i
 * the other, so each direction of each pair of nodes can be impaired
 * separately:
 *
 *   cut        nothing moves in that direction: the proxy stops reading the
 *              sender and holds what it has (like a network that drops
 *              packets: TCP stalls, heartbeats time out); healing resumes it
 *   delay_ms   every chunk is held that long after it arrived
 *   rate_bps   at most that many bytes per second (0 = unlimited)
 *
 * The proxy runs its own libuv loop on its own thread; the functions below
 * are called from other threads and take effect at once.
 */
#ifndef CAIRN_HARNESS_PROXY_H
#define CAIRN_HARNESS_PROXY_H

#include <stdint.h>

#define PROXY_MAX_NODES 16

typedef struct proxy proxy_t;

typedef struct link_cfg {
    int lc_cut;
    int lc_delay_ms;
    uint64_t lc_rate_bps;
} link_cfg_t;

/* Creates a proxy for nodes 1..nnodes. 0 or -ENOMEM/-EINVAL. */
int proxy_new(int nnodes, proxy_t **out);

/* Adds route from -> to listening on 127.0.0.1:listen_port and forwarding to
 * 127.0.0.1:target_port. Only before proxy_start. 0 or a negative UV_E*. */
int proxy_add_route(proxy_t *p, int from, int to, int listen_port, int target_port);

/* Starts the proxy thread. 0 or a negative UV_E* / -errno. */
int proxy_start(proxy_t *p);

/* Sets the impairment of traffic from -> to. */
void proxy_set(proxy_t *p, int from, int to, const link_cfg_t *cfg);
/* Current impairment of from -> to. */
void proxy_get(proxy_t *p, int from, int to, link_cfg_t *cfg);
/* Clears every impairment. */
void proxy_heal(proxy_t *p);
/* 1 if any direction is impaired. */
int proxy_impaired(proxy_t *p);
/* Closes every open connection between a and b (both routes). */
void proxy_reset(proxy_t *p, int a, int b);
/* Bytes forwarded from -> to so far; connections accepted in total. */
uint64_t proxy_bytes(proxy_t *p, int from, int to);
uint64_t proxy_connections(proxy_t *p);

/* Stops the thread, closes everything and frees p. NULL is allowed. */
void proxy_free(proxy_t *p);

#endif
