/*
 * test_api_http.c -- HTTP/1.1 connection handling: keep-alive across many
 * requests, pipelining (several requests in one send(), answered in
 * order, including a PUT body in the middle), chunked request bodies
 * (many small chunks, large chunks, extensions, trailers), Expect:
 * 100-continue, HTTP/1.0 and Connection: close.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_http.h"

START_TEST(test_keep_alive)
{
    api_node_t n;
    api_conn_t c;

    api_node_init(&n);
    api_node_start(&n);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    for (int i = 0; i < 200; i++) {
        char target[64], body[64];
        api_resp_t r;
        int len = snprintf(body, sizeof(body), "value %d", i);
        snprintf(target, sizeof(target), "/v1/blobs/ka/%d", i % 10);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", target, NULL, body, (size_t)len), 0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 201);
        ck_assert_msg(!r.ar_close, "server closed a keep-alive connection after request %d", i);
        api_resp_free(&r);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", target, NULL, NULL, 0), 0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 200);
        ck_assert_str_eq(r.ar_body, body);
        api_resp_free(&r);
        /* Errors do not end the connection either. */
        ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/blobs/ka/none", NULL, NULL, 0), 0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 404);
        ck_assert_msg(!r.ar_close, "a 404 closed the connection");
        api_resp_free(&r);
    }
    api_conn_close(&c);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_pipelining)
{
    static const struct {
        const char *method;
        int status;
        const char *body; /* expected body, or NULL to skip the check */
    } want[] = {
        {"PUT", 201, NULL},     {"GET", 200, "pipelined body"},
        {"GET", 200, NULL},     {"HEAD", 200, ""},
        {"GET", 404, NULL},     {"PUT", 201, NULL},
        {"GET", 200, "second"}, {"DELETE", 204, ""},
        {"GET", 404, NULL},     {"GET", 200, NULL},
    };
    const char *reqs =
        "PUT /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\npipelined body"
        "GET /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        "HEAD /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/blobs/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
        "PUT /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
        "GET /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
        "DELETE /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/blobs/pipe HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/cluster HTTP/1.1\r\nHost: x\r\n\r\n";
    api_node_t n;
    api_conn_t c;

    api_node_init(&n);
    api_node_start(&n);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
        if (round == 0) {
            /* Everything in one send(). */
            ck_assert_int_eq(api_conn_send(&c, reqs, strlen(reqs)), 0);
        } else {
            /* Byte-sized and odd-sized pieces: requests split anywhere. */
            size_t step = round == 1 ? 1 : 7;
            for (size_t o = 0; o < strlen(reqs); o += step) {
                size_t k = strlen(reqs) - o < step ? strlen(reqs) - o : step;
                ck_assert_int_eq(api_conn_send(&c, reqs + o, k), 0);
            }
        }
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            api_resp_t r;
            int rc = api_conn_read_final(&c, strcmp(want[i].method, "HEAD") == 0, &r);
            ck_assert_msg(rc == 0, "round %d: response %zu missing (%d)", round, i, rc);
            ck_assert_msg(r.ar_status == want[i].status,
                          "round %d: response %zu (%s): status %d, expected %d", round, i,
                          want[i].method, r.ar_status, want[i].status);
            if (want[i].body != NULL)
                ck_assert_str_eq(r.ar_body, want[i].body);
            api_resp_free(&r);
        }
        ck_assert_msg(!api_conn_readable(&c, 200), "extra bytes after the last response");
        api_conn_close(&c);
    }
    api_node_finish(&n);
}
END_TEST

/* Several large pipelined PUTs, each followed by a HEAD: the server reads
 * the next body while earlier responses are pending. (Responses are kept
 * small so a client that only reads at the end cannot deadlock.) */
START_TEST(test_pipelining_large)
{
    const uint64_t size = 3u << 20;
    api_node_t n;
    api_conn_t c;
    char extra[64], hex[API_HASH_HEX];

    api_node_init(&n);
    api_node_start(&n);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)size);
    for (int i = 0; i < 3; i++) {
        char target[64];
        snprintf(target, sizeof(target), "/v1/blobs/pl/%d", i);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", target, extra, NULL, 0), 0);
        ck_assert_int_eq(api_conn_send_gen(&c, 50 + (uint64_t)i, 0, size, 0, 0), 0);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "HEAD", target, NULL, NULL, 0), 0);
    }
    for (int i = 0; i < 3; i++) {
        api_resp_t r;
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        api_hash_gen_hex(50 + (uint64_t)i, size, hex);
        api_assert_put_ok(&r, NULL, size, hex);
        api_resp_free(&r);
        ck_assert_int_eq(api_conn_read_final(&c, 1, &r), 0);
        ck_assert_int_eq(r.ar_status, 200);
        ck_assert_uint_eq(strtoull(api_resp_header(&r, "Content-Length"), NULL, 10), size);
        api_resp_free(&r);
    }
    api_conn_close(&c);
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof(key), "pl/%d", i);
        api_must_get_gen(&n, key, 50 + (uint64_t)i, size);
    }
    api_node_finish(&n);
}
END_TEST

/* Sends a chunked PUT of generated content and checks it. */
static void chunked_roundtrip(const api_node_t *n, const char *key, uint64_t seed, uint64_t size,
                              size_t chunk)
{
    char target[128], hex[API_HASH_HEX];
    api_conn_t c;
    api_resp_t r;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key);
    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    ck_assert_int_eq(
        api_send_req(&c, n, 1, "PUT", target, "Transfer-Encoding: chunked\r\n", NULL, 0), 0);
    ck_assert_int_eq(api_conn_send_gen(&c, seed, 0, size, chunk, 1), 0);
    ck_assert_int_eq(api_conn_send(&c, "0\r\n\r\n", 5), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    api_hash_gen_hex(seed, size, hex);
    api_assert_put_ok(&r, key, size, hex);
    api_resp_free(&r);
    api_conn_close(&c);
    api_must_get_gen(n, key, seed, size);
}

START_TEST(test_chunked_bodies)
{
    api_node_t n;
    api_conn_t c;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    chunked_roundtrip(&n, "ch/empty", 60, 0, 100);
    chunked_roundtrip(&n, "ch/one", 61, 1, 1);
    chunked_roundtrip(&n, "ch/small-chunks", 62, 100000, 97);
    chunked_roundtrip(&n, "ch/big-chunks", 63, 5u << 20, 1u << 20);
    chunked_roundtrip(&n, "ch/odd", 64, (2u << 20) + 1, 300001);

    /* Extensions, upper-case hex sizes and a trailer section. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_sendf(&c, "PUT /v1/blobs/ch/ext HTTP/1.1\r\nHost: x\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n"
                                        "5;name=value\r\nhello\r\n"
                                        "A\r\n, chunked!\r\n"
                                        "0\r\nX-Trailer: yes\r\n\r\n"),
                     0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    /* The connection is still in sync after the trailer. */
    ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/blobs/ch/ext", NULL, NULL, 0), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_str_eq(r.ar_body, "hello, chunked!");
    api_resp_free(&r);
    api_conn_close(&c);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_expect_continue)
{
    const uint64_t size = 2u << 20;
    api_node_t n;
    api_conn_t c;
    api_resp_t r;
    char extra[128], hex[API_HASH_HEX];

    api_node_init(&n);
    api_node_start(&n);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    c.ac_timeout_ms = 5000;
    for (int i = 0; i < 2; i++) {
        /* Headers only; the server must invite the body with 100 Continue. */
        snprintf(extra, sizeof(extra), "Expect: 100-continue\r\nContent-Length: %llu\r\n",
                 (unsigned long long)size);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/ec", extra, NULL, 0), 0);
        ck_assert_msg(api_conn_readable(&c, 5000), "no 100 Continue within 5 s");
        ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
        ck_assert_msg(r.ar_status == 100, "expected 100 Continue, got %d", r.ar_status);
        api_resp_free(&r);
        ck_assert_int_eq(api_conn_send_gen(&c, 70 + (uint64_t)i, 0, size, 0, 0), 0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        api_hash_gen_hex(70 + (uint64_t)i, size, hex);
        api_assert_put_ok(&r, "ec", size, hex);
        api_resp_free(&r);
    }
    /* Chunked with Expect. */
    ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/ec2",
                                  "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", NULL,
                                  0),
                     0);
    ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 100);
    api_resp_free(&r);
    ck_assert_int_eq(api_conn_sendf(&c, "4\r\nabcd\r\n0\r\n\r\n"), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    /* A client that sends the body without waiting for 100 is fine too. */
    ck_assert_int_eq(
        api_send_req(&c, &n, 1, "PUT", "/v1/blobs/ec3", "Expect: 100-continue\r\n", "eager", 5), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    api_conn_close(&c);
    api_must_get_gen(&n, "ec", 71, size);
    api_must_get(&n, "ec2", "abcd", 4);
    api_must_get(&n, "ec3", "eager", 5);

    /* An unsupported expectation: 417 (RFC 9110 10.1.1) or ignored. */
    {
        int st;
        api_must_request(&n, "PUT", "/v1/blobs/ec4", "Expect: teleport\r\n", "x", 1, &r);
        st = r.ar_status;
        api_resp_free(&r);
        ck_assert_msg(st == 417 || st == 201, "Expect: teleport -> %d", st);
    }
    api_node_finish(&n);
}
END_TEST

/* Requests that fail on their headers alone are answered without inviting
 * the body: no 100 Continue, the final status comes first. */
START_TEST(test_expect_refused_early)
{
    static const struct {
        const char *target, *extra;
        int status;
        const char *code;
    } cases[] = {
        {"/v1/blobs/bad%00key", "", 400, "bad_request"},
        {"/v1/blobs/exists", "If-None-Match: *\r\n", 412, "precondition_failed"},
        {"/v1/blobs/exists", "If-Match: \"0123456789abcdef0123456789abcdef\"\r\n", 412,
         "precondition_failed"},
        {"/v1/blobs/k?durability=bogus", "", 400, "bad_request"},
        {"/v1/health", "", 405, "method_not_allowed"},
    };
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "exists", "x", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char extra[256];
        api_conn_t c;
        api_resp_t r;
        snprintf(extra, sizeof(extra), "%sExpect: 100-continue\r\nContent-Length: 1048576\r\n",
                 cases[i].extra);
        ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
        c.ac_timeout_ms = 5000;
        ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", cases[i].target, extra, NULL, 0), 0);
        ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
        ck_assert_msg(r.ar_status != 100, "PUT %s (%s): 100 Continue for a request that fails",
                      cases[i].target, cases[i].extra);
        api_assert_error(&r, cases[i].status, cases[i].code);
        api_resp_free(&r);
        api_conn_close(&c);
    }
    api_must_get(&n, "exists", "x", 1);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_connection_close_and_http10)
{
    api_node_t n;
    api_conn_t c;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "k", "value", 5);

    /* Connection: close is honoured: answer, then close. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(
        api_send_req(&c, &n, 1, "GET", "/v1/blobs/k", "Connection: close\r\n", NULL, 0), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_str_eq(r.ar_body, "value");
    api_resp_free(&r);
    ck_assert_msg(api_conn_wait_closed(&c, 3000, NULL) == 0,
                  "server did not close after Connection: close");
    api_conn_close(&c);

    /* HTTP/1.0: response is HTTP/1.x, connection closed afterwards. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_sendf(&c, "GET /v1/blobs/k HTTP/1.0\r\n\r\n"), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_str_eq(r.ar_body, "value");
    api_resp_free(&r);
    ck_assert_msg(api_conn_wait_closed(&c, 3000, NULL) == 0,
                  "server kept an HTTP/1.0 connection open without keep-alive");
    api_conn_close(&c);

    /* HTTP/1.0 with keep-alive: two requests on one connection. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(api_conn_sendf(&c, "GET /v1/blobs/k HTTP/1.0\r\n"
                                            "Connection: keep-alive\r\n\r\n"),
                         0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 200);
        ck_assert_str_eq(r.ar_body, "value");
        api_resp_free(&r);
    }
    api_conn_close(&c);

    /* HTTP/1.0 PUT with a Content-Length. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_sendf(&c, "PUT /v1/blobs/k10 HTTP/1.0\r\n"
                                        "Content-Length: 3\r\n\r\nold"),
                     0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    api_conn_close(&c);
    api_must_get(&n, "k10", "old", 3);
    api_node_finish(&n);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("api_http");
    TCase *tc = tcase_create("http");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keep_alive);
    tcase_add_test(tc, test_pipelining);
    tcase_add_test(tc, test_pipelining_large);
    tcase_add_test(tc, test_chunked_bodies);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_expect_refused_early);
    tcase_add_test(tc, test_connection_close_and_http10);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(http_suite());
}
