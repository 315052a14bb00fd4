/*
 * rt.h -- helpers for the multi-process replication tests (cluster-tests/repl/).
 *
 * A test starts N real cairnd processes on 127.0.0.1 through the harness's
 * cluster library (cluster-tests/cluster.h: ports, data dirs, secret, and
 * the TCP proxy every --peer route goes through), talks to them over HTTP
 * with libcurl, and inspects their blob directories with the harness's
 * independent blob scanner.
 *
 * Everything here asserts through Check: a helper that cannot do its job
 * fails the current test with the request, what was expected and what came
 * back. Each test owns one rt_t. If the test process exits early (a failed
 * assertion exits the forked test process), an atexit handler SIGKILLs the
 * nodes, prints the tail of every node's log to stderr, and removes the
 * temporary directory unless CAIRN_RTEST_KEEP=1.
 *
 * Blob content is the harness's (content.h): the bytes of (seed, id, size)
 * are generated on the fly, so nothing large is ever held in memory.
 * Measured figures are printed as "FIGURE name=value" lines.
 */
#ifndef CAIRN_RTEST_RT_H
#define CAIRN_RTEST_RT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster-tests/cluster.h"
#include "cluster-tests/json.h"

#define RT_MAX_EXTRA 8
#define RT_BODY_MAX 4096

typedef struct rt {
    cluster_t rt_cl;
    int rt_n;
    char rt_root[256]; /* /tmp/cairn-rtest-<name>-XXXXXX */
    char rt_name[64];
    const char *rt_extra[RT_MAX_EXTRA]; /* extra cairnd args (string literals) */
    int rt_nextra;
    CURL *rt_h; /* the main thread's handle */
    uint64_t rt_seed;
    int rt_done; /* rt_teardown ran */
} rt_t;

/* One HTTP exchange, as seen by the client. */
typedef struct rt_resp {
    int rr_status;     /* HTTP status, 0 when none */
    int rr_curl;       /* CURLcode of the transfer (0 = complete) */
    int64_t rr_clen;   /* Content-Length announced, -1 when none */
    uint64_t rr_bytes; /* body bytes received (GET) or sent (PUT) */
    char rr_hash[33];  /* GET: XXH3-128 hex of the body bytes received */
    char rr_etag[64];  /* without quotes */
    char rr_version[64];
    char rr_body[RT_BODY_MAX]; /* first bytes of a non-GET or non-2xx body */
    size_t rr_body_len;
    int64_t rr_t0;         /* rt_now_ms() when the request began */
    int64_t rr_ms;         /* duration */
    int64_t rr_connect_ms; /* from rr_t0 until connected, -1 when it never was */
    int64_t rr_first_ms;   /* from rr_t0 until the first response byte, -1 when none */
} rt_resp_t;

/*
 * Prepares a cluster of n nodes named after the test (temporary root,
 * fresh secret, free ports, proxy started) with extra cairnd arguments
 * (NULL-terminated list of string literals, may be NULL). Nodes are not
 * started. Asserts on failure.
 */
void rt_setup(rt_t *t, const char *name, int n, const char *const *extra);
/* Starts node i with CAIRN_FAILPOINTS fp (NULL for none); waits for
 * /v1/health when wait_ready. Asserts. */
void rt_start(rt_t *t, int i, const char *fp, int wait_ready);
/* Starts every node, waits for health and for every link to be up. */
void rt_start_all(rt_t *t);
/* Waits until every running node reports every peer's link "up" in
 * /v1/cluster (only running nodes' peers are required when
 * only_running). Asserts after timeout_ms. */
void rt_wait_links(rt_t *t, int only_running, int64_t timeout_ms);
/* Stops every node (SIGTERM, then SIGKILL), removes the directory unless
 * CAIRN_RTEST_KEEP=1. Safe to call twice. */
void rt_teardown(rt_t *t);

/* Base URL of node i. */
const char *rt_url(rt_t *t, int i);
/* 1 when node i's process is running (reaps it otherwise). */
int rt_alive(rt_t *t, int i);

/* A fresh curl handle for a thread (caller cleans it up). */
CURL *rt_handle(void);

/*
 * PUT /v1/blobs/KEY[?durability=D] with content (seed, id, size) streamed.
 * Always on a fresh connection. Fills *r; never asserts.
 */
void rt_put(CURL *h, const char *base, const char *key, const char *dur, uint64_t seed, uint64_t id,
            uint64_t size, rt_resp_t *r);
/* GET /v1/blobs/KEY hashing the body as it streams (nothing kept). */
void rt_get(CURL *h, const char *base, const char *key, rt_resp_t *r);
/* HEAD /v1/blobs/KEY. */
void rt_head(CURL *h, const char *base, const char *key, rt_resp_t *r);
/* DELETE /v1/blobs/KEY[?durability=D]. */
void rt_delete(CURL *h, const char *base, const char *key, const char *dur, rt_resp_t *r);
/* GET base+path, body (at most cap bytes) into a malloc'ed string the
 * caller frees (*body NULL when no response). Returns the status or 0. */
int rt_fetch(CURL *h, const char *base, const char *path, size_t cap, char **body);

/*
 * A GET 200 is exact when it announced a Content-Length, received exactly
 * that many bytes, the transfer completed, and the body's hash is hex.
 * Returns 1 when so, else 0.
 */
int rt_get_exact(const rt_resp_t *r, const char *hex, uint64_t size);
/* Formats r for a failure message. Returns out. */
const char *rt_resp_str(const rt_resp_t *r, char *out, size_t cap);

/* Hash of content (seed, id, size), hex (33 bytes). */
void rt_hash(uint64_t seed, uint64_t id, uint64_t size, char *hex);

/* Asserts a PUT answered 201 with ETag == hex. */
void rt_assert_put_ok(const rt_resp_t *r, const char *what, const char *hex);

/*
 * Polls GET KEY on base until it returns exactly content hex of size bytes
 * (hex NULL: until 404). Returns the milliseconds it took, or -1 after
 * timeout_ms (the last response in *last when not NULL).
 */
int64_t rt_wait_get(CURL *h, const char *base, const char *key, const char *hex, uint64_t size,
                    int64_t timeout_ms, rt_resp_t *last);

/* /v1/cluster of node i parsed (caller json_free's), NULL on failure. */
jv_t *rt_cluster(rt_t *t, CURL *h, int i);
/* pending_repairs of node i, -1 unknown. */
int64_t rt_pending(rt_t *t, CURL *h, int i);

/* /metrics of node i (caller frees), NULL when it did not answer 200. */
char *rt_metrics(CURL *h, const char *base);
/*
 * Sum over the samples of the first metric family (by "# TYPE" line order)
 * whose name contains every one of the NULL-terminated substrings subs.
 * The name is copied to name (cap bytes) when found. Returns -1 when no
 * family matches.
 */
double rt_metric_find(const char *text, const char *const *subs, char *name, size_t cap);
/* Sum of the samples of exactly this family; -1 when absent. */
double rt_metric_sum(const char *text, const char *family);
/* Names of the families containing sub, comma-separated, into out. */
void rt_metric_names(const char *text, const char *sub, char *out, size_t cap);

/* Counts the lines of node i's log containing every NULL-terminated needle. */
int rt_log_count(rt_t *t, int i, const char *const *needles);

/* Milliseconds on a monotonic clock. */
int64_t rt_now_ms(void);
void rt_sleep_ms(int64_t ms);

/* Prints "FIGURE name=value" (printf-style value) and flushes. */
void rt_figure(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Listing of node base under prefix: calls fn(arg, key, etag) for every
 * item (pages followed). Returns the number of items, -1 on failure.
 */
long rt_list(CURL *h, const char *base, const char *prefix,
             void (*fn)(void *arg, const char *key, const char *etag), void *arg);

#endif
