/*
 * test_api_keys.c -- keys: the rest of the path after /v1/blobs/,
 * percent-decoded, 1..1024 bytes of valid UTF-8 without NUL. Keys with
 * '/', spaces, UTF-8, JSON-special characters; the length limit counted in
 * decoded bytes; invalid encodings and invalid UTF-8 refused with 400; long
 * keys sharing a 448+ byte prefix; listing pagination over many pages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

/* PUT raw key (encoded here), check the echoed key, GET it back, and find
 * it in a prefix listing with the exact bytes. */
static void key_roundtrip(const api_node_t *n, const char *raw, size_t rawlen, uint64_t seed)
{
    char *path = api_pct_encode(raw, rawlen, 1);
    char *qkey = api_pct_encode(raw, rawlen, 0);
    char *target = malloc(strlen(path) + 32);
    char *query = malloc(strlen(qkey) + 32);
    uint8_t *data = api_gen_alloc(seed, 100);
    char hex[API_HASH_HEX];
    const api_json_t *items;
    api_json_t *l;
    api_resp_t r;
    int found = 0;

    ck_assert_ptr_nonnull(target);
    ck_assert_ptr_nonnull(query);
    api_hash_hex(data, 100, hex);
    sprintf(target, "/v1/blobs/%s", path);
    api_must_request(n, "PUT", target, NULL, data, 100, &r);
    api_assert_put_ok(&r, raw, 100, hex);
    api_resp_free(&r);
    api_must_get(n, path, data, 100);

    sprintf(query, "prefix=%s", qkey);
    l = api_must_list(n, query);
    items = api_json_get(l, "items");
    for (size_t i = 0; i < items->aj_n; i++) {
        const api_json_t *k = api_json_get(items->aj_items[i], "key");
        if (k->aj_len == rawlen && memcmp(k->aj_str, raw, rawlen) == 0)
            found = 1;
    }
    ck_assert_msg(found, "key %s (%zu bytes) not found in its prefix listing", path, rawlen);
    api_json_free(l);
    free(path);
    free(qkey);
    free(target);
    free(query);
    free(data);
}

START_TEST(test_special_keys)
{
    static const char *const keys[] = {
        "a/b/c",
        "dir/sub dir/file name.txt",
        "\xc3\xa9t\xc3\xa9/\xe2\x9c\x93/\xf0\x9f\x98\x80", /* été/✓/😀 */
        "plus+sign",
        "percent%sign",
        "question?mark#hash",
        "amp&eq=1",
        "quote\"back\\slash",
        "ctl\x01\x1f\ttab\nnl",
        "/leading/slash",
        "trailing/slash/",
        "double//slash",
        ".",
        "..",
        "a/../b",
        "~tilde",
        "\xe4\xb8\xad\xe6\x96\x87", /* 中文 */
    };
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        key_roundtrip(&n, keys[i], strlen(keys[i]), 40 + i);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* Different spellings of one key reach the same blob. */
START_TEST(test_equivalent_encodings)
{
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put(&n, "x/y%20z", "one", 3);
    api_must_get(&n, "x%2Fy%20z", "one", 3);
    api_must_get(&n, "%78/%79%20%7a", "one", 3);
    api_must_put(&n, "%c3%a9", "two", 3);
    api_must_get(&n, "%C3%A9", "two", 3);
    api_node_finish(&n);
}
END_TEST

/* A string of exactly len bytes: `unit` repeated, padded with 'a'. */
static char *make_key(size_t len, const char *unit)
{
    size_t ul = strlen(unit);
    char *k = malloc(len + 1);
    size_t i = 0;

    ck_assert_ptr_nonnull(k);
    while (i + ul <= len) {
        memcpy(k + i, unit, ul);
        i += ul;
    }
    while (i < len)
        k[i++] = 'a';
    k[len] = '\0';
    return k;
}

static void expect_bad_key(const api_node_t *n, const char *method, const char *enc)
{
    char *target = malloc(strlen(enc) + 32);
    api_resp_t r;

    ck_assert_ptr_nonnull(target);
    sprintf(target, "/v1/blobs/%s", enc);
    if (strcmp(method, "PUT") == 0)
        api_must_request(n, method, target, NULL, "x", 1, &r);
    else
        api_must_request(n, method, target, NULL, NULL, 0, &r);
    if (r.ar_status != 400)
        fprintf(stderr, "%s %.80s%s -> %d\n", method, target, strlen(target) > 80 ? "..." : "",
                r.ar_status);
    if (strcmp(method, "HEAD") == 0)
        ck_assert_msg(r.ar_status == 400, "HEAD of a bad key: %d", r.ar_status);
    else
        api_assert_error(&r, 400, "bad_request");
    api_resp_free(&r);
    free(target);
}

START_TEST(test_key_length)
{
    char *k1024 = make_key(1024, "k");
    char *k1025 = make_key(1025, "k");
    /* 341 three-byte characters + 'a' = 1024 bytes (3072 URL characters). */
    char *u1024 = make_key(1024, "\xe2\x9c\x93");
    char *u1025 = make_key(1025, "\xe2\x9c\x93");
    char *enc;
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    key_roundtrip(&n, k1024, 1024, 1);
    key_roundtrip(&n, u1024, 1024, 2);
    key_roundtrip(&n, "k", 1, 3);

    enc = api_pct_encode(k1025, 1025, 1);
    expect_bad_key(&n, "PUT", enc);
    expect_bad_key(&n, "GET", enc);
    expect_bad_key(&n, "DELETE", enc);
    free(enc);
    enc = api_pct_encode(u1025, 1025, 1);
    expect_bad_key(&n, "PUT", enc);
    free(enc);
    free(k1024);
    free(k1025);
    free(u1024);
    free(u1025);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_bad_keys)
{
    static const char *const bad[] = {
        "%00", "a%00b",           "%G1",     "abc%", "abc%4", "%%", "%C3%28", "%C0%AF", "%ED%A0%80",
        "%FF", "%F8%88%80%80%80", "a%E2%9C", "%80",
    };
    api_node_t n;
    api_json_t *l;

    api_node_init(&n);
    api_node_start(&n);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_bad_key(&n, "PUT", bad[i]);
        expect_bad_key(&n, "GET", bad[i]);
        expect_bad_key(&n, "HEAD", bad[i]);
        expect_bad_key(&n, "DELETE", bad[i]);
    }
    /* The empty key. */
    expect_bad_key(&n, "PUT", "");
    expect_bad_key(&n, "DELETE", "");
    /* Nothing was stored by any of them. */
    l = api_must_list(&n, NULL);
    ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 0);
    api_json_free(l);
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/*
 * Keys longer than 448 bytes that share their first 500 bytes are distinct
 * blobs. Their listing order among themselves is by hash (store.h), not
 * byte order, but the listing holds each exactly once and pagination with
 * after=<long key> is exact.
 */
START_TEST(test_long_keys_shared_prefix)
{
    char *base = make_key(500, "p");
    char k[3][800];
    int seen[3] = {0, 0, 0};
    char after[4096] = "";
    api_node_t n;
    api_json_t *l;
    const api_json_t *items;
    char *enc;

    api_node_init(&n);
    api_node_start(&n);
    snprintf(k[0], sizeof(k[0]), "%s%s", base, "/aaa");
    snprintf(k[1], sizeof(k[1]), "%s%s", base, "/aab");
    snprintf(k[2], sizeof(k[2]), "%s%s", base, "/b");
    for (int i = 2; i >= 0; i--) {
        enc = api_pct_encode(k[i], strlen(k[i]), 1);
        uint8_t *data = api_gen_alloc(60 + (uint64_t)i, 300);
        api_must_put(&n, enc, data, 300);
        free(data);
        free(enc);
    }
    for (int i = 0; i < 3; i++) {
        enc = api_pct_encode(k[i], strlen(k[i]), 1);
        uint8_t *data = api_gen_alloc(60 + (uint64_t)i, 300);
        api_must_get(&n, enc, data, 300);
        free(data);
        free(enc);
    }
    l = api_must_list(&n, "prefix=ppp");
    items = api_json_get(l, "items");
    ck_assert_uint_eq(items->aj_n, 3);
    for (size_t j = 0; j < 3; j++)
        for (int i = 0; i < 3; i++)
            if (strcmp(api_json_str(items->aj_items[j], "key"), k[i]) == 0)
                seen[i]++;
    ck_assert_msg(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "listing lost a long key");
    api_json_free(l);

    /* Page through them one by one with after=<long key>. */
    memset(seen, 0, sizeof(seen));
    for (int page = 0; page < 4; page++) {
        char query[4200];
        const char *next;
        snprintf(query, sizeof(query), "prefix=ppp&limit=1%s%s", after[0] ? "&after=" : "", after);
        l = api_must_list(&n, query);
        items = api_json_get(l, "items");
        if (page == 3) {
            ck_assert_msg(items->aj_n == 0, "a fourth page with %zu items", items->aj_n);
            api_json_free(l);
            break;
        }
        ck_assert_uint_eq(items->aj_n, 1);
        for (int i = 0; i < 3; i++)
            if (strcmp(api_json_str(items->aj_items[0], "key"), k[i]) == 0)
                seen[i]++;
        next = api_list_next(l);
        if (next == NULL) {
            ck_assert_int_eq(page, 2);
            api_json_free(l);
            break;
        }
        enc = api_pct_encode(next, strlen(next), 0);
        snprintf(after, sizeof(after), "%s", enc);
        free(enc);
        api_json_free(l);
    }
    ck_assert_msg(seen[0] == 1 && seen[1] == 1 && seen[2] == 1,
                  "paging with limit=1 returned the long keys %d/%d/%d times", seen[0], seen[1],
                  seen[2]);
    free(base);
    api_node_finish(&n);
}
END_TEST

/* Collects all keys under prefix by following next; returns the page count. */
static int list_all(const api_node_t *n, const char *prefix_q, int limit, char keys[][32], int max,
                    int *count)
{
    char after[256] = "";
    int pages = 0;

    *count = 0;
    for (;;) {
        char query[512];
        api_json_t *l;
        const api_json_t *items;
        const char *next;

        if (after[0] != '\0')
            snprintf(query, sizeof(query), "prefix=%s&limit=%d&after=%s", prefix_q, limit, after);
        else
            snprintf(query, sizeof(query), "prefix=%s&limit=%d", prefix_q, limit);
        l = api_must_list(n, query);
        pages++;
        ck_assert_msg(pages < 100, "listing does not terminate");
        items = api_json_get(l, "items");
        ck_assert_msg((int)items->aj_n <= limit, "page of %zu items with limit=%d", items->aj_n,
                      limit);
        for (size_t i = 0; i < items->aj_n; i++) {
            ck_assert_msg(*count < max, "listing returns too many items");
            snprintf(keys[*count], 32, "%s", api_json_str(items->aj_items[i], "key"));
            (*count)++;
        }
        next = api_list_next(l);
        if (next == NULL) {
            api_json_free(l);
            return pages;
        }
        ck_assert_msg(items->aj_n > 0, "empty page with a non-null next");
        ck_assert_str_eq(next, api_json_str(items->aj_items[items->aj_n - 1], "key"));
        {
            char *enc = api_pct_encode(next, strlen(next), 0);
            snprintf(after, sizeof(after), "%s", enc);
            free(enc);
        }
        api_json_free(l);
    }
}

START_TEST(test_pagination)
{
    static char got[200][32];
    api_node_t n;
    int count, pages;
    api_json_t *l;

    api_node_init(&n);
    api_node_start(&n);
    /* 50 keys under p/ plus neighbours on both sides that must not show. */
    for (int i = 49; i >= 0; i--) {
        char key[32];
        snprintf(key, sizeof(key), "p/%03d", i);
        api_must_put(&n, key, "v", 1);
    }
    api_must_put(&n, "o", "v", 1);
    api_must_put(&n, "p", "v", 1);
    api_must_put(&n, "p0", "v", 1);
    api_must_put(&n, "q/000", "v", 1);

    pages = list_all(&n, "p%2F", 7, got, 200, &count);
    ck_assert_int_eq(count, 50);
    for (int i = 0; i < 50; i++) {
        char want[32];
        snprintf(want, sizeof(want), "p/%03d", i);
        ck_assert_str_eq(got[i], want);
    }
    ck_assert_msg(pages == 8, "50 keys with limit=7 took %d pages, expected 8", pages);

    /* 49 keys = exactly 7 full pages: a trailing empty page is tolerated. */
    api_must_status(&n, "DELETE", "/v1/blobs/p/049", 204);
    pages = list_all(&n, "p%2F", 7, got, 200, &count);
    ck_assert_int_eq(count, 49);
    ck_assert_msg(pages == 7 || pages == 8, "49 keys with limit=7: %d pages", pages);

    /* Default limit is 100: all 53 keys fit; limit=1 pages one by one. */
    l = api_must_list(&n, NULL);
    ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 53);
    ck_assert(api_list_next(l) == NULL);
    api_json_free(l);
    pages = list_all(&n, "q", 1, got, 200, &count);
    ck_assert_int_eq(count, 1);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_default_limit)
{
    api_node_t n;
    api_conn_t c;
    api_json_t *l;

    api_node_init(&n);
    api_node_start(&n);
    /* 130 empty blobs over one keep-alive connection. */
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    for (int i = 0; i < 130; i++) {
        char target[64];
        api_resp_t r;
        snprintf(target, sizeof(target), "/v1/blobs/d/%03d", i);
        ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", target, NULL, "", 0), 0);
        ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
        ck_assert_int_eq(r.ar_status, 201);
        api_resp_free(&r);
    }
    api_conn_close(&c);
    l = api_must_list(&n, NULL);
    ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 100);
    ck_assert_msg(api_list_next(l) != NULL && strcmp(api_list_next(l), "d/099") == 0,
                  "next after the first 100 should be d/099");
    api_json_free(l);
    l = api_must_list(&n, "after=d%2F099");
    ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 30);
    ck_assert(api_list_next(l) == NULL);
    api_json_free(l);
    l = api_must_list(&n, "limit=1000");
    ck_assert_uint_eq(api_json_get(l, "items")->aj_n, 130);
    ck_assert(api_list_next(l) == NULL);
    api_json_free(l);
    api_node_finish(&n);
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("api_keys");
    TCase *tc = tcase_create("keys");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_special_keys);
    tcase_add_test(tc, test_equivalent_encodings);
    tcase_add_test(tc, test_key_length);
    tcase_add_test(tc, test_bad_keys);
    tcase_add_test(tc, test_long_keys_shared_prefix);
    tcase_add_test(tc, test_pagination);
    tcase_add_test(tc, test_default_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(keys_suite());
}
