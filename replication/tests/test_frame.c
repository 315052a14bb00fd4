/*
 * test_frame.c -- frame codec: round trip, every split point, bounds, garbage.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "replication/frame.h"

/* ---- a collecting callback ---- */

#define MAX_FRAMES 64

typedef struct collect {
    size_t n;
    uint8_t *p[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    int stop_after; /* return 1 after this many frames (0: never) */
    int fail_at;    /* return CAIRN_EPROTO on this frame number (1-based, 0: never) */
} collect_t;

static int collect_cb(void *arg, const uint8_t *payload, size_t len)
{
    collect_t *c = arg;

    ck_assert_uint_lt(c->n, MAX_FRAMES);
    ck_assert_uint_gt(len, 0);
    if (c->fail_at != 0 && (int)c->n + 1 == c->fail_at)
        return CAIRN_EPROTO;
    c->p[c->n] = malloc(len);
    ck_assert_ptr_nonnull(c->p[c->n]);
    memcpy(c->p[c->n], payload, len);
    c->len[c->n] = len;
    c->n++;
    return c->stop_after != 0 && (int)c->n == c->stop_after ? 1 : 0;
}

static void collect_free(collect_t *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->p[i]);
    memset(c, 0, sizeof(*c));
}

/* ---- building frames ---- */

typedef struct {
    uint8_t *b;
    size_t len;
} bytes_t;

static void bytes_add(bytes_t *s, const void *p, size_t n)
{
    s->b = realloc(s->b, s->len + n);
    ck_assert_ptr_nonnull(s->b);
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

/* Encodes {"t":type,"n":n,"d":bin(dlen bytes of pattern)} as one frame. */
static void make_frame(bytes_t *out, const char *type, uint64_t n, size_t dlen)
{
    repl_frame_enc_t e;
    msgpack_packer *pk;
    uint8_t *frame, *d;
    size_t len, i;

    d = malloc(dlen + 1);
    ck_assert_ptr_nonnull(d);
    for (i = 0; i < dlen; i++)
        d[i] = (uint8_t)(i * 7 + n);
    ck_assert_int_eq(repl_frame_enc_init(&e), 0);
    pk = repl_frame_enc_packer(&e);
    ck_assert_int_eq(msgpack_pack_map(pk, 3), 0);
    ck_assert_int_eq(pack_kv_str(pk, "t", type, strlen(type)), 0);
    ck_assert_int_eq(pack_kv_u64(pk, "n", n), 0);
    ck_assert_int_eq(pack_kv_bin(pk, "d", d, dlen), 0);
    ck_assert_int_eq(repl_frame_enc_finish(&e, REPL_FRAME_MAX, &frame, &len), 0);
    repl_frame_enc_free(&e);
    ck_assert_uint_eq(repl_frame_get_len(frame), len - REPL_FRAME_HDR_LEN);
    bytes_add(out, frame, len);
    free(frame);
    free(d);
}

/* Decodes payload and checks it is the frame make_frame built. */
static void check_payload(const uint8_t *p, size_t len, const char *type, uint64_t n, size_t dlen)
{
    repl_msg_t m;
    uint64_t v;
    const uint8_t *d;
    size_t dl, i;

    ck_assert_int_eq(repl_msg_decode(p, len, &m), 0);
    ck_assert_str_eq(m.rm_type, type);
    ck_assert_int_eq(pack_get_u64(m.rm_obj, "n", UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, n);
    ck_assert_int_eq(pack_get_bin(m.rm_obj, "d", REPL_FRAME_MAX, 0, &d, &dl), 0);
    ck_assert_uint_eq(dl, dlen);
    for (i = 0; i < dlen && d[i] == (uint8_t)(i * 7 + n); i++)
        ;
    ck_assert_uint_eq(i, dlen);
    repl_msg_free(&m);
}

/* ---- tests ---- */

START_TEST(test_round_trip)
{
    repl_frame_parser_t p;
    collect_t c = {0};
    bytes_t s = {0};
    size_t used = 0;

    make_frame(&s, "chg", 1, 0);
    make_frame(&s, "dat", 2, REPL_DAT_MAX);
    make_frame(&s, "end", 3, 5);
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, s.len, collect_cb, &c, &used), 0);
    ck_assert_uint_eq(used, s.len);
    ck_assert_uint_eq(c.n, 3);
    check_payload(c.p[0], c.len[0], "chg", 1, 0);
    check_payload(c.p[1], c.len[1], "dat", 2, REPL_DAT_MAX);
    check_payload(c.p[2], c.len[2], "end", 3, 5);
    collect_free(&c);
    repl_frame_parser_free(&p);
    repl_frame_parser_free(&p); /* twice is safe */
    free(s.b);
}
END_TEST

/* Every split point of a three-frame stream, fed as two pieces. */
START_TEST(test_split_every_boundary)
{
    repl_frame_parser_t p;
    collect_t c = {0};
    bytes_t s = {0};
    size_t k;

    make_frame(&s, "a", 10, 3);
    make_frame(&s, "bb", 11, 40);
    make_frame(&s, "ccc", 12, 200);
    for (k = 0; k <= s.len; k++) {
        repl_frame_parser_init(&p, REPL_FRAME_MAX);
        ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, k, collect_cb, &c, NULL), 0);
        ck_assert_int_eq(repl_frame_parser_feed(&p, s.b + k, s.len - k, collect_cb, &c, NULL), 0);
        ck_assert_uint_eq(c.n, 3);
        check_payload(c.p[0], c.len[0], "a", 10, 3);
        check_payload(c.p[1], c.len[1], "bb", 11, 40);
        check_payload(c.p[2], c.len[2], "ccc", 12, 200);
        collect_free(&c);
        repl_frame_parser_free(&p);
    }
    free(s.b);
}
END_TEST

/*
 * One byte at a time, and in odd-sized pieces; with the larger pieces the
 * middle frame is bigger than the buffer the parser keeps between frames.
 */
START_TEST(test_byte_at_a_time)
{
    static const size_t pieces[] = {1, 2, 3, 7, 4096, 65536};
    repl_frame_parser_t p;
    collect_t c = {0};
    bytes_t s;
    size_t i, off, n, big;

    for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        big = pieces[i] >= 4096 ? 600 * 1024 : 3000;
        memset(&s, 0, sizeof(s));
        make_frame(&s, "x", 1, 10);
        make_frame(&s, "big", 2, big);
        make_frame(&s, "y", 3, 1);
        repl_frame_parser_init(&p, REPL_FRAME_MAX);
        for (off = 0; off < s.len; off += n) {
            n = s.len - off < pieces[i] ? s.len - off : pieces[i];
            ck_assert_int_eq(repl_frame_parser_feed(&p, s.b + off, n, collect_cb, &c, NULL), 0);
        }
        ck_assert_uint_eq(c.n, 3);
        check_payload(c.p[0], c.len[0], "x", 1, 10);
        check_payload(c.p[1], c.len[1], "big", 2, big);
        check_payload(c.p[2], c.len[2], "y", 3, 1);
        collect_free(&c);
        repl_frame_parser_free(&p);
        free(s.b);
    }
}
END_TEST

START_TEST(test_oversize)
{
    repl_frame_parser_t p;
    collect_t c = {0};
    uint8_t hdr[4];
    uint8_t *big;

    /* One above the limit: refused as soon as the header is complete. */
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    repl_frame_put_len(hdr, REPL_FRAME_MAX + 1);
    ck_assert_int_eq(repl_frame_parser_feed(&p, hdr, 3, collect_cb, &c, NULL), 0);
    ck_assert_int_eq(repl_frame_parser_feed(&p, hdr + 3, 1, collect_cb, &c, NULL), CAIRN_ETOOBIG);
    /* Sticky. */
    ck_assert_int_eq(repl_frame_parser_feed(&p, hdr, 1, collect_cb, &c, NULL), CAIRN_ETOOBIG);
    ck_assert_uint_eq(c.n, 0);
    repl_frame_parser_free(&p);

    /* 0xffffffff. */
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    memset(hdr, 0xff, sizeof(hdr));
    ck_assert_int_eq(repl_frame_parser_feed(&p, hdr, 4, collect_cb, &c, NULL), CAIRN_ETOOBIG);
    repl_frame_parser_free(&p);

    /* Exactly the limit is fine. */
    big = calloc(1, REPL_FRAME_HDR_LEN + REPL_FRAME_MAX);
    ck_assert_ptr_nonnull(big);
    repl_frame_put_len(big, REPL_FRAME_MAX);
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, big, 1000, collect_cb, &c, NULL), 0);
    ck_assert_int_eq(repl_frame_parser_feed(&p, big + 1000,
                                            REPL_FRAME_HDR_LEN + REPL_FRAME_MAX - 1000, collect_cb,
                                            &c, NULL),
                     0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.len[0], REPL_FRAME_MAX);
    collect_free(&c);
    repl_frame_parser_free(&p);

    /* The handshake limit applies until raised. */
    repl_frame_parser_init(&p, REPL_FRAME_HANDSHAKE_MAX);
    repl_frame_put_len(big, REPL_FRAME_HANDSHAKE_MAX + 1);
    ck_assert_int_eq(repl_frame_parser_feed(&p, big, 4, collect_cb, &c, NULL), CAIRN_ETOOBIG);
    repl_frame_parser_free(&p);
    repl_frame_parser_init(&p, REPL_FRAME_HANDSHAKE_MAX);
    repl_frame_parser_set_max(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(
        repl_frame_parser_feed(&p, big, 4 + REPL_FRAME_HANDSHAKE_MAX + 1, collect_cb, &c, NULL), 0);
    ck_assert_uint_eq(c.n, 1);
    collect_free(&c);
    repl_frame_parser_free(&p);
    free(big);
}
END_TEST

START_TEST(test_zero_length)
{
    repl_frame_parser_t p;
    collect_t c = {0};
    bytes_t s = {0};
    static const uint8_t zero[4] = {0, 0, 0, 0};

    make_frame(&s, "ok", 1, 1);
    bytes_add(&s, zero, 4);
    make_frame(&s, "never", 2, 1);
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, s.len, collect_cb, &c, NULL), CAIRN_EPROTO);
    ck_assert_uint_eq(c.n, 1); /* the frame before the bad one was delivered */
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, s.len, collect_cb, &c, NULL), CAIRN_EPROTO);
    ck_assert_uint_eq(c.n, 1);
    collect_free(&c);
    repl_frame_parser_free(&p);
    free(s.b);
}
END_TEST

START_TEST(test_garbage)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    repl_frame_parser_t p;
    collect_t c = {0};
    uint8_t buf[4096];
    unsigned seed = 12345;
    size_t i, used;
    int round, rc;
    repl_msg_t m;

    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, http, sizeof(http) - 1, collect_cb, &c, NULL),
                     CAIRN_ETOOBIG);
    ck_assert_uint_eq(c.n, 0);
    repl_frame_parser_free(&p);

    /*
     * Random streams with small plausible lengths: the parser either
     * delivers frames or fails, and decoding whatever it delivers never
     * crashes (ASan/UBSan builds check the memory side).
     */
    for (round = 0; round < 300; round++) {
        for (i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)rand_r(&seed);
        for (i = 0; i + 4 < sizeof(buf); i += 64) {
            buf[i] = buf[i + 1] = 0;
            buf[i + 2] = 0;
            buf[i + 3] = (uint8_t)(1 + rand_r(&seed) % 60);
        }
        repl_frame_parser_init(&p, REPL_FRAME_HANDSHAKE_MAX);
        rc = repl_frame_parser_feed(&p, buf, sizeof(buf), collect_cb, &c, &used);
        ck_assert(rc == 0 || rc == CAIRN_ETOOBIG || rc == CAIRN_EPROTO);
        for (i = 0; i < c.n; i++) {
            rc = repl_msg_decode(c.p[i], c.len[i], &m);
            ck_assert(rc == 0 || rc == CAIRN_EINVAL || rc == CAIRN_EPROTO);
            repl_msg_free(&m);
        }
        collect_free(&c);
        repl_frame_parser_free(&p);
    }
}
END_TEST

START_TEST(test_callback_stop_and_error)
{
    repl_frame_parser_t p;
    collect_t c = {0};
    bytes_t s = {0};
    size_t used, first;

    make_frame(&s, "a", 1, 1);
    first = s.len;
    make_frame(&s, "b", 2, 1);
    make_frame(&s, "c", 3, 1);

    /* Stop after the first frame: the rest is left unconsumed and can be fed again. */
    c.stop_after = 1;
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, s.len, collect_cb, &c, &used), 1);
    ck_assert_uint_eq(used, first);
    c.stop_after = 0;
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b + used, s.len - used, collect_cb, &c, &used),
                     0);
    ck_assert_uint_eq(c.n, 3);
    check_payload(c.p[2], c.len[2], "c", 3, 1);
    collect_free(&c);
    repl_frame_parser_free(&p);

    /* A callback error stops the parser for good. */
    c.fail_at = 2;
    repl_frame_parser_init(&p, REPL_FRAME_MAX);
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, s.len, collect_cb, &c, NULL), CAIRN_EPROTO);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(repl_frame_parser_feed(&p, s.b, first, collect_cb, &c, NULL), CAIRN_EPROTO);
    ck_assert_uint_eq(c.n, 1);
    collect_free(&c);
    repl_frame_parser_free(&p);
    free(s.b);
}
END_TEST

/* Packs raw msgpack into a buffer for decode tests. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} mp_t;

static void mp_init(mp_t *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static int decode_rc(mp_t *m)
{
    repl_msg_t msg;
    int rc = repl_msg_decode((const uint8_t *)m->sb.data, m->sb.size, &msg);

    repl_msg_free(&msg);
    msgpack_sbuffer_destroy(&m->sb);
    return rc;
}

START_TEST(test_decode_strict)
{
    mp_t m;
    int i;
    static const uint8_t truncated[] = {0x82, 0xa1, 't', 0xa3, 'a'};
    static const uint8_t reserved[] = {0x81, 0xa1, 't', 0xc1};
    repl_msg_t msg;

    /* Not a map. */
    mp_init(&m);
    msgpack_pack_uint64(&m.pk, 5);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* Map without "t". */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_u64(&m.pk, "n", 1);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* "t" not a string. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_u64(&m.pk, "t", 1);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* "t" as bin. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_bin(&m.pk, "t", "ping", 4);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* "t" too long, empty, with a space. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_str(&m.pk, "t", "abcdefghijklmnop", 16);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_str(&m.pk, "t", "", 0);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_str(&m.pk, "t", "a b", 3);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* Duplicate "t". */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 2);
    pack_kv_str(&m.pk, "t", "a", 1);
    pack_kv_str(&m.pk, "t", "b", 1);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EPROTO);
    /* Longest allowed type is fine. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_str(&m.pk, "t", "abcdefghijklmno", 15);
    ck_assert_int_eq(decode_rc(&m), 0);
    /* Trailing bytes. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 1);
    pack_kv_str(&m.pk, "t", "a", 1);
    msgpack_pack_nil(&m.pk);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EINVAL);
    /* Too deep. */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 2);
    pack_kv_str(&m.pk, "t", "a", 1);
    pack_cstr(&m.pk, "x");
    for (i = 0; i < REPL_MSG_DEPTH; i++)
        msgpack_pack_array(&m.pk, 1);
    msgpack_pack_nil(&m.pk);
    ck_assert_int_eq(decode_rc(&m), CAIRN_EINVAL);
    /* Truncated and reserved byte. */
    ck_assert_int_eq(repl_msg_decode(truncated, sizeof(truncated), &msg), CAIRN_EINVAL);
    repl_msg_free(&msg);
    ck_assert_int_eq(repl_msg_decode(reserved, sizeof(reserved), &msg), CAIRN_EINVAL);
    repl_msg_free(&msg);
    /* A huge claimed array in a tiny payload is refused before allocation. */
    {
        static const uint8_t huge[] = {0x82, 0xa1, 't',  0xa1, 'a',  0xa1,
                                       'x',  0xdd, 0xff, 0xff, 0xff, 0xff};
        ck_assert_int_eq(repl_msg_decode(huge, sizeof(huge), &msg), CAIRN_EINVAL);
        repl_msg_free(&msg);
    }
}
END_TEST

START_TEST(test_encode_bounds)
{
    repl_frame_enc_t e;
    uint8_t *frame = NULL, *big;
    size_t len = 0;

    /* Nothing packed. */
    ck_assert_int_eq(repl_frame_enc_init(&e), 0);
    ck_assert_int_eq(repl_frame_enc_finish(&e, REPL_FRAME_MAX, &frame, &len), CAIRN_EINVAL);
    repl_frame_enc_free(&e);
    repl_frame_enc_free(&e);
    /* Over the given max. */
    ck_assert_int_eq(repl_frame_enc_init(&e), 0);
    ck_assert_int_eq(pack_bin(repl_frame_enc_packer(&e), "0123456789", 10), 0);
    ck_assert_int_eq(repl_frame_enc_finish(&e, 8, &frame, &len), CAIRN_ETOOBIG);
    repl_frame_enc_free(&e);
    /* Wrap. */
    ck_assert_int_eq(repl_frame_wrap("x", 0, &frame, &len), CAIRN_EINVAL);
    big = malloc(REPL_FRAME_MAX + 1);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(repl_frame_wrap(big, REPL_FRAME_MAX + 1, &frame, &len), CAIRN_ETOOBIG);
    free(big);
    ck_assert_int_eq(repl_frame_wrap("\x81\xa1t\xa1x", 5, &frame, &len), 0);
    ck_assert_uint_eq(len, 9);
    ck_assert_uint_eq(repl_frame_get_len(frame), 5);
    ck_assert_int_eq(memcmp(frame + 4, "\x81\xa1t\xa1x", 5), 0);
    free(frame);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("repl_frame");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_split_every_boundary);
    tcase_add_test(tc, test_byte_at_a_time);
    tcase_add_test(tc, test_oversize);
    tcase_add_test(tc, test_zero_length);
    tcase_add_test(tc, test_garbage);
    tcase_add_test(tc, test_callback_stop_and_error);
    tcase_add_test(tc, test_decode_strict);
    tcase_add_test(tc, test_encode_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
