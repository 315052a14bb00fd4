/*
 * buf.h -- growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * A buf_t starts empty and never holds more than its cap; an append that
 * would exceed it fails with CAIRN_ETOOBIG and leaves the buffer unchanged.
 * buf_free() is safe to call twice.
 */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *b_data; /* NUL-terminated when b_len > 0 or after buf_cstr() */
    size_t b_len;
    size_t b_alloc;
    size_t b_cap;
} buf_t;

void buf_init(buf_t *b, size_t cap);
void buf_free(buf_t *b);
void buf_reset(buf_t *b); /* keeps the allocation */
int buf_append(buf_t *b, const void *p, size_t len);
int buf_appendf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(buf_t *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (quotes included, correctly escaped;
 * invalid UTF-8 bytes become U+FFFD). */
int buf_append_json_str(buf_t *b, const char *s, size_t len);
/* Returns the contents as a C string ("" when empty); never NULL. */
const char *buf_cstr(buf_t *b);
/* Hands the allocation to the caller (who frees it) and resets b. */
char *buf_take(buf_t *b, size_t *len);

#endif
