/* test_http_util.c -- percent-decoding, keys, queries, ranges, ETags, tokens. */
#include "common/buf.h"
#include "common/error.h"
#include "node/http_util.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, (sizeof(lit) - 1)

START_TEST(test_pct_decode)
{
    char out[64];
    size_t n;

    ck_assert_int_eq(http_pct_decode(S("a%20b%2Fc"), 0, out, sizeof(out), &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(out, "a b/c", 5), 0);
    /* '+' is literal in paths and a space in query strings */
    ck_assert_int_eq(http_pct_decode(S("a+b"), 0, out, sizeof(out), &n), 0);
    ck_assert_int_eq(memcmp(out, "a+b", 3), 0);
    ck_assert_int_eq(http_pct_decode(S("a+b"), 1, out, sizeof(out), &n), 0);
    ck_assert_int_eq(memcmp(out, "a b", 3), 0);
    /* lowercase and uppercase hex */
    ck_assert_int_eq(http_pct_decode(S("%e2%82%AC"), 0, out, sizeof(out), &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(out, "\xe2\x82\xac", 3), 0);
    /* malformed escapes */
    ck_assert_int_eq(http_pct_decode(S("%"), 0, out, sizeof(out), &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_pct_decode(S("%4"), 0, out, sizeof(out), &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_pct_decode(S("ab%zz"), 0, out, sizeof(out), &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_pct_decode(S("%g0"), 0, out, sizeof(out), &n), CAIRN_EINVAL);
    /* capacity */
    ck_assert_int_eq(http_pct_decode(S("abcd"), 0, out, 3, &n), CAIRN_ETOOBIG);
    ck_assert_int_eq(http_pct_decode(S("%41%42%43"), 0, out, 3, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(http_pct_decode("", 0, 0, out, 3, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_decode_key)
{
    char key[STORE_KEY_MAX + 1];
    char raw[3 * 1100];
    size_t n, i;

    ck_assert_int_eq(http_decode_key(S("a/b%20c"), key, &n), 0);
    ck_assert_str_eq(key, "a/b c");
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(http_decode_key(S("%E2%82%AC"), key, &n), 0);
    ck_assert_str_eq(key, "\xe2\x82\xac");
    ck_assert_int_eq(http_decode_key("", 0, key, &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_decode_key(S("%00"), key, &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_decode_key(S("%ff"), key, &n), CAIRN_EINVAL);    /* not UTF-8 */
    ck_assert_int_eq(http_decode_key(S("%C0%AF"), key, &n), CAIRN_EINVAL); /* overlong */
    ck_assert_int_eq(http_decode_key(S("%zz"), key, &n), CAIRN_EINVAL);
    /* 1024 bytes is the limit, whether written plainly or percent-encoded */
    memset(raw, 'k', 1024);
    ck_assert_int_eq(http_decode_key(raw, 1024, key, &n), 0);
    ck_assert_uint_eq(n, 1024);
    ck_assert_int_eq(http_decode_key(raw, 1025, key, &n), CAIRN_EINVAL);
    for (i = 0; i < 1025; i++)
        memcpy(raw + 3 * i, "%41", 3);
    ck_assert_int_eq(http_decode_key(raw, 3 * 1024, key, &n), 0);
    ck_assert_uint_eq(n, 1024);
    ck_assert_int_eq(http_decode_key(raw, 3 * 1025, key, &n), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_query)
{
    const char *qs = "prefix=a%2Fb&&limit=10&flag&after=";
    const char *q = qs, *end = qs + strlen(qs);
    const char *name, *val;
    size_t nlen, vlen;

    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 1);
    ck_assert_int_eq(nlen, 6);
    ck_assert_int_eq(memcmp(name, "prefix", 6), 0);
    ck_assert_int_eq(vlen, 5);
    ck_assert_int_eq(memcmp(val, "a%2Fb", 5), 0);
    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 1);
    ck_assert_int_eq(memcmp(name, "limit", 5), 0);
    ck_assert_int_eq(memcmp(val, "10", 2), 0);
    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 1);
    ck_assert_int_eq(nlen, 4);
    ck_assert_int_eq(vlen, 0);
    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 1);
    ck_assert_int_eq(nlen, 5);
    ck_assert_int_eq(vlen, 0);
    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 0);
    q = end;
    ck_assert_int_eq(http_query_next(&q, end, &name, &nlen, &val, &vlen), 0);
}
END_TEST

/* Resolves header value v against size; returns the result and fills off/len. */
static http_range_result_t range(const char *v, uint64_t size, uint64_t *off, uint64_t *len)
{
    http_range_t r;

    http_range_parse(v, strlen(v), &r);
    return http_range_resolve(&r, size, off, len);
}

START_TEST(test_range)
{
    uint64_t off, len;

    ck_assert_int_eq(range("bytes=0-9", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(range("bytes=90-200", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 90);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(range("bytes=10-", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 10);
    ck_assert_uint_eq(len, 90);
    ck_assert_int_eq(range("bytes=-5", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 95);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(range("bytes=-500", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(range("Bytes = 5-5 ", 100, &off, &len), HTTP_RANGE_NONE); /* OWS before '=' */
    ck_assert_int_eq(range("BYTES=5-5 ", 100, &off, &len), HTTP_RANGE_OK);
    ck_assert_uint_eq(off, 5);
    ck_assert_uint_eq(len, 1);
    /* unsatisfiable */
    ck_assert_int_eq(range("bytes=100-", 100, &off, &len), HTTP_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=100-200", 100, &off, &len), HTTP_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=-0", 100, &off, &len), HTTP_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=0-", 0, &off, &len), HTTP_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=-1", 0, &off, &len), HTTP_RANGE_UNSATISFIABLE);
    /* ignored: invalid syntax, other units, several ranges */
    ck_assert_int_eq(range("bytes=5-1", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(range("bytes=0-1,5-6", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("items=0-1", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("bytes=", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("bytes=-", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("bytes=a-b", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("bytes=99999999999999999999-", 100, &off, &len), HTTP_RANGE_NONE);
    ck_assert_int_eq(range("", 100, &off, &len), HTTP_RANGE_NONE);
}
END_TEST

START_TEST(test_etag)
{
    uint8_t h[STORE_HASH_LEN], h2[STORE_HASH_LEN];
    char hex[2 * STORE_HASH_LEN + 1];
    char list[256];
    int star, i;

    for (i = 0; i < STORE_HASH_LEN; i++)
        h[i] = (uint8_t)(i * 17);
    http_etag_hex(h, hex);
    ck_assert_str_eq(hex, "00112233445566778899aabbccddeeff");
    ck_assert_int_eq(http_etag_parse(hex, strlen(hex), h2), 0);
    ck_assert_int_eq(memcmp(h, h2, STORE_HASH_LEN), 0);
    ck_assert_int_eq(http_etag_parse(S("\"00112233445566778899AABBCCDDEEFF\""), h2), 0);
    ck_assert_int_eq(memcmp(h, h2, STORE_HASH_LEN), 0);
    ck_assert_int_eq(http_etag_parse(S("0112"), h2), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_parse(S("\"0112233445566778889zaabbccddeeff\""), h2), CAIRN_EINVAL);

    snprintf(list, sizeof(list), "\"%s\"", hex);
    ck_assert_int_eq(http_etag_match(list, strlen(list), h, 0, &star), 1);
    ck_assert_int_eq(star, 0);
    snprintf(list, sizeof(list), "\"abc\", \"%s\"", hex);
    ck_assert_int_eq(http_etag_match(list, strlen(list), h, 0, &star), 1);
    /* strong comparison never matches a weak tag; weak comparison does */
    snprintf(list, sizeof(list), "W/\"%s\"", hex);
    ck_assert_int_eq(http_etag_match(list, strlen(list), h, 0, &star), 0);
    ck_assert_int_eq(http_etag_match(list, strlen(list), h, 1, &star), 1);
    ck_assert_int_eq(http_etag_match(S("\"00000000000000000000000000000000\""), h, 0, &star), 0);
    ck_assert_int_eq(http_etag_match(S(" * "), h, 0, &star), 1);
    ck_assert_int_eq(star, 1);
    ck_assert_int_eq(http_etag_match(S("*"), NULL, 0, &star), 0);
    ck_assert_int_eq(star, 1);
    /* malformed lists */
    ck_assert_int_eq(http_etag_match(S(""), h, 0, &star), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_match(S("abc"), h, 0, &star), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_match(S("\"abc"), h, 0, &star), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_match(S("\"a\" \"b\""), h, 0, &star), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_match(S("\"a\","), h, 0, &star), CAIRN_EINVAL);
    ck_assert_int_eq(http_etag_match(S("\"a b\""), h, 0, &star), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_version_str)
{
    store_version_t v = {117675843886776320ULL, 65535};
    char out[32];

    http_version_str(&v, out);
    ck_assert_str_eq(out, "117675843886776320-65535");
    v.sv_hlc = UINT64_MAX;
    ck_assert_uint_eq(http_version_str(&v, out), 26);
    ck_assert_str_eq(out, "18446744073709551615-65535");
    v.sv_hlc = 0;
    v.sv_origin = 1;
    ck_assert_uint_eq(http_version_str(&v, out), 3);
    ck_assert_str_eq(out, "0-1");
}
END_TEST

START_TEST(test_u64_str)
{
    static const uint64_t vals[] = {
        0, 1, 9, 10, 99, 100, 4096, 1000000007ULL, UINT64_MAX / 3, UINT64_MAX};
    char out[21], want[32];
    size_t i;

    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        snprintf(want, sizeof(want), "%" PRIu64, vals[i]);
        ck_assert_uint_eq(http_u64_str(vals[i], out), strlen(want));
        ck_assert_str_eq(out, want);
    }
}
END_TEST

START_TEST(test_bearer)
{
    const char *tok;
    size_t n;

    ck_assert_int_eq(http_bearer_token(S("Bearer abc"), &tok, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(tok, "abc", 3), 0);
    ck_assert_int_eq(http_bearer_token(S("bearer   abc  "), &tok, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(http_bearer_token(S("Basic abc"), &tok, &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_bearer_token(S("Bearer"), &tok, &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_bearer_token(S("Bearer "), &tok, &n), CAIRN_EINVAL);
    ck_assert_int_eq(http_bearer_token(S("Bearerabc"), &tok, &n), CAIRN_EINVAL);

    ck_assert_int_eq(http_token_equal(S("secret"), S("secret")), 1);
    ck_assert_int_eq(http_token_equal(S("secret"), S("secreT")), 0);
    ck_assert_int_eq(http_token_equal(S("secret"), S("secret2")), 0);
    ck_assert_int_eq(http_token_equal(S("secre"), S("secret")), 0);
    ck_assert_int_eq(http_token_equal("", 0, "", 0), 0);
}
END_TEST

START_TEST(test_misc)
{
    char date[32];
    const char *code;
    int status;
    buf_t b;

    ck_assert_int_eq(http_span_ieq(S("Content-Length"), "content-length"), 1);
    ck_assert_int_eq(http_span_ieq(S("Content-Lengt"), "content-length"), 0);
    ck_assert_int_eq(http_span_ieq(S("Content-Lengthx"), "content-length"), 0);
    ck_assert_int_eq(http_ctype_valid(S("text/plain; charset=utf-8")), 0);
    ck_assert_int_eq(http_ctype_valid(S("a\r\nX-Evil: 1")), CAIRN_EINVAL);
    ck_assert_int_eq(http_ctype_valid("", 0), CAIRN_EINVAL);

    http_date(0, date);
    ck_assert_str_eq(date, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date(1784966400, date);
    ck_assert_str_eq(date, "Sat, 25 Jul 2026 08:00:00 GMT");

    http_error_for_rc(CAIRN_ENOTFOUND, &status, &code);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(code, "not_found");
    http_error_for_rc(-ENOSPC, &status, &code);
    ck_assert_int_eq(status, 507);
    ck_assert_str_eq(code, "insufficient_storage");
    http_error_for_rc(CAIRN_ETOOBIG, &status, &code);
    ck_assert_int_eq(status, 413);
    http_error_for_rc(CAIRN_EUNAVAIL, &status, &code);
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(code, "unavailable");
    http_error_for_rc(-EIO, &status, &code);
    ck_assert_int_eq(status, 500);
    ck_assert_str_eq(code, "internal");
    ck_assert_str_eq(http_status_reason(431), "Request Header Fields Too Large");

    buf_init(&b, 1024);
    ck_assert_int_eq(http_error_json(&b, "bad_request", "say \"hi\"\n"), 0);
    ck_assert_str_eq(buf_cstr(&b),
                     "{\"error\":\"bad_request\",\"message\":\"say \\\"hi\\\"\\n\"}\n");
    buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_util");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_pct_decode);
    tcase_add_test(tc, test_decode_key);
    tcase_add_test(tc, test_query);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_etag);
    tcase_add_test(tc, test_version_str);
    tcase_add_test(tc, test_u64_str);
    tcase_add_test(tc, test_bearer);
    tcase_add_test(tc, test_misc);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
