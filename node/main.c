/*
 * main.c -- cairnd: configuration, store, HTTP server, clean shutdown.
 *
 * Exit status: 0 after a clean shutdown (SIGTERM/SIGINT) or --help/--version;
 * 2 when the configuration or environment is refused at start (one line on
 * stderr says why); 1 when the store cannot be opened or the loop fails.
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
    uv_loop_t loop;
    char err[1024];
    char buf[64];
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
    memset(&so, 0, sizeof(so));
    so.so_dir = cfg.nc_data;
    so.so_node_id = cfg.nc_node_id;
    so.so_max_blob_size = cfg.nc_max_blob_size;
    so.so_inline_max = cfg.nc_inline_max;
    so.so_inline_disable = cfg.nc_inline_max == 0;
    so.so_log_changes = cfg.nc_npeers > 0; /* the replication log feeds peers */
    so.so_repair = server_repair_cb;
    so.so_repair_arg = &sv;
    rc = store_open(&so, &store);
    if (rc == CAIRN_ELOCKED) {
        snprintf(err, sizeof(err), "data directory %s is in use by another cairnd (LOCK held)",
                 cfg.nc_data);
        die(2, err);
    }
    if (rc < 0) {
        snprintf(err, sizeof(err), "cannot open the store in %s: %s", cfg.nc_data,
                 cairn_strerror(rc));
        die(1, err);
    }
    apply_clock_skew(store);

    rc = server_start(&sv, store);
    if (rc < 0) {
        snprintf(err, sizeof(err), "cannot start the HTTP server: %s", uv_strerror(rc));
        store_close(store);
        die(1, err);
    }
    LOG_INFO("node.start",
             "version=%s listen=%s:%d data=%s peers=%u durability=%s max_blob_size=%llu "
             "io_threads=%u auth=%s",
             CAIRN_VERSION, cfg.nc_listen_host, cfg.nc_listen_port, cfg.nc_data, cfg.nc_npeers,
             durability_name(cfg.nc_durability), (unsigned long long)cfg.nc_max_blob_size,
             cfg.nc_io_threads, cfg.nc_token != NULL ? "bearer" : "none");
    if (cfg.nc_npeers > 0)
        LOG_WARN("node.replication_unavailable",
                 "peers=%u note=\"this build does not run replication; writes are local\"",
                 cfg.nc_npeers);

    rc = uv_run(&loop, UV_RUN_DEFAULT);
    server_destroy(&sv);
    store_close(store);
    rc = uv_loop_close(&loop);
    if (rc < 0)
        LOG_WARN("node.loop_close", "err=%s", uv_strerror(rc));
    LOG_INFO("node.stopped", "status=0");
    config_free(&cfg);
    return 0;
}
