/*
 * main.c -- cairn-harness: command line (up, list, run, check).
 *
 * Exit status: run/check 0 when every enforced invariant held, 1 when one
 * did not, 2 on a usage or setup error; up 0 after a clean stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/run.h"
#include "common/conf.h"

static const char usage[] =
    "usage:\n"
    "  cairn-harness up --nodes N [--base-port P] [--dir D] [--bin CAIRND]\n"
    "      a local cluster in the foreground (Ctrl-C stops it)\n"
    "  cairn-harness list\n"
    "      every scenario with a one-line description\n"
    "  cairn-harness run --scenario NAME[,NAME..]|all --nodes N --seed S --duration SECONDS\n"
    "                    [--report FILE] [--keep] [options]\n"
    "      runs scenarios, prints a summary, writes a JSON report; exit 0 only when\n"
    "      every invariant held\n"
    "  cairn-harness check HISTORY.json [--report FILE] [--strict-raw]\n"
    "      runs the checker alone on a recorded history\n"
    "\n"
    "run options:\n"
    "  --dir D                 where node data, logs and the history go (default "
    "/tmp/cairn-harness-*)\n"
    "  --base-port P           ports P.. (default: a free range)\n"
    "  --bin PATH              cairnd to run (default: next to cairn-harness)\n"
    "  --clients N             built-in client threads (default 4)\n"
    "  --keys N                key space k/000.. plus k/hot (default 24)\n"
    "  --max-size BYTES        largest blob written (default 64M; suffixes K M G)\n"
    "  --large-pct P           percent of writes of 1 MiB .. max-size (default per scenario)\n"
    "  --no-focus              no reader on the node under fault\n"
    "  --workload-cmd CMD      also run CMD (sh -c) as a workload (docs/harness.md)\n"
    "  --no-workload           no built-in clients (only --workload-cmd)\n"
    "  --failpoints A,B        restrict the crash cycle to these failpoints\n"
    "  --converge-timeout SEC  how long nodes may take to converge after healing (default 60)\n"
    "  --node-arg ARG          extra cairnd argument (repeatable)\n"
    "  --strict-raw            enforce cross-node read-after-write for majority writes\n"
    "  --log-debug             run the nodes with --log-level debug\n";

static void list_scenarios(void)
{
    for (const scenario_t *s = scenarios; s->sc_name != NULL; s++)
        printf("%-26s %s%s\n", s->sc_name, s->sc_desc, s->sc_min_nodes > 1 ? "" : "");
    printf(
        "\nScenarios marked with a node count need that many nodes (`run --scenario all` selects\n"
        "those that fit --nodes):\n");
    for (const scenario_t *s = scenarios; s->sc_name != NULL; s++) {
        if (s->sc_min_nodes > 1)
            printf("  %-26s --nodes >= %d (needs replication)\n", s->sc_name, s->sc_min_nodes);
    }
}

static int need_value(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "cairn-harness: %s needs a value\n", argv[i]);
        return 0;
    }
    return 1;
}

static int parse_ll(const char *flag, const char *s, long long min, long long max, long long *out)
{
    if (conf_parse_int(s, min, max, out) < 0) {
        fprintf(stderr, "cairn-harness: %s: \"%s\" is not a number in %lld..%lld\n", flag, s, min,
                max);
        return -1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_opts_t o;
    long long v;

    run_opts_default(&o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--keep") == 0) {
            o.ro_keep = 1;
        } else if (strcmp(a, "--no-focus") == 0) {
            o.ro_wl.wo_focus = 0;
        } else if (strcmp(a, "--no-workload") == 0) {
            o.ro_no_workload = 1;
        } else if (strcmp(a, "--strict-raw") == 0) {
            o.ro_check.co_strict_raw = 1;
        } else if (strcmp(a, "--log-debug") == 0) {
            o.ro_log_debug = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o.ro_quiet = 1;
        } else if (!need_value(argc, argv, i)) {
            return 2;
        } else if (strcmp(a, "--scenario") == 0) {
            o.ro_scenario = argv[++i];
        } else if (strcmp(a, "--nodes") == 0) {
            if (parse_ll(a, argv[++i], 1, CLUSTER_MAX_NODES, &v) < 0)
                return 2;
            o.ro_nodes = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            o.ro_seed = strtoull(argv[++i], &end, 0);
            if (errno != 0 || *end != '\0' || argv[i][0] == '-') {
                fprintf(stderr, "cairn-harness: --seed: \"%s\" is not a number\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--duration") == 0) {
            if (parse_ll(a, argv[++i], 1, 86400 * 7, &v) < 0)
                return 2;
            o.ro_duration_s = v;
        } else if (strcmp(a, "--report") == 0) {
            o.ro_report = argv[++i];
        } else if (strcmp(a, "--dir") == 0) {
            o.ro_dir = argv[++i];
        } else if (strcmp(a, "--base-port") == 0) {
            if (parse_ll(a, argv[++i], 1024, 64000, &v) < 0)
                return 2;
            o.ro_base_port = (int)v;
        } else if (strcmp(a, "--bin") == 0) {
            o.ro_bin = argv[++i];
        } else if (strcmp(a, "--clients") == 0) {
            if (parse_ll(a, argv[++i], 0, WL_MAX_THREADS, &v) < 0)
                return 2;
            o.ro_wl.wo_threads = (int)v;
        } else if (strcmp(a, "--keys") == 0) {
            if (parse_ll(a, argv[++i], 1, 100000, &v) < 0)
                return 2;
            o.ro_wl.wo_nkeys = (int)v;
        } else if (strcmp(a, "--max-size") == 0) {
            uint64_t sz;
            if (conf_parse_size(argv[++i], &sz) < 0 || sz > ((uint64_t)4 << 30)) {
                fprintf(stderr, "cairn-harness: --max-size: \"%s\" is not a size up to 4G\n",
                        argv[i]);
                return 2;
            }
            o.ro_wl.wo_max_size = sz;
            o.ro_max_size_set = 1;
        } else if (strcmp(a, "--large-pct") == 0) {
            if (parse_ll(a, argv[++i], 0, 100, &v) < 0)
                return 2;
            o.ro_wl.wo_large_pct = (int)v;
        } else if (strcmp(a, "--workload-cmd") == 0) {
            o.ro_workload_cmd = argv[++i];
        } else if (strcmp(a, "--failpoints") == 0) {
            o.ro_failpoints = argv[++i];
        } else if (strcmp(a, "--converge-timeout") == 0) {
            if (parse_ll(a, argv[++i], 1, 86400, &v) < 0)
                return 2;
            o.ro_converge_timeout_s = v;
        } else if (strcmp(a, "--node-arg") == 0) {
            if (o.ro_nnode_args >= RUN_MAX_NODE_ARGS) {
                fprintf(stderr, "cairn-harness: too many --node-arg\n");
                return 2;
            }
            o.ro_node_args[o.ro_nnode_args++] = argv[++i];
        } else {
            fprintf(stderr, "cairn-harness: unknown option %s\n\n%s", a, usage);
            return 2;
        }
    }
    return run_main(&o);
}

static int cmd_up(int argc, char **argv)
{
    long long v;
    int nodes = 3, base = 7001;
    const char *dir = "var/cluster", *bin = NULL;

    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!need_value(argc, argv, i))
            return 2;
        if (strcmp(a, "--nodes") == 0) {
            if (parse_ll(a, argv[++i], 1, CLUSTER_MAX_NODES, &v) < 0)
                return 2;
            nodes = (int)v;
        } else if (strcmp(a, "--base-port") == 0) {
            if (parse_ll(a, argv[++i], 1024, 64000, &v) < 0)
                return 2;
            base = (int)v;
        } else if (strcmp(a, "--dir") == 0) {
            dir = argv[++i];
        } else if (strcmp(a, "--bin") == 0) {
            bin = argv[++i];
        } else {
            fprintf(stderr, "cairn-harness: unknown option %s\n\n%s", a, usage);
            return 2;
        }
    }
    return run_up(nodes, base, dir, bin);
}

static int cmd_check(int argc, char **argv)
{
    check_opts_t co;
    const char *hist = NULL, *report = NULL;

    check_opts_default(&co);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--strict-raw") == 0) {
            co.co_strict_raw = 1;
        } else if (strcmp(argv[i], "--report") == 0) {
            if (!need_value(argc, argv, i))
                return 2;
            report = argv[++i];
        } else if (argv[i][0] == '-' || hist != NULL) {
            fprintf(stderr, "cairn-harness: unexpected argument %s\n\n%s", argv[i], usage);
            return 2;
        } else {
            hist = argv[i];
        }
    }
    if (hist == NULL) {
        fprintf(stderr, "cairn-harness: check needs HISTORY.json\n\n%s", usage);
        return 2;
    }
    return run_check(hist, report, &co);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(argv[1], "up") == 0)
        return cmd_up(argc, argv);
    if (strcmp(argv[1], "list") == 0) {
        list_scenarios();
        return 0;
    }
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc, argv);
    fprintf(stderr, "cairn-harness: unknown command %s\n\n%s", argv[1], usage);
    return 2;
}
