/*
 * api_data.h -- test content, hashes and on-disk checks for the node API tests.
 *
 * Content is generated, never stored: byte i of stream `seed` is a pure
 * function of (seed, i), so a 1 GiB blob can be produced and verified in
 * pieces of any size without holding it in memory.
 */
#ifndef CAIRN_API_DATA_H
#define CAIRN_API_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#define API_HASH_HEX 33 /* 32 lowercase hex digits + NUL */

/* Fills buf with bytes [off, off+len) of stream seed. */
void api_gen_fill(uint64_t seed, uint64_t off, void *buf, size_t len);

/* A malloc'd copy of bytes [0, len) of stream seed (never NULL: aborts the
 * test on allocation failure; len 0 gives a 1-byte allocation). */
uint8_t *api_gen_alloc(uint64_t seed, size_t len);

/* XXH3-128 of data in canonical big-endian form as lowercase hex -- the
 * format of cairn's ETag (without the quotes). */
void api_hash_hex(const void *data, size_t len, char out[API_HASH_HEX]);

/* The same hash over bytes [0, size) of stream seed, computed in pieces. */
void api_hash_gen_hex(uint64_t seed, uint64_t size, char out[API_HASH_HEX]);

/* Streaming form: init, update any number of times, final (frees state). */
typedef struct api_hasher {
    XXH3_state_t *ah_state;
} api_hasher_t;
void api_hasher_init(api_hasher_t *h);
void api_hasher_update(api_hasher_t *h, const void *data, size_t len);
void api_hasher_final(api_hasher_t *h, char out[API_HASH_HEX]);

/*
 * Percent-encodes raw[0..len) into a malloc'd NUL-terminated string
 * (caller frees). Unreserved characters (A-Z a-z 0-9 - . _ ~) stay as they
 * are; '/' stays when keep_slash is set (path), else becomes %2F (query).
 */
char *api_pct_encode(const char *raw, size_t len, int keep_slash);

/* Number of regular files whose name ends in ".blob" below data_dir/blobs
 * (0 when the directory does not exist). */
size_t api_count_blob_files(const char *data_dir);

/* Stores the paths of up to max .blob files under data_dir/blobs in paths
 * (each malloc'd; caller frees) and returns how many there are in total. */
size_t api_list_blob_files(const char *data_dir, char **paths, size_t max);

/* Removes a directory tree (best effort). */
void api_rm_rf(const char *dir);

/* Current CLOCK_MONOTONIC time in milliseconds. */
uint64_t api_now_ms(void);

/* Sleeps ms milliseconds. */
void api_sleep_ms(unsigned ms);

#endif
