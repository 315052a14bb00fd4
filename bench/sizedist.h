/*
 * sizedist.h -- blob size distributions given on the command line.
 *
 *   SPEC   := ENTRY ("," ENTRY)*            at most SIZEDIST_MAX_ENTRIES entries
 *   ENTRY  := SIZE ["-" SIZE] [":" WEIGHT]
 *
 * SIZE is what conf_parse_size() accepts ("4096", "64K", "2G"; powers of
 * 1024) and at most SIZEDIST_MAX_SIZE. "A-B" is uniform over [A, B]
 * inclusive. WEIGHT is an integer 1..1000000 (default 1) giving the share of
 * requests that draw from the entry. Examples: "64K", "1K-1M",
 * "4K:90,1M:10", "1K-16K:70,1M-4M:30".
 */
#ifndef CAIRN_BENCH_SIZEDIST_H
#define CAIRN_BENCH_SIZEDIST_H

#include "bench/rng.h"

#include <stddef.h>
#include <stdint.h>

#define SIZEDIST_MAX_ENTRIES 16
#define SIZEDIST_MAX_SIZE (UINT64_C(1) << 40) /* 1 TiB */
#define SIZEDIST_MAX_WEIGHT 1000000
#define SIZEDIST_MAX_SPEC 512

typedef struct sizedist_entry {
    uint64_t se_min;
    uint64_t se_max;
    uint64_t se_weight;
} sizedist_entry_t;

typedef struct sizedist {
    unsigned sd_n;
    uint64_t sd_total_weight;
    sizedist_entry_t sd_e[SIZEDIST_MAX_ENTRIES];
} sizedist_t;

/*
 * Parses spec into *out. On any error (empty, junk, A > B, size or weight
 * out of range, too many entries, spec longer than SIZEDIST_MAX_SPEC)
 * returns CAIRN_EINVAL and leaves *out untouched.
 */
int sizedist_parse(const char *spec, sizedist_t *out);
/* Draws one size. */
uint64_t sizedist_sample(const sizedist_t *d, bench_rng_t *rng);
uint64_t sizedist_max(const sizedist_t *d);
/* Expected size in bytes. */
double sizedist_mean(const sizedist_t *d);
/* True when every draw gives the same size. */
int sizedist_is_fixed(const sizedist_t *d);

#endif
