/*
 * http_util.h -- pure helpers of the HTTP layer: percent-decoding, query
 * strings, Range headers, ETags, versions, bearer tokens, status texts.
 *
 * Nothing here touches a socket or the store; everything is unit-tested in
 * node/tests/test_http_util.c. Inputs are (pointer, length) spans that need
 * not be NUL-terminated.
 */
#ifndef CAIRN_NODE_HTTP_UTIL_H
#define CAIRN_NODE_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/store.h"

/*
 * Percent-decodes in[0..len) into out (cap bytes; not NUL-terminated).
 * plus_space turns '+' into ' ' (query strings). Returns 0 with *outlen
 * set, CAIRN_EINVAL for a malformed escape ("%4", "%zz"), CAIRN_ETOOBIG
 * when the decoded form does not fit in cap.
 */
int http_pct_decode(const char *in, size_t len, int plus_space, char *out, size_t cap,
                    size_t *outlen);

/*
 * Decodes a blob key from the raw path remainder after "/v1/blobs/" into
 * out (STORE_KEY_MAX + 1 bytes, NUL-terminated). Returns 0 or
 * CAIRN_EINVAL (bad escape, empty, longer than 1024 bytes, invalid UTF-8,
 * NUL byte).
 */
int http_decode_key(const char *raw, size_t len, char out[STORE_KEY_MAX + 1], size_t *outlen);

/*
 * Splits the next "name=value" pair off the query string at *q (up to
 * end), advancing *q past it and its '&'. Empty segments are skipped; a
 * pair without '=' has an empty value. Spans are still percent-encoded.
 * Returns 1 when a pair was found, 0 at the end.
 */
int http_query_next(const char **q, const char *end, const char **name, size_t *nlen,
                    const char **val, size_t *vlen);

/* Case-insensitive comparison of the span s[0..len) with the C string lit. */
int http_span_ieq(const char *s, size_t len, const char *lit);

typedef enum {
    HTTP_RANGE_NONE = 0,          /* no usable Range: serve the whole body (200) */
    HTTP_RANGE_OK = 1,            /* one satisfiable range (206) */
    HTTP_RANGE_UNSATISFIABLE = 2, /* 416 */
} http_range_result_t;

typedef struct http_range {
    int hr_kind;       /* 0 none, 1 "a-b", 2 "a-", 3 "-n" */
    uint64_t hr_first; /* a, or n for a suffix */
    uint64_t hr_last;  /* b (kind 1 only) */
} http_range_t;

/*
 * Parses a Range header value. Only one "bytes=" range is used: a
 * syntactically invalid header, another unit or a list of several ranges
 * leaves hr_kind 0 (the header is ignored, as RFC 9110 allows). Never fails.
 */
void http_range_parse(const char *v, size_t len, http_range_t *out);

/*
 * Resolves a parsed range against a body of size bytes: HTTP_RANGE_OK with
 * [*off, *off + *len), HTTP_RANGE_UNSATISFIABLE, or HTTP_RANGE_NONE (no
 * range: *off = 0, *len = size).
 */
http_range_result_t http_range_resolve(const http_range_t *r, uint64_t size, uint64_t *off,
                                       uint64_t *len);

/* The 32 lowercase hex digits of a content hash, NUL-terminated. */
void http_etag_hex(const uint8_t hash[STORE_HASH_LEN], char out[2 * STORE_HASH_LEN + 1]);

/*
 * Parses a 32-hex-digit ETag (quoted "..." or bare) into hash. Returns 0 or
 * CAIRN_EINVAL.
 */
int http_etag_parse(const char *s, size_t len, uint8_t hash[STORE_HASH_LEN]);

/*
 * Evaluates an If-Match / If-None-Match value ("*" or a comma-separated
 * list of entity tags) against hash (NULL: no current representation).
 * weak: accept W/"..." tags too (weak comparison, If-None-Match); a strong
 * comparison never matches a weak tag. Returns 1 on a match, 0 on none,
 * CAIRN_EINVAL for a malformed list. *star is set when the value is "*".
 */
int http_etag_match(const char *v, size_t len, const uint8_t *hash, int weak, int *star);

/* "<hlc>-<origin>" in decimal; out has room for 32 bytes. Returns the
 * length (without the NUL). */
size_t http_version_str(const store_version_t *v, char out[32]);

/* v in decimal into out (room for 21 bytes), NUL-terminated, without
 * printf (response heads are formatted per request). Returns the length. */
size_t http_u64_str(uint64_t v, char out[21]);

/*
 * Extracts the token of "Bearer TOKEN" (scheme case-insensitive, blanks
 * around the token ignored). Returns 0 or CAIRN_EINVAL.
 */
int http_bearer_token(const char *v, size_t len, const char **tok, size_t *tlen);

/* Constant-time comparison (time depends only on the lengths). 1 when equal. */
int http_token_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Content-Type values are 1..255 bytes of visible ASCII or blanks. 0 or CAIRN_EINVAL. */
int http_ctype_valid(const char *s, size_t len);

/* Standard reason phrase for status ("Unknown" when not listed). */
const char *http_status_reason(int status);

/*
 * Maps a store/node error code to the HTTP status and error code of the
 * contract (e.g. CAIRN_ENOTFOUND -> 404 "not_found", -ENOSPC -> 507
 * "insufficient_storage"; anything unknown -> 500 "internal").
 */
void http_error_for_rc(int rc, int *status, const char **code);

/* Appends {"error":"CODE","message":"..."} (message JSON-escaped) to b. */
int http_error_json(buf_t *b, const char *code, const char *message);

/* Formats t (seconds since the epoch) as an IMF-fixdate; out >= 30 bytes. */
void http_date(int64_t t, char out[32]);

#endif
