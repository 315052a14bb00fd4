/*
 * test_keys.c -- key validation and the LMDB key encoding.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "storage/keys.h"

typedef struct vcase {
    const char *vc_name;
    const char *vc_bytes;
    size_t vc_len; /* 0: strlen */
    int vc_ok;
} vcase_t;

#define S(x) x, sizeof(x) - 1

static const vcase_t vcases[] = {
    {"ascii", S("hello/world.txt"), 1},
    {"one byte", S("a"), 1},
    {"space and punctuation", S(" !~\x7f"), 1},
    {"2-byte min U+0080", S("\xc2\x80"), 1},
    {"2-byte e-acute", S("caf\xc3\xa9"), 1},
    {"2-byte max U+07FF", S("\xdf\xbf"), 1},
    {"3-byte min U+0800", S("\xe0\xa0\x80"), 1},
    {"3-byte euro", S("\xe2\x82\xac"), 1},
    {"3-byte U+D7FF", S("\xed\x9f\xbf"), 1},
    {"3-byte U+E000", S("\xee\x80\x80"), 1},
    {"3-byte U+FFFF", S("\xef\xbf\xbf"), 1},
    {"4-byte min U+10000", S("\xf0\x90\x80\x80"), 1},
    {"4-byte emoji", S("\xf0\x9f\x98\x80"), 1},
    {"4-byte max U+10FFFF", S("\xf4\x8f\xbf\xbf"), 1},
    {"mixed", S("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 1},

    {"NUL alone", "\0", 1, 0},
    {"NUL inside", "ab\0cd", 5, 0},
    {"stray continuation", S("\x80"), 0},
    {"stray continuation after ascii", S("a\xbf"), 0},
    {"continuation after complete 2-byte", S("\xc3\xa9\xa9"), 0},
    {"overlong 2-byte c0", S("\xc0\xaf"), 0},
    {"overlong 2-byte c1", S("\xc1\xbf"), 0},
    {"overlong 3-byte", S("\xe0\x80\xaf"), 0},
    {"overlong 3-byte max", S("\xe0\x9f\xbf"), 0},
    {"overlong 4-byte", S("\xf0\x80\x80\xaf"), 0},
    {"overlong 4-byte max", S("\xf0\x8f\xbf\xbf"), 0},
    {"surrogate U+D800", S("\xed\xa0\x80"), 0},
    {"surrogate U+DBFF", S("\xed\xaf\xbf"), 0},
    {"surrogate U+DC00", S("\xed\xb0\x80"), 0},
    {"surrogate U+DFFF", S("\xed\xbf\xbf"), 0},
    {"above U+10FFFF (f4 90)", S("\xf4\x90\x80\x80"), 0},
    {"lead f5", S("\xf5\x80\x80\x80"), 0},
    {"lead f8", S("\xf8\x88\x80\x80\x80"), 0},
    {"lead fe", S("\xfe"), 0},
    {"lead ff", S("\xff"), 0},
    {"truncated 2-byte", S("\xc3"), 0},
    {"truncated 3-byte (1 of 2)", S("\xe2\x82"), 0},
    {"truncated 3-byte (0 of 2)", S("ab\xe2"), 0},
    {"truncated 4-byte", S("\xf0\x9f\x98"), 0},
    {"bad 2nd byte (ascii)", S("\xc3\x41"), 0},
    {"bad 3rd byte", S("\xe2\x82\x41"), 0},
    {"bad 4th byte", S("\xf0\x9f\x98\xc0"), 0},
    {"lead as continuation", S("\xe2\xc2\xac"), 0},
};

START_TEST(test_validate_table)
{
    const vcase_t *c = &vcases[_i];
    size_t len = c->vc_len != 0 ? c->vc_len : strlen(c->vc_bytes);
    int rc = key_validate(c->vc_bytes, len);

    ck_assert_msg(c->vc_ok ? rc == 0 : rc == CAIRN_EINVAL, "%s: rc %d", c->vc_name, rc);
    /* utf8_validate alone accepts NUL (it is valid UTF-8) */
    if (memchr(c->vc_bytes, '\0', len) == NULL) {
        rc = utf8_validate(c->vc_bytes, len);
        ck_assert_msg(c->vc_ok ? rc == 0 : rc == CAIRN_EINVAL, "%s: utf8 rc %d", c->vc_name, rc);
    }
}
END_TEST

START_TEST(test_validate_lengths)
{
    char buf[KEY_MAX + 2];

    memset(buf, 'k', sizeof(buf));
    ck_assert_int_eq(key_validate(buf, 0), CAIRN_EINVAL);
    ck_assert_int_eq(utf8_validate(buf, 0), 0);
    ck_assert_int_eq(key_validate(buf, 1), 0);
    ck_assert_int_eq(key_validate(buf, KEY_MAX), 0);
    ck_assert_int_eq(key_validate(buf, KEY_MAX + 1), CAIRN_EINVAL);
    /* 1024 bytes made of 4-byte sequences */
    for (int i = 0; i < KEY_MAX; i += 4)
        memcpy(buf + i, "\xf0\x9f\x98\x80", 4);
    ck_assert_int_eq(key_validate(buf, KEY_MAX), 0);
    /* cutting a sequence at the end is caught */
    ck_assert_int_eq(key_validate(buf, KEY_MAX - 1), CAIRN_EINVAL);
}
END_TEST

/* A reference decoder, written differently (decode, then check the code
 * point), to compare against over every 1- and 2-byte string and the
 * 3- and 4-byte strings whose later bytes come from the interesting ranges. */
static int ref_valid(const uint8_t *b, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t need;

        if (b[i] < 0x80) {
            i++;
            continue;
        }
        if ((b[i] & 0xe0) == 0xc0) {
            need = 2;
            cp = b[i] & 0x1f;
        } else if ((b[i] & 0xf0) == 0xe0) {
            need = 3;
            cp = b[i] & 0x0f;
        } else if ((b[i] & 0xf8) == 0xf0) {
            need = 4;
            cp = b[i] & 0x07;
        } else {
            return 0;
        }
        if (n - i < need)
            return 0;
        for (size_t j = 1; j < need; j++) {
            if ((b[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (b[i + j] & 0x3f);
        }
        if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000))
            return 0;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += need;
    }
    return 1;
}

START_TEST(test_validate_exhaustive_sequences)
{
    static const uint8_t tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                    0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff};
    uint8_t b[4];

    for (unsigned lead = 0; lead <= 0xff; lead++) {
        b[0] = (uint8_t)lead;
        if ((utf8_validate((char *)b, 1) == 0) != ref_valid(b, 1))
            ck_abort_msg("%02x", lead);
        for (unsigned s1 = 0; s1 <= 0xff; s1++) {
            b[1] = (uint8_t)s1;
            if ((utf8_validate((char *)b, 2) == 0) != ref_valid(b, 2))
                ck_abort_msg("%02x %02x", lead, s1);
            for (size_t t2 = 0; t2 < sizeof(tails); t2++) {
                b[2] = tails[t2];
                if ((utf8_validate((char *)b, 3) == 0) != ref_valid(b, 3))
                    ck_abort_msg("%02x %02x %02x", lead, s1, b[2]);
                for (size_t t3 = 0; t3 < sizeof(tails); t3++) {
                    b[3] = tails[t3];
                    if ((utf8_validate((char *)b, 4) == 0) != ref_valid(b, 4))
                        ck_abort_msg("%02x %02x %02x %02x", lead, s1, b[2], b[3]);
                }
            }
        }
    }
    /* the reference accepts what it should (guards against a vacuous match) */
    ck_assert(ref_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4));
    ck_assert(!ref_valid((const uint8_t *)"\xed\xa0\x80", 3));
}
END_TEST

START_TEST(test_encode_short)
{
    uint8_t out[KEY_ENC_MAX];
    char k[KEY_INLINE_MAX];

    ck_assert_uint_eq(key_encode("abc", 3, out), 3);
    ck_assert_mem_eq(out, "abc", 3);
    memset(k, 'q', sizeof(k));
    ck_assert_uint_eq(key_encode(k, KEY_INLINE_MAX, out), KEY_INLINE_MAX);
    ck_assert_mem_eq(out, k, KEY_INLINE_MAX);
}
END_TEST

START_TEST(test_encode_long)
{
    uint8_t out[KEY_ENC_MAX];
    char k[KEY_MAX];
    XXH128_canonical_t canon;
    size_t lens[] = {KEY_INLINE_MAX + 1, 600, KEY_MAX};

    for (size_t i = 0; i < sizeof(k); i++)
        k[i] = (char)('a' + i % 26);
    for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
        memset(out, 0xaa, sizeof(out));
        ck_assert_uint_eq(key_encode(k, lens[j], out), KEY_ENC_MAX);
        ck_assert_mem_eq(out, k, KEY_INLINE_MAX);
        ck_assert_uint_eq(out[KEY_INLINE_MAX], 0);
        XXH128_canonicalFromHash(&canon, XXH3_128bits(k, lens[j]));
        ck_assert_mem_eq(out + KEY_INLINE_MAX + 1, canon.digest, 16);
    }
    ck_assert_uint_eq(KEY_ENC_MAX, 465);
}
END_TEST

static int enc_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);

    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static size_t rand_key(char *k, unsigned *seed, size_t minlen, size_t maxlen)
{
    size_t len = minlen + (size_t)rand_r(seed) % (maxlen - minlen + 1);

    /* small alphabet so keys often share long prefixes */
    for (size_t i = 0; i < len; i++)
        k[i] = (char)('a' + rand_r(seed) % 3);
    return len;
}

/* Short keys keep byte order against everything (LMDB's memcmp order). */
START_TEST(test_order_short_vs_all)
{
    char a[KEY_MAX], b[KEY_MAX];
    uint8_t ea[KEY_ENC_MAX], eb[KEY_ENC_MAX];
    unsigned seed = 12345;

    for (int iter = 0; iter < 20000; iter++) {
        size_t al = rand_key(a, &seed, 1, KEY_INLINE_MAX);
        size_t bl = rand_key(b, &seed, 1, KEY_MAX);
        size_t eal, ebl;

        if (iter % 3 == 0) { /* make b extend a, or share a's first bytes */
            size_t share = al < bl ? al : bl;
            memcpy(b, a, share);
        }
        eal = key_encode(a, al, ea);
        ebl = key_encode(b, bl, eb);
        if (enc_cmp(ea, eal, eb, ebl) != enc_cmp((uint8_t *)a, al, (uint8_t *)b, bl))
            ck_abort_msg("order differs at iteration %d (lengths %zu, %zu)", iter, al, bl);
    }
}
END_TEST

START_TEST(test_prefix_property)
{
    char k[KEY_MAX];
    uint8_t e[KEY_ENC_MAX];
    unsigned seed = 777;

    for (int iter = 0; iter < 5000; iter++) {
        size_t kl = rand_key(k, &seed, 1, KEY_MAX);
        size_t el = key_encode(k, kl, e);
        size_t pl = 1 + (size_t)rand_r(&seed) % (kl < KEY_INLINE_MAX ? kl : KEY_INLINE_MAX);

        if (el < pl || memcmp(e, k, pl) != 0)
            ck_abort_msg("prefix %zu of key %zu not a prefix of its encoding", pl, kl);
    }
    /* exactly 448 for a long key */
    memset(k, 'z', sizeof(k));
    ck_assert_uint_eq(key_encode(k, 900, e), KEY_ENC_MAX);
    ck_assert_mem_eq(e, k, KEY_INLINE_MAX);
}
END_TEST

START_TEST(test_long_keys_sharing_inline_part_differ)
{
    char a[KEY_MAX], b[KEY_MAX];
    uint8_t ea[KEY_ENC_MAX], eb[KEY_ENC_MAX];

    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[KEY_MAX - 1] = 'y';
    key_encode(a, KEY_MAX, ea);
    key_encode(b, KEY_MAX, eb);
    ck_assert_mem_eq(ea, eb, KEY_INLINE_MAX + 1);
    ck_assert(memcmp(ea, eb, KEY_ENC_MAX) != 0);
    /* same bytes, different length */
    key_encode(a, 500, ea);
    key_encode(a, 501, eb);
    ck_assert(memcmp(ea, eb, KEY_ENC_MAX) != 0);
    /* a 449-byte key vs a 448-byte key with the same start: distinct, short first */
    ck_assert_uint_eq(key_encode(a, KEY_INLINE_MAX, ea), KEY_INLINE_MAX);
    ck_assert_int_eq(enc_cmp(ea, KEY_INLINE_MAX, eb, key_encode(a, KEY_INLINE_MAX + 1, eb)), -1);
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_validate_table, 0, (int)(sizeof(vcases) / sizeof(vcases[0])));
    tcase_add_test(tc, test_validate_lengths);
    tcase_add_test(tc, test_validate_exhaustive_sequences);
    tcase_add_test(tc, test_encode_short);
    tcase_add_test(tc, test_encode_long);
    tcase_add_test(tc, test_order_short_vs_all);
    tcase_add_test(tc, test_prefix_property);
    tcase_add_test(tc, test_long_keys_sharing_inline_part_differ);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keys_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
