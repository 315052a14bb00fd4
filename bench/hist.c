/*
 * hist.c -- log-linear latency histogram (see hist.h for the layout).
 *
 * Index of a value v >= 256: with m the position of its top bit and
 * shift = m - 7, v >> shift lies in [128, 256); the bucket is
 * 256 + (shift - 1) * 128 + (v >> shift) - 128 and spans 2^shift values.
 */
#include "bench/hist.h"

#include <string.h>

void hist_init(hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->h_min = UINT64_MAX;
}

unsigned hist_index(uint64_t us)
{
    unsigned msb, shift;

    if (us > HIST_MAX_TRACKED)
        us = HIST_MAX_TRACKED;
    if (us < 2 * HIST_SUB_COUNT)
        return (unsigned)us;
    msb = 63u - (unsigned)__builtin_clzll(us);
    shift = msb - HIST_SUB_BITS;
    return 2 * HIST_SUB_COUNT + (shift - 1) * HIST_SUB_COUNT + (unsigned)(us >> shift) -
           HIST_SUB_COUNT;
}

uint64_t hist_bucket_low(unsigned idx)
{
    unsigned shift, sub;

    if (idx < 2 * HIST_SUB_COUNT)
        return idx;
    shift = (idx - 2 * HIST_SUB_COUNT) / HIST_SUB_COUNT + 1;
    sub = (idx - 2 * HIST_SUB_COUNT) % HIST_SUB_COUNT + HIST_SUB_COUNT;
    return (uint64_t)sub << shift;
}

uint64_t hist_bucket_high(unsigned idx)
{
    unsigned shift;

    if (idx < 2 * HIST_SUB_COUNT)
        return idx;
    shift = (idx - 2 * HIST_SUB_COUNT) / HIST_SUB_COUNT + 1;
    return hist_bucket_low(idx) + (UINT64_C(1) << shift) - 1;
}

void hist_record(hist_t *h, uint64_t us)
{
    h->h_counts[hist_index(us)]++;
    h->h_total++;
    h->h_sum += us;
    if (us < h->h_min)
        h->h_min = us;
    if (us > h->h_max)
        h->h_max = us;
    if (us > HIST_MAX_TRACKED)
        h->h_clamped++;
}

void hist_merge(hist_t *dst, const hist_t *src)
{
    unsigned i;

    if (src->h_total == 0)
        return;
    for (i = 0; i < HIST_NBUCKETS; i++)
        dst->h_counts[i] += src->h_counts[i];
    dst->h_total += src->h_total;
    dst->h_sum += src->h_sum;
    dst->h_clamped += src->h_clamped;
    if (src->h_min < dst->h_min)
        dst->h_min = src->h_min;
    if (src->h_max > dst->h_max)
        dst->h_max = src->h_max;
}

uint64_t hist_percentile(const hist_t *h, double pct)
{
    uint64_t rank, seen = 0, v;
    double want;
    unsigned i;

    if (h->h_total == 0)
        return 0;
    if (!(pct > 0.0))
        return h->h_min;
    if (pct >= 100.0)
        return h->h_max;
    want = pct / 100.0 * (double)h->h_total;
    rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    for (i = 0; i < HIST_NBUCKETS; i++) {
        seen += h->h_counts[i];
        if (seen >= rank)
            break;
    }
    if (i == HIST_NBUCKETS)
        return h->h_max;
    v = hist_bucket_high(i);
    if (v > h->h_max)
        v = h->h_max;
    if (v < h->h_min)
        v = h->h_min;
    return v;
}

double hist_mean(const hist_t *h)
{
    if (h->h_total == 0)
        return 0.0;
    return (double)h->h_sum / (double)h->h_total;
}
