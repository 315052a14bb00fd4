/*
 * test_api_concurrent.c -- many clients at once on the same keys: writers
 * overwrite and delete, readers read whole blobs and ranges, a lister
 * pages. Every read must return exactly one version that was written --
 * the body hash equal to the ETag sent with it and to one of the versions
 * a writer attempted -- or a clean 404; no listing may be malformed. A
 * slow reader that started before an overwrite still gets the old version
 * whole (or, at worst, a short body -- never mixed bytes).
 *
 * Client threads never call Check (not thread-safe); they record problems
 * and the test thread asserts at the end.
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"

#define NKEYS 3
#define NWRITERS 3
#define NREADERS 3
#define MAX_VERSIONS 4096
#define RUN_MS 3000

typedef struct version {
    uint64_t v_seed;
    char v_hex[API_HASH_HEX];
} version_t;

typedef struct shared {
    const api_node_t *sh_node;
    pthread_mutex_t sh_lock;
    version_t sh_versions[NKEYS][MAX_VERSIONS]; /* attempted writes per key */
    int sh_nversions[NKEYS];
    atomic_int sh_stop;
    atomic_int sh_reads_ok, sh_reads_404, sh_writes, sh_deletes, sh_lists, sh_short;
    char sh_error[1024]; /* first problem seen */
} shared_t;

static uint64_t size_of(uint64_t seed)
{
    /* 0 B .. ~1.5 MiB, many small ones. */
    uint64_t r = (seed * 0x9e3779b97f4a7c15ULL) >> 40;
    return (seed % 4 == 0) ? r % 100 : r % (1536 * 1024);
}

static void report(shared_t *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(shared_t *sh, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&sh->sh_lock);
    if (sh->sh_error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(sh->sh_error, sizeof(sh->sh_error), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->sh_lock);
    atomic_store(&sh->sh_stop, 1);
}

static int known_version(shared_t *sh, int key, const char *hex)
{
    int found = 0;

    pthread_mutex_lock(&sh->sh_lock);
    for (int i = 0; i < sh->sh_nversions[key] && !found; i++)
        found = strcmp(sh->sh_versions[key][i].v_hex, hex) == 0;
    pthread_mutex_unlock(&sh->sh_lock);
    return found;
}

/* One request on c (reconnecting when the server closed it). */
static int do_req(shared_t *sh, api_conn_t *c, const char *method, const char *target,
                  const char *extra, uint64_t seed, uint64_t size, int send_body, api_resp_t *r)
{
    char hdrs[256] = "";
    int rc;

    memset(r, 0, sizeof(*r));
    if (c->ac_fd < 0 && api_conn_open(c, sh->sh_node->an_port, 0) < 0)
        return -1;
    c->ac_store_max = 0;
    if (send_body)
        snprintf(hdrs, sizeof(hdrs), "%sContent-Length: %llu\r\n", extra ? extra : "",
                 (unsigned long long)size);
    else if (extra != NULL)
        snprintf(hdrs, sizeof(hdrs), "%s", extra);
    rc = api_send_req(c, sh->sh_node, 1, method, target, hdrs, NULL, 0);
    if (rc == 0 && send_body)
        rc = api_conn_send_gen(c, seed, 0, size, 0, 0);
    if (rc == 0)
        rc = api_conn_read_final(c, strcmp(method, "HEAD") == 0, r);
    if (rc != 0 || r->ar_close) {
        api_conn_close(c);
        c->ac_fd = -1;
    }
    return rc;
}

static void *writer(void *arg)
{
    shared_t *sh = arg;
    static atomic_uint_fast64_t next_seed = 1000;
    api_conn_t c = {.ac_fd = -1};

    while (!atomic_load(&sh->sh_stop)) {
        uint64_t seed = atomic_fetch_add(&next_seed, 1);
        int key = (int)(seed % NKEYS);
        char target[64], hex[API_HASH_HEX];
        api_resp_t r;

        snprintf(target, sizeof(target), "/v1/blobs/hot/%d", key);
        if (seed % 7 == 0) {
            if (do_req(sh, &c, "DELETE", target, NULL, 0, 0, 0, &r) != 0) {
                report(sh, "DELETE %s: transport error", target);
            } else if (r.ar_status != 204 && r.ar_status != 404) {
                report(sh, "DELETE %s: status %d", target, r.ar_status);
            }
            api_resp_free(&r);
            atomic_fetch_add(&sh->sh_deletes, 1);
            continue;
        }
        api_hash_gen_hex(seed, size_of(seed), hex);
        pthread_mutex_lock(&sh->sh_lock);
        if (sh->sh_nversions[key] < MAX_VERSIONS) {
            sh->sh_versions[key][sh->sh_nversions[key]].v_seed = seed;
            memcpy(sh->sh_versions[key][sh->sh_nversions[key]].v_hex, hex, API_HASH_HEX);
            sh->sh_nversions[key]++;
        }
        pthread_mutex_unlock(&sh->sh_lock);
        if (do_req(sh, &c, "PUT", target, NULL, seed, size_of(seed), 1, &r) != 0)
            report(sh, "PUT %s: transport error", target);
        else if (r.ar_status != 201)
            report(sh, "PUT %s: status %d %.200s", target, r.ar_status, r.ar_body);
        api_resp_free(&r);
        atomic_fetch_add(&sh->sh_writes, 1);
    }
    if (c.ac_fd >= 0)
        api_conn_close(&c);
    return NULL;
}

static void *reader(void *arg)
{
    shared_t *sh = arg;
    api_conn_t c = {.ac_fd = -1};
    unsigned i = 0;

    while (!atomic_load(&sh->sh_stop)) {
        int key = (int)(i++ % NKEYS);
        char target[64], etag_hex[API_HASH_HEX];
        api_resp_t r;
        int rc;

        snprintf(target, sizeof(target), "/v1/blobs/hot/%d", key);
        rc = do_req(sh, &c, "GET", target, NULL, 0, 0, 0, &r);
        if (rc == API_EPROTO) {
            atomic_fetch_add(&sh->sh_short, 1); /* a short body: allowed, counted */
        } else if (rc != 0) {
            report(sh, "GET %s: transport error %d", target, rc);
        } else if (r.ar_status == 404) {
            atomic_fetch_add(&sh->sh_reads_404, 1);
        } else if (r.ar_status != 200) {
            report(sh, "GET %s: status %d %.200s", target, r.ar_status, r.ar_body);
        } else {
            const char *etag = api_resp_header(&r, "ETag");
            api_etag_hex(etag ? etag : "", etag_hex);
            if (strcmp(etag_hex, r.ar_hash) != 0)
                report(sh, "GET %s: ETag %s but the body hashes to %s", target, etag, r.ar_hash);
            else if (!known_version(sh, key, r.ar_hash))
                report(sh, "GET %s: body %s is no version ever written", target, r.ar_hash);
            atomic_fetch_add(&sh->sh_reads_ok, 1);
        }
        api_resp_free(&r);
    }
    if (c.ac_fd >= 0)
        api_conn_close(&c);
    return NULL;
}

static void *lister(void *arg)
{
    shared_t *sh = arg;
    api_conn_t c = {.ac_fd = -1};

    while (!atomic_load(&sh->sh_stop)) {
        api_resp_t r;
        api_json_t *j = NULL;
        if (c.ac_fd < 0 && api_conn_open(&c, sh->sh_node->an_port, 0) < 0) {
            report(sh, "lister: connect failed");
            break;
        }
        c.ac_store_max = 1 << 20;
        if (api_send_req(&c, sh->sh_node, 1, "GET", "/v1/blobs?prefix=hot%2F&limit=2", NULL, NULL,
                         0) != 0 ||
            api_conn_read_final(&c, 0, &r) != 0) {
            report(sh, "lister: transport error");
            api_resp_free(&r);
            break;
        }
        if (r.ar_status != 200 || api_json_parse(r.ar_body, r.ar_body_len, &j, NULL) != 0 ||
            api_json_get(j, "items") == NULL || api_json_get(j, "items")->aj_n > 2)
            report(sh, "listing during writes: %d %.200s", r.ar_status, r.ar_body);
        api_json_free(j);
        api_resp_free(&r);
        atomic_fetch_add(&sh->sh_lists, 1);
    }
    if (c.ac_fd >= 0)
        api_conn_close(&c);
    return NULL;
}

START_TEST(test_readers_and_writers)
{
    static shared_t sh;
    pthread_t th[NWRITERS + NREADERS + 1];
    int nth = 0;
    api_node_t n;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    memset(&sh, 0, sizeof(sh));
    sh.sh_node = &n;
    pthread_mutex_init(&sh.sh_lock, NULL);
    for (int i = 0; i < NWRITERS; i++)
        pthread_create(&th[nth++], NULL, writer, &sh);
    for (int i = 0; i < NREADERS; i++)
        pthread_create(&th[nth++], NULL, reader, &sh);
    pthread_create(&th[nth++], NULL, lister, &sh);
    for (int t = 0; t < RUN_MS / 50 && !atomic_load(&sh.sh_stop); t++)
        api_sleep_ms(50);
    atomic_store(&sh.sh_stop, 1);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    printf("concurrent: %d writes, %d deletes, %d reads ok, %d 404, %d short bodies, %d "
           "listings\n",
           atomic_load(&sh.sh_writes), atomic_load(&sh.sh_deletes), atomic_load(&sh.sh_reads_ok),
           atomic_load(&sh.sh_reads_404), atomic_load(&sh.sh_short), atomic_load(&sh.sh_lists));
    fflush(stdout);
    ck_assert_msg(sh.sh_error[0] == '\0', "%s", sh.sh_error);
    ck_assert_msg(atomic_load(&sh.sh_writes) > 10 && atomic_load(&sh.sh_reads_ok) > 10,
                  "too little traffic to mean anything");
    ck_assert_msg(atomic_load(&sh.sh_short) == 0, "%d reads got a short body while overwrites ran",
                  atomic_load(&sh.sh_short));
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

/* A reader that started on version A and reads slowly while A is
 * overwritten and then deleted still receives A whole. */
START_TEST(test_slow_read_across_overwrite)
{
    const uint64_t size = 8u << 20;
    api_node_t n;
    api_conn_t c;
    api_resp_t r;
    char hex[API_HASH_HEX];
    int rc;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    api_must_put_gen(&n, "slow", 1, size);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 16384), 0);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/blobs/slow", NULL, NULL, 0), 0);
    api_sleep_ms(200); /* headers and the first bytes are on their way */
    api_must_put_gen(&n, "slow", 2, size / 2);
    api_must_status(&n, "DELETE", "/v1/blobs/slow", 204);
    api_must_put_gen(&n, "slow", 3, 1000);
    c.ac_store_max = 0;
    rc = api_conn_read_final(&c, 0, &r);
    api_hash_gen_hex(1, size, hex);
    ck_assert_msg(rc == 0, "the slow reader's response broke off (%d) after %llu bytes", rc,
                  (unsigned long long)r.ar_body_total);
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_uint_eq(r.ar_body_total, size);
    ck_assert_str_eq(r.ar_hash, hex);
    api_resp_free(&r);
    api_conn_close(&c);
    api_must_get_gen(&n, "slow", 3, 1000);
    /* The superseded files are collected once nobody reads them. */
    api_expect_blob_files(&n, 1, 10000);
    api_node_finish(&n);
}
END_TEST

static Suite *concurrent_suite(void)
{
    Suite *s = suite_create("api_concurrent");
    TCase *tc = tcase_create("concurrent");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_readers_and_writers);
    tcase_add_test(tc, test_slow_read_across_overwrite);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(concurrent_suite());
}
