/*
 * test_record.c -- msgpack records and file entries: round trips, strict
 * decoding of malformed input, fuzzing, big-endian integer keys.
 */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "storage/keys.h"
#include "storage/record.h"

static void sample_record(record_t *r, store_state_t state)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->r_st.st_key, "photos/2024/caf\xc3\xa9.jpg");
    r->r_st.st_klen = strlen(r->r_st.st_key);
    r->r_st.st_version.sv_hlc = 0x0001900000000005ULL;
    r->r_st.st_version.sv_origin = 3;
    r->r_st.st_state = state;
    r->r_st.st_file_id = state == STORE_TOMBSTONE ? 0 : 0x1234;
    r->r_st.st_size = state == STORE_TOMBSTONE ? 0 : 98765;
    for (int i = 0; i < STORE_HASH_LEN; i++)
        r->r_st.st_hash[i] = (uint8_t)(i * 17 + 1);
    if (state != STORE_TOMBSTONE)
        strcpy(r->r_st.st_ctype, "image/jpeg");
    r->r_prev_file = state == STORE_RECEIVING ? 0x1200 : 0;
}

static void assert_records_eq(const record_t *a, const record_t *b)
{
    ck_assert_uint_eq(a->r_st.st_klen, b->r_st.st_klen);
    ck_assert_mem_eq(a->r_st.st_key, b->r_st.st_key, a->r_st.st_klen);
    ck_assert_uint_eq(b->r_st.st_key[b->r_st.st_klen], '\0');
    ck_assert(a->r_st.st_version.sv_hlc == b->r_st.st_version.sv_hlc);
    ck_assert_uint_eq(a->r_st.st_version.sv_origin, b->r_st.st_version.sv_origin);
    ck_assert_int_eq(a->r_st.st_state, b->r_st.st_state);
    ck_assert(a->r_st.st_file_id == b->r_st.st_file_id);
    ck_assert(a->r_st.st_size == b->r_st.st_size);
    ck_assert_mem_eq(a->r_st.st_hash, b->r_st.st_hash, STORE_HASH_LEN);
    ck_assert_str_eq(a->r_st.st_ctype, b->r_st.st_ctype);
    ck_assert(a->r_prev_file == b->r_prev_file);
    ck_assert_int_eq(a->r_st.st_inline, b->r_st.st_inline);
}

static void roundtrip(const record_t *r)
{
    uint8_t buf[RECORD_ENC_MAX];
    record_t back;
    int n = record_encode(r, buf, sizeof(buf));

    ck_assert_int_gt(n, 0);
    memset(&back, 0x5a, sizeof(back));
    ck_assert_int_eq(record_decode(buf, (size_t)n, &back), 0);
    assert_records_eq(r, &back);
}

/* ---------------------------------------------------------- round trips */

START_TEST(test_roundtrip_each_state)
{
    record_t r;

    sample_record(&r, (store_state_t)_i);
    roundtrip(&r);
}
END_TEST

START_TEST(test_roundtrip_extremes)
{
    record_t r;
    uint8_t buf[RECORD_ENC_MAX];
    int n;

    /* the largest record: 1024-byte key, 255-byte ctype, max integers */
    sample_record(&r, STORE_RECEIVING);
    for (int i = 0; i < STORE_KEY_MAX; i += 4)
        memcpy(r.r_st.st_key + i, "\xf0\x9f\x98\x80", 4);
    r.r_st.st_key[STORE_KEY_MAX] = '\0';
    r.r_st.st_klen = STORE_KEY_MAX;
    memset(r.r_st.st_ctype, 'c', STORE_CTYPE_MAX);
    r.r_st.st_ctype[STORE_CTYPE_MAX] = '\0';
    r.r_st.st_version.sv_hlc = UINT64_MAX;
    r.r_st.st_version.sv_origin = UINT16_MAX;
    r.r_st.st_file_id = UINT64_MAX;
    r.r_st.st_size = UINT64_MAX;
    r.r_prev_file = UINT64_MAX;
    n = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_le(n, RECORD_ENC_MAX);
    roundtrip(&r);

    /* the smallest */
    sample_record(&r, STORE_TOMBSTONE);
    strcpy(r.r_st.st_key, "k");
    r.r_st.st_klen = 1;
    r.r_st.st_version.sv_hlc = 0;
    r.r_st.st_version.sv_origin = 1;
    memset(r.r_st.st_hash, 0, STORE_HASH_LEN);
    roundtrip(&r);
}
END_TEST

START_TEST(test_encode_exact_cap)
{
    record_t r;
    uint8_t buf[RECORD_ENC_MAX], small[RECORD_ENC_MAX];
    int n;

    sample_record(&r, STORE_COMPLETE);
    n = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(record_encode(&r, small, (size_t)n), n);
    ck_assert_mem_eq(small, buf, (size_t)n);
    for (int cap = 0; cap < n; cap++)
        ck_assert_int_eq(record_encode(&r, small, (size_t)cap), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_encode_rejects_invalid)
{
    record_t r;
    uint8_t buf[RECORD_ENC_MAX];

    sample_record(&r, STORE_COMPLETE);
    switch (_i) {
    case 0:
        r.r_st.st_klen = 0;
        break;
    case 1:
        memset(r.r_st.st_key, 'a', sizeof(r.r_st.st_key));
        r.r_st.st_klen = STORE_KEY_MAX + 1;
        break;
    case 2:
        r.r_st.st_key[0] = (char)0xff;
        break;
    case 3:
        r.r_st.st_key[2] = '\0';
        break;
    case 4:
        r.r_st.st_state = (store_state_t)0;
        break;
    case 5:
        r.r_st.st_state = (store_state_t)4;
        break;
    case 6:
        r.r_st.st_version.sv_origin = 0;
        break;
    case 7:
        r.r_st.st_state = STORE_TOMBSTONE; /* with a file id */
        break;
    case 8:
        memset(r.r_st.st_ctype, 't', sizeof(r.r_st.st_ctype)); /* unterminated */
        break;
    default:
        ck_abort();
    }
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
}
END_TEST

typedef enum { F_OMIT, F_UINT, F_NEG, F_BIN, F_STR, F_BOOL, F_FLOAT, F_NIL, F_ARRAY } fkind_t;

typedef struct field {
    const char *fd_name;
    fkind_t fd_kind;
    uint64_t fd_u;
    const void *fd_p;
    size_t fd_len;
} field_t;

static const uint8_t hash16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static char big[2048];

static void pack_field(msgpack_packer *pk, const field_t *f)
{
    msgpack_pack_str(pk, strlen(f->fd_name));
    msgpack_pack_str_body(pk, f->fd_name, strlen(f->fd_name));
    switch (f->fd_kind) {
    case F_UINT:
        msgpack_pack_uint64(pk, f->fd_u);
        break;
    case F_NEG:
        msgpack_pack_int64(pk, -(int64_t)f->fd_u);
        break;
    case F_BIN:
        msgpack_pack_bin(pk, f->fd_len);
        msgpack_pack_bin_body(pk, f->fd_p, f->fd_len);
        break;
    case F_STR:
        msgpack_pack_str(pk, f->fd_len);
        msgpack_pack_str_body(pk, f->fd_p, f->fd_len);
        break;
    case F_BOOL:
        msgpack_pack_true(pk);
        break;
    case F_FLOAT:
        msgpack_pack_double(pk, 1.5);
        break;
    case F_NIL:
        msgpack_pack_nil(pk);
        break;
    case F_ARRAY:
        msgpack_pack_array(pk, 1);
        msgpack_pack_uint64(pk, f->fd_u);
        break;
    case F_OMIT:
        break;
    }
}

/* Packs the map of fields (F_OMIT skipped) plus an optional override that
 * replaces the field of the same name or is appended. */
static void build(const field_t *base, size_t n, const field_t *ov, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    size_t count = 0;
    int replaced = 0;

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &base[i];

        if (ov != NULL && strcmp(ov->fd_name, f->fd_name) == 0) {
            f = ov;
            replaced = 1;
        }
        if (f->fd_kind != F_OMIT)
            count++;
    }
    if (ov != NULL && !replaced && ov->fd_kind != F_OMIT)
        count++;
    msgpack_pack_map(&pk, count);
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &base[i];

        if (ov != NULL && strcmp(ov->fd_name, f->fd_name) == 0)
            f = ov;
        if (f->fd_kind != F_OMIT)
            pack_field(&pk, f);
    }
    if (ov != NULL && !replaced && ov->fd_kind != F_OMIT)
        pack_field(&pk, ov);
}

#define REC_BASE(state, fid)                                                                       \
    {                                                                                              \
        {"k", F_BIN, 0, "key", 3}, {"v", F_UINT, 77, NULL, 0}, {"o", F_UINT, 2, NULL, 0},          \
            {"s", F_UINT, state, NULL, 0}, {"f", F_UINT, fid, NULL, 0},                            \
            {"z", F_UINT, 10, NULL, 0}, {"h", F_BIN, 0, hash16, 16},                               \
            {"t", F_STR, 0, "text/plain", 10}, {"p", F_UINT, 5, NULL, 0},                          \
    }

typedef struct rcase {
    field_t rc_field;
    int rc_ok;
    int rc_tombstone; /* use the tombstone base record */
} rcase_t;

static const rcase_t rcases[] = {
    /* accepted variations */
    {{"zz", F_UINT, 1, NULL, 0}, 1, 0},    /* unknown key ignored */
    {{"x", F_ARRAY, 1, NULL, 0}, 1, 0},    /* unknown nested value ignored */
    {{"t", F_OMIT, 0, NULL, 0}, 1, 0},     /* ctype optional */
    {{"p", F_OMIT, 0, NULL, 0}, 1, 0},     /* prev optional */
    {{"t", F_STR, 0, "", 0}, 1, 0},        /* empty ctype */
    {{"t", F_STR, 0, big, 255}, 1, 0},     /* longest ctype */
    {{"o", F_UINT, 65535, NULL, 0}, 1, 0}, /* largest origin */
    {{"k", F_BIN, 0, big, 1024}, 1, 0},    /* longest key */
    {{"f", F_UINT, 0, NULL, 0}, 1, 1},     /* tombstone with file 0 */
    /* missing required fields */
    {{"k", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"v", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"o", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"s", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"f", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"z", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"h", F_OMIT, 0, NULL, 0}, 0, 0},
    /* wrong types */
    {{"k", F_STR, 0, "key", 3}, 0, 0},
    {{"k", F_UINT, 1, NULL, 0}, 0, 0},
    {{"v", F_NEG, 1, NULL, 0}, 0, 0},
    {{"v", F_STR, 0, "77", 2}, 0, 0},
    {{"v", F_FLOAT, 0, NULL, 0}, 0, 0},
    {{"o", F_NIL, 0, NULL, 0}, 0, 0},
    {{"s", F_BOOL, 0, NULL, 0}, 0, 0},
    {{"f", F_NEG, 5, NULL, 0}, 0, 0},
    {{"z", F_FLOAT, 0, NULL, 0}, 0, 0},
    {{"h", F_STR, 0, "0123456789abcdef", 16}, 0, 0},
    {{"h", F_ARRAY, 1, NULL, 0}, 0, 0},
    {{"t", F_BIN, 0, "text", 4}, 0, 0},
    {{"t", F_UINT, 1, NULL, 0}, 0, 0},
    {{"p", F_STR, 0, "5", 1}, 0, 0},
    {{"p", F_NEG, 5, NULL, 0}, 0, 0},
    /* out of bounds */
    {{"k", F_BIN, 0, "", 0}, 0, 0},
    {{"k", F_BIN, 0, big, 1025}, 0, 0},
    {{"k", F_BIN, 0, "a\0b", 3}, 0, 0},
    {{"k", F_BIN, 0, "\xc0\xaf", 2}, 0, 0},
    {{"k", F_BIN, 0, "\xed\xa0\x80", 3}, 0, 0},
    {{"o", F_UINT, 0, NULL, 0}, 0, 0},
    {{"o", F_UINT, 65536, NULL, 0}, 0, 0},
    {{"s", F_UINT, 0, NULL, 0}, 0, 0},
    {{"s", F_UINT, 4, NULL, 0}, 0, 0},
    {{"s", F_UINT, 1ull << 40, NULL, 0}, 0, 0},
    {{"h", F_BIN, 0, hash16, 15}, 0, 0},
    {{"h", F_BIN, 0, big, 17}, 0, 0},
    {{"h", F_BIN, 0, "", 0}, 0, 0},
    {{"t", F_STR, 0, big, 256}, 0, 0},
    {{"t", F_STR, 0, "te\0xt", 5}, 0, 0},
    {{"f", F_UINT, 9, NULL, 0}, 0, 1}, /* tombstone with a file id */
    /* the inline flag: only on complete records without files (test_inline_codec) */
    {{"i", F_UINT, 0, NULL, 0}, 1, 0}, /* explicit "not inline" */
    {{"i", F_UINT, 1, NULL, 0}, 0, 0}, /* names file 9 and prev 5 */
    {{"i", F_UINT, 1, NULL, 0}, 0, 1}, /* tombstone */
    {{"i", F_UINT, 2, NULL, 0}, 0, 0},
    {{"i", F_BOOL, 0, NULL, 0}, 0, 0},
    {{"i", F_NEG, 1, NULL, 0}, 0, 0},
};

START_TEST(test_decode_table)
{
    const rcase_t *c = &rcases[_i];
    field_t live[] = REC_BASE(STORE_COMPLETE, 9);
    field_t tomb[] = REC_BASE(STORE_TOMBSTONE, 0);
    msgpack_sbuffer sb;
    record_t r;
    int rc;

    memset(big, 'b', sizeof(big));
    /* the unmodified base decodes, so a rejection below is the override's doing */
    build(c->rc_tombstone ? tomb : live, 9, NULL, &sb);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &r), 0);
    msgpack_sbuffer_destroy(&sb);

    build(c->rc_tombstone ? tomb : live, 9, &c->rc_field, &sb);
    rc = record_decode(sb.data, sb.size, &r);
    ck_assert_msg(c->rc_ok ? rc == 0 : rc == CAIRN_ECORRUPT, "case %d field %s: rc %d", _i,
                  c->rc_field.fd_name, rc);
    if (rc == 0) {
        ck_assert_uint_eq(r.r_st.st_key[r.r_st.st_klen], '\0');
        ck_assert_uint_eq(strlen(r.r_st.st_ctype) <= STORE_CTYPE_MAX, 1);
    }
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Inline records: round trip, and every invariant enforced both ways. */
START_TEST(test_inline_codec)
{
    field_t ok[] = {
        {"k", F_BIN, 0, "key", 3},   {"v", F_UINT, 77, NULL, 0},
        {"o", F_UINT, 2, NULL, 0},   {"s", F_UINT, STORE_COMPLETE, NULL, 0},
        {"f", F_UINT, 0, NULL, 0},   {"z", F_UINT, STORE_INLINE_LIMIT, NULL, 0},
        {"h", F_BIN, 0, hash16, 16}, {"i", F_UINT, 1, NULL, 0},
    };
    static const field_t bad[] = {
        {"s", F_UINT, STORE_RECEIVING, NULL, 0},
        {"f", F_UINT, 1, NULL, 0},
        {"p", F_UINT, 1, NULL, 0},
        {"z", F_UINT, STORE_INLINE_LIMIT + 1, NULL, 0},
    };
    uint8_t buf[RECORD_ENC_MAX];
    msgpack_sbuffer sb;
    record_t r, back;
    int n;

    sample_record(&r, STORE_COMPLETE);
    r.r_st.st_file_id = 0;
    r.r_st.st_size = 1000;
    r.r_st.st_inline = 1;
    roundtrip(&r);
    n = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_eq(record_decode(buf, (size_t)n, &back), 0);
    ck_assert_int_eq(back.r_st.st_inline, 1);
    r.r_st.st_size = 0;
    roundtrip(&r);

    /* encode refuses what decode would refuse */
    r.r_st.st_inline = 2;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_st.st_inline = 1;
    r.r_st.st_file_id = 7;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_st.st_file_id = 0;
    r.r_st.st_state = STORE_RECEIVING;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_st.st_state = STORE_TOMBSTONE;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_st.st_state = STORE_COMPLETE;
    r.r_prev_file = 3;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);
    r.r_prev_file = 0;
    r.r_st.st_size = STORE_INLINE_LIMIT + 1;
    ck_assert_int_eq(record_encode(&r, buf, sizeof(buf)), CAIRN_EINVAL);

    /* decode: the well-formed map, then each invariant broken in turn */
    build(ok, sizeof(ok) / sizeof(ok[0]), NULL, &sb);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &back), 0);
    ck_assert_int_eq(back.r_st.st_inline, 1);
    ck_assert_uint_eq(back.r_st.st_file_id, 0);
    msgpack_sbuffer_destroy(&sb);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build(ok, sizeof(ok) / sizeof(ok[0]), &bad[i], &sb);
        ck_assert_msg(record_decode(sb.data, sb.size, &back) == CAIRN_ECORRUPT, "bad case %zu", i);
        msgpack_sbuffer_destroy(&sb);
    }
}
END_TEST

START_TEST(test_decode_fields_land)
{
    field_t live[] = REC_BASE(STORE_RECEIVING, 9);
    msgpack_sbuffer sb;
    record_t r;

    build(live, 9, NULL, &sb);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &r), 0);
    msgpack_sbuffer_destroy(&sb);
    ck_assert_str_eq(r.r_st.st_key, "key");
    ck_assert_uint_eq(r.r_st.st_klen, 3);
    ck_assert(r.r_st.st_version.sv_hlc == 77);
    ck_assert_uint_eq(r.r_st.st_version.sv_origin, 2);
    ck_assert_int_eq(r.r_st.st_state, STORE_RECEIVING);
    ck_assert(r.r_st.st_file_id == 9);
    ck_assert(r.r_st.st_size == 10);
    ck_assert_mem_eq(r.r_st.st_hash, hash16, 16);
    ck_assert_str_eq(r.r_st.st_ctype, "text/plain");
    ck_assert(r.r_prev_file == 5);
}
END_TEST

START_TEST(test_decode_bad_shapes)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    record_t r;
    uint8_t buf[RECORD_ENC_MAX + 8];
    int n;

    /* not a map */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 0);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &r), CAIRN_ECORRUPT);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_uint64(&pk, 5);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &r), CAIRN_ECORRUPT);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 0);
    ck_assert_int_eq(record_decode(sb.data, sb.size, &r), CAIRN_ECORRUPT);
    msgpack_sbuffer_destroy(&sb);

    /* empty input */
    ck_assert_int_eq(record_decode("", 0, &r), CAIRN_ECORRUPT);
    ck_assert_int_eq(record_decode(NULL, 0, &r), CAIRN_ECORRUPT);

    /* trailing bytes after a valid record */
    sample_record(&r, STORE_COMPLETE);
    n = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(record_decode(buf, (size_t)n, &r), 0);
    buf[n] = 0xc0;
    ck_assert_int_eq(record_decode(buf, (size_t)n + 1, &r), CAIRN_ECORRUPT);

    /* a duplicated key */
    {
        field_t live[] = REC_BASE(STORE_COMPLETE, 9);
        field_t dup[10];

        memcpy(dup, live, sizeof(live));
        dup[9] = (field_t){"v", F_UINT, 78, NULL, 0};
        build(dup, 10, NULL, &sb);
        ck_assert_int_eq(record_decode(sb.data, sb.size, &r), CAIRN_ECORRUPT);
        msgpack_sbuffer_destroy(&sb);
    }

    /* a map claiming far more entries than there are bytes */
    {
        static const uint8_t huge[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k'};
        ck_assert_int_eq(record_decode(huge, sizeof(huge), &r), CAIRN_ECORRUPT);
    }

    /* an unknown field nested deeper than the bound */
    {
        field_t live[] = REC_BASE(STORE_COMPLETE, 9);

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 10);
        for (int i = 0; i < 9; i++)
            pack_field(&pk, &live[i]);
        msgpack_pack_str(&pk, 1);
        msgpack_pack_str_body(&pk, "x", 1);
        for (int i = 0; i < 40; i++)
            msgpack_pack_array(&pk, 1);
        msgpack_pack_nil(&pk);
        ck_assert_int_eq(record_decode(sb.data, sb.size, &r), CAIRN_ECORRUPT);
        msgpack_sbuffer_destroy(&sb);
    }
}
END_TEST

START_TEST(test_decode_every_truncation)
{
    record_t r, back;
    uint8_t buf[RECORD_ENC_MAX];
    int n;

    sample_record(&r, (store_state_t)_i);
    n = record_encode(&r, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    for (int cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc((size_t)cut + 1); /* exact size: ASan sees overreads */

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, (size_t)cut);
        if (record_decode(copy, (size_t)cut, &back) != CAIRN_ECORRUPT)
            ck_abort_msg("truncation at %d of %d accepted", cut, n);
        free(copy);
    }
    ck_assert_int_eq(record_decode(buf, (size_t)n, &back), 0);
}
END_TEST

/* Random garbage and random mutations of valid records: decoding never
 * crashes, and whatever it accepts satisfies the record invariants (so it
 * encodes again). */
START_TEST(test_fuzz)
{
    unsigned seed = 4242;
    uint8_t valid[3][RECORD_ENC_MAX];
    int vlen[3];
    uint8_t *buf;
    record_t r;
    int accepted = 0;

    for (int s = 0; s < 3; s++) {
        sample_record(&r, (store_state_t)(s + 1));
        vlen[s] = record_encode(&r, valid[s], sizeof(valid[s]));
        ck_assert_int_gt(vlen[s], 0);
    }
    for (int iter = 0; iter < 30000; iter++) {
        size_t len;
        int rc;

        if (iter % 2 == 0) {
            len = (size_t)rand_r(&seed) % 200;
            buf = malloc(len + 1);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rand_r(&seed);
            if (len > 0 && iter % 4 == 0)
                buf[0] = (uint8_t)(0x80 | (rand_r(&seed) % 16)); /* a fixmap */
        } else {
            int s = rand_r(&seed) % 3;
            int flips = 1 + rand_r(&seed) % 4;

            len = (size_t)vlen[s];
            if (rand_r(&seed) % 4 == 0)
                len = (size_t)rand_r(&seed) % (len + 1);
            buf = malloc(len + 1);
            memcpy(buf, valid[s], len);
            for (int f = 0; f < flips && len > 0; f++)
                buf[(size_t)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
        }
        rc = record_decode(buf, len, &r);
        if (rc != 0 && rc != CAIRN_ECORRUPT)
            ck_abort_msg("unexpected rc %d", rc);
        if (rc == 0) {
            uint8_t out[RECORD_ENC_MAX];

            accepted++;
            if (record_encode(&r, out, sizeof(out)) <= 0)
                ck_abort_msg("accepted a record that breaks invariants (iter %d)", iter);
        }
        free(buf);
    }
    /* some mutations (e.g. in the hash bytes) stay valid records */
    ck_assert_int_gt(accepted, 0);
}
END_TEST

/* ---------------------------------------------------------- file entries */

START_TEST(test_fileent_roundtrip)
{
    uint8_t enc[KEY_ENC_MAX], back[KEY_ENC_MAX], buf[600];
    char key[KEY_MAX];
    store_version_t v = {.sv_hlc = 0xfedcba9876543210ULL, .sv_origin = 65535}, bv;
    size_t el, bl;
    int n;

    memset(key, 'q', sizeof(key));
    el = key_encode(key, sizeof(key), enc);
    ck_assert_uint_eq(el, KEY_ENC_MAX);
    n = fileent_encode(enc, el, &v, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(fileent_decode(buf, (size_t)n, back, &bl, &bv), 0);
    ck_assert_uint_eq(bl, el);
    ck_assert_mem_eq(back, enc, el);
    ck_assert(bv.sv_hlc == v.sv_hlc);
    ck_assert_uint_eq(bv.sv_origin, v.sv_origin);

    /* smallest */
    v.sv_hlc = 0;
    v.sv_origin = 1;
    n = fileent_encode((const uint8_t *)"a", 1, &v, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(fileent_decode(buf, (size_t)n, back, &bl, &bv), 0);
    ck_assert_uint_eq(bl, 1);
    ck_assert_uint_eq(back[0], 'a');

    /* every truncation fails; too small a buffer fails */
    v.sv_origin = 7;
    n = fileent_encode(enc, el, &v, buf, sizeof(buf));
    for (int cut = 0; cut < n; cut++) {
        if (fileent_decode(buf, (size_t)cut, back, &bl, &bv) != CAIRN_ECORRUPT)
            ck_abort_msg("truncation at %d accepted", cut);
    }
    ck_assert_int_eq(fileent_encode(enc, el, &v, buf, (size_t)n - 1), CAIRN_EINVAL);
    ck_assert_int_eq(fileent_encode(enc, el, &v, buf, (size_t)n), n);

    /* bad arguments */
    ck_assert_int_eq(fileent_encode(enc, 0, &v, buf, sizeof(buf)), CAIRN_EINVAL);
    ck_assert_int_eq(fileent_encode(enc, KEY_ENC_MAX + 1, &v, buf, sizeof(buf)), CAIRN_EINVAL);
    v.sv_origin = 0;
    ck_assert_int_eq(fileent_encode(enc, el, &v, buf, sizeof(buf)), CAIRN_EINVAL);
}
END_TEST

static const rcase_t fcases[] = {
    {{"zz", F_STR, 0, "x", 1}, 1, 0},   {{"e", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"v", F_OMIT, 0, NULL, 0}, 0, 0},  {{"o", F_OMIT, 0, NULL, 0}, 0, 0},
    {{"e", F_BIN, 0, "", 0}, 0, 0},     {{"e", F_BIN, 0, big, 466}, 0, 0},
    {{"e", F_BIN, 0, big, 465}, 1, 0},  {{"e", F_STR, 0, "key", 3}, 0, 0},
    {{"v", F_NEG, 3, NULL, 0}, 0, 0},   {{"v", F_BIN, 0, "1", 1}, 0, 0},
    {{"o", F_UINT, 0, NULL, 0}, 0, 0},  {{"o", F_UINT, 65536, NULL, 0}, 0, 0},
    {{"o", F_FLOAT, 0, NULL, 0}, 0, 0},
};

START_TEST(test_fileent_decode_table)
{
    const rcase_t *c = &fcases[_i];
    field_t base[] = {
        {"e", F_BIN, 0, "enc", 3}, {"v", F_UINT, 5, NULL, 0}, {"o", F_UINT, 9, NULL, 0}};
    msgpack_sbuffer sb;
    uint8_t enc[KEY_ENC_MAX];
    size_t el;
    store_version_t v;
    int rc;

    memset(big, 'b', sizeof(big));
    build(base, 3, NULL, &sb);
    ck_assert_int_eq(fileent_decode(sb.data, sb.size, enc, &el, &v), 0);
    msgpack_sbuffer_destroy(&sb);
    build(base, 3, &c->rc_field, &sb);
    rc = fileent_decode(sb.data, sb.size, enc, &el, &v);
    ck_assert_msg(c->rc_ok ? rc == 0 : rc == CAIRN_ECORRUPT, "case %d: rc %d", _i, rc);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_fileent_fuzz)
{
    unsigned seed = 99;
    uint8_t enc[KEY_ENC_MAX], buf[600];
    store_version_t v = {.sv_hlc = 123456789, .sv_origin = 4};
    size_t el;
    int n = fileent_encode((const uint8_t *)"some/key", 8, &v, buf, sizeof(buf));

    ck_assert_int_gt(n, 0);
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t m[600];
        size_t len = (size_t)n;
        int rc;

        memcpy(m, buf, len);
        if (iter % 3 == 0)
            len = (size_t)rand_r(&seed) % (len + 1);
        for (int f = 0; f < 1 + iter % 3 && len > 0; f++)
            m[(size_t)rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
        rc = fileent_decode(m, len, enc, &el, &v);
        if (rc != 0 && rc != CAIRN_ECORRUPT)
            ck_abort_msg("unexpected rc %d", rc);
        if (rc == 0 && (el == 0 || el > KEY_ENC_MAX || v.sv_origin == 0))
            ck_abort_msg("accepted an out-of-bounds entry");
    }
}
END_TEST

/* ---------------------------------------------------------- integers */

START_TEST(test_u64_be)
{
    uint8_t b[8];
    static const uint8_t want[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    uint8_t lo[8], hi[8];

    u64_to_be(0x0123456789abcdefULL, b);
    ck_assert_mem_eq(b, want, 8);
    ck_assert(u64_from_be(b) == 0x0123456789abcdefULL);
    u64_to_be(0, b);
    ck_assert(u64_from_be(b) == 0);
    u64_to_be(UINT64_MAX, b);
    ck_assert(u64_from_be(b) == UINT64_MAX);
    /* memcmp order equals numeric order (LMDB keys) */
    u64_to_be(0xff, lo);
    u64_to_be(0x100, hi);
    ck_assert_int_lt(memcmp(lo, hi, 8), 0);
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("record");
    TCase *fe = tcase_create("fileent");

    tcase_add_loop_test(tc, test_roundtrip_each_state, STORE_COMPLETE, STORE_TOMBSTONE + 1);
    tcase_add_test(tc, test_roundtrip_extremes);
    tcase_add_test(tc, test_encode_exact_cap);
    tcase_add_loop_test(tc, test_encode_rejects_invalid, 0, 9);
    tcase_add_loop_test(tc, test_decode_table, 0, (int)(sizeof(rcases) / sizeof(rcases[0])));
    tcase_add_test(tc, test_decode_fields_land);
    tcase_add_test(tc, test_inline_codec);
    tcase_add_test(tc, test_decode_bad_shapes);
    tcase_add_loop_test(tc, test_decode_every_truncation, STORE_COMPLETE, STORE_TOMBSTONE + 1);
    tcase_add_test(tc, test_fuzz);
    suite_add_tcase(s, tc);

    tcase_add_test(fe, test_fileent_roundtrip);
    tcase_add_loop_test(fe, test_fileent_decode_table, 0,
                        (int)(sizeof(fcases) / sizeof(fcases[0])));
    tcase_add_test(fe, test_fileent_fuzz);
    tcase_add_test(fe, test_u64_be);
    suite_add_tcase(s, fe);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
