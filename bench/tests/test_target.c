/* test_target.c -- node URLs and key path encoding. */
#include "bench/target.h"
#include "common/error.h"

#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_parse_ok)
{
    bench_target_t t;

    ck_assert_int_eq(bench_target_parse("http://127.0.0.1:8080", &t), 0);
    ck_assert_str_eq(t.bt_host, "127.0.0.1");
    ck_assert_int_eq(t.bt_port, 8080);
    ck_assert_str_eq(t.bt_hosthdr, "127.0.0.1:8080");
    ck_assert_str_eq(t.bt_url, "http://127.0.0.1:8080");
    ck_assert_int_eq(bench_target_parse("HTTP://localhost:1/", &t), 0);
    ck_assert_str_eq(t.bt_host, "localhost");
    ck_assert_int_eq(bench_target_parse("node-2.example:65535", &t), 0);
    ck_assert_int_eq(t.bt_port, 65535);
    ck_assert_int_eq(bench_target_parse("http://[::1]:9000", &t), 0);
    ck_assert_str_eq(t.bt_host, "::1");
    ck_assert_str_eq(t.bt_hosthdr, "[::1]:9000");
}
END_TEST

START_TEST(test_parse_bad)
{
    static const char *const bad[] = {
        "",        "http://", "https://h:1",  "ftp://h:1", "h",     "h:",   "h:0",
        "h:65536", "h:1/v1",  "http://u@h:1", "::1:80",    "h:1//", "h:+1", "h:1x",
    };
    bench_target_t t;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bench_target_parse(bad[i], &t) == CAIRN_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_resolve)
{
    bench_target_t t;

    ck_assert_int_eq(bench_target_parse("127.0.0.1:4321", &t), 0);
    ck_assert_int_eq(bench_target_resolve(&t), 0);
    ck_assert_int_eq(t.bt_addr.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&t.bt_addr)->sin_port), 4321);
}
END_TEST

START_TEST(test_path_encode)
{
    char out[64];

    ck_assert_int_eq(bench_path_encode("bench/", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "bench/");
    ck_assert_int_eq(bench_path_encode("a b%?#\xc3\xa9~", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a%20b%25%3F%23%C3%A9~");
    ck_assert_int_eq(bench_path_encode("", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(bench_path_encode("abc", out, 4), 0);
    ck_assert_int_eq(bench_path_encode("abcd", out, 4), CAIRN_ETOOBIG);
    ck_assert_int_eq(bench_path_encode("a ", out, 4), CAIRN_ETOOBIG);
    ck_assert_int_eq(bench_path_encode("", out, 0), CAIRN_ETOOBIG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("target");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_parse_ok);
    tcase_add_test(tc, test_parse_bad);
    tcase_add_test(tc, test_resolve);
    tcase_add_test(tc, test_path_encode);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
