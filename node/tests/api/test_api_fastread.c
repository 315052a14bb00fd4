/*
 * test_api_fastread.c -- a GET/HEAD of a small (inline) blob is answered
 * without the store's thread pool; the answer must be the one a
 * file-backed blob gets.
 *
 * Two nodes hold the same bytes under the same keys: one with
 * --inline-max 0 (every blob file-backed: the reader path), one with the
 * default (small blobs inline: the event-loop path, counted by
 * cairn_http_reads_inline_total). Every request of a matrix -- plain GET,
 * HEAD, ranges (first/last byte, middle, open-ended, suffix, past the end,
 * invalid), If-None-Match (match, other tag, *, with an unsatisfiable
 * range), an empty blob, a missing key -- must give the same status,
 * headers (except Date and X-Cairn-Version, which differ between nodes)
 * and body on both.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_http.h"

#define SIZE 1000

typedef struct {
    const char *method;
    const char *key;
    const char *extra; /* "@ETAG@" is replaced by the blob's ETag */
} req_t;

static double inline_reads(const api_node_t *n)
{
    api_resp_t r;
    double v;

    api_must_request(n, "GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    v = api_metric_sum(r.ar_body, "cairn_http_reads_inline_total");
    api_resp_free(&r);
    return v;
}

/* Whether header name is compared between the two nodes. */
static int compared(const char *name)
{
    return strcasecmp(name, "Date") != 0 && strcasecmp(name, "X-Cairn-Version") != 0;
}

/* Asserts a and b carry the same compared headers (names, order-free) and values. */
static void same_headers(const api_resp_t *a, const api_resp_t *b, const char *what)
{
    size_t i, na = 0, nb = 0;

    for (i = 0; i < a->ar_nhdrs; i++) {
        const char *v;

        if (!compared(a->ar_hdrs[i].ah_name))
            continue;
        na++;
        v = api_resp_header(b, a->ar_hdrs[i].ah_name);
        ck_assert_msg(v != NULL && strcmp(v, a->ar_hdrs[i].ah_value) == 0,
                      "%s: header %s is '%s' on the file-backed node, '%s' on the inline one", what,
                      a->ar_hdrs[i].ah_name, a->ar_hdrs[i].ah_value, v ? v : "(absent)");
    }
    for (i = 0; i < b->ar_nhdrs; i++)
        nb += compared(b->ar_hdrs[i].ah_name);
    ck_assert_msg(na == nb, "%s: %zu headers on the file-backed node, %zu on the inline one", what,
                  na, nb);
}

START_TEST(test_same_answers)
{
    static const req_t reqs[] = {
        {"GET", "k", NULL},
        {"HEAD", "k", NULL},
        {"GET", "k", "Range: bytes=0-0\r\n"},
        {"GET", "k", "Range: bytes=10-19\r\n"},
        {"GET", "k", "Range: bytes=990-\r\n"},
        {"GET", "k", "Range: bytes=-5\r\n"},
        {"GET", "k", "Range: bytes=-5000\r\n"},
        {"GET", "k", "Range: bytes=999-5000\r\n"},
        {"GET", "k", "Range: bytes=1000-\r\n"},
        {"GET", "k", "Range: bytes=5-2\r\n"},
        {"GET", "k", "Range: items=0-1\r\n"},
        {"HEAD", "k", "Range: bytes=0-9\r\n"},
        {"GET", "k", "If-None-Match: @ETAG@\r\n"},
        {"GET", "k", "If-None-Match: W/@ETAG@\r\n"},
        {"GET", "k", "If-None-Match: \"0123\"\r\n"},
        {"GET", "k", "If-None-Match: *\r\n"},
        {"HEAD", "k", "If-None-Match: @ETAG@\r\n"},
        {"GET", "k", "If-None-Match: @ETAG@\r\nRange: bytes=0-9\r\n"},
        {"GET", "k", "If-None-Match: @ETAG@\r\nRange: bytes=2000-\r\n"},
        {"GET", "e", NULL},
        {"HEAD", "e", NULL},
        {"GET", "e", "Range: bytes=0-0\r\n"},
        {"GET", "e", "Range: bytes=-1\r\n"},
        {"GET", "missing", NULL},
        {"HEAD", "missing", NULL},
        {"GET", "missing", "Range: bytes=0-0\r\n"},
    };
    const size_t nreq = sizeof(reqs) / sizeof(reqs[0]);
    uint8_t *data = api_gen_alloc(7, SIZE);
    api_node_t nf, ni;
    char etag[128], extra[512], target[128], what[800];
    const char *p;
    double before_i, before_f;
    size_t i;
    api_resp_t r;

    api_node_init(&nf);
    api_node_files_only(&nf);
    api_node_start(&nf);
    api_node_init(&ni);
    api_node_start(&ni);
    api_must_put(&nf, "k", data, SIZE);
    api_must_put(&ni, "k", data, SIZE);
    api_must_put(&nf, "e", data, 0);
    api_must_put(&ni, "e", data, 0);
    api_must_request(&ni, "GET", "/v1/blobs/k", NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    snprintf(etag, sizeof(etag), "%s", api_resp_header(&r, "ETag"));
    api_resp_free(&r);
    before_i = inline_reads(&ni);
    before_f = inline_reads(&nf);

    for (i = 0; i < nreq; i++) {
        api_resp_t a, b;
        size_t o = 0;

        extra[0] = '\0';
        for (p = reqs[i].extra; p != NULL && *p != '\0';) {
            if (strncmp(p, "@ETAG@", 6) == 0) {
                o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s", etag);
                p += 6;
            } else {
                extra[o++] = *p++;
                extra[o] = '\0';
            }
        }
        snprintf(target, sizeof(target), "/v1/blobs/%s", reqs[i].key);
        snprintf(what, sizeof(what), "%s %s [%s]", reqs[i].method, target, extra);
        api_must_request(&nf, reqs[i].method, target, extra[0] ? extra : NULL, NULL, 0, &a);
        api_must_request(&ni, reqs[i].method, target, extra[0] ? extra : NULL, NULL, 0, &b);
        ck_assert_msg(a.ar_status == b.ar_status, "%s: status %d file-backed, %d inline", what,
                      a.ar_status, b.ar_status);
        same_headers(&a, &b, what);
        ck_assert_msg(a.ar_body_total == b.ar_body_total && strcmp(a.ar_hash, b.ar_hash) == 0,
                      "%s: bodies differ (%llu vs %llu bytes)", what,
                      (unsigned long long)a.ar_body_total, (unsigned long long)b.ar_body_total);
        api_resp_free(&a);
        api_resp_free(&b);
    }
    /* Every request of the inline node took the event-loop path; on the
     * file-backed node only the missing key did. */
    ck_assert_msg(inline_reads(&ni) - before_i >= (double)nreq,
                  "inline node: %g fast reads for %zu requests", inline_reads(&ni) - before_i,
                  nreq);
    ck_assert_msg(inline_reads(&nf) - before_f == 3.0, "file-backed node: %g fast reads, want 3",
                  inline_reads(&nf) - before_f);
    free(data);
    api_node_finish(&nf);
    api_node_finish(&ni);
}
END_TEST

/* Overwrites between small and large are seen by the next GET at once. */
START_TEST(test_overwrite_kinds)
{
    uint8_t *small = api_gen_alloc(8, 100);
    uint8_t *large = api_gen_alloc(9, 200 * 1024);
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "x", small, 100);
    api_must_get(&n, "x", small, 100);
    api_must_put(&n, "x", large, 200 * 1024);
    api_must_get(&n, "x", large, 200 * 1024);
    api_must_put(&n, "x", large + 1, 99);
    api_must_get(&n, "x", large + 1, 99);
    api_must_status(&n, "DELETE", "/v1/blobs/x", 204);
    api_must_status(&n, "GET", "/v1/blobs/x", 404);
    api_must_status(&n, "HEAD", "/v1/blobs/x", 404);
    free(small);
    free(large);
    api_node_finish(&n);
}
END_TEST

/* File-backed blobs around the size up to which a whole-file response is
 * read into memory on the pool rather than sent with sendfile: whole and
 * ranged GETs give the exact bytes on either side of it. */
START_TEST(test_small_files)
{
    static const size_t sizes[] = {1, 4096, 65535, 65536, 65537, 300000};
    uint8_t *data = api_gen_alloc(10, 300000);
    char target[64], hex[API_HASH_HEX];
    api_node_t n;
    api_resp_t r;
    size_t i;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(target, sizeof(target), "s%zu", sizes[i]);
        api_must_put(&n, target, data, sizes[i]);
        api_must_get(&n, target, data, sizes[i]);
        api_must_get(&n, target, data, sizes[i]); /* again, the same answer */
        snprintf(target, sizeof(target), "/v1/blobs/s%zu", sizes[i]);
        api_must_request(&n, "GET", target, "Range: bytes=-1\r\n", NULL, 0, &r);
        ck_assert_int_eq(r.ar_status, 206);
        api_hash_hex(data + sizes[i] - 1, 1, hex);
        ck_assert_str_eq(r.ar_hash, hex);
        api_resp_free(&r);
    }
    api_expect_blob_files(&n, sizeof(sizes) / sizeof(sizes[0]), 5000);
    free(data);
    api_node_finish(&n);
}
END_TEST

static Suite *fastread_suite(void)
{
    Suite *s = suite_create("api_fastread");
    TCase *tc = tcase_create("fastread");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_same_answers);
    tcase_add_test(tc, test_overwrite_kinds);
    tcase_add_test(tc, test_small_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(fastread_suite());
}
