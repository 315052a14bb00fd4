/*
 * test_api_cond.c -- conditional requests: If-None-Match: * on PUT (create
 * only), If-Match with the right and a wrong ETag on PUT and DELETE, and
 * two racing create-only uploads of the same key (exactly one wins).
 * 412 answers carry {"error":"precondition_failed"} (an addition to the
 * contract's error list, NODE_DESIGN.md).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

static void put_with(const api_node_t *n, const char *key, const char *hdr, const char *body,
                     api_resp_t *r)
{
    char target[256];

    snprintf(target, sizeof(target), "/v1/blobs/%s", key);
    api_must_request(n, "PUT", target, hdr, body, strlen(body), r);
}

START_TEST(test_if_none_match_star)
{
    api_node_t n;
    api_resp_t r;
    char hex[API_HASH_HEX];

    api_node_init(&n);
    api_node_start(&n);
    api_hash_hex("first", 5, hex);
    put_with(&n, "c", "If-None-Match: *\r\n", "first", &r);
    api_assert_put_ok(&r, "c", 5, hex);
    api_resp_free(&r);

    put_with(&n, "c", "If-None-Match: *\r\n", "second", &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    api_must_get(&n, "c", "first", 5);

    /* After a delete there is no live version: create-only succeeds. */
    api_must_status(&n, "DELETE", "/v1/blobs/c", 204);
    api_hash_hex("third", 5, hex);
    put_with(&n, "c", "If-None-Match: *\r\n", "third", &r);
    api_assert_put_ok(&r, "c", 5, hex);
    api_resp_free(&r);
    api_must_get(&n, "c", "third", 5);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_if_match)
{
    api_node_t n;
    api_resp_t r;
    char etag[64], hdr[160], hex[API_HASH_HEX];
    char wrong[] = "If-Match: \"00000000000000000000000000000000\"\r\n";

    api_node_init(&n);
    api_node_start(&n);
    put_with(&n, "m", "", "v1", &r);
    ck_assert_int_eq(r.ar_status, 201);
    snprintf(etag, sizeof(etag), "%s", api_resp_header(&r, "ETag"));
    api_resp_free(&r);

    /* Wrong ETag: 412, nothing changes. */
    put_with(&n, "m", wrong, "v2-wrong", &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    api_must_get(&n, "m", "v1", 2);

    /* Right ETag: 201 and the new content. */
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    api_hash_hex("v2", 2, hex);
    put_with(&n, "m", hdr, "v2", &r);
    api_assert_put_ok(&r, "m", 2, hex);
    api_resp_free(&r);
    api_must_get(&n, "m", "v2", 2);

    /* The old ETag is now stale. */
    put_with(&n, "m", hdr, "v3", &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    api_must_get(&n, "m", "v2", 2);

    /* If-Match on a key that does not exist fails (RFC 9110 13.1.1). */
    put_with(&n, "absent", hdr, "x", &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    api_must_status(&n, "GET", "/v1/blobs/absent", 404);
    api_node_finish(&n);
}
END_TEST

/* If-Match: * means "any current representation" (RFC 9110 13.1.1). */
START_TEST(test_if_match_star)
{
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    put_with(&n, "s", "If-Match: *\r\n", "x", &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    put_with(&n, "s", "", "x", &r);
    ck_assert_int_eq(r.ar_status, 201);
    api_resp_free(&r);
    put_with(&n, "s", "If-Match: *\r\n", "y", &r);
    ck_assert_msg(r.ar_status == 201, "If-Match: * on an existing key: %d %.200s", r.ar_status,
                  r.ar_body);
    api_resp_free(&r);
    api_must_get(&n, "s", "y", 1);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_delete_if_match)
{
    api_node_t n;
    api_resp_t r;
    char etag[64], hdr[160];

    api_node_init(&n);
    api_node_start(&n);
    put_with(&n, "d", "", "content", &r);
    ck_assert_int_eq(r.ar_status, 201);
    snprintf(etag, sizeof(etag), "%s", api_resp_header(&r, "ETag"));
    api_resp_free(&r);

    api_must_request(&n, "DELETE", "/v1/blobs/d",
                     "If-Match: \"ffffffffffffffffffffffffffffffff\"\r\n", NULL, 0, &r);
    api_assert_error(&r, 412, "precondition_failed");
    api_resp_free(&r);
    api_must_get(&n, "d", "content", 7);

    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    api_must_request(&n, "DELETE", "/v1/blobs/d", hdr, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 204, "DELETE with the right If-Match: %d", r.ar_status);
    api_resp_free(&r);
    api_must_status(&n, "GET", "/v1/blobs/d", 404);
    api_node_finish(&n);
}
END_TEST

/* GET with If-None-Match of the current ETag: 304 without a body (nice to
 * have) or a plain 200. */
START_TEST(test_get_if_none_match)
{
    api_node_t n;
    api_resp_t r;
    char etag[64], hdr[160];

    api_node_init(&n);
    api_node_start(&n);
    put_with(&n, "g", "", "cached", &r);
    snprintf(etag, sizeof(etag), "%s", api_resp_header(&r, "ETag"));
    api_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
    api_must_request(&n, "GET", "/v1/blobs/g", hdr, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 304 || r.ar_status == 200, "GET If-None-Match: %d", r.ar_status);
    if (r.ar_status == 304) {
        ck_assert_uint_eq(r.ar_body_total, 0);
        ck_assert_str_eq(api_resp_header(&r, "ETag"), etag);
    } else {
        ck_assert_str_eq(r.ar_body, "cached");
    }
    api_resp_free(&r);
    /* A different ETag: the blob is sent. */
    api_must_request(&n, "GET", "/v1/blobs/g",
                     "If-None-Match: \"00000000000000000000000000000001\"\r\n", NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_str_eq(r.ar_body, "cached");
    api_resp_free(&r);
    api_node_finish(&n);
}
END_TEST

/*
 * Two create-only uploads of one key, interleaved: both pass an early
 * existence check (the key is absent when their headers arrive), so the
 * store's atomic condition must decide. Exactly one gets 201, the other
 * 412, and the stored content is the winner's.
 */
START_TEST(test_create_only_race)
{
    const uint64_t size = 2u << 20;
    api_node_t n;
    api_conn_t a, b;
    api_resp_t ra, rb;
    char extra[128];
    int rc;

    api_node_init(&n);
    api_node_start(&n);
    snprintf(extra, sizeof(extra), "If-None-Match: *\r\nContent-Length: %llu\r\n",
             (unsigned long long)size);
    ck_assert_int_eq(api_conn_open(&a, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_open(&b, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&a, &n, 1, "PUT", "/v1/blobs/race", extra, NULL, 0), 0);
    ck_assert_int_eq(api_send_req(&b, &n, 1, "PUT", "/v1/blobs/race", extra, NULL, 0), 0);
    ck_assert_int_eq(api_conn_send_gen(&a, 100, 0, size / 2, 0, 1), 0);
    ck_assert_int_eq(api_conn_send_gen(&b, 200, 0, size / 2, 0, 1), 0);
    api_sleep_ms(100);
    /* The loser may be answered (and closed) before its body is complete. */
    rc = api_conn_send_gen(&b, 200, size / 2, size / 2, 0, 1);
    ck_assert_msg(rc >= 0 || rc == -EPIPE || rc == -ECONNRESET, "send b: %d", rc);
    ck_assert_int_eq(api_conn_read_final(&b, 0, &rb), 0);
    rc = api_conn_send_gen(&a, 100, size / 2, size / 2, 0, 1);
    ck_assert_msg(rc >= 0 || rc == -EPIPE || rc == -ECONNRESET, "send a: %d", rc);
    ck_assert_int_eq(api_conn_read_final(&a, 0, &ra), 0);
    ck_assert_msg((ra.ar_status == 201 && rb.ar_status == 412) ||
                      (ra.ar_status == 412 && rb.ar_status == 201),
                  "racing create-only PUTs answered %d and %d; expected one 201 and one 412",
                  ra.ar_status, rb.ar_status);
    api_must_get_gen(&n, "race", ra.ar_status == 201 ? 100 : 200, size);
    api_resp_free(&ra);
    api_resp_free(&rb);
    api_conn_close(&a);
    api_conn_close(&b);
    api_node_finish(&n);
}
END_TEST

static Suite *cond_suite(void)
{
    Suite *s = suite_create("api_cond");
    TCase *tc = tcase_create("conditional");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_if_none_match_star);
    tcase_add_test(tc, test_if_match);
    tcase_add_test(tc, test_if_match_star);
    tcase_add_test(tc, test_delete_if_match);
    tcase_add_test(tc, test_get_if_none_match);
    tcase_add_test(tc, test_create_only_race);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(cond_suite());
}
