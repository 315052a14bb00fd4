/* test_error.c -- cairn_strerror / cairn_errname. */
#include "common/error.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const int all_codes[] = {
    CAIRN_EINVAL,   CAIRN_ENOTFOUND, CAIRN_EEXIST,    CAIRN_ESTALE,   CAIRN_ECORRUPT,
    CAIRN_EUNAVAIL, CAIRN_ETIMEDOUT, CAIRN_ETOOBIG,   CAIRN_EPRECOND, CAIRN_ELOCKED,
    CAIRN_ECHANGED, CAIRN_EBUSY,     CAIRN_ESHUTDOWN, CAIRN_ENOMEM,   CAIRN_EPROTO,
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

START_TEST(test_every_code_named_and_distinct)
{
    size_t i, j;

    for (i = 0; i < NCODES; i++) {
        const char *n = cairn_errname(all_codes[i]);
        const char *d = cairn_strerror(all_codes[i]);
        ck_assert_ptr_nonnull(n);
        ck_assert_ptr_nonnull(d);
        ck_assert_str_ne(n, "unknown");
        ck_assert_str_ne(d, "unknown error");
        for (j = 0; j < i; j++)
            ck_assert_str_ne(n, cairn_errname(all_codes[j]));
    }
}
END_TEST

START_TEST(test_specific_names)
{
    ck_assert_str_eq(cairn_errname(CAIRN_ENOTFOUND), "not_found");
    ck_assert_str_eq(cairn_errname(CAIRN_EINVAL), "invalid");
    ck_assert_str_eq(cairn_errname(0), "ok");
}
END_TEST

START_TEST(test_errno_values)
{
    ck_assert_str_eq(cairn_errname(-EIO), "EIO");
    ck_assert_str_eq(cairn_errname(-ENOSPC), "ENOSPC");
    ck_assert_str_eq(cairn_errname(-ENOENT), "ENOENT");
    ck_assert_str_eq(cairn_strerror(-ENOSPC), strerror(ENOSPC));
    ck_assert_str_eq(cairn_strerror(-EIO), strerror(EIO));
}
END_TEST

START_TEST(test_unknown_values)
{
    ck_assert_str_eq(cairn_errname(-29999), "unknown");
    ck_assert_str_eq(cairn_errname(-30999), "unknown");
    ck_assert_str_eq(cairn_errname(5), "unknown");
    ck_assert_str_eq(cairn_strerror(-3999), "unknown error");
    ck_assert_str_eq(cairn_strerror(-30016), "unknown error");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_every_code_named_and_distinct);
    tcase_add_test(tc, test_specific_names);
    tcase_add_test(tc, test_errno_values);
    tcase_add_test(tc, test_unknown_values);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
