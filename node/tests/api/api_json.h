/*
 * api_json.h -- a small strict JSON reader for the node API tests.
 *
 * The tests must not trust the server's JSON writer, so they parse every
 * JSON body with this independent reader: RFC 8259 only (no trailing commas,
 * no comments, control characters in strings must be escaped, strings must
 * be valid UTF-8, \uXXXX escapes incl. surrogate pairs are decoded).
 */
#ifndef CAIRN_API_JSON_H
#define CAIRN_API_JSON_H

#include <stddef.h>

typedef enum {
    AJ_NULL,
    AJ_BOOL,
    AJ_NUM,
    AJ_STR,
    AJ_ARR,
    AJ_OBJ,
} api_json_type_t;

typedef struct api_json {
    api_json_type_t aj_type;
    int aj_bool;                /* AJ_BOOL */
    double aj_num;              /* AJ_NUM */
    char *aj_str;               /* AJ_STR: decoded, NUL-terminated; AJ_NUM: raw text */
    size_t aj_len;              /* length of aj_str */
    struct api_json **aj_items; /* AJ_ARR / AJ_OBJ values */
    char **aj_keys;             /* AJ_OBJ member names (decoded) */
    size_t *aj_keylens;
    size_t aj_n; /* number of items / members */
} api_json_t;

/*
 * Parses exactly one JSON value (surrounding whitespace allowed) from
 * s[0..len). On success returns 0 and a tree in *out that the caller frees
 * with api_json_free(). On malformed input returns -1, *out is NULL and, if
 * err is not NULL, a static description of the first problem is stored.
 */
int api_json_parse(const char *s, size_t len, api_json_t **out, const char **err);

/* Frees a tree from api_json_parse(); safe on NULL. */
void api_json_free(api_json_t *j);

/* Member `key` of an object (borrowed from obj), or NULL when obj is not an
 * object or has no such member. */
const api_json_t *api_json_get(const api_json_t *obj, const char *key);

/* The member's string (borrowed), or NULL when absent or not a string. */
const char *api_json_str(const api_json_t *obj, const char *key);

#endif
