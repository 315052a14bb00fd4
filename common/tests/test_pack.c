/* test_pack.c -- msgpack helpers: encoding, strict getters, hostile input. */
#include "common/error.h"
#include "common/pack.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static msgpack_sbuffer sbuf;
static msgpack_packer pk;

static void setup(void)
{
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
}

static void teardown(void)
{
    msgpack_sbuffer_destroy(&sbuf);
}

static const uint8_t hash16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A record-like map with one key of each kind. */
static void pack_sample(void)
{
    ck_assert_int_eq(msgpack_pack_map(&pk, 7), 0);
    ck_assert_int_eq(pack_kv_u64(&pk, "v", 0x123456789abcULL), 0);
    ck_assert_int_eq(pack_kv_i64(&pk, "neg", -42), 0);
    ck_assert_int_eq(pack_kv_i64(&pk, "pos", 42), 0);
    ck_assert_int_eq(pack_kv_bool(&pk, "ok", 1), 0);
    ck_assert_int_eq(pack_kv_str(&pk, "ct", "text/plain", 10), 0);
    ck_assert_int_eq(pack_kv_bin(&pk, "h", hash16, sizeof(hash16)), 0);
    ck_assert_int_eq(pack_cstr(&pk, "sub"), 0);
    ck_assert_int_eq(msgpack_pack_array(&pk, 2), 0);
    ck_assert_int_eq(pack_str(&pk, "", 0), 0);
    ck_assert_int_eq(pack_bin(&pk, NULL, 0), 0);
}

START_TEST(test_roundtrip)
{
    msgpack_unpacked u;
    const msgpack_object *o;
    uint64_t v;
    int64_t i;
    int b;
    const char *s;
    const uint8_t *bp;
    size_t len;

    pack_sample();
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 2, &u), 0);
    ck_assert_int_eq(pack_get_u64(&u.data, "v", UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, 0x123456789abcULL);
    ck_assert_int_eq(pack_get_i64(&u.data, "neg", &i), 0);
    ck_assert_int_eq(i, -42);
    ck_assert_int_eq(pack_get_i64(&u.data, "pos", &i), 0);
    ck_assert_int_eq(i, 42);
    ck_assert_int_eq(pack_get_bool(&u.data, "ok", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(pack_get_str(&u.data, "ct", 64, &s, &len), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(memcmp(s, "text/plain", 10), 0);
    ck_assert_int_eq(pack_get_bin(&u.data, "h", 16, 16, &bp, &len), 0);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(memcmp(bp, hash16, 16), 0);
    ck_assert_int_eq(pack_map_get(&u.data, "sub", &o), 0);
    ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
    ck_assert_int_eq(pack_obj_str(&o->via.array.ptr[0], 0, &s, &len), 0);
    ck_assert_uint_eq(len, 0);
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_getter_mismatches)
{
    msgpack_unpacked u;
    const msgpack_object *o = (const msgpack_object *)1;
    uint64_t v;
    int64_t i;
    int b;
    const char *s;
    const uint8_t *bp;
    size_t len;

    pack_sample();
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 2, &u), 0);
    /* Missing keys. */
    ck_assert_int_eq(pack_map_get(&u.data, "nope", &o), CAIRN_ENOTFOUND);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(pack_get_u64(&u.data, "nope", 10, &v), CAIRN_ENOTFOUND);
    ck_assert_int_eq(pack_get_str(&u.data, "c", 10, &s, &len), CAIRN_ENOTFOUND);
    /* Wrong types. */
    ck_assert_int_eq(pack_get_u64(&u.data, "neg", UINT64_MAX, &v), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_u64(&u.data, "ct", UINT64_MAX, &v), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_i64(&u.data, "ok", &i), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_bool(&u.data, "v", &b), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_str(&u.data, "h", 64, &s, &len), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_bin(&u.data, "ct", 64, 0, &bp, &len), CAIRN_EINVAL);
    ck_assert_int_eq(pack_map_get(&u.data.via.map.ptr[0].val, "v", &o), CAIRN_EINVAL);
    /* Bounds. */
    ck_assert_int_eq(pack_get_u64(&u.data, "v", 0x123456789abbULL, &v), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_u64(&u.data, "v", 0x123456789abcULL, &v), 0);
    ck_assert_int_eq(pack_get_str(&u.data, "ct", 9, &s, &len), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_str(&u.data, "ct", 10, &s, &len), 0);
    ck_assert_int_eq(pack_get_bin(&u.data, "h", 15, 0, &bp, &len), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_bin(&u.data, "h", 64, 8, &bp, &len), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_bin(&u.data, "h", 64, 0, &bp, &len), 0);
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_i64_range_and_duplicates)
{
    msgpack_unpacked u;
    int64_t i;
    uint64_t v;

    ck_assert_int_eq(msgpack_pack_map(&pk, 4), 0);
    ck_assert_int_eq(pack_kv_u64(&pk, "big", (uint64_t)INT64_MAX + 1), 0);
    ck_assert_int_eq(pack_kv_i64(&pk, "min", INT64_MIN), 0);
    ck_assert_int_eq(pack_kv_u64(&pk, "dup", 1), 0);
    ck_assert_int_eq(pack_kv_u64(&pk, "dup", 2), 0);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 1, &u), 0);
    ck_assert_int_eq(pack_get_i64(&u.data, "big", &i), CAIRN_EINVAL);
    ck_assert_int_eq(pack_get_i64(&u.data, "min", &i), 0);
    ck_assert_int_eq(i, INT64_MIN);
    ck_assert_int_eq(pack_get_u64(&u.data, "dup", 10, &v), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_trailing_and_truncated)
{
    msgpack_unpacked u;
    char *copy;
    size_t n;

    pack_sample();
    copy = malloc(sbuf.size + 1);
    memcpy(copy, sbuf.data, sbuf.size);
    copy[sbuf.size] = 0x01;
    ck_assert_int_eq(pack_unpack_one(copy, sbuf.size + 1, 8, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);
    for (n = 0; n < sbuf.size; n++) {
        ck_assert_msg(pack_unpack_one(copy, n, 8, &u) == CAIRN_EINVAL, "prefix %zu accepted", n);
        msgpack_unpacked_destroy(&u);
    }
    ck_assert_int_eq(pack_unpack_one(copy, sbuf.size, 8, &u), 0);
    msgpack_unpacked_destroy(&u);
    free(copy);
    ck_assert_int_eq(pack_unpack_one(NULL, 0, 8, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);
}
END_TEST

/* Packs depth nested one-element arrays around a 1. */
static void pack_nested(int depth)
{
    int i;

    for (i = 0; i < depth; i++)
        ck_assert_int_eq(msgpack_pack_array(&pk, 1), 0);
    ck_assert_int_eq(msgpack_pack_int(&pk, 1), 0);
}

START_TEST(test_depth)
{
    msgpack_unpacked u;

    ck_assert_int_eq(msgpack_pack_int(&pk, 5), 0);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 0, &u), 0);
    msgpack_unpacked_destroy(&u);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, -1, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);

    msgpack_sbuffer_clear(&sbuf);
    pack_nested(3);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 3, &u), 0);
    msgpack_unpacked_destroy(&u);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 2, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);

    /* msgpack-c's own limit is 32 levels; deeper is refused whatever max_depth says. */
    msgpack_sbuffer_clear(&sbuf);
    pack_nested(32);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 100, &u), 0);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&sbuf);
    pack_nested(33);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 100, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);

    /* A map inside a map is depth 2. */
    msgpack_sbuffer_clear(&sbuf);
    ck_assert_int_eq(msgpack_pack_map(&pk, 1), 0);
    ck_assert_int_eq(pack_cstr(&pk, "m"), 0);
    ck_assert_int_eq(msgpack_pack_map(&pk, 0), 0);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 1, &u), CAIRN_EINVAL);
    msgpack_unpacked_destroy(&u);
    ck_assert_int_eq(pack_unpack_one(sbuf.data, sbuf.size, 2, &u), 0);
    msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_hostile_headers)
{
    static const struct {
        const char *what;
        uint8_t bytes[12];
        size_t len;
    } cases[] = {
        {"array32 claims 4G elements", {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, 6},
        {"map32 claims 4G pairs", {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, 7},
        {"str32 claims 4 GiB", {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, 6},
        {"bin32 claims 4 GiB", {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, 6},
        {"ext32 claims 4 GiB", {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'}, 7},
        {"reserved byte", {0xc1}, 1},
        {"array16 header cut", {0xdc, 0x00}, 2},
        {"uint64 cut", {0xcf, 0, 0, 0, 0}, 5},
        {"fixstr cut", {0xa5, 'a', 'b'}, 3},
        {"fixmap missing value", {0x81, 0xa1, 'k'}, 3},
        {"two objects", {0x01, 0x02}, 2},
        {"fixext16 cut", {0xd8, 0x01, 0, 0, 0}, 5},
    };
    msgpack_unpacked u;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(pack_unpack_one(cases[i].bytes, cases[i].len, 8, &u) == CAIRN_EINVAL,
                      "accepted: %s", cases[i].what);
        msgpack_unpacked_destroy(&u);
    }
}
END_TEST

/* Exercises every getter on whatever decoded; must never crash. */
static void poke(const msgpack_object *o)
{
    uint64_t v;
    int64_t i;
    int b;
    const char *s;
    const uint8_t *bp;
    size_t len;

    (void)pack_get_u64(o, "v", UINT64_MAX, &v);
    (void)pack_get_i64(o, "neg", &i);
    (void)pack_get_bool(o, "ok", &b);
    (void)pack_get_str(o, "ct", 64, &s, &len);
    (void)pack_get_bin(o, "h", 64, 16, &bp, &len);
    (void)pack_obj_u64(o, 100, &v);
    (void)pack_obj_str(o, 100, &s, &len);
}

START_TEST(test_fuzz_garbage_and_mutations)
{
    uint8_t data[128];
    msgpack_unpacked u;
    size_t len, j;
    int iter, rc, accepted = 0;

    srand(12345);
    pack_sample();
    for (iter = 0; iter < 6000; iter++) {
        if (iter % 2 == 0) {
            len = (size_t)(rand() % (int)sizeof(data));
            for (j = 0; j < len; j++)
                data[j] = (uint8_t)rand();
        } else {
            /* Mutate a valid document: flip a few bytes, maybe truncate. */
            len = sbuf.size < sizeof(data) ? sbuf.size : sizeof(data);
            memcpy(data, sbuf.data, len);
            for (j = 0; j < 1 + (size_t)(rand() % 4); j++)
                data[rand() % (int)len] = (uint8_t)rand();
            if (rand() % 3 == 0)
                len = (size_t)(rand() % (int)len);
        }
        rc = pack_unpack_one(data, len, 4, &u);
        ck_assert(rc == 0 || rc == CAIRN_EINVAL || rc == CAIRN_ENOMEM);
        if (rc == 0) {
            accepted++;
            poke(&u.data);
        }
        msgpack_unpacked_destroy(&u);
    }
    /* The mutated half keeps some documents valid; make sure that path ran. */
    ck_assert_int_gt(accepted, 0);
}
END_TEST

START_TEST(test_encode_rejects_bad_args)
{
    ck_assert_int_eq(pack_cstr(&pk, NULL), CAIRN_EINVAL);
    ck_assert_int_eq(pack_str(&pk, NULL, 3), CAIRN_EINVAL);
    ck_assert_int_eq(pack_bin(&pk, NULL, 3), CAIRN_EINVAL);
    ck_assert_int_eq(pack_str(&pk, "x", (size_t)UINT32_MAX + 1), CAIRN_EINVAL);
    ck_assert_uint_eq(sbuf.size, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_getter_mismatches);
    tcase_add_test(tc, test_i64_range_and_duplicates);
    tcase_add_test(tc, test_trailing_and_truncated);
    tcase_add_test(tc, test_depth);
    tcase_add_test(tc, test_hostile_headers);
    tcase_add_test(tc, test_fuzz_garbage_and_mutations);
    tcase_add_test(tc, test_encode_rejects_bad_args);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
