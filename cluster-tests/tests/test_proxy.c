/*
 * test_proxy.c -- the peer proxy forwards both ways, and cut, delay and
 * rate limits act on exactly the direction they are set on.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster-tests/proxy.h"

static int listen_any(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int free_port(void)
{
    int port, fd = listen_any(&port);
    close(fd);
    return port;
}

static int dial(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes within timeout_ms; returns bytes read. */
static size_t read_n(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    int64_t end = now_ms() + timeout_ms;

    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(end - now_ms());
        ssize_t r;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static proxy_t *g_p;
static int g_target, g_client, g_server;

/* Node 1 dials node 2 through route 1 -> 2. */
static void setup(void)
{
    int tport, pport = free_port();

    g_target = listen_any(&tport);
    ck_assert_int_eq(proxy_new(2, &g_p), 0);
    ck_assert_int_eq(proxy_add_route(g_p, 1, 2, pport, tport), 0);
    ck_assert_int_eq(proxy_start(g_p), 0);
    g_client = dial(pport);
    g_server = accept(g_target, NULL, NULL);
    ck_assert_int_ge(g_server, 0);
}

static void teardown(void)
{
    close(g_client);
    close(g_server);
    close(g_target);
    proxy_free(g_p);
}

START_TEST(forwards_both_ways)
{
    char buf[16];

    ck_assert_int_eq(write(g_client, "hello", 5), 5);
    ck_assert_uint_eq(read_n(g_server, buf, 5, 2000), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert_int_eq(write(g_server, "world!", 6), 6);
    ck_assert_uint_eq(read_n(g_client, buf, 6, 2000), 6);
    ck_assert_int_eq(memcmp(buf, "world!", 6), 0);
    /* The counters move when the write completes, just after the bytes arrive. */
    for (int i = 0; i < 100 && proxy_bytes(g_p, 2, 1) < 6; i++)
        usleep(10000);
    ck_assert_uint_eq(proxy_bytes(g_p, 1, 2), 5);
    ck_assert_uint_eq(proxy_bytes(g_p, 2, 1), 6);
    ck_assert_uint_eq(proxy_connections(g_p), 1);
}
END_TEST

START_TEST(cut_one_way_holds_then_heals)
{
    link_cfg_t cut = {1, 0, 0};
    char buf[16];

    proxy_set(g_p, 1, 2, &cut);
    ck_assert(proxy_impaired(g_p));
    usleep(50000);
    ck_assert_int_eq(write(g_client, "abc", 3), 3);
    ck_assert_uint_eq(read_n(g_server, buf, 3, 400), 0); /* held */
    ck_assert_int_eq(write(g_server, "xyz", 3), 3);      /* other direction flows */
    ck_assert_uint_eq(read_n(g_client, buf, 3, 2000), 3);
    proxy_heal(g_p);
    ck_assert(!proxy_impaired(g_p));
    ck_assert_uint_eq(read_n(g_server, buf, 3, 2000), 3); /* nothing lost */
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
}
END_TEST

START_TEST(delay_applies)
{
    link_cfg_t slow = {0, 300, 0};
    char buf[8];
    int64_t t0;

    proxy_set(g_p, 2, 1, &slow);
    usleep(50000);
    t0 = now_ms();
    ck_assert_int_eq(write(g_server, "ping", 4), 4);
    ck_assert_uint_eq(read_n(g_client, buf, 4, 3000), 4);
    ck_assert_int_ge(now_ms() - t0, 280);
    t0 = now_ms();
    ck_assert_int_eq(write(g_client, "pong", 4), 4); /* undelayed direction */
    ck_assert_uint_eq(read_n(g_server, buf, 4, 3000), 4);
    ck_assert_int_lt(now_ms() - t0, 200);
}
END_TEST

START_TEST(rate_limit_applies)
{
    link_cfg_t thr = {0, 0, 200000};
    size_t n = 300000;
    char *buf = malloc(n);
    int64_t t0;
    size_t sent = 0;

    ck_assert_ptr_nonnull(buf);
    memset(buf, 'r', n);
    proxy_set(g_p, 1, 2, &thr);
    usleep(50000);
    t0 = now_ms();
    while (sent < n) {
        ssize_t w = write(g_client, buf + sent, n - sent);
        ck_assert_int_gt(w, 0);
        sent += (size_t)w;
    }
    ck_assert_uint_eq(read_n(g_server, buf, n, 10000), n);
    /* 300 kB at 200 kB/s: at least ~1.3 s after the initial burst allowance. */
    ck_assert_int_ge(now_ms() - t0, 1200);
    free(buf);
}
END_TEST

START_TEST(close_propagates)
{
    char buf[4];
    struct pollfd p = {0, POLLIN, 0};

    ck_assert_int_eq(shutdown(g_client, SHUT_WR), 0);
    p.fd = g_server;
    ck_assert_int_eq(poll(&p, 1, 2000), 1);
    ck_assert_int_eq(read(g_server, buf, 1), 0); /* EOF forwarded */
}
END_TEST

START_TEST(reset_closes_connections)
{
    char buf[4];
    struct pollfd p = {0, POLLIN, 0};

    proxy_reset(g_p, 2, 1);
    p.fd = g_server;
    ck_assert_int_eq(poll(&p, 1, 2000), 1);
    ck_assert_int_le(read(g_server, buf, 1), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *t = tcase_create("links");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, forwards_both_ways);
    tcase_add_test(t, cut_one_way_holds_then_heals);
    tcase_add_test(t, delay_applies);
    tcase_add_test(t, rate_limit_applies);
    tcase_add_test(t, close_propagates);
    tcase_add_test(t, reset_closes_connections);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
