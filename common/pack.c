/*
 * pack.c -- msgpack-c helpers with strict type and bound checks.
 *
 * Decoding validates the raw bytes first (well-formed, container counts
 * plausible for the bytes left, depth bounded, nothing trailing) so that
 * msgpack-c never sees input that could make it allocate for a claimed but
 * absent array of four billion elements.
 */
#include "common/pack.h"
#include "common/error.h"

#include <errno.h>
#include <string.h>

/* msgpack-c's C unpacker cannot nest deeper than its embedded stack. */
#define PACK_DEPTH_LIMIT 32 /* MSGPACK_EMBED_STACK_SIZE in msgpack-c 4.0 */

/* ---- encoding ---- */

static int pack_rc(int mrc)
{
    return mrc == 0 ? 0 : -ENOMEM;
}

int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    int rc;

    if (len > UINT32_MAX || (s == NULL && len > 0))
        return CAIRN_EINVAL;
    rc = pack_rc(msgpack_pack_str(pk, len));
    if (rc == 0 && len > 0)
        rc = pack_rc(msgpack_pack_str_body(pk, s, len));
    return rc;
}

int pack_cstr(msgpack_packer *pk, const char *s)
{
    if (s == NULL)
        return CAIRN_EINVAL;
    return pack_str(pk, s, strlen(s));
}

int pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
    int rc;

    if (len > UINT32_MAX || (p == NULL && len > 0))
        return CAIRN_EINVAL;
    rc = pack_rc(msgpack_pack_bin(pk, len));
    if (rc == 0 && len > 0)
        rc = pack_rc(msgpack_pack_bin_body(pk, p, len));
    return rc;
}

int pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    int rc = pack_cstr(pk, key);

    return rc < 0 ? rc : pack_rc(msgpack_pack_uint64(pk, v));
}

int pack_kv_i64(msgpack_packer *pk, const char *key, int64_t v)
{
    int rc = pack_cstr(pk, key);

    return rc < 0 ? rc : pack_rc(msgpack_pack_int64(pk, v));
}

int pack_kv_bool(msgpack_packer *pk, const char *key, int v)
{
    int rc = pack_cstr(pk, key);

    if (rc < 0)
        return rc;
    return pack_rc(v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

int pack_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t len)
{
    int rc = pack_cstr(pk, key);

    return rc < 0 ? rc : pack_str(pk, s, len);
}

int pack_kv_bin(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
    int rc = pack_cstr(pk, key);

    return rc < 0 ? rc : pack_bin(pk, p, len);
}

/* ---- raw validation ---- */

/* Reads a big-endian unsigned integer of n bytes (1, 2 or 4). */
static uint64_t pack_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * Decodes the header of the object at d[pos..len): sets *skip to the bytes
 * the header plus any payload occupy and *items to the number of child
 * objects that follow it (0 for scalars), *container to whether it is an
 * array or map. CAIRN_EINVAL on a reserved byte or
 * when the header or payload runs past len.
 */
static int pack_head(const uint8_t *d, size_t len, size_t pos, size_t *skip, uint64_t *items,
                     int *container)
{
    uint8_t c = d[pos];
    size_t left = len - pos; /* >= 1 */
    size_t hdr = 1, lenbytes = 0;
    uint64_t payload = 0;

    *items = 0;
    *container = (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        payload = 0;
    } else if (c >= 0x80 && c <= 0x8f) {
        *items = 2u * (c & 0x0fu);
    } else if (c >= 0x90 && c <= 0x9f) {
        *items = c & 0x0fu;
    } else if (c >= 0xa0 && c <= 0xbf) {
        payload = c & 0x1fu;
    } else {
        switch (c) {
        case 0xc4:
        case 0xd9:
            lenbytes = 1;
            break; /* bin8, str8 */
        case 0xc5:
        case 0xda:
            lenbytes = 2;
            break; /* bin16, str16 */
        case 0xc6:
        case 0xdb:
            lenbytes = 4;
            break; /* bin32, str32 */
        case 0xc7:
            lenbytes = 1;
            hdr = 2;
            break; /* ext8: len, type */
        case 0xc8:
            lenbytes = 2;
            hdr = 2;
            break;
        case 0xc9:
            lenbytes = 4;
            hdr = 2;
            break;
        case 0xca:
            payload = 4;
            break;
        case 0xcb:
            payload = 8;
            break;
        case 0xcc:
        case 0xd0:
            payload = 1;
            break;
        case 0xcd:
        case 0xd1:
            payload = 2;
            break;
        case 0xce:
        case 0xd2:
            payload = 4;
            break;
        case 0xcf:
        case 0xd3:
            payload = 8;
            break;
        case 0xd4:
            payload = 2;
            break; /* fixext1: type + 1 */
        case 0xd5:
            payload = 3;
            break;
        case 0xd6:
            payload = 5;
            break;
        case 0xd7:
            payload = 9;
            break;
        case 0xd8:
            payload = 17;
            break;
        case 0xdc:
        case 0xdd:
        case 0xde:
        case 0xdf:
            break;
        default:
            return CAIRN_EINVAL; /* 0xc1: never used */
        }
        if (c >= 0xdc) {
            size_t nb = (c == 0xdc || c == 0xde) ? 2 : 4;
            if (left < 1 + nb)
                return CAIRN_EINVAL;
            *items = pack_be(d + pos + 1, nb);
            if (c >= 0xde)
                *items *= 2;
            hdr = 1 + nb;
        } else if (lenbytes > 0) {
            if (left < 1 + lenbytes)
                return CAIRN_EINVAL;
            payload = pack_be(d + pos + 1, lenbytes);
            hdr = 1 + lenbytes + (hdr == 2 ? 1 : 0);
        }
    }
    if (left < hdr || payload > left - hdr)
        return CAIRN_EINVAL;
    *skip = hdr + (size_t)payload;
    return 0;
}

/*
 * Walks the encoded object iteratively: depth counts containers (a scalar is
 * depth 0, {"a":1} depth 1, {"a":[1]} depth 2). Each child needs at least one
 * byte, so a count above the bytes left is rejected before anything is
 * allocated.
 */
static int pack_validate(const uint8_t *d, size_t len, int max_depth)
{
    uint64_t stack[PACK_DEPTH_LIMIT + 1];
    uint64_t items;
    size_t pos = 0, skip;
    int sp = 0, rc, container;

    stack[0] = 1;
    while (sp >= 0) {
        if (stack[sp] == 0) {
            sp--;
            continue;
        }
        if (pos >= len)
            return CAIRN_EINVAL; /* truncated */
        stack[sp]--;
        rc = pack_head(d, len, pos, &skip, &items, &container);
        if (rc < 0)
            return rc;
        pos += skip;
        if (!container)
            continue;
        if (sp + 1 > max_depth || sp + 1 > PACK_DEPTH_LIMIT || items > len - pos)
            return CAIRN_EINVAL;
        stack[++sp] = items;
    }
    return pos == len ? 0 : CAIRN_EINVAL;
}

/*
 * Borrows data; *result is initialized here (pass a fresh or destroyed one)
 * and owns the zone; strings and binaries in it point into data, so data
 * must outlive the object.
 */
int pack_unpack_one(const void *data, size_t len, int max_depth, msgpack_unpacked *result)
{
    size_t off = 0;
    int rc;

    msgpack_unpacked_init(result);
    if (data == NULL || len == 0 || max_depth < 0)
        return CAIRN_EINVAL;
    rc = pack_validate(data, len, max_depth);
    if (rc < 0)
        return rc;
    rc = msgpack_unpack_next(result, data, len, &off);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        return CAIRN_ENOMEM;
    if (rc != MSGPACK_UNPACK_SUCCESS || off != len)
        return CAIRN_EINVAL;
    return 0;
}

/* ---- getters ---- */

/* A key occurring twice is ambiguous and so rejected as CAIRN_EINVAL. */
int pack_map_get(const msgpack_object *map, const char *key, const msgpack_object **out)
{
    const msgpack_object_kv *kv;
    const msgpack_object *found = NULL;
    size_t klen;
    uint32_t i;

    *out = NULL;
    if (map == NULL || key == NULL || map->type != MSGPACK_OBJECT_MAP)
        return CAIRN_EINVAL;
    klen = strlen(key);
    for (i = 0; i < map->via.map.size; i++) {
        kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != klen ||
            memcmp(kv->key.via.str.ptr, key, klen) != 0)
            continue;
        if (found != NULL)
            return CAIRN_EINVAL;
        found = &kv->val;
    }
    if (found == NULL)
        return CAIRN_ENOTFOUND;
    *out = found;
    return 0;
}

int pack_obj_u64(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return CAIRN_EINVAL;
    *out = o->via.u64;
    return 0;
}

int pack_obj_str(const msgpack_object *o, size_t max_len, const char **p, size_t *len)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size > max_len)
        return CAIRN_EINVAL;
    *p = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int pack_get_u64(const msgpack_object *map, const char *key, uint64_t max, uint64_t *out)
{
    const msgpack_object *o;
    int rc = pack_map_get(map, key, &o);

    return rc < 0 ? rc : pack_obj_u64(o, max, out);
}

int pack_get_i64(const msgpack_object *map, const char *key, int64_t *out)
{
    const msgpack_object *o;
    int rc = pack_map_get(map, key, &o);

    if (rc < 0)
        return rc;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return CAIRN_EINVAL;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return CAIRN_EINVAL;
}

int pack_get_bool(const msgpack_object *map, const char *key, int *out)
{
    const msgpack_object *o;
    int rc = pack_map_get(map, key, &o);

    if (rc < 0)
        return rc;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return CAIRN_EINVAL;
    *out = o->via.boolean ? 1 : 0;
    return 0;
}

int pack_get_str(const msgpack_object *map, const char *key, size_t max_len, const char **p,
                 size_t *len)
{
    const msgpack_object *o;
    int rc = pack_map_get(map, key, &o);

    return rc < 0 ? rc : pack_obj_str(o, max_len, p, len);
}

int pack_get_bin(const msgpack_object *map, const char *key, size_t max_len, size_t exact_len,
                 const uint8_t **p, size_t *len)
{
    const msgpack_object *o;
    int rc = pack_map_get(map, key, &o);

    if (rc < 0)
        return rc;
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > max_len)
        return CAIRN_EINVAL;
    if (exact_len != 0 && o->via.bin.size != exact_len)
        return CAIRN_EINVAL;
    *p = (const uint8_t *)o->via.bin.ptr;
    *len = o->via.bin.size;
    return 0;
}
