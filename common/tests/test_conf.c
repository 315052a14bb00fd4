/* test_conf.c -- config files, value parsers, secret files. */
#include "common/conf.h"
#include "common/error.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static char path[128];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-conf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/file", tmpdir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(tmpdir);
}

static void write_file(const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

typedef struct seen {
    int sn_count;
    char sn_text[1024];
    int sn_fail_at; /* return CAIRN_ETOOBIG on this entry (1-based); 0 never */
} seen_t;

static int collect(void *arg, const char *name, const char *value, int lineno)
{
    seen_t *s = arg;
    size_t len = strlen(s->sn_text);

    s->sn_count++;
    snprintf(s->sn_text + len, sizeof(s->sn_text) - len, "%d:%s=[%s];", lineno, name, value);
    return s->sn_count == s->sn_fail_at ? CAIRN_ETOOBIG : 0;
}

START_TEST(test_parse_file)
{
    static const char text[] = "# comment\n"
                               "\n"
                               "node-id = 3\n"
                               "  listen=127.0.0.1:7001  \r\n"
                               "\t# indented comment\n"
                               "data =   /var/lib/cairn dir  \n"
                               "empty =\n"
                               "url = http://x/?a=b#frag\n"
                               "last_line = no newline";
    seen_t s = {0};
    char err[256] = "";

    write_file(text, sizeof(text) - 1);
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), 0);
    ck_assert_int_eq(s.sn_count, 6);
    ck_assert_str_eq(s.sn_text, "3:node-id=[3];4:listen=[127.0.0.1:7001];"
                                "6:data=[/var/lib/cairn dir];7:empty=[];"
                                "8:url=[http://x/?a=b#frag];9:last_line=[no newline];");
}
END_TEST

/* Parses text expecting rc, and that err starts with "PATH:LINE:". */
static void expect_error(const char *text, int want_rc, int want_line)
{
    seen_t s = {0};
    char err[256] = "", prefix[200];

    write_file(text, strlen(text));
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), want_rc);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, want_line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "err '%s' for '%s'", err, text);
}

START_TEST(test_parse_file_errors)
{
    expect_error("a = 1\nno equals here\n", CAIRN_EINVAL, 2);
    expect_error("= value\n", CAIRN_EINVAL, 1);
    expect_error("ok = 1\n\nbad name = 2\n", CAIRN_EINVAL, 3);
    expect_error("na$me = 2\n", CAIRN_EINVAL, 1);
}
END_TEST

START_TEST(test_parse_file_cb_error_passes_through)
{
    seen_t s = {0};
    char err[256] = "";

    s.sn_fail_at = 2;
    write_file("a = 1\nb = 2\nc = 3\n", 18);
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), CAIRN_ETOOBIG);
    ck_assert_int_eq(s.sn_count, 2);
    ck_assert_ptr_nonnull(strstr(err, ":2:"));
}
END_TEST

START_TEST(test_parse_file_limits)
{
    seen_t s = {0};
    char err[256] = "";
    char *big;
    size_t n = 1024 * 1024 + 1;

    /* A 4096-byte line is fine, 4097 is not. */
    big = malloc(n + 1);
    memset(big, 'v', n);
    memcpy(big, "k=", 2);
    big[4096] = '\0';
    write_file(big, 4096);
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), 0);
    ck_assert_int_eq(s.sn_count, 1);
    big[4096] = 'v';
    big[4097] = '\0';
    expect_error(big, CAIRN_EINVAL, 1);

    /* Over 1 MiB in total is refused even if every line is short. */
    memset(big, '#', n);
    for (size_t i = 100; i < n; i += 100)
        big[i] = '\n';
    write_file(big, n);
    ck_assert_int_lt(conf_parse_file(path, collect, &s, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, path));
    write_file(big, n - 1);
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), 0);

    /* NUL bytes are refused. */
    write_file("a = 1\0b = 2\n", 12);
    ck_assert_int_eq(conf_parse_file(path, collect, &s, err, sizeof(err)), CAIRN_EINVAL);
    free(big);
}
END_TEST

START_TEST(test_parse_file_io_errors)
{
    seen_t s = {0};
    char err[256] = "";
    char missing[200];

    snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
    ck_assert_int_eq(conf_parse_file(missing, collect, &s, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "missing"));
    ck_assert_int_eq(conf_parse_file(tmpdir, collect, &s, err, sizeof(err)), CAIRN_EINVAL);
    /* err may be NULL. */
    ck_assert_int_eq(conf_parse_file(missing, collect, &s, NULL, 0), -ENOENT);
}
END_TEST

START_TEST(test_parse_size)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"123", 123},
        {"64K", 64ULL << 10},
        {"64k", 64ULL << 10},
        {"8M", 8ULL << 20},
        {"2G", 2ULL << 30},
        {"1T", 1ULL << 40},
        {"1KB", 1024},
        {"1KiB", 1024},
        {"3mib", 3ULL << 20},
        {"100B", 100},
        {"18446744073709551615", UINT64_MAX},
        {"16777215T", 16777215ULL << 40},
    };
    static const char *const bad[] = {
        "",          "K",
        "-1",        "+1",
        " 1",        "1 ",
        "1.5M",      "1X",
        "1KK",       "1iB",
        "1Ki",       "1KBB",
        "0x10",      "18446744073709551616",
        "16777216T", "99999999999999999999G",
    };
    uint64_t v;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(conf_parse_size(ok[i].s, &v) == 0, "rejected %s", ok[i].s);
        ck_assert_uint_eq(v, ok[i].v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(conf_parse_size(bad[i], &v) == CAIRN_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(conf_parse_size(NULL, &v), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_parse_int)
{
    long long v;

    ck_assert_int_eq(conf_parse_int("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(conf_parse_int("-7", -10, 10, &v), 0);
    ck_assert_int_eq(v, -7);
    ck_assert_int_eq(conf_parse_int("+7", -10, 10, &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(conf_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
    ck_assert(v == LLONG_MIN);
    ck_assert_int_eq(conf_parse_int("9223372036854775807", 0, LLONG_MAX, &v), 0);
    ck_assert(v == LLONG_MAX);
    ck_assert_int_eq(conf_parse_int("9223372036854775808", 0, LLONG_MAX, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("-9223372036854775809", LLONG_MIN, 0, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("101", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("0", 1, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("-", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("1x", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int(" 1", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("1 ", 0, 100, &v), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_int("5", 10, 1, &v), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_parse_hostport)
{
    char host[64];
    int port = 0;

    ck_assert_int_eq(conf_parse_hostport("127.0.0.1:7001", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 7001);
    ck_assert_int_eq(conf_parse_hostport("localhost:80", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "localhost");
    ck_assert_int_eq(port, 80);
    ck_assert_int_eq(conf_parse_hostport("[::1]:7001", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 7001);
    ck_assert_int_eq(conf_parse_hostport("[fe80::1:2]:65535", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "fe80::1:2");
    ck_assert_int_eq(port, 65535);
    ck_assert_int_eq(conf_parse_hostport("node-1.example:1", host, sizeof(host), &port), 0);
    ck_assert_int_eq(port, 1);

    static const char *const bad[] = {
        "",
        "127.0.0.1",
        ":7001",
        "127.0.0.1:",
        "127.0.0.1:0",
        "h:65536",
        "h:-1",
        "h:+80",
        "h:80x",
        "h: 80",
        "::1:7001",
        "[::1]7001",
        "[::1]:",
        "[]:80",
        "[::1",
        "[127.0.0.1]:80",
        "h h:80",
        "h/x:80",
        "[::1]:80:80",
        "h:99999999999999999999",
    };
    size_t i;

    port = 12345;
    strcpy(host, "unchanged");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(conf_parse_hostport(bad[i], host, sizeof(host), &port) == CAIRN_EINVAL,
                      "accepted '%s'", bad[i]);
        ck_assert_str_eq(host, "unchanged");
        ck_assert_int_eq(port, 12345);
    }
    /* Host buffer too small: "localhost" needs 10 bytes. */
    ck_assert_int_eq(conf_parse_hostport("localhost:80", host, 9, &port), CAIRN_EINVAL);
    ck_assert_int_eq(conf_parse_hostport("localhost:80", host, 10, &port), 0);
}
END_TEST

START_TEST(test_read_secret)
{
    char *sec = NULL;
    size_t len = 0;
    char big[5000];

    write_file("s3cret token\r\n\n  \t", 18);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), 0);
    ck_assert_str_eq(sec, "s3cret token");
    ck_assert_uint_eq(len, 12);
    free(sec);

    write_file("abc", 3);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), 0);
    ck_assert_str_eq(sec, "abc");
    free(sec);

    sec = NULL;
    write_file("", 0);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), CAIRN_EINVAL);
    ck_assert_ptr_null(sec);
    write_file(" \r\n\n", 4);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), CAIRN_EINVAL);

    memset(big, 'k', sizeof(big));
    write_file(big, 4096);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), 0);
    ck_assert_uint_eq(len, 4096);
    free(sec);
    sec = NULL;
    write_file(big, 4097);
    ck_assert_int_lt(conf_read_secret(path, &sec, &len), 0);
    ck_assert_ptr_null(sec);

    unlink(path);
    ck_assert_int_eq(conf_read_secret(path, &sec, &len), -ENOENT);
    ck_assert_int_eq(conf_read_secret(tmpdir, &sec, &len), CAIRN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_file);
    tcase_add_test(tc, test_parse_file_errors);
    tcase_add_test(tc, test_parse_file_cb_error_passes_through);
    tcase_add_test(tc, test_parse_file_limits);
    tcase_add_test(tc, test_parse_file_io_errors);
    tcase_add_test(tc, test_parse_size);
    tcase_add_test(tc, test_parse_int);
    tcase_add_test(tc, test_parse_hostport);
    tcase_add_test(tc, test_read_secret);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
