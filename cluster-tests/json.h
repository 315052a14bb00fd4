/*
 * json.h -- a small strict JSON reader (RFC 8259) for harness histories.
 *
 * The harness writes its histories itself and reads them back for
 * `cairn-harness check`; this parses them into a tree. Strict: no trailing
 * commas, no comments, no leading zeros, no control characters in strings,
 * surrogate pairs checked, depth bounded (JSON_MAX_DEPTH), nothing but
 * blanks after the value. Strings are decoded to UTF-8 and may contain NUL
 * (use jv_len).
 */
#ifndef CAIRN_HARNESS_JSON_H
#define CAIRN_HARNESS_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type_t;

typedef struct jv {
    jv_type_t jv_type;
    int jv_bool;
    double jv_num;
    int64_t jv_int; /* exact value when jv_is_int */
    int jv_is_int;  /* an integer that fits int64 */
    char *jv_str;   /* JV_STR: NUL-terminated, jv_len bytes */
    size_t jv_len;
    struct jv *jv_items; /* JV_ARR, JV_OBJ: jv_count values */
    char **jv_keys;      /* JV_OBJ: jv_count member names (NUL-terminated) */
    size_t jv_count;
} jv_t;

/*
 * Parses text[0..len). On success *out owns the tree (free with json_free).
 * On failure *out is NULL, err (errlen bytes) says what and where, and
 * -EINVAL or -ENOMEM is returned.
 */
int json_parse(const char *text, size_t len, jv_t **out, char *err, size_t errlen);

/* Frees a tree returned by json_parse; NULL is allowed. */
void json_free(jv_t *v);

/* Member of an object by name (first match), or NULL. Borrowed from obj. */
const jv_t *json_get(const jv_t *obj, const char *name);

/* Typed accessors with defaults: the default is returned when v is NULL or
 * of another type. json_str returns a borrowed string. */
int64_t json_int(const jv_t *v, int64_t dflt);
const char *json_str(const jv_t *v, const char *dflt);
int json_bool(const jv_t *v, int dflt);

#endif
