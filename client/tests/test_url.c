/*
 * test_url.c -- keys, percent-encoding, request paths and node URLs.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "client_int.h"

/* Encodes s (len bytes) and returns the result (static storage). */
static const char *enc(const char *s, size_t len, int keep_slash)
{
    static char out[4096];
    cairn__dbuf b;

    cairn__dbuf_init(&b, 4096);
    ck_assert_int_eq(cairn__pct_encode(&b, s, len, keep_slash), 0);
    snprintf(out, sizeof(out), "%s", b.db_data ? b.db_data : "");
    cairn__dbuf_free(&b);
    return out;
}

START_TEST(test_unreserved_kept)
{
    const char *s = "ABCXYZabcxyz0189-._~";

    ck_assert_str_eq(enc(s, strlen(s), 1), s);
    ck_assert_str_eq(enc(s, strlen(s), 0), s);
}
END_TEST

START_TEST(test_reserved_encoded)
{
    const char *s = " !\"#$%&'()*+,:;<=>?@[\\]^`{|}";

    ck_assert_str_eq(enc(s, strlen(s), 1), "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%3A%3B%3C%3D%3E"
                                           "%3F%40%5B%5C%5D%5E%60%7B%7C%7D");
}
END_TEST

START_TEST(test_slash)
{
    ck_assert_str_eq(enc("a/b/", 4, 1), "a/b/");
    ck_assert_str_eq(enc("a/b/", 4, 0), "a%2Fb%2F");
}
END_TEST

START_TEST(test_bytes_encoded_uppercase)
{
    /* UTF-8 "é€" then NUL, DEL, 0xFF: every byte on its own. */
    const char s[] = "\xc3\xa9\xe2\x82\xac\x00\x7f\xff";

    ck_assert_str_eq(enc(s, sizeof(s) - 1, 1), "%C3%A9%E2%82%AC%00%7F%FF");
    ck_assert_str_eq(enc("\t\n\r", 3, 1), "%09%0A%0D");
}
END_TEST

START_TEST(test_blob_path)
{
    cairn__dbuf b;

    cairn__dbuf_init(&b, 8192);
    ck_assert_int_eq(cairn__blob_path(&b, "photos/2024/a b?.jpg", NULL), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs/photos/2024/a%20b%3F.jpg");
    ck_assert_int_eq(cairn__blob_path(&b, "k", "majority"), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs/k?durability=majority");
    ck_assert_int_eq(cairn__blob_path(&b, "../x/./y", NULL), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs/../x/./y");
    cairn__dbuf_free(&b);
}
END_TEST

START_TEST(test_list_path)
{
    cairn__dbuf b;

    cairn__dbuf_init(&b, 8192);
    ck_assert_int_eq(cairn__list_path(&b, NULL, NULL, 0), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs");
    ck_assert_int_eq(cairn__list_path(&b, "", "", 0), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs");
    ck_assert_int_eq(cairn__list_path(&b, "docs/", NULL, 0), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs?prefix=docs%2F");
    ck_assert_int_eq(cairn__list_path(&b, NULL, "a&b=c", 10), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs?after=a%26b%3Dc&limit=10");
    ck_assert_int_eq(cairn__list_path(&b, "p q", "x+y", 1000), 0);
    ck_assert_str_eq(b.db_data, "/v1/blobs?prefix=p%20q&after=x%2By&limit=1000");
    cairn__dbuf_free(&b);
}
END_TEST

/* Returns the normalized URL or "ERR". */
static const char *norm(const char *in)
{
    static char out[512];
    char *u = NULL;
    int rc = cairn__node_normalize(in, strlen(in), &u);

    if (rc != 0) {
        ck_assert_int_eq(rc, CAIRN_CL_EINVAL);
        ck_assert_ptr_null(u);
        return "ERR";
    }
    snprintf(out, sizeof(out), "%s", u);
    free(u);
    return out;
}

START_TEST(test_node_normalize)
{
    ck_assert_str_eq(norm("http://127.0.0.1:7001"), "http://127.0.0.1:7001");
    ck_assert_str_eq(norm("127.0.0.1:7001"), "http://127.0.0.1:7001");
    ck_assert_str_eq(norm("  http://h:1/  "), "http://h:1");
    ck_assert_str_eq(norm("http://h:1///"), "http://h:1");
    ck_assert_str_eq(norm("HTTPS://h"), "HTTPS://h");
    ck_assert_str_eq(norm("http://h/prefix/"), "http://h/prefix");
    ck_assert_str_eq(norm("[::1]:7001"), "http://[::1]:7001");
    ck_assert_str_eq(norm(""), "ERR");
    ck_assert_str_eq(norm("   "), "ERR");
    ck_assert_str_eq(norm("http://"), "ERR");
    ck_assert_str_eq(norm("http:///x"), "ERR");
    ck_assert_str_eq(norm("ftp://h"), "ERR");
    ck_assert_str_eq(norm("://h"), "ERR");
    ck_assert_str_eq(norm("http://h x"), "ERR");
    ck_assert_str_eq(norm("http://h/?q"), "ERR");
    ck_assert_str_eq(norm("http://h/#f"), "ERR");
    ck_assert_str_eq(norm("http://h\n"), "ERR");
    ck_assert_str_eq(norm("http://h\x01"), "ERR");
}
END_TEST

START_TEST(test_key_check)
{
    char big[CAIRN_KEY_MAX + 2];

    memset(big, 'k', sizeof(big));
    ck_assert_int_eq(cairn__key_check("a", 1), 0);
    ck_assert_int_eq(cairn__key_check(big, CAIRN_KEY_MAX), 0);
    ck_assert_int_eq(cairn__key_check(big, CAIRN_KEY_MAX + 1), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn__key_check("", 0), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn__key_check(NULL, 0), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn__key_check("\xe2\x82\xac/\xf0\x9d\x84\x9e", 8), 0);
}
END_TEST

START_TEST(test_utf8_validation)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"plain", 1},
        {"\xc3\xa9", 1},         /* é */
        {"\xe2\x82\xac", 1},     /* € */
        {"\xf0\x9d\x84\x9e", 1}, /* U+1D11E */
        {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
        {"\xff", 0},             /* never valid */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0},     /* overlong */
        {"\xed\xa0\x80", 0},     /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xe2\x82", 0},         /* truncated */
        {"\x80", 0},             /* lone continuation */
        {"a\xc3", 0},            /* truncated at the end */
        {"\xc3\x28", 0},         /* bad continuation */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(cairn__utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok, "case %zu",
                      i);
}
END_TEST

START_TEST(test_client_nodes)
{
    cairn_client *c;

    ck_assert_int_eq(cairn_client_new(&c), 0);
    ck_assert_int_eq(cairn_client_add_nodes(c, "h1:1, http://h2:2/ ,https://h3"), 0);
    ck_assert_uint_eq(cairn_client_node_count(c), 3);
    ck_assert_str_eq(cairn_client_node(c, 0), "http://h1:1");
    ck_assert_str_eq(cairn_client_node(c, 1), "http://h2:2");
    ck_assert_str_eq(cairn_client_node(c, 2), "https://h3");
    ck_assert_ptr_null(cairn_client_node(c, 3));
    /* All or nothing. */
    ck_assert_int_eq(cairn_client_add_nodes(c, "h4,,h5"), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_add_nodes(c, "h4,ftp://x"), CAIRN_CL_EINVAL);
    ck_assert_uint_eq(cairn_client_node_count(c), 3);
    ck_assert_int_eq(cairn_client_add_nodes(c, NULL), CAIRN_CL_EINVAL);
    for (int i = 3; i < CAIRN_NODES_MAX; i++)
        ck_assert_int_eq(cairn_client_add_nodes(c, "h"), 0);
    ck_assert_int_eq(cairn_client_add_nodes(c, "h"), CAIRN_CL_EINVAL);
    ck_assert_uint_eq(cairn_client_node_count(c), CAIRN_NODES_MAX);
    cairn_client_free(c);
}
END_TEST

START_TEST(test_client_options)
{
    cairn_client *c;

    ck_assert_int_eq(cairn_client_new(&c), 0);
    ck_assert_int_eq(cairn_client_set_token(c, "abc.DEF-123"), 0);
    ck_assert_int_eq(cairn_client_set_token(c, "a b"), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_set_token(c, "a\nb"), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_set_token(c, NULL), 0);
    ck_assert_int_eq(cairn_client_set_durability(c, "local"), 0);
    ck_assert_int_eq(cairn_client_set_durability(c, "majority"), 0);
    ck_assert_int_eq(cairn_client_set_durability(c, "all"), 0);
    ck_assert_int_eq(cairn_client_set_durability(c, "most"), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_set_durability(c, NULL), 0);
    ck_assert_int_eq(cairn_client_set_timeouts(c, -1, 1, 1), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_set_timeouts(c, 100, 1, 1), 0);
    /* Operations without nodes or with bad keys fail before any I/O. */
    ck_assert_int_eq(cairn_delete(c, "k"), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_client_add_nodes(c, "127.0.0.1:1"), 0);
    ck_assert_int_eq(cairn_delete(c, ""), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_last_error(c)->ce_rc, CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_delete(c, "\xff"), CAIRN_CL_EINVAL);
    ck_assert_str_ne(cairn_last_error(c)->ce_message, "");
    cairn_client_free(c);
}
END_TEST

START_TEST(test_dbuf_cap)
{
    cairn__dbuf b;
    char *out;
    size_t len;

    cairn__dbuf_init(&b, 4);
    ck_assert_int_eq(cairn__dbuf_add(&b, "abc", 3), 0);
    ck_assert_int_eq(cairn__dbuf_add(&b, "de", 2), CAIRN_CL_EPROTO);
    ck_assert_str_eq(b.db_data, "abc");
    ck_assert_int_eq(cairn__dbuf_addc(&b, 'd'), 0);
    ck_assert_int_eq(cairn__dbuf_take(&b, &out, &len), 0);
    ck_assert_str_eq(out, "abcd");
    ck_assert_uint_eq(len, 4);
    free(out);
    ck_assert_int_eq(cairn__dbuf_take(&b, &out, &len), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(len, 0);
    free(out);
    cairn__dbuf_free(&b);
    cairn__dbuf_free(&b);
}
END_TEST

static Suite *url_suite(void)
{
    Suite *s = suite_create("client_url");
    TCase *tc = tcase_create("url");

    tcase_add_test(tc, test_unreserved_kept);
    tcase_add_test(tc, test_reserved_encoded);
    tcase_add_test(tc, test_slash);
    tcase_add_test(tc, test_bytes_encoded_uppercase);
    tcase_add_test(tc, test_blob_path);
    tcase_add_test(tc, test_list_path);
    tcase_add_test(tc, test_node_normalize);
    tcase_add_test(tc, test_key_check);
    tcase_add_test(tc, test_utf8_validation);
    tcase_add_test(tc, test_client_nodes);
    tcase_add_test(tc, test_client_options);
    tcase_add_test(tc, test_dbuf_cap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(url_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
