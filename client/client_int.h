/*
 * client_int.h -- libcairn internals shared between its .c files and its
 * unit tests. Not installed. Cross-file internal symbols carry the
 * cairn__ prefix so they never collide with cairn_common or a user program.
 */
#ifndef CAIRN_CLIENT_INT_H
#define CAIRN_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

/* ---- dbuf: growable byte buffer with a hard cap (dbuf.c) ---- */

typedef struct cairn__dbuf {
    char *db_data; /* NUL-terminated whenever db_data != NULL */
    size_t db_len;
    size_t db_alloc;
    size_t db_cap; /* most bytes it may hold */
} cairn__dbuf;

void cairn__dbuf_init(cairn__dbuf *b, size_t cap);
/* Frees the storage; safe to call twice. */
void cairn__dbuf_free(cairn__dbuf *b);
/* Appends len bytes. CAIRN_CL_EPROTO when the cap would be exceeded,
 * CAIRN_CL_ENOMEM on allocation failure; the buffer is unchanged then. */
int cairn__dbuf_add(cairn__dbuf *b, const void *p, size_t len);
int cairn__dbuf_addc(cairn__dbuf *b, char ch);
int cairn__dbuf_adds(cairn__dbuf *b, const char *s);
/* Hands the allocation to the caller (never NULL on success: an empty buffer
 * yields "") and resets b. CAIRN_CL_ENOMEM possible for an empty buffer. */
int cairn__dbuf_take(cairn__dbuf *b, char **out, size_t *len);

/* ---- UTF-8, URLs, percent-encoding (url.c) ---- */

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int cairn__utf8_valid(const char *s, size_t len);

/* Checks a key: 1..CAIRN_KEY_MAX bytes of valid UTF-8. 0 or CAIRN_CL_EINVAL. */
int cairn__key_check(const char *key, size_t len);

/*
 * Appends s[0..len) percent-encoded to out: unreserved characters
 * (ALPHA DIGIT - . _ ~) are kept, '/' too when keep_slash, every other byte
 * becomes %XX (upper-case hex).
 */
int cairn__pct_encode(cairn__dbuf *out, const char *s, size_t len, int keep_slash);

/*
 * Normalizes one node URL: trims blanks, adds "http://" when no scheme is
 * given, drops trailing '/'. *out is malloc'ed (caller frees). Fails with
 * CAIRN_CL_EINVAL (empty, unsupported scheme, no host, control characters
 * or blanks inside) leaving *out NULL.
 */
int cairn__node_normalize(const char *in, size_t len, char **out);

/* Builds "/v1/blobs/<key encoded>[?durability=D]" into out (reset first). */
int cairn__blob_path(cairn__dbuf *out, const char *key, const char *durability);

/* Builds "/v1/blobs?prefix=..&after=..&limit=.." (parameters only when set). */
int cairn__list_path(cairn__dbuf *out, const char *prefix, const char *after, unsigned limit);

/* ---- JSON (json.c) ---- */

/* Parses a listing response body (strict JSON, see json.c). On success *out
 * owns the list; on failure (CAIRN_CL_EPROTO, CAIRN_CL_ENOMEM) *out is NULL. */
int cairn__list_parse(const char *text, size_t len, cairn_list **out);

/*
 * Best effort: extracts "error" and "message" strings of a JSON error body
 * into code/msg (NUL-terminated, truncated; "" when absent or when the body
 * is not a JSON object). Never fails.
 */
void cairn__error_parse(const char *text, size_t len, char *code, size_t codesz, char *msg,
                        size_t msgsz);

/* ---- error mapping (errmap.c) ---- */

/* Maps a final HTTP status and the server's JSON error code ("" if none)
 * to 0 (2xx) or a CAIRN_CL_E* code. */
int cairn__status_to_rc(long status, const char *code);

#endif
