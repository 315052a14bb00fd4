/*
 * cli.c -- `cairn`, the command-line client (docs/cli.md).
 *
 * A thin layer over libcairn: parses options, builds one client, runs one
 * command and turns the library's return code into a documented exit code.
 * Blob content is streamed between the file (or stdin/stdout) and the
 * network; nothing is buffered whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cairn.h"
#include "cli_util.h"

#define DEFAULT_NODE "http://127.0.0.1:7001"
#define LIST_PAGE 1000 /* default --page-size */
#define PROGRESS_MIN (1024 * 1024)

static const char usage_text[] =
    "Usage: cairn [OPTIONS] COMMAND [ARGS]\n"
    "Options go before COMMAND (so a key may start with '-').\n"
    "\n"
    "Commands:\n"
    "  put KEY FILE|-      store FILE (- = standard input) under KEY;\n"
    "                      prints KEY<TAB>SIZE<TAB>ETAG<TAB>VERSION\n"
    "  get KEY [FILE|-]    write KEY's content to FILE (through FILE.tmp, renamed\n"
    "                      on success) or to standard output (default, or -)\n"
    "  rm KEY              delete KEY\n"
    "  ls [PREFIX]         list keys (every page): KEY<TAB>SIZE<TAB>ETAG per line\n"
    "  stat KEY            print KEY<TAB>SIZE<TAB>ETAG<TAB>VERSION\n"
    "  cluster             print the cluster status (JSON) of the first node\n"
    "                      that answers\n"
    "  health              check each node; prints URL<TAB>ok or URL<TAB>error: ...\n"
    "\n"
    "Options:\n"
    "  -n, --node URL        node URL; repeat it or separate URLs with commas to\n"
    "                        fail over between nodes (default: $CAIRN_NODE, else\n"
    "                        " DEFAULT_NODE ")\n"
    "  -t, --token TOKEN     bearer token for nodes started with --api-token-file\n"
    "                        (default: $CAIRN_TOKEN)\n"
    "      --token-file FILE read the bearer token from FILE\n"
    "  -d, --durability L    local | majority | all: when put and rm are acknowledged\n"
    "                        (default: the node's --durability)\n"
    "  -T, --timeout S       connect timeout per node, and give up on a node whose\n"
    "                        transfer stalls for S seconds (default: 10 s / 60 s)\n"
    "      --page-size N     keys per listing request of ls (default 1000)\n"
    "  -q, --quiet           no progress bar\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the version\n"
    "\n"
    "Keys in output: backslash, tab, newline and control bytes are written as\n"
    "\\\\, \\t, \\n, \\xHH. A progress bar is drawn on standard error when it is a\n"
    "terminal and the transfer is over 1 MiB.\n"
    "\n"
    "Exit status:\n"
    "  0    success\n"
    "  1    other error (local file, malformed response, server error 5xx)\n"
    "  2    usage error (bad option, command or key)\n"
    "  3    not found\n"
    "  4    unavailable: 503, no node reachable, transfer stalled or cut\n"
    "  5    conflict or failed precondition (409, 412)\n"
    "  6    unauthorized: missing or wrong token (401)\n"
    "  7    too large: blob over the node's limit (413) or header too large (431)\n"
    "  8    durability timeout: stored, but not acknowledged by enough nodes in time\n"
    "  9    insufficient storage on the node (507)\n"
    "  130  interrupted\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- progress bar ------------------------------------------------------ */

typedef struct progress {
    int pg_enabled; /* stderr is a terminal and not --quiet */
    int pg_drawn;   /* something is on the line */
    const char *pg_label;
    double pg_start;
    double pg_last;
    uint64_t pg_done;
    uint64_t pg_total;
} progress;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_draw(progress *p)
{
    char done[32], total[32], rate[40];
    double el = now_s() - p->pg_start;

    cli_human_bytes((double)p->pg_done, done, sizeof(done));
    rate[0] = '\0';
    if (el >= 0.2) { /* a rate over a shorter time means little */
        char r[32];

        cli_human_bytes((double)p->pg_done / el, r, sizeof(r));
        snprintf(rate, sizeof(rate), "%s/s", r);
    }
    if (p->pg_total > 0) {
        int pct = (int)(p->pg_done * 100 / p->pg_total);
        int fill = (int)(p->pg_done * 30 / p->pg_total);
        char bar[31];

        memset(bar, '#', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(30 - fill));
        bar[30] = '\0';
        cli_human_bytes((double)p->pg_total, total, sizeof(total));
        fprintf(stderr, "\r%s %3d%% [%s] %s / %s  %s   ", p->pg_label, pct, bar, done, total, rate);
    } else {
        fprintf(stderr, "\r%s %s  %s   ", p->pg_label, done, rate);
    }
    p->pg_drawn = 1;
}

/* libcairn progress callback: stops the transfer on SIGINT/SIGTERM and
 * redraws the bar at most 10 times a second. */
static int on_progress(void *arg, uint64_t done, uint64_t total)
{
    progress *p = arg;
    double t;

    if (interrupted)
        return 1;
    p->pg_done = done;
    p->pg_total = total > 0 && done <= total ? total : 0;
    if (!p->pg_enabled)
        return 0;
    if (p->pg_total > 0 ? p->pg_total <= PROGRESS_MIN : done <= PROGRESS_MIN)
        return 0;
    t = now_s();
    if (p->pg_drawn && t - p->pg_last < 0.1)
        return 0;
    p->pg_last = t;
    progress_draw(p);
    return 0;
}

/* Finishes the bar's line: full when the transfer succeeded. */
static void progress_end(progress *p, int ok)
{
    if (!p->pg_drawn)
        return;
    if (ok && p->pg_total > 0)
        p->pg_done = p->pg_total;
    progress_draw(p);
    fputc('\n', stderr);
    p->pg_drawn = 0;
}

/* ---- output helpers --------------------------------------------------- */

/* Reports a libcairn failure on stderr and returns its exit code. */
static int fail(cairn_client *c, const char *cmd, const char *key, int rc)
{
    const cairn_error *e = cairn_last_error(c);

    fprintf(stderr, "cairn: %s", cmd);
    if (key != NULL) {
        fputc(' ', stderr);
        cli_write_escaped(stderr, key, strlen(key));
    }
    fprintf(stderr, ": %s", cairn_client_strerror(rc));
    if (e->ce_http_status != 0) {
        fprintf(stderr, " (HTTP %d%s%s)", e->ce_http_status, e->ce_code[0] ? " " : "", e->ce_code);
    }
    if (e->ce_message[0] != '\0')
        fprintf(stderr, ": %s", e->ce_message);
    if (e->ce_node[0] != '\0')
        fprintf(stderr, " [%s]", e->ce_node);
    if (e->ce_retry_after >= 0)
        fprintf(stderr, " (retry after %ld s)", e->ce_retry_after);
    fputc('\n', stderr);
    return cli_exit_code(rc);
}

/* Reports a command-line mistake; fmt takes one string argument. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'cairn --help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

/* Prints KEY<TAB>SIZE<TAB>ETAG<TAB>VERSION. */
static int print_stat(const char *key, const cairn_stat *st)
{
    cli_write_escaped(stdout, key, strlen(key));
    printf("\t%llu\t%s\t%s\n", (unsigned long long)st->cs_size, st->cs_etag, st->cs_version);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/* ---- commands --------------------------------------------------------- */

static int cmd_put(cairn_client *c, progress *pg, const char *key, const char *file)
{
    cairn_stat st;
    int fd = 0, rc;

    if (strcmp(file, "-") != 0) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "cairn: put: cannot open %s: %s\n", file, strerror(errno));
            return CLI_EXIT_ERROR;
        }
    }
    pg->pg_label = "put";
    rc = cairn_put_fd(c, key, fd, -1, &st);
    progress_end(pg, rc == 0);
    if (fd != 0)
        close(fd);
    if (rc != 0)
        return interrupted ? CLI_EXIT_INTERRUPTED : fail(c, "put", key, rc);
    return print_stat(key, &st);
}

/*
 * get KEY FILE: the content goes to FILE.tmp, which is fsynced and renamed
 * over FILE only when the whole blob arrived; on any failure (including
 * SIGINT/SIGTERM) FILE.tmp is removed and FILE left as it was. A FILE that
 * exists and is not a regular file (a FIFO, /dev/null) is written directly.
 */
static int cmd_get(cairn_client *c, progress *pg, const char *key, const char *file)
{
    struct sigaction sa;
    struct stat sb;
    char *tmp = NULL;
    int fd = -1, rc, ret;

    pg->pg_label = "get";
    if (file == NULL || strcmp(file, "-") == 0) {
        rc = cairn_get_fd(c, key, STDOUT_FILENO, NULL);
        progress_end(pg, rc == 0);
        if (rc != 0)
            return interrupted ? CLI_EXIT_INTERRUPTED : fail(c, "get", key, rc);
        return CLI_EXIT_OK;
    }
    if (stat(file, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        fd = open(file, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "cairn: get: cannot open %s: %s\n", file, strerror(errno));
            return CLI_EXIT_ERROR;
        }
        rc = cairn_get_fd(c, key, fd, NULL);
        progress_end(pg, rc == 0);
        close(fd);
        if (rc != 0)
            return interrupted ? CLI_EXIT_INTERRUPTED : fail(c, "get", key, rc);
        return CLI_EXIT_OK;
    }
    if (asprintf(&tmp, "%s.tmp", file) < 0) {
        fputs("cairn: get: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the transfer notices at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "cairn: get: cannot create %s: %s\n", tmp, strerror(errno));
        ret = CLI_EXIT_ERROR;
        goto done;
    }
    rc = cairn_get_fd(c, key, fd, NULL);
    progress_end(pg, rc == 0);
    if (rc != 0) {
        ret = interrupted ? CLI_EXIT_INTERRUPTED : fail(c, "get", key, rc);
        goto fail;
    }
    rc = fsync(fd) == 0 ? 0 : errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    fd = -1;
    if (rc != 0) {
        fprintf(stderr, "cairn: get: cannot write %s: %s\n", tmp, strerror(rc));
        ret = CLI_EXIT_ERROR;
        goto fail;
    }
    if (rename(tmp, file) != 0) {
        fprintf(stderr, "cairn: get: cannot rename %s to %s: %s\n", tmp, file, strerror(errno));
        ret = CLI_EXIT_ERROR;
        goto fail;
    }
    ret = CLI_EXIT_OK;
    goto done;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlink(tmp);
done:
    if (interrupted)
        fputs("cairn: get: interrupted\n", stderr);
    free(tmp);
    return ret;
}

static int cmd_rm(cairn_client *c, const char *key)
{
    int rc = cairn_delete(c, key);

    return rc != 0 ? fail(c, "rm", key, rc) : CLI_EXIT_OK;
}

static int cmd_stat(cairn_client *c, const char *key)
{
    cairn_stat st;
    int rc = cairn_stat_key(c, key, &st);

    if (rc != 0)
        return fail(c, "stat", key, rc);
    return print_stat(key, &st);
}

/* Lists every page, following "next" until it is null. */
static int cmd_ls(cairn_client *c, const char *prefix, unsigned page)
{
    cairn_list *l = NULL;
    char *after = NULL;
    int ret = CLI_EXIT_OK, rc;

    for (;;) {
        rc = cairn_list_page(c, prefix, after, page, &l);
        if (rc != 0) {
            ret = fail(c, "ls", prefix, rc);
            break;
        }
        for (size_t i = 0; i < l->cl_count; i++) {
            const cairn_list_item *it = &l->cl_items[i];

            cli_write_escaped(stdout, it->cli_key, it->cli_key_len);
            printf("\t%llu\t%s\n", (unsigned long long)it->cli_size, it->cli_etag);
        }
        if (l->cl_next == NULL)
            break;
        if (strlen(l->cl_next) != l->cl_next_len ||
            (after != NULL && strcmp(after, l->cl_next) == 0)) {
            fputs("cairn: ls: the node returned a continuation key it cannot follow\n", stderr);
            ret = CLI_EXIT_ERROR;
            break;
        }
        free(after);
        after = strdup(l->cl_next);
        cairn_list_free(l);
        l = NULL;
        if (after == NULL) {
            fputs("cairn: ls: out of memory\n", stderr);
            ret = CLI_EXIT_ERROR;
            break;
        }
    }
    cairn_list_free(l);
    free(after);
    if (fflush(stdout) != 0 && ret == CLI_EXIT_OK)
        ret = CLI_EXIT_ERROR;
    return ret;
}

/* Writes a JSON body to stdout, adding a final newline if it lacks one. */
static int print_json(const char *json, size_t len)
{
    fwrite(json, 1, len, stdout);
    if (len == 0 || json[len - 1] != '\n')
        fputc('\n', stdout);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

static int cmd_cluster(cairn_client *c)
{
    char *json = NULL;
    size_t len = 0;
    int rc, ret;

    rc = cairn_cluster_status(c, &json, &len);
    ret = rc != 0 ? fail(c, "cluster", NULL, rc) : print_json(json, len);
    free(json);
    return ret;
}

typedef struct cli_opts {
    const char *co_token;
    const char *co_durability;
    long co_timeout_ms; /* 0: library defaults */
} cli_opts;

/* Applies token, durability and timeouts to a client. */
static int configure(cairn_client *c, const cli_opts *o)
{
    if (o->co_token != NULL && cairn_client_set_token(c, o->co_token) != 0)
        return usage_error("%s", "the token must not contain blanks or control characters");
    if (o->co_durability != NULL && cairn_client_set_durability(c, o->co_durability) != 0)
        return usage_error("bad durability '%s' (local, majority or all)", o->co_durability);
    if (o->co_timeout_ms > 0)
        cairn_client_set_timeouts(c, o->co_timeout_ms, (o->co_timeout_ms + 999) / 1000, 1);
    return CLI_EXIT_OK;
}

/* Asks every node on its own: one line per node, exit status of the first
 * failure (0 when all are healthy). */
static int cmd_health(cairn_client *all, const cli_opts *o)
{
    int ret = CLI_EXIT_OK;

    for (size_t i = 0; i < cairn_client_node_count(all); i++) {
        const char *url = cairn_client_node(all, i);
        cairn_client *c = NULL;
        int rc;

        rc = cairn_client_new(&c);
        if (rc == 0)
            rc = cairn_client_add_nodes(c, url);
        if (rc == 0 && configure(c, o) != CLI_EXIT_OK)
            rc = CAIRN_CL_EINVAL;
        if (rc == 0)
            rc = cairn_health(c, NULL, NULL);
        if (rc == 0) {
            printf("%s\tok\n", url);
        } else {
            const cairn_error *e = c ? cairn_last_error(c) : NULL;

            printf("%s\terror: %s%s%s\n", url, cairn_client_strerror(rc),
                   e && e->ce_message[0] ? ": " : "", e ? e->ce_message : "");
            if (ret == CLI_EXIT_OK)
                ret = cli_exit_code(rc);
        }
        cairn_client_free(c);
    }
    if (fflush(stdout) != 0 && ret == CLI_EXIT_OK)
        ret = CLI_EXIT_ERROR;
    return ret;
}

/* Reads the first line of a token file (at most 4 KiB) into a new string. */
static char *read_token_file(const char *path)
{
    char buf[4097];
    size_t n;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        fprintf(stderr, "cairn: cannot open token file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    return strdup(buf);
}

/* Expects exactly `want` (or between min and max) arguments after the command. */
static int nargs_ok(int have, int min, int max, const char *cmd)
{
    if (have < min || have > max) {
        usage_error("wrong number of arguments for '%s'", cmd);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"node", required_argument, NULL, 'n'},
        {"token", required_argument, NULL, 't'},
        {"token-file", required_argument, NULL, 'F'},
        {"durability", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 'T'},
        {"page-size", required_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    cli_opts o = {NULL, NULL, 0};
    progress pg;
    cairn_client *c = NULL;
    const char *cmd, *token_file = NULL;
    char *token_buf = NULL;
    char **args;
    unsigned page = LIST_PAGE;
    int nodes_given = 0, quiet = 0, nargs, ret, ch, rc;

    memset(&pg, 0, sizeof(pg));
    rc = cairn_client_new(&c);
    if (rc != 0) {
        fprintf(stderr, "cairn: cannot initialize: %s\n", cairn_client_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    for (;;) {
        ch = getopt_long(argc, argv, "+n:t:d:T:qhV", longopts, NULL);
        if (ch == -1)
            break;
        switch (ch) {
        case 'n':
            if (cairn_client_add_nodes(c, optarg) != 0) {
                ret = usage_error("bad node URL '%s'", optarg);
                goto done;
            }
            nodes_given = 1;
            break;
        case 't':
            o.co_token = optarg;
            break;
        case 'F':
            token_file = optarg;
            break;
        case 'd':
            o.co_durability = optarg;
            break;
        case 'T':
            if (cli_parse_seconds(optarg, &o.co_timeout_ms) != 0) {
                ret = usage_error("bad timeout '%s' (seconds, > 0)", optarg);
                goto done;
            }
            break;
        case 'P': {
            char *end;
            unsigned long v;

            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v == 0 || v > 100000) {
                ret = usage_error("bad page size '%s' (1..100000)", optarg);
                goto done;
            }
            page = (unsigned)v;
            break;
        }
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            ret = CLI_EXIT_OK;
            goto done;
        case 'V':
            printf("cairn %s (libcurl %s)\n", cairn_client_version(),
                   curl_version_info(CURLVERSION_NOW)->version);
            ret = CLI_EXIT_OK;
            goto done;
        default:
            fputs("Try 'cairn --help'.\n", stderr);
            ret = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if (optind >= argc) {
        ret = usage_error("%s", "no command given");
        goto done;
    }
    cmd = argv[optind];
    args = argv + optind + 1;
    nargs = argc - optind - 1;

    if (!nodes_given) {
        const char *env = getenv("CAIRN_NODE");

        if (env == NULL || env[0] == '\0')
            env = DEFAULT_NODE;
        if (cairn_client_add_nodes(c, env) != 0) {
            ret = usage_error("bad node URL in CAIRN_NODE: '%s'", env);
            goto done;
        }
    }
    if (o.co_token == NULL && token_file != NULL) {
        token_buf = read_token_file(token_file);
        if (token_buf == NULL) {
            ret = CLI_EXIT_ERROR;
            goto done;
        }
        o.co_token = token_buf;
    }
    if (o.co_token == NULL)
        o.co_token = getenv("CAIRN_TOKEN");
    ret = configure(c, &o);
    if (ret != CLI_EXIT_OK)
        goto done;
    pg.pg_enabled = !quiet && isatty(STDERR_FILENO);
    pg.pg_start = now_s();
    cairn_client_set_progress(c, on_progress, &pg);

    if (strcmp(cmd, "put") == 0) {
        ret = nargs_ok(nargs, 2, 2, cmd) ? cmd_put(c, &pg, args[0], args[1]) : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "get") == 0) {
        ret = nargs_ok(nargs, 1, 2, cmd) ? cmd_get(c, &pg, args[0], nargs == 2 ? args[1] : NULL)
                                         : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "rm") == 0) {
        ret = nargs_ok(nargs, 1, 1, cmd) ? cmd_rm(c, args[0]) : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "stat") == 0) {
        ret = nargs_ok(nargs, 1, 1, cmd) ? cmd_stat(c, args[0]) : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "ls") == 0) {
        ret = nargs_ok(nargs, 0, 1, cmd) ? cmd_ls(c, nargs == 1 ? args[0] : NULL, page)
                                         : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "cluster") == 0) {
        ret = nargs_ok(nargs, 0, 0, cmd) ? cmd_cluster(c) : CLI_EXIT_USAGE;
    } else if (strcmp(cmd, "health") == 0) {
        ret = nargs_ok(nargs, 0, 0, cmd) ? cmd_health(c, &o) : CLI_EXIT_USAGE;
    } else {
        ret = usage_error("unknown command '%s'", cmd);
    }
done:
    cairn_client_free(c);
    free(token_buf);
    return ret;
}
