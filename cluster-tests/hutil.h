/*
 * hutil.h -- small helpers shared by the harness: clocks, a seeded random
 * generator, files and directories.
 *
 * Time in the harness is "run time": milliseconds on CLOCK_MONOTONIC since
 * the run's start (hu_clock_reset). Every operation and event of a history
 * is stamped with it, so one history has one clock.
 */
#ifndef CAIRN_HARNESS_HUTIL_H
#define CAIRN_HARNESS_HUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Sets run time 0 to now. Call once before any thread records anything. */
void hu_clock_reset(void);
/* Milliseconds since hu_clock_reset(). Thread-safe. */
int64_t hu_now_ms(void);
/* CLOCK_REALTIME in ms (for external workloads, which share no clock with us). */
int64_t hu_wall_ms(void);
/* Run time that corresponds to wall-clock ms w (inverse of the offset at reset). */
int64_t hu_wall_to_run_ms(int64_t w);
/* Sleeps ms milliseconds (restarts after signals). */
void hu_sleep_ms(int64_t ms);

/* splitmix64: the mixing function behind every derived seed and content. */
uint64_t hu_mix64(uint64_t x);

/* A small, fast, seeded generator (xoshiro256**). Not thread-safe: one per thread. */
typedef struct hu_rng {
    uint64_t hr_s[4];
} hu_rng_t;

void hu_rng_seed(hu_rng_t *r, uint64_t seed);
uint64_t hu_rng_next(hu_rng_t *r);
/* Uniform in [0, n); n == 0 returns 0. */
uint64_t hu_rng_below(hu_rng_t *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive). */
int64_t hu_rng_range(hu_rng_t *r, int64_t lo, int64_t hi);
/* 1 with probability pct/100. */
int hu_rng_pct(hu_rng_t *r, unsigned pct);

/* FNV-1a of a string, to derive per-scenario seeds from names. */
uint64_t hu_str_hash(const char *s);

/* mkdir -p; 0 or -errno. */
int hu_mkdir_p(const char *path, unsigned mode);
/* rm -rf (no symlink following); 0 or -errno of the first failure. */
int hu_rm_rf(const char *path);
/* Writes len bytes to path (created/truncated, mode). 0 or -errno. */
int hu_write_file(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file (at most cap bytes) into a malloc'ed NUL-terminated
 * buffer owned by the caller. 0, -errno or -EFBIG when larger than cap. */
int hu_read_file(const char *path, size_t cap, char **out, size_t *len);

/* Formats bytes as "12.3 MiB" etc. into out. Returns out. */
char *hu_fmt_bytes(uint64_t n, char *out, size_t cap);

#endif
