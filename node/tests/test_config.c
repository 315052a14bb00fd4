/* test_config.c -- flags, config files, overrides, validation messages. */
#include "common/error.h"
#include "node/config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn_test_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to tmpdir/name; returns the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text, char *path, size_t cap)
{
    FILE *f;

    snprintf(path, cap, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Parses argv (NULL-terminated list after argv[0]) into cfg. */
static int parse(node_config_t *cfg, config_action_t *action, char *err, size_t errlen, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    char *a;

    argv[argc++] = (char *)"cairnd";
    va_start(ap, errlen);
    for (a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    config_defaults(cfg);
    err[0] = '\0';
    return config_from_args(cfg, argc, argv, action, err, errlen);
}

START_TEST(test_defaults_and_flags)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", "/tmp/x", "--node-id=7",
                           "--listen", "0.0.0.0:9000", "--max-blob-size", "64M", "--durability",
                           "all", "--log-level", "debug", "--io-threads", "3", NULL),
                     0);
    ck_assert_int_eq(act, CONFIG_RUN);
    ck_assert_str_eq(cfg.nc_data, "/tmp/x");
    ck_assert_uint_eq(cfg.nc_node_id, 7);
    ck_assert_str_eq(cfg.nc_listen_host, "0.0.0.0");
    ck_assert_int_eq(cfg.nc_listen_port, 9000);
    ck_assert_uint_eq(cfg.nc_max_blob_size, 64ULL << 20);
    ck_assert_int_eq(cfg.nc_durability, DUR_ALL);
    ck_assert_int_eq(cfg.nc_log_level, LOG_DEBUG);
    ck_assert_uint_eq(cfg.nc_io_threads, 3);
    /* untouched defaults */
    ck_assert_uint_eq(cfg.nc_max_connections, 1024);
    ck_assert_uint_eq(cfg.nc_header_timeout_s, 10);
    ck_assert_uint_eq(cfg.nc_idle_timeout_s, 60);
    ck_assert_uint_eq(cfg.nc_read_timeout_s, 30);
    ck_assert_uint_eq(cfg.nc_shutdown_timeout_s, 10);
    config_free(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_help_version)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--bogus", "--help", NULL), 0);
    ck_assert_int_eq(act, CONFIG_HELP);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--version", NULL), 0);
    ck_assert_int_eq(act, CONFIG_VERSION);
    config_free(&cfg);
    ck_assert_ptr_nonnull(strstr(config_usage(), "--max-blob-size"));
}
END_TEST

START_TEST(test_bad_flags)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--bogus", "1", NULL), CAIRN_EINVAL);
    ck_assert_str_eq(err, "unknown option --bogus (see --help)");
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--node-id", "0", NULL), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "--node-id"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--node-id", "65536", NULL), CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--durability", "most", NULL),
                     CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "durability"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--max-blob-size", "12Q", NULL),
                     CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--listen", "nohostport", NULL),
                     CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--peer", "2-host:1", NULL), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "ID@HOST:PORT"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", NULL), CAIRN_EINVAL);
    ck_assert_str_eq(err, "option --data needs a value");
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "stray", NULL), CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--idle-timeout", "0", NULL),
                     CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--log-level", "loud", NULL),
                     CAIRN_EINVAL);
    config_free(&cfg);
}
END_TEST

START_TEST(test_file_and_override)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];
    char path[256];

    write_file("c.conf",
               "# comment\n"
               "node-id = 3\n"
               "data = /srv/cairn\n"
               "listen = 127.0.0.1:7000\n"
               "peer-listen = 127.0.0.1:7100\n"
               "peer = 1@10.0.0.1:7100\n"
               "peer = 2@[::1]:7100\n"
               "\n"
               "max-blob-size = 1G\n",
               path, sizeof(path));
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--config", path, "--node-id", "4", NULL),
                     0);
    ck_assert_uint_eq(cfg.nc_node_id, 4); /* the flag wins */
    ck_assert_str_eq(cfg.nc_data, "/srv/cairn");
    ck_assert_int_eq(cfg.nc_listen_port, 7000);
    ck_assert_int_eq(cfg.nc_has_peer_listen, 1);
    ck_assert_uint_eq(cfg.nc_npeers, 2);
    ck_assert_uint_eq(cfg.nc_peers[1].np_id, 2);
    ck_assert_str_eq(cfg.nc_peers[1].np_host, "::1");
    ck_assert_uint_eq(cfg.nc_max_blob_size, 1ULL << 30);
    config_free(&cfg);

    /* --peer flags replace the file's list */
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--peer", "9@h:1", "--config", path, NULL),
                     0);
    ck_assert_uint_eq(cfg.nc_npeers, 1);
    ck_assert_uint_eq(cfg.nc_peers[0].np_id, 9);
    config_free(&cfg);
}
END_TEST

START_TEST(test_file_errors)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];
    char path[256];

    write_file("bad.conf", "node-id = 2\nfrobnicate = 1\n", path, sizeof(path));
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--config", path, NULL), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "bad.conf:2: unknown setting 'frobnicate'"));
    config_free(&cfg);

    write_file("bad2.conf", "durability = sometimes\n", path, sizeof(path));
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--config", path, NULL), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "bad2.conf:1: durability:"));
    config_free(&cfg);

    write_file("bad3.conf", "config = other.conf\n", path, sizeof(path));
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--config", path, NULL), CAIRN_EINVAL);
    config_free(&cfg);

    write_file("bad4.conf", "just words\n", path, sizeof(path));
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--config", path, NULL), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "bad4.conf:1"));
    config_free(&cfg);

    ck_assert_int_lt(parse(&cfg, &act, err, sizeof(err), "--config", "/nonexistent/c.conf", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/c.conf"));
    config_free(&cfg);
}
END_TEST

START_TEST(test_check)
{
    node_config_t cfg;
    config_action_t act;
    char err[512];
    char data[256], tok[256], secret[256], emptyf[256], notdir[256];

    snprintf(data, sizeof(data), "%s/new/data", tmpdir);
    write_file("token", "tok123\n", tok, sizeof(tok));
    write_file("secret", "s3cret", secret, sizeof(secret));
    write_file("empty", "\n", emptyf, sizeof(emptyf));
    write_file("plainfile", "x", notdir, sizeof(notdir));

    /* missing --data */
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), NULL), 0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), CAIRN_EINVAL);
    ck_assert_str_eq(err, "--data DIR is required");
    config_free(&cfg);

    /* data dir created, token read */
    ck_assert_int_eq(
        parse(&cfg, &act, err, sizeof(err), "--data", data, "--api-token-file", tok, NULL), 0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(access(data, W_OK), 0);
    ck_assert_str_eq(cfg.nc_token, "tok123");
    ck_assert_uint_eq(cfg.nc_token_len, 6);
    config_free(&cfg);

    /* empty token file */
    ck_assert_int_eq(
        parse(&cfg, &act, err, sizeof(err), "--data", data, "--api-token-file", emptyf, NULL), 0);
    ck_assert_int_lt(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "api token file"));
    config_free(&cfg);

    /* unreadable token file */
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--api-token-file",
                           "/nonexistent/tok", NULL),
                     0);
    ck_assert_int_lt(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tok"));
    config_free(&cfg);

    /* data is a file */
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", notdir, NULL), 0);
    ck_assert_int_lt(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "not a directory"));
    config_free(&cfg);

    /* peers need a secret and a peer listener; ids must be distinct */
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--peer", "2@h:1", NULL),
                     0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "--secret-file"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--peer", "1@h:1",
                           "--secret-file", secret, "--peer-listen", "h:2", NULL),
                     0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "own id"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--peer", "2@h:1",
                           "--peer", "2@h:3", "--secret-file", secret, "--peer-listen", "h:2",
                           NULL),
                     0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--peer", "2@h:1",
                           "--secret-file", secret, "--peer-listen", "h:2", NULL),
                     0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_str_eq(cfg.nc_secret, "s3cret");
    config_free(&cfg);
}
END_TEST

/* --durability-timeout and the automatic --io-threads (replication shares the pool). */
START_TEST(test_durability_timeout_and_io_threads)
{
    node_config_t cfg;
    config_action_t act;
    char err[512], data[256], secret[256];

    snprintf(data, sizeof(data), "%s/data", tmpdir);
    write_file("secret", "s3cret\n", secret, sizeof(secret));

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, NULL), 0);
    ck_assert_uint_eq(cfg.nc_durability_timeout_s, 10);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.nc_io_threads, 32); /* no peers: unchanged default */
    config_free(&cfg);

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--durability-timeout",
                           "3", "--peer", "2@h:1", "--peer", "3@h:2", "--secret-file", secret,
                           "--peer-listen", "h:3", NULL),
                     0);
    ck_assert_uint_eq(cfg.nc_durability_timeout_s, 3);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.nc_io_threads, 44); /* 32 + 4 per link + 4 fetches */
    config_free(&cfg);

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--data", data, "--io-threads", "5",
                           "--peer", "2@h:1", "--secret-file", secret, "--peer-listen", "h:3",
                           NULL),
                     0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.nc_io_threads, 5); /* explicit wins */
    config_free(&cfg);

    ck_assert_uint_eq(config_io_threads_auto(0), 32);
    ck_assert_uint_eq(config_io_threads_auto(1), 40);
    ck_assert_uint_eq(config_io_threads_auto(64), 64);

    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--durability-timeout", "0", NULL),
                     CAIRN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "durability-timeout"));
    config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, &act, err, sizeof(err), "--durability-timeout", "10s", NULL),
                     CAIRN_EINVAL);
    config_free(&cfg);
    ck_assert_ptr_nonnull(strstr(config_usage(), "--durability-timeout"));
}
END_TEST

START_TEST(test_durability_names)
{
    durability_t d;

    ck_assert_int_eq(durability_parse("local", 5, &d), 0);
    ck_assert_int_eq(d, DUR_LOCAL);
    ck_assert_int_eq(durability_parse("majority", 8, &d), 0);
    ck_assert_int_eq(d, DUR_MAJORITY);
    ck_assert_int_eq(durability_parse("all", 3, &d), 0);
    ck_assert_int_eq(d, DUR_ALL);
    ck_assert_int_eq(durability_parse("al", 2, &d), CAIRN_EINVAL);
    ck_assert_int_eq(durability_parse("ALL", 3, &d), CAIRN_EINVAL);
    ck_assert_str_eq(durability_name(DUR_MAJORITY), "majority");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults_and_flags);
    tcase_add_test(tc, test_help_version);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_file_and_override);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_check);
    tcase_add_test(tc, test_durability_timeout_and_io_threads);
    tcase_add_test(tc, test_durability_names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
