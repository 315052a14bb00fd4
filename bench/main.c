/*
 * main.c -- cairn-bench: command line, phases, report.
 *
 * Exit status: 0 when every measured request succeeded, 3 when the run
 * completed but some requests failed, 1 when a phase could not run, 2 on a
 * usage error.
 */
#include "bench/bench.h"
#include "bench/procstat.h"
#include "bench/report.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define MAIN_TOKEN_MAX 1024
#define MAIN_JSON_CAP (16u << 20)

enum {
    OPT_URL = 256,
    OPT_MODE,
    OPT_GET_RATIO,
    OPT_SIZE,
    OPT_CONNECTIONS,
    OPT_THREADS,
    OPT_DURATION,
    OPT_REQUESTS,
    OPT_WARMUP,
    OPT_KEYS,
    OPT_KEY_PREFIX,
    OPT_DURABILITY,
    OPT_PREFILL,
    OPT_NO_PREFILL,
    OPT_TIMEOUT,
    OPT_TOKEN_FILE,
    OPT_PID,
    OPT_PID_FILE,
    OPT_RAW,
    OPT_KEEP_RAW,
    OPT_JSON,
    OPT_SEED,
    OPT_LABEL,
    OPT_PROGRESS,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option main_opts[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"mode", required_argument, NULL, OPT_MODE},
    {"get-ratio", required_argument, NULL, OPT_GET_RATIO},
    {"ratio", required_argument, NULL, OPT_GET_RATIO},
    {"size", required_argument, NULL, OPT_SIZE},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"key-prefix", required_argument, NULL, OPT_KEY_PREFIX},
    {"durability", required_argument, NULL, OPT_DURABILITY},
    {"prefill", no_argument, NULL, OPT_PREFILL},
    {"no-prefill", no_argument, NULL, OPT_NO_PREFILL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"pid", required_argument, NULL, OPT_PID},
    {"pid-file", required_argument, NULL, OPT_PID_FILE},
    {"raw", required_argument, NULL, OPT_RAW},
    {"keep-raw", no_argument, NULL, OPT_KEEP_RAW},
    {"json", required_argument, NULL, OPT_JSON},
    {"seed", required_argument, NULL, OPT_SEED},
    {"label", required_argument, NULL, OPT_LABEL},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void main_usage(FILE *f)
{
    fprintf(
        f,
        "usage: cairn-bench [--url URL]... [--raw DIR] [options]\n"
        "\n"
        "HTTP load generator for cairnd (keep-alive connections, closed loops), with the\n"
        "raw-disk limit of the same workload beside it.\n"
        "\n"
        "target:\n"
        "  --url URL            node to load, http://HOST:PORT (repeatable or comma separated;\n"
        "                       connections are spread round-robin over the nodes)\n"
        "  --raw DIR            also (or, without --url, only) run the workload on plain files in\n"
        "                       a new directory under DIR: write, fdatasync, rename, fsync(dir)\n"
        "  --keep-raw           keep the raw files afterwards\n"
        "workload:\n"
        "  --mode MODE          put | get | mixed | put-get (alias get-big)   [put]\n"
        "  --get-ratio F        share of GETs in mixed mode, 0..1 (alias --ratio)  [0.5]\n"
        "  --size SPEC          body size: 64K | 1K-1M (uniform) | 4K:90,1M:10 (weighted)  [4K]\n"
        "  --keys N             keyspace: keys are PREFIX0 .. PREFIX(N-1)   [10000]\n"
        "  --key-prefix P       [bench/]\n"
        "  --durability LEVEL   local | majority | all: sent as ?durability= on PUTs\n"
        "  --prefill            PUT every key once before the run (default for get, mixed)\n"
        "  --no-prefill         do not\n"
        "  --connections N      concurrent connections (raw: threads)   [16]\n"
        "  --threads N          event-loop threads for the connections   [1]\n"
        "  --duration SEC       measured time   [10, or none with --requests]\n"
        "  --requests N         stop after N requests (put-get: N put+get pairs)\n"
        "  --warmup SEC         run this long before measuring   [0]\n"
        "  --timeout SEC        fail a request after SEC without progress   [60]\n"
        "  --token-file FILE    send Authorization: Bearer <contents>\n"
        "  --seed N             [1]\n"
        "measurement and output:\n"
        "  --pid PID            sample VmRSS/VmHWM of this node process every 100 ms (repeatable)\n"
        "  --pid-file FILE      the same, pid read from FILE (repeatable)\n"
        "  --json FILE          write every figure as JSON (- for stdout; the table then goes\n"
        "                       to stderr)\n"
        "  --label TEXT         free text stored in the report\n"
        "  --progress           print a progress line every second\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 all requests succeeded, 3 some failed, 1 a phase could not run,\n"
        "2 usage error.\n");
}

/* Seconds as a decimal number in [0, 1e6]. */
static int main_parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 || v > 1e6)
        return CAIRN_EINVAL;
    *out = v;
    return 0;
}

static int main_parse_ratio(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return CAIRN_EINVAL;
    *out = v;
    return 0;
}

/* Adds every comma-separated URL in list to conf. */
static int main_add_urls(bench_conf_t *conf, const char *list)
{
    char copy[2048], *tok, *save = NULL;
    int rc;

    if (strlen(list) >= sizeof(copy))
        return CAIRN_EINVAL;
    strcpy(copy, list);
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (conf->bc_ntargets == BENCH_MAX_TARGETS)
            return CAIRN_ETOOBIG;
        rc = bench_target_parse(tok, &conf->bc_targets[conf->bc_ntargets]);
        if (rc < 0)
            return rc;
        conf->bc_ntargets++;
    }
    return 0;
}

/* Reads the token and refuses anything that could break the header. */
static int main_read_token(const char *path, char **out)
{
    char *tok = NULL;
    size_t len, i;
    int rc;

    rc = conf_read_secret(path, &tok, &len);
    if (rc < 0)
        return rc;
    if (len > MAIN_TOKEN_MAX)
        goto bad;
    for (i = 0; i < len; i++) {
        if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
            goto bad;
    }
    *out = tok;
    return 0;
bad:
    free(tok);
    return CAIRN_EINVAL;
}

typedef struct main_args {
    bench_conf_t ma_conf;
    bench_node_mem_t ma_nodes[BENCH_MAX_PIDS];
    unsigned ma_nnodes;
    const char *ma_json;
    const char *ma_label;
    char *ma_token;
    int ma_prefill_set;
    int ma_duration_set;
} main_args_t;

/* Reports a bad option value and returns the usage exit code. */
static int main_bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "cairn-bench: --%s %s: %s\n", opt, val, why);
    return 2;
}

/* Parses argv into a. Returns 0, -1 when the run should stop with exit 0
 * (help/version), or an exit code > 0 after printing why. */
static int main_parse(int argc, char **argv, main_args_t *a)
{
    bench_conf_t *c = &a->ma_conf;
    const char *size_spec = "4K", *name;
    long long v;
    pid_t pid;
    int opt, rc, idx;

    c->bc_mode = BENCH_MODE_PUT;
    c->bc_connections = 16;
    c->bc_threads = 1;
    c->bc_keys = 10000;
    c->bc_get_ratio = 0.5;
    c->bc_timeout_s = 60;
    c->bc_seed = 1;
    snprintf(c->bc_prefix, sizeof(c->bc_prefix), "bench/");
    for (;;) {
        opt = getopt_long(argc, argv, "h", main_opts, &idx);
        if (opt == -1)
            break;
        name = "";
        if (opt >= OPT_URL && opt <= OPT_VERSION) {
            for (idx = 0; main_opts[idx].name != NULL; idx++) {
                if (main_opts[idx].val == opt) {
                    name = main_opts[idx].name;
                    break;
                }
            }
        }
        switch (opt) {
        case OPT_URL:
            rc = main_add_urls(c, optarg);
            if (rc < 0)
                return main_bad(name, optarg, "want http://HOST:PORT (at most 16 nodes)");
            break;
        case OPT_MODE:
            if (bench_mode_parse(optarg, &c->bc_mode) < 0)
                return main_bad(name, optarg, "want put, get, mixed or put-get");
            break;
        case OPT_GET_RATIO:
            if (main_parse_ratio(optarg, &c->bc_get_ratio) < 0)
                return main_bad(name, optarg, "want a number in 0..1");
            break;
        case OPT_SIZE:
            size_spec = optarg;
            break;
        case OPT_CONNECTIONS:
            if (conf_parse_int(optarg, 1, BENCH_MAX_CONNECTIONS, &v) < 0)
                return main_bad(name, optarg, "want 1..4096");
            c->bc_connections = (unsigned)v;
            break;
        case OPT_THREADS:
            if (conf_parse_int(optarg, 1, BENCH_MAX_THREADS, &v) < 0)
                return main_bad(name, optarg, "want 1..64");
            c->bc_threads = (unsigned)v;
            break;
        case OPT_DURATION:
            if (main_parse_seconds(optarg, &c->bc_duration_s) < 0 || c->bc_duration_s <= 0)
                return main_bad(name, optarg, "want seconds > 0");
            a->ma_duration_set = 1;
            break;
        case OPT_REQUESTS:
            if (conf_parse_int(optarg, 1, LLONG_MAX, &v) < 0)
                return main_bad(name, optarg, "want a count >= 1");
            c->bc_requests = (uint64_t)v;
            break;
        case OPT_WARMUP:
            if (main_parse_seconds(optarg, &c->bc_warmup_s) < 0)
                return main_bad(name, optarg, "want seconds >= 0");
            break;
        case OPT_KEYS:
            if (conf_parse_int(optarg, 1, 1000000000000LL, &v) < 0)
                return main_bad(name, optarg, "want 1..10^12");
            c->bc_keys = (uint64_t)v;
            break;
        case OPT_KEY_PREFIX:
            if (strlen(optarg) > 200 || strchr(optarg, '\n') != NULL)
                return main_bad(name, optarg, "at most 200 bytes");
            snprintf(c->bc_prefix, sizeof(c->bc_prefix), "%s", optarg);
            break;
        case OPT_DURABILITY:
            if (strcmp(optarg, "local") != 0 && strcmp(optarg, "majority") != 0 &&
                strcmp(optarg, "all") != 0)
                return main_bad(name, optarg, "want local, majority or all");
            c->bc_durability = optarg;
            break;
        case OPT_PREFILL:
        case OPT_NO_PREFILL:
            c->bc_prefill = opt == OPT_PREFILL;
            a->ma_prefill_set = 1;
            break;
        case OPT_TIMEOUT:
            if (main_parse_seconds(optarg, &c->bc_timeout_s) < 0 || c->bc_timeout_s < 0.1)
                return main_bad(name, optarg, "want seconds >= 0.1");
            break;
        case OPT_TOKEN_FILE:
            free(a->ma_token);
            a->ma_token = NULL;
            if (main_read_token(optarg, &a->ma_token) < 0)
                return main_bad(name, optarg, "unreadable, empty, or not a printable token");
            c->bc_token = a->ma_token;
            break;
        case OPT_PID:
        case OPT_PID_FILE:
            if (a->ma_nnodes == BENCH_MAX_PIDS)
                return main_bad(name, optarg, "at most 16 processes");
            if (opt == OPT_PID) {
                if (conf_parse_int(optarg, 1, 4194304, &v) < 0)
                    return main_bad(name, optarg, "want a pid");
                pid = (pid_t)v;
            } else if (procstat_read_pidfile(optarg, &pid) < 0) {
                return main_bad(name, optarg, "no pid in that file");
            }
            a->ma_nodes[a->ma_nnodes++].nm_pid = pid;
            break;
        case OPT_RAW:
            c->bc_raw_dir = optarg;
            break;
        case OPT_KEEP_RAW:
            c->bc_keep_raw = 1;
            break;
        case OPT_JSON:
            a->ma_json = optarg;
            break;
        case OPT_SEED:
            if (conf_parse_int(optarg, 0, LLONG_MAX, &v) < 0)
                return main_bad(name, optarg, "want an integer >= 0");
            c->bc_seed = (uint64_t)v;
            break;
        case OPT_LABEL:
            a->ma_label = optarg;
            break;
        case OPT_PROGRESS:
            c->bc_progress = 1;
            break;
        case 'h':
        case OPT_HELP:
            main_usage(stdout);
            return -1;
        case OPT_VERSION:
            printf("cairn-bench %s\n", BENCH_VERSION);
            return -1;
        default:
            main_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (c->bc_ntargets == 0 && c->bc_raw_dir == NULL) {
        fprintf(stderr, "cairn-bench: give --url URL (a node) and/or --raw DIR\n");
        return 2;
    }
    if (sizedist_parse(size_spec, &c->bc_size) < 0)
        return main_bad("size", size_spec, "want SIZE, MIN-MAX or SIZE:WEIGHT,... (at most 1T)");
    snprintf(c->bc_size_spec, sizeof(c->bc_size_spec), "%s", size_spec);
    if (bench_path_encode(c->bc_prefix, c->bc_prefix_enc, sizeof(c->bc_prefix_enc)) < 0)
        return main_bad("key-prefix", c->bc_prefix, "too long");
    if (!a->ma_duration_set && c->bc_requests == 0)
        c->bc_duration_s = 10;
    if (!a->ma_prefill_set)
        c->bc_prefill = c->bc_mode == BENCH_MODE_GET || c->bc_mode == BENCH_MODE_MIXED;
    if (c->bc_threads > c->bc_connections)
        c->bc_threads = c->bc_connections;
    return 0;
}

/*
 * Runs the optional prefill and the measured phase on one backend. raw_dir
 * NULL means HTTP. Results are written to *prefill / *run (br_ran tells
 * which ran). Returns 0, or a negative code when a phase could not run;
 * *interrupted is set when SIGINT cut it short.
 */
static int main_run_backend(const bench_conf_t *c, const unsigned char *pattern,
                            const char *raw_dir, bench_sampler_t *sampler, bench_result_t *prefill,
                            bench_result_t *run, int *interrupted)
{
    bench_phase_t ph;
    int rc;

    if (c->bc_prefill) {
        bench_phase_init(&ph, c, pattern, 1, uv_hrtime());
        ph.bp_sampler = sampler;
        fprintf(stderr, "cairn-bench: %s prefill of %" PRIu64 " keys\n", raw_dir ? "raw" : "cairn",
                c->bc_keys);
        rc = raw_dir ? raw_load_run(&ph, raw_dir, prefill) : http_load_run(&ph, prefill);
        if (rc < 0)
            return rc;
        if (atomic_load(&ph.bp_interrupted)) {
            *interrupted = 1;
            return 0;
        }
    }
    bench_phase_init(&ph, c, pattern, 0, uv_hrtime());
    ph.bp_sampler = sampler;
    fprintf(stderr, "cairn-bench: %s run\n", raw_dir ? "raw" : "cairn");
    rc = raw_dir ? raw_load_run(&ph, raw_dir, run) : http_load_run(&ph, run);
    if (rc < 0)
        return rc;
    if (atomic_load(&ph.bp_interrupted))
        *interrupted = 1;
    return 0;
}

/* Removes the files cairn-bench made in dir, then dir itself. */
static void main_remove_raw(const char *dir)
{
    struct dirent *de;
    DIR *d;
    int fd;

    d = opendir(dir);
    if (d == NULL)
        return;
    fd = dirfd(d);
    for (de = readdir(d); de != NULL; de = readdir(d)) {
        if (strncmp(de->d_name, "blob.", 5) == 0 || strncmp(de->d_name, "tmp.", 4) == 0)
            unlinkat(fd, de->d_name, 0);
    }
    closedir(d);
    if (rmdir(dir) < 0)
        fprintf(stderr, "cairn-bench: could not remove %s: %s\n", dir, strerror(errno));
}

static int main_write_json(const char *path, const bench_report_t *rep)
{
    buf_t b;
    FILE *f = NULL;
    int rc;

    buf_init(&b, MAIN_JSON_CAP);
    rc = report_json(rep, &b);
    if (rc < 0)
        goto done;
    if (strcmp(path, "-") == 0) {
        fwrite(b.b_data, 1, b.b_len, stdout);
        fflush(stdout);
        goto done;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        rc = -errno;
        goto done;
    }
    if (fwrite(b.b_data, 1, b.b_len, f) != b.b_len)
        rc = -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
done:
    buf_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    static main_args_t a;
    static bench_result_t cairn_prefill, cairn_run, raw_prefill, raw_run;
    bench_sampler_t sampler;
    bench_report_t rep;
    unsigned char *pattern = NULL;
    char raw_path[4096];
    int rc, status = 0, interrupted = 0, raw_made = 0;
    unsigned i;
    uint64_t errors = 0;

    rc = main_parse(argc, argv, &a);
    if (rc != 0) {
        free(a.ma_token);
        return rc < 0 ? 0 : rc;
    }
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < a.ma_conf.bc_ntargets; i++) {
        if (bench_target_resolve(&a.ma_conf.bc_targets[i]) < 0) {
            fprintf(stderr, "cairn-bench: cannot resolve %s\n", a.ma_conf.bc_targets[i].bt_host);
            status = 2;
            goto done;
        }
    }
    if (a.ma_conf.bc_raw_dir != NULL) {
        if (snprintf(raw_path, sizeof(raw_path), "%s/cairn-bench.XXXXXX", a.ma_conf.bc_raw_dir) >=
                (int)sizeof(raw_path) ||
            mkdtemp(raw_path) == NULL) {
            fprintf(stderr, "cairn-bench: cannot create a directory in %s: %s\n",
                    a.ma_conf.bc_raw_dir, strerror(errno));
            status = 2;
            goto done;
        }
        raw_made = 1;
    }
    pattern = malloc(BENCH_PATTERN_SIZE);
    if (pattern == NULL) {
        status = 1;
        goto done;
    }
    bench_pattern_fill(pattern, a.ma_conf.bc_seed);
    sampler.sm_nodes = a.ma_nodes;
    sampler.sm_nnodes = a.ma_nnodes;
    if (a.ma_conf.bc_ntargets > 0) {
        rc = main_run_backend(&a.ma_conf, pattern, NULL, &sampler, &cairn_prefill, &cairn_run,
                              &interrupted);
        if (rc < 0) {
            fprintf(stderr, "cairn-bench: HTTP run failed: %s\n", cairn_strerror(rc));
            status = 1;
        }
    }
    if (raw_made && !interrupted && status == 0) {
        rc = main_run_backend(&a.ma_conf, pattern, raw_path, NULL, &raw_prefill, &raw_run,
                              &interrupted);
        if (rc < 0) {
            fprintf(stderr, "cairn-bench: raw run failed: %s\n", cairn_strerror(rc));
            status = 1;
        }
    }
    memset(&rep, 0, sizeof(rep));
    rep.rp_conf = &a.ma_conf;
    rep.rp_cairn_prefill = cairn_prefill.br_ran ? &cairn_prefill : NULL;
    rep.rp_cairn = cairn_run.br_ran ? &cairn_run : NULL;
    rep.rp_raw_prefill = raw_prefill.br_ran ? &raw_prefill : NULL;
    rep.rp_raw = raw_run.br_ran ? &raw_run : NULL;
    rep.rp_nodes = a.ma_nodes;
    rep.rp_nnodes = a.ma_nnodes;
    rep.rp_label = a.ma_label;
    rep.rp_raw_path = raw_made ? raw_path : NULL;
    /* With --json - the JSON owns stdout and the table goes to stderr. */
    if (a.ma_json != NULL && strcmp(a.ma_json, "-") == 0)
        report_print(stderr, &rep);
    else
        report_print(stdout, &rep);
    fflush(stdout);
    if (a.ma_json != NULL) {
        rc = main_write_json(a.ma_json, &rep);
        if (rc < 0) {
            fprintf(stderr, "cairn-bench: cannot write %s: %s\n", a.ma_json, cairn_strerror(rc));
            status = 1;
        }
    }
    if (rep.rp_cairn)
        errors += bench_stats_errors(&rep.rp_cairn->br_stats);
    if (rep.rp_raw)
        errors += bench_stats_errors(&rep.rp_raw->br_stats);
    if (status == 0 && (errors > 0 || (rep.rp_cairn == NULL && rep.rp_raw == NULL)))
        status = 3;
done:
    if (raw_made && !a.ma_conf.bc_keep_raw)
        main_remove_raw(raw_path);
    else if (raw_made)
        fprintf(stderr, "cairn-bench: raw files kept in %s\n", raw_path);
    free(pattern);
    free(a.ma_token);
    return status;
}
