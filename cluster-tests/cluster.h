/*
 * cluster.h -- N cairnd processes on loopback, their data dirs, logs,
 * secret, ports, and the proxy between them.
 *
 * Ports from a base P: node i's HTTP API is P + i - 1, its --peer-listen
 * P + 100 + i - 1, and the proxy route i -> j listens on
 * P + 200 + (i - 1) * N + (j - 1). Node i's --peer j@... points at that route.
 *
 * Every start/exit/signal is recorded as an event in the cluster's history
 * (when it has one). Process control is for the single scenario thread.
 */
#ifndef CAIRN_HARNESS_CLUSTER_H
#define CAIRN_HARNESS_CLUSTER_H

#include <stdint.h>
#include <sys/types.h>

#include "cluster-tests/history.h"
#include "cluster-tests/proxy.h"

#define CLUSTER_MAX_NODES PROXY_MAX_NODES
#define CLUSTER_MAX_EXTRA_ARGS 16

typedef enum { HN_DOWN = 0, HN_UP, HN_PAUSED } hn_state_t;

typedef struct hnode {
    int hn_id;
    int hn_http_port;
    int hn_peer_port;
    char hn_url[64];
    char hn_dir[512];  /* ROOT/nodeI */
    char hn_data[576]; /* ROOT/nodeI/data */
    char hn_log[576];  /* ROOT/nodeI/cairnd.log (appended across restarts) */
    pid_t hn_pid;      /* 0 when not running */
    hn_state_t hn_state;
    char hn_failpoints[512]; /* CAIRN_FAILPOINTS of the running process */
    int64_t hn_skew_ms;      /* CAIRN_CLOCK_SKEW_MS of the running process */
    int hn_expect_exit;      /* the harness killed it, or armed a crash failpoint */
    int hn_crash_armed;      /* a crash failpoint is armed in the running process */
    int hn_unclean;          /* last exit was not a clean shutdown */
    int hn_damaged;          /* its files were damaged since its last start */
    int64_t hn_started_ms;
    int hn_starts;
} hnode_t;

typedef struct cluster {
    int cl_n;
    int cl_base_port;
    char cl_root[512];
    char cl_secret[576];
    char cl_bin[512];                             /* path of cairnd */
    const char *cl_extra[CLUSTER_MAX_EXTRA_ARGS]; /* extra cairnd args (borrowed) */
    int cl_nextra;
    int cl_read_timeout_s;
    int cl_log_debug;
    int cl_has_durability_timeout;           /* cairnd --help lists --durability-timeout */
    hnode_t cl_nodes[CLUSTER_MAX_NODES + 1]; /* 1-based */
    proxy_t *cl_proxy;
    struct hclient *cl_http; /* health checks from the scenario thread */
    history_t *cl_hist;      /* borrowed, may be NULL */
} cluster_t;

/*
 * Prepares the layout under root (created), writes a fresh random secret,
 * creates and starts the proxy. bin is cairnd's path. 0 or -errno / UV_E*
 * with a message in err.
 */
int cluster_init(cluster_t *cl, int n, int base_port, const char *root, const char *bin,
                 history_t *hist, char *err, size_t errlen);

/* Picks a base port whose whole range (HTTP, peer, proxy) is free now.
 * seed varies the starting point. Returns the port or -EADDRINUSE. */
int cluster_pick_base_port(int n, uint64_t seed);

/*
 * Starts node i with the given CAIRN_FAILPOINTS (NULL/"" for none) and clock
 * skew; does not wait for readiness. 0 or -errno.
 */
int cluster_start(cluster_t *cl, int i, const char *failpoints, int64_t skew_ms);
/* Waits until node i answers /v1/health or timeout_ms passes or it exits.
 * 0, -ETIMEDOUT or -ECHILD (it exited). Records "ready". */
int cluster_wait_ready(cluster_t *cl, int i, int64_t timeout_ms);
/* Starts and waits; 0 or negative as above. */
int cluster_start_ready(cluster_t *cl, int i, const char *failpoints, int64_t skew_ms,
                        int64_t timeout_ms);

/* SIGKILL and reap. */
int cluster_kill(cluster_t *cl, int i);
/* SIGTERM, wait up to timeout_ms for a clean exit, then SIGKILL. */
int cluster_term(cluster_t *cl, int i, int64_t timeout_ms);
int cluster_pause(cluster_t *cl, int i);
int cluster_resume(cluster_t *cl, int i);

/*
 * Reaps exited nodes (non-blocking) and records their exits: "crash" when a
 * crash failpoint was armed and the process died of SIGKILL, "died"
 * otherwise unless the harness expected it. Returns how many exited.
 */
int cluster_poll(cluster_t *cl);
/* Waits up to timeout_ms for node i to exit by itself. 0 or -ETIMEDOUT. */
int cluster_wait_exit(cluster_t *cl, int i, int64_t timeout_ms);

/* Stops every node (SIGCONT first, then SIGTERM) and frees the proxy. */
void cluster_shutdown(cluster_t *cl);

/* 1 if cairnd's --help mentions flag (e.g. "--durability-timeout"). */
int cluster_bin_has_flag(const char *bin, const char *flag);

#endif
