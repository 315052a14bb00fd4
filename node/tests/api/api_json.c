/*
 * api_json.c -- strict recursive-descent JSON reader (see api_json.h).
 */
#include "api_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct jparser {
    const char *jp_s;
    size_t jp_len;
    size_t jp_pos;
    const char *jp_err;
} jparser_t;

typedef struct jstr {
    char *js_data;
    size_t js_len;
    size_t js_cap;
} jstr_t;

static api_json_t *parse_value(jparser_t *p, int depth);

static int fail(jparser_t *p, const char *msg)
{
    if (p->jp_err == NULL)
        p->jp_err = msg;
    return -1;
}

static void skip_ws(jparser_t *p)
{
    while (p->jp_pos < p->jp_len) {
        char c = p->jp_s[p->jp_pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->jp_pos++;
    }
}

static int jstr_push(jstr_t *s, const void *data, size_t n)
{
    if (s->js_len + n + 1 > s->js_cap) {
        size_t cap = s->js_cap ? s->js_cap * 2 : 32;
        while (cap < s->js_len + n + 1)
            cap *= 2;
        char *d = realloc(s->js_data, cap);
        if (d == NULL)
            return -1;
        s->js_data = d;
        s->js_cap = cap;
    }
    memcpy(s->js_data + s->js_len, data, n);
    s->js_len += n;
    s->js_data[s->js_len] = '\0';
    return 0;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, <= U+10FFFF), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int put_utf8(jstr_t *s, uint32_t cp)
{
    unsigned char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return jstr_push(s, b, n);
}

static int hex4(jparser_t *p, uint32_t *out)
{
    uint32_t v = 0;

    if (p->jp_pos + 4 > p->jp_len)
        return fail(p, "short \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = p->jp_s[p->jp_pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* Parses a string literal at the current position (which holds '"') into
 * out (caller frees out->js_data, also on failure). */
static int parse_string(jparser_t *p, jstr_t *out)
{
    p->jp_pos++; /* opening quote */
    if (jstr_push(out, "", 0) < 0)
        return fail(p, "out of memory");
    for (;;) {
        if (p->jp_pos >= p->jp_len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->jp_s[p->jp_pos];
        if (c == '"') {
            p->jp_pos++;
            return 0;
        }
        if (c < 0x20)
            return fail(p, "unescaped control character in string");
        if (c != '\\') {
            size_t n =
                utf8_seq_len((const unsigned char *)p->jp_s + p->jp_pos, p->jp_len - p->jp_pos);
            if (n == 0)
                return fail(p, "invalid UTF-8 in string");
            if (jstr_push(out, p->jp_s + p->jp_pos, n) < 0)
                return fail(p, "out of memory");
            p->jp_pos += n;
            continue;
        }
        p->jp_pos++;
        if (p->jp_pos >= p->jp_len)
            return fail(p, "unterminated escape");
        char e = p->jp_s[p->jp_pos++];
        char lit;
        switch (e) {
        case '"':
            lit = '"';
            break;
        case '\\':
            lit = '\\';
            break;
        case '/':
            lit = '/';
            break;
        case 'b':
            lit = '\b';
            break;
        case 'f':
            lit = '\f';
            break;
        case 'n':
            lit = '\n';
            break;
        case 'r':
            lit = '\r';
            break;
        case 't':
            lit = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (hex4(p, &cp) < 0)
                return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (p->jp_pos + 2 > p->jp_len || p->jp_s[p->jp_pos] != '\\' ||
                    p->jp_s[p->jp_pos + 1] != 'u')
                    return fail(p, "lone high surrogate");
                p->jp_pos += 2;
                if (hex4(p, &lo) < 0)
                    return -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(p, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (put_utf8(out, cp) < 0)
                return fail(p, "out of memory");
            continue;
        }
        default:
            return fail(p, "unknown escape");
        }
        if (jstr_push(out, &lit, 1) < 0)
            return fail(p, "out of memory");
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static api_json_t *new_node(jparser_t *p, api_json_type_t t)
{
    api_json_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        fail(p, "out of memory");
    else
        j->aj_type = t;
    return j;
}

static api_json_t *parse_number(jparser_t *p)
{
    size_t start = p->jp_pos;
    const char *s = p->jp_s;
    api_json_t *j;

    if (p->jp_pos < p->jp_len && s[p->jp_pos] == '-')
        p->jp_pos++;
    if (p->jp_pos >= p->jp_len || !is_digit(s[p->jp_pos])) {
        fail(p, "bad number");
        return NULL;
    }
    if (s[p->jp_pos] == '0') {
        p->jp_pos++;
    } else {
        while (p->jp_pos < p->jp_len && is_digit(s[p->jp_pos]))
            p->jp_pos++;
    }
    if (p->jp_pos < p->jp_len && s[p->jp_pos] == '.') {
        p->jp_pos++;
        if (p->jp_pos >= p->jp_len || !is_digit(s[p->jp_pos])) {
            fail(p, "bad fraction");
            return NULL;
        }
        while (p->jp_pos < p->jp_len && is_digit(s[p->jp_pos]))
            p->jp_pos++;
    }
    if (p->jp_pos < p->jp_len && (s[p->jp_pos] == 'e' || s[p->jp_pos] == 'E')) {
        p->jp_pos++;
        if (p->jp_pos < p->jp_len && (s[p->jp_pos] == '+' || s[p->jp_pos] == '-'))
            p->jp_pos++;
        if (p->jp_pos >= p->jp_len || !is_digit(s[p->jp_pos])) {
            fail(p, "bad exponent");
            return NULL;
        }
        while (p->jp_pos < p->jp_len && is_digit(s[p->jp_pos]))
            p->jp_pos++;
    }
    j = new_node(p, AJ_NUM);
    if (j == NULL)
        return NULL;
    j->aj_len = p->jp_pos - start;
    j->aj_str = malloc(j->aj_len + 1);
    if (j->aj_str == NULL) {
        free(j);
        fail(p, "out of memory");
        return NULL;
    }
    memcpy(j->aj_str, s + start, j->aj_len);
    j->aj_str[j->aj_len] = '\0';
    j->aj_num = strtod(j->aj_str, NULL);
    return j;
}

static int push_item(jparser_t *p, api_json_t *parent, api_json_t *item, jstr_t *key)
{
    size_t n = parent->aj_n + 1;
    api_json_t **items = realloc(parent->aj_items, n * sizeof(*items));
    if (items == NULL)
        return fail(p, "out of memory");
    parent->aj_items = items;
    if (parent->aj_type == AJ_OBJ) {
        char **keys = realloc(parent->aj_keys, n * sizeof(*keys));
        if (keys == NULL)
            return fail(p, "out of memory");
        parent->aj_keys = keys;
        size_t *lens = realloc(parent->aj_keylens, n * sizeof(*lens));
        if (lens == NULL)
            return fail(p, "out of memory");
        parent->aj_keylens = lens;
        keys[n - 1] = key->js_data;
        lens[n - 1] = key->js_len;
        key->js_data = NULL; /* ownership moved to the object */
        key->js_len = 0;
        key->js_cap = 0;
    }
    items[n - 1] = item;
    parent->aj_n = n;
    return 0;
}

/* Parses an array or object; the opening bracket is at the current position. */
static api_json_t *parse_container(jparser_t *p, int depth, int is_obj)
{
    char close = is_obj ? '}' : ']';
    api_json_t *j = new_node(p, is_obj ? AJ_OBJ : AJ_ARR);
    jstr_t key = {0};

    if (j == NULL)
        return NULL;
    p->jp_pos++;
    skip_ws(p);
    if (p->jp_pos < p->jp_len && p->jp_s[p->jp_pos] == close) {
        p->jp_pos++;
        return j;
    }
    for (;;) {
        api_json_t *v;

        skip_ws(p);
        if (is_obj) {
            if (p->jp_pos >= p->jp_len || p->jp_s[p->jp_pos] != '"') {
                fail(p, "expected member name");
                goto fail;
            }
            if (parse_string(p, &key) < 0)
                goto fail;
            skip_ws(p);
            if (p->jp_pos >= p->jp_len || p->jp_s[p->jp_pos] != ':') {
                fail(p, "expected ':'");
                goto fail;
            }
            p->jp_pos++;
        }
        v = parse_value(p, depth + 1);
        if (v == NULL)
            goto fail;
        if (push_item(p, j, v, &key) < 0) {
            api_json_free(v);
            goto fail;
        }
        skip_ws(p);
        if (p->jp_pos >= p->jp_len) {
            fail(p, "unterminated container");
            goto fail;
        }
        if (p->jp_s[p->jp_pos] == ',') {
            p->jp_pos++;
            continue;
        }
        if (p->jp_s[p->jp_pos] == close) {
            p->jp_pos++;
            return j;
        }
        fail(p, "expected ',' or closing bracket");
        goto fail;
    }
fail:
    free(key.js_data);
    api_json_free(j);
    return NULL;
}

static api_json_t *parse_literal(jparser_t *p, const char *word, api_json_type_t t, int b)
{
    size_t n = strlen(word);
    api_json_t *j;

    if (p->jp_pos + n > p->jp_len || memcmp(p->jp_s + p->jp_pos, word, n) != 0) {
        fail(p, "bad literal");
        return NULL;
    }
    p->jp_pos += n;
    j = new_node(p, t);
    if (j != NULL)
        j->aj_bool = b;
    return j;
}

static api_json_t *parse_value(jparser_t *p, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        fail(p, "nested too deep");
        return NULL;
    }
    skip_ws(p);
    if (p->jp_pos >= p->jp_len) {
        fail(p, "unexpected end of input");
        return NULL;
    }
    switch (p->jp_s[p->jp_pos]) {
    case '{':
        return parse_container(p, depth, 1);
    case '[':
        return parse_container(p, depth, 0);
    case '"': {
        jstr_t s = {0};
        api_json_t *j;
        if (parse_string(p, &s) < 0) {
            free(s.js_data);
            return NULL;
        }
        j = new_node(p, AJ_STR);
        if (j == NULL) {
            free(s.js_data);
            return NULL;
        }
        j->aj_str = s.js_data;
        j->aj_len = s.js_len;
        return j;
    }
    case 't':
        return parse_literal(p, "true", AJ_BOOL, 1);
    case 'f':
        return parse_literal(p, "false", AJ_BOOL, 0);
    case 'n':
        return parse_literal(p, "null", AJ_NULL, 0);
    default:
        return parse_number(p);
    }
}

int api_json_parse(const char *s, size_t len, api_json_t **out, const char **err)
{
    jparser_t p = {.jp_s = s, .jp_len = len};
    api_json_t *j;

    *out = NULL;
    j = parse_value(&p, 0);
    if (j != NULL) {
        skip_ws(&p);
        if (p.jp_pos != p.jp_len) {
            fail(&p, "trailing bytes after the value");
            api_json_free(j);
            j = NULL;
        }
    }
    if (err != NULL)
        *err = p.jp_err;
    if (j == NULL)
        return -1;
    *out = j;
    return 0;
}

void api_json_free(api_json_t *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->aj_n; i++) {
        api_json_free(j->aj_items[i]);
        if (j->aj_keys != NULL)
            free(j->aj_keys[i]);
    }
    free(j->aj_items);
    free(j->aj_keys);
    free(j->aj_keylens);
    free(j->aj_str);
    free(j);
}

const api_json_t *api_json_get(const api_json_t *obj, const char *key)
{
    size_t klen = strlen(key);

    if (obj == NULL || obj->aj_type != AJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->aj_n; i++) {
        if (obj->aj_keylens[i] == klen && memcmp(obj->aj_keys[i], key, klen) == 0)
            return obj->aj_items[i];
    }
    return NULL;
}

const char *api_json_str(const api_json_t *obj, const char *key)
{
    const api_json_t *v = api_json_get(obj, key);

    if (v == NULL || v->aj_type != AJ_STR)
        return NULL;
    return v->aj_str;
}
