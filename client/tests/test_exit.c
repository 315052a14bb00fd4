/*
 * test_exit.c -- error mapping: HTTP status + server code -> CAIRN_CL_E*,
 * and CAIRN_CL_E* -> the CLI's exit codes; plus the CLI's small helpers.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "cli_util.h"
#include "client_int.h"

START_TEST(test_status_mapping)
{
    static const struct {
        long status;
        const char *code;
        int rc;
    } cases[] = {
        {200, "", 0},
        {201, "", 0},
        {204, "", 0},
        {206, "", 0},
        {400, "bad_request", CAIRN_CL_EBADREQ},
        {401, "unauthorized", CAIRN_CL_EUNAUTH},
        {404, "not_found", CAIRN_CL_ENOTFOUND},
        {413, "payload_too_large", CAIRN_CL_ETOOBIG},
        {431, "header_too_large", CAIRN_CL_EHDRTOOBIG},
        {503, "unavailable", CAIRN_CL_EUNAVAIL},
        {503, "durability_timeout", CAIRN_CL_EDURABILITY},
        {507, "insufficient_storage", CAIRN_CL_ENOSPACE},
        {500, "internal", CAIRN_CL_ESERVER},
        {409, "conflict", CAIRN_CL_ECONFLICT},
        {412, "precondition_failed", CAIRN_CL_ECONFLICT},
        /* No (or an unknown) code: the status decides. */
        {400, "", CAIRN_CL_EBADREQ},
        {401, "", CAIRN_CL_EUNAUTH},
        {403, "", CAIRN_CL_EUNAUTH},
        {404, "", CAIRN_CL_ENOTFOUND},
        {409, "", CAIRN_CL_ECONFLICT},
        {412, "", CAIRN_CL_ECONFLICT},
        {413, "", CAIRN_CL_ETOOBIG},
        {431, "", CAIRN_CL_EHDRTOOBIG},
        {503, "", CAIRN_CL_EUNAVAIL},
        {503, "something_new", CAIRN_CL_EUNAVAIL},
        {507, "", CAIRN_CL_ENOSPACE},
        {500, "", CAIRN_CL_ESERVER},
        {502, "", CAIRN_CL_ESERVER},
        {599, "", CAIRN_CL_ESERVER},
        {301, "", CAIRN_CL_EHTTP},
        {418, "", CAIRN_CL_EHTTP},
        {100, "", CAIRN_CL_EHTTP},
        /* A known code wins over an odd status. */
        {500, "not_found", CAIRN_CL_ENOTFOUND},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(cairn__status_to_rc(cases[i].status, cases[i].code) == cases[i].rc,
                      "case %zu: %ld %s", i, cases[i].status, cases[i].code);
    ck_assert_int_eq(cairn__status_to_rc(404, NULL), CAIRN_CL_ENOTFOUND);
}
END_TEST

START_TEST(test_exit_codes)
{
    static const struct {
        int rc;
        int exit;
    } cases[] = {
        {0, 0},
        {CAIRN_CL_ENOTFOUND, 3},
        {CAIRN_CL_EUNAVAIL, 4},
        {CAIRN_CL_ETIMEDOUT, 4},
        {CAIRN_CL_ENET, 4},
        {CAIRN_CL_ECONFLICT, 5},
        {CAIRN_CL_EUNAUTH, 6},
        {CAIRN_CL_ETOOBIG, 7},
        {CAIRN_CL_EHDRTOOBIG, 7},
        {CAIRN_CL_EDURABILITY, 8},
        {CAIRN_CL_ENOSPACE, 9},
        {CAIRN_CL_EINVAL, 2},
        {CAIRN_CL_EBADREQ, 1},
        {CAIRN_CL_ESERVER, 1},
        {CAIRN_CL_EHTTP, 1},
        {CAIRN_CL_EPROTO, 1},
        {CAIRN_CL_ENOMEM, 1},
        {CAIRN_CL_EABORTED, 1},
        {CAIRN_CL_ECURL, 1},
        {-EIO, 1},
        {-ENOSPC, 1},
        {-12345678, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(cli_exit_code(cases[i].rc) == cases[i].exit, "case %zu: rc %d", i,
                      cases[i].rc);
    /* The documented values themselves. */
    ck_assert_int_eq(CLI_EXIT_OK, 0);
    ck_assert_int_eq(CLI_EXIT_ERROR, 1);
    ck_assert_int_eq(CLI_EXIT_USAGE, 2);
    ck_assert_int_eq(CLI_EXIT_NOTFOUND, 3);
    ck_assert_int_eq(CLI_EXIT_UNAVAIL, 4);
    ck_assert_int_eq(CLI_EXIT_CONFLICT, 5);
}
END_TEST

START_TEST(test_strerror)
{
    for (int rc = CAIRN_CL_ECURL; rc <= CAIRN_CL_EINVAL; rc++) {
        const char *s = cairn_client_strerror(rc);

        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown error");
    }
    ck_assert_str_eq(cairn_client_strerror(-ENOENT), strerror(ENOENT));
    ck_assert_str_eq(cairn_client_strerror(-99999), "unknown error");
    ck_assert_str_eq(cairn_client_strerror(0), "success");
}
END_TEST

/* Runs cli_write_escaped into a memory stream. */
static char *escaped(const char *s, size_t len)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cli_write_escaped(f, s, len), 0);
    fclose(f);
    return out;
}

START_TEST(test_escape)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain/key.txt", 13, "plain/key.txt"},
        {"a b", 3, "a b"},
        {"t\tn\nr\r", 6, "t\\tn\\nr\\r"},
        {"back\\slash", 10, "back\\\\slash"},
        {"\x01\x1f\x7f", 3, "\\x01\\x1F\\x7F"},
        {"nul\0x", 5, "nul\\x00x"},
        {"\xc3\xa9\xf0\x9d\x84\x9e", 6, "\xc3\xa9\xf0\x9d\x84\x9e"},
        {"bad\xff\xc3", 5, "bad\\xFF\\xC3"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = escaped(cases[i].in, cases[i].len);

        ck_assert_msg(strcmp(out, cases[i].out) == 0, "case %zu: got '%s'", i, out);
        free(out);
    }
}
END_TEST

START_TEST(test_parse_seconds)
{
    long ms = 0;

    ck_assert_int_eq(cli_parse_seconds("10", &ms), 0);
    ck_assert_int_eq(ms, 10000);
    ck_assert_int_eq(cli_parse_seconds("2.5", &ms), 0);
    ck_assert_int_eq(ms, 2500);
    ck_assert_int_eq(cli_parse_seconds("0.0001", &ms), 0);
    ck_assert_int_eq(ms, 1);
    ck_assert_int_eq(cli_parse_seconds("0", &ms), -1);
    ck_assert_int_eq(cli_parse_seconds("-1", &ms), -1);
    ck_assert_int_eq(cli_parse_seconds("", &ms), -1);
    ck_assert_int_eq(cli_parse_seconds("5s", &ms), -1);
    ck_assert_int_eq(cli_parse_seconds("nan", &ms), -1);
    ck_assert_int_eq(cli_parse_seconds("1e99", &ms), -1);
}
END_TEST

START_TEST(test_human_bytes)
{
    char b[32];

    ck_assert_str_eq(cli_human_bytes(0, b, sizeof(b)), "0 B");
    ck_assert_str_eq(cli_human_bytes(1023, b, sizeof(b)), "1023 B");
    ck_assert_str_eq(cli_human_bytes(1536, b, sizeof(b)), "1.5 KiB");
    ck_assert_str_eq(cli_human_bytes(3.0 * 1024 * 1024 * 1024, b, sizeof(b)), "3.0 GiB");
}
END_TEST

static Suite *exit_suite(void)
{
    Suite *s = suite_create("client_exit");
    TCase *tc = tcase_create("mapping");

    tcase_add_test(tc, test_status_mapping);
    tcase_add_test(tc, test_exit_codes);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_parse_seconds);
    tcase_add_test(tc, test_human_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(exit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
