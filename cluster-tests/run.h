/*
 * run.h -- running scenarios: the engine that starts a cluster, runs the
 * workload and a scenario's fault schedule, heals, waits for convergence,
 * reads everything back, checks the invariants and reports.
 *
 * A scenario is a function that injects faults until the run's deadline
 * using the r_* helpers below; everything else is common.
 */
#ifndef CAIRN_HARNESS_RUN_H
#define CAIRN_HARNESS_RUN_H

#include <stdint.h>
#include <sys/types.h>

#include "cluster-tests/checker.h"
#include "cluster-tests/cluster.h"
#include "cluster-tests/history.h"
#include "cluster-tests/hutil.h"
#include "cluster-tests/workload.h"

#define RUN_MAX_NODE_ARGS 16

typedef struct run_opts {
    const char *ro_scenario; /* a name or "all" */
    int ro_nodes;
    uint64_t ro_seed;
    int64_t ro_duration_s;
    const char *ro_report; /* JSON report path (default DIR/report.json) */
    int ro_keep;           /* keep data dirs and logs even when everything held */
    const char *ro_dir;    /* root directory (default a fresh /tmp/cairn-harness-*) */
    int ro_base_port;      /* 0: pick free ports */
    const char *ro_bin;    /* cairnd (default: next to cairn-harness) */
    wl_opts_t ro_wl;
    int ro_max_size_set;         /* --max-size given: scenarios keep it */
    const char *ro_workload_cmd; /* external workload (docs/harness.md) */
    int ro_no_workload;          /* no built-in clients (only the external command) */
    int64_t ro_converge_timeout_s;
    check_opts_t ro_check;
    const char *ro_failpoints; /* comma list restricting the crash cycle */
    const char *ro_node_args[RUN_MAX_NODE_ARGS];
    int ro_nnode_args;
    int ro_log_debug;
    int ro_quiet;
} run_opts_t;

struct scenario;

/* The state a scenario function works with. */
typedef struct run {
    const run_opts_t *r_o;
    const struct scenario *r_sc;
    cluster_t r_cl;
    history_t r_h;
    workload_t *r_wl;
    hu_rng_t r_rng; /* the fault schedule's generator */
    int64_t r_deadline_ms;
    char r_dir[600];
    pid_t r_cmd_pid;
    int r_cmd_status;
    int r_cmd_ran;
    int r_window[CLUSTER_MAX_NODES + 1]; /* leftover window open: watch pending repairs */
    int64_t r_last_watch_ms;
    uint64_t r_fp_armed, r_fp_hit, r_fp_missed;
} run_t;

typedef struct scenario {
    const char *sc_name;
    int sc_min_nodes;
    const char *sc_desc;
    int (*sc_fn)(run_t *r);
    int sc_large_pct;     /* -1: the workload's default */
    uint64_t sc_max_size; /* 0: the workload's default */
    int sc_del_pct;       /* -1: default */
} scenario_t;

/* The scenario table, terminated by a zero entry. */
extern const scenario_t scenarios[];
const scenario_t *scenario_find(const char *name);

void run_opts_default(run_opts_t *o);

/* Runs the selected scenario(s); prints the summary. Returns 0 when every
 * invariant held, 1 when one did not, 2 on a usage or setup error. */
int run_main(const run_opts_t *o);

/* `cairn-harness up`: a cluster in the foreground until SIGINT/SIGTERM. */
int run_up(int nodes, int base_port, const char *dir, const char *bin);

/* `cairn-harness check`: 0 when every invariant held, 1 otherwise, 2 when the
 * history cannot be read. */
int run_check(const char *history_path, const char *report_path, const check_opts_t *co);

/* ---- helpers for scenario functions (scenario thread only) ---- */

/* 1 while the fault phase lasts. */
int r_running(run_t *r);
/* Sleeps up to ms (not past the deadline), watching the nodes. Returns r_running(). */
int r_sleep(run_t *r, int64_t ms);
/* A node id 1..N chosen by the schedule. */
int r_pick_node(run_t *r);
/* Restarts node i (scanning its blob files first when it is down after a
 * crash) with failpoints/skew; waits until ready. 0 or negative. */
int r_start(run_t *r, int i, const char *failpoints, int64_t skew_ms);
/* SIGKILL node i. */
int r_kill(run_t *r, int i);
/* Clean stop (SIGTERM). */
int r_term(run_t *r, int i);
/* Restarts node i with a failpoint armed, waits up to wait_ms for it to be
 * hit (the node then dies) and brings the node back without failpoints.
 * Returns 1 when the failpoint fired, 0 when it did not (the node was
 * killed instead), negative on error. */
int r_crash_at(run_t *r, int i, const char *failpoint_spec, int64_t wait_ms);
/* Records the network state after the scenario changed the proxy. */
void r_net(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Cuts both directions between every node in mask and every node outside. */
void r_partition(run_t *r, uint32_t mask);
/* Damages one whole blob file of node i (truncate: 1, delete: 0) while the
 * node is stopped, then restarts it. 1 if a file was damaged, 0 if none
 * suitable, negative on error. */
int r_damage(run_t *r, int i, int truncate);
/* The comma list of failpoints the crash cycle may use (storage ones, plus
 * replication ones when N >= 2), filtered by --failpoints. Returns count. */
int r_failpoints(run_t *r, const char **out, int cap);

#endif
