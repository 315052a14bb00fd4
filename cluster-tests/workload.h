/*
 * workload.h -- the built-in workload: concurrent clients writing,
 * overwriting, reading and deleting keys of 0 B up to the size cap through
 * random nodes at the contract's durabilities, and a "focus" reader that
 * keeps reading on the node a scenario puts under fault.
 *
 * Every choice a client makes (kind, node, key, size, durability, pause)
 * comes from its own generator seeded from (seed, client index), and the
 * content of write op id is content_fill(seed, id, ...), so a seed replays
 * the same schedule of requests. Operation ids are
 * (client index + 1) << 32 | sequence.
 */
#ifndef CAIRN_HARNESS_WORKLOAD_H
#define CAIRN_HARNESS_WORKLOAD_H

#include <stdint.h>

#include "cluster-tests/cluster.h"
#include "cluster-tests/history.h"

#define WL_MAX_THREADS 16

typedef struct wl_opts {
    int wo_threads;       /* clients (default 4) */
    int wo_nkeys;         /* keys k/000.. plus the hot key k/hot (default 24) */
    uint64_t wo_max_size; /* largest blob (default 64 MiB) */
    int wo_large_pct;     /* % of writes of 1 MiB .. max (default 10) */
    int wo_put_pct, wo_get_pct, wo_head_pct, wo_del_pct; /* mix (45/40/5/10) */
    int wo_focus;                                        /* run the focus reader (default 1) */
    int wo_pause_max_ms; /* each client pauses 0..this between ops (default 25) */
} wl_opts_t;

typedef struct workload workload_t;

void wl_opts_default(wl_opts_t *o);

/* Starts the clients. The cluster and history are borrowed until
 * workload_stop. 0 or -errno. */
int workload_start(const wl_opts_t *o, cluster_t *cl, history_t *h, uint64_t seed,
                   workload_t **out);

/* The node the focus reader reads from (0: a random node per read). */
void workload_set_focus(workload_t *w, int node);

/* Restricts the nodes clients pick (bit i set = node i allowed; 0 = all). */
void workload_set_nodes(workload_t *w, uint32_t mask);

/* Operations recorded so far. */
uint64_t workload_ops(workload_t *w);

/* Asks the clients to stop after their current request (does not wait). */
void workload_request_stop(workload_t *w);

/* Stops the clients (they finish their current request), waits, frees w. */
void workload_stop(workload_t *w);

/* The name of key number k (k == nkeys: the hot key) into out (32 bytes). */
void workload_key_name(int k, int nkeys, char *out);

#endif
