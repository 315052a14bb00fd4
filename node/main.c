/*
 * main.c -- cairnd: configuration, store, replication, HTTP server, clean
 * shutdown.
 *
 * Replication runs when --peer is given (a node without peers has no
 * replication module, no peer listener and meets every durability level
 * with its local commit; --peer-listen alone is accepted and unused). The
 * order follows replication/repl.h: repl_create, store_open with the
 * module's hooks (our own so_repair forwards to it), repl_start, serve;
 * on SIGTERM/SIGINT the server drains, then replication stops, then the
 * store closes, then the module is freed.
 *
 * Exit status: 0 after a clean shutdown (SIGTERM/SIGINT) or --help/--version;
 * 2 when the configuration or environment is refused at start (one line on
 * stderr says why, e.g. a --peer-listen port in use); 1 when the store
 * cannot be opened or the loop fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/conf.h"
#include "common/failpoint.h"
#include "common/hlc.h"
#include "common/log.h"
#include "node/config.h"
#include "node/server.h"
#include "replication/repl.h"
#include "storage/store.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.0.0"
#endif

/*
 * Refuses early, with one line, a data directory another cairnd holds: the
 * same flock() the store takes on DATA/LOCK, taken and released here so the
 * store's own messages about it never show at start.
 */
static int data_dir_free(const char *dir)
{
    char path[4096];
    int fd, rc = 1;

    if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
        return 1; /* let the store report it */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        rc = errno == EWOULDBLOCK ? 0 : 1;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return rc;
}

static void die(int status, const char *msg)
{
    fprintf(stderr, "cairnd: error: %s\n", msg);
    exit(status);
}

/* "HOST:PORT", with brackets around an IPv6 literal. */
static void format_hostport(const char *host, int port, char *out, size_t cap)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, cap, "[%s]:%d", host, port);
    else
        snprintf(out, cap, "%s:%d", host, port);
}

/*
 * Builds the replication module from the configuration (peers, the
 * --peer-listen address, the secret config_check read). Returns 0 and *out,
 * or a negative code with one line in err. Allocates nothing on failure.
 */
static int repl_from_config(uv_loop_t *loop, const node_config_t *cfg, repl_t **out, char *err,
                            size_t errlen)
{
    repl_peer_addr_t peers[CONFIG_MAX_PEERS];
    char listen[CONFIG_HOST_MAX + 16];
    repl_conf_t rc;
    unsigned i;
    int rcode;

    memset(&rc, 0, sizeof(rc));
    memset(peers, 0, sizeof(peers));
    for (i = 0; i < cfg->nc_npeers; i++) {
        peers[i].pa_id = cfg->nc_peers[i].np_id;
        snprintf(peers[i].pa_host, sizeof(peers[i].pa_host), "%s", cfg->nc_peers[i].np_host);
        peers[i].pa_port = cfg->nc_peers[i].np_port;
    }
    format_hostport(cfg->nc_peer_listen_host, cfg->nc_peer_listen_port, listen, sizeof(listen));
    rc.rc_self_id = cfg->nc_node_id;
    rc.rc_listen = listen;
    rc.rc_peers = peers;
    rc.rc_npeers = cfg->nc_npeers;
    rc.rc_secret = cfg->nc_secret;
    rc.rc_secret_len = cfg->nc_secret_len;
    rcode = repl_create(loop, &rc, out);
    if (rcode < 0)
        snprintf(err, errlen, "cannot set up replication (--peer, --peer-listen %s): %s", listen,
                 cairn_strerror(rcode));
    return rcode;
}

static void on_repl_stopped(repl_t *r, void *arg)
{
    (void)arg;
    LOG_INFO("node.replication_stopped", "peers=%zu", repl_peer_count(r));
}

/* The server drained: stop replication; uv_run returns once it stopped. */
static void on_drained(server_t *sv, void *arg)
{
    (void)arg;
    if (sv->sv_repl != NULL)
        repl_stop(sv->sv_repl, on_repl_stopped, NULL);
}

/*
 * Start-up failed after repl_create: stops the module (running the loop
 * until its handles are closed), closes the store, frees the module.
 */
static void abandon_start(uv_loop_t *loop, repl_t *r, store_t *store)
{
    if (r != NULL) {
        repl_stop(r, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    if (store != NULL)
        store_close(store);
    repl_free(r);
}

/*
 * CAIRN_CLOCK_SKEW_MS (signed milliseconds) offsets this node's HLC physical
 * clock, for clock-skew tests (cairn-harness). Applied before the first
 * version is issued; a malformed value is refused at start.
 */
static void apply_clock_skew(store_t *store)
{
    const char *v = getenv("CAIRN_CLOCK_SKEW_MS");
    long long ms;

    if (v == NULL || *v == '\0')
        return;
    if (conf_parse_int(v, -86400000LL, 86400000LL, &ms) < 0)
        die(2, "CAIRN_CLOCK_SKEW_MS: expected signed milliseconds within one day");
    hlc_set_offset_ms(store_clock(store), (int64_t)ms);
    LOG_WARN("node.clock_skew", "offset_ms=%lld", ms);
}

int main(int argc, char **argv)
{
    node_config_t cfg;
    config_action_t action;
    server_t sv;
    store_opts_t so;
    store_t *store = NULL;
    repl_t *repl = NULL;
    uv_loop_t loop;
    char err[1024];
    char buf[64];
    char peer_listen[CONFIG_HOST_MAX + 16];
    int rc;

    err[0] = '\0';
    config_defaults(&cfg);
    rc = config_from_args(&cfg, argc, argv, &action, err, sizeof(err));
    if (rc < 0)
        die(2, err);
    if (action == CONFIG_HELP) {
        fputs(config_usage(), stdout);
        return 0;
    }
    if (action == CONFIG_VERSION) {
        printf("cairnd %s\n", CAIRN_VERSION);
        return 0;
    }
    rc = config_check(&cfg, err, sizeof(err));
    if (rc < 0)
        die(2, err);
    if (failpoints_from_env() < 0)
        die(2, "malformed CAIRN_FAILPOINTS (expected name=action;... with action crash, "
               "crash@N, error, error@N, enospc, enospc@N or sleep(MS))");

    log_set_level(cfg.nc_log_level);
    snprintf(buf, sizeof(buf), "node=%u", (unsigned)cfg.nc_node_id);
    log_set_prefix(buf);
    /* Must be set before libuv starts its thread pool (the first uv_queue_work). */
    snprintf(buf, sizeof(buf), "%u", cfg.nc_io_threads);
    setenv("UV_THREADPOOL_SIZE", buf, 1);
    signal(SIGPIPE, SIG_IGN);

    rc = uv_loop_init(&loop);
    if (rc < 0) {
        snprintf(err, sizeof(err), "cannot create the event loop: %s", uv_strerror(rc));
        die(1, err);
    }
    server_init(&sv, &loop, &cfg);
    rc = server_bind(&sv, err, sizeof(err));
    if (rc < 0)
        die(2, err);

    if (!data_dir_free(cfg.nc_data)) {
        snprintf(err, sizeof(err), "data directory %s is in use by another cairnd (LOCK held)",
                 cfg.nc_data);
        die(2, err);
    }
    if (cfg.nc_npeers > 0) {
        rc = repl_from_config(&loop, &cfg, &repl, err, sizeof(err));
        if (rc < 0)
            die(2, err);
    }
    memset(&so, 0, sizeof(so));
    so.so_dir = cfg.nc_data;
    so.so_node_id = cfg.nc_node_id;
    so.so_max_blob_size = cfg.nc_max_blob_size;
    so.so_inline_max = cfg.nc_inline_max;
    so.so_inline_disable = cfg.nc_inline_max == 0;
    if (repl != NULL)
        repl_store_hooks(repl, &so); /* so_on_change, so_log_changes = 1 */
    /* Our own repair hook counts and logs, then forwards to replication. */
    sv.sv_repl = repl;
    so.so_repair = server_repair_cb;
    so.so_repair_arg = &sv;
    rc = store_open(&so, &store);
    if (rc < 0) {
        if (rc == CAIRN_ELOCKED)
            snprintf(err, sizeof(err), "data directory %s is in use by another cairnd (LOCK held)",
                     cfg.nc_data);
        else
            snprintf(err, sizeof(err), "cannot open the store in %s: %s", cfg.nc_data,
                     cairn_strerror(rc));
        abandon_start(&loop, repl, NULL);
        die(rc == CAIRN_ELOCKED ? 2 : 1, err);
    }
    apply_clock_skew(store);

    format_hostport(cfg.nc_peer_listen_host, cfg.nc_peer_listen_port, peer_listen,
                    sizeof(peer_listen));
    if (repl != NULL) {
        rc = repl_start(repl, store);
        if (rc < 0) {
            snprintf(err, sizeof(err), "cannot listen for peers on %s (--peer-listen): %s",
                     peer_listen, cairn_strerror(rc));
            abandon_start(&loop, repl, store);
            die(2, err);
        }
        sv.sv_on_drained = on_drained;
    }

    rc = server_start(&sv, store);
    if (rc < 0) {
        /* Some server handles may be active, so the loop cannot be run to
         * stop replication: exit without closing (recovery covers it). */
        snprintf(err, sizeof(err), "cannot start the HTTP server: %s", uv_strerror(rc));
        die(1, err);
    }
    LOG_INFO("node.start",
             "version=%s listen=%s:%d data=%s peers=%u replication=%s peer_listen=%s "
             "durability=%s durability_timeout_s=%u max_blob_size=%llu io_threads=%u auth=%s",
             CAIRN_VERSION, cfg.nc_listen_host, cfg.nc_listen_port, cfg.nc_data, cfg.nc_npeers,
             repl != NULL ? "active" : "none", repl != NULL ? peer_listen : "-",
             durability_name(cfg.nc_durability), cfg.nc_durability_timeout_s,
             (unsigned long long)cfg.nc_max_blob_size, cfg.nc_io_threads,
             cfg.nc_token != NULL ? "bearer" : "none");

    rc = uv_run(&loop, UV_RUN_DEFAULT);
    server_destroy(&sv);
    /* uv_run returned: the server drained and replication (stopped from
     * on_drained) has no job or handle left, so the store can close. */
    store_close(store);
    repl_free(repl);
    rc = uv_loop_close(&loop);
    if (rc < 0)
        LOG_WARN("node.loop_close", "err=%s", uv_strerror(rc));
    LOG_INFO("node.stopped", "status=0");
    config_free(&cfg);
    return 0;
}
