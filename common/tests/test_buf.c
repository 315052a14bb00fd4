/* test_buf.c -- capped growable buffer and JSON string escaping. */
#include "common/buf.h"
#include "common/error.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_empty)
{
    buf_t b;
    char *p;
    size_t len = 99;

    buf_init(&b, 100);
    ck_assert_str_eq(buf_cstr(&b), "");
    ck_assert_uint_eq(b.b_len, 0);
    p = buf_take(&b, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "");
    ck_assert_uint_eq(len, 0);
    free(p);
    buf_free(&b);
    buf_free(&b);
}
END_TEST

START_TEST(test_append_grows)
{
    buf_t b;
    char chunk[100];
    size_t i;

    buf_init(&b, 1 << 20);
    memset(chunk, 'q', sizeof(chunk));
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(b.b_len, 100000);
    ck_assert_uint_eq(strlen(buf_cstr(&b)), 100000);
    ck_assert_uint_gt(b.b_alloc, b.b_len);
    ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
    buf_reset(&b);
    ck_assert_uint_eq(b.b_len, 0);
    ck_assert_str_eq(buf_cstr(&b), "");
    ck_assert_ptr_nonnull(b.b_data);
    buf_free(&b);
    ck_assert_ptr_null(b.b_data);
    buf_free(&b);
}
END_TEST

START_TEST(test_appendf)
{
    buf_t b;
    int i;

    buf_init(&b, 4096);
    ck_assert_int_eq(buf_appendf(&b, "%s=%d", "x", 42), 0);
    ck_assert_int_eq(buf_appendf(&b, "%s", ""), 0);
    ck_assert_str_eq(buf_cstr(&b), "x=42");
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(buf_appendf(&b, ",%03d", i), 0);
    ck_assert_uint_eq(b.b_len, 4 + 400);
    ck_assert_int_eq(strncmp(buf_cstr(&b) + 4, ",000,001", 8), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_cap_enforced)
{
    buf_t b;

    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "0123456", 7), 0);
    ck_assert_int_eq(buf_append(&b, "7890", 4), CAIRN_ETOOBIG);
    ck_assert_str_eq(buf_cstr(&b), "0123456");
    ck_assert_int_eq(buf_appendf(&b, "%d", 1234), CAIRN_ETOOBIG);
    ck_assert_str_eq(buf_cstr(&b), "0123456");
    ck_assert_int_eq(buf_append_json_str(&b, "ab", 2), CAIRN_ETOOBIG); /* "ab" is 4 bytes */
    ck_assert_str_eq(buf_cstr(&b), "0123456");
    ck_assert_uint_eq(b.b_len, 7);
    ck_assert_int_eq(buf_appendf(&b, "%d", 789), 0);
    ck_assert_str_eq(buf_cstr(&b), "0123456789");
    ck_assert_uint_le(b.b_alloc, 11);
    ck_assert_int_eq(buf_append(&b, "x", 1), CAIRN_ETOOBIG);
    ck_assert_int_eq(buf_append(&b, "", 0), 0);
    buf_free(&b);

    buf_init(&b, 0);
    ck_assert_int_eq(buf_append(&b, "x", 1), CAIRN_ETOOBIG);
    buf_free(&b);
}
END_TEST

START_TEST(test_json_rollback_on_partial_flush)
{
    buf_t b;
    char big[1000];

    /* Long enough to flush the internal chunk several times before failing. */
    memset(big, 'a', sizeof(big));
    buf_init(&b, 600);
    ck_assert_int_eq(buf_append(&b, "pre", 3), 0);
    ck_assert_int_eq(buf_append_json_str(&b, big, sizeof(big)), CAIRN_ETOOBIG);
    ck_assert_uint_eq(b.b_len, 3);
    ck_assert_str_eq(buf_cstr(&b), "pre");
    buf_free(&b);
}
END_TEST

/* Returns the JSON literal for s[0..len) (static storage). */
static const char *json(const char *s, size_t len)
{
    static char out[1024];
    buf_t b;

    buf_init(&b, sizeof(out) - 1);
    ck_assert_int_eq(buf_append_json_str(&b, s, len), 0);
    strcpy(out, buf_cstr(&b));
    buf_free(&b);
    return out;
}

START_TEST(test_json_escapes)
{
    ck_assert_str_eq(json("", 0), "\"\"");
    ck_assert_str_eq(json("plain", 5), "\"plain\"");
    ck_assert_str_eq(json("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    ck_assert_str_eq(json("\n\t\r\b\f", 5), "\"\\n\\t\\r\\b\\f\"");
    ck_assert_str_eq(json("\x01\x1f", 2), "\"\\u0001\\u001f\"");
    ck_assert_str_eq(json("a\0b", 3), "\"a\\u0000b\"");
    ck_assert_str_eq(json("/\x7f", 2), "\"/\x7f\"");
}
END_TEST

START_TEST(test_json_utf8)
{
    /* Valid UTF-8 passes through: 2, 3 and 4 byte sequences. */
    ck_assert_str_eq(json("\xc3\xa9", 2), "\"\xc3\xa9\"");
    ck_assert_str_eq(json("\xe2\x82\xac", 3), "\"\xe2\x82\xac\"");
    ck_assert_str_eq(json("\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
    ck_assert_str_eq(json("\xef\xbf\xbf", 3), "\"\xef\xbf\xbf\"");
    /* Invalid bytes become U+FFFD, one per byte, and the rest still decodes. */
    ck_assert_str_eq(json("\xff", 1), "\"\\ufffd\"");
    ck_assert_str_eq(json("a\x80z", 3), "\"a\\ufffdz\"");
    ck_assert_str_eq(json("\xc3", 1), "\"\\ufffd\"");                       /* truncated */
    ck_assert_str_eq(json("\xc3(", 2), "\"\\ufffd(\"");                     /* bad continuation */
    ck_assert_str_eq(json("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");            /* overlong */
    ck_assert_str_eq(json("\xe0\x80\xaf", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* overlong */
    ck_assert_str_eq(json("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    ck_assert_str_eq(json("\xf4\x90\x80\x80", 4),
                     "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
    ck_assert_str_eq(json("\xe2\x82", 2), "\"\\ufffd\\ufffd\"");
    ck_assert_str_eq(json("\xe2\x82\xac\xe2", 4), "\"\xe2\x82\xac\\ufffd\"");
}
END_TEST

START_TEST(test_json_long_mixed)
{
    char in[3000];
    buf_t b;
    size_t i;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (i % 3 == 0) ? '"' : (i % 3 == 1) ? '\x01' : 'x';
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_append_json_str(&b, in, sizeof(in)), 0);
    /* 1000 x (\" + \u0001 + x) = 1000 * (2 + 6 + 1) plus the quotes. */
    ck_assert_uint_eq(b.b_len, 9000 + 2);
    ck_assert_int_eq(strncmp(buf_cstr(&b), "\"\\\"\\u0001x\\\"", 12), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_take)
{
    buf_t b;
    char *p;
    size_t len;

    buf_init(&b, 100);
    ck_assert_int_eq(buf_appendf(&b, "hello %s", "world"), 0);
    p = buf_take(&b, &len);
    ck_assert_str_eq(p, "hello world");
    ck_assert_uint_eq(len, 11);
    ck_assert_ptr_null(b.b_data);
    ck_assert_uint_eq(b.b_len, 0);
    ck_assert_uint_eq(b.b_cap, 100);
    ck_assert_str_eq(buf_cstr(&b), "");
    free(p);
    ck_assert_int_eq(buf_append(&b, "again", 5), 0);
    ck_assert_str_eq(buf_cstr(&b), "again");
    buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_append_grows);
    tcase_add_test(tc, test_appendf);
    tcase_add_test(tc, test_cap_enforced);
    tcase_add_test(tc, test_json_rollback_on_partial_flush);
    tcase_add_test(tc, test_json_escapes);
    tcase_add_test(tc, test_json_utf8);
    tcase_add_test(tc, test_json_long_mixed);
    tcase_add_test(tc, test_take);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
