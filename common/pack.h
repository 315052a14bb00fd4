/*
 * pack.h -- msgpack-c helpers with strict type and bound checks.
 *
 * cairn's msgpack documents are maps with short string keys. Decoding never
 * trusts the input: every getter checks the type, the bound it is given and
 * returns CAIRN_EINVAL on a mismatch; a missing key is CAIRN_ENOTFOUND.
 * Pointers returned by getters borrow from the msgpack_object (and so from
 * the buffer or zone it was unpacked into): valid as long as that is.
 */
#ifndef CAIRN_PACK_H
#define CAIRN_PACK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* ---- encoding (on a msgpack_packer; msgpack-c's own errors are -ENOMEM) ---- */
int pack_str(msgpack_packer *pk, const char *s, size_t len);
int pack_cstr(msgpack_packer *pk, const char *s);
int pack_bin(msgpack_packer *pk, const void *p, size_t len);
int pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v);
int pack_kv_i64(msgpack_packer *pk, const char *key, int64_t v);
int pack_kv_bool(msgpack_packer *pk, const char *key, int v);
int pack_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t len);
int pack_kv_bin(msgpack_packer *pk, const char *key, const void *p, size_t len);

/* ---- decoding ---- */
/*
 * Unpacks exactly one object from data[0..len) into *result (caller calls
 * msgpack_unpacked_destroy afterwards, also on failure). Trailing bytes,
 * truncated input or nesting deeper than max_depth are CAIRN_EINVAL.
 */
int pack_unpack_one(const void *data, size_t len, int max_depth, msgpack_unpacked *result);
/* Looks key up in a map object; CAIRN_EINVAL if map is not a map. */
int pack_map_get(const msgpack_object *map, const char *key, const msgpack_object **out);
int pack_get_u64(const msgpack_object *map, const char *key, uint64_t max, uint64_t *out);
int pack_get_i64(const msgpack_object *map, const char *key, int64_t *out);
int pack_get_bool(const msgpack_object *map, const char *key, int *out);
/* Strings must be msgpack str; max_len bounds the length. */
int pack_get_str(const msgpack_object *map, const char *key, size_t max_len, const char **p,
                 size_t *len);
/* Binary must be msgpack bin; exact_len != 0 requires that exact length. */
int pack_get_bin(const msgpack_object *map, const char *key, size_t max_len, size_t exact_len,
                 const uint8_t **p, size_t *len);
/* Same checks on a bare object. */
int pack_obj_u64(const msgpack_object *o, uint64_t max, uint64_t *out);
int pack_obj_str(const msgpack_object *o, size_t max_len, const char **p, size_t *len);

#endif
