/*
 * test_api_abuse.c -- clients that misbehave at the transport level:
 * uploads cut off midway (FIN and reset, Content-Length and chunked, new
 * key and overwrite) leave no visible version and no .blob file; a client
 * that stops reading a 64 MiB download does not grow the server's memory
 * and does not block other clients; 500 idle or half-sent connections do
 * not stop the node from answering; header and idle timeouts close stuck
 * connections. After each: /v1/health answers and earlier blobs are intact.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

#define REF_SIZE (200 * 1024)

static void seed_blobs(const api_node_t *n)
{
    api_must_put_gen(n, "ref/a", 1, REF_SIZE);
    api_must_put_gen(n, "ref/b", 2, 1);
}

static void check_intact(const api_node_t *n)
{
    api_must_health(n);
    api_must_get_gen(n, "ref/a", 1, REF_SIZE);
    api_must_get_gen(n, "ref/b", 2, 1);
}

/* GET target answers 404 within a few seconds (the server may need a
 * moment to notice the cut). */
static void expect_absent(const api_node_t *n, const char *target)
{
    api_must_status(n, "GET", target, 404);
}

/* Starts an upload of `total` bytes, sends `sent` of them, then closes
 * (reset when rst). chunk > 0 uses chunked encoding. */
static void cut_upload(const api_node_t *n, const char *target, uint64_t seed, uint64_t total,
                       uint64_t sent, size_t chunk, int rst)
{
    api_conn_t c;
    char extra[128];
    int rc;

    if (chunk > 0)
        snprintf(extra, sizeof(extra), "Transfer-Encoding: chunked\r\n");
    else
        snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)total);
    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, n, 1, "PUT", target, extra, NULL, 0), 0);
    rc = api_conn_send_gen(&c, seed, 0, sent, chunk, 1);
    ck_assert_msg(rc == 0, "partial upload to %s: server answered or failed early (%d)", target,
                  rc);
    api_sleep_ms(200); /* let the server write some of it */
    if (rst)
        api_conn_reset(&c);
    else
        api_conn_close(&c);
}

START_TEST(test_cut_uploads)
{
    api_node_t n;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    seed_blobs(&n);
    api_expect_blob_files(&n, 2, 5000);

    cut_upload(&n, "/v1/blobs/cut/fin", 10, 10u << 20, 3u << 20, 0, 0);
    cut_upload(&n, "/v1/blobs/cut/rst", 11, 10u << 20, 3u << 20, 0, 1);
    cut_upload(&n, "/v1/blobs/cut/chunked", 12, 10u << 20, 2u << 20, 65536, 0);
    cut_upload(&n, "/v1/blobs/cut/tiny", 13, 100, 1, 0, 0);
    cut_upload(&n, "/v1/blobs/cut/none", 14, 100, 0, 0, 1);
    /* An overwrite of an existing key cut midway keeps the old version. */
    cut_upload(&n, "/v1/blobs/ref/a", 15, 5u << 20, 1u << 20, 0, 0);
    cut_upload(&n, "/v1/blobs/ref/b", 16, 5u << 20, 1u << 20, 65536, 1);

    api_expect_blob_files(&n, 2, 5000);
    expect_absent(&n, "/v1/blobs/cut/fin");
    expect_absent(&n, "/v1/blobs/cut/rst");
    expect_absent(&n, "/v1/blobs/cut/chunked");
    expect_absent(&n, "/v1/blobs/cut/tiny");
    expect_absent(&n, "/v1/blobs/cut/none");
    {
        api_json_t *l = api_must_list(&n, "prefix=cut");
        ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 0);
        api_json_free(l);
    }
    check_intact(&n);
    /* The keys are usable afterwards. */
    api_must_put_gen(&n, "cut/fin", 17, 1000);
    api_must_get_gen(&n, "cut/fin", 17, 1000);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_slow_reader)
{
    const uint64_t size = 64u << 20;
    api_node_t n;
    api_conn_t slow;
    api_resp_t r;
    long rss0, hwm0, rss, hwm, rss_max = 0;
    uint64_t t0;
    int sanitized;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    seed_blobs(&n);
    api_must_put_gen(&n, "big", 3, size);
    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss0, &hwm0), 0);
    sanitized = api_proc_sanitized(n.an_pid);

    /* A client with a small receive window asks for 64 MiB and stops. */
    ck_assert_int_eq(api_conn_open(&slow, n.an_port, 16384), 0);
    ck_assert_int_eq(api_send_req(&slow, &n, 1, "GET", "/v1/blobs/big", NULL, NULL, 0), 0);

    /* Meanwhile other clients are served promptly. */
    t0 = api_now_ms();
    for (int i = 0; i < 20; i++) {
        uint64_t t = api_now_ms();
        api_must_health(&n);
        api_must_get_gen(&n, "ref/a", 1, REF_SIZE);
        ck_assert_msg(api_now_ms() - t < 5000, "a request took %llu ms while a client stalls",
                      (unsigned long long)(api_now_ms() - t));
        if (api_proc_mem(n.an_pid, &rss, &hwm) == 0 && rss > rss_max)
            rss_max = rss;
        api_sleep_ms(100);
    }
    api_must_put_gen(&n, "during-stall", 4, 100000);
    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss, &hwm), 0);
    printf("slow reader: cairnd VmRSS %ld KiB before, max %ld KiB during the stall "
           "(%llu ms); VmHWM %ld KiB\n",
           rss0, rss_max, (unsigned long long)(api_now_ms() - t0), hwm);
    fflush(stdout);
    if (!sanitized)
        ck_assert_msg(rss_max - rss0 < 32 * 1024,
                      "cairnd grew by %ld KiB while a client stalled on a 64 MiB download",
                      rss_max - rss0);

    /* The stalled client resumes and gets every byte. */
    slow.ac_store_max = 0;
    ck_assert_int_eq(api_conn_read_final(&slow, 0, &r), 0);
    {
        char hex[API_HASH_HEX];
        api_hash_gen_hex(3, size, hex);
        ck_assert_int_eq(r.ar_status, 200);
        ck_assert_uint_eq(r.ar_body_total, size);
        ck_assert_str_eq(r.ar_hash, hex);
    }
    api_resp_free(&r);
    api_conn_close(&slow);

    /* One that never reads and just goes away. */
    ck_assert_int_eq(api_conn_open(&slow, n.an_port, 16384), 0);
    ck_assert_int_eq(api_send_req(&slow, &n, 1, "GET", "/v1/blobs/big", NULL, NULL, 0), 0);
    api_sleep_ms(300);
    api_conn_reset(&slow);
    check_intact(&n);
    api_must_get_gen(&n, "during-stall", 4, 100000);
    api_node_finish(&n);
}
END_TEST

#define NCONN 500

START_TEST(test_many_idle_connections)
{
    static api_conn_t conns[NCONN];
    api_node_t n;
    api_resp_t r;
    long rss, hwm;
    double open_now = -1;
    uint64_t t;

    api_raise_nofile(4096);
    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    seed_blobs(&n);
    api_expect_blob_files(&n, 2, 5000);
    for (int i = 0; i < NCONN; i++) {
        int rc = api_conn_open(&conns[i], n.an_port, 0);
        ck_assert_msg(rc == 0, "connection %d: %d", i, rc);
        if (i % 5 == 1) /* part of a request line */
            ck_assert_int_eq(api_conn_sendf(&conns[i], "GET /v1/hea"), 0);
        else if (i % 5 == 2) /* headers of an upload and part of its body */
            ck_assert_int_eq(api_conn_sendf(&conns[i],
                                            "PUT /v1/blobs/idle/%03d HTTP/1.1\r\nHost: x\r\n"
                                            "Content-Length: 1000\r\n\r\npartial",
                                            i),
                             0);
        else if (i % 5 == 3) /* a complete request whose answer is never read */
            ck_assert_int_eq(api_conn_sendf(&conns[i], "GET /v1/blobs/ref/a HTTP/1.1\r\n"
                                                       "Host: x\r\n\r\n"),
                             0);
    }
    api_sleep_ms(300);

    t = api_now_ms();
    api_must_health(&n);
    ck_assert_msg(api_now_ms() - t < 5000, "health took %llu ms with %d open connections",
                  (unsigned long long)(api_now_ms() - t), NCONN);
    check_intact(&n);
    api_must_put_gen(&n, "with-500", 5, 50000);
    api_must_get_gen(&n, "with-500", 5, 50000);

    api_must_request(&n, "GET", "/metrics", NULL, NULL, 0, &r);
    open_now = api_metric_sum(r.ar_body, "cairn_http_connections_open");
    api_resp_free(&r);
    api_proc_mem(n.an_pid, &rss, &hwm);
    printf("%d idle connections: cairn_http_connections_open %g, cairnd VmRSS %ld KiB\n", NCONN,
           open_now, rss);
    fflush(stdout);
    ck_assert_msg(open_now >= NCONN, "cairn_http_connections_open = %g with %d open", open_now,
                  NCONN);

    for (int i = 0; i < NCONN; i++)
        api_conn_close(&conns[i]);

    /* The gauge comes back down and the half-sent uploads left nothing. */
    api_wait_conns_settled(&n, 1, 5000);
    api_expect_blob_files(&n, 3, 5000);
    {
        api_json_t *l = api_must_list(&n, "prefix=idle");
        ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 0);
        api_json_free(l);
    }
    check_intact(&n);
    api_node_finish(&n);
}
END_TEST

/* Over --max-connections: the extra connection is refused (closed or
 * 503), and the node recovers once connections go away. */
START_TEST(test_max_connections)
{
    api_conn_t conns[8];
    api_conn_t extra;
    api_node_t n;
    api_resp_t r;
    int rc;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_arg(&n, "--max-connections");
    api_node_arg(&n, "8");
    api_node_start(&n);
    /* The start-up probe's connection must be gone before we count. */
    api_wait_conns_settled(&n, 1, 5000);
    api_sleep_ms(50);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(api_conn_open(&conns[i], n.an_port, 0), 0);
    api_sleep_ms(200);
    ck_assert_int_eq(api_conn_open(&extra, n.an_port, 0), 0);
    extra.ac_timeout_ms = 5000;
    (void)api_send_req(&extra, &n, 1, "GET", "/v1/health", NULL, NULL, 0);
    rc = api_conn_read_final(&extra, 0, &r);
    ck_assert_msg(rc == API_ECLOSED || (rc == 0 && r.ar_status == 503),
                  "connection over --max-connections 8: expected a close or 503, got rc %d "
                  "status %d",
                  rc, rc == 0 ? r.ar_status : 0);
    if (rc == 0)
        ck_assert_msg(api_resp_header(&r, "Retry-After") != NULL, "503 without Retry-After");
    api_resp_free(&r);
    api_conn_close(&extra);
    for (int i = 0; i < 8; i++)
        api_conn_close(&conns[i]);
    api_sleep_ms(200);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* Waits for the server to close c; a 408 (or 400) may precede the close. */
static uint64_t time_to_close(api_conn_t *c, int timeout_ms)
{
    uint64_t t = api_now_ms();
    int rc = api_conn_wait_closed(c, timeout_ms, NULL);

    ck_assert_msg(rc == 0, "server kept a stuck connection open for %d ms", timeout_ms);
    return api_now_ms() - t;
}

START_TEST(test_timeouts)
{
    api_node_t n;
    api_conn_t c;
    api_resp_t r;
    uint64_t t0, el;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_arg(&n, "--header-timeout");
    api_node_arg(&n, "1");
    api_node_arg(&n, "--idle-timeout");
    api_node_arg(&n, "2");
    api_node_start(&n);
    seed_blobs(&n);

    /* Half a request line, then nothing: closed after ~1 s. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_sendf(&c, "GET /v1/hea"), 0);
    el = time_to_close(&c, 6000);
    api_conn_close(&c);
    printf("partial request line closed after %llu ms (--header-timeout 1)\n",
           (unsigned long long)el);

    /* Slowloris: a header byte every 200 ms never completes; the header
     * deadline is for the whole head, so it is closed anyway. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_sendf(&c, "GET /v1/health HTTP/1.1\r\n"), 0);
    t0 = api_now_ms();
    for (;;) {
        int rc = api_conn_send(&c, "X", 1);
        if (rc != 0 || api_conn_readable(&c, 200) || api_now_ms() - t0 > 8000)
            break;
    }
    el = time_to_close(&c, 2000);
    api_conn_close(&c);
    ck_assert_msg(api_now_ms() - t0 < 6000, "a trickled header kept the connection for %llu ms",
                  (unsigned long long)(api_now_ms() - t0));

    /* Idle keep-alive connection: closed after ~2 s. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/health", NULL, NULL, 0), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    api_resp_free(&r);
    el = time_to_close(&c, 8000);
    api_conn_close(&c);
    printf("idle keep-alive connection closed after %llu ms (--idle-timeout 2)\n",
           (unsigned long long)el);

    /* An upload that stalls midway: aborted after the idle timeout. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(
        api_send_req(&c, &n, 1, "PUT", "/v1/blobs/stalled", "Content-Length: 1000000\r\n", NULL, 0),
        0);
    ck_assert_int_eq(api_conn_send_gen(&c, 20, 0, 300000, 0, 1), 0);
    el = time_to_close(&c, 8000);
    api_conn_close(&c);
    printf("stalled upload closed after %llu ms\n", (unsigned long long)el);
    fflush(stdout);
    api_must_status(&n, "GET", "/v1/blobs/stalled", 404);
    api_expect_blob_files(&n, 2, 5000);

    /* A download the client stops reading: no progress for the idle
     * timeout, so the server gives up (the client sees a short body). */
    api_must_put_gen(&n, "big", 21, 16u << 20);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 16384), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/blobs/big", NULL, NULL, 0), 0);
    api_sleep_ms(5000);
    c.ac_store_max = 0;
    c.ac_timeout_ms = 5000;
    {
        int rc = api_conn_read_final(&c, 0, &r);
        ck_assert_msg(rc == API_EPROTO || rc == API_ECLOSED,
                      "a download stalled for 5 s with --idle-timeout 2 was not cut (%d, %llu "
                      "bytes)",
                      rc, (unsigned long long)r.ar_body_total);
        api_resp_free(&r);
    }
    api_conn_close(&c);
    check_intact(&n);
    api_node_finish(&n);
}
END_TEST

/*
 * A client pipelines requests without ever reading the answers: once its
 * receive window is full the server must stop reading its requests, so
 * memory does not grow with the backlog, and others are still served.
 */
START_TEST(test_pipelined_flood)
{
    static const char req[] = "GET /v1/blobs/ref/a HTTP/1.1\r\nHost: x\r\n\r\n";
    api_node_t n;
    api_conn_t c;
    char *batch;
    size_t one = sizeof(req) - 1, per = 1000, sent = 0;
    long rss0, hwm0, rss, hwm;
    int sanitized;
    api_resp_t r;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    seed_blobs(&n);
    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss0, &hwm0), 0);
    sanitized = api_proc_sanitized(n.an_pid);
    batch = malloc(one * per);
    ck_assert_ptr_nonnull(batch);
    for (size_t i = 0; i < per; i++)
        memcpy(batch + i * one, req, one);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 16384), 0);
    c.ac_timeout_ms = 1000;
    while (sent < (64u << 20)) {
        int rc = api_conn_send(&c, batch, one * per);
        if (rc != 0)
            break; /* blocked for 1 s: the server stopped reading */
        sent += one * per;
    }
    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss, &hwm), 0);
    printf("pipelined flood: %zu bytes of requests accepted before the server stopped "
           "reading; cairnd VmRSS %ld -> %ld KiB\n",
           sent, rss0, rss);
    fflush(stdout);
    ck_assert_msg(sent < (64u << 20), "the server kept reading 64 MiB of pipelined requests "
                                      "whose answers were never read");
    if (!sanitized)
        ck_assert_msg(rss - rss0 < 16 * 1024, "cairnd grew by %ld KiB", rss - rss0);
    check_intact(&n);
    /* The flooding client's first answers are intact and in order. */
    c.ac_timeout_ms = 10000;
    for (int i = 0; i < 3; i++) {
        char hex[API_HASH_HEX];
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 200);
        api_hash_gen_hex(1, REF_SIZE, hex);
        ck_assert_str_eq(r.ar_hash, hex);
        api_resp_free(&r);
    }
    api_conn_reset(&c);
    free(batch);
    check_intact(&n);
    api_node_finish(&n);
}
END_TEST

static Suite *abuse_suite(void)
{
    Suite *s = suite_create("api_abuse");
    TCase *tc = tcase_create("abuse");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_cut_uploads);
    tcase_add_test(tc, test_slow_reader);
    tcase_add_test(tc, test_many_idle_connections);
    tcase_add_test(tc, test_max_connections);
    tcase_add_test(tc, test_timeouts);
    tcase_add_test(tc, test_pipelined_flood);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(abuse_suite());
}
