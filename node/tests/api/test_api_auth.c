/*
 * test_api_auth.c -- --api-token-file: every /v1/ route except /v1/health
 * needs "Authorization: Bearer TOKEN"; without it or with a wrong one the
 * answer is 401 {"error":"unauthorized"} with WWW-Authenticate: Bearer.
 * /v1/health and /metrics stay open. Without the flag nothing is required.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "api_http.h"

#define TOKEN "s3cret-Token_0123456789"

static void expect_401(const api_node_t *n, const char *method, const char *target,
                       const char *authz)
{
    char extra[512] = "";
    api_resp_t r;
    int rc;
    int is_put = strcmp(method, "PUT") == 0;

    if (authz != NULL)
        snprintf(extra, sizeof(extra), "Authorization: %s\r\n", authz);
    rc = api_request(n, 0, method, target, extra, is_put ? "data" : NULL, is_put ? 4 : 0, &r);
    ck_assert_msg(rc == 0, "%s %s: transport error %d", method, target, rc);
    ck_assert_msg(r.ar_status == 401, "%s %s with Authorization %s: expected 401, got %d", method,
                  target, authz ? authz : "(none)", r.ar_status);
    if (strcmp(method, "HEAD") != 0)
        api_assert_error(&r, 401, "unauthorized");
    ck_assert_msg(api_resp_header(&r, "WWW-Authenticate") != NULL &&
                      strncasecmp(api_resp_header(&r, "WWW-Authenticate"), "Bearer", 6) == 0,
                  "%s %s: 401 without WWW-Authenticate: Bearer", method, target);
    api_resp_free(&r);
}

static void check_protected(const api_node_t *n, const char *authz)
{
    expect_401(n, "PUT", "/v1/blobs/k", authz);
    expect_401(n, "GET", "/v1/blobs/k", authz);
    expect_401(n, "HEAD", "/v1/blobs/k", authz);
    expect_401(n, "DELETE", "/v1/blobs/k", authz);
    expect_401(n, "GET", "/v1/blobs", authz);
    expect_401(n, "GET", "/v1/blobs?prefix=a", authz);
    expect_401(n, "GET", "/v1/cluster", authz);
}

START_TEST(test_token_required)
{
    static const char *const wrong[] = {
        NULL,                             /* no header */
        "Bearer wrong",                   /* wrong token */
        "Bearer " TOKEN "x",              /* token plus a byte */
        "Bearer s3cret-Token_012345678",  /* token minus a byte */
        "Bearer s3cret-token_0123456789", /* case differs */
        "Basic " TOKEN,                   /* wrong scheme */
        "Bearer",                         /* scheme only */
        "Bearer ",                        /* empty token */
        TOKEN,                            /* no scheme */
    };
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_set_token(&n, TOKEN, 0);
    api_node_start(&n);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        check_protected(&n, wrong[i]);

    /* The right token works on every route. */
    api_must_put(&n, "k", "data", 4);
    api_must_get(&n, "k", "data", 4);
    api_must_status(&n, "HEAD", "/v1/blobs/k", 200);
    api_json_free(api_must_list(&n, NULL));
    api_must_status(&n, "GET", "/v1/cluster", 200);
    /* The scheme name is case-insensitive (RFC 9110 11.1). */
    api_must_request(&n, "GET", "/v1/blobs/k", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    api_resp_free(&r);
    ck_assert_int_eq(api_request(&n, 0, "GET", "/v1/blobs/k", "Authorization: bearer " TOKEN "\r\n",
                                 NULL, 0, &r),
                     0);
    ck_assert_msg(r.ar_status == 200, "lower-case \"bearer\" scheme: %d", r.ar_status);
    api_resp_free(&r);

    /* A refused PUT or DELETE changed nothing. */
    api_must_get(&n, "k", "data", 4);
    api_must_status(&n, "DELETE", "/v1/blobs/k", 204);

    /* Health and metrics are open. */
    ck_assert_int_eq(api_request(&n, 0, "GET", "/v1/health", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    api_resp_free(&r);
    ck_assert_int_eq(api_request(&n, 0, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_msg(strstr(r.ar_body, "cairn_http_requests_total") != NULL, "metrics body");
    api_resp_free(&r);
    /* A wrong token on an open route is ignored, not refused. */
    ck_assert_int_eq(
        api_request(&n, 0, "GET", "/v1/health", "Authorization: Bearer nope\r\n", NULL, 0, &r), 0);
    ck_assert_int_eq(r.ar_status, 200);
    api_resp_free(&r);
    api_node_finish(&n);
}
END_TEST

/* An unauthorized upload announced with Expect: 100-continue is refused
 * without inviting the body. */
START_TEST(test_unauthorized_expect_continue)
{
    api_node_t n;
    api_conn_t c;
    api_resp_t r;

    api_node_init(&n);
    api_node_set_token(&n, TOKEN, 0);
    api_node_start(&n);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 0, "PUT", "/v1/blobs/e",
                                  "Expect: 100-continue\r\nContent-Length: 1048576\r\n", NULL, 0),
                     0);
    c.ac_timeout_ms = 5000;
    ck_assert_int_eq(api_conn_read_resp(&c, 0, &r), 0);
    ck_assert_msg(r.ar_status == 401, "expected 401 before the body, got %d", r.ar_status);
    api_resp_free(&r);
    api_conn_close(&c);
    api_must_status(&n, "GET", "/v1/blobs/e", 404);
    api_node_finish(&n);
}
END_TEST

/* A token file written with `echo TOKEN > file` ends in a newline; the
 * newline is not part of the token. */
START_TEST(test_token_file_newline)
{
    api_node_t n;

    api_node_init(&n);
    api_node_set_token(&n, TOKEN, 1);
    api_node_start(&n);
    api_must_put(&n, "nl", "x", 1);
    api_must_get(&n, "nl", "x", 1);
    check_protected(&n, NULL);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_no_token_configured)
{
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "open", "x", 1);
    /* Any Authorization header is ignored when no token is configured. */
    ck_assert_int_eq(
        api_request(&n, 0, "GET", "/v1/blobs/open", "Authorization: Bearer zzz\r\n", NULL, 0, &r),
        0);
    ck_assert_int_eq(r.ar_status, 200);
    api_resp_free(&r);
    api_node_finish(&n);
}
END_TEST

static void expect_refused_start(const char *token_content, int make_file)
{
    api_node_t n;
    char path[600];
    int status = 0;
    int port, peer_port;
    pid_t pid;

    api_node_init(&n);
    snprintf(path, sizeof(path), "%s/%s", n.an_base, make_file ? "token" : "missing-token");
    if (make_file) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(token_content, f);
        fclose(f);
    }
    api_node_arg(&n, "--api-token-file");
    api_node_arg(&n, path);
    api_pick_ports(&port, &peer_port);
    pid = api_node_spawn_raw(&n, n.an_data, port, peer_port, n.an_log);
    ck_assert_msg(api_wait_exit(pid, 10000, &status) == 0,
                  "cairnd kept running with an unusable token file");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "cairnd with an unusable token file: expected a non-zero exit");
    api_node_finish(&n);
}

/* A missing or empty token file is refused at start (an empty token would
 * silently open or lock the API). */
START_TEST(test_bad_token_file)
{
    expect_refused_start("", 1);
    expect_refused_start("\n", 1);
    expect_refused_start(NULL, 0);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("api_auth");
    TCase *tc = tcase_create("auth");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_token_required);
    tcase_add_test(tc, test_unauthorized_expect_continue);
    tcase_add_test(tc, test_token_file_newline);
    tcase_add_test(tc, test_no_token_configured);
    tcase_add_test(tc, test_bad_token_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(auth_suite());
}
