/*
 * test_api_limits.c -- --max-blob-size: a body over the limit is refused
 * with 413 {"error":"payload_too_large"}. With Content-Length the refusal
 * comes before the body is sent (with and without Expect: 100-continue);
 * a chunked upload is refused once it grows past the limit. Nothing of a
 * refused upload stays visible or on disk.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

#define LIMIT 1048576

static void start_limited(api_node_t *n, const char *limit)
{
    api_node_init(n);
    api_node_arg(n, "--max-blob-size");
    api_node_arg(n, limit);
    api_node_start(n);
}

START_TEST(test_limit_exact)
{
    api_node_t n;
    api_resp_t r;

    start_limited(&n, "1048576");
    api_must_put_gen(&n, "at-limit", 1, LIMIT);
    api_must_get_gen(&n, "at-limit", 1, LIMIT);
    {
        uint8_t *data = api_gen_alloc(2, LIMIT + 1);
        api_must_request(&n, "PUT", "/v1/blobs/over", NULL, data, LIMIT + 1, &r);
        api_assert_error(&r, 413, "payload_too_large");
        api_resp_free(&r);
        free(data);
    }
    api_must_status(&n, "GET", "/v1/blobs/over", 404);
    api_expect_blob_files(&n, 1, 5000);
    api_must_get_gen(&n, "at-limit", 1, LIMIT);
    api_node_finish(&n);
}
END_TEST

/* Content-Length over the limit: the 413 arrives although the client sends
 * nothing after the headers. */
START_TEST(test_refused_before_body)
{
    api_node_t n;
    api_conn_t c;
    api_resp_t r;

    start_limited(&n, "1048576");
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(
        api_send_req(&c, &n, 1, "PUT", "/v1/blobs/big", "Content-Length: 10485760\r\n", NULL, 0),
        0);
    c.ac_timeout_ms = 5000;
    ck_assert_msg(api_conn_readable(&c, 5000), "no answer within 5 s to a too-large "
                                               "Content-Length (the server waits for the body)");
    ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
    api_assert_error(&r, 413, "payload_too_large");
    api_resp_free(&r);
    api_conn_close(&c);

    /* Same with Expect: 100-continue: 413 directly, no 100 Continue. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/big",
                                  "Expect: 100-continue\r\nContent-Length: 10485760\r\n", NULL, 0),
                     0);
    c.ac_timeout_ms = 5000;
    ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
    ck_assert_msg(r.ar_status != 100, "100 Continue sent for a body over the limit");
    api_assert_error(&r, 413, "payload_too_large");
    api_resp_free(&r);
    api_conn_close(&c);

    /* A Content-Length that is huge but fits 64 bits is a 413 as well. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/big",
                                  "Content-Length: 18446744073709551615\r\n", NULL, 0),
                     0);
    c.ac_timeout_ms = 5000;
    ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
    ck_assert_msg(r.ar_status == 413 || r.ar_status == 400,
                  "Content-Length 2^64-1: expected 413 (or 400), got %d", r.ar_status);
    api_resp_free(&r);
    api_conn_close(&c);

    api_must_status(&n, "GET", "/v1/blobs/big", 404);
    api_expect_blob_files(&n, 0, 5000);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* Sends a chunked body of `total` bytes in 64 KiB chunks (stopping early
 * when the server answers) and returns the final response. */
static void chunked_put(const api_node_t *n, const char *target, uint64_t seed, uint64_t total,
                        api_resp_t *r)
{
    api_conn_t c;
    int rc;

    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    ck_assert_int_eq(
        api_send_req(&c, n, 1, "PUT", target, "Transfer-Encoding: chunked\r\n", NULL, 0), 0);
    rc = api_conn_send_gen(&c, seed, 0, total, 65536, 1);
    ck_assert_msg(rc >= 0 || rc == -EPIPE || rc == -ECONNRESET, "chunked send: %d", rc);
    if (rc == 0)
        rc = api_conn_send(&c, "0\r\n\r\n", 5);
    ck_assert_msg(rc >= 0 || rc == -EPIPE || rc == -ECONNRESET, "chunked end: %d", rc);
    c.ac_timeout_ms = 10000;
    rc = api_conn_read_final(&c, 0, r);
    ck_assert_msg(rc == 0, "chunked PUT %s: no response (%d)", target, rc);
    api_conn_close(&c);
}

START_TEST(test_chunked_over_limit)
{
    char hex[API_HASH_HEX];
    api_node_t n;
    api_resp_t r;

    start_limited(&n, "1048576");
    /* Exactly at the limit through chunks: accepted. */
    chunked_put(&n, "/v1/blobs/chunk-ok", 3, LIMIT, &r);
    api_hash_gen_hex(3, LIMIT, hex);
    api_assert_put_ok(&r, "chunk-ok", LIMIT, hex);
    api_resp_free(&r);
    api_must_get_gen(&n, "chunk-ok", 3, LIMIT);

    /* One byte more, and far more: 413 while streaming. */
    chunked_put(&n, "/v1/blobs/chunk-over", 4, LIMIT + 1, &r);
    api_assert_error(&r, 413, "payload_too_large");
    api_resp_free(&r);
    chunked_put(&n, "/v1/blobs/chunk-huge", 5, 64u << 20, &r);
    api_assert_error(&r, 413, "payload_too_large");
    api_resp_free(&r);

    api_must_status(&n, "GET", "/v1/blobs/chunk-over", 404);
    api_must_status(&n, "GET", "/v1/blobs/chunk-huge", 404);
    api_expect_blob_files(&n, 1, 5000);
    api_must_get_gen(&n, "chunk-ok", 3, LIMIT);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* The size suffix: 1K is 1000 or 1024 bytes; either way 1000 bytes pass
 * and 1025 are refused. */
START_TEST(test_limit_suffix)
{
    api_node_t n;
    api_resp_t r;
    uint8_t *data = api_gen_alloc(6, 1025);

    start_limited(&n, "1K");
    api_must_put(&n, "k1000", data, 1000);
    api_must_request(&n, "PUT", "/v1/blobs/k1025", NULL, data, 1025, &r);
    api_assert_error(&r, 413, "payload_too_large");
    api_resp_free(&r);
    free(data);
    api_node_finish(&n);
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("api_limits");
    TCase *tc = tcase_create("limits");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limit_exact);
    tcase_add_test(tc, test_refused_before_body);
    tcase_add_test(tc, test_chunked_over_limit);
    tcase_add_test(tc, test_limit_suffix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(limits_suite());
}
