/*
 * auth.c -- cluster id, nonces and handshake proofs on OpenSSL libcrypto.
 */
#include "replication/auth.h"
#include "common/error.h"
#include "common/pack.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static const char cluster_label[] = "cairn-cluster-v1";
static const char auth_label[] = "cairn-auth-v1";

/* label || cluster || u16 || u16 || nonce || nonce */
#define AUTH_MSG_LEN (sizeof(auth_label) - 1 + REPL_CLUSTER_ID_LEN + 4 + 2 * REPL_NONCE_LEN)

int repl_auth_cluster_id(const void *secret, size_t len, uint8_t out[REPL_CLUSTER_ID_LEN])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx;
    int rc = CAIRN_ENOMEM;

    if (secret == NULL || len == 0 || len > REPL_SECRET_MAX)
        return CAIRN_EINVAL;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CAIRN_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, cluster_label, sizeof(cluster_label) - 1) != 1 ||
        EVP_DigestUpdate(ctx, secret, len) != 1 || EVP_DigestFinal_ex(ctx, digest, NULL) != 1)
        goto done;
    memcpy(out, digest, REPL_CLUSTER_ID_LEN);
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(digest, sizeof(digest));
    return rc;
}

int repl_auth_init(repl_auth_t *a, const void *secret, size_t len)
{
    int rc;

    memset(a, 0, sizeof(*a));
    rc = repl_auth_cluster_id(secret, len, a->ra_cluster);
    if (rc < 0)
        return rc;
    a->ra_secret = malloc(len);
    if (a->ra_secret == NULL)
        return CAIRN_ENOMEM;
    memcpy(a->ra_secret, secret, len);
    a->ra_secret_len = len;
    return 0;
}

void repl_auth_free(repl_auth_t *a)
{
    if (a->ra_secret != NULL) {
        OPENSSL_cleanse(a->ra_secret, a->ra_secret_len);
        free(a->ra_secret);
    }
    memset(a, 0, sizeof(*a));
}

int repl_auth_nonce(uint8_t out[REPL_NONCE_LEN])
{
    return RAND_bytes(out, (int)REPL_NONCE_LEN) == 1 ? 0 : CAIRN_EUNAVAIL;
}

int repl_auth_mac(const repl_auth_t *a, uint16_t sender, uint16_t receiver,
                  const uint8_t sender_nonce[REPL_NONCE_LEN],
                  const uint8_t receiver_nonce[REPL_NONCE_LEN], uint8_t out[REPL_MAC_LEN])
{
    uint8_t msg[AUTH_MSG_LEN];
    unsigned int maclen = 0;
    size_t n = 0;

    if (a->ra_secret == NULL)
        return CAIRN_EINVAL;
    memcpy(msg + n, auth_label, sizeof(auth_label) - 1);
    n += sizeof(auth_label) - 1;
    memcpy(msg + n, a->ra_cluster, REPL_CLUSTER_ID_LEN);
    n += REPL_CLUSTER_ID_LEN;
    msg[n++] = (uint8_t)(sender >> 8);
    msg[n++] = (uint8_t)sender;
    msg[n++] = (uint8_t)(receiver >> 8);
    msg[n++] = (uint8_t)receiver;
    memcpy(msg + n, sender_nonce, REPL_NONCE_LEN);
    n += REPL_NONCE_LEN;
    memcpy(msg + n, receiver_nonce, REPL_NONCE_LEN);
    n += REPL_NONCE_LEN;
    if (HMAC(EVP_sha256(), a->ra_secret, (int)a->ra_secret_len, msg, n, out, &maclen) == NULL ||
        maclen != REPL_MAC_LEN)
        return CAIRN_ENOMEM;
    return 0;
}

/* Computes the expected proof and compares in constant time. */
int repl_auth_verify(const repl_auth_t *a, uint16_t sender, uint16_t receiver,
                     const uint8_t sender_nonce[REPL_NONCE_LEN],
                     const uint8_t receiver_nonce[REPL_NONCE_LEN], const uint8_t mac[REPL_MAC_LEN])
{
    uint8_t want[REPL_MAC_LEN];
    int rc;

    rc = repl_auth_mac(a, sender, receiver, sender_nonce, receiver_nonce, want);
    if (rc < 0)
        goto done;
    rc = CRYPTO_memcmp(want, mac, REPL_MAC_LEN) == 0 ? 0 : CAIRN_EPROTO;
done:
    OPENSSL_cleanse(want, sizeof(want));
    return rc;
}

static int mp(int mrc)
{
    return mrc == 0 ? 0 : -ENOMEM;
}

int repl_hello_pack(msgpack_packer *pk, const repl_hello_t *h)
{
    int rc;

    rc = mp(msgpack_pack_map(pk, 5));
    if (rc == 0)
        rc = pack_kv_str(pk, "t", "hello", 5);
    if (rc == 0)
        rc = pack_kv_u64(pk, "proto", h->rh_proto);
    if (rc == 0)
        rc = pack_kv_bin(pk, "cluster", h->rh_cluster, REPL_CLUSTER_ID_LEN);
    if (rc == 0)
        rc = pack_kv_u64(pk, "node", h->rh_node);
    if (rc == 0)
        rc = pack_kv_bin(pk, "nonce", h->rh_nonce, REPL_NONCE_LEN);
    return rc;
}

int repl_hello_parse(const msgpack_object *msg, repl_hello_t *out)
{
    const uint8_t *p;
    size_t len;
    uint64_t node;

    memset(out, 0, sizeof(*out));
    if (pack_get_u64(msg, "proto", UINT64_MAX, &out->rh_proto) < 0)
        return CAIRN_EPROTO;
    if (pack_get_bin(msg, "cluster", REPL_CLUSTER_ID_LEN, REPL_CLUSTER_ID_LEN, &p, &len) < 0)
        return CAIRN_EPROTO;
    memcpy(out->rh_cluster, p, REPL_CLUSTER_ID_LEN);
    if (pack_get_u64(msg, "node", UINT16_MAX, &node) < 0 || node == 0)
        return CAIRN_EPROTO;
    out->rh_node = (uint16_t)node;
    if (pack_get_bin(msg, "nonce", REPL_NONCE_LEN, REPL_NONCE_LEN, &p, &len) < 0)
        return CAIRN_EPROTO;
    memcpy(out->rh_nonce, p, REPL_NONCE_LEN);
    return 0;
}

int repl_auth_msg_pack(msgpack_packer *pk, const uint8_t mac[REPL_MAC_LEN])
{
    int rc;

    rc = mp(msgpack_pack_map(pk, 2));
    if (rc == 0)
        rc = pack_kv_str(pk, "t", "auth", 4);
    if (rc == 0)
        rc = pack_kv_bin(pk, "mac", mac, REPL_MAC_LEN);
    return rc;
}

int repl_auth_msg_parse(const msgpack_object *msg, uint8_t mac[REPL_MAC_LEN])
{
    const uint8_t *p;
    size_t len;

    if (pack_get_bin(msg, "mac", REPL_MAC_LEN, REPL_MAC_LEN, &p, &len) < 0)
        return CAIRN_EPROTO;
    memcpy(mac, p, REPL_MAC_LEN);
    return 0;
}
