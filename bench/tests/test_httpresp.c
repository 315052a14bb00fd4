/* test_httpresp.c -- incremental response parsing, keep-alive, error bodies. */
#include "bench/httpresp.h"
#include "common/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feeds s in pieces of step bytes; returns the last feed's result. */
static int feed_split(httpresp_t *r, const char *s, size_t step)
{
    size_t len = strlen(s), off = 0, n;
    int rc = 0;

    while (off < len) {
        n = len - off < step ? len - off : step;
        rc = httpresp_feed(r, s + off, n);
        off += n;
        if (rc != 0)
            break;
        ck_assert(off < len || rc == 0);
    }
    ck_assert_msg(rc != 1 || off == len, "complete before the end of the input");
    return rc;
}

static const char put_ok[] =
    "HTTP/1.1 201 Created\r\nETag: \"abc\"\r\nX-Cairn-Version: 12-1\r\n"
    "Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"key\":\"bench/\"}";

START_TEST(test_simple_every_split)
{
    httpresp_t r;
    size_t step;

    for (step = 1; step <= sizeof(put_ok); step++) {
        httpresp_reset(&r);
        ck_assert_int_eq(feed_split(&r, put_ok, step), 1);
        ck_assert_int_eq(r.hr_status, 201);
        ck_assert(r.hr_complete);
        ck_assert(r.hr_keep_alive);
        ck_assert_uint_eq(r.hr_body_bytes, 16);
        ck_assert_uint_eq(r.hr_errbody_len, 0); /* success bodies are not kept */
    }
}
END_TEST

START_TEST(test_reset_between_responses)
{
    httpresp_t r;

    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, put_ok, 7), 1);
    httpresp_reset(&r);
    ck_assert_int_eq(r.hr_complete, 0);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 5), 1);
    ck_assert_int_eq(r.hr_status, 200);
    ck_assert_uint_eq(r.hr_body_bytes, 3);
}
END_TEST

START_TEST(test_chunked)
{
    httpresp_t r;
    static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    size_t step;

    for (step = 1; step < sizeof(s); step += 3) {
        httpresp_reset(&r);
        ck_assert_int_eq(feed_split(&r, s, step), 1);
        ck_assert_uint_eq(r.hr_body_bytes, 21);
        ck_assert(r.hr_keep_alive);
    }
}
END_TEST

START_TEST(test_keep_alive_rules)
{
    httpresp_t r;

    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 100),
                     1);
    ck_assert(!r.hr_keep_alive);
    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 100), 1);
    ck_assert(!r.hr_keep_alive);
    httpresp_reset(&r);
    ck_assert_int_eq(
        feed_split(&r, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                   100),
        1);
    ck_assert(r.hr_keep_alive);
}
END_TEST

START_TEST(test_body_until_eof)
{
    httpresp_t r;

    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome bytes", 4),
                     0);
    ck_assert(!r.hr_complete);
    ck_assert_int_eq(httpresp_finish(&r), 1);
    ck_assert(r.hr_complete);
    ck_assert(!r.hr_keep_alive);
    ck_assert_uint_eq(r.hr_body_bytes, 10);
}
END_TEST

START_TEST(test_truncated)
{
    httpresp_t r;

    /* body shorter than Content-Length */
    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100), 0);
    ck_assert_int_eq(httpresp_finish(&r), CAIRN_EPROTO);
    ck_assert_ptr_nonnull(r.hr_reason);
    /* closed in the middle of the head */
    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 200 OK\r\nContent-Le", 100), 0);
    ck_assert_int_eq(httpresp_finish(&r), CAIRN_EPROTO);
    /* closed before any byte */
    httpresp_reset(&r);
    ck_assert_int_eq(httpresp_finish(&r), CAIRN_EPROTO);
    ck_assert_ptr_nonnull(r.hr_reason);
    /* a complete response stays complete at EOF */
    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, put_ok, 100), 1);
    ck_assert_int_eq(httpresp_finish(&r), 1);
}
END_TEST

START_TEST(test_trailing_bytes_refused)
{
    httpresp_t r;
    char buf[512];

    httpresp_reset(&r);
    snprintf(buf, sizeof(buf), "%sHTTP/1.1 200 OK\r\n", put_ok);
    ck_assert_int_eq(httpresp_feed(&r, buf, strlen(buf)), CAIRN_EPROTO);
    ck_assert_ptr_nonnull(r.hr_reason);
    /* the same bytes arriving in a later read */
    httpresp_reset(&r);
    ck_assert_int_eq(httpresp_feed(&r, put_ok, strlen(put_ok)), 1);
    ck_assert_int_eq(httpresp_feed(&r, "x", 1), CAIRN_EPROTO);
    /* an error stays an error */
    ck_assert_int_eq(httpresp_feed(&r, "", 0), 1);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const bad[] = {
        "HTTX/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
    };
    httpresp_t r;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        httpresp_reset(&r);
        ck_assert_msg(feed_split(&r, bad[i], 1000) == CAIRN_EPROTO, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(r.hr_reason);
        /* once failed, further bytes fail too */
        ck_assert_int_eq(httpresp_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19), CAIRN_EPROTO);
    }
}
END_TEST

START_TEST(test_interim_100_skipped)
{
    httpresp_t r;

    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, "HTTP/1.1 100 Continue\r\n\r\n", 100), 0);
    ck_assert(!r.hr_complete);
    ck_assert_int_eq(feed_split(&r, put_ok, 9), 1);
    ck_assert_int_eq(r.hr_status, 201);
    ck_assert_uint_eq(r.hr_body_bytes, 16);
}
END_TEST

START_TEST(test_error_code)
{
    httpresp_t r;
    char code[32];
    static const char s503[] =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 52\r\n\r\n"
        "{\"error\" : \"unavailable\",\"message\":\"no copy yet..\"}\n";

    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r, s503, 3), 1);
    ck_assert_int_eq(r.hr_status, 503);
    ck_assert_uint_eq(r.hr_body_bytes, 52);
    ck_assert_int_eq(httpresp_error_code(&r, code, sizeof(code)), 0);
    ck_assert_str_eq(code, "unavailable");
    /* truncated to the buffer */
    ck_assert_int_eq(httpresp_error_code(&r, code, 5), 0);
    ck_assert_str_eq(code, "unav");
    /* not JSON */
    httpresp_reset(&r);
    ck_assert_int_eq(
        feed_split(&r, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 100), 1);
    ck_assert_int_eq(httpresp_error_code(&r, code, sizeof(code)), CAIRN_ENOTFOUND);
    ck_assert_str_eq(code, "");
    /* hostile bytes are dropped from the name */
    httpresp_reset(&r);
    ck_assert_int_eq(feed_split(&r,
                                "HTTP/1.1 500 X\r\nContent-Length: 24\r\n\r\n"
                                "{\"error\":\"a b\\n=c<x>\"}  ",
                                100),
                     1);
    ck_assert_int_eq(httpresp_error_code(&r, code, sizeof(code)), 0);
    ck_assert_str_eq(code, "abncx");
}
END_TEST

START_TEST(test_big_error_body_bounded)
{
    httpresp_t r;
    char head[128], *body;
    size_t n = 100000;

    body = malloc(n);
    ck_assert_ptr_nonnull(body);
    memset(body, 'e', n);
    httpresp_reset(&r);
    snprintf(head, sizeof(head), "HTTP/1.1 500 X\r\nContent-Length: %zu\r\n\r\n", n);
    ck_assert_int_eq(httpresp_feed(&r, head, strlen(head)), 0);
    ck_assert_int_eq(httpresp_feed(&r, body, n - 1), 0);
    ck_assert_int_eq(httpresp_feed(&r, body, 1), 1);
    ck_assert_uint_eq(r.hr_body_bytes, n);
    ck_assert_uint_eq(r.hr_errbody_len, HTTPRESP_ERRBODY_MAX);
    free(body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpresp");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_simple_every_split);
    tcase_add_test(tc, test_reset_between_responses);
    tcase_add_test(tc, test_chunked);
    tcase_add_test(tc, test_keep_alive_rules);
    tcase_add_test(tc, test_body_until_eof);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_trailing_bytes_refused);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_interim_100_skipped);
    tcase_add_test(tc, test_error_code);
    tcase_add_test(tc, test_big_error_body_bounded);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
