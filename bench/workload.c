/*
 * workload.c -- what the next request is: shared by both backends.
 */
#include "bench/bench.h"
#include "common/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const wl_mode_names[] = {"put", "get", "mixed", "put-get"};

const char *bench_mode_name(bench_mode_t m)
{
    if ((unsigned)m >= sizeof(wl_mode_names) / sizeof(wl_mode_names[0]))
        return "?";
    return wl_mode_names[m];
}

int bench_mode_parse(const char *s, bench_mode_t *out)
{
    if (strcmp(s, "put") == 0)
        *out = BENCH_MODE_PUT;
    else if (strcmp(s, "get") == 0)
        *out = BENCH_MODE_GET;
    else if (strcmp(s, "mixed") == 0)
        *out = BENCH_MODE_MIXED;
    else if (strcmp(s, "put-get") == 0 || strcmp(s, "get-big") == 0)
        *out = BENCH_MODE_PUTGET;
    else
        return CAIRN_EINVAL;
    return 0;
}

const char *bench_op_name(bench_op_t op)
{
    return op == BENCH_OP_PUT ? "put" : op == BENCH_OP_GET ? "get" : "?";
}

void bench_pattern_fill(unsigned char *buf, uint64_t seed)
{
    bench_rng_t r;
    uint64_t v;
    size_t i;

    bench_rng_seed(&r, seed ^ 0x5eedfacecafef00dULL);
    for (i = 0; i + 8 <= BENCH_PATTERN_SIZE; i += 8) {
        v = bench_rng_next(&r);
        memcpy(buf + i, &v, 8);
    }
}

void bench_phase_init(bench_phase_t *ph, const bench_conf_t *conf, const unsigned char *pattern,
                      int prefill, uint64_t now_ns)
{
    memset(ph, 0, sizeof(*ph));
    ph->bp_conf = conf;
    ph->bp_pattern = pattern;
    ph->bp_mode = prefill ? BENCH_MODE_PUT : conf->bc_mode;
    ph->bp_prefill = prefill;
    ph->bp_start_ns = now_ns;
    ph->bp_warm_end_ns = now_ns;
    if (!prefill) {
        ph->bp_requests = conf->bc_requests;
        ph->bp_warm_end_ns = now_ns + (uint64_t)(conf->bc_warmup_s * 1e9);
        if (conf->bc_duration_s > 0)
            ph->bp_deadline_ns = ph->bp_warm_end_ns + (uint64_t)(conf->bc_duration_s * 1e9);
    }
    atomic_init(&ph->bp_claimed, 0);
    atomic_init(&ph->bp_stop, 0);
    atomic_init(&ph->bp_interrupted, 0);
    atomic_init(&ph->bp_stop_ns, 0);
    atomic_init(&ph->bp_done_ops, 0);
}

void bench_phase_stop(bench_phase_t *ph, uint64_t now_ns)
{
    uint_fast64_t expect = 0;

    atomic_compare_exchange_strong(&ph->bp_stop_ns, &expect, now_ns);
    atomic_store(&ph->bp_stop, 1);
}

int bench_claim(bench_phase_t *ph, bench_rng_t *rng, uint64_t now_ns, bench_req_t *rq)
{
    const bench_conf_t *conf = ph->bp_conf;
    uint64_t n;

    if (atomic_load_explicit(&ph->bp_stop, memory_order_relaxed))
        return 0;
    if (ph->bp_deadline_ns != 0 && now_ns >= ph->bp_deadline_ns) {
        bench_phase_stop(ph, ph->bp_deadline_ns);
        return 0;
    }
    memset(rq, 0, sizeof(*rq));
    /*
     * Prefill walks the keys in order. put-get walks them round-robin too, so
     * concurrent pairs never share a key (while keys >= connections) and a
     * GET always reads back the PUT just before it. Otherwise keys are
     * uniform over the keyspace.
     */
    if (ph->bp_prefill || ph->bp_requests != 0 || ph->bp_mode == BENCH_MODE_PUTGET) {
        n = atomic_fetch_add(&ph->bp_claimed, 1);
        if (ph->bp_prefill && n >= conf->bc_keys)
            return 0;
        if (!ph->bp_prefill && ph->bp_requests != 0 && n >= ph->bp_requests)
            return 0;
        if (ph->bp_prefill || ph->bp_mode == BENCH_MODE_PUTGET)
            rq->rq_key = n % conf->bc_keys;
        else
            rq->rq_key = bench_rng_below(rng, conf->bc_keys);
    } else {
        rq->rq_key = bench_rng_below(rng, conf->bc_keys);
    }
    switch (ph->bp_mode) {
    case BENCH_MODE_GET:
        rq->rq_op = BENCH_OP_GET;
        break;
    case BENCH_MODE_MIXED:
        rq->rq_op = bench_rng_unit(rng) < conf->bc_get_ratio ? BENCH_OP_GET : BENCH_OP_PUT;
        break;
    case BENCH_MODE_PUTGET:
        rq->rq_op = BENCH_OP_PUT;
        rq->rq_then_get = 1;
        break;
    case BENCH_MODE_PUT:
    default:
        rq->rq_op = BENCH_OP_PUT;
        break;
    }
    if (rq->rq_op == BENCH_OP_PUT) {
        rq->rq_size = sizedist_sample(&conf->bc_size, rng);
        rq->rq_pat_off = bench_rng_below(rng, BENCH_PATTERN_SIZE);
    }
    return 1;
}

void bench_key_name(const bench_conf_t *conf, uint64_t key, int encoded, char *out, size_t cap)
{
    snprintf(out, cap, "%s%" PRIu64, encoded ? conf->bc_prefix_enc : conf->bc_prefix, key);
}
