/*
 * fakehttp.h -- a tiny HTTP/1.1 server for libcairn's tests, in a thread on
 * 127.0.0.1 with an ephemeral port. It speaks just enough of cairnd's API
 * (PUT/GET/HEAD/DELETE of blobs kept in memory, listing pages, health,
 * cluster) and can misbehave on demand: fixed error responses, failing in
 * the middle of a request body, stalling, cutting a response short.
 */
#ifndef CAIRN_TEST_FAKEHTTP_H
#define CAIRN_TEST_FAKEHTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fh_request {
    char fr_method[16];
    char fr_target[4096];  /* path and query as received */
    char fr_auth[512];     /* Authorization header value, "" if none */
    int fr_chunked;        /* body came with Transfer-Encoding: chunked */
    int fr_expect;         /* an Expect header was sent */
    uint64_t fr_body_len;  /* body bytes read */
    uint64_t fr_body_hash; /* FNV-1a 64 of the body bytes read */
} fh_request;

typedef struct fakehttp fakehttp;

/* Starts a server (aborts the test process on failure). */
fakehttp *fh_start(void);
/* Stops the thread and frees everything. */
void fh_stop(fakehttp *fh);
/* "http://127.0.0.1:PORT" (valid until fh_stop). */
const char *fh_url(const fakehttp *fh);

/*
 * Every request is answered with this status and JSON body (NULL: none),
 * extra_headers (each ending in "\r\n", or NULL) added, and the connection
 * closed. status 0 restores normal behaviour. With after_body > 0, the
 * answer is sent only after that many body bytes were read.
 */
void fh_respond(fakehttp *fh, int status, const char *json, const char *extra_headers,
                uint64_t after_body);
/* Reads requests but never answers them (until fh_stop). */
void fh_stall(fakehttp *fh);
/* GETs of stored blobs send only the first half of the body, then close. */
void fh_truncate_gets(fakehttp *fh);
/* Listing responses: the n-th GET /v1/blobs?... gets pages[n] (200). */
void fh_list_pages(fakehttp *fh, const char *const *pages, size_t n);

/* Number of requests seen so far, and a copy of the i-th. */
size_t fh_count(fakehttp *fh);
fh_request fh_req(fakehttp *fh, size_t i);
/* Copy of the content stored at target path (malloc'ed; NULL if none). */
char *fh_blob(fakehttp *fh, const char *path, size_t *len);

/* Writes an address where nothing listens (connections are refused). */
void fh_refused_url(char *buf, size_t size);

/* FNV-1a 64, as fh_request.fr_body_hash computes it; chain with h. */
uint64_t fh_hash(uint64_t h, const void *p, size_t len);
#define FH_HASH_INIT 0xcbf29ce484222325ULL

#endif
