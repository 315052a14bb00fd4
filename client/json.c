/*
 * json.c -- a small strict JSON reader for the two shapes the client reads:
 *
 *   listing: {"items":[{"key":S,"size":N,"etag":S,"version":S|N}, ...],
 *             "next":S|null}
 *   error:   {"error":S,"message":S}
 *
 * The syntax is checked in full (RFC 8259): strings must be valid UTF-8
 * without raw control characters; escapes include \uXXXX with surrogate
 * pairs (a lone surrogate is rejected); numbers follow the JSON grammar;
 * nothing but whitespace may follow the top-level value; nesting is
 * bounded. Members not named above are skipped whatever their type, so the
 * server may add fields. A listing needs "items"; each item needs "key"
 * (a string) and "size" (a non-negative integer that fits 64 bits); "etag"
 * and "version" default to "". A member given twice is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define JSON_DEPTH_MAX 64
#define JSON_STR_MAX (64 * 1024)

typedef struct jp {
    const char *jp_p;
    const char *jp_end;
    int jp_depth;
} jp;

static void ws(jp *j)
{
    while (j->jp_p < j->jp_end &&
           (*j->jp_p == ' ' || *j->jp_p == '\t' || *j->jp_p == '\n' || *j->jp_p == '\r'))
        j->jp_p++;
}

/* Skips whitespace, then consumes ch if it is next. 1 if it was. */
static int eat(jp *j, char ch)
{
    ws(j);
    if (j->jp_p < j->jp_end && *j->jp_p == ch) {
        j->jp_p++;
        return 1;
    }
    return 0;
}

/* Skips whitespace and returns the next byte without consuming it, or -1. */
static int peek(jp *j)
{
    ws(j);
    return j->jp_p < j->jp_end ? (unsigned char)*j->jp_p : -1;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(cairn__dbuf *out, unsigned cp)
{
    char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return cairn__dbuf_add(out, b, n);
}

/* Length of the UTF-8 sequence that starts with lead byte c (0 if invalid). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* Reads the escape after a backslash (j->jp_p at the byte after '\'). */
static int parse_escape(jp *j, cairn__dbuf *out)
{
    unsigned cp, lo;
    char c;

    if (j->jp_p >= j->jp_end)
        return CAIRN_CL_EPROTO;
    c = *j->jp_p++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return out ? cairn__dbuf_addc(out, c) : 0;
    case 'b':
        return out ? cairn__dbuf_addc(out, '\b') : 0;
    case 'f':
        return out ? cairn__dbuf_addc(out, '\f') : 0;
    case 'n':
        return out ? cairn__dbuf_addc(out, '\n') : 0;
    case 'r':
        return out ? cairn__dbuf_addc(out, '\r') : 0;
    case 't':
        return out ? cairn__dbuf_addc(out, '\t') : 0;
    case 'u':
        break;
    default:
        return CAIRN_CL_EPROTO;
    }
    if (j->jp_end - j->jp_p < 4 || hex4(j->jp_p, &cp) != 0)
        return CAIRN_CL_EPROTO;
    j->jp_p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return CAIRN_CL_EPROTO; /* low surrogate without a high one */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->jp_end - j->jp_p < 6 || j->jp_p[0] != '\\' || j->jp_p[1] != 'u' ||
            hex4(j->jp_p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
            return CAIRN_CL_EPROTO;
        j->jp_p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return out ? put_utf8(out, cp) : 0;
}

/*
 * Parses a string at the current position (after whitespace) and appends
 * its decoded bytes to out, or only validates it when out is NULL. The
 * caller resets out beforehand if it wants the string alone.
 */
static int parse_string(jp *j, cairn__dbuf *out)
{
    int rc;

    if (!eat(j, '"'))
        return CAIRN_CL_EPROTO;
    for (;;) {
        unsigned char c;
        size_t n;

        if (j->jp_p >= j->jp_end)
            return CAIRN_CL_EPROTO;
        c = (unsigned char)*j->jp_p;
        if (c == '"') {
            j->jp_p++;
            return 0;
        }
        if (c < 0x20)
            return CAIRN_CL_EPROTO;
        if (c == '\\') {
            j->jp_p++;
            rc = parse_escape(j, out);
            if (rc != 0)
                return rc;
            continue;
        }
        n = c < 0x80 ? 1 : utf8_len(c);
        if (n == 0 || (size_t)(j->jp_end - j->jp_p) < n || !cairn__utf8_valid(j->jp_p, n))
            return CAIRN_CL_EPROTO;
        if (out != NULL) {
            rc = cairn__dbuf_add(out, j->jp_p, n);
            if (rc != 0)
                return rc;
        }
        j->jp_p += n;
    }
}

static int is_digit(const jp *j)
{
    return j->jp_p < j->jp_end && *j->jp_p >= '0' && *j->jp_p <= '9';
}

/*
 * Validates a number per the JSON grammar and returns its text span.
 * *is_uint tells whether it is a plain non-negative integer.
 */
static int parse_number(jp *j, const char **start, size_t *len, int *is_uint)
{
    const char *s;

    ws(j);
    s = j->jp_p;
    *is_uint = 1;
    if (j->jp_p < j->jp_end && *j->jp_p == '-') {
        j->jp_p++;
        *is_uint = 0;
    }
    if (!is_digit(j))
        return CAIRN_CL_EPROTO;
    if (*j->jp_p == '0') {
        j->jp_p++;
    } else {
        while (is_digit(j))
            j->jp_p++;
    }
    if (j->jp_p < j->jp_end && *j->jp_p == '.') {
        j->jp_p++;
        *is_uint = 0;
        if (!is_digit(j))
            return CAIRN_CL_EPROTO;
        while (is_digit(j))
            j->jp_p++;
    }
    if (j->jp_p < j->jp_end && (*j->jp_p == 'e' || *j->jp_p == 'E')) {
        j->jp_p++;
        *is_uint = 0;
        if (j->jp_p < j->jp_end && (*j->jp_p == '+' || *j->jp_p == '-'))
            j->jp_p++;
        if (!is_digit(j))
            return CAIRN_CL_EPROTO;
        while (is_digit(j))
            j->jp_p++;
    }
    *start = s;
    *len = (size_t)(j->jp_p - s);
    return 0;
}

static int parse_literal(jp *j, const char *lit)
{
    size_t n = strlen(lit);

    ws(j);
    if ((size_t)(j->jp_end - j->jp_p) < n || memcmp(j->jp_p, lit, n) != 0)
        return CAIRN_CL_EPROTO;
    j->jp_p += n;
    return 0;
}

/* Validates and skips any value, recursing at most JSON_DEPTH_MAX deep. */
static int skip_value(jp *j)
{
    const char *s;
    size_t n;
    int u, rc = 0;
    int c = peek(j);

    if (c == '"')
        return parse_string(j, NULL);
    if (c == 't')
        return parse_literal(j, "true");
    if (c == 'f')
        return parse_literal(j, "false");
    if (c == 'n')
        return parse_literal(j, "null");
    if (c != '{' && c != '[')
        return parse_number(j, &s, &n, &u);
    if (++j->jp_depth > JSON_DEPTH_MAX)
        return CAIRN_CL_EPROTO;
    j->jp_p++;
    if (eat(j, c == '{' ? '}' : ']')) {
        j->jp_depth--;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            rc = parse_string(j, NULL);
            if (rc == 0 && !eat(j, ':'))
                rc = CAIRN_CL_EPROTO;
        }
        if (rc == 0)
            rc = skip_value(j);
        if (rc != 0)
            return rc;
        if (eat(j, ','))
            continue;
        if (eat(j, c == '{' ? '}' : ']'))
            break;
        return CAIRN_CL_EPROTO;
    }
    j->jp_depth--;
    return 0;
}

/* Parses an object member name into name (reset first) and eats the ':'. */
static int parse_member_name(jp *j, cairn__dbuf *name)
{
    int rc;

    name->db_len = 0;
    rc = parse_string(j, name);
    if (rc == 0 && !eat(j, ':'))
        rc = CAIRN_CL_EPROTO;
    return rc;
}

static int name_is(const cairn__dbuf *name, const char *s)
{
    return name->db_len == strlen(s) && memcmp(name->db_data, s, name->db_len) == 0;
}

/* Parses a string value into a fresh malloc'ed copy (*out, *len). */
static int parse_string_dup(jp *j, char **out, size_t *len)
{
    cairn__dbuf b;
    int rc;

    cairn__dbuf_init(&b, JSON_STR_MAX);
    rc = parse_string(j, &b);
    if (rc == 0)
        rc = cairn__dbuf_take(&b, out, len);
    cairn__dbuf_free(&b);
    return rc;
}

static int dup_text(const char *s, size_t n, char **out)
{
    *out = malloc(n + 1);
    if (*out == NULL)
        return CAIRN_CL_ENOMEM;
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return 0;
}

static void item_clear(cairn_list_item *it)
{
    free(it->cli_key);
    free(it->cli_etag);
    free(it->cli_version);
    memset(it, 0, sizeof(*it));
}

/* Parses a non-negative integer into a uint64_t, rejecting overflow. */
static int parse_u64(jp *j, uint64_t *out)
{
    const char *s;
    size_t n;
    int is_uint, rc;
    uint64_t v = 0;

    rc = parse_number(j, &s, &n, &is_uint);
    if (rc != 0 || !is_uint)
        return CAIRN_CL_EPROTO;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (v > (UINT64_MAX - d) / 10)
            return CAIRN_CL_EPROTO;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * Parses one item object into *it (zeroed by the caller). On failure the
 * item's allocations are freed and *it is zero again.
 */
static int parse_item(jp *j, cairn__dbuf *name, cairn_list_item *it)
{
    int have_key = 0, have_size = 0;
    int rc = 0;

    if (!eat(j, '{'))
        return CAIRN_CL_EPROTO;
    if (eat(j, '}')) {
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    for (;;) {
        rc = parse_member_name(j, name);
        if (rc != 0)
            goto fail;
        if (name_is(name, "key")) {
            rc = have_key ? CAIRN_CL_EPROTO : parse_string_dup(j, &it->cli_key, &it->cli_key_len);
            have_key = 1;
        } else if (name_is(name, "size")) {
            rc = have_size ? CAIRN_CL_EPROTO : parse_u64(j, &it->cli_size);
            have_size = 1;
        } else if (name_is(name, "etag")) {
            rc = it->cli_etag != NULL ? CAIRN_CL_EPROTO : parse_string_dup(j, &it->cli_etag, NULL);
        } else if (name_is(name, "version")) {
            if (it->cli_version != NULL) {
                rc = CAIRN_CL_EPROTO;
            } else if (peek(j) == '"') {
                rc = parse_string_dup(j, &it->cli_version, NULL);
            } else {
                const char *s;
                size_t n;
                int is_uint;

                rc = parse_number(j, &s, &n, &is_uint);
                if (rc == 0)
                    rc = dup_text(s, n, &it->cli_version);
            }
        } else {
            rc = skip_value(j);
        }
        if (rc != 0)
            goto fail;
        if (eat(j, ','))
            continue;
        if (eat(j, '}'))
            break;
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    if (!have_key || !have_size) {
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    if (it->cli_etag == NULL)
        rc = dup_text("", 0, &it->cli_etag);
    if (rc == 0 && it->cli_version == NULL)
        rc = dup_text("", 0, &it->cli_version);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    item_clear(it);
    return rc;
}

/* Parses the "items" array, appending to l (whose items the caller frees). */
static int parse_items(jp *j, cairn__dbuf *name, cairn_list *l)
{
    size_t alloc = 0;
    int rc;

    if (!eat(j, '['))
        return CAIRN_CL_EPROTO;
    if (eat(j, ']'))
        return 0;
    for (;;) {
        if (l->cl_count == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            cairn_list_item *ni = realloc(l->cl_items, na * sizeof(*ni));

            if (ni == NULL)
                return CAIRN_CL_ENOMEM;
            l->cl_items = ni;
            alloc = na;
        }
        memset(&l->cl_items[l->cl_count], 0, sizeof(l->cl_items[0]));
        rc = parse_item(j, name, &l->cl_items[l->cl_count]);
        if (rc != 0)
            return rc;
        l->cl_count++;
        if (eat(j, ','))
            continue;
        if (eat(j, ']'))
            return 0;
        return CAIRN_CL_EPROTO;
    }
}

void cairn_list_free(cairn_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->cl_count; i++)
        item_clear(&l->cl_items[i]);
    free(l->cl_items);
    free(l->cl_next);
    free(l);
}

/* See the file comment for what is accepted. Nothing leaks on failure. */
int cairn__list_parse(const char *text, size_t len, cairn_list **out)
{
    jp j = {text, text + len, 0};
    cairn__dbuf name;
    cairn_list *l;
    int have_items = 0, have_next = 0;
    int rc = 0;

    *out = NULL;
    cairn__dbuf_init(&name, JSON_STR_MAX);
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return CAIRN_CL_ENOMEM;
    if (!eat(&j, '{') || eat(&j, '}')) {
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    for (;;) {
        rc = parse_member_name(&j, &name);
        if (rc != 0)
            goto fail;
        if (name_is(&name, "items")) {
            rc = have_items ? CAIRN_CL_EPROTO : parse_items(&j, &name, l);
            have_items = 1;
        } else if (name_is(&name, "next")) {
            if (have_next)
                rc = CAIRN_CL_EPROTO;
            else if (peek(&j) == 'n')
                rc = parse_literal(&j, "null");
            else
                rc = parse_string_dup(&j, &l->cl_next, &l->cl_next_len);
            have_next = 1;
        } else {
            rc = skip_value(&j);
        }
        if (rc != 0)
            goto fail;
        if (eat(&j, ','))
            continue;
        if (eat(&j, '}'))
            break;
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    ws(&j);
    if (!have_items || j.jp_p != j.jp_end) {
        rc = CAIRN_CL_EPROTO;
        goto fail;
    }
    cairn__dbuf_free(&name);
    *out = l;
    return 0;
fail:
    cairn__dbuf_free(&name);
    cairn_list_free(l);
    return rc;
}

/* Copies src into dst[size], cutting at a UTF-8 character boundary. */
static void copy_trunc(char *dst, size_t size, const cairn__dbuf *src)
{
    size_t n = src->db_len;

    if (size == 0)
        return;
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src->db_data[n] & 0xc0) == 0x80)
            n--;
    }
    if (n > 0)
        memcpy(dst, src->db_data, n);
    dst[n] = '\0';
}

/* Keeps whatever "error"/"message" strings were read before any syntax
 * error: an error body may have been cut at the client's cap. */
void cairn__error_parse(const char *text, size_t len, char *code, size_t codesz, char *msg,
                        size_t msgsz)
{
    jp j = {text, text, 0};
    cairn__dbuf name, val;

    if (codesz > 0)
        code[0] = '\0';
    if (msgsz > 0)
        msg[0] = '\0';
    if (text == NULL)
        return;
    j.jp_end = text + len;
    cairn__dbuf_init(&name, JSON_STR_MAX);
    cairn__dbuf_init(&val, JSON_STR_MAX);
    if (!eat(&j, '{'))
        goto done;
    for (;;) {
        int rc;

        if (parse_member_name(&j, &name) != 0)
            goto done;
        if ((name_is(&name, "error") || name_is(&name, "message")) && peek(&j) == '"') {
            val.db_len = 0;
            rc = parse_string(&j, &val);
            if (rc == 0 && val.db_data != NULL) {
                if (name_is(&name, "error"))
                    copy_trunc(code, codesz, &val);
                else
                    copy_trunc(msg, msgsz, &val);
            }
        } else {
            rc = skip_value(&j);
        }
        if (rc != 0 || !eat(&j, ','))
            goto done;
    }
done:
    cairn__dbuf_free(&name);
    cairn__dbuf_free(&val);
}
