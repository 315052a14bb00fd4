/*
 * test_api_range.c -- single byte ranges on GET (RFC 9110 section 14):
 * first and last byte, suffix ranges, open-ended ranges, ranges past the
 * end (416 with Content-Range: bytes * /SIZE), ranges on an empty blob, and
 * invalid Range syntax (ignored: 200 with the whole body, or 416).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

#define SIZE 1000

static uint8_t *g_data;

/* GET with Range; asserts 206 with the given first..last (inclusive). */
static void expect_206(const api_node_t *n, const char *target, const uint8_t *data, size_t total,
                       const char *range, size_t first, size_t last)
{
    char extra[256], want_cr[128], want_cl[32], hex[API_HASH_HEX];
    api_resp_t r;

    snprintf(extra, sizeof(extra), "Range: %s\r\n", range);
    api_must_request(n, "GET", target, extra, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 206, "Range %s: expected 206, got %d: %.200s", range, r.ar_status,
                  r.ar_status == 200 ? "(whole body)" : r.ar_body);
    snprintf(want_cr, sizeof(want_cr), "bytes %zu-%zu/%zu", first, last, total);
    ck_assert_msg(api_resp_header(&r, "Content-Range") != NULL &&
                      strcmp(api_resp_header(&r, "Content-Range"), want_cr) == 0,
                  "Range %s: Content-Range %s, expected %s", range,
                  api_resp_header(&r, "Content-Range"), want_cr);
    snprintf(want_cl, sizeof(want_cl), "%zu", last - first + 1);
    ck_assert_msg(api_resp_header(&r, "Content-Length") != NULL &&
                      strcmp(api_resp_header(&r, "Content-Length"), want_cl) == 0,
                  "Range %s: Content-Length %s, expected %s", range,
                  api_resp_header(&r, "Content-Length"), want_cl);
    api_hash_hex(data + first, last - first + 1, hex);
    ck_assert_msg(strcmp(r.ar_hash, hex) == 0 && r.ar_body_total == last - first + 1,
                  "Range %s: wrong bytes (%llu received)", range,
                  (unsigned long long)r.ar_body_total);
    ck_assert_msg(api_resp_header(&r, "ETag") != NULL, "Range %s: 206 without ETag", range);
    api_resp_free(&r);
}

static void expect_416(const api_node_t *n, const char *target, size_t total, const char *range)
{
    char extra[256], want[64];
    api_resp_t r;

    snprintf(extra, sizeof(extra), "Range: %s\r\n", range);
    api_must_request(n, "GET", target, extra, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 416, "Range %s: expected 416, got %d", range, r.ar_status);
    snprintf(want, sizeof(want), "bytes */%zu", total);
    ck_assert_msg(api_resp_header(&r, "Content-Range") != NULL &&
                      strcmp(api_resp_header(&r, "Content-Range"), want) == 0,
                  "Range %s: 416 Content-Range %s, expected %s", range,
                  api_resp_header(&r, "Content-Range"), want);
    api_resp_free(&r);
}

/* Invalid or unsupported Range: ignored (200, whole body) or 416. */
static void expect_ignored(const api_node_t *n, const char *target, const uint8_t *data,
                           size_t total, const char *range)
{
    char extra[256], hex[API_HASH_HEX];
    api_resp_t r;

    snprintf(extra, sizeof(extra), "Range: %s\r\n", range);
    api_must_request(n, "GET", target, extra, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 200 || r.ar_status == 416,
                  "invalid Range %s: expected 200 (ignored) or 416, got %d", range, r.ar_status);
    if (r.ar_status == 200) {
        api_hash_hex(data, total, hex);
        ck_assert_msg(r.ar_body_total == total && strcmp(r.ar_hash, hex) == 0,
                      "Range %s ignored but the body is not the whole blob", range);
        ck_assert_msg(api_resp_header(&r, "Content-Range") == NULL,
                      "Range %s: 200 must not carry Content-Range", range);
    }
    api_resp_free(&r);
}

START_TEST(test_range_edges)
{
    const char *t = "/v1/blobs/r";
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    g_data = api_gen_alloc(5, SIZE);
    api_must_put(&n, "r", g_data, SIZE);

    expect_206(&n, t, g_data, SIZE, "bytes=0-0", 0, 0);
    expect_206(&n, t, g_data, SIZE, "bytes=999-999", 999, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=-1", 999, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=500-", 500, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=999-", 999, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=0-", 0, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=0-999", 0, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=10-19", 10, 19);
    /* A last-pos past the end is clamped; a suffix longer than the blob
     * selects the whole blob. */
    expect_206(&n, t, g_data, SIZE, "bytes=990-5000", 990, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=-1000", 0, 999);
    expect_206(&n, t, g_data, SIZE, "bytes=-5000", 0, 999);
    /* Trailing whitespace is not part of a field value (RFC 9110 5.5). */
    expect_206(&n, t, g_data, SIZE, "bytes=1-2 ", 1, 2);

    expect_416(&n, t, SIZE, "bytes=1000-");
    expect_416(&n, t, SIZE, "bytes=1000-1000");
    expect_416(&n, t, SIZE, "bytes=5000-6000");
    expect_416(&n, t, SIZE, "bytes=-0");

    expect_ignored(&n, t, g_data, SIZE, "bytes=abc");
    expect_ignored(&n, t, g_data, SIZE, "bytes=5-2");
    expect_ignored(&n, t, g_data, SIZE, "bytes=");
    expect_ignored(&n, t, g_data, SIZE, "bytes=-");
    expect_ignored(&n, t, g_data, SIZE, "bytes=1-2-3");
    expect_ignored(&n, t, g_data, SIZE, "items=0-1");
    expect_ignored(&n, t, g_data, SIZE, "bytes=99999999999999999999999-");
    expect_ignored(&n, t, g_data, SIZE, "bytes=0x10-0x20");
    expect_ignored(&n, t, g_data, SIZE, "bytes=+1-2");
    expect_ignored(&n, t, g_data, SIZE, "0-5");

    /* Several ranges: the design answers 200 with the whole body. */
    {
        char hex[API_HASH_HEX];
        api_resp_t r;
        api_must_request(&n, "GET", t, "Range: bytes=0-1,5-6\r\n", NULL, 0, &r);
        ck_assert_msg(r.ar_status == 200, "multi-range: expected 200 (ignored), got %d",
                      r.ar_status);
        api_hash_hex(g_data, SIZE, hex);
        ck_assert_str_eq(r.ar_hash, hex);
        api_resp_free(&r);
    }
    api_must_health(&n);
    free(g_data);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_range_empty_blob)
{
    const char *t = "/v1/blobs/empty";
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "empty", "", 0);
    expect_416(&n, t, 0, "bytes=0-0");
    expect_416(&n, t, 0, "bytes=0-");
    /* A suffix range on an empty representation: RFC 9110 14.1.3 leaves
     * this as satisfiable-but-empty; accept 200 (empty) or 416. */
    api_must_request(&n, "GET", t, "Range: bytes=-1\r\n", NULL, 0, &r);
    ck_assert_msg(r.ar_status == 200 || r.ar_status == 416, "empty blob, bytes=-1: got %d",
                  r.ar_status);
    ck_assert_uint_eq(r.ar_body_total, r.ar_status == 200 ? 0 : r.ar_body_total);
    api_resp_free(&r);
    /* Without Range the empty blob is a 200 with Content-Length: 0. */
    api_must_get(&n, "empty", "", 0);
    api_node_finish(&n);
}
END_TEST

/* Ranges deep inside a multi-MiB blob land on the right bytes (the
 * server's offset arithmetic and sendfile offsets). */
START_TEST(test_range_large_offsets)
{
    const size_t size = (3u << 20) + 12345;
    const char *t = "/v1/blobs/large";
    uint8_t *data = api_gen_alloc(6, size);
    api_node_t n;
    char range[64];

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "large", data, size);
    expect_206(&n, t, data, size, "bytes=1048575-1048576", 1048575, 1048576);
    expect_206(&n, t, data, size, "bytes=2097152-3145727", 2097152, 3145727);
    snprintf(range, sizeof(range), "bytes=%zu-", size - 7);
    expect_206(&n, t, data, size, range, size - 7, size - 1);
    expect_206(&n, t, data, size, "bytes=-65537", size - 65537, size - 1);
    snprintf(range, sizeof(range), "bytes=%zu-", size);
    expect_416(&n, t, size, range);
    free(data);
    api_node_finish(&n);
}
END_TEST

/* HEAD with a Range: no body; headers are either the full (200) or the
 * partial (206) ones, consistent with each other. */
START_TEST(test_range_head)
{
    uint8_t *data = api_gen_alloc(7, SIZE);
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "h", data, SIZE);
    api_must_request(&n, "HEAD", "/v1/blobs/h", "Range: bytes=0-9\r\n", NULL, 0, &r);
    ck_assert_msg(r.ar_status == 200 || r.ar_status == 206, "HEAD with Range: %d", r.ar_status);
    ck_assert_uint_eq(r.ar_body_total, 0);
    if (r.ar_status == 206) {
        ck_assert_str_eq(api_resp_header(&r, "Content-Length"), "10");
        ck_assert_str_eq(api_resp_header(&r, "Content-Range"), "bytes 0-9/1000");
    } else {
        ck_assert_str_eq(api_resp_header(&r, "Content-Length"), "1000");
    }
    api_resp_free(&r);
    api_must_health(&n);
    free(data);
    api_node_finish(&n);
}
END_TEST

static Suite *range_suite(void)
{
    Suite *s = suite_create("api_range");
    TCase *tc = tcase_create("range");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_range_edges);
    tcase_add_test(tc, test_range_empty_blob);
    tcase_add_test(tc, test_range_large_offsets);
    tcase_add_test(tc, test_range_head);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(range_suite());
}
