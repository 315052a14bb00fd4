/*
 * keys.h -- validation and LMDB encoding of blob keys.
 *
 * A key is 1..1024 bytes of valid UTF-8 without NUL. LMDB keys are limited
 * to 511 bytes, so a key is stored as:
 *   len <= 448:  the key bytes themselves;
 *   len  > 448:  the first 448 bytes, a 0x00 byte, then XXH3-128 of the
 *                whole key (16 bytes) -- 465 bytes.
 * Keys never contain NUL, so the two forms never collide, short keys keep
 * exact byte order relative to everything, and a prefix of up to 448 bytes
 * is a prefix of the encoded form (prefix listing is a range scan; longer
 * prefixes scan on the first 448 bytes and filter on the full key, which
 * the record stores).
 */
#ifndef CAIRN_KEYS_H
#define CAIRN_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEY_MAX 1024
#define KEY_INLINE_MAX 448
#define KEY_ENC_MAX (KEY_INLINE_MAX + 1 + 16)

/* 0, or CAIRN_EINVAL: empty, longer than 1024, invalid UTF-8 or has NUL. */
int key_validate(const char *key, size_t len);
/* 0 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_validate(const char *s, size_t len);
/* Encodes a valid key into out (KEY_ENC_MAX bytes); returns the length. */
size_t key_encode(const char *key, size_t len, uint8_t out[KEY_ENC_MAX]);

#endif
