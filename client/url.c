/*
 * url.c -- keys, node URLs and request paths.
 *
 * Keys travel in the path, percent-encoded byte by byte: only RFC 3986
 * unreserved characters and '/' are sent as they are, so any UTF-8 key
 * (spaces, '?', '#', '%', '+', non-ASCII) reaches the server unchanged.
 * Query values are encoded the same way, '/' included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"

/* Well-formed UTF-8 per RFC 3629: shortest form, no UTF-16 surrogates,
 * nothing above U+10FFFF. */
int cairn__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

int cairn__key_check(const char *key, size_t len)
{
    if (key == NULL || len == 0 || len > CAIRN_KEY_MAX)
        return CAIRN_CL_EINVAL;
    if (!cairn__utf8_valid(key, len))
        return CAIRN_CL_EINVAL;
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends the encoding; on failure out may hold part of it (callers discard
 * the whole buffer on failure). */
int cairn__pct_encode(cairn__dbuf *out, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];

        if (is_unreserved(c) || (keep_slash && c == '/')) {
            rc = cairn__dbuf_addc(out, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};

            rc = cairn__dbuf_add(out, esc, sizeof(esc));
        }
    }
    return rc;
}

/*
 * Node URLs come from the command line or the environment: trimmed, checked
 * for a usable shape (the rest is libcurl's job when it connects) and
 * returned in a fresh allocation. Nothing is allocated on failure.
 */
int cairn__node_normalize(const char *in, size_t len, char **out)
{
    const char *scheme = "http://";
    const char *sep, *host;
    size_t hostlen;
    char *url;

    *out = NULL;
    while (len > 0 && (*in == ' ' || *in == '\t')) {
        in++;
        len--;
    }
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return CAIRN_CL_EINVAL;
    }
    sep = memmem(in, len, "://", 3);
    if (sep != NULL) {
        size_t slen = (size_t)(sep - in);

        if (!((slen == 4 && strncasecmp(in, "http", 4) == 0) ||
              (slen == 5 && strncasecmp(in, "https", 5) == 0)))
            return CAIRN_CL_EINVAL;
        host = sep + 3;
        scheme = "";
    } else {
        host = in;
    }
    hostlen = len - (size_t)(host - in);
    while (hostlen > 0 && host[hostlen - 1] == '/')
        hostlen--;
    if (hostlen == 0 || host[0] == '/' || host[0] == ':')
        return CAIRN_CL_EINVAL;
    len = (size_t)(host - in) + hostlen;
    url = malloc(strlen(scheme) + len + 1);
    if (url == NULL)
        return CAIRN_CL_ENOMEM;
    memcpy(url, scheme, strlen(scheme));
    memcpy(url + strlen(scheme), in, len);
    url[strlen(scheme) + len] = '\0';
    *out = url;
    return 0;
}

int cairn__blob_path(cairn__dbuf *out, const char *key, const char *durability)
{
    int rc;

    out->db_len = 0;
    rc = cairn__dbuf_adds(out, "/v1/blobs/");
    if (rc == 0)
        rc = cairn__pct_encode(out, key, strlen(key), 1);
    if (rc == 0 && durability != NULL) {
        rc = cairn__dbuf_adds(out, "?durability=");
        if (rc == 0)
            rc = cairn__pct_encode(out, durability, strlen(durability), 0);
    }
    return rc;
}

/* Appends "?name=" or "&name=" then the encoded value. */
static int add_param(cairn__dbuf *out, int *first, const char *name, const char *val)
{
    int rc;

    rc = cairn__dbuf_addc(out, *first ? '?' : '&');
    if (rc == 0)
        rc = cairn__dbuf_adds(out, name);
    if (rc == 0)
        rc = cairn__dbuf_addc(out, '=');
    if (rc == 0)
        rc = cairn__pct_encode(out, val, strlen(val), 0);
    *first = 0;
    return rc;
}

int cairn__list_path(cairn__dbuf *out, const char *prefix, const char *after, unsigned limit)
{
    int first = 1;
    int rc;

    out->db_len = 0;
    rc = cairn__dbuf_adds(out, "/v1/blobs");
    if (rc == 0 && prefix != NULL && prefix[0] != '\0')
        rc = add_param(out, &first, "prefix", prefix);
    if (rc == 0 && after != NULL && after[0] != '\0')
        rc = add_param(out, &first, "after", after);
    if (rc == 0 && limit > 0) {
        char num[16];

        snprintf(num, sizeof(num), "%u", limit);
        rc = add_param(out, &first, "limit", num);
    }
    return rc;
}
