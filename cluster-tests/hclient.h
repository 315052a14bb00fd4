/*
 * hclient.h -- the harness's own HTTP client for cairnd (libcurl).
 *
 * Deliberately not libcairn: every operation goes to exactly the node it
 * names (no failover, so the history knows which node answered), the
 * response's status, ETag, X-Cairn-Version and error code are all kept, and
 * a GET hashes the body as it streams (XXH3-128) without storing it.
 *
 * One hclient_t per thread (it owns one curl handle and its connections).
 */
#ifndef CAIRN_HARNESS_HCLIENT_H
#define CAIRN_HARNESS_HCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster-tests/history.h"

typedef struct hclient hclient_t;

typedef struct hresp {
    int hr_status; /* HTTP status, 0 if none */
    hop_result_t hr_result;
    char hr_code[32];  /* error code from the JSON body, or curl's failure name */
    char hr_etag[33];  /* ETag without quotes */
    hver_t hr_version; /* X-Cairn-Version */
    uint64_t hr_bytes; /* PUT: bytes sent; GET: body bytes received */
    char hr_hash[33];  /* GET 200 complete: XXH3-128 of the body; else "" */
} hresp_t;

/*
 * Creates a client. connect_ms bounds each connect; stall_s abandons a
 * request that moves less than 1 byte/s for that long (0 = never).
 * 0 or -ENOMEM.
 */
int hclient_new(long connect_ms, long stall_s, hclient_t **out);
void hclient_free(hclient_t *c);

/* PUT base/v1/blobs/KEY[?durability=D] with the content of (seed, id, size). */
int hclient_put(hclient_t *c, const char *base, const char *key, const char *durability,
                uint64_t seed, uint64_t id, uint64_t size, hresp_t *r);
/* GET, hashing the body. */
int hclient_get(hclient_t *c, const char *base, const char *key, hresp_t *r);
int hclient_head(hclient_t *c, const char *base, const char *key, hresp_t *r);
int hclient_delete(hclient_t *c, const char *base, const char *key, const char *durability,
                   hresp_t *r);

/*
 * GET base + path (already encoded) into a malloc'ed, NUL-terminated body
 * of at most cap bytes (caller frees *body). *status gets the HTTP status
 * (0 if none). Returns 0 when a response arrived, -EIO otherwise.
 */
int hclient_fetch(hclient_t *c, const char *base, const char *path, size_t cap, char **body,
                  size_t *len, int *status);

/* Appends the percent-encoding of key (unreserved and '/' kept) to out
 * (cap bytes, NUL-terminated). -ENAMETOOLONG if it does not fit. */
int hclient_encode_key(const char *key, char *out, size_t cap);

#endif
