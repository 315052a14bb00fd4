/*
 * test_server.c -- the server in-process, for what a black-box test cannot
 * arrange: a GET that follows a replica write still in progress (also past
 * --read-timeout while the writer makes progress), a GET that waits for a
 * whole copy and gives up with 503 + Retry-After, and a clean stop with a
 * follower attached.
 *
 * The server's loop runs in its own thread; the test thread plays the
 * replication writer (store_put_* in replica mode) and the HTTP client.
 */
#include "common/error.h"
#include "common/log.h"
#include "node/config.h"
#include "node/server.h"
#include "storage/store.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

static char tmpdir[64];
static node_config_t cfg;
static server_t sv;
static store_t *store;
static uv_loop_t loop;
static pthread_t loop_thread;
static int port;

static void *run_loop(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static void setup(void)
{
    store_opts_t so;
    char err[256];
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn_test_server.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    config_defaults(&cfg);
    cfg.nc_data = strdup(tmpdir);
    cfg.nc_listen_port = 0; /* an ephemeral port, read back below */
    cfg.nc_read_timeout_s = 1;
    cfg.nc_shutdown_timeout_s = 2;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    server_init(&sv, &loop, &cfg);
    ck_assert_int_eq(server_bind(&sv, err, sizeof(err)), 0);
    ck_assert_int_eq(getsockname(sv.sv_listen_fd, (struct sockaddr *)&sin, &sl), 0);
    port = ntohs(sin.sin_port);
    memset(&so, 0, sizeof(so));
    so.so_dir = tmpdir;
    so.so_node_id = 1;
    so.so_repair = server_repair_cb;
    so.so_repair_arg = &sv;
    ck_assert_int_eq(store_open(&so, &store), 0);
    ck_assert_int_eq(server_start(&sv, store), 0);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

/* Stops the server as SIGTERM does and waits for the loop to end. */
static void stop_loop(void)
{
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert_int_eq(pthread_join(loop_thread, NULL), 0);
}

static void close_store(void)
{
    server_destroy(&sv);
    store_close(store);
    store = NULL;
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void stop_server(void)
{
    stop_loop();
    close_store();
}

static void teardown(void)
{
    char cmd[128];

    config_free(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static int client_connect(void)
{
    struct sockaddr_in sin;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_str(int fd, const char *s)
{
    ck_assert_int_eq(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* Reads into buf (cap) until at least want bytes are there, EOF or timeout. */
static size_t read_until(int fd, char *buf, size_t len, size_t cap, size_t want)
{
    ssize_t n;

    while (len < want && len < cap) {
        n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return len;
}

/* Offset of the body (after the blank line), or 0 when the head is incomplete. */
static size_t body_off(const char *buf, size_t len)
{
    const char *p = memmem(buf, len, "\r\n\r\n", 4);

    return p != NULL ? (size_t)(p - buf) + 4 : 0;
}

static void fill(uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + (i >> 11));
}

/* Begins a replica write of content under key, announced with its size and hash. */
static store_writer_t *replica_begin(const char *key, const uint8_t *content, size_t size,
                                     uint64_t hlc)
{
    store_put_opts_t o;
    store_writer_t *w = NULL;
    XXH128_canonical_t canon;

    XXH128_canonicalFromHash(&canon, XXH3_128bits(content, size));
    memset(&o, 0, sizeof(o));
    o.po_mode = STORE_PUT_REPLICA;
    o.po_size = (int64_t)size;
    o.po_version.sv_hlc = hlc;
    o.po_version.sv_origin = 2;
    o.po_hash = canon.digest;
    ck_assert_int_eq(store_put_begin(store, key, strlen(key), &o, &w), 0);
    return w;
}

START_TEST(test_follow_live_writer)
{
    enum { SIZE = 3 << 20, CHUNK = 256 << 10 };
    uint8_t *content = malloc(SIZE);
    char *buf = malloc(SIZE + 4096);
    store_writer_t *w;
    size_t len = 0, off, pos = 0;
    int fd;

    fill(content, SIZE);
    w = replica_begin("follow/me", content, SIZE, hlc_now(store_clock(store)));
    ck_assert_int_eq(store_put_write(w, content, CHUNK), 0);
    pos = CHUNK;

    fd = client_connect();
    send_str(fd, "GET /v1/blobs/follow/me HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    /* The head and the bytes written so far arrive while the write goes on. */
    len = read_until(fd, buf, 0, SIZE + 4096, 1);
    for (off = 0; off == 0 || len < off + CHUNK;) {
        len = read_until(fd, buf, len, SIZE + 4096, len + 1);
        off = body_off(buf, len);
    }
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
    ck_assert_ptr_nonnull(strstr(buf, "Content-Length: 3145728\r\n"));
    ck_assert_int_eq(memcmp(buf + off, content, CHUNK), 0);

    /* Keep writing slowly, for longer than --read-timeout (1 s) in all. */
    while (pos < SIZE) {
        usleep(150 * 1000);
        ck_assert_int_eq(store_put_write(w, content + pos, CHUNK), 0);
        pos += CHUNK;
    }
    ck_assert_int_eq(store_put_finish(w, NULL), 0);
    len = read_until(fd, buf, len, SIZE + 4096, off + SIZE + 1);
    ck_assert_uint_eq(len, off + SIZE);
    ck_assert_int_eq(memcmp(buf + off, content, SIZE), 0);
    close(fd);
    stop_server();
    free(buf);
    free(content);
}
END_TEST

/* One request on a fresh connection; returns the whole response (NUL-terminated). */
static size_t roundtrip(const char *req, const void *body, size_t blen, char *buf, size_t cap)
{
    size_t len;
    int fd = client_connect();

    send_str(fd, req);
    if (blen > 0)
        ck_assert_int_eq(send(fd, body, blen, 0), (ssize_t)blen);
    len = read_until(fd, buf, 0, cap - 1, cap);
    buf[len] = '\0';
    close(fd);
    return len;
}

/* Small blobs are stored inline (no file): GET, ranges and HEAD of both kinds. */
START_TEST(test_inline_and_file_reads)
{
    enum { BIG = 200 * 1024 };
    uint8_t *big = malloc(BIG);
    char *buf = malloc(BIG + 4096);
    char req[256];
    size_t len, off;

    fill(big, BIG);
    len = roundtrip("PUT /v1/blobs/small HTTP/1.1\r\nContent-Length: 11\r\n"
                    "Connection: close\r\n\r\nhello world",
                    NULL, 0, buf, BIG + 4096);
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 201 ", 13), 0);
    len = roundtrip("GET /v1/blobs/small HTTP/1.1\r\nConnection: close\r\n\r\n", NULL, 0, buf,
                    BIG + 4096);
    off = body_off(buf, len);
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
    ck_assert_uint_eq(len - off, 11);
    ck_assert_int_eq(memcmp(buf + off, "hello world", 11), 0);
    len = roundtrip("GET /v1/blobs/small HTTP/1.1\r\nRange: bytes=6-\r\nConnection: close\r\n\r\n",
                    NULL, 0, buf, BIG + 4096);
    off = body_off(buf, len);
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 206 ", 13), 0);
    ck_assert_ptr_nonnull(strstr(buf, "Content-Range: bytes 6-10/11\r\n"));
    ck_assert_uint_eq(len - off, 5);
    ck_assert_int_eq(memcmp(buf + off, "world", 5), 0);
    len = roundtrip("HEAD /v1/blobs/small HTTP/1.1\r\nConnection: close\r\n\r\n", NULL, 0, buf,
                    BIG + 4096);
    ck_assert_ptr_nonnull(strstr(buf, "Content-Length: 11\r\n"));
    ck_assert_uint_eq(len, body_off(buf, len));

    snprintf(req, sizeof(req),
             "PUT /v1/blobs/big HTTP/1.1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", BIG);
    len = roundtrip(req, big, BIG, buf, BIG + 4096);
    ck_assert_int_eq(strncmp(buf, "HTTP/1.1 201 ", 13), 0);
    len = roundtrip("GET /v1/blobs/big HTTP/1.1\r\nConnection: close\r\n\r\n", NULL, 0, buf,
                    BIG + 4096);
    off = body_off(buf, len);
    ck_assert_uint_eq(len - off, BIG);
    ck_assert_int_eq(memcmp(buf + off, big, BIG), 0);
    len = roundtrip("GET /v1/blobs/big HTTP/1.1\r\nRange: bytes=-1000\r\nConnection: close\r\n\r\n",
                    NULL, 0, buf, BIG + 4096);
    off = body_off(buf, len);
    ck_assert_uint_eq(len - off, 1000);
    ck_assert_int_eq(memcmp(buf + off, big + BIG - 1000, 1000), 0);
    stop_server();
    free(buf);
    free(big);
}
END_TEST

START_TEST(test_leftover_waits_then_503)
{
    uint8_t content[1000];
    store_writer_t *w;
    char buf[4096];
    size_t len;
    struct timeval t0, t1;
    double secs;
    int fd;

    fill(content, sizeof(content));
    /* A replica write that dies: the record stays `receiving` on a leftover. */
    w = replica_begin("lost", content, sizeof(content), hlc_now(store_clock(store)));
    ck_assert_int_eq(store_put_write(w, content, 100), 0);
    store_put_abort(w);

    fd = client_connect();
    gettimeofday(&t0, NULL);
    send_str(fd, "GET /v1/blobs/lost HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    len = read_until(fd, buf, 0, sizeof(buf) - 1, sizeof(buf));
    gettimeofday(&t1, NULL);
    buf[len] = '\0';
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    ck_assert_msg(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "got: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "Retry-After: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\"error\":\"unavailable\""));
    ck_assert_msg(secs >= 0.9 && secs < 5, "waited %.2f s", secs);
    ck_assert_uint_ge(atomic_load(&sv.sv_repair_reports), 1);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(test_stop_with_follower)
{
    uint8_t content[4096];
    store_writer_t *w;
    char buf[8192];
    size_t len;
    int fd;

    fill(content, sizeof(content));
    w = replica_begin("slow", content, sizeof(content), hlc_now(store_clock(store)));
    ck_assert_int_eq(store_put_write(w, content, 1000), 0);
    fd = client_connect();
    send_str(fd, "GET /v1/blobs/slow HTTP/1.1\r\nHost: t\r\n\r\n");
    len = read_until(fd, buf, 0, sizeof(buf), 1);
    ck_assert_uint_gt(len, 0);
    /* SIGTERM with the reader still following: the loop must end within the
     * shutdown timeout (2 s), the reader closed, and the writer unaffected. */
    stop_loop();
    len = read_until(fd, buf, len, sizeof(buf), sizeof(buf));
    ck_assert_uint_lt(len, sizeof(buf)); /* cut short: EOF */
    close(fd);
    store_put_abort(w);
    close_store();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_follow_live_writer);
    tcase_add_test(tc, test_inline_and_file_reads);
    tcase_add_test(tc, test_leftover_waits_then_503);
    tcase_add_test(tc, test_stop_with_follower);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
