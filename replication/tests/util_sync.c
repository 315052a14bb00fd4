/*
 * util_sync.c -- see util_sync.h.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "replication/tests/util_sync.h"
#include "storage/blobfile.h"

/* A free loopback port (bound and released; libuv re-binds it with
 * SO_REUSEADDR). */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

void tc_init(tcluster_t *c, int n)
{
    memset(c, 0, sizeof(*c));
    ck_assert_int_le(n, TC_MAX);
    ck_assert_int_eq(uv_loop_init(&c->tc_loop), 0);
    c->tc_n = n;
    for (int i = 0; i < n; i++) {
        char tmpl[] = "/tmp/cairn-sync-XXXXXX";

        c->tc_node[i].sn_id = (uint16_t)(i + 1);
        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        c->tc_node[i].sn_dir = strdup(tmpl);
        c->tc_node[i].sn_port = free_port();
        for (int j = 0; j < n; j++)
            c->tc_link[i][j] = i != j;
    }
    c->tc_sync.st_tick_ms = 100;
    c->tc_sync.st_trim_ms = 300;
    c->tc_sync.st_repair_sweep_ms = 300;
    c->tc_sync.st_fetch_timeout_ms = 3000;
    c->tc_sync.st_chunk = 64 * 1024;
    c->tc_tun.lt_handshake_ms = 2000;
    c->tc_tun.lt_heartbeat_ms = 200;
    c->tc_tun.lt_dead_ms = 1500;
    c->tc_tun.lt_backoff_min_ms = 50;
    c->tc_tun.lt_backoff_max_ms = 300;
}

static store_t *open_store(tcluster_t *c, int i, repl_t *r)
{
    tsnode_t *sn = &c->tc_node[i];
    store_opts_t so;
    store_t *s = NULL;

    if (!sn->sn_clock_init) {
        hlc_init(&sn->sn_clock, 0);
        sn->sn_clock_init = 1;
    }
    memset(&so, 0, sizeof(so));
    so.so_dir = sn->sn_dir;
    so.so_node_id = sn->sn_id;
    so.so_map_size = 16u << 20;
    so.so_clock = &sn->sn_clock;
    so.so_log_changes = 1;
    so.so_inline_disable = c->tc_inline_off[i];
    if (r != NULL)
        repl_store_hooks(r, &so);
    ck_assert_int_eq(store_open(&so, &s), 0);
    return s;
}

store_t *tc_open_store_only(tcluster_t *c, int i)
{
    return open_store(c, i, NULL);
}

void tc_start(tcluster_t *c, int i)
{
    tsnode_t *sn = &c->tc_node[i];
    repl_peer_addr_t peers[TC_MAX];
    char listen[64];
    repl_conf_t rc;
    size_t np = 0;
    int rcode;

    ck_assert(!sn->sn_running);
    for (int j = 0; j < c->tc_n; j++) {
        char spec[64];
        int port;

        if (!c->tc_link[i][j])
            continue;
        port = c->tc_node[j].sn_port;
        if (c->tc_dead[i][j])
            port = 1; /* nothing listens there: the link stays down */
        snprintf(spec, sizeof(spec), "%u@127.0.0.1:%d", (unsigned)c->tc_node[j].sn_id, port);
        ck_assert_int_eq(repl_peer_addr_parse(spec, &peers[np]), 0);
        np++;
    }
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", sn->sn_port);
    memset(&rc, 0, sizeof(rc));
    rc.rc_self_id = sn->sn_id;
    rc.rc_listen = listen;
    rc.rc_peers = peers;
    rc.rc_npeers = np;
    rc.rc_secret = TC_SECRET;
    rc.rc_secret_len = strlen(TC_SECRET);
    rc.rc_link = c->tc_tun;
    rc.rc_sync = c->tc_sync;
    ck_assert_int_eq(repl_create(&c->tc_loop, &rc, &sn->sn_repl), 0);
    sn->sn_store = open_store(c, i, sn->sn_repl);
    rcode = repl_start(sn->sn_repl, sn->sn_store);
    ck_assert_msg(rcode == 0, "repl_start: %s", cairn_strerror(rcode));
    ck_assert_int_eq(repl_listen_port(sn->sn_repl, &sn->sn_port), 0);
    sn->sn_running = 1;
}

void tc_start_all(tcluster_t *c)
{
    for (int i = c->tc_n - 1; i >= 0; i--)
        tc_start(c, i);
}

static void stopped_cb(repl_t *r, void *arg)
{
    (void)r;
    *(int *)arg = 1;
}

static int flag_set(tcluster_t *c, void *arg)
{
    (void)c;
    return *(int *)arg;
}

void tc_stop(tcluster_t *c, int i)
{
    tsnode_t *sn = &c->tc_node[i];
    int done = 0;

    if (!sn->sn_running)
        return;
    repl_stop(sn->sn_repl, stopped_cb, &done);
    ck_assert_msg(tc_run_until(c, flag_set, &done, 10000), "replication did not stop");
    store_close(sn->sn_store);
    repl_free(sn->sn_repl);
    sn->sn_store = NULL;
    sn->sn_repl = NULL;
    sn->sn_running = 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void tc_destroy(tcluster_t *c)
{
    for (int i = 0; i < c->tc_n; i++)
        tc_stop(c, i);
    uv_walk(&c->tc_loop, walk_close, NULL);
    uv_run(&c->tc_loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&c->tc_loop), 0);
    for (int i = 0; i < c->tc_n; i++) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->tc_node[i].sn_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup failed: %s\n", cmd);
        free(c->tc_node[i].sn_dir);
        if (c->tc_node[i].sn_clock_init)
            hlc_destroy(&c->tc_node[i].sn_clock);
    }
}

/* ------------------------------------------------------------ running */

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void noop_timer(uv_timer_t *t)
{
    (void)t;
}

int tc_run_until(tcluster_t *c, tc_pred_fn pred, void *arg, uint64_t timeout_ms)
{
    uint64_t end = mono_ms() + timeout_ms;
    uv_timer_t t;
    int ok;

    uv_timer_init(&c->tc_loop, &t);
    uv_timer_start(&t, noop_timer, 10, 10); /* re-check at least every 10 ms */
    ok = pred(c, arg);
    while (!ok && mono_ms() < end) {
        uv_run(&c->tc_loop, UV_RUN_ONCE);
        ok = pred(c, arg);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&c->tc_loop, UV_RUN_NOWAIT);
    return ok;
}

static int never(tcluster_t *c, void *arg)
{
    (void)c;
    (void)arg;
    return 0;
}

void tc_run_for(tcluster_t *c, uint64_t ms)
{
    (void)tc_run_until(c, never, NULL, ms);
}

/* ------------------------------------------------------------- content */

void tc_fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

void tc_put(tcluster_t *c, int i, const char *key, const void *data, size_t len, store_stat_t *out)
{
    store_t *s = c->tc_node[i].sn_store;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    size_t off = 0;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = (int64_t)len;
    po.po_ctype = "application/x-test";
    ck_assert_int_eq(store_put_begin(s, key, strlen(key), &po, &w), 0);
    while (off < len) {
        size_t n = len - off > 100000 ? 100000 : len - off;

        ck_assert_int_eq(store_put_write(w, (const uint8_t *)data + off, n), 0);
        off += n;
    }
    ck_assert_int_eq(store_put_finish(w, out), 0);
}

void tc_delete(tcluster_t *c, int i, const char *key, store_stat_t *out)
{
    store_del_opts_t d;

    memset(&d, 0, sizeof(d));
    d.do_mode = STORE_PUT_LOCAL;
    ck_assert_int_eq(store_delete_ex(c->tc_node[i].sn_store, key, strlen(key), &d, out), 0);
}

int tc_has(tcluster_t *c, int i, const char *key, const store_version_t *v, const void *data,
           size_t len)
{
    store_t *s = c->tc_node[i].sn_store;
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    store_stat_t st;
    store_step_t step;
    uint8_t *buf;
    size_t got = 0;
    int ok = 0;

    if (s == NULL || store_stat(s, key, strlen(key), 0, &st) != 0 ||
        st.st_state != STORE_COMPLETE || st.st_size != len ||
        (v != NULL && store_version_cmp(&st.st_version, v) != 0))
        return 0;
    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + 1;
    if (store_read_open(s, key, strlen(key), &ro, &r, &st) != 0)
        return 0;
    buf = malloc(len + 1);
    for (;;) {
        if (store_read_next(r, &step) != 0 || step.ss_kind == STORE_STEP_WAIT)
            break;
        if (step.ss_kind == STORE_STEP_EOF) {
            ok = got == len && (len == 0 || memcmp(buf, data, len) == 0);
            break;
        }
        if (got + step.ss_len > len)
            break;
        if (step.ss_mem != NULL)
            memcpy(buf + got, step.ss_mem, step.ss_len);
        else if (pread(step.ss_fd, buf + got, step.ss_len, (off_t)step.ss_off) !=
                 (ssize_t)step.ss_len)
            break;
        store_read_consumed(r, step.ss_len);
        got += step.ss_len;
    }
    if (ok && v != NULL && store_version_cmp(&store_read_stat(r)->st_version, v) != 0)
        ok = 0;
    free(buf);
    store_read_close(r);
    return ok;
}

int tc_deleted(tcluster_t *c, int i, const char *key, const store_version_t *v)
{
    store_stat_t st;
    int rc = store_stat(c->tc_node[i].sn_store, key, strlen(key), 1, &st);

    if (rc == CAIRN_ENOTFOUND)
        return v == NULL;
    if (rc != 0 || st.st_state != STORE_TOMBSTONE)
        return 0;
    return v == NULL || store_version_cmp(&st.st_version, v) == 0;
}

typedef struct hasarg {
    unsigned ha_mask;
    const char *ha_key;
    const store_version_t *ha_v;
    const void *ha_data;
    size_t ha_len;
} hasarg_t;

static int all_have(tcluster_t *c, void *arg)
{
    hasarg_t *h = arg;

    for (int i = 0; i < c->tc_n; i++) {
        if ((h->ha_mask & (1u << i)) && c->tc_node[i].sn_running &&
            !tc_has(c, i, h->ha_key, h->ha_v, h->ha_data, h->ha_len))
            return 0;
    }
    return 1;
}

int tc_wait_has(tcluster_t *c, unsigned mask, const char *key, const store_version_t *v,
                const void *data, size_t len, uint64_t timeout_ms)
{
    hasarg_t h = {mask, key, v, data, len};

    return tc_run_until(c, all_have, &h, timeout_ms);
}

repl_metrics_t tc_metrics(tcluster_t *c, int i)
{
    repl_metrics_t m;

    repl_get_metrics(c->tc_node[i].sn_repl, &m);
    return m;
}

void tc_blob_path(tcluster_t *c, int i, uint64_t file_id, char *out, size_t cap)
{
    char blobs[512];

    snprintf(blobs, sizeof(blobs), "%s/blobs", c->tc_node[i].sn_dir);
    blobfile_path(blobs, file_id, out, cap);
}

static int count_entry(void *arg, const store_change_t *ch)
{
    (void)ch;
    (*(size_t *)arg)++;
    return 0;
}

size_t tc_log_count(tcluster_t *c, int i, uint16_t origin)
{
    size_t n = 0;

    ck_assert_int_eq(store_log_read(c->tc_node[i].sn_store, origin, 0, 0, count_entry, &n), 0);
    return n;
}

/* See util_sync.h. */
int tc_main(Suite *s)
{
    SRunner *sr;
    int failed;

    setenv("UV_THREADPOOL_SIZE", "8", 0);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
