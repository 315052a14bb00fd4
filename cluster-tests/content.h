/*
 * content.h -- the bytes the built-in workload writes, and content hashes.
 *
 * The content of write op `id` in a run with seed `seed` is a pure function
 * of (seed, id, size): 8-byte little-endian words mix64(base + i) with
 * base = mix64(seed ^ mix64(id)), cut to size. So a history only has to
 * record the hash of what was written, and anyone can regenerate the bytes.
 *
 * Hashes are XXH3-128 in canonical (big-endian) form as 32 lower-case hex
 * digits: exactly the ETag cairnd sends.
 */
#ifndef CAIRN_HARNESS_CONTENT_H
#define CAIRN_HARNESS_CONTENT_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#define CONTENT_HASH_HEX 33 /* 32 digits + NUL */

/* Fills out with bytes [off, off + len) of the content of (seed, id). */
void content_fill(uint64_t seed, uint64_t id, uint64_t off, void *out, size_t len);

/* Hash of the size-byte content of (seed, id), as hex (hex: 33 bytes). */
void content_hash(uint64_t seed, uint64_t id, uint64_t size, char *hex);

/* Formats an XXH3-128 result canonically as hex (33 bytes). */
void content_hash_hex(XXH128_hash_t h, char *hex);

/* 1 if s is exactly 32 lower-case hex digits. */
int content_hash_valid(const char *s);

#endif
