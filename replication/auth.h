/*
 * auth.h -- peer handshake: cluster id, nonces, HMAC-SHA256 proofs.
 *
 * Both sides of a new connection send
 *     {"t":"hello","proto":2,"cluster":bin8,"node":uint,"nonce":bin32}
 * and, after reading the other's hello,
 *     {"t":"auth","mac":bin32}
 * with
 *     cluster = SHA-256("cairn-cluster-v1" || secret)[0..8)
 *     mac     = HMAC-SHA256(secret, "cairn-auth-v1" || cluster || u16be(sender)
 *                           || u16be(receiver) || sender_nonce || receiver_nonce)
 * Binding both node ids and both fresh nonces makes a proof useless on any
 * other connection and on the reverse direction of the same one. MACs are
 * compared in constant time.
 */
#ifndef CAIRN_REPL_AUTH_H
#define CAIRN_REPL_AUTH_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_PROTO_VERSION 2u /* 2: small blobs inside "chg" ("d") */
#define REPL_CLUSTER_ID_LEN 8u
#define REPL_NONCE_LEN 32u
#define REPL_MAC_LEN 32u
#define REPL_SECRET_MAX 4096u

typedef struct repl_auth {
    uint8_t *ra_secret; /* owned copy, wiped on free */
    size_t ra_secret_len;
    uint8_t ra_cluster[REPL_CLUSTER_ID_LEN];
} repl_auth_t;

/*
 * Copies the secret (1..REPL_SECRET_MAX bytes) and derives the cluster id.
 * CAIRN_EINVAL for a bad length, CAIRN_ENOMEM; *a is then empty (free is
 * still safe).
 */
int repl_auth_init(repl_auth_t *a, const void *secret, size_t len);
/* Wipes and frees the secret; safe to call twice. */
void repl_auth_free(repl_auth_t *a);

/* cluster id of a secret, without keeping it. CAIRN_EINVAL for a bad length. */
int repl_auth_cluster_id(const void *secret, size_t len, uint8_t out[REPL_CLUSTER_ID_LEN]);
/* Fresh random nonce from OpenSSL's CSPRNG. CAIRN_EUNAVAIL if it cannot supply one. */
int repl_auth_nonce(uint8_t out[REPL_NONCE_LEN]);

/* The proof that sender, holding a's secret, sends to receiver. */
int repl_auth_mac(const repl_auth_t *a, uint16_t sender, uint16_t receiver,
                  const uint8_t sender_nonce[REPL_NONCE_LEN],
                  const uint8_t receiver_nonce[REPL_NONCE_LEN], uint8_t out[REPL_MAC_LEN]);
/* 0 when mac is the proof repl_auth_mac would compute, else CAIRN_EPROTO. */
int repl_auth_verify(const repl_auth_t *a, uint16_t sender, uint16_t receiver,
                     const uint8_t sender_nonce[REPL_NONCE_LEN],
                     const uint8_t receiver_nonce[REPL_NONCE_LEN], const uint8_t mac[REPL_MAC_LEN]);

/* ---- handshake messages ---- */

typedef struct repl_hello {
    uint64_t rh_proto; /* as sent; the caller compares it with REPL_PROTO_VERSION */
    uint8_t rh_cluster[REPL_CLUSTER_ID_LEN];
    uint16_t rh_node; /* 1..65535 */
    uint8_t rh_nonce[REPL_NONCE_LEN];
} repl_hello_t;

/* Packs the hello map (the whole payload). -ENOMEM from msgpack-c. */
int repl_hello_pack(msgpack_packer *pk, const repl_hello_t *h);
/*
 * Reads a decoded hello map (its "t" already checked by the caller). Every
 * field must be present with its exact type and size: proto uint, cluster
 * bin8, node uint 1..65535, nonce bin32. Otherwise CAIRN_EPROTO. Unknown
 * extra keys are ignored (forward compatibility).
 */
int repl_hello_parse(const msgpack_object *msg, repl_hello_t *out);

int repl_auth_msg_pack(msgpack_packer *pk, const uint8_t mac[REPL_MAC_LEN]);
/* "mac" must be bin32; CAIRN_EPROTO otherwise. */
int repl_auth_msg_parse(const msgpack_object *msg, uint8_t mac[REPL_MAC_LEN]);

#endif
