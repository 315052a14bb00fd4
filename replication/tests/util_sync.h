/*
 * util_sync.h -- fixtures for sync-layer tests: up to 4 nodes (store +
 * replication each, own temp data dir, loopback ports) on ONE libuv loop
 * in one process, with helpers to write, wait for convergence and compare
 * bytes. Helpers assert with Check: call them from inside a test.
 */
#ifndef CAIRN_REPL_TEST_UTIL_SYNC_H
#define CAIRN_REPL_TEST_UTIL_SYNC_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "replication/repl.h"
#include "storage/store.h"

#define TC_MAX 4
#define TC_SECRET "sync-test-secret"

typedef struct tsnode {
    uint16_t sn_id;
    char *sn_dir;
    store_t *sn_store;
    repl_t *sn_repl;
    int sn_port; /* replication listener, picked at tc_init */
    int sn_running;
    hlc_t sn_clock; /* the node's own clock (tests may skew it) */
    int sn_clock_init;
} tsnode_t;

typedef struct tcluster {
    uv_loop_t tc_loop;
    int tc_n;
    tsnode_t tc_node[TC_MAX];
    /* tc_link[i][j]: node i has node j configured as a peer */
    int tc_link[TC_MAX][TC_MAX];
    /* tc_dead[i][j]: node i is configured to dial node j at a dead port */
    int tc_dead[TC_MAX][TC_MAX];
    /* tc_inline_off[i]: node i's store keeps no inline blobs */
    int tc_inline_off[TC_MAX];
    repl_sync_tuning_t tc_sync;
    repl_link_tuning_t tc_tun;
} tcluster_t;

/* n nodes with ids 1..n, full mesh, fast timings; nothing started. */
/* Runs suite s in a test program's main (a thread pool of 8 unless
 * UV_THREADPOOL_SIZE is set); EXIT_SUCCESS when every test passed. */
int tc_main(Suite *s);

void tc_init(tcluster_t *c, int n);
/* Starts node i (0-based): opens its store (recovery runs) and its
 * replication. Ports are fixed at tc_init, so nodes start in any order. */
void tc_start(tcluster_t *c, int i);
void tc_start_all(tcluster_t *c);
/* Stops node i's replication (waiting on the loop) and closes its store. */
void tc_stop(tcluster_t *c, int i);
/* Stops everything, removes the data dirs, closes the loop. */
void tc_destroy(tcluster_t *c);
/* Opens node i's store alone (no replication), for setting up a state. */
store_t *tc_open_store_only(tcluster_t *c, int i);

typedef int (*tc_pred_fn)(tcluster_t *c, void *arg);
/* Runs the loop until pred or timeout_ms; returns pred's last value. */
int tc_run_until(tcluster_t *c, tc_pred_fn pred, void *arg, uint64_t timeout_ms);
void tc_run_for(tcluster_t *c, uint64_t ms);

/* Deterministic content. */
void tc_fill(uint8_t *p, size_t n, uint64_t seed);
/* A local put on node i (blocking; run the loop afterwards). */
void tc_put(tcluster_t *c, int i, const char *key, const void *data, size_t len, store_stat_t *out);
void tc_delete(tcluster_t *c, int i, const char *key, store_stat_t *out);

/* 1 when node i holds key COMPLETE at version v (any version when v is NULL)
 * with exactly data[0..len) as content. */
int tc_has(tcluster_t *c, int i, const char *key, const store_version_t *v, const void *data,
           size_t len);
/* 1 when node i has key as a tombstone at version v, or absent (v NULL: either). */
int tc_deleted(tcluster_t *c, int i, const char *key, const store_version_t *v);

/* Waits until every running node in mask (bit i = node i) has the content. */
int tc_wait_has(tcluster_t *c, unsigned mask, const char *key, const store_version_t *v,
                const void *data, size_t len, uint64_t timeout_ms);

repl_metrics_t tc_metrics(tcluster_t *c, int i);

/* The path of a node's blob file. */
void tc_blob_path(tcluster_t *c, int i, uint64_t file_id, char *out, size_t cap);

/* Number of entries in node i's log for origin. */
size_t tc_log_count(tcluster_t *c, int i, uint16_t origin);

#endif
