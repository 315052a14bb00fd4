/*
 * hist.h -- latency histogram with HDR-style log-linear buckets.
 *
 * Values are microseconds. Values below 256 get a bucket each; above that
 * every power of two is split into 128 equal sub-buckets, so a bucket is
 * never wider than 1/128 (0.8%) of the values it holds. The buckets reach
 * 2^26 - 1 us (67 s); larger values are counted in the top bucket, but
 * h_max keeps the exact largest value. Memory is fixed (20 KiB); nothing is
 * allocated and no sample is stored. A hist_t is not thread-safe: each
 * thread records into its own and they are merged afterwards.
 */
#ifndef CAIRN_BENCH_HIST_H
#define CAIRN_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* 128 sub-buckets per power of two */
#define HIST_TOP_BITS 26                     /* largest bucketed value < 2^26 us */
#define HIST_NBUCKETS (2u * HIST_SUB_COUNT + (HIST_TOP_BITS - HIST_SUB_BITS - 1) * HIST_SUB_COUNT)
#define HIST_MAX_TRACKED ((UINT64_C(1) << HIST_TOP_BITS) - 1)

typedef struct hist {
    uint64_t h_counts[HIST_NBUCKETS];
    uint64_t h_total;   /* samples recorded */
    uint64_t h_min;     /* exact; UINT64_MAX when empty */
    uint64_t h_max;     /* exact; 0 when empty */
    uint64_t h_sum;     /* exact sum, for the mean */
    uint64_t h_clamped; /* samples above HIST_MAX_TRACKED */
} hist_t;

void hist_init(hist_t *h);
void hist_record(hist_t *h, uint64_t us);
/* Adds every sample of src to dst. */
void hist_merge(hist_t *dst, const hist_t *src);
/*
 * The value at percentile pct (0..100): the highest value equivalent to the
 * bucket holding the ceil(pct% * total)-th smallest sample, clamped to
 * [h_min, h_max] (so 100 gives the exact max). 0 when empty.
 */
uint64_t hist_percentile(const hist_t *h, double pct);
double hist_mean(const hist_t *h);

/* Bucket arithmetic, exposed for tests. */
unsigned hist_index(uint64_t us);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

#endif
