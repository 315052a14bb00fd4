/*
 * record.c -- msgpack encoding of records and file entries (see record.h).
 *
 * Encoders write into the caller's fixed buffer through a msgpack_packer
 * whose write callback refuses to overflow it; they refuse to encode
 * anything the decoder would reject, so every stored value round-trips.
 * Decoders trust nothing: every known field is type and bound checked.
 */
#include "storage/record.h"

#include <msgpack.h>
#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "storage/keys.h"

/* Unknown fields may nest (forward compatibility), but not without bound. */
#define RECORD_MAX_DEPTH 8

typedef struct fixbuf {
    uint8_t *fb_p;
    size_t fb_cap;
    size_t fb_len;
} fixbuf_t;

/* msgpack_packer write callback: appends or fails (-1) without writing. */
static int fixbuf_write(void *data, const char *buf, size_t len)
{
    fixbuf_t *fb = data;

    if (len > fb->fb_cap - fb->fb_len)
        return -1;
    memcpy(fb->fb_p + fb->fb_len, buf, len);
    fb->fb_len += len;
    return 0;
}

static int state_valid(uint64_t s)
{
    return s == STORE_COMPLETE || s == STORE_RECEIVING || s == STORE_TOMBSTONE;
}

/* An inline record is complete, names no file (not even a previous one)
 * and is small enough for a reader to copy. */
static int inline_valid(const store_stat_t *st, uint64_t prev)
{
    return st->st_state == STORE_COMPLETE && st->st_file_id == 0 && prev == 0 &&
           st->st_size <= STORE_INLINE_LIMIT;
}

/*
 * Encodes r into out[0..cap). Returns the encoded length, or CAIRN_EINVAL
 * when r breaks a record invariant (key not 1..1024 bytes of valid UTF-8,
 * unknown state, origin 0, tombstone with a file id, content type longer
 * than 255 bytes or unterminated, inline flag not 0/1 or on a record that
 * is not complete / names a file / is too big, damaged flag not 0/1 or on
 * a record that is not complete) or the encoding does not
 * fit in cap. out's contents are unspecified on failure.
 */
int record_encode(const record_t *r, uint8_t *out, size_t cap)
{
    const store_stat_t *st = &r->r_st;
    msgpack_packer pk;
    fixbuf_t fb = {.fb_p = out, .fb_cap = cap, .fb_len = 0};
    size_t ctlen;
    size_t nfields = 7;
    int rc = 0;

    if (st->st_klen > STORE_KEY_MAX || key_validate(st->st_key, st->st_klen) < 0)
        return CAIRN_EINVAL;
    if (!state_valid((uint64_t)st->st_state) || st->st_version.sv_origin == 0)
        return CAIRN_EINVAL;
    if (st->st_state == STORE_TOMBSTONE && st->st_file_id != 0)
        return CAIRN_EINVAL;
    ctlen = strnlen(st->st_ctype, sizeof(st->st_ctype));
    if (ctlen > STORE_CTYPE_MAX)
        return CAIRN_EINVAL;
    if (ctlen > 0)
        nfields++;
    if (r->r_prev_file != 0)
        nfields++;
    if (st->st_inline != 0 && (st->st_inline != 1 || !inline_valid(st, r->r_prev_file)))
        return CAIRN_EINVAL;
    if (st->st_inline)
        nfields++;
    if (st->st_damaged != 0 && (st->st_damaged != 1 || st->st_state != STORE_COMPLETE))
        return CAIRN_EINVAL;
    if (st->st_damaged)
        nfields++;

    msgpack_packer_init(&pk, &fb, fixbuf_write);
    rc |= msgpack_pack_map(&pk, nfields) != 0;
    rc |= pack_kv_bin(&pk, "k", st->st_key, st->st_klen) != 0;
    rc |= pack_kv_u64(&pk, "v", st->st_version.sv_hlc) != 0;
    rc |= pack_kv_u64(&pk, "o", st->st_version.sv_origin) != 0;
    rc |= pack_kv_u64(&pk, "s", (uint64_t)st->st_state) != 0;
    rc |= pack_kv_u64(&pk, "f", st->st_file_id) != 0;
    rc |= pack_kv_u64(&pk, "z", st->st_size) != 0;
    rc |= pack_kv_bin(&pk, "h", st->st_hash, STORE_HASH_LEN) != 0;
    if (ctlen > 0)
        rc |= pack_kv_str(&pk, "t", st->st_ctype, ctlen) != 0;
    if (r->r_prev_file != 0)
        rc |= pack_kv_u64(&pk, "p", r->r_prev_file) != 0;
    if (st->st_inline)
        rc |= pack_kv_u64(&pk, "i", 1) != 0;
    if (st->st_damaged)
        rc |= pack_kv_u64(&pk, "d", 1) != 0;
    if (rc != 0)
        return CAIRN_EINVAL;
    return (int)fb.fb_len;
}

/*
 * Decodes and validates a record. Returns 0 or CAIRN_ECORRUPT; *r is fully
 * overwritten on success and unspecified on failure. Nothing of data is
 * borrowed after return (key and content type are copied).
 */
int record_decode(const void *data, size_t len, record_t *r)
{
    store_stat_t *st = &r->r_st;
    msgpack_unpacked u;
    const msgpack_object *map;
    const uint8_t *p;
    const char *s;
    size_t n;
    uint64_t v;
    int rc;

    msgpack_unpacked_init(&u);
    memset(r, 0, sizeof(*r));
    rc = pack_unpack_one(data, len, RECORD_MAX_DEPTH, &u);
    if (rc < 0)
        goto fail;
    map = &u.data;
    if (map->type != MSGPACK_OBJECT_MAP) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }

    rc = pack_get_bin(map, "k", STORE_KEY_MAX, 0, &p, &n);
    if (rc < 0)
        goto fail;
    if (key_validate((const char *)p, n) < 0) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    memcpy(st->st_key, p, n);
    st->st_key[n] = '\0';
    st->st_klen = n;

    rc = pack_get_u64(map, "v", UINT64_MAX, &st->st_version.sv_hlc);
    if (rc < 0)
        goto fail;
    rc = pack_get_u64(map, "o", UINT16_MAX, &v);
    if (rc < 0)
        goto fail;
    if (v == 0) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    st->st_version.sv_origin = (uint16_t)v;

    rc = pack_get_u64(map, "s", STORE_TOMBSTONE, &v);
    if (rc < 0)
        goto fail;
    if (!state_valid(v)) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    st->st_state = (store_state_t)v;

    rc = pack_get_u64(map, "f", UINT64_MAX, &st->st_file_id);
    if (rc < 0)
        goto fail;
    if (st->st_state == STORE_TOMBSTONE && st->st_file_id != 0) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    rc = pack_get_u64(map, "z", UINT64_MAX, &st->st_size);
    if (rc < 0)
        goto fail;
    rc = pack_get_bin(map, "h", STORE_HASH_LEN, STORE_HASH_LEN, &p, &n);
    if (rc < 0)
        goto fail;
    if (n != STORE_HASH_LEN) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    memcpy(st->st_hash, p, STORE_HASH_LEN);

    rc = pack_get_str(map, "t", STORE_CTYPE_MAX, &s, &n);
    if (rc == CAIRN_ENOTFOUND) {
        n = 0;
    } else if (rc < 0) {
        goto fail;
    } else if (n > STORE_CTYPE_MAX || memchr(s, '\0', n) != NULL) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    } else {
        memcpy(st->st_ctype, s, n);
    }
    st->st_ctype[n] = '\0';

    rc = pack_get_u64(map, "p", UINT64_MAX, &r->r_prev_file);
    if (rc == CAIRN_ENOTFOUND)
        r->r_prev_file = 0;
    else if (rc < 0)
        goto fail;

    rc = pack_get_u64(map, "i", 1, &v);
    if (rc == CAIRN_ENOTFOUND)
        v = 0;
    else if (rc < 0)
        goto fail;
    if (v == 1 && !inline_valid(st, r->r_prev_file)) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    st->st_inline = (int)v;

    rc = pack_get_u64(map, "d", 1, &v);
    if (rc == CAIRN_ENOTFOUND)
        v = 0;
    else if (rc < 0)
        goto fail;
    if (v == 1 && st->st_state != STORE_COMPLETE) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    st->st_damaged = (int)v;

    msgpack_unpacked_destroy(&u);
    return 0;

fail:
    msgpack_unpacked_destroy(&u);
    return CAIRN_ECORRUPT;
}

/*
 * Encodes a file entry into out[0..cap): the record key in its encoded form
 * (1..KEY_ENC_MAX bytes) and the version. Returns the length, or
 * CAIRN_EINVAL for a bad argument or when it does not fit.
 */
int fileent_encode(const uint8_t *enc_key, size_t enc_len, const store_version_t *v, uint8_t *out,
                   size_t cap)
{
    msgpack_packer pk;
    fixbuf_t fb = {.fb_p = out, .fb_cap = cap, .fb_len = 0};
    int rc = 0;

    if (enc_len == 0 || enc_len > KEY_ENC_MAX || v->sv_origin == 0)
        return CAIRN_EINVAL;
    msgpack_packer_init(&pk, &fb, fixbuf_write);
    rc |= msgpack_pack_map(&pk, 3) != 0;
    rc |= pack_kv_bin(&pk, "e", enc_key, enc_len) != 0;
    rc |= pack_kv_u64(&pk, "v", v->sv_hlc) != 0;
    rc |= pack_kv_u64(&pk, "o", v->sv_origin) != 0;
    if (rc != 0)
        return CAIRN_EINVAL;
    return (int)fb.fb_len;
}

/*
 * Decodes a file entry: enc_key must hold KEY_ENC_MAX bytes. Returns 0 or
 * CAIRN_ECORRUPT (outputs unspecified then). Copies, borrows nothing.
 */
int fileent_decode(const void *data, size_t len, uint8_t *enc_key, size_t *enc_len,
                   store_version_t *v)
{
    msgpack_unpacked u;
    const msgpack_object *map;
    const uint8_t *p;
    size_t n;
    uint64_t o;
    int rc;

    msgpack_unpacked_init(&u);
    rc = pack_unpack_one(data, len, RECORD_MAX_DEPTH, &u);
    if (rc < 0)
        goto fail;
    map = &u.data;
    if (map->type != MSGPACK_OBJECT_MAP) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    rc = pack_get_bin(map, "e", KEY_ENC_MAX, 0, &p, &n);
    if (rc < 0)
        goto fail;
    if (n == 0 || n > KEY_ENC_MAX) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    rc = pack_get_u64(map, "v", UINT64_MAX, &v->sv_hlc);
    if (rc < 0)
        goto fail;
    rc = pack_get_u64(map, "o", UINT16_MAX, &o);
    if (rc < 0)
        goto fail;
    if (o == 0) {
        rc = CAIRN_ECORRUPT;
        goto fail;
    }
    v->sv_origin = (uint16_t)o;
    memcpy(enc_key, p, n);
    *enc_len = n;
    msgpack_unpacked_destroy(&u);
    return 0;

fail:
    msgpack_unpacked_destroy(&u);
    return CAIRN_ECORRUPT;
}

void u64_to_be(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t u64_from_be(const uint8_t in[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}
