/*
 * rt.c -- helpers for the multi-process replication tests (see rt.h).
 */
#include "rt.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster-tests/content.h"
#include "cluster-tests/hclient.h"
#include "cluster-tests/hutil.h"

/* The cluster of the running test, for the exit handler (one per process:
 * Check runs every test in its own forked process). */
static rt_t *rt_current;
static int rt_atexit_set;

int64_t rt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rt_sleep_ms(int64_t ms)
{
    hu_sleep_ms(ms);
}

void rt_figure(const char *name, const char *fmt, ...)
{
    char value[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    printf("FIGURE %s=%s\n", name, value);
    fflush(stdout);
}

/* Prints the last `lines` lines of a file to stderr. */
static void print_tail(const char *path, int lines)
{
    char *text = NULL;
    size_t len = 0, start;
    int seen = 0;

    if (hu_read_file(path, 64u << 20, &text, &len) < 0) {
        fprintf(stderr, "  (cannot read %s)\n", path);
        return;
    }
    start = len;
    while (start > 0) {
        if (text[start - 1] == '\n' && start != len && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "---- tail of %s ----\n%s---- end ----\n", path, text + start);
    free(text);
}

/*
 * Runs when a test process exits. After a failed assertion rt_teardown
 * never ran: kill the nodes at once (their logs are what a reader needs,
 * so print them), and remove the directory unless asked to keep it.
 */
static void rt_exit_handler(void)
{
    rt_t *t = rt_current;

    if (t == NULL || t->rt_done)
        return;
    for (int i = 1; i <= t->rt_n; i++) {
        hnode_t *nd = &t->rt_cl.cl_nodes[i];
        int status;

        if (nd->hn_pid != 0) {
            kill(nd->hn_pid, SIGKILL);
            waitpid(nd->hn_pid, &status, 0);
            nd->hn_pid = 0;
        }
    }
    fprintf(stderr, "rtest %s: test did not finish; node logs follow\n", t->rt_name);
    for (int i = 1; i <= t->rt_n; i++)
        print_tail(t->rt_cl.cl_nodes[i].hn_log, 60);
    if (getenv("CAIRN_RTEST_KEEP") != NULL) {
        fprintf(stderr, "rtest %s: kept %s\n", t->rt_name, t->rt_root);
    } else {
        hu_rm_rf(t->rt_root);
        fprintf(stderr, "rtest %s: removed %s (set CAIRN_RTEST_KEEP=1 to keep it)\n", t->rt_name,
                t->rt_root);
    }
    t->rt_done = 1;
}

CURL *rt_handle(void)
{
    CURL *h = curl_easy_init();

    ck_assert_msg(h != NULL, "curl_easy_init failed");
    return h;
}

void rt_setup(rt_t *t, const char *name, int n, const char *const *extra)
{
    const char *bindir = getenv("CAIRN_BIN_DIR");
    char bin[512], err[512];
    struct timespec ts;
    int base, rc;

    memset(t, 0, sizeof(*t));
    ck_assert_msg(bindir != NULL, "CAIRN_BIN_DIR is not set (run through ctest)");
    snprintf(bin, sizeof(bin), "%s/cairnd", bindir);
    ck_assert_msg(access(bin, X_OK) == 0, "%s is not an executable", bin);
    curl_global_init(CURL_GLOBAL_ALL);
    /* The proxy thread writes to peers that may have just been killed. */
    signal(SIGPIPE, SIG_IGN);
    hu_clock_reset();
    clock_gettime(CLOCK_REALTIME, &ts);
    t->rt_seed = hu_mix64((uint64_t)getpid() ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20));
    t->rt_n = n;
    snprintf(t->rt_name, sizeof(t->rt_name), "%s", name);
    snprintf(t->rt_root, sizeof(t->rt_root), "/tmp/cairn-rtest-%s-XXXXXX", name);
    ck_assert_msg(mkdtemp(t->rt_root) != NULL, "mkdtemp: %s", strerror(errno));
    base = cluster_pick_base_port(n, t->rt_seed);
    ck_assert_msg(base > 0, "no free port range");
    rt_current = t;
    if (!rt_atexit_set) {
        atexit(rt_exit_handler);
        rt_atexit_set = 1;
    }
    rc = cluster_init(&t->rt_cl, n, base, t->rt_root, bin, NULL, err, sizeof(err));
    ck_assert_msg(rc == 0, "cluster_init: %s", err);
    for (int k = 0; extra != NULL && extra[k] != NULL && k < RT_MAX_EXTRA; k++) {
        t->rt_extra[k] = extra[k];
        t->rt_cl.cl_extra[k] = extra[k];
        t->rt_nextra = k + 1;
    }
    t->rt_cl.cl_nextra = t->rt_nextra;
    t->rt_h = rt_handle();
    {
        const char *dt = t->rt_cl.cl_has_durability_timeout ? "5" : "(flag absent)";
        for (int k = 0; k + 1 < t->rt_nextra; k++) {
            if (strcmp(t->rt_extra[k], "--durability-timeout") == 0)
                dt = t->rt_extra[k + 1];
        }
        printf("rtest %s: %d nodes, root %s, ports %d.., peer ports %d.., durability-timeout %s\n",
               name, n, t->rt_root, base, base + 100, dt);
    }
    fflush(stdout);
}

const char *rt_url(rt_t *t, int i)
{
    return t->rt_cl.cl_nodes[i].hn_url;
}

int rt_alive(rt_t *t, int i)
{
    cluster_poll(&t->rt_cl);
    return t->rt_cl.cl_nodes[i].hn_pid != 0;
}

void rt_start(rt_t *t, int i, const char *fp, int wait_ready)
{
    int rc = cluster_start(&t->rt_cl, i, fp, 0);

    ck_assert_msg(rc == 0, "starting node %d: %s", i, strerror(-rc));
    if (!wait_ready)
        return;
    rc = cluster_wait_ready(&t->rt_cl, i, 20000);
    ck_assert_msg(rc == 0, "node %d not ready within 20 s (%s); log %s", i,
                  rc == -ECHILD ? "it exited" : "timeout", t->rt_cl.cl_nodes[i].hn_log);
}

void rt_start_all(rt_t *t)
{
    for (int i = 1; i <= t->rt_n; i++)
        rt_start(t, i, NULL, 0);
    for (int i = 1; i <= t->rt_n; i++) {
        int rc = cluster_wait_ready(&t->rt_cl, i, 20000);
        ck_assert_msg(rc == 0, "node %d not ready within 20 s (%s)", i,
                      rc == -ECHILD ? "it exited" : "timeout");
    }
    rt_wait_links(t, 0, 20000);
}

/* 1 when node i has a process that is not SIGSTOPped. */
static int node_running(rt_t *t, int i)
{
    const hnode_t *nd = &t->rt_cl.cl_nodes[i];

    return nd->hn_pid != 0 && nd->hn_state == HN_UP;
}

/* How many of node i's peers that must be up are not (from /v1/cluster);
 * -1 when the answer cannot be read. */
static int links_missing(rt_t *t, int i, int only_running, char *last, size_t cap)
{
    jv_t *v = rt_cluster(t, t->rt_h, i);
    const jv_t *peers;
    int missing = 0;

    if (v == NULL) {
        snprintf(last, cap, "node %d: /v1/cluster did not answer", i);
        return -1;
    }
    peers = json_get(v, "peers");
    if (peers == NULL || peers->jv_type != JV_ARR) {
        snprintf(last, cap, "node %d: /v1/cluster has no peers array", i);
        json_free(v);
        return -1;
    }
    for (size_t k = 0; k < peers->jv_count; k++) {
        const jv_t *p = &peers->jv_items[k];
        int id = (int)json_int(json_get(p, "node_id"), 0);
        const char *st = json_str(json_get(p, "link"), NULL);

        if (st == NULL)
            st = json_str(json_get(p, "state"), "?");
        if (only_running && id >= 1 && id <= t->rt_n && !node_running(t, id))
            continue;
        if (strcmp(st, "up") != 0) {
            missing++;
            snprintf(last, cap, "node %d: peer %d link %s", i, id, st);
        }
    }
    json_free(v);
    return missing;
}

void rt_wait_links(rt_t *t, int only_running, int64_t timeout_ms)
{
    int64_t deadline = rt_now_ms() + timeout_ms;
    char last[256] = "";

    for (;;) {
        int missing = 0;

        for (int i = 1; i <= t->rt_n; i++) {
            if (!node_running(t, i))
                continue;
            int m = links_missing(t, i, only_running, last, sizeof(last));
            missing += m < 0 ? 1 : m;
        }
        if (missing == 0)
            return;
        ck_assert_msg(rt_now_ms() < deadline, "links not all up within %lld ms: %s",
                      (long long)timeout_ms, last);
        rt_sleep_ms(50);
    }
}

void rt_teardown(rt_t *t)
{
    if (t->rt_done)
        return;
    for (int i = 1; i <= t->rt_n; i++) {
        hnode_t *nd = &t->rt_cl.cl_nodes[i];
        int rc;

        if (nd->hn_pid == 0)
            continue;
        rc = cluster_term(&t->rt_cl, i, 15000);
        if (rc < 0)
            fprintf(stderr, "WARN rtest %s: node %d did not exit cleanly on SIGTERM (%s)\n",
                    t->rt_name, i, rc == -ETIMEDOUT ? "still running after 15 s" : "bad status");
    }
    cluster_shutdown(&t->rt_cl);
    if (t->rt_h != NULL)
        curl_easy_cleanup(t->rt_h);
    t->rt_h = NULL;
    if (getenv("CAIRN_RTEST_KEEP") == NULL)
        hu_rm_rf(t->rt_root);
    t->rt_done = 1;
    if (rt_current == t)
        rt_current = NULL; /* t usually lives on the test's stack */
}

/* ---------------------------------------------------------------------- */
/* HTTP */

/* State of one transfer, shared by the curl callbacks. */
typedef struct xfer {
    CURL *x_h;
    rt_resp_t *x_r;
    XXH3_state_t *x_hash;                 /* GET bodies */
    uint64_t x_seed, x_id, x_size, x_off; /* PUT bodies */
    char *x_buf;                          /* rt_fetch */
    size_t x_len, x_cap;
    int x_overflow;
} xfer_t;

/* Copies a header value without blanks, quotes and CRLF (truncated to cap). */
static void copy_value(const char *v, size_t len, char *out, size_t cap)
{
    while (len > 0 && (*v == ' ' || *v == '\t' || *v == '"')) {
        v++;
        len--;
    }
    while (len > 0 &&
           (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' || v[len - 1] == '"'))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

/* curl header callback: keeps ETag, X-Cairn-Version and Content-Length of
 * the last response (a 1xx before it is forgotten). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    rt_resp_t *r = x->x_r;
    size_t len = size * nitems;
    char num[32];

    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        r->rr_etag[0] = '\0';
        r->rr_version[0] = '\0';
        r->rr_clen = -1;
        return len;
    }
    if (len > 5 && strncasecmp(buf, "ETag:", 5) == 0)
        copy_value(buf + 5, len - 5, r->rr_etag, sizeof(r->rr_etag));
    else if (len > 16 && strncasecmp(buf, "X-Cairn-Version:", 16) == 0)
        copy_value(buf + 16, len - 16, r->rr_version, sizeof(r->rr_version));
    else if (len > 15 && strncasecmp(buf, "Content-Length:", 15) == 0) {
        copy_value(buf + 15, len - 15, num, sizeof(num));
        r->rr_clen = strtoll(num, NULL, 10);
    }
    return len;
}

/* curl write callback: a GET's 2xx body is hashed and counted, never
 * stored; anything else keeps its first RT_BODY_MAX - 1 bytes. */
static size_t on_body(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    rt_resp_t *r = x->x_r;
    size_t len = size * nitems;
    long code = 0;

    curl_easy_getinfo(x->x_h, CURLINFO_RESPONSE_CODE, &code);
    if (x->x_hash != NULL && code >= 200 && code < 300) {
        XXH3_128bits_update(x->x_hash, buf, len);
        r->rr_bytes += len;
        return len;
    }
    if (r->rr_body_len + 1 < sizeof(r->rr_body)) {
        size_t n = sizeof(r->rr_body) - 1 - r->rr_body_len;
        if (n > len)
            n = len;
        memcpy(r->rr_body + r->rr_body_len, buf, n);
        r->rr_body_len += n;
        r->rr_body[r->rr_body_len] = '\0';
    }
    return len;
}

/* curl read callback: the next bytes of the generated content. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nitems;

    if (x->x_size - x->x_off < n)
        n = (size_t)(x->x_size - x->x_off);
    content_fill(x->x_seed, x->x_id, x->x_off, buf, n);
    x->x_off += n;
    x->x_r->rr_bytes = x->x_off;
    return n;
}

/* curl seek callback, for a rewind when a request is re-sent. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    xfer_t *x = arg;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->x_size)
        return CURL_SEEKFUNC_CANTSEEK;
    x->x_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* base/v1/blobs/<percent-encoded key>[?durability=dur] into url. */
static void blob_url(const char *base, const char *key, const char *dur, char *url, size_t cap)
{
    char enc[3200];

    ck_assert_msg(hclient_encode_key(key, enc, sizeof(enc)) == 0, "key too long");
    if (dur != NULL && dur[0] != '\0')
        snprintf(url, cap, "%s/v1/blobs/%s?durability=%s", base, enc, dur);
    else
        snprintf(url, cap, "%s/v1/blobs/%s", base, enc);
}

/* Prepares h for one request to url with the callbacks of x. */
static void prepare(CURL *h, xfer_t *x, rt_resp_t *r, const char *url)
{
    memset(r, 0, sizeof(*r));
    r->rr_clen = -1;
    memset(x, 0, sizeof(*x));
    x->x_h = h;
    x->x_r = r;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    /* Every request is bounded: a transfer that moves under 1 byte/s for
     * 40 s is abandoned (cairnd's own read deadline is shorter). */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 40L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
}

/* Runs the prepared request and records status, timings and curl's verdict. */
static void perform(CURL *h, rt_resp_t *r)
{
    curl_off_t connect_us = 0, first_us = 0;
    long code = 0;

    r->rr_t0 = rt_now_ms();
    r->rr_curl = (int)curl_easy_perform(h);
    r->rr_ms = rt_now_ms() - r->rr_t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    r->rr_status = (int)code;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(h, CURLINFO_STARTTRANSFER_TIME_T, &first_us);
    r->rr_connect_ms = r->rr_curl == CURLE_COULDNT_CONNECT ? -1 : (int64_t)(connect_us / 1000);
    r->rr_first_ms = code > 0 ? (int64_t)(first_us / 1000) : -1;
}

void rt_put(CURL *h, const char *base, const char *key, const char *dur, uint64_t seed, uint64_t id,
            uint64_t size, rt_resp_t *r)
{
    char url[4096];
    struct curl_slist *hdrs = NULL;
    xfer_t x;

    blob_url(base, key, dur, url, sizeof(url));
    prepare(h, &x, r, url);
    x.x_seed = seed;
    x.x_id = id;
    x.x_size = size;
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    perform(h, r);
    curl_slist_free_all(hdrs);
}

void rt_get(CURL *h, const char *base, const char *key, rt_resp_t *r)
{
    char url[4096];
    xfer_t x;

    blob_url(base, key, NULL, url, sizeof(url));
    prepare(h, &x, r, url);
    x.x_hash = XXH3_createState();
    ck_assert(x.x_hash != NULL);
    XXH3_128bits_reset(x.x_hash);
    perform(h, r);
    content_hash_hex(XXH3_128bits_digest(x.x_hash), r->rr_hash);
    XXH3_freeState(x.x_hash);
}

void rt_head(CURL *h, const char *base, const char *key, rt_resp_t *r)
{
    char url[4096];
    xfer_t x;

    blob_url(base, key, NULL, url, sizeof(url));
    prepare(h, &x, r, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    perform(h, r);
}

void rt_delete(CURL *h, const char *base, const char *key, const char *dur, rt_resp_t *r)
{
    char url[4096];
    xfer_t x;

    blob_url(base, key, dur, url, sizeof(url));
    prepare(h, &x, r, url);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    perform(h, r);
}

/* curl write callback of rt_fetch: appends to the bounded buffer; a body
 * larger than the cap aborts the transfer. */
static size_t on_fetch(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * nitems;

    if (x->x_len + len + 1 > x->x_cap) {
        x->x_overflow = 1;
        return 0;
    }
    memcpy(x->x_buf + x->x_len, buf, len);
    x->x_len += len;
    x->x_buf[x->x_len] = '\0';
    return len;
}

int rt_fetch(CURL *h, const char *base, const char *path, size_t cap, char **body)
{
    char url[4096];
    rt_resp_t r;
    xfer_t x;

    *body = NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    prepare(h, &x, &r, url);
    x.x_cap = cap + 1;
    x.x_buf = malloc(x.x_cap);
    ck_assert(x.x_buf != NULL);
    x.x_buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_fetch);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    perform(h, &r);
    if (r.rr_curl != CURLE_OK || r.rr_status == 0) {
        free(x.x_buf);
        return 0;
    }
    *body = x.x_buf;
    return r.rr_status;
}

int rt_get_exact(const rt_resp_t *r, const char *hex, uint64_t size)
{
    return r->rr_status == 200 && r->rr_curl == CURLE_OK && r->rr_clen >= 0 &&
           (uint64_t)r->rr_clen == r->rr_bytes && r->rr_bytes == size &&
           strcmp(r->rr_hash, hex) == 0;
}

const char *rt_resp_str(const rt_resp_t *r, char *out, size_t cap)
{
    snprintf(out, cap,
             "status=%d curl=%d(%s) content-length=%lld received=%" PRIu64
             " hash=%s etag=%s version=%s ms=%lld body=%.300s",
             r->rr_status, r->rr_curl, curl_easy_strerror((CURLcode)r->rr_curl),
             (long long)r->rr_clen, r->rr_bytes, r->rr_hash[0] ? r->rr_hash : "-",
             r->rr_etag[0] ? r->rr_etag : "-", r->rr_version[0] ? r->rr_version : "-",
             (long long)r->rr_ms, r->rr_body);
    return out;
}

void rt_hash(uint64_t seed, uint64_t id, uint64_t size, char *hex)
{
    content_hash(seed, id, size, hex);
}

void rt_assert_put_ok(const rt_resp_t *r, const char *what, const char *hex)
{
    char s[1024];

    ck_assert_msg(r->rr_status == 201 && r->rr_curl == CURLE_OK && strcmp(r->rr_etag, hex) == 0,
                  "%s: expected 201 with ETag %s, got %s", what, hex, rt_resp_str(r, s, sizeof(s)));
}

int64_t rt_wait_get(CURL *h, const char *base, const char *key, const char *hex, uint64_t size,
                    int64_t timeout_ms, rt_resp_t *last)
{
    int64_t t0 = rt_now_ms();
    rt_resp_t r;

    for (;;) {
        rt_get(h, base, key, &r);
        if (hex == NULL ? r.rr_status == 404 : rt_get_exact(&r, hex, size))
            break;
        if (rt_now_ms() - t0 >= timeout_ms) {
            if (last != NULL)
                *last = r;
            return -1;
        }
        rt_sleep_ms(30);
    }
    if (last != NULL)
        *last = r;
    return rt_now_ms() - t0;
}

jv_t *rt_cluster(rt_t *t, CURL *h, int i)
{
    char *body = NULL, err[256];
    jv_t *v = NULL;
    int status = rt_fetch(h, rt_url(t, i), "/v1/cluster", 1 << 20, &body);

    if (status == 200 && json_parse(body, strlen(body), &v, err, sizeof(err)) < 0)
        v = NULL;
    free(body);
    return v;
}

int64_t rt_pending(rt_t *t, CURL *h, int i)
{
    jv_t *v = rt_cluster(t, h, i);
    int64_t p;

    if (v == NULL)
        return -1;
    p = json_int(json_get(v, "pending_repairs"), -1);
    json_free(v);
    return p;
}

char *rt_metrics(CURL *h, const char *base)
{
    char *body = NULL;
    int status = rt_fetch(h, base, "/metrics", 8 << 20, &body);

    if (status != 200) {
        free(body);
        return NULL;
    }
    return body;
}

/* Sample name of a metrics line into out; 0 when the line is no sample. */
static int sample_name(const char *line, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    if (len == 0 || line[0] == '#')
        return 0;
    while (n < len && line[n] != '{' && line[n] != ' ')
        n++;
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, line, n);
    out[n] = '\0';
    return 1;
}

/* Value of a sample line (after the labels). */
static double sample_value(const char *line, size_t len)
{
    const char *p = memchr(line, '}', len);
    char tmp[64];
    size_t n;

    if (p == NULL)
        p = memchr(line, ' ', len);
    if (p == NULL)
        return 0;
    while (p < line + len && (*p == '}' || *p == ' '))
        p++;
    n = (size_t)(line + len - p);
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return strtod(tmp, NULL);
}

double rt_metric_sum(const char *text, const char *family)
{
    const char *p = text;
    double sum = 0;
    int found = 0;
    char name[256];

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (sample_name(p, len, name, sizeof(name)) && strcmp(name, family) == 0) {
            sum += sample_value(p, len);
            found = 1;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return found ? sum : -1;
}

/* 1 when name contains every string of the NULL-terminated subs. */
static int contains_all(const char *name, const char *const *subs)
{
    for (int k = 0; subs[k] != NULL; k++) {
        if (strstr(name, subs[k]) == NULL)
            return 0;
    }
    return 1;
}

double rt_metric_find(const char *text, const char *const *subs, char *out, size_t cap)
{
    const char *p = text;
    char name[256];

    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (sample_name(p, len, name, sizeof(name)) && contains_all(name, subs)) {
            if (out != NULL)
                snprintf(out, cap, "%s", name);
            return rt_metric_sum(text, name);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return -1;
}

void rt_metric_names(const char *text, const char *sub, char *out, size_t cap)
{
    const char *p = text;
    char name[256], prev[256] = "";
    size_t used = 0;

    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (sample_name(p, len, name, sizeof(name)) && strstr(name, sub) != NULL &&
            strcmp(name, prev) != 0 && used + strlen(name) + 2 < cap) {
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", name);
            snprintf(prev, sizeof(prev), "%s", name);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
}

int rt_log_count(rt_t *t, int i, const char *const *needles)
{
    FILE *f = fopen(t->rt_cl.cl_nodes[i].hn_log, "r");
    char *line = NULL;
    size_t cap = 0;
    int count = 0;

    if (f == NULL)
        return 0;
    while (getline(&line, &cap, f) >= 0) {
        if (contains_all(line, needles))
            count++;
    }
    free(line);
    fclose(f);
    return count;
}

long rt_list(CURL *h, const char *base, const char *prefix,
             void (*fn)(void *arg, const char *key, const char *etag), void *arg)
{
    char after[2048] = "", penc[2048], aenc[3200], path[6000], err[256];
    long count = 0;

    ck_assert(hclient_encode_key(prefix, penc, sizeof(penc)) == 0);
    for (int page = 0; page < 10000; page++) {
        char *body = NULL;
        jv_t *v = NULL;
        const jv_t *items, *next;
        int status;

        ck_assert(hclient_encode_key(after, aenc, sizeof(aenc)) == 0);
        snprintf(path, sizeof(path), "/v1/blobs?prefix=%s&limit=1000%s%s", penc,
                 after[0] ? "&after=" : "", after[0] ? aenc : "");
        status = rt_fetch(h, base, path, 16 << 20, &body);
        if (status != 200 || json_parse(body, strlen(body), &v, err, sizeof(err)) < 0) {
            free(body);
            return -1;
        }
        free(body);
        items = json_get(v, "items");
        if (items == NULL || items->jv_type != JV_ARR) {
            json_free(v);
            return -1;
        }
        for (size_t k = 0; k < items->jv_count; k++) {
            const jv_t *it = &items->jv_items[k];
            char etag[64];
            const char *e = json_str(json_get(it, "etag"), "");
            copy_value(e, strlen(e), etag, sizeof(etag));
            fn(arg, json_str(json_get(it, "key"), ""), etag);
            count++;
        }
        next = json_get(v, "next");
        if (next == NULL || next->jv_type != JV_STR) {
            json_free(v);
            return count;
        }
        snprintf(after, sizeof(after), "%s", next->jv_str);
        json_free(v);
    }
    return -1;
}
