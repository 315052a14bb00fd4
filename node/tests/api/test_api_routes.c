/*
 * test_api_routes.c -- every route and status of the HTTP API contract
 * (DESIGN.md section 7) against a real cairnd: PUT/GET/HEAD/DELETE of a
 * blob, not-found and other errors with their JSON bodies, the listing's
 * JSON shape, /v1/cluster, /v1/health and the /metrics families.
 */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_http.h"

static unsigned long long version_hlc(const char *v)
{
    return strtoull(v, NULL, 10);
}

/* PUT with an explicit Content-Type; returns the response (caller frees). */
static void put_ct(const api_node_t *n, const char *key, const char *body, const char *ctype,
                   api_resp_t *r)
{
    char target[512], extra[256] = "";

    snprintf(target, sizeof(target), "/v1/blobs/%s", key);
    if (ctype != NULL)
        snprintf(extra, sizeof(extra), "Content-Type: %s\r\n", ctype);
    api_must_request(n, "PUT", target, extra, body, strlen(body), r);
}

START_TEST(test_put_get_head_delete)
{
    api_node_t n;
    api_resp_t r, g, h;
    char hex1[API_HASH_HEX], hex2[API_HASH_HEX];
    char ver1[128], etag1[64];
    const char *ct;
    const char *body1 = "hello world";
    const char *body2 = "second version, longer than the first";

    api_node_init(&n);
    api_node_start(&n);
    api_hash_hex(body1, strlen(body1), hex1);
    api_hash_hex(body2, strlen(body2), hex2);

    /* PUT: 201 with ETag, X-Cairn-Version and the JSON description. */
    put_ct(&n, "hello", body1, "text/plain", &r);
    api_assert_put_ok(&r, "hello", strlen(body1), hex1);
    snprintf(ver1, sizeof(ver1), "%s", api_resp_header(&r, "X-Cairn-Version"));
    snprintf(etag1, sizeof(etag1), "%s", api_resp_header(&r, "ETag"));
    ct = api_resp_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
                  "PUT 201 Content-Type %s", ct ? ct : "(none)");
    api_resp_free(&r);

    /* GET: 200, the bytes, the stored Content-Type, the same ETag/version. */
    api_must_request(&n, "GET", "/v1/blobs/hello", NULL, NULL, 0, &g);
    ck_assert_int_eq(g.ar_status, 200);
    ck_assert_str_eq(g.ar_body, body1);
    ck_assert_str_eq(api_resp_header(&g, "Content-Length"), "11");
    ck_assert_str_eq(api_resp_header(&g, "ETag"), etag1);
    ck_assert_str_eq(api_resp_header(&g, "X-Cairn-Version"), ver1);
    ct = api_resp_header(&g, "Content-Type");
    ck_assert_msg(ct != NULL && strncasecmp(ct, "text/plain", 10) == 0,
                  "GET Content-Type %s, stored text/plain", ct ? ct : "(none)");
    ck_assert_msg(api_resp_header(&g, "Accept-Ranges") != NULL &&
                      strcasecmp(api_resp_header(&g, "Accept-Ranges"), "bytes") == 0,
                  "GET lacks Accept-Ranges: bytes");
    api_resp_free(&g);

    /* HEAD: same headers, no body. */
    api_must_request(&n, "HEAD", "/v1/blobs/hello", NULL, NULL, 0, &h);
    ck_assert_int_eq(h.ar_status, 200);
    ck_assert_str_eq(api_resp_header(&h, "Content-Length"), "11");
    ck_assert_str_eq(api_resp_header(&h, "ETag"), etag1);
    ck_assert_str_eq(api_resp_header(&h, "X-Cairn-Version"), ver1);
    ck_assert_uint_eq(h.ar_body_total, 0);
    api_resp_free(&h);

    /* Overwrite: new ETag, a later version. */
    put_ct(&n, "hello", body2, NULL, &r);
    api_assert_put_ok(&r, "hello", strlen(body2), hex2);
    ck_assert_msg(version_hlc(api_resp_header(&r, "X-Cairn-Version")) > version_hlc(ver1),
                  "overwrite version %s is not later than %s",
                  api_resp_header(&r, "X-Cairn-Version"), ver1);
    api_resp_free(&r);
    api_must_get(&n, "hello", body2, strlen(body2));

    /* Without a Content-Type the blob is served as application/octet-stream. */
    api_must_request(&n, "GET", "/v1/blobs/hello", NULL, NULL, 0, &g);
    ct = api_resp_header(&g, "Content-Type");
    ck_assert_msg(ct != NULL && strcasecmp(ct, "application/octet-stream") == 0,
                  "default Content-Type %s", ct ? ct : "(none)");
    api_resp_free(&g);

    /* DELETE: 204 without a body; then everything is 404. */
    api_must_request(&n, "DELETE", "/v1/blobs/hello", NULL, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 204, "DELETE: expected 204, got %d", r.ar_status);
    ck_assert_uint_eq(r.ar_body_total, 0);
    api_resp_free(&r);
    api_must_request(&n, "GET", "/v1/blobs/hello", NULL, NULL, 0, &r);
    api_assert_error(&r, 404, "not_found");
    api_resp_free(&r);
    api_must_request(&n, "HEAD", "/v1/blobs/hello", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 404);
    ck_assert_uint_eq(r.ar_body_total, 0);
    api_resp_free(&r);
    api_must_request(&n, "DELETE", "/v1/blobs/hello", NULL, NULL, 0, &r);
    api_assert_error(&r, 404, "not_found");
    api_resp_free(&r);

    /* A deleted key can be written again. */
    put_ct(&n, "hello", body1, NULL, &r);
    api_assert_put_ok(&r, "hello", strlen(body1), hex1);
    api_resp_free(&r);
    api_must_get(&n, "hello", body1, strlen(body1));
    api_node_finish(&n);
}
END_TEST

START_TEST(test_not_found_and_unknown_routes)
{
    static const char *const targets[] = {"/",           "/v1",          "/v1/",
                                          "/v2/blobs/x", "/v1/blobsx",   "/v1/healthz",
                                          "/metrics/x",  "/v1/cluster/x"};
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    api_must_request(&n, "GET", "/v1/blobs/never-written", NULL, NULL, 0, &r);
    api_assert_error(&r, 404, "not_found");
    api_resp_free(&r);
    api_must_request(&n, "DELETE", "/v1/blobs/never-written", NULL, NULL, 0, &r);
    api_assert_error(&r, 404, "not_found");
    api_resp_free(&r);
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        api_must_request(&n, "GET", targets[i], NULL, NULL, 0, &r);
        ck_assert_msg(r.ar_status == 404, "GET %s: expected 404, got %d", targets[i], r.ar_status);
        api_assert_error(&r, 404, "not_found");
        api_resp_free(&r);
    }
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* A method a route does not support: 405 (or 400) with a JSON error body,
 * and the connection stays usable for the next request. */
START_TEST(test_wrong_methods)
{
    static const struct {
        const char *method, *target;
    } cases[] = {
        {"POST", "/v1/blobs/k"}, {"PATCH", "/v1/blobs/k"}, {"PUT", "/v1/health"},
        {"DELETE", "/v1/blobs"}, {"POST", "/v1/cluster"},  {"PUT", "/metrics"},
    };
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        api_must_request(&n, cases[i].method, cases[i].target, NULL, NULL, 0, &r);
        ck_assert_msg(r.ar_status == 405 || r.ar_status == 400, "%s %s: expected 405/400, got %d",
                      cases[i].method, cases[i].target, r.ar_status);
        api_assert_error(&r, r.ar_status,
                         r.ar_status == 405 ? "method_not_allowed" : "bad_request");
        api_resp_free(&r);
    }
    api_must_status(&n, "GET", "/v1/blobs/k", 404); /* nothing was created */
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

static const api_json_t *find_item(const api_json_t *list, const char *key)
{
    const api_json_t *items = api_json_get(list, "items");

    for (size_t i = 0; i < items->aj_n; i++) {
        if (strcmp(api_json_str(items->aj_items[i], "key"), key) == 0)
            return items->aj_items[i];
    }
    return NULL;
}

static void assert_keys(const api_json_t *list, const char *const *keys, size_t n)
{
    const api_json_t *items = api_json_get(list, "items");

    ck_assert_msg(items->aj_n == n, "listing has %zu items, expected %zu", items->aj_n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(api_json_str(items->aj_items[i], "key"), keys[i]);
}

START_TEST(test_listing)
{
    static const char *const keys[] = {"a", "b/c", "b/d", "e"};
    static const char *const all[] = {"a", "b/c", "b/d", "e"};
    static const char *const pre_b[] = {"b/c", "b/d"};
    static const char *const after_bc[] = {"b/d", "e"};
    char versions[4][128];
    api_node_t n;
    api_json_t *l;

    api_node_init(&n);
    api_node_start(&n);
    /* Written out of order; listed in key order. */
    for (int i = 3; i >= 0; i--) {
        char target[64];
        uint8_t *data = api_gen_alloc((uint64_t)i, (size_t)(i * 100));
        api_resp_t r;
        snprintf(target, sizeof(target), "/v1/blobs/%s", keys[i]);
        api_must_request(&n, "PUT", target, NULL, data, (size_t)(i * 100), &r);
        ck_assert_int_eq(r.ar_status, 201);
        snprintf(versions[i], sizeof(versions[i]), "%s", api_resp_header(&r, "X-Cairn-Version"));
        api_resp_free(&r);
        free(data);
    }

    l = api_must_list(&n, NULL);
    assert_keys(l, all, 4);
    ck_assert_msg(api_list_next(l) == NULL, "complete listing must have next: null");
    for (int i = 0; i < 4; i++) {
        const api_json_t *it = find_item(l, keys[i]);
        uint8_t *data = api_gen_alloc((uint64_t)i, (size_t)(i * 100));
        char hex[API_HASH_HEX], got[API_HASH_HEX];
        api_hash_hex(data, (size_t)(i * 100), hex);
        api_etag_hex(api_json_str(it, "etag"), got);
        ck_assert_str_eq(got, hex);
        ck_assert_msg(api_json_get(it, "size")->aj_num == i * 100, "size of %s", keys[i]);
        ck_assert_str_eq(api_json_str(it, "version"), versions[i]);
        free(data);
    }
    api_json_free(l);

    l = api_must_list(&n, "prefix=b%2F");
    assert_keys(l, pre_b, 2);
    ck_assert(api_list_next(l) == NULL);
    api_json_free(l);

    l = api_must_list(&n, "after=b%2Fc");
    assert_keys(l, after_bc, 2);
    api_json_free(l);

    l = api_must_list(&n, "prefix=zzz");
    assert_keys(l, NULL, 0);
    ck_assert(api_list_next(l) == NULL);
    api_json_free(l);

    /* limit=2: two items and next = the last key returned. */
    l = api_must_list(&n, "limit=2");
    assert_keys(l, all, 2);
    ck_assert_msg(api_list_next(l) != NULL && strcmp(api_list_next(l), "b/c") == 0,
                  "next should be \"b/c\"");
    api_json_free(l);
    l = api_must_list(&n, "limit=2&after=b%2Fc");
    assert_keys(l, after_bc, 2);
    api_json_free(l);

    /* A deleted key disappears from the listing. */
    api_must_status(&n, "DELETE", "/v1/blobs/b/c", 204);
    l = api_must_list(&n, "prefix=b");
    assert_keys(l, (const char *const[]){"b/d"}, 1);
    api_json_free(l);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_listing_bad_params)
{
    static const char *const bad[] = {"limit=0",  "limit=1001", "limit=abc",
                                      "limit=-1", "limit=",     "limit=99999999999999999999999"};
    api_node_t n;
    api_resp_t r;
    api_json_t *l;

    api_node_init(&n);
    api_node_start(&n);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char target[128];
        snprintf(target, sizeof(target), "/v1/blobs?%s", bad[i]);
        api_must_request(&n, "GET", target, NULL, NULL, 0, &r);
        api_assert_error(&r, 400, "bad_request");
        api_resp_free(&r);
    }
    l = api_must_list(&n, "limit=1000");
    api_json_free(l);
    l = api_must_list(&n, "limit=1");
    api_json_free(l);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_durability_param)
{
    static const char *const ok[] = {"local", "majority", "all"};
    api_node_t n;
    api_resp_t r;

    api_node_init(&n);
    api_node_start(&n);
    for (size_t i = 0; i < 3; i++) {
        char target[128];
        snprintf(target, sizeof(target), "/v1/blobs/d%zu?durability=%s", i, ok[i]);
        api_must_request(&n, "PUT", target, NULL, "x", 1, &r);
        ck_assert_msg(r.ar_status == 201, "PUT %s on a one-node cluster: %d %.200s", target,
                      r.ar_status, r.ar_body);
        api_resp_free(&r);
        snprintf(target, sizeof(target), "/v1/blobs/d%zu", i);
        api_must_get(&n, target + strlen("/v1/blobs/"), "x", 1);
        snprintf(target, sizeof(target), "/v1/blobs/d%zu?durability=%s", i, ok[i]);
        api_must_status(&n, "DELETE", target, 204);
    }
    api_must_request(&n, "PUT", "/v1/blobs/dx?durability=bogus", NULL, "x", 1, &r);
    api_assert_error(&r, 400, "bad_request");
    api_resp_free(&r);
    api_must_request(&n, "PUT", "/v1/blobs/dx?durability=", NULL, "x", 1, &r);
    api_assert_error(&r, 400, "bad_request");
    api_resp_free(&r);
    api_must_status(&n, "GET", "/v1/blobs/dx", 404);
    api_must_request(&n, "DELETE", "/v1/blobs/dx?durability=sometimes", NULL, NULL, 0, &r);
    api_assert_error(&r, 400, "bad_request");
    api_resp_free(&r);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_health_and_cluster)
{
    api_node_t n;
    api_resp_t r;
    api_json_t *j = NULL;
    const api_json_t *v;
    const char *err = NULL;

    api_node_init(&n);
    api_node_start(&n);
    api_must_health(&n);
    api_must_request(&n, "GET", "/v1/health", NULL, NULL, 0, &r);
    ck_assert_msg(api_resp_header(&r, "Content-Type") != NULL &&
                      strncasecmp(api_resp_header(&r, "Content-Type"), "application/json", 16) == 0,
                  "health Content-Type");
    api_resp_free(&r);

    api_must_request(&n, "GET", "/v1/cluster", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_msg(api_json_parse(r.ar_body, r.ar_body_len, &j, &err) == 0,
                  "cluster body is not JSON (%s): %.300s", err, r.ar_body);
    v = api_json_get(j, "node_id");
    ck_assert_msg(v != NULL && v->aj_type == AJ_NUM && v->aj_num == 1, "node_id: %.300s",
                  r.ar_body);
    v = api_json_get(j, "peers");
    ck_assert_msg(v != NULL && v->aj_type == AJ_ARR && v->aj_n == 0,
                  "peers must be an empty array on a single node: %.300s", r.ar_body);
    v = api_json_get(j, "pending_repairs");
    ck_assert_msg(v != NULL && v->aj_type == AJ_NUM && v->aj_num == 0, "pending_repairs: %.300s",
                  r.ar_body);
    api_json_free(j);
    api_resp_free(&r);
    api_node_finish(&n);
}
END_TEST

/* Checks the exposition format line by line: comments are HELP/TYPE or
 * free text, samples are name{labels} value [timestamp]. */
static void assert_prometheus_text(const char *text)
{
    regex_t sample;
    const char *line = text;
    int lineno = 0;

    ck_assert_int_eq(regcomp(&sample,
                             "^[a-zA-Z_:][a-zA-Z0-9_:]*"
                             "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})?"
                             " [-+]?([0-9.eE+-]+|NaN|\\+?Inf)( -?[0-9]+)?$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    while (*line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        char buf[2048];

        lineno++;
        ck_assert_msg(len < sizeof(buf), "metrics line %d too long", lineno);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (len > 0 && buf[0] != '#')
            ck_assert_msg(regexec(&sample, buf, 0, NULL, 0) == 0,
                          "metrics line %d is not a valid sample: %s", lineno, buf);
        if (strncmp(buf, "# TYPE ", 7) == 0)
            ck_assert_msg(strstr(buf, " counter") || strstr(buf, " gauge") ||
                              strstr(buf, " histogram") || strstr(buf, " summary") ||
                              strstr(buf, " untyped"),
                          "bad TYPE line %s", buf);
        if (eol == NULL)
            break;
        line = eol + 1;
    }
    ck_assert_msg(strlen(text) > 0 && text[strlen(text) - 1] == '\n',
                  "metrics text must end with a newline");
    regfree(&sample);
}

static void assert_type(const char *text, const char *family, const char *type)
{
    char want[256];

    snprintf(want, sizeof(want), "# TYPE %s %s\n", family, type);
    ck_assert_msg(strstr(text, want) != NULL, "metrics lack \"# TYPE %s %s\"", family, type);
}

/* Whether some sample line of `name` carries all the given label pairs. */
static int has_sample(const char *text, const char *name, const char *l1, const char *l2)
{
    size_t nl = strlen(name);
    const char *line = text;

    while (line != NULL && *line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[2048];
        if (len < sizeof(buf)) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            if (strncmp(buf, name, nl) == 0 && buf[nl] == '{' &&
                (l1 == NULL || strstr(buf, l1) != NULL) && (l2 == NULL || strstr(buf, l2) != NULL))
                return 1;
        }
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

START_TEST(test_metrics)
{
    api_node_t n;
    api_resp_t r;
    const char *ct;
    uint8_t *a = api_gen_alloc(1, 1000);
    uint8_t *b = api_gen_alloc(2, 2345);
    double v;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "m/a", a, 1000);
    api_must_put(&n, "m/b", b, 2345);
    api_must_put(&n, "m/c", a, 10);
    api_must_status(&n, "DELETE", "/v1/blobs/m/c", 204);
    api_must_get(&n, "m/a", a, 1000);
    api_must_status(&n, "GET", "/v1/blobs/m/none", 404);

    api_must_request(&n, "GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    ct = api_resp_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncasecmp(ct, "text/plain", 10) == 0, "/metrics Content-Type %s",
                  ct ? ct : "(none)");
    assert_prometheus_text(r.ar_body);

    /* Requests by route, method and status. */
    assert_type(r.ar_body, "cairn_http_requests_total", "counter");
    ck_assert_msg(
        has_sample(r.ar_body, "cairn_http_requests_total", "method=\"PUT\"", "status=\"201\""),
        "no cairn_http_requests_total sample for PUT 201");
    ck_assert_msg(has_sample(r.ar_body, "cairn_http_requests_total", "status=\"404\"", NULL),
                  "no cairn_http_requests_total sample for a 404");
    ck_assert_msg(
        has_sample(r.ar_body, "cairn_http_requests_total", "status=\"204\"", "method=\"DELETE\""),
        "no cairn_http_requests_total sample for DELETE 204");
    ck_assert_msg(has_sample(r.ar_body, "cairn_http_requests_total", "route=\"", NULL),
                  "cairn_http_requests_total has no route label");
    v = api_metric_sum(r.ar_body, "cairn_http_requests_total");
    ck_assert_msg(v >= 6, "cairn_http_requests_total sums to %g, expected >= 6", v);

    /* Bytes in and out. */
    assert_type(r.ar_body, "cairn_http_bytes_in_total", "counter");
    assert_type(r.ar_body, "cairn_http_bytes_out_total", "counter");
    v = api_metric_sum(r.ar_body, "cairn_http_bytes_in_total");
    ck_assert_msg(v >= 3355, "cairn_http_bytes_in_total %g < body bytes sent (3355)", v);
    v = api_metric_sum(r.ar_body, "cairn_http_bytes_out_total");
    ck_assert_msg(v >= 1000, "cairn_http_bytes_out_total %g < body bytes served (1000)", v);

    /* Latency histogram. */
    assert_type(r.ar_body, "cairn_http_request_duration_seconds", "histogram");
    ck_assert_msg(
        has_sample(r.ar_body, "cairn_http_request_duration_seconds_bucket", "le=\"+Inf\"", NULL),
        "histogram lacks the +Inf bucket");
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_http_request_duration_seconds_count") >= 6,
                  "histogram _count");
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_http_request_duration_seconds_sum") >= 0,
                  "histogram _sum missing");

    /* Blobs and bytes stored: m/a and m/b are live (m/c was deleted). */
    assert_type(r.ar_body, "cairn_blobs", "gauge");
    assert_type(r.ar_body, "cairn_blob_bytes", "gauge");
    v = api_metric_sum(r.ar_body, "cairn_blobs");
    ck_assert_msg(v == 2, "cairn_blobs = %g, expected 2 live blobs", v);
    v = api_metric_sum(r.ar_body, "cairn_blob_bytes");
    ck_assert_msg(v == 3345, "cairn_blob_bytes = %g, expected 3345", v);

    /* Open connections (at least this one), re-resolved reads, repairs. */
    assert_type(r.ar_body, "cairn_http_connections_open", "gauge");
    v = api_metric_sum(r.ar_body, "cairn_http_connections_open");
    ck_assert_msg(v >= 1, "cairn_http_connections_open = %g while a request is open", v);
    assert_type(r.ar_body, "cairn_reads_reresolved_total", "counter");
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_reads_reresolved_total") == 0,
                  "cairn_reads_reresolved_total should be 0 on a clean node");
    assert_type(r.ar_body, "cairn_repairs_queued_total", "counter");
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_repairs_queued_total") == 0,
                  "cairn_repairs_queued_total should be 0 on a clean node");
    api_resp_free(&r);
    free(a);
    free(b);
    api_node_finish(&n);
}
END_TEST

static Suite *routes_suite(void)
{
    Suite *s = suite_create("api_routes");
    TCase *tc = tcase_create("routes");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_put_get_head_delete);
    tcase_add_test(tc, test_not_found_and_unknown_routes);
    tcase_add_test(tc, test_wrong_methods);
    tcase_add_test(tc, test_listing);
    tcase_add_test(tc, test_listing_bad_params);
    tcase_add_test(tc, test_durability_param);
    tcase_add_test(tc, test_health_and_cluster);
    tcase_add_test(tc, test_metrics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(routes_suite());
}
