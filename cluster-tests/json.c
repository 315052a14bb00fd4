/*
 * json.c -- strict recursive-descent JSON reader (see json.h).
 */
#include "cluster-tests/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jparser {
    const char *jp_p;
    const char *jp_end;
    const char *jp_start;
    char *jp_err;
    size_t jp_errlen;
    int jp_rc;
} jparser_t;

/* Growable byte buffer for string decoding. */
typedef struct sbuf {
    char *sb_data;
    size_t sb_len;
    size_t sb_cap;
} sbuf_t;

static int fail(jparser_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error with its byte offset; returns -EINVAL. */
static int fail(jparser_t *j, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (j->jp_rc == 0) {
        j->jp_rc = -EINVAL;
        if (j->jp_errlen > 0) {
            n = snprintf(j->jp_err, j->jp_errlen, "offset %zu: ", (size_t)(j->jp_p - j->jp_start));
            if (n > 0 && (size_t)n < j->jp_errlen) {
                va_start(ap, fmt);
                vsnprintf(j->jp_err + n, j->jp_errlen - (size_t)n, fmt, ap);
                va_end(ap);
            }
        }
    }
    return j->jp_rc;
}

static int sb_add(sbuf_t *b, const char *p, size_t n)
{
    if (b->sb_len + n + 1 > b->sb_cap) {
        size_t cap = b->sb_cap ? b->sb_cap : 32;
        char *d;
        while (cap < b->sb_len + n + 1)
            cap *= 2;
        d = realloc(b->sb_data, cap);
        if (d == NULL)
            return -ENOMEM;
        b->sb_data = d;
        b->sb_cap = cap;
    }
    memcpy(b->sb_data + b->sb_len, p, n);
    b->sb_len += n;
    b->sb_data[b->sb_len] = '\0';
    return 0;
}

static void ws(jparser_t *j)
{
    while (j->jp_p < j->jp_end &&
           (*j->jp_p == ' ' || *j->jp_p == '\t' || *j->jp_p == '\n' || *j->jp_p == '\r'))
        j->jp_p++;
}

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

static int hex4(jparser_t *j, unsigned *out)
{
    unsigned v = 0;

    if (j->jp_end - j->jp_p < 4)
        return fail(j, "short \\u escape");
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->jp_p[i]);
        if (h < 0)
            return fail(j, "bad \\u escape");
        v = (v << 4) | (unsigned)h;
    }
    j->jp_p += 4;
    *out = v;
    return 0;
}

static int put_utf8(sbuf_t *b, unsigned cp)
{
    char o[4];
    size_t n;

    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return sb_add(b, o, n);
}

/* Length of a well-formed UTF-8 sequence starting at p (max n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Parses a string literal (at the opening quote) into b. */
static int parse_string(jparser_t *j, sbuf_t *b)
{
    int rc;

    b->sb_len = 0;
    if (sb_add(b, "", 0) < 0)
        return -ENOMEM;
    j->jp_p++; /* opening quote */
    while (j->jp_p < j->jp_end) {
        unsigned char c = (unsigned char)*j->jp_p;
        if (c == '"') {
            j->jp_p++;
            return 0;
        }
        if (c < 0x20)
            return fail(j, "control character in string");
        if (c == '\\') {
            unsigned cp, lo;
            const char *esc;
            j->jp_p++;
            if (j->jp_p >= j->jp_end)
                return fail(j, "unterminated escape");
            esc = j->jp_p++;
            switch (*esc) {
            case '"':
            case '\\':
            case '/':
                rc = sb_add(b, esc, 1);
                break;
            case 'b':
                rc = sb_add(b, "\b", 1);
                break;
            case 'f':
                rc = sb_add(b, "\f", 1);
                break;
            case 'n':
                rc = sb_add(b, "\n", 1);
                break;
            case 'r':
                rc = sb_add(b, "\r", 1);
                break;
            case 't':
                rc = sb_add(b, "\t", 1);
                break;
            case 'u':
                rc = hex4(j, &cp);
                if (rc < 0)
                    return rc;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(j, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (j->jp_end - j->jp_p < 2 || j->jp_p[0] != '\\' || j->jp_p[1] != 'u')
                        return fail(j, "lone high surrogate");
                    j->jp_p += 2;
                    rc = hex4(j, &lo);
                    if (rc < 0)
                        return rc;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(j, "bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                rc = put_utf8(b, cp);
                break;
            default:
                return fail(j, "bad escape \\%c", *esc);
            }
            if (rc < 0)
                return rc;
            continue;
        }
        {
            size_t n = utf8_seq((const unsigned char *)j->jp_p, (size_t)(j->jp_end - j->jp_p));
            if (n == 0)
                return fail(j, "invalid UTF-8 in string");
            rc = sb_add(b, j->jp_p, n);
            if (rc < 0)
                return rc;
            j->jp_p += n;
        }
    }
    return fail(j, "unterminated string");
}

static int parse_number(jparser_t *j, jv_t *v)
{
    const char *s = j->jp_p;
    char tmp[64];
    int is_int = 1;
    size_t n;

    if (j->jp_p < j->jp_end && *j->jp_p == '-')
        j->jp_p++;
    if (j->jp_p >= j->jp_end)
        return fail(j, "bad number");
    if (*j->jp_p == '0') {
        j->jp_p++;
    } else if (*j->jp_p >= '1' && *j->jp_p <= '9') {
        while (j->jp_p < j->jp_end && *j->jp_p >= '0' && *j->jp_p <= '9')
            j->jp_p++;
    } else {
        return fail(j, "bad number");
    }
    if (j->jp_p < j->jp_end && *j->jp_p == '.') {
        is_int = 0;
        j->jp_p++;
        if (j->jp_p >= j->jp_end || *j->jp_p < '0' || *j->jp_p > '9')
            return fail(j, "bad fraction");
        while (j->jp_p < j->jp_end && *j->jp_p >= '0' && *j->jp_p <= '9')
            j->jp_p++;
    }
    if (j->jp_p < j->jp_end && (*j->jp_p == 'e' || *j->jp_p == 'E')) {
        is_int = 0;
        j->jp_p++;
        if (j->jp_p < j->jp_end && (*j->jp_p == '+' || *j->jp_p == '-'))
            j->jp_p++;
        if (j->jp_p >= j->jp_end || *j->jp_p < '0' || *j->jp_p > '9')
            return fail(j, "bad exponent");
        while (j->jp_p < j->jp_end && *j->jp_p >= '0' && *j->jp_p <= '9')
            j->jp_p++;
    }
    n = (size_t)(j->jp_p - s);
    if (n >= sizeof(tmp))
        return fail(j, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    v->jv_type = JV_NUM;
    v->jv_num = strtod(tmp, NULL);
    if (is_int) {
        errno = 0;
        v->jv_int = strtoll(tmp, NULL, 10);
        v->jv_is_int = errno == 0;
    }
    return 0;
}

static int parse_literal(jparser_t *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->jp_end - j->jp_p) < n || memcmp(j->jp_p, lit, n) != 0)
        return fail(j, "unexpected token");
    j->jp_p += n;
    return 0;
}

static int parse_value(jparser_t *j, jv_t *v, sbuf_t *sb, int depth);

/* Appends one zeroed slot to an array/object under construction. */
static int grow(jv_t *v, size_t *cap, int with_keys)
{
    if (v->jv_count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        jv_t *items = realloc(v->jv_items, ncap * sizeof(*items));
        if (items == NULL)
            return -ENOMEM;
        v->jv_items = items;
        if (with_keys) {
            char **keys = realloc(v->jv_keys, ncap * sizeof(*keys));
            if (keys == NULL)
                return -ENOMEM;
            v->jv_keys = keys;
        }
        *cap = ncap;
    }
    memset(&v->jv_items[v->jv_count], 0, sizeof(jv_t));
    if (with_keys)
        v->jv_keys[v->jv_count] = NULL;
    v->jv_count++;
    return 0;
}

static int parse_container(jparser_t *j, jv_t *v, sbuf_t *sb, int depth, int is_obj)
{
    size_t cap = 0;
    char close = is_obj ? '}' : ']';
    int rc;

    v->jv_type = is_obj ? JV_OBJ : JV_ARR;
    j->jp_p++;
    ws(j);
    if (j->jp_p < j->jp_end && *j->jp_p == close) {
        j->jp_p++;
        return 0;
    }
    for (;;) {
        rc = grow(v, &cap, is_obj);
        if (rc < 0)
            return rc;
        if (is_obj) {
            ws(j);
            if (j->jp_p >= j->jp_end || *j->jp_p != '"')
                return fail(j, "expected member name");
            rc = parse_string(j, sb);
            if (rc < 0)
                return rc;
            v->jv_keys[v->jv_count - 1] = strdup(sb->sb_data);
            if (v->jv_keys[v->jv_count - 1] == NULL)
                return -ENOMEM;
            ws(j);
            if (j->jp_p >= j->jp_end || *j->jp_p != ':')
                return fail(j, "expected ':'");
            j->jp_p++;
        }
        rc = parse_value(j, &v->jv_items[v->jv_count - 1], sb, depth + 1);
        if (rc < 0)
            return rc;
        ws(j);
        if (j->jp_p < j->jp_end && *j->jp_p == ',') {
            j->jp_p++;
            continue;
        }
        if (j->jp_p < j->jp_end && *j->jp_p == close) {
            j->jp_p++;
            return 0;
        }
        return fail(j, "expected ',' or '%c'", close);
    }
}

static int parse_value(jparser_t *j, jv_t *v, sbuf_t *sb, int depth)
{
    int rc;

    if (depth > JSON_MAX_DEPTH)
        return fail(j, "nested too deeply");
    ws(j);
    if (j->jp_p >= j->jp_end)
        return fail(j, "unexpected end");
    switch (*j->jp_p) {
    case '{':
        return parse_container(j, v, sb, depth, 1);
    case '[':
        return parse_container(j, v, sb, depth, 0);
    case '"':
        rc = parse_string(j, sb);
        if (rc < 0)
            return rc;
        v->jv_type = JV_STR;
        v->jv_str = malloc(sb->sb_len + 1);
        if (v->jv_str == NULL)
            return -ENOMEM;
        memcpy(v->jv_str, sb->sb_data, sb->sb_len + 1);
        v->jv_len = sb->sb_len;
        return 0;
    case 't':
        v->jv_type = JV_BOOL;
        v->jv_bool = 1;
        return parse_literal(j, "true");
    case 'f':
        v->jv_type = JV_BOOL;
        return parse_literal(j, "false");
    case 'n':
        v->jv_type = JV_NULL;
        return parse_literal(j, "null");
    default:
        return parse_number(j, v);
    }
}

static void jv_clear(jv_t *v)
{
    for (size_t i = 0; i < v->jv_count; i++) {
        jv_clear(&v->jv_items[i]);
        if (v->jv_keys != NULL)
            free(v->jv_keys[i]);
    }
    free(v->jv_items);
    free(v->jv_keys);
    free(v->jv_str);
}

void json_free(jv_t *v)
{
    if (v == NULL)
        return;
    jv_clear(v);
    free(v);
}

int json_parse(const char *text, size_t len, jv_t **out, char *err, size_t errlen)
{
    jparser_t j = {text, text + len, text, err, errlen, 0};
    sbuf_t sb = {NULL, 0, 0};
    jv_t *v;
    int rc;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    rc = parse_value(&j, v, &sb, 0);
    if (rc == 0) {
        ws(&j);
        if (j.jp_p != j.jp_end)
            rc = fail(&j, "trailing characters after the value");
    }
    free(sb.sb_data);
    if (rc < 0) {
        if (rc == -ENOMEM && errlen > 0)
            snprintf(err, errlen, "out of memory");
        json_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

const jv_t *json_get(const jv_t *obj, const char *name)
{
    if (obj == NULL || obj->jv_type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->jv_count; i++) {
        if (strcmp(obj->jv_keys[i], name) == 0)
            return &obj->jv_items[i];
    }
    return NULL;
}

int64_t json_int(const jv_t *v, int64_t dflt)
{
    if (v == NULL || v->jv_type != JV_NUM)
        return dflt;
    if (v->jv_is_int)
        return v->jv_int;
    if (!isfinite(v->jv_num) || v->jv_num > 9.2e18 || v->jv_num < -9.2e18)
        return dflt;
    return (int64_t)v->jv_num;
}

const char *json_str(const jv_t *v, const char *dflt)
{
    if (v == NULL || v->jv_type != JV_STR)
        return dflt;
    return v->jv_str;
}

int json_bool(const jv_t *v, int dflt)
{
    if (v == NULL || v->jv_type != JV_BOOL)
        return dflt;
    return v->jv_bool;
}
