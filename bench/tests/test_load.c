/*
 * test_load.c -- both backends end to end: the HTTP engine against a small
 * in-process HTTP server on 127.0.0.1 (keep-alive, Connection: close every
 * Nth response, 404s, body verification against the pattern), and the raw
 * backend in a temporary directory.
 */
#include "bench/bench.h"
#include "common/error.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define FS_KEYS 256
#define FS_SEARCH 32

/* ---- a tiny blocking HTTP server, one thread per connection ---- */

typedef struct fsrv {
    int fs_fd;
    int fs_port;
    int fs_close_every;   /* 0: keep-alive forever */
    uint64_t fs_max_body; /* 0: no limit; larger bodies get 413 before being read */
    int fs_abrupt;        /* after a 413, close at once (RST) instead of draining */
    pthread_mutex_t fs_lock;
    uint64_t fs_size[FS_KEYS];
    int fs_have[FS_KEYS];
    atomic_int fs_puts;
    atomic_int fs_gets;
    atomic_int fs_conns;
    atomic_int fs_bad_bodies;
    const unsigned char *fs_pattern; /* pattern followed by its first FS_SEARCH bytes */
} fsrv_t;

typedef struct fconn {
    fsrv_t *fc_srv;
    int fc_fd;
} fconn_t;

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    ssize_t w;

    while (n > 0) {
        w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads the body (len bytes, some already in buf[0..have)) and checks it is
 * a slice of the pattern. Returns 0, -1 on EOF, or 1 on a wrong body. */
static int fs_read_body(fsrv_t *s, int fd, char *buf, size_t have, uint64_t len)
{
    static const size_t cap = 1 << 16;
    const unsigned char *at;
    uint64_t got = 0, off = 0;
    unsigned char first[FS_SEARCH];
    size_t nfirst = 0, i;
    ssize_t n;
    int bad = 0;

    for (;;) {
        for (i = 0; i < have && got < len; i++, got++) {
            unsigned char c = (unsigned char)buf[i];

            if (nfirst < FS_SEARCH && len >= FS_SEARCH) {
                first[nfirst++] = c;
                if (nfirst == FS_SEARCH) {
                    at = memmem(s->fs_pattern, BENCH_PATTERN_SIZE + FS_SEARCH, first, FS_SEARCH);
                    if (at == NULL)
                        bad = 1;
                    else
                        off = (uint64_t)(at - s->fs_pattern) + FS_SEARCH;
                }
            } else if (nfirst == FS_SEARCH && !bad) {
                if (c != s->fs_pattern[off % BENCH_PATTERN_SIZE])
                    bad = 1;
                off++;
            }
        }
        if (got == len)
            return bad;
        n = read(fd, buf, cap);
        if (n <= 0)
            return -1;
        have = (size_t)n;
    }
}

static void *fs_conn_main(void *arg)
{
    fconn_t *fc = arg;
    fsrv_t *s = fc->fc_srv;
    char buf[1 << 16], head[512], method[8];
    size_t have = 0, hlen;
    unsigned long long key, clen;
    int served = 0, close_now, rc;
    char *end, *cl;
    ssize_t n;

    for (;;) {
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            if (have >= sizeof(buf) - 1)
                break;
            n = read(fc->fc_fd, buf + have, sizeof(buf) - 1 - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            continue;
        }
        hlen = (size_t)(end - buf) + 4;
        if (sscanf(buf, "%7s /v1/blobs/t/%llu", method, &key) != 2 || key >= FS_KEYS)
            break;
        cl = strstr(buf, "Content-Length: ");
        clen = cl != NULL && cl < end ? strtoull(cl + 16, NULL, 10) : 0;
        memmove(buf, buf + hlen, have - hlen);
        have -= hlen;
        served++;
        close_now = s->fs_close_every > 0 && served % s->fs_close_every == 0;
        if (strcmp(method, "PUT") == 0 && s->fs_max_body > 0 && clen > s->fs_max_body) {
            /* refuse early, then close gracefully: drain until the client hangs up */
            snprintf(head, sizeof(head),
                     "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                     "Content-Length: 29\r\n\r\n{\"error\":\"payload_too_large\"}");
            if (write_all(fc->fc_fd, head, strlen(head)) < 0)
                break;
            if (s->fs_abrupt)
                break;
            shutdown(fc->fc_fd, SHUT_WR);
            while (read(fc->fc_fd, buf, sizeof(buf)) > 0)
                ;
            break;
        } else if (strcmp(method, "PUT") == 0) {
            size_t take = have < clen ? have : (size_t)clen;

            rc = fs_read_body(s, fc->fc_fd, buf, take, clen);
            if (rc < 0)
                break;
            if (rc > 0)
                atomic_fetch_add(&s->fs_bad_bodies, 1);
            memmove(buf, buf + take, have - take);
            have -= take;
            pthread_mutex_lock(&s->fs_lock);
            s->fs_size[key] = clen;
            s->fs_have[key] = 1;
            pthread_mutex_unlock(&s->fs_lock);
            atomic_fetch_add(&s->fs_puts, 1);
            snprintf(head, sizeof(head), "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n%s\r\n{}",
                     close_now ? "Connection: close\r\n" : "");
            if (write_all(fc->fc_fd, head, strlen(head)) < 0)
                break;
        } else {
            uint64_t size = 0, left;
            int found;
            char zeros[4096];

            pthread_mutex_lock(&s->fs_lock);
            found = s->fs_have[key];
            size = s->fs_size[key];
            pthread_mutex_unlock(&s->fs_lock);
            atomic_fetch_add(&s->fs_gets, 1);
            if (!found) {
                snprintf(head, sizeof(head),
                         "HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n%s\r\n"
                         "{\"error\":\"not_found\",\"message\":\"no key\"}",
                         close_now ? "Connection: close\r\n" : "");
                if (write_all(fc->fc_fd, head, strlen(head)) < 0)
                    break;
            } else {
                snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n%s\r\n",
                         (unsigned long long)size, close_now ? "Connection: close\r\n" : "");
                if (write_all(fc->fc_fd, head, strlen(head)) < 0)
                    break;
                memset(zeros, 0, sizeof(zeros));
                for (left = size; left > 0;) {
                    size_t k = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);

                    if (write_all(fc->fc_fd, zeros, k) < 0)
                        break;
                    left -= k;
                }
            }
        }
        if (close_now)
            break;
    }
    close(fc->fc_fd);
    free(fc);
    return NULL;
}

static void *fs_accept_main(void *arg)
{
    fsrv_t *s = arg;
    pthread_t t;
    fconn_t *fc;
    int fd, one = 1;

    for (;;) {
        fd = accept(s->fs_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        atomic_fetch_add(&s->fs_conns, 1);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fc = malloc(sizeof(*fc));
        ck_assert_ptr_nonnull(fc);
        fc->fc_srv = s;
        fc->fc_fd = fd;
        ck_assert_int_eq(pthread_create(&t, NULL, fs_conn_main, fc), 0);
        pthread_detach(t);
    }
}

static unsigned char *pattern;

static fsrv_t *fs_start(int close_every)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    pthread_t t;
    fsrv_t *s = calloc(1, sizeof(*s));
    unsigned char *search;
    int one = 1;

    ck_assert_ptr_nonnull(s);
    search = malloc(BENCH_PATTERN_SIZE + FS_SEARCH);
    ck_assert_ptr_nonnull(search);
    memcpy(search, pattern, BENCH_PATTERN_SIZE);
    memcpy(search + BENCH_PATTERN_SIZE, pattern, FS_SEARCH);
    s->fs_pattern = search;
    s->fs_close_every = close_every;
    pthread_mutex_init(&s->fs_lock, NULL);
    s->fs_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->fs_fd, 0);
    setsockopt(s->fs_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->fs_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->fs_fd, 128), 0);
    ck_assert_int_eq(getsockname(s->fs_fd, (struct sockaddr *)&a, &alen), 0);
    s->fs_port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&t, NULL, fs_accept_main, s), 0);
    pthread_detach(t);
    return s;
}

/* ---- helpers ---- */

/* One conf and one result per test (each test runs in its own process). */
static bench_conf_t conf_store;
static bench_result_t result_store;

static bench_conf_t *make_conf(int port, bench_mode_t mode, const char *size)
{
    bench_conf_t *c = &conf_store;
    char url[64];

    memset(c, 0, sizeof(*c));
    c->bc_mode = mode;
    c->bc_connections = 4;
    c->bc_threads = 2;
    c->bc_keys = FS_KEYS;
    c->bc_get_ratio = 0.5;
    c->bc_timeout_s = 20;
    c->bc_seed = 42;
    snprintf(c->bc_prefix, sizeof(c->bc_prefix), "t/");
    snprintf(c->bc_prefix_enc, sizeof(c->bc_prefix_enc), "t/");
    ck_assert_int_eq(sizedist_parse(size, &c->bc_size), 0);
    snprintf(c->bc_size_spec, sizeof(c->bc_size_spec), "%s", size);
    if (port > 0) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        ck_assert_int_eq(bench_target_parse(url, &c->bc_targets[0]), 0);
        ck_assert_int_eq(bench_target_resolve(&c->bc_targets[0]), 0);
        c->bc_ntargets = 1;
    }
    return c;
}

static bench_result_t *run_http(bench_conf_t *c, int prefill)
{
    bench_result_t *r = &result_store;
    bench_phase_t ph;

    memset(r, 0, sizeof(*r));
    bench_phase_init(&ph, c, pattern, prefill, uv_hrtime());
    ck_assert_int_eq(http_load_run(&ph, r), 0);
    ck_assert(r->br_ran);
    return r;
}

static uint64_t err_count(const bench_result_t *r, const char *kind)
{
    unsigned i;

    for (i = 0; i < r->br_stats.bs_nerrs; i++) {
        if (strcmp(r->br_stats.bs_errs[i].ek_name, kind) == 0)
            return r->br_stats.bs_errs[i].ek_count;
    }
    return 0;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    pattern = malloc(BENCH_PATTERN_SIZE);
    ck_assert_ptr_nonnull(pattern);
    bench_pattern_fill(pattern, 42);
}

/* ---- HTTP backend ---- */

START_TEST(test_put_requests)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_PUT, "1000");
    bench_result_t *r;

    c->bc_requests = 300;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 300);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_bytes, 300000);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_hist.h_total, 300);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
    ck_assert_uint_eq(r->br_stats.bs_aborted, 0);
    ck_assert_int_eq(atomic_load(&s->fs_puts), 300);
    ck_assert_int_eq(atomic_load(&s->fs_bad_bodies), 0);
    /* keep-alive: one connection each, not one per request */
    ck_assert_int_eq(atomic_load(&s->fs_conns), 4);
    ck_assert(r->br_elapsed_s > 0);
}
END_TEST

START_TEST(test_reconnect_on_connection_close)
{
    fsrv_t *s = fs_start(3);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_PUT, "100-5000");
    bench_result_t *r;

    c->bc_requests = 120;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 120);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
    ck_assert_int_ge(atomic_load(&s->fs_conns), 40);
    ck_assert_int_eq(atomic_load(&s->fs_bad_bodies), 0);
}
END_TEST

START_TEST(test_put_get_big_bodies)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_PUTGET, "1K-64K:4,20M:1");
    bench_result_t *r;

    c->bc_requests = 30;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 30);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_ops, 30);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_bytes,
                      r->br_stats.bs_op[BENCH_OP_PUT].os_bytes);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
    ck_assert_int_eq(atomic_load(&s->fs_bad_bodies), 0);
    ck_assert_int_eq(atomic_load(&s->fs_gets), 30);
}
END_TEST

/* A body of 20 MiB wraps around the 8 MiB pattern twice. */
START_TEST(test_single_large_transfer)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_PUTGET, "20M");
    bench_result_t *r;

    c->bc_requests = 1;
    c->bc_connections = 1;
    c->bc_threads = 1;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_bytes, 20u << 20);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_bytes, 20u << 20);
    ck_assert_int_eq(atomic_load(&s->fs_bad_bodies), 0);
}
END_TEST

/*
 * A body refused before it is sent: the 413 is counted, whether the server
 * drains the rest (the body is sent in full) or resets the connection (the
 * write fails, the 413 is still in the receive buffer).
 */
START_TEST(test_early_refusal)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_PUT, "16M");
    bench_result_t *r;

    s->fs_max_body = 1 << 20;
    s->fs_abrupt = _i;
    c->bc_requests = 10;
    c->bc_connections = 2;
    c->bc_threads = 1;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_errors, 10);
    ck_assert_uint_eq(err_count(r, "http.413.payload_too_large"), 10);
    ck_assert_int_ge(atomic_load(&s->fs_conns), 10);
}
END_TEST

START_TEST(test_get_errors_by_kind_then_prefill)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_GET, "512");
    bench_result_t *r;

    c->bc_requests = 50;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_ops, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_errors, 50);
    ck_assert_uint_eq(err_count(r, "http.404.not_found"), 50);
    /* prefill writes every key once, in order */
    r = run_http(c, 1);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, FS_KEYS);
    ck_assert_int_eq(atomic_load(&s->fs_puts), FS_KEYS);
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_ops, 50);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_bytes, 50 * 512);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
}
END_TEST

START_TEST(test_duration_and_mixed)
{
    fsrv_t *s = fs_start(0);
    bench_conf_t *c = make_conf(s->fs_port, BENCH_MODE_MIXED, "2K");
    bench_result_t *r;
    uint64_t puts, gets;

    c->bc_duration_s = 0.5;
    c->bc_get_ratio = 0.75;
    r = run_http(c, 1);
    r = run_http(c, 0);
    ck_assert(r->br_elapsed_s > 0.49 && r->br_elapsed_s < 0.51);
    puts = r->br_stats.bs_op[BENCH_OP_PUT].os_ops;
    gets = r->br_stats.bs_op[BENCH_OP_GET].os_ops;
    ck_assert_uint_gt(puts + gets, 100);
    ck_assert(gets > 2 * puts);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
    ck_assert_uint_le(r->br_stats.bs_aborted, 4);
}
END_TEST

START_TEST(test_connection_refused)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    bench_conf_t *c;
    bench_result_t *r;
    int fd;

    /* a port that was just free: bound, never listened on, closed */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    c = make_conf(ntohs(a.sin_port), BENCH_MODE_PUT, "1K");
    c->bc_duration_s = 0.35;
    r = run_http(c, 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 0);
    ck_assert_uint_ge(err_count(r, "connect.ECONNREFUSED"), 4);
    /* retried with a pause, not in a tight loop */
    ck_assert_uint_le(err_count(r, "connect.ECONNREFUSED"), 4 * 5);
}
END_TEST

/* ---- raw backend ---- */

static unsigned count_files(const char *dir, const char *prefix)
{
    struct dirent *de;
    unsigned n = 0;
    DIR *d = opendir(dir);

    ck_assert_ptr_nonnull(d);
    for (de = readdir(d); de != NULL; de = readdir(d))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void rm_dir(const char *dir)
{
    struct dirent *de;
    char p[512];
    DIR *d = opendir(dir);

    for (de = d != NULL ? readdir(d) : NULL; de != NULL; de = readdir(d)) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

START_TEST(test_raw_put_get)
{
    char dir[] = "/tmp/cairn-bench-raw.XXXXXX";
    bench_conf_t *c = make_conf(0, BENCH_MODE_PUTGET, "1K-300K");
    bench_result_t *r = &result_store;
    bench_phase_t ph;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    c->bc_requests = 40;
    c->bc_keys = 16;
    c->bc_connections = 3;
    bench_phase_init(&ph, c, pattern, 0, uv_hrtime());
    ck_assert_int_eq(raw_load_run(&ph, dir, r), 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 40);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_ops, 40);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_bytes,
                      r->br_stats.bs_op[BENCH_OP_PUT].os_bytes);
    ck_assert_uint_eq(bench_stats_errors(&r->br_stats), 0);
    ck_assert_uint_le(count_files(dir, "blob."), 16);
    ck_assert_uint_ge(count_files(dir, "blob."), 1);
    ck_assert_uint_eq(count_files(dir, "tmp."), 0);
    rm_dir(dir);
}
END_TEST

START_TEST(test_raw_get_missing_then_prefill)
{
    char dir[] = "/tmp/cairn-bench-raw.XXXXXX";
    bench_conf_t *c = make_conf(0, BENCH_MODE_GET, "4K");
    bench_result_t *r = &result_store;
    bench_phase_t ph;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    c->bc_requests = 10;
    c->bc_keys = 8;
    c->bc_connections = 2;
    bench_phase_init(&ph, c, pattern, 0, uv_hrtime());
    ck_assert_int_eq(raw_load_run(&ph, dir, r), 0);
    ck_assert_uint_eq(err_count(r, "raw.open.ENOENT"), 10);
    bench_phase_init(&ph, c, pattern, 1, uv_hrtime());
    ck_assert_int_eq(raw_load_run(&ph, dir, r), 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_PUT].os_ops, 8);
    ck_assert_uint_eq(count_files(dir, "blob."), 8);
    bench_phase_init(&ph, c, pattern, 0, uv_hrtime());
    ck_assert_int_eq(raw_load_run(&ph, dir, r), 0);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_ops, 10);
    ck_assert_uint_eq(r->br_stats.bs_op[BENCH_OP_GET].os_bytes, 10 * 4096);
    rm_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_put_requests);
    tcase_add_test(tc, test_reconnect_on_connection_close);
    tcase_add_test(tc, test_put_get_big_bodies);
    tcase_add_test(tc, test_single_large_transfer);
    tcase_add_loop_test(tc, test_early_refusal, 0, 2);
    tcase_add_test(tc, test_get_errors_by_kind_then_prefill);
    tcase_add_test(tc, test_duration_and_mixed);
    tcase_add_test(tc, test_connection_refused);
    tcase_add_test(tc, test_raw_put_get);
    tcase_add_test(tc, test_raw_get_missing_then_prefill);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
