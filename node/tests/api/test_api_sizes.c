/*
 * test_api_sizes.c -- blobs of 0 B, 1 B, 4 KiB and 8 MiB stored and read
 * back byte-exact (compared by XXH3-128), through the raw client and through
 * libcurl (a real-world client: Expect: 100-continue, keep-alive reuse).
 */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

/* PUT, GET, HEAD and the listing entry of one blob of `size` bytes. */
static void roundtrip(const api_node_t *n, const char *key, uint64_t seed, size_t size)
{
    uint8_t *data = api_gen_alloc(seed, size);
    char target[256], query[256], hex[API_HASH_HEX], got[API_HASH_HEX], cl[32];
    const api_json_t *items;
    api_json_t *l;
    api_resp_t r;

    api_hash_hex(data, size, hex);
    api_must_put(n, key, data, size);
    api_must_get(n, key, data, size);

    snprintf(target, sizeof(target), "/v1/blobs/%s", key);
    api_must_request(n, "HEAD", target, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.ar_status, 200);
    snprintf(cl, sizeof(cl), "%zu", size);
    ck_assert_msg(api_resp_header(&r, "Content-Length") != NULL &&
                      strcmp(api_resp_header(&r, "Content-Length"), cl) == 0,
                  "HEAD %s: Content-Length %s, expected %s", target,
                  api_resp_header(&r, "Content-Length"), cl);
    ck_assert_uint_eq(r.ar_body_total, 0);
    api_resp_free(&r);

    {
        char *enc = api_pct_encode(key, strlen(key), 0);
        snprintf(query, sizeof(query), "prefix=%s", enc);
        free(enc);
    }
    l = api_must_list(n, query);
    items = api_json_get(l, "items");
    ck_assert_uint_eq(items->aj_n, 1);
    ck_assert_msg(api_json_get(items->aj_items[0], "size")->aj_num == (double)size,
                  "listing size of %s", key);
    api_etag_hex(api_json_str(items->aj_items[0], "etag"), got);
    ck_assert_str_eq(got, hex);
    api_json_free(l);
    free(data);
}

START_TEST(test_small_sizes)
{
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    roundtrip(&n, "size-0", 10, 0);
    roundtrip(&n, "size-1", 11, 1);
    roundtrip(&n, "size-4k", 12, 4096);
    roundtrip(&n, "size-4k-plus-1", 13, 4097);
    roundtrip(&n, "size-64k-minus-1", 14, 65535);
    /* Overwrites across sizes keep serving exactly the latest bytes. */
    roundtrip(&n, "size-1", 15, 4096);
    roundtrip(&n, "size-1", 16, 0);
    roundtrip(&n, "size-1", 17, 1);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_8mib_raw)
{
    api_node_t n;

    api_node_init(&n);
    api_node_start(&n);
    api_must_put_gen(&n, "big/8m", 20, 8u << 20);
    api_must_get_gen(&n, "big/8m", 20, 8u << 20);
    /* An 8 MiB blob replaced by a 1-byte one, and back. */
    api_must_put_gen(&n, "big/8m", 21, 1);
    api_must_get_gen(&n, "big/8m", 21, 1);
    api_must_put_gen(&n, "big/8m", 22, (8u << 20) + 3);
    api_must_get_gen(&n, "big/8m", 22, (8u << 20) + 3);
    roundtrip(&n, "big/8m-listed", 23, 8u << 20);
    api_node_finish(&n);
}
END_TEST

/* libcurl read callback: generated content. */
typedef struct gen_src {
    uint64_t gs_seed;
    uint64_t gs_off;
    uint64_t gs_size;
} gen_src_t;

static size_t curl_read(char *buf, size_t size, size_t nitems, void *arg)
{
    gen_src_t *g = arg;
    size_t n = size * nitems;

    if (n > g->gs_size - g->gs_off)
        n = (size_t)(g->gs_size - g->gs_off);
    api_gen_fill(g->gs_seed, g->gs_off, buf, n);
    g->gs_off += n;
    return n;
}

static size_t curl_hash(char *buf, size_t size, size_t nitems, void *arg)
{
    api_hasher_update(arg, buf, size * nitems);
    return size * nitems;
}

static size_t curl_sink(char *buf, size_t size, size_t nitems, void *arg)
{
    (void)buf;
    (void)arg;
    return size * nitems;
}

START_TEST(test_8mib_libcurl)
{
    const uint64_t size = 8u << 20;
    api_node_t n;
    CURL *h;
    char url[256], hex[API_HASH_HEX], got[API_HASH_HEX];
    gen_src_t src = {.gs_seed = 30, .gs_size = size};
    api_hasher_t hs;
    long code = 0;
    curl_off_t dl = 0;
    CURLcode rc;

    api_node_init(&n);
    api_node_start(&n);
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
    h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/blobs/curl/eight", n.an_port);

    /* PUT with a known size: curl sends Expect: 100-continue for this. */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, curl_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &src);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "curl PUT: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_int_eq(code, 201);
    ck_assert_uint_eq(src.gs_off, size);

    /* GET on the same handle (connection reused). */
    curl_easy_setopt(h, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    api_hasher_init(&hs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_hash);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &hs);
    rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "curl GET: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_int_eq(code, 200);
    curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &dl);
    ck_assert_msg((uint64_t)dl == size, "curl GET downloaded %lld bytes", (long long)dl);
    api_hasher_final(&hs, got);
    api_hash_gen_hex(30, size, hex);
    ck_assert_str_eq(got, hex);

    /* Chunked upload of unknown size through curl. */
    {
        struct curl_slist *hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
        gen_src_t src2 = {.gs_seed = 31, .gs_size = 3u << 20};
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(h, CURLOPT_READDATA, &src2);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
        rc = curl_easy_perform(h);
        ck_assert_msg(rc == CURLE_OK, "curl chunked PUT: %s", curl_easy_strerror(rc));
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        ck_assert_int_eq(code, 201);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    api_must_get_gen(&n, "curl/eight", 31, 3u << 20);
    api_node_finish(&n);
}
END_TEST

static Suite *sizes_suite(void)
{
    Suite *s = suite_create("api_sizes");
    TCase *tc = tcase_create("sizes");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_small_sizes);
    tcase_add_test(tc, test_8mib_raw);
    tcase_add_test(tc, test_8mib_libcurl);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(sizes_suite());
}
