/*
 * server.h -- the node's HTTP server: listener, connection list, wakes,
 * timeouts, signals and clean shutdown (node-internal).
 *
 * Everything runs on one libuv loop on the main thread; disk work goes to
 * libuv's thread pool. Usage from main():
 *
 *   server_init(&sv, loop, &cfg);          // before store_open: repair hook
 *   server_bind(&sv, err, errlen);         // refuse early when the port is taken
 *   sv.sv_repl = r;                        // with peers: replication (repl_create)
 *   store_open(... so_repair = server_repair_cb, so_repair_arg = &sv ...);
 *   server_start(&sv, store);
 *   uv_run(loop, UV_RUN_DEFAULT);          // returns after a clean shutdown
 *   server_destroy(&sv);
 *   store_close(store);
 *
 * With replication, sv_on_drained (called once every connection is gone
 * and the server's handles are closing) stops the module, so uv_run
 * returns only after replication stopped too.
 */
#ifndef CAIRN_NODE_SERVER_H
#define CAIRN_NODE_SERVER_H

#include <llhttp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "node/config.h"
#include "node/http_conn.h"
#include "node/metrics.h"
#include "replication/repl.h"
#include "storage/store.h"

#define SERVER_SWEEP_MS 250

struct server {
    uv_loop_t *sv_loop;
    const node_config_t *sv_cfg; /* borrowed for the server's lifetime */
    store_t *sv_store;           /* borrowed */
    repl_t *sv_repl;             /* borrowed; NULL: no peers, every level met locally */
    void (*sv_on_drained)(server_t *sv, void *arg); /* may be NULL */
    void *sv_drained_arg;
    llhttp_settings_t sv_http;
    metrics_t sv_metrics;
    int sv_listen_fd;
    uv_poll_t sv_listen_poll;
    int sv_listen_active;
    uv_timer_t sv_accept_pause; /* accept backs off briefly on EMFILE */
    uv_timer_t sv_sweep;
    uv_timer_t sv_shutdown_timer;
    uv_signal_t sv_sigterm;
    uv_signal_t sv_sigint;
    uv_async_t sv_wake_async;
    pthread_mutex_t sv_wake_lock;
    conn_t *sv_wake_head; /* under sv_wake_lock */
    conn_t *sv_conns;
    unsigned sv_nconns;
    uint64_t sv_next_conn_id;
    int sv_started;
    int sv_stopping;
    int sv_aborting;
    int sv_handles_closed;
    uint64_t sv_start_ms;
    char sv_date[32];
    int64_t sv_date_sec;
    _Atomic uint64_t sv_repair_reports;
    /* Loop thread only: where a GET served without the thread pool copies
     * an inline blob out of the store (store_read_inline) before it goes
     * into the connection's output. Allocated on first use, sv_inline_cap
     * bytes; freed by server_destroy. */
    char *sv_inline_buf;
    size_t sv_inline_cap;
};

/* Prepares sv (no handles yet). cfg must outlive sv. */
void server_init(server_t *sv, uv_loop_t *loop, const node_config_t *cfg);

/* Binds and listens on cfg's --listen address. 0 or -errno with one line in err. */
int server_bind(server_t *sv, char *err, size_t errlen);

/* Starts accepting, the sweep timer and the signal handlers. 0 or a uv error. */
int server_start(server_t *sv, store_t *store);

/* Releases what is left after uv_run returned. */
void server_destroy(server_t *sv);

/* store_repair_fn: counts, logs, and hands the key to replication (a fetch
 * from a peer) when sv_repl is set. Any thread. */
void server_repair_cb(void *arg, const char *key, size_t klen, const store_version_t *version,
                      uint64_t file_id);

/* Starts a clean shutdown (as SIGTERM does). */
void server_stop(server_t *sv);

/* ---- used by http_conn.c ---- */
void server_conn_added(server_t *sv, conn_t *c);
void server_conn_removed(server_t *sv, conn_t *c);
/* Queues c for conn_on_wake() on the loop thread; callable from any thread. */
void server_wake(server_t *sv, conn_t *c);
/* Removes c from the wake list (loop thread, before freeing c). */
void server_unwake(server_t *sv, conn_t *c);
/* The cached IMF-fixdate of the current second. */
const char *server_date(server_t *sv);

#endif
