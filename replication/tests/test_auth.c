/*
 * test_auth.c -- cluster id, handshake proofs and hello/auth messages.
 */
#include <check.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/pack.h"
#include "replication/auth.h"
#include "replication/frame.h"

static const char secret[] = "correct horse battery staple";

static void fill(uint8_t *p, size_t n, uint8_t v)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v + i);
}

START_TEST(test_cluster_id)
{
    uint8_t a[REPL_CLUSTER_ID_LEN], b[REPL_CLUSTER_ID_LEN], want[SHA256_DIGEST_LENGTH];
    uint8_t msg[64];
    size_t n;

    ck_assert_int_eq(repl_auth_cluster_id(secret, strlen(secret), a), 0);
    /* SHA-256("cairn-cluster-v1" || secret), first 8 bytes. */
    n = strlen("cairn-cluster-v1");
    memcpy(msg, "cairn-cluster-v1", n);
    memcpy(msg + n, secret, strlen(secret));
    SHA256(msg, n + strlen(secret), want);
    ck_assert_int_eq(memcmp(a, want, REPL_CLUSTER_ID_LEN), 0);
    ck_assert_int_eq(repl_auth_cluster_id("other", 5, b), 0);
    ck_assert_int_ne(memcmp(a, b, REPL_CLUSTER_ID_LEN), 0);
    ck_assert_int_eq(repl_auth_cluster_id(secret, 0, b), CAIRN_EINVAL);
    ck_assert_int_eq(repl_auth_cluster_id(secret, REPL_SECRET_MAX + 1, b), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_init_free)
{
    repl_auth_t a;
    static char big[REPL_SECRET_MAX + 1];

    ck_assert_int_eq(repl_auth_init(&a, secret, strlen(secret)), 0);
    ck_assert_ptr_nonnull(a.ra_secret);
    repl_auth_free(&a);
    ck_assert_ptr_null(a.ra_secret);
    repl_auth_free(&a);
    ck_assert_int_eq(repl_auth_init(&a, secret, 0), CAIRN_EINVAL);
    repl_auth_free(&a);
    ck_assert_int_eq(repl_auth_init(&a, big, sizeof(big)), CAIRN_EINVAL);
    repl_auth_free(&a);
    ck_assert_int_eq(repl_auth_init(&a, big, REPL_SECRET_MAX), 0);
    repl_auth_free(&a);
}
END_TEST

START_TEST(test_nonce_fresh)
{
    uint8_t a[REPL_NONCE_LEN], b[REPL_NONCE_LEN];

    ck_assert_int_eq(repl_auth_nonce(a), 0);
    ck_assert_int_eq(repl_auth_nonce(b), 0);
    ck_assert_int_ne(memcmp(a, b, REPL_NONCE_LEN), 0);
}
END_TEST

START_TEST(test_mac_verifies)
{
    repl_auth_t a, b;
    uint8_t n1[REPL_NONCE_LEN], n2[REPL_NONCE_LEN], mac[REPL_MAC_LEN];

    fill(n1, sizeof(n1), 1);
    fill(n2, sizeof(n2), 100);
    ck_assert_int_eq(repl_auth_init(&a, secret, strlen(secret)), 0);
    ck_assert_int_eq(repl_auth_init(&b, secret, strlen(secret)), 0);
    /* Node 1 proves itself to node 2; node 2 (separate context, same secret) checks. */
    ck_assert_int_eq(repl_auth_mac(&a, 1, 2, n1, n2, mac), 0);
    ck_assert_int_eq(repl_auth_verify(&b, 1, 2, n1, n2, mac), 0);
    repl_auth_free(&a);
    repl_auth_free(&b);
}
END_TEST

START_TEST(test_wrong_secret_fails)
{
    repl_auth_t a, b;
    uint8_t n1[REPL_NONCE_LEN], n2[REPL_NONCE_LEN], mac[REPL_MAC_LEN];

    fill(n1, sizeof(n1), 1);
    fill(n2, sizeof(n2), 100);
    ck_assert_int_eq(repl_auth_init(&a, secret, strlen(secret)), 0);
    ck_assert_int_eq(repl_auth_init(&b, "correct horse battery stapler", 29), 0);
    ck_assert_int_eq(repl_auth_mac(&a, 1, 2, n1, n2, mac), 0);
    ck_assert_int_eq(repl_auth_verify(&b, 1, 2, n1, n2, mac), CAIRN_EPROTO);
    repl_auth_free(&a);
    repl_auth_free(&b);
}
END_TEST

START_TEST(test_tampering_fails)
{
    repl_auth_t a;
    uint8_t n1[REPL_NONCE_LEN], n2[REPL_NONCE_LEN], t[REPL_NONCE_LEN], mac[REPL_MAC_LEN];
    uint8_t bad[REPL_MAC_LEN];
    size_t i;

    fill(n1, sizeof(n1), 1);
    fill(n2, sizeof(n2), 100);
    ck_assert_int_eq(repl_auth_init(&a, secret, strlen(secret)), 0);
    ck_assert_int_eq(repl_auth_mac(&a, 1, 2, n1, n2, mac), 0);
    /* Any flipped bit in either nonce. */
    for (i = 0; i < REPL_NONCE_LEN * 8; i += 13) {
        memcpy(t, n1, sizeof(t));
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        ck_assert_int_eq(repl_auth_verify(&a, 1, 2, t, n2, mac), CAIRN_EPROTO);
        memcpy(t, n2, sizeof(t));
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        ck_assert_int_eq(repl_auth_verify(&a, 1, 2, n1, t, mac), CAIRN_EPROTO);
    }
    /* Swapped nonces, swapped ids (reflection), other ids. */
    ck_assert_int_eq(repl_auth_verify(&a, 1, 2, n2, n1, mac), CAIRN_EPROTO);
    ck_assert_int_eq(repl_auth_verify(&a, 2, 1, n1, n2, mac), CAIRN_EPROTO);
    ck_assert_int_eq(repl_auth_verify(&a, 1, 3, n1, n2, mac), CAIRN_EPROTO);
    /* A flipped bit in the mac itself. */
    for (i = 0; i < REPL_MAC_LEN; i++) {
        memcpy(bad, mac, sizeof(bad));
        bad[i] ^= 0x80;
        ck_assert_int_eq(repl_auth_verify(&a, 1, 2, n1, n2, bad), CAIRN_EPROTO);
    }
    ck_assert_int_eq(repl_auth_verify(&a, 1, 2, n1, n2, mac), 0);
    repl_auth_free(&a);
}
END_TEST

/* Packs with fn into a buffer and decodes it as a message. */
static void roundtrip_hello(const repl_hello_t *in, repl_hello_t *out)
{
    repl_frame_enc_t e;
    uint8_t *frame;
    size_t len;
    repl_msg_t m;

    ck_assert_int_eq(repl_frame_enc_init(&e), 0);
    ck_assert_int_eq(repl_hello_pack(repl_frame_enc_packer(&e), in), 0);
    ck_assert_int_eq(repl_frame_enc_finish(&e, REPL_FRAME_HANDSHAKE_MAX, &frame, &len), 0);
    repl_frame_enc_free(&e);
    ck_assert_int_eq(repl_msg_decode(frame + 4, len - 4, &m), 0);
    ck_assert_str_eq(m.rm_type, "hello");
    ck_assert_int_eq(repl_hello_parse(m.rm_obj, out), 0);
    repl_msg_free(&m);
    free(frame);
}

START_TEST(test_hello_round_trip)
{
    repl_hello_t h, got;

    h.rh_proto = REPL_PROTO_VERSION;
    fill(h.rh_cluster, sizeof(h.rh_cluster), 9);
    h.rh_node = 65535;
    fill(h.rh_nonce, sizeof(h.rh_nonce), 77);
    roundtrip_hello(&h, &got);
    ck_assert_uint_eq(got.rh_proto, REPL_PROTO_VERSION);
    ck_assert_uint_eq(got.rh_node, 65535);
    ck_assert_int_eq(memcmp(got.rh_cluster, h.rh_cluster, sizeof(h.rh_cluster)), 0);
    ck_assert_int_eq(memcmp(got.rh_nonce, h.rh_nonce, sizeof(h.rh_nonce)), 0);
}
END_TEST

/* Builds a hello map with one field altered and checks the parse result. */
typedef enum {
    H_OK,
    H_NO_NONCE,
    H_SHORT_NONCE,
    H_LONG_CLUSTER,
    H_NODE0,
    H_NODE_BIG,
    H_PROTO_STR,
    H_CLUSTER_STR
} hmut_t;

static int parse_mutated(hmut_t mut)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t b[64] = {0};
    repl_msg_t m;
    repl_hello_t h;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, mut == H_NO_NONCE ? 4 : 5);
    pack_kv_str(&pk, "t", "hello", 5);
    if (mut == H_PROTO_STR)
        pack_kv_str(&pk, "proto", "1", 1);
    else
        pack_kv_u64(&pk, "proto", 1);
    if (mut == H_CLUSTER_STR)
        pack_kv_str(&pk, "cluster", "12345678", 8);
    else
        pack_kv_bin(&pk, "cluster", b, mut == H_LONG_CLUSTER ? 9 : 8);
    pack_kv_u64(&pk, "node", mut == H_NODE0 ? 0 : mut == H_NODE_BIG ? 65536 : 7);
    if (mut != H_NO_NONCE)
        pack_kv_bin(&pk, "nonce", b, mut == H_SHORT_NONCE ? 31 : 32);
    ck_assert_int_eq(repl_msg_decode((const uint8_t *)sb.data, sb.size, &m), 0);
    rc = repl_hello_parse(m.rm_obj, &h);
    repl_msg_free(&m);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

START_TEST(test_hello_strict)
{
    ck_assert_int_eq(parse_mutated(H_OK), 0);
    ck_assert_int_eq(parse_mutated(H_NO_NONCE), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_SHORT_NONCE), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_LONG_CLUSTER), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_NODE0), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_NODE_BIG), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_PROTO_STR), CAIRN_EPROTO);
    ck_assert_int_eq(parse_mutated(H_CLUSTER_STR), CAIRN_EPROTO);
}
END_TEST

START_TEST(test_auth_msg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t mac[REPL_MAC_LEN], got[REPL_MAC_LEN];
    repl_msg_t m;

    fill(mac, sizeof(mac), 3);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert_int_eq(repl_auth_msg_pack(&pk, mac), 0);
    ck_assert_int_eq(repl_msg_decode((const uint8_t *)sb.data, sb.size, &m), 0);
    ck_assert_str_eq(m.rm_type, "auth");
    ck_assert_int_eq(repl_auth_msg_parse(m.rm_obj, got), 0);
    ck_assert_int_eq(memcmp(mac, got, sizeof(mac)), 0);
    repl_msg_free(&m);
    msgpack_sbuffer_destroy(&sb);

    /* 31-byte mac. */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_kv_str(&pk, "t", "auth", 4);
    pack_kv_bin(&pk, "mac", mac, 31);
    ck_assert_int_eq(repl_msg_decode((const uint8_t *)sb.data, sb.size, &m), 0);
    ck_assert_int_eq(repl_auth_msg_parse(m.rm_obj, got), CAIRN_EPROTO);
    repl_msg_free(&m);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("repl_auth");
    TCase *tc = tcase_create("auth");

    tcase_add_test(tc, test_cluster_id);
    tcase_add_test(tc, test_init_free);
    tcase_add_test(tc, test_nonce_fresh);
    tcase_add_test(tc, test_mac_verifies);
    tcase_add_test(tc, test_wrong_secret_fails);
    tcase_add_test(tc, test_tampering_fails);
    tcase_add_test(tc, test_hello_round_trip);
    tcase_add_test(tc, test_hello_strict);
    tcase_add_test(tc, test_auth_msg);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
