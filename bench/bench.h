/*
 * bench.h -- cairn-bench: workload, phases and the figures they produce.
 *
 * A run has up to two phases per backend: an optional prefill (every key
 * written once, in key order, not measured) and the measured phase. A phase
 * hands out requests through bench_claim(); the HTTP backend (http_load.c,
 * one libuv loop per thread, keep-alive connections in closed loops) and
 * the raw-disk backend (raw_load.c, one thread per "connection") both take
 * their work from it, so they run the same workload. Each worker thread
 * records into its own bench_stats_t; they are merged after the threads are
 * joined.
 */
#ifndef CAIRN_BENCH_BENCH_H
#define CAIRN_BENCH_BENCH_H

#include "bench/hist.h"
#include "bench/rng.h"
#include "bench/sizedist.h"
#include "bench/target.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_VERSION "0.1.0"
#define BENCH_MAX_TARGETS 16
#define BENCH_MAX_PIDS 16
#define BENCH_MAX_CONNECTIONS 4096
#define BENCH_MAX_THREADS 64
#define BENCH_PATTERN_SIZE (8u << 20) /* random bytes bodies are cut from */
#define BENCH_CHUNK (1u << 20)        /* largest single write of a body */
#define BENCH_ERRKINDS 32
#define BENCH_ERRNAME_MAX 48

typedef enum { BENCH_OP_PUT = 0, BENCH_OP_GET = 1, BENCH_NOPS = 2 } bench_op_t;

typedef enum {
    BENCH_MODE_PUT,
    BENCH_MODE_GET,
    BENCH_MODE_MIXED,
    BENCH_MODE_PUTGET, /* PUT a key, then GET it back ("get-big") */
} bench_mode_t;

/* Everything the command line decides; read-only once the run starts. */
typedef struct bench_conf {
    bench_mode_t bc_mode;
    sizedist_t bc_size;
    char bc_size_spec[SIZEDIST_MAX_SPEC + 1];
    unsigned bc_connections;
    unsigned bc_threads;
    double bc_duration_s; /* 0: until bc_requests are done */
    double bc_warmup_s;
    uint64_t bc_requests; /* 0: until the duration is over */
    uint64_t bc_keys;
    double bc_get_ratio;       /* mixed mode: share of GETs */
    const char *bc_durability; /* NULL: no ?durability= */
    char bc_prefix[256];       /* key prefix as given */
    char bc_prefix_enc[800];   /* the same, percent-encoded for the path */
    int bc_prefill;
    double bc_timeout_s; /* no progress for this long fails a request */
    uint64_t bc_seed;
    const char *bc_token; /* bearer token or NULL */
    bench_target_t bc_targets[BENCH_MAX_TARGETS];
    unsigned bc_ntargets;
    const char *bc_raw_dir;
    int bc_keep_raw;
    int bc_progress;
} bench_conf_t;

/* One request as handed out by bench_claim(). */
typedef struct bench_req {
    bench_op_t rq_op;
    uint64_t rq_key;
    uint64_t rq_size;    /* PUT: body length */
    uint64_t rq_pat_off; /* PUT: where in the pattern the body starts */
    int rq_then_get;     /* put-get: GET the same key after a successful PUT */
} bench_req_t;

/* A phase shared by all worker threads of one backend. */
typedef struct bench_phase {
    const bench_conf_t *bp_conf;
    const unsigned char *bp_pattern; /* BENCH_PATTERN_SIZE bytes, read-only */
    bench_mode_t bp_mode;
    int bp_prefill;       /* PUT keys 0..keys-1 once each, in order */
    uint64_t bp_requests; /* 0: no limit */
    uint64_t bp_start_ns; /* uv_hrtime() clock */
    uint64_t bp_warm_end_ns;
    uint64_t bp_deadline_ns; /* 0: none */
    atomic_uint_fast64_t bp_claimed;
    atomic_int bp_stop;               /* deadline passed or interrupted */
    atomic_int bp_interrupted;        /* SIGINT: later phases are skipped */
    atomic_uint_fast64_t bp_stop_ns;  /* first instant the phase was told to stop */
    atomic_uint_fast64_t bp_done_ops; /* for the progress line only */
    struct bench_sampler *bp_sampler; /* node memory sampling, or NULL */
} bench_phase_t;

typedef struct bench_opstats {
    hist_t os_hist; /* latency of successful requests, us */
    uint64_t os_ops;
    uint64_t os_bytes;
    uint64_t os_errors;
} bench_opstats_t;

typedef struct bench_errkind {
    char ek_name[BENCH_ERRNAME_MAX];
    uint64_t ek_count;
} bench_errkind_t;

typedef struct bench_stats {
    bench_opstats_t bs_op[BENCH_NOPS];
    bench_errkind_t bs_errs[BENCH_ERRKINDS];
    unsigned bs_nerrs;
    uint64_t bs_errs_other; /* kinds beyond BENCH_ERRKINDS */
    uint64_t bs_aborted;    /* in flight when the phase ended; not errors */
    uint64_t bs_last_ns;    /* last completion, success or error */
} bench_stats_t;

/* The merged outcome of a phase. */
typedef struct bench_result {
    bench_stats_t br_stats;
    double br_elapsed_s; /* measured window */
    int br_ran;
} bench_result_t;

/* Samples of one node process. */
typedef struct bench_node_mem {
    pid_t nm_pid;
    int nm_ok;   /* at least one sample */
    int nm_gone; /* the process disappeared */
    uint64_t nm_start_kb;
    uint64_t nm_peak_kb; /* largest VmRSS seen */
    uint64_t nm_end_kb;
    uint64_t nm_hwm_kb; /* VmHWM at the last sample (peak since the process started) */
    uint64_t nm_samples;
} bench_node_mem_t;

/* workload.c */
const char *bench_mode_name(bench_mode_t m);
int bench_mode_parse(const char *s, bench_mode_t *out);
const char *bench_op_name(bench_op_t op);
/* Fills buf with BENCH_PATTERN_SIZE pseudo-random bytes from seed. */
void bench_pattern_fill(unsigned char *buf, uint64_t seed);
/*
 * Prepares a phase starting now. duration_s/warmup_s 0 mean none; requests
 * 0 means unlimited. A prefill phase ignores duration and requests.
 */
void bench_phase_init(bench_phase_t *ph, const bench_conf_t *conf, const unsigned char *pattern,
                      int prefill, uint64_t now_ns);
/*
 * Hands out the next request for a worker (rng is the worker's own).
 * Returns 1 with *rq filled, or 0 when the phase is over (deadline passed,
 * request budget spent, every key prefilled, or stop requested).
 */
int bench_claim(bench_phase_t *ph, bench_rng_t *rng, uint64_t now_ns, bench_req_t *rq);
/* Tells every worker to stop at now_ns (idempotent; the first call wins). */
void bench_phase_stop(bench_phase_t *ph, uint64_t now_ns);
/* The key name for index key into out ("<prefix><key>"); encoded picks the URL form. */
void bench_key_name(const bench_conf_t *conf, uint64_t key, int encoded, char *out, size_t cap);

/* stats.c */
void bench_stats_init(bench_stats_t *s);
/*
 * Records a successful request of op that started at t0_ns and finished at
 * done_ns with bytes of body moved. Requests finishing in the warmup or
 * after the deadline are not counted.
 */
void bench_stats_ok(bench_stats_t *s, const bench_phase_t *ph, bench_op_t op, uint64_t t0_ns,
                    uint64_t done_ns, uint64_t bytes);
/* Records a failed request under the error kind name (copied, truncated). */
void bench_stats_error(bench_stats_t *s, const bench_phase_t *ph, bench_op_t op, const char *kind,
                       uint64_t done_ns);
void bench_stats_merge(bench_stats_t *dst, const bench_stats_t *src);
uint64_t bench_stats_errors(const bench_stats_t *s);
/* Fills r->br_elapsed_s from the phase window and the merged stats. */
void bench_result_finish(bench_result_t *r, const bench_phase_t *ph);

/*
 * http_load.c: runs the phase against conf->bc_targets (resolved) and merges
 * the figures into *out. Returns 0 or a negative code when the threads could
 * not be set up; request failures are figures, not return codes. The caller
 * must have SIGPIPE ignored (libuv writes to sockets with write(2)).
 */
int http_load_run(bench_phase_t *ph, bench_result_t *out);

/*
 * raw_load.c: runs the phase against files in dir (an existing directory the
 * caller owns; blob.* and tmp.* names are used). Returns 0, or a negative
 * code when dir cannot be opened or threads not set up.
 */
int raw_load_run(bench_phase_t *ph, const char *dir, bench_result_t *out);

/* driver.c */
typedef void (*bench_worker_fn)(void *arg);
typedef struct bench_sampler {
    bench_node_mem_t *sm_nodes; /* borrowed; updated from the main thread only */
    unsigned sm_nnodes;
} bench_sampler_t;
/*
 * Runs fn(args[i]) on nworkers new threads and waits until all return,
 * meanwhile sampling ph->bp_sampler every 100 ms, printing a progress line
 * each second when asked, and turning SIGINT into bench_phase_stop(). Returns
 * 0, or a negative code when a thread or the loop could not be set up (the
 * threads already started are still joined).
 */
int bench_drive(bench_phase_t *ph, unsigned nworkers, bench_worker_fn fn, void **args);
/* Takes one sample of every node still alive. */
void bench_sample_nodes(bench_sampler_t *sm);

#endif
