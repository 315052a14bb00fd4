/*
 * rng.h -- small, fast, per-thread pseudo-random numbers for the workload.
 *
 * splitmix64: good enough to pick keys, sizes and body offsets; not for
 * anything secret. A bench_rng_t belongs to one thread.
 */
#ifndef CAIRN_BENCH_RNG_H
#define CAIRN_BENCH_RNG_H

#include <stdint.h>

typedef struct bench_rng {
    uint64_t br_state;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed)
{
    r->br_state = seed;
}

static inline uint64_t bench_rng_next(bench_rng_t *r)
{
    uint64_t z = (r->br_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n > 0 (modulo bias is below 2^-40 for n < 2^24). */
static inline uint64_t bench_rng_below(bench_rng_t *r, uint64_t n)
{
    return n == 0 ? 0 : bench_rng_next(r) % n;
}

/* Uniform double in [0, 1). */
static inline double bench_rng_unit(bench_rng_t *r)
{
    return (double)(bench_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
