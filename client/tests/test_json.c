/*
 * test_json.c -- the listing and error-body JSON reader.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "client_int.h"

static cairn_list *parse_ok(const char *text)
{
    cairn_list *l = NULL;
    int rc = cairn__list_parse(text, strlen(text), &l);

    ck_assert_msg(rc == 0, "rejected: %s", text);
    ck_assert_ptr_nonnull(l);
    return l;
}

START_TEST(test_list_basic)
{
    cairn_list *l = parse_ok("{\"items\":[{\"key\":\"a/b\",\"size\":12,\"etag\":\"e1\","
                             "\"version\":\"1719000000.3\"},"
                             "{\"key\":\"c\",\"size\":0,\"etag\":\"e2\",\"version\":77}],"
                             "\"next\":\"c\"}");

    ck_assert_uint_eq(l->cl_count, 2);
    ck_assert_str_eq(l->cl_items[0].cli_key, "a/b");
    ck_assert_uint_eq(l->cl_items[0].cli_key_len, 3);
    ck_assert_uint_eq(l->cl_items[0].cli_size, 12);
    ck_assert_str_eq(l->cl_items[0].cli_etag, "e1");
    ck_assert_str_eq(l->cl_items[0].cli_version, "1719000000.3");
    ck_assert_str_eq(l->cl_items[1].cli_key, "c");
    ck_assert_uint_eq(l->cl_items[1].cli_size, 0);
    ck_assert_str_eq(l->cl_items[1].cli_version, "77");
    ck_assert_str_eq(l->cl_next, "c");
    ck_assert_uint_eq(l->cl_next_len, 1);
    cairn_list_free(l);
}
END_TEST

START_TEST(test_list_empty_and_null_next)
{
    cairn_list *l = parse_ok(" \r\n\t{ \"next\" : null , \"items\" : [ ] } \n");

    ck_assert_uint_eq(l->cl_count, 0);
    ck_assert_ptr_null(l->cl_next);
    cairn_list_free(l);
    /* "next" may be absent; etag and version default to "". */
    l = parse_ok("{\"items\":[{\"size\":5,\"key\":\"k\"}]}");
    ck_assert_ptr_null(l->cl_next);
    ck_assert_str_eq(l->cl_items[0].cli_etag, "");
    ck_assert_str_eq(l->cl_items[0].cli_version, "");
    cairn_list_free(l);
}
END_TEST

START_TEST(test_list_escapes)
{
    cairn_list *l = parse_ok("{\"items\":[{\"key\":\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\","
                             "\"size\":1},"
                             "{\"key\":\"\\u00e9\\u20AC\\ud834\\udd1e\",\"size\":2},"
                             "{\"key\":\"a\\u0000b\",\"size\":3},"
                             "{\"key\":\"raw \xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\",\"size\":4}],"
                             "\"next\":\"\\ud83d\\ude00\"}");

    ck_assert_uint_eq(l->cl_count, 4);
    ck_assert_str_eq(l->cl_items[0].cli_key, "q\"b\\s/n\nt\tr\rb\bf\f");
    ck_assert_str_eq(l->cl_items[1].cli_key, "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
    ck_assert_uint_eq(l->cl_items[2].cli_key_len, 3);
    ck_assert_mem_eq(l->cl_items[2].cli_key, "a\0b", 4);
    ck_assert_str_eq(l->cl_items[3].cli_key, "raw \xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
    ck_assert_str_eq(l->cl_next, "\xf0\x9f\x98\x80");
    cairn_list_free(l);
}
END_TEST

START_TEST(test_list_unknown_members_skipped)
{
    cairn_list *l = parse_ok(
        "{\"node\":{\"id\":1,\"peers\":[1,2,{\"x\":[true,false,null]}]},"
        "\"items\":[{\"ctype\":\"text/plain\",\"key\":\"k\",\"meta\":{\"a\":\"\\u0041\"},"
        "\"size\":18446744073709551615,\"n\":-1.5e+10,\"z\":0,\"etag\":\"\",\"version\":-0.0}],"
        "\"count\":1E2,\"next\":null,\"more\":false}");

    ck_assert_uint_eq(l->cl_count, 1);
    ck_assert_uint_eq(l->cl_items[0].cli_size, UINT64_MAX);
    ck_assert_str_eq(l->cl_items[0].cli_version, "-0.0");
    cairn_list_free(l);
}
END_TEST

START_TEST(test_list_many_items)
{
    size_t n = 2000, cap = n * 64 + 64, off = 0;
    char *text = malloc(cap);
    cairn_list *l;

    off += (size_t)snprintf(text + off, cap - off, "{\"items\":[");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(text + off, cap - off, "%s{\"key\":\"k%05zu\",\"size\":%zu}",
                                i ? "," : "", i, i);
    snprintf(text + off, cap - off, "],\"next\":\"k%05zu\"}", n - 1);
    l = parse_ok(text);
    ck_assert_uint_eq(l->cl_count, n);
    ck_assert_str_eq(l->cl_items[1999].cli_key, "k01999");
    ck_assert_uint_eq(l->cl_items[1999].cli_size, 1999);
    cairn_list_free(l);
    free(text);
}
END_TEST

static const char *const malformed[] = {
    "",
    " ",
    "{}",
    "[]",
    "null",
    "{\"items\":[]",
    "{\"items\":[]} x",
    "{\"items\":[]}{}",
    "{\"items\":[],}",
    "{\"items\":[{\"key\":\"a\",\"size\":1},]}",
    "{\"items\" []}",
    "{'items':[]}",
    "{items:[]}",
    "{\"items\":null}",
    "{\"items\":{}}",
    "{\"items\":[1]}",
    "{\"items\":[{}]}",
    "{\"items\":[{\"key\":\"a\"}]}",
    "{\"items\":[{\"size\":1}]}",
    "{\"items\":[{\"key\":1,\"size\":1}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":\"1\"}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":-1}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":1.0}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":1e3}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":01}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":18446744073709551616}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":99999999999999999999}]}",
    "{\"items\":[{\"key\":\"a\",\"key\":\"b\",\"size\":1}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":1,\"size\":1}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":1,\"etag\":1}]}",
    "{\"items\":[{\"key\":\"a\",\"size\":1,\"version\":true}]}",
    "{\"items\":[],\"items\":[]}",
    "{\"items\":[],\"next\":1}",
    "{\"items\":[],\"next\":nul}",
    "{\"items\":[],\"next\":null,\"next\":null}",
    "{\"items\":[{\"key\":\"a\tb\",\"size\":1}]}", /* raw control character */
    "{\"items\":[{\"key\":\"a\nb\",\"size\":1}]}",
    "{\"items\":[{\"key\":\"\\x41\",\"size\":1}]}", /* unknown escape */
    "{\"items\":[{\"key\":\"\\u12\",\"size\":1}]}", /* short \u */
    "{\"items\":[{\"key\":\"\\u12G4\",\"size\":1}]}",
    "{\"items\":[{\"key\":\"\\ud834\",\"size\":1}]}", /* lone high surrogate */
    "{\"items\":[{\"key\":\"\\ud834x\",\"size\":1}]}",
    "{\"items\":[{\"key\":\"\\ud834\\u0041\",\"size\":1}]}",
    "{\"items\":[{\"key\":\"\\udd1e\",\"size\":1}]}",      /* lone low surrogate */
    "{\"items\":[{\"key\":\"\xff\",\"size\":1}]}",         /* invalid UTF-8 */
    "{\"items\":[{\"key\":\"\xc0\xaf\",\"size\":1}]}",     /* overlong */
    "{\"items\":[{\"key\":\"\xed\xa0\x80\",\"size\":1}]}", /* encoded surrogate */
    "{\"items\":[{\"key\":\"\xe2\x82\",\"size\":1}]}",     /* truncated sequence */
    "{\"items\":[{\"key\":\"abc",                          /* unterminated */
    "{\"items\":[],\"x\":-}",
    "{\"items\":[],\"x\":1.}",
    "{\"items\":[],\"x\":.5}",
    "{\"items\":[],\"x\":1e}",
    "{\"items\":[],\"x\":+1}",
    "{\"items\":[],\"x\":tru}",
    "{\"items\":[],\"x\":[1,]}",
    "{\"items\":[],\"x\":{\"a\"}}",
    "{\"items\":[],\"x\":{\"a\":1,}}",
    "{\"items\":[],\"x\":[}",
    "{\"items\":[]\"next\":null}",
};

START_TEST(test_list_malformed)
{
    const char *text = malformed[_i];
    cairn_list *l = (cairn_list *)1;
    int rc = cairn__list_parse(text, strlen(text), &l);

    ck_assert_msg(rc == CAIRN_CL_EPROTO, "case %d accepted (rc %d): %s", _i, rc, text);
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(test_list_embedded_nul_outside_string)
{
    static const char text[] = "{\"items\":[]}\0";
    cairn_list *l;

    ck_assert_int_eq(cairn__list_parse(text, sizeof(text) - 1, &l), CAIRN_CL_EPROTO);
    ck_assert_int_eq(cairn__list_parse(text, sizeof(text) - 2, &l), 0);
    cairn_list_free(l);
}
END_TEST

START_TEST(test_list_depth_bounded)
{
    size_t depth = 10000;
    char *text = malloc(depth * 2 + 64);
    size_t off = 0;
    cairn_list *l;

    off += (size_t)sprintf(text, "{\"items\":[],\"x\":");
    memset(text + off, '[', depth);
    off += depth;
    memset(text + off, ']', depth);
    off += depth;
    strcpy(text + off, "}");
    ck_assert_int_eq(cairn__list_parse(text, strlen(text), &l), CAIRN_CL_EPROTO);
    /* 30 levels are fine. */
    off = (size_t)sprintf(text, "{\"items\":[],\"x\":");
    memset(text + off, '[', 30);
    memset(text + off + 30, ']', 30);
    strcpy(text + off + 60, "}");
    ck_assert_int_eq(cairn__list_parse(text, strlen(text), &l), 0);
    cairn_list_free(l);
    free(text);
}
END_TEST

START_TEST(test_error_body)
{
    char code[64], msg[512];
    const char *j = "{\"error\":\"not_found\",\"message\":\"no such key: \\u00e9\",\"x\":[1]}";

    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "not_found");
    ck_assert_str_eq(msg, "no such key: \xc3\xa9");

    j = "{\"acks\":1,\"message\":\"m\",\"error\":\"durability_timeout\"}";
    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "durability_timeout");
    ck_assert_str_eq(msg, "m");

    /* Cut short after the code: the code is kept. */
    j = "{\"error\":\"internal\",\"message\":\"trunc";
    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "internal");
    ck_assert_str_eq(msg, "");

    /* Not JSON at all. */
    j = "<html>503</html>";
    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "");
    ck_assert_str_eq(msg, "");
    cairn__error_parse(NULL, 0, code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "");

    /* Non-string values are ignored. */
    j = "{\"error\":5,\"message\":null}";
    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(code, "");
    ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(test_error_body_truncated_at_char_boundary)
{
    char code[64], msg[6];
    /* "ab€€": the cut may not fall inside the euro sign. */
    const char *j = "{\"message\":\"ab\xe2\x82\xac\xe2\x82\xac\"}";

    cairn__error_parse(j, strlen(j), code, sizeof(code), msg, sizeof(msg));
    ck_assert_str_eq(msg, "ab\xe2\x82\xac");
    ck_assert(cairn__utf8_valid(msg, strlen(msg)));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("client_json");
    TCase *tc = tcase_create("json");

    tcase_add_test(tc, test_list_basic);
    tcase_add_test(tc, test_list_empty_and_null_next);
    tcase_add_test(tc, test_list_escapes);
    tcase_add_test(tc, test_list_unknown_members_skipped);
    tcase_add_test(tc, test_list_many_items);
    tcase_add_loop_test(tc, test_list_malformed, 0, sizeof(malformed) / sizeof(malformed[0]));
    tcase_add_test(tc, test_list_embedded_nul_outside_string);
    tcase_add_test(tc, test_list_depth_bounded);
    tcase_add_test(tc, test_error_body);
    tcase_add_test(tc, test_error_body_truncated_at_char_boundary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
