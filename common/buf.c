/*
 * buf.c -- growable byte buffer with a hard size cap.
 *
 * Invariant: when b_data is allocated, b_alloc > b_len and b_data[b_len] is
 * NUL, so buf_cstr() never has to allocate. b_cap bounds b_len (the NUL is
 * extra).
 */
#include "common/buf.h"
#include "common/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 64

void buf_init(buf_t *b, size_t cap)
{
    b->b_data = NULL;
    b->b_len = 0;
    b->b_alloc = 0;
    b->b_cap = cap;
}

/* Frees the allocation; b stays usable (empty, same cap). Safe twice. */
void buf_free(buf_t *b)
{
    free(b->b_data);
    b->b_data = NULL;
    b->b_len = 0;
    b->b_alloc = 0;
}

void buf_reset(buf_t *b)
{
    b->b_len = 0;
    if (b->b_data != NULL)
        b->b_data[0] = '\0';
}

/*
 * Makes room for extra more bytes plus the NUL. CAIRN_ETOOBIG when that
 * would pass the cap, CAIRN_ENOMEM when realloc fails; b is unchanged on
 * failure.
 */
static int buf_reserve(buf_t *b, size_t extra)
{
    size_t need, alloc;
    char *p;

    if (extra > b->b_cap - b->b_len || extra >= SIZE_MAX - b->b_len)
        return CAIRN_ETOOBIG;
    need = b->b_len + extra + 1;
    if (need <= b->b_alloc)
        return 0;
    alloc = b->b_alloc < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->b_alloc;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    if (b->b_cap < SIZE_MAX && alloc > b->b_cap + 1)
        alloc = b->b_cap + 1;
    p = realloc(b->b_data, alloc);
    if (p == NULL)
        return CAIRN_ENOMEM;
    b->b_data = p;
    b->b_alloc = alloc;
    return 0;
}

/* Copies len bytes of p (borrowed) to the end. */
int buf_append(buf_t *b, const void *p, size_t len)
{
    int rc;

    if (len == 0)
        return 0;
    rc = buf_reserve(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->b_data + b->b_len, p, len);
    b->b_len += len;
    b->b_data[b->b_len] = '\0';
    return 0;
}

int buf_appendf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Formats once to measure, grows, formats again; b unchanged on failure. */
int buf_vappendf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CAIRN_EINVAL;
    if (n == 0)
        return 0;
    rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->b_data + b->b_len, (size_t)n + 1, fmt, ap);
    b->b_len += (size_t)n;
    return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0 if it is not one.
 */
static size_t buf_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n, i;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return n;
}

/*
 * Escapes into a small stack chunk flushed as it fills; on failure the
 * buffer is rolled back to its previous length, so it is left unchanged.
 */
int buf_append_json_str(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char chunk[256];
    size_t old_len = b->b_len, n = 0, i = 0, seq;
    unsigned char c;
    int rc;

    if (s == NULL && len > 0)
        return CAIRN_EINVAL;
    chunk[n++] = '"';
    while (i < len) {
        if (n > sizeof(chunk) - 8) {
            rc = buf_append(b, chunk, n);
            if (rc < 0)
                goto fail;
            n = 0;
        }
        c = p[i];
        if (c == '"' || c == '\\') {
            chunk[n++] = '\\';
            chunk[n++] = (char)c;
            i++;
        } else if (c < 0x20) {
            chunk[n++] = '\\';
            switch (c) {
            case '\b':
                chunk[n++] = 'b';
                break;
            case '\f':
                chunk[n++] = 'f';
                break;
            case '\n':
                chunk[n++] = 'n';
                break;
            case '\r':
                chunk[n++] = 'r';
                break;
            case '\t':
                chunk[n++] = 't';
                break;
            default:
                memcpy(chunk + n, "u00", 3);
                n += 3;
                chunk[n++] = hex[c >> 4];
                chunk[n++] = hex[c & 0xf];
            }
            i++;
        } else {
            seq = buf_utf8_seq(p + i, len - i);
            if (seq == 0) {
                memcpy(chunk + n, "\\ufffd", 6);
                n += 6;
                i++;
            } else {
                memcpy(chunk + n, p + i, seq);
                n += seq;
                i += seq;
            }
        }
    }
    chunk[n++] = '"';
    rc = buf_append(b, chunk, n);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    b->b_len = old_len;
    if (b->b_data != NULL)
        b->b_data[old_len] = '\0';
    return rc;
}

const char *buf_cstr(buf_t *b)
{
    return b->b_data != NULL ? b->b_data : "";
}

/*
 * Transfers the allocation (NUL-terminated; a fresh "" when there was none)
 * to the caller and leaves b empty with the same cap. NULL only when that
 * 1-byte allocation fails, in which case b is unchanged.
 */
char *buf_take(buf_t *b, size_t *len)
{
    char *p = b->b_data;

    if (p == NULL) {
        p = calloc(1, 1);
        if (p == NULL)
            return NULL;
    }
    if (len != NULL)
        *len = b->b_len;
    b->b_data = NULL;
    b->b_len = 0;
    b->b_alloc = 0;
    return p;
}
