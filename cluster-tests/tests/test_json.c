/*
 * test_json.c -- the strict JSON reader used by `cairn-harness check`.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cluster-tests/json.h"

static jv_t *parse_ok(const char *s)
{
    char err[128];
    jv_t *v = NULL;
    int rc = json_parse(s, strlen(s), &v, err, sizeof(err));

    ck_assert_msg(rc == 0, "%s: %s", s, err);
    return v;
}

static void parse_bad(const char *s)
{
    char err[128];
    jv_t *v = (jv_t *)1;

    ck_assert_msg(json_parse(s, strlen(s), &v, err, sizeof(err)) == -EINVAL, "accepted: %s", s);
    ck_assert_ptr_null(v);
    ck_assert(err[0] != '\0');
}

START_TEST(values)
{
    jv_t *v =
        parse_ok(" {\"a\":1,\"b\":[true,false,null],\"c\":\"x\\u00e9\\ud83d\\ude00\\n\","
                 "\"d\":-12.5e1,\"e\":{},\"big\":18446744073709551615,\"id\":9007199254740993}");

    ck_assert_int_eq(json_int(json_get(v, "a"), 0), 1);
    ck_assert_int_eq(json_get(v, "b")->jv_count, 3);
    ck_assert(json_bool(&json_get(v, "b")->jv_items[0], 0));
    ck_assert_str_eq(json_str(json_get(v, "c"), ""), "x\xc3\xa9\xf0\x9f\x98\x80\n");
    ck_assert(json_get(v, "d")->jv_num == -125.0);
    ck_assert_int_eq(json_get(v, "e")->jv_type, JV_OBJ);
    ck_assert_int_eq(json_int(json_get(v, "id"), 0),
                     9007199254740993LL);                   /* exact, not via double */
    ck_assert_int_eq(json_int(json_get(v, "big"), -7), -7); /* does not fit int64 */
    ck_assert_ptr_null(json_get(v, "missing"));
    ck_assert_str_eq(json_str(json_get(v, "a"), "dflt"), "dflt");
    json_free(v);
}
END_TEST

START_TEST(embedded_nul)
{
    jv_t *v = parse_ok("\"a\\u0000b\"");

    ck_assert_uint_eq(v->jv_len, 3);
    ck_assert_int_eq(memcmp(v->jv_str, "a\0b", 3), 0);
    json_free(v);
}
END_TEST

START_TEST(rejects)
{
    parse_bad("");
    parse_bad("{");
    parse_bad("[1,]");
    parse_bad("{\"a\":1,}");
    parse_bad("01");
    parse_bad("1.");
    parse_bad("\"\\ud800\"");
    parse_bad("\"\\udc00x\"");
    parse_bad("\"tab\there\"");
    parse_bad("\"\xc3\x28\"");
    parse_bad("\"\xed\xa0\x80\""); /* UTF-8 encoded surrogate */
    parse_bad("tru");
    parse_bad("{} {}");
    parse_bad("{'a':1}");
    parse_bad("// c\n{}");
}
END_TEST

START_TEST(depth_bounded)
{
    char deep[JSON_MAX_DEPTH * 2 + 8];
    size_t n = 0;

    for (int i = 0; i < JSON_MAX_DEPTH + 2; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH + 2; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    parse_bad(deep);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("json");
    TCase *t = tcase_create("parse");

    tcase_add_test(t, values);
    tcase_add_test(t, embedded_nul);
    tcase_add_test(t, rejects);
    tcase_add_test(t, depth_bounded);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
