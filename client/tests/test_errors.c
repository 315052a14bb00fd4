/*
 * test_errors.c -- every error response of the contract, end to end through
 * a fake node: the return code, and the server's code and message kept in
 * cairn_last_error().
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "fakehttp.h"
#include "testutil.h"

static const struct {
    int status;
    const char *body;
    int rc;
    const char *code;
    const char *message;
} cases[] = {
    {400, "{\"error\":\"bad_request\",\"message\":\"bad key\"}", CAIRN_CL_EBADREQ, "bad_request",
     "bad key"},
    {401, "{\"error\":\"unauthorized\",\"message\":\"token required\"}", CAIRN_CL_EUNAUTH,
     "unauthorized", "token required"},
    {404, "{\"error\":\"not_found\",\"message\":\"no such key\"}", CAIRN_CL_ENOTFOUND, "not_found",
     "no such key"},
    {409, "{\"error\":\"conflict\",\"message\":\"c\"}", CAIRN_CL_ECONFLICT, "conflict", "c"},
    {412, NULL, CAIRN_CL_ECONFLICT, "", "HTTP status 412"},
    {413, "{\"error\":\"payload_too_large\",\"message\":\"max 1 MiB\"}", CAIRN_CL_ETOOBIG,
     "payload_too_large", "max 1 MiB"},
    {431, "{\"error\":\"header_too_large\",\"message\":\"h\"}", CAIRN_CL_EHDRTOOBIG,
     "header_too_large", "h"},
    {503, "{\"error\":\"durability_timeout\",\"message\":\"1/3 acks\"}", CAIRN_CL_EDURABILITY,
     "durability_timeout", "1/3 acks"},
    {507, "{\"error\":\"insufficient_storage\",\"message\":\"disk full\"}", CAIRN_CL_ENOSPACE,
     "insufficient_storage", "disk full"},
    {500, "{\"error\":\"internal\",\"message\":\"oops \\u00e9\"}", CAIRN_CL_ESERVER, "internal",
     "oops \xc3\xa9"},
    {500, "<html>proxy error</html>", CAIRN_CL_ESERVER, "", "HTTP status 500"},
    {418, "{\"error\":\"teapot\",\"message\":\"short and stout\"}", CAIRN_CL_EHTTP, "teapot",
     "short and stout"},
    {301, NULL, CAIRN_CL_EHTTP, "", "HTTP status 301"},
};

START_TEST(test_error_response)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    const cairn_error *e;
    tu_sink s;
    int rc;

    fh_respond(f, cases[_i].status, cases[_i].body, NULL, 0);
    tu_sink_init(&s);
    rc = cairn_get_cb(c, "k", tu_sink_write, &s, NULL);
    e = cairn_last_error(c);
    ck_assert_msg(rc == cases[_i].rc, "case %d: rc %d", _i, rc);
    ck_assert_int_eq(e->ce_rc, rc);
    ck_assert_int_eq(e->ce_http_status, cases[_i].status);
    ck_assert_str_eq(e->ce_code, cases[_i].code);
    ck_assert_str_eq(e->ce_message, cases[_i].message);
    ck_assert_str_eq(e->ce_node, fh_url(f));
    ck_assert_int_eq(e->ce_retry_after, -1);
    ck_assert_uint_eq(e->ce_nodes_tried, 1);
    ck_assert_uint_eq(s.s_calls, 0);
    /* The same through a PUT (the body is sent first) and a HEAD (no body). */
    ck_assert_int_eq(cairn_put_buf(c, "k", "v", 1, NULL), cases[_i].rc);
    ck_assert_str_eq(cairn_last_error(c)->ce_code, cases[_i].code);
    rc = cairn_stat_key(c, "k", NULL);
    ck_assert_int_eq(cairn_last_error(c)->ce_http_status, cases[_i].status);
    /* A HEAD response has no body, hence no code: the status decides. */
    ck_assert_int_eq(rc, cases[_i].rc == CAIRN_CL_EDURABILITY ? CAIRN_CL_EUNAVAIL : cases[_i].rc);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_error_cleared_by_success)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    const cairn_error *e = cairn_last_error(c);

    ck_assert_int_eq(cairn_stat_key(c, "nope", NULL), CAIRN_CL_ENOTFOUND);
    ck_assert_int_eq(e->ce_http_status, 404);
    ck_assert_int_eq(cairn_health(c, NULL, NULL), 0);
    ck_assert_int_eq(e->ce_rc, 0);
    ck_assert_int_eq(e->ce_http_status, 0);
    ck_assert_str_eq(e->ce_code, "");
    ck_assert_str_eq(e->ce_message, "");
    ck_assert_str_eq(e->ce_node, "");
    ck_assert_int_eq(e->ce_retry_after, -1);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_huge_error_body_bounded)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    size_t n = 1024 * 1024;
    char *body = malloc(n + 64);
    size_t pre;

    /* A 1 MiB message: the client keeps at most its error-body cap. */
    strcpy(body, "{\"error\":\"internal\",\"message\":\"");
    pre = strlen(body);
    memset(body + pre, 'x', n);
    strcpy(body + pre + n, "\"}");
    fh_respond(f, 500, body, NULL, 0);
    ck_assert_int_eq(cairn_health(c, NULL, NULL), CAIRN_CL_ESERVER);
    ck_assert_str_eq(cairn_last_error(c)->ce_code, "internal");
    free(body);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_retry_after_kept)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));

    fh_respond(f, 503, "{\"error\":\"unavailable\",\"message\":\"catching up\"}",
               "Retry-After: 12\r\n", 0);
    ck_assert_int_eq(cairn_delete(c, "k"), CAIRN_CL_EUNAVAIL);
    ck_assert_int_eq(cairn_last_error(c)->ce_retry_after, 12);
    ck_assert_str_eq(cairn_last_error(c)->ce_message, "catching up");
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("client_errors");
    TCase *tc = tcase_create("errors");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_error_response, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_error_cleared_by_success);
    tcase_add_test(tc, test_huge_error_body_bounded);
    tcase_add_test(tc, test_retry_after_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(errors_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
