/*
 * util_store.h -- shared helpers for storage tests (linked into every
 * storage test binary via tests/util_*.c). Helpers assert with Check, so
 * call them from inside a test.
 */
#ifndef CAIRN_UTIL_STORE_H
#define CAIRN_UTIL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/store.h"

/* mkdtemp under /tmp ("/tmp/cairn-<tag>-XXXXXX"); caller frees. */
char *ut_tmpdir(const char *tag);
/* rm -rf dir (ignores errors). */
void ut_rm_rf(const char *dir);
/* Deterministic bytes for (seed, n). */
void ut_fill(uint8_t *p, size_t n, uint64_t seed);
/* A malloc'ed buffer of ut_fill bytes (at least 1 byte allocated); the
 * caller frees it. */
uint8_t *ut_data(size_t n, uint64_t seed);

/* Opens a store in dir with node id 1 and inline blobs off (every write
 * file-backed: what the suites that test file mechanics need), or with
 * *base (so_dir replaced). */
store_t *ut_open(const char *dir, const store_opts_t *base);

/* Whole local put in 64 KiB chunks; aborts on a write error. */
int ut_put_local(store_t *s, const char *key, const void *data, size_t len, store_stat_t *out);
/* Whole replica put of version v (hash computed from data). */
int ut_put_replica(store_t *s, const char *key, const void *data, size_t len, store_version_t v,
                   store_stat_t *out);

/* Copies the bytes of a DATA step (inline memory or file) into dst;
 * returns the count read (pread's result for a file). */
ssize_t ut_step_copy(const store_step_t *step, void *dst);

/*
 * Reads the current version of key through the reader state machine,
 * waiting with store_read_wait() on WAIT until deadline_ms from now.
 * On 0, *out (malloc'ed) holds the bytes and *st (may be NULL) the record
 * served; otherwise the reader's error is returned.
 */
int ut_read_all(store_t *s, const char *key, uint64_t deadline_ms, uint8_t **out, size_t *len,
                store_stat_t *st);
/* Asserts key reads back as exactly data[0..len). */
void ut_assert_content(store_t *s, const char *key, const void *data, size_t len);

/* Every blob file id under DIR/blobs; returns the count (max ids kept). */
size_t ut_scan_files(const char *dir, uint64_t *ids, size_t max);
/* 1 if DIR/blobs has the file of fid. */
int ut_file_exists(const char *dir, uint64_t fid);

#endif
