/*
 * http_util.c -- pure HTTP helpers (see http_util.h).
 */
#include "node/http_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "storage/keys.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int http_pct_decode(const char *in, size_t len, int plus_space, char *out, size_t cap,
                    size_t *outlen)
{
    size_t i = 0, o = 0;
    int hi, lo;
    char c;

    while (i < len) {
        c = in[i];
        if (c == '%') {
            if (len - i < 3)
                return CAIRN_EINVAL;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return CAIRN_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 3;
        } else {
            if (c == '+' && plus_space)
                c = ' ';
            i++;
        }
        if (o >= cap)
            return CAIRN_ETOOBIG;
        out[o++] = c;
    }
    *outlen = o;
    return 0;
}

int http_decode_key(const char *raw, size_t len, char out[STORE_KEY_MAX + 1], size_t *outlen)
{
    size_t n;
    int rc;

    rc = http_pct_decode(raw, len, 0, out, STORE_KEY_MAX, &n);
    if (rc < 0)
        return CAIRN_EINVAL;
    if (key_validate(out, n) < 0)
        return CAIRN_EINVAL;
    out[n] = '\0';
    *outlen = n;
    return 0;
}

int http_query_next(const char **q, const char *end, const char **name, size_t *nlen,
                    const char **val, size_t *vlen)
{
    const char *p = *q;
    const char *amp, *eq;

    while (p < end && *p == '&')
        p++;
    if (p >= end) {
        *q = end;
        return 0;
    }
    amp = memchr(p, '&', (size_t)(end - p));
    if (amp == NULL)
        amp = end;
    eq = memchr(p, '=', (size_t)(amp - p));
    *name = p;
    if (eq == NULL) {
        *nlen = (size_t)(amp - p);
        *val = amp;
        *vlen = 0;
    } else {
        *nlen = (size_t)(eq - p);
        *val = eq + 1;
        *vlen = (size_t)(amp - eq - 1);
    }
    *q = amp < end ? amp + 1 : end;
    return 1;
}

int http_span_ieq(const char *s, size_t len, const char *lit)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (lit[i] == '\0' || lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return 0;
    }
    return lit[len] == '\0';
}

/* Parses decimal digits s[*i..) into *out; 0, or -1 when none or overflow. */
static int parse_u64(const char *s, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;

    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');

        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *out = v;
    return 0;
}

void http_range_parse(const char *v, size_t len, http_range_t *out)
{
    size_t i = 0;
    uint64_t a, b;

    memset(out, 0, sizeof(*out));
    while (len > 0 && is_blank(v[len - 1]))
        len--;
    while (i < len && is_blank(v[i]))
        i++;
    if (len - i < 6 || !http_span_ieq(v + i, 5, "bytes") || v[i + 5] != '=')
        return;
    i += 6;
    while (i < len && is_blank(v[i]))
        i++;
    if (i < len && v[i] == '-') {
        i++;
        if (parse_u64(v, len, &i, &a) < 0)
            return;
        while (i < len && is_blank(v[i]))
            i++;
        if (i != len)
            return; /* a list (or junk): ignore */
        out->hr_kind = 3;
        out->hr_first = a;
        return;
    }
    if (parse_u64(v, len, &i, &a) < 0)
        return;
    if (i >= len || v[i] != '-')
        return;
    i++;
    if (i < len && v[i] >= '0' && v[i] <= '9') {
        if (parse_u64(v, len, &i, &b) < 0)
            return;
        while (i < len && is_blank(v[i]))
            i++;
        if (i != len || b < a)
            return;
        out->hr_kind = 1;
        out->hr_first = a;
        out->hr_last = b;
        return;
    }
    while (i < len && is_blank(v[i]))
        i++;
    if (i != len)
        return;
    out->hr_kind = 2;
    out->hr_first = a;
}

http_range_result_t http_range_resolve(const http_range_t *r, uint64_t size, uint64_t *off,
                                       uint64_t *len)
{
    *off = 0;
    *len = size;
    switch (r->hr_kind) {
    case 1:
        if (r->hr_first >= size)
            return HTTP_RANGE_UNSATISFIABLE;
        *off = r->hr_first;
        *len = (r->hr_last >= size ? size - 1 : r->hr_last) - r->hr_first + 1;
        return HTTP_RANGE_OK;
    case 2:
        if (r->hr_first >= size)
            return HTTP_RANGE_UNSATISFIABLE;
        *off = r->hr_first;
        *len = size - r->hr_first;
        return HTTP_RANGE_OK;
    case 3:
        if (r->hr_first == 0 || size == 0)
            return HTTP_RANGE_UNSATISFIABLE;
        *len = r->hr_first < size ? r->hr_first : size;
        *off = size - *len;
        return HTTP_RANGE_OK;
    default:
        return HTTP_RANGE_NONE;
    }
}

void http_etag_hex(const uint8_t hash[STORE_HASH_LEN], char out[2 * STORE_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < STORE_HASH_LEN; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * STORE_HASH_LEN] = '\0';
}

int http_etag_parse(const char *s, size_t len, uint8_t hash[STORE_HASH_LEN])
{
    size_t i;
    int hi, lo;

    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    if (len != 2 * STORE_HASH_LEN)
        return CAIRN_EINVAL;
    for (i = 0; i < STORE_HASH_LEN; i++) {
        hi = hexval(s[2 * i]);
        lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CAIRN_EINVAL;
        hash[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int http_etag_match(const char *v, size_t len, const uint8_t *hash, int weak, int *star)
{
    size_t i = 0, start;
    uint8_t h[STORE_HASH_LEN];
    int is_weak, found = 0;

    *star = 0;
    while (len > 0 && is_blank(v[len - 1]))
        len--;
    while (i < len && is_blank(v[i]))
        i++;
    if (len - i == 1 && v[i] == '*') {
        *star = 1;
        return hash != NULL;
    }
    if (i >= len)
        return CAIRN_EINVAL;
    while (i < len) {
        is_weak = 0;
        if (len - i >= 2 && v[i] == 'W' && v[i + 1] == '/') {
            is_weak = 1;
            i += 2;
        }
        if (i >= len || v[i] != '"')
            return CAIRN_EINVAL;
        start = ++i;
        while (i < len && v[i] != '"') {
            if ((unsigned char)v[i] < 0x21 || v[i] == 0x7f)
                return CAIRN_EINVAL;
            i++;
        }
        if (i >= len)
            return CAIRN_EINVAL;
        if (hash != NULL && (weak || !is_weak) && http_etag_parse(v + start, i - start, h) == 0 &&
            memcmp(h, hash, STORE_HASH_LEN) == 0)
            found = 1;
        i++; /* closing quote */
        while (i < len && is_blank(v[i]))
            i++;
        if (i < len) {
            if (v[i] != ',')
                return CAIRN_EINVAL;
            i++;
            while (i < len && is_blank(v[i]))
                i++;
            if (i >= len)
                return CAIRN_EINVAL;
        }
    }
    return found;
}

size_t http_u64_str(uint64_t v, char out[21])
{
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t http_version_str(const store_version_t *v, char out[32])
{
    size_t n = http_u64_str(v->sv_hlc, out);

    out[n++] = '-';
    return n + http_u64_str(v->sv_origin, out + n);
}

int http_bearer_token(const char *v, size_t len, const char **tok, size_t *tlen)
{
    size_t i = 0;

    while (len > 0 && is_blank(v[len - 1]))
        len--;
    while (i < len && is_blank(v[i]))
        i++;
    if (len - i < 7 || !http_span_ieq(v + i, 6, "bearer") || !is_blank(v[i + 6]))
        return CAIRN_EINVAL;
    i += 6;
    while (i < len && is_blank(v[i]))
        i++;
    if (i >= len)
        return CAIRN_EINVAL;
    *tok = v + i;
    *tlen = len - i;
    return 0;
}

int http_token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = 0;
    size_t i;

    if (alen != blen || alen == 0)
        return 0;
    for (i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int http_ctype_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > STORE_CTYPE_MAX)
        return CAIRN_EINVAL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return CAIRN_EINVAL;
    }
    return 0;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

void http_error_for_rc(int rc, int *status, const char **code)
{
    switch (rc) {
    case CAIRN_ENOTFOUND:
        *status = 404;
        *code = "not_found";
        break;
    case CAIRN_EINVAL:
        *status = 400;
        *code = "bad_request";
        break;
    case CAIRN_EPRECOND:
        *status = 412;
        *code = "precondition_failed";
        break;
    case CAIRN_ETOOBIG:
        *status = 413;
        *code = "payload_too_large";
        break;
    case -ENOSPC:
    case -EDQUOT:
        *status = 507;
        *code = "insufficient_storage";
        break;
    case CAIRN_EUNAVAIL:
    case CAIRN_ETIMEDOUT:
    case CAIRN_ESHUTDOWN:
    case CAIRN_EBUSY:
        *status = 503;
        *code = "unavailable";
        break;
    default:
        *status = 500;
        *code = "internal";
        break;
    }
}

int http_error_json(buf_t *b, const char *code, const char *message)
{
    int rc;

    rc = buf_appendf(b, "{\"error\":\"%s\",\"message\":", code);
    if (rc < 0)
        return rc;
    rc = buf_append_json_str(b, message, strlen(message));
    if (rc < 0)
        return rc;
    return buf_append(b, "}\n", 2);
}

void http_date(int64_t t, char out[32])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    /* The moduli only tell the compiler the widths (29 bytes in all). */
    snprintf(out, 32, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[(unsigned)tm.tm_wday % 7],
             (unsigned)tm.tm_mday % 100u, months[(unsigned)tm.tm_mon % 12],
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}
