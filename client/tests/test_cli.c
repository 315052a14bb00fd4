/*
 * test_cli.c -- the `cairn` binary end to end against fake nodes: exit
 * codes for every error response, usage errors, get's FILE.tmp handling,
 * failover, listing output. Runs $CAIRN_BIN_DIR/cairn (set by ctest), else
 * the cairn beside the test binary.
 */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakehttp.h"
#include "testutil.h"

/* Check's forked child exits at once when an assertion fails, so the temp
 * dirs live under one base dir that the runner process (an unchecked
 * fixture) creates before and removes after the tests. */
static char base[64];
static char dir[96];

static void base_setup(void)
{
    snprintf(base, sizeof(base), "/tmp/cairn-cli-XXXXXX");
    if (mkdtemp(base) == NULL)
        abort();
}

static void base_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", base);
}

/* Creates this test's own temp dir under the base dir. */
static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "%s/XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes this test's temp dir (what a failing test leaves goes with the base). */
static void remove_dir(void)
{
    char cmd[160];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Returns the path of name inside the test's temp dir (static storage, 4 slots). */
static const char *path(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ % 4];

    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* Reads a whole (small) file into a new string; "" if it does not exist. */
static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    char *s = calloc(1, 1 << 20);
    size_t n;

    ck_assert_ptr_nonnull(s);
    if (f == NULL)
        return s;
    n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/*
 * Runs `cairn ARGS...` (NULL-terminated) with stdin from in (NULL:
 * /dev/null), stdout to DIR/out and stderr to DIR/err, and CAIRN_NODE set to
 * env_node (NULL: unset). Returns the exit status.
 */
static int run(const char *in, const char *env_node, ...)
{
    const char *bindir = getenv("CAIRN_BIN_DIR");
    char bin[1024], self[512];
    char *argv[32];
    int argc = 0, status;
    va_list ap;
    pid_t pid;

    if (bindir == NULL) {
        /* Run by hand: cairn sits beside this test in DIR/bin. */
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char *slash;

        ck_assert_int_gt(n, 0);
        self[n] = '\0';
        slash = strrchr(self, '/');
        ck_assert_ptr_nonnull(slash);
        *slash = '\0';
        bindir = self;
    }
    snprintf(bin, sizeof(bin), "%s/cairn", bindir);
    argv[argc++] = bin;
    va_start(ap, env_node);
    for (;;) {
        char *a = va_arg(ap, char *);

        argv[argc++] = a;
        if (a == NULL)
            break;
        ck_assert_int_lt(argc, 31);
    }
    va_end(ap);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int i = open(in ? in : "/dev/null", O_RDONLY);
        int o = open(path("out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(path("err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (i < 0 || o < 0 || e < 0)
            _exit(127);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("CAIRN_TOKEN");
        if (env_node)
            setenv("CAIRN_NODE", env_node, 1);
        else
            unsetenv("CAIRN_NODE");
        execv(bin, argv);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void write_file(const char *p, const char *content)
{
    FILE *f = fopen(p, "w");

    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

static const struct {
    int status;
    const char *body;
    int exit;
} exits[] = {
    {400, "{\"error\":\"bad_request\",\"message\":\"m\"}", 1},
    {401, "{\"error\":\"unauthorized\",\"message\":\"token required\"}", 6},
    {404, "{\"error\":\"not_found\",\"message\":\"no such key\"}", 3},
    {409, "{\"error\":\"conflict\",\"message\":\"m\"}", 5},
    {412, NULL, 5},
    {413, "{\"error\":\"payload_too_large\",\"message\":\"m\"}", 7},
    {431, "{\"error\":\"header_too_large\",\"message\":\"m\"}", 7},
    {500, "{\"error\":\"internal\",\"message\":\"m\"}", 1},
    {503, "{\"error\":\"unavailable\",\"message\":\"m\"}", 4},
    {503, "{\"error\":\"durability_timeout\",\"message\":\"1 of 3\"}", 8},
    {507, "{\"error\":\"insufficient_storage\",\"message\":\"m\"}", 9},
};

START_TEST(test_exit_code_per_error)
{
    fakehttp *f = fh_start();
    char *err;

    make_dir();
    write_file(path("in"), "content");
    fh_respond(f, exits[_i].status, exits[_i].body, NULL, 0);
    ck_assert_int_eq(run(NULL, NULL, "--node", fh_url(f), "put", "k", path("in"), NULL),
                     exits[_i].exit);
    err = slurp(path("err"));
    ck_assert_msg(strncmp(err, "cairn: put k: ", 14) == 0, "stderr: %s", err);
    ck_assert_ptr_nonnull(strstr(err, fh_url(f)));
    free(err);
    remove_dir();
    fh_stop(f);
}
END_TEST

START_TEST(test_usage_errors)
{
    fakehttp *f = fh_start();
    char *out;

    make_dir();
    ck_assert_int_eq(run(NULL, fh_url(f), NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "nope", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "a", "b", "c", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "rm", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "ls", "a", "b", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "cluster", "x", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "-d", "some", "rm", "k", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "-T", "soon", "health", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "--page-size", "0", "ls", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "--token", "a b", "health", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "--node", "ftp://h", "health", NULL), 2);
    ck_assert_int_eq(run(NULL, "gopher://x", "health", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "\xff", NULL), 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "--token-file", path("none"), "health", NULL), 1);
    ck_assert_uint_eq(fh_count(f), 0);
    ck_assert_int_eq(run(NULL, NULL, "--help", NULL), 0);
    out = slurp(path("out"));
    ck_assert_ptr_nonnull(strstr(out, "Exit status"));
    ck_assert_ptr_nonnull(strstr(out, "CAIRN_NODE"));
    free(out);
    ck_assert_int_eq(run(NULL, NULL, "--version", NULL), 0);
    remove_dir();
    fh_stop(f);
}
END_TEST

START_TEST(test_put_get_stat_rm)
{
    fakehttp *f = fh_start();
    char *out, line[256];

    make_dir();
    write_file(path("in"), "0123456789");
    ck_assert_int_eq(run(NULL, fh_url(f), "put", "dir/k", path("in"), NULL), 0);
    out = slurp(path("out"));
    snprintf(line, sizeof(line), "dir/k\t10\te%016llx\t42.1\n",
             (unsigned long long)fh_hash(FH_HASH_INIT, "0123456789", 10));
    ck_assert_str_eq(out, line);
    free(out);
    ck_assert_int_eq(run(NULL, fh_url(f), "stat", "dir/k", NULL), 0);
    out = slurp(path("out"));
    ck_assert_str_eq(out, line);
    free(out);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "dir/k", NULL), 0);
    out = slurp(path("out"));
    ck_assert_str_eq(out, "0123456789");
    free(out);
    /* Standard input, redirected from a regular file: not chunked. */
    ck_assert_int_eq(run(path("in"), fh_url(f), "put", "dir/k2", "-", NULL), 0);
    ck_assert_int_eq(fh_req(f, fh_count(f) - 1).fr_chunked, 0);
    ck_assert_uint_eq(fh_req(f, fh_count(f) - 1).fr_body_len, 10);
    ck_assert_int_eq(run(NULL, fh_url(f), "-d", "all", "rm", "dir/k", NULL), 0);
    ck_assert_str_eq(fh_req(f, fh_count(f) - 1).fr_target, "/v1/blobs/dir/k?durability=all");
    ck_assert_int_eq(run(NULL, fh_url(f), "rm", "dir/k", NULL), 3);
    remove_dir();
    fh_stop(f);
}
END_TEST

START_TEST(test_get_file_is_atomic)
{
    fakehttp *f = fh_start();
    char *buf = malloc(1 << 20), *out;
    struct stat sb;

    make_dir();
    tu_gen_fill(9, buf, 1 << 20);
    {
        FILE *fp = fopen(path("big"), "w");

        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(buf, 1, 1 << 20, fp), 1 << 20);
        fclose(fp);
    }
    ck_assert_int_eq(run(NULL, fh_url(f), "put", "big", path("big"), NULL), 0);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "big", path("copy"), NULL), 0);
    ck_assert_int_eq(stat(path("copy"), &sb), 0);
    ck_assert_int_eq(sb.st_size, 1 << 20);
    ck_assert_int_ne(access(path("copy.tmp"), F_OK), 0);

    /* Not found: FILE is not created. */
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "missing", path("new"), NULL), 3);
    ck_assert_int_ne(access(path("new"), F_OK), 0);
    ck_assert_int_ne(access(path("new.tmp"), F_OK), 0);

    /* Cut mid-body: FILE keeps its old content, no FILE.tmp left. */
    write_file(path("old"), "old content");
    fh_truncate_gets(f);
    ck_assert_int_eq(run(NULL, fh_url(f), "get", "big", path("old"), NULL), 4);
    out = slurp(path("old"));
    ck_assert_str_eq(out, "old content");
    free(out);
    ck_assert_int_ne(access(path("old.tmp"), F_OK), 0);
    free(buf);
    remove_dir();
    fh_stop(f);
}
END_TEST

START_TEST(test_failover_and_env)
{
    fakehttp *f = fh_start();
    char dead[64], nodes[160], *out;

    make_dir();
    write_file(path("in"), "v");
    fh_refused_url(dead, sizeof(dead));
    snprintf(nodes, sizeof(nodes), "%s,%s", dead, fh_url(f));
    ck_assert_int_eq(run(NULL, nodes, "put", "k", path("in"), NULL), 0);
    ck_assert_int_eq(run(NULL, NULL, "--node", dead, "--node", fh_url(f), "get", "k", NULL), 0);
    ck_assert_int_eq(run(NULL, NULL, "-n", dead, "get", "k", NULL), 4);
    /* --node wins over CAIRN_NODE. */
    ck_assert_int_eq(run(NULL, dead, "-n", fh_url(f), "get", "k", NULL), 0);
    /* health asks every node: one line each, exit 4 because one is down. */
    ck_assert_int_eq(run(NULL, nodes, "health", NULL), 4);
    out = slurp(path("out"));
    ck_assert_ptr_nonnull(strstr(out, "\tok\n"));
    ck_assert_ptr_nonnull(strstr(out, "\terror: "));
    free(out);
    ck_assert_int_eq(run(NULL, NULL, "-n", fh_url(f), "health", NULL), 0);
    remove_dir();
    fh_stop(f);
}
END_TEST

START_TEST(test_ls_pages_and_escaping)
{
    static const char *const pages[] = {
        "{\"items\":[{\"key\":\"a\\tb\",\"size\":1,\"etag\":\"e1\",\"version\":\"1\"},"
        "{\"key\":\"c\\nd\\\\e\",\"size\":2,\"etag\":\"e2\",\"version\":\"2\"}],\"next\":\"c\"}",
        "{\"items\":[{\"key\":\"\\u00e9\",\"size\":3,\"etag\":\"e3\",\"version\":\"3\"}],"
        "\"next\":null}",
    };
    fakehttp *f = fh_start();
    char *out;

    make_dir();
    fh_list_pages(f, pages, 2);
    ck_assert_int_eq(run(NULL, fh_url(f), "--page-size", "2", "ls", "p/", NULL), 0);
    out = slurp(path("out"));
    ck_assert_str_eq(out, "a\\tb\t1\te1\nc\\nd\\\\e\t2\te2\n\xc3\xa9\t3\te3\n");
    free(out);
    ck_assert_str_eq(fh_req(f, 0).fr_target, "/v1/blobs?prefix=p%2F&limit=2");
    ck_assert_str_eq(fh_req(f, 1).fr_target, "/v1/blobs?prefix=p%2F&after=c&limit=2");
    remove_dir();
    fh_stop(f);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("client_cli");
    TCase *tc = tcase_create("cli");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_loop_test(tc, test_exit_code_per_error, 0, sizeof(exits) / sizeof(exits[0]));
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_put_get_stat_rm);
    tcase_add_test(tc, test_get_file_is_atomic);
    tcase_add_test(tc, test_failover_and_env);
    tcase_add_test(tc, test_ls_pages_and_escaping);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cli_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
