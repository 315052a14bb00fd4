/*
 * test_transfer.c -- streaming PUT/GET through every source and sink kind,
 * what goes on the wire (paths, query, headers), listing, cluster, health.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "fakehttp.h"
#include "testutil.h"

#define BIG (8 * 1024 * 1024)

START_TEST(test_stream_put_cb_chunked_and_get_cb)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    tu_gen g = {1, BIG, 0, 0, 0};
    tu_sink s;
    cairn_stat st;

    ck_assert_int_eq(cairn_put_cb(c, "big", -1, tu_gen_read, NULL, &g, &st), 0);
    ck_assert_uint_eq(st.cs_size, BIG);
    ck_assert_int_eq(fh_req(f, 0).fr_chunked, 1);
    ck_assert_int_eq(fh_req(f, 0).fr_expect, 0);
    ck_assert_uint_eq(fh_req(f, 0).fr_body_len, BIG);
    ck_assert_uint_eq(fh_req(f, 0).fr_body_hash, tu_gen_hash(1, BIG));
    ck_assert_uint_gt(g.g_reads, 16); /* pulled in pieces, not at once */

    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, &st), 0);
    ck_assert_uint_eq(s.s_len, BIG);
    ck_assert_uint_eq(s.s_hash, tu_gen_hash(1, BIG));
    ck_assert_uint_le(s.s_max_chunk, 1024 * 1024);
    ck_assert_uint_gt(s.s_calls, 8);
    ck_assert_uint_eq(st.cs_size, BIG);
    ck_assert_str_eq(st.cs_version, "42.1");
    ck_assert_int_eq(st.cs_etag[0], 'e'); /* quotes removed */
    ck_assert_uint_eq(strlen(st.cs_etag), 17);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_put_fd_and_get_fd)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    int src = tu_temp_file(2, 3 * 1000 * 1000 + 7);
    int dst = tu_temp_file(0, 0);
    char *a = malloc(3 * 1000 * 1000 + 7), *b = malloc(3 * 1000 * 1000 + 7);
    cairn_stat st;

    ck_assert_int_eq(cairn_put_fd(c, "file", src, -1, &st), 0);
    ck_assert_uint_eq(st.cs_size, 3 * 1000 * 1000 + 7);
    ck_assert_int_eq(fh_req(f, 0).fr_chunked, 0);
    ck_assert_int_eq(cairn_get_fd(c, "file", dst, &st), 0);
    ck_assert_uint_eq(st.cs_size, 3 * 1000 * 1000 + 7);
    ck_assert_int_eq(pread(src, a, 3 * 1000 * 1000 + 7, 0), 3 * 1000 * 1000 + 7);
    ck_assert_int_eq(pread(dst, b, 3 * 1000 * 1000 + 7, 0), 3 * 1000 * 1000 + 7);
    ck_assert(memcmp(a, b, 3 * 1000 * 1000 + 7) == 0);
    /* An explicit size sends only that much. */
    ck_assert_int_eq(lseek(src, 0, SEEK_SET), 0);
    ck_assert_int_eq(cairn_put_fd(c, "part", src, 1000, &st), 0);
    ck_assert_uint_eq(fh_req(f, 2).fr_body_len, 1000);
    ck_assert_uint_eq(fh_req(f, 2).fr_body_hash, tu_gen_hash(2, 1000));
    /* Empty blob. */
    ck_assert_int_eq(cairn_put_buf(c, "empty", "", 0, &st), 0);
    ck_assert_int_eq(cairn_stat_key(c, "empty", &st), 0);
    ck_assert_uint_eq(st.cs_size, 0);
    free(a);
    free(b);
    close(src);
    close(dst);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_put_source_errors)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    tu_gen shortsrc = {3, 50, 0, 0, 0};
    tu_gen failing = {3, BIG, 0, 0, 3};
    int fd = tu_temp_file(3, 10);

    /* Declared 100 bytes, source has 50. */
    ck_assert_int_eq(cairn_put_cb(c, "k", 100, tu_gen_read, NULL, &shortsrc, NULL),
                     CAIRN_CL_EINVAL);
    ck_assert_ptr_nonnull(strstr(cairn_last_error(c)->ce_message, "declared size"));
    /* The source's own error comes back as it is. */
    ck_assert_int_eq(cairn_put_cb(c, "k", -1, tu_gen_read, NULL, &failing, NULL), -EIO);
    ck_assert_int_eq(cairn_last_error(c)->ce_rc, -EIO);
    /* A file shorter than the size asked for. */
    ck_assert_int_eq(cairn_put_fd(c, "k", fd, 11, NULL), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_put_fd(c, "k", -1, -1, NULL), CAIRN_CL_EINVAL);
    ck_assert_int_eq(cairn_put_cb(c, "k", -1, NULL, NULL, NULL, NULL), CAIRN_CL_EINVAL);
    close(fd);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_sink_error_stops_get)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    char *buf = malloc(BIG);
    tu_sink s;

    tu_gen_fill(4, buf, BIG);
    ck_assert_int_eq(cairn_put_buf(c, "big", buf, BIG, NULL), 0);
    tu_sink_init(&s);
    s.s_fail_rc = -ENOSPC;
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, NULL), -ENOSPC);
    ck_assert_uint_eq(s.s_calls, 1);
    /* The client is usable afterwards. */
    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, NULL), 0);
    ck_assert_uint_eq(s.s_len, BIG);
    free(buf);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

typedef struct prog {
    uint64_t p_last;
    uint64_t p_total;
    unsigned p_calls;
    int p_abort;
} prog;

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
    prog *p = arg;

    p->p_calls++;
    p->p_last = done;
    if (total)
        p->p_total = total;
    return p->p_abort;
}

START_TEST(test_progress)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    tu_gen g = {5, BIG, 0, 0, 0};
    prog p = {0, 0, 0, 0};
    tu_sink s;

    cairn_client_set_progress(c, on_progress, &p);
    ck_assert_int_eq(cairn_put_cb(c, "big", BIG, tu_gen_read, NULL, &g, NULL), 0);
    ck_assert_uint_gt(p.p_calls, 0);
    ck_assert_uint_eq(p.p_last, BIG);
    ck_assert_uint_eq(p.p_total, BIG);
    memset(&p, 0, sizeof(p));
    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, NULL), 0);
    ck_assert_uint_eq(p.p_last, BIG);
    ck_assert_uint_eq(p.p_total, BIG);
    /* Non-zero from the callback aborts. */
    p.p_abort = 1;
    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, NULL), CAIRN_CL_EABORTED);
    cairn_client_set_progress(c, NULL, NULL);
    ck_assert_int_eq(cairn_get_cb(c, "big", tu_sink_write, &s, NULL), 0);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_wire_format)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    fh_request q;
    cairn_stat st;

    ck_assert_int_eq(cairn_put_buf(c, "dir/a b+c%d?\xc3\xa9#&=", "v", 1, NULL), 0);
    q = fh_req(f, 0);
    ck_assert_str_eq(q.fr_method, "PUT");
    ck_assert_str_eq(q.fr_target, "/v1/blobs/dir/a%20b%2Bc%25d%3F%C3%A9%23%26%3D");
    ck_assert_str_eq(q.fr_auth, "");
    ck_assert_int_eq(q.fr_expect, 0);

    ck_assert_int_eq(cairn_client_set_token(c, "s3cr3t"), 0);
    ck_assert_int_eq(cairn_client_set_durability(c, "all"), 0);
    ck_assert_int_eq(cairn_put_buf(c, "a/../b/./c", "v", 1, NULL), 0);
    q = fh_req(f, 1);
    ck_assert_str_eq(q.fr_target, "/v1/blobs/a/../b/./c?durability=all");
    ck_assert_str_eq(q.fr_auth, "Bearer s3cr3t");

    ck_assert_int_eq(cairn_stat_key(c, "a/../b/./c", &st), 0);
    q = fh_req(f, 2);
    ck_assert_str_eq(q.fr_method, "HEAD");
    ck_assert_str_eq(q.fr_target, "/v1/blobs/a/../b/./c"); /* no durability on reads */
    ck_assert_uint_eq(st.cs_size, 1);

    ck_assert_int_eq(cairn_delete(c, "a/../b/./c"), 0);
    q = fh_req(f, 3);
    ck_assert_str_eq(q.fr_method, "DELETE");
    ck_assert_str_eq(q.fr_target, "/v1/blobs/a/../b/./c?durability=all");
    ck_assert_int_eq(cairn_delete(c, "a/../b/./c"), CAIRN_CL_ENOTFOUND);
    ck_assert_int_eq(cairn_stat_key(c, "a/../b/./c", &st), CAIRN_CL_ENOTFOUND);
    ck_assert_int_eq(cairn_last_error(c)->ce_http_status, 404);

    ck_assert_int_eq(cairn_client_set_token(c, NULL), 0);
    ck_assert_int_eq(cairn_health(c, NULL, NULL), 0);
    ck_assert_str_eq(fh_req(f, 6).fr_auth, "");
    ck_assert_str_eq(fh_req(f, 6).fr_target, "/v1/health");
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_list_pages)
{
    static const char *const pages[] = {
        "{\"items\":[{\"key\":\"p/a\",\"size\":1,\"etag\":\"e1\",\"version\":\"1\"},"
        "{\"key\":\"p/\\u00e9\",\"size\":2,\"etag\":\"e2\",\"version\":\"2\"}],\"next\":\"p/"
        "\\u00e9\"}",
        "{\"items\":[{\"key\":\"p/"
        "z\",\"size\":3,\"etag\":\"e3\",\"version\":\"3\"}],\"next\":null}",
        "{\"items\":[{\"key\":\"p/z\",\"size\":\"3\"}],\"next\":null}",
    };
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    cairn_list *l, *l2;

    fh_list_pages(f, pages, 3);
    ck_assert_int_eq(cairn_list_page(c, "p/", NULL, 2, &l), 0);
    ck_assert_str_eq(fh_req(f, 0).fr_target, "/v1/blobs?prefix=p%2F&limit=2");
    ck_assert_uint_eq(l->cl_count, 2);
    ck_assert_str_eq(l->cl_items[1].cli_key, "p/\xc3\xa9");
    ck_assert_str_eq(l->cl_next, "p/\xc3\xa9");
    ck_assert_int_eq(cairn_list_page(c, "p/", l->cl_next, 2, &l2), 0);
    cairn_list_free(l);
    l = l2;
    ck_assert_str_eq(fh_req(f, 1).fr_target, "/v1/blobs?prefix=p%2F&after=p%2F%C3%A9&limit=2");
    ck_assert_uint_eq(l->cl_count, 1);
    ck_assert_ptr_null(l->cl_next);
    cairn_list_free(l);
    /* A response of the wrong shape. */
    ck_assert_int_eq(cairn_list_page(c, NULL, NULL, 0, &l), CAIRN_CL_EPROTO);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(cairn_last_error(c)->ce_message, "malformed"));
    ck_assert_str_eq(fh_req(f, 2).fr_target, "/v1/blobs");
    ck_assert_int_eq(cairn_list_page(c, "\xff", NULL, 0, &l), CAIRN_CL_EINVAL);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_cluster_and_health)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    char *json = NULL;
    size_t len = 0;

    ck_assert_int_eq(cairn_cluster_status(c, &json, &len), 0);
    ck_assert_str_eq(json, "{\"node_id\":1,\"peers\":[]}");
    ck_assert_uint_eq(len, strlen(json));
    free(json);
    ck_assert_int_eq(cairn_health(c, &json, &len), 0);
    ck_assert_str_eq(json, "{\"status\":\"ok\"}");
    free(json);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_get_fd_not_found_writes_nothing)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    int fd = tu_temp_file(0, 0);

    ck_assert_int_eq(cairn_get_fd(c, "missing", fd, NULL), CAIRN_CL_ENOTFOUND);
    ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
    ck_assert_str_eq(cairn_last_error(c)->ce_code, "not_found");
    ck_assert_str_eq(cairn_last_error(c)->ce_message, "no such key");
    ck_assert_int_eq(cairn_get_fd(c, "missing", -1, NULL), CAIRN_CL_EINVAL);
    close(fd);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_keep_alive_reuse)
{
    fakehttp *f = fh_start();
    cairn_client *c = tu_client(fh_url(f));
    tu_sink s;

    for (int i = 0; i < 20; i++) {
        char key[16];

        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(cairn_put_buf(c, key, key, strlen(key), NULL), 0);
        tu_sink_init(&s);
        ck_assert_int_eq(cairn_get_cb(c, key, tu_sink_write, &s, NULL), 0);
        ck_assert_uint_eq(s.s_len, strlen(key));
    }
    ck_assert_uint_eq(fh_count(f), 40);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

static Suite *transfer_suite(void)
{
    Suite *s = suite_create("client_transfer");
    TCase *tc = tcase_create("transfer");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_put_cb_chunked_and_get_cb);
    tcase_add_test(tc, test_put_fd_and_get_fd);
    tcase_add_test(tc, test_put_source_errors);
    tcase_add_test(tc, test_sink_error_stops_get);
    tcase_add_test(tc, test_progress);
    tcase_add_test(tc, test_wire_format);
    tcase_add_test(tc, test_list_pages);
    tcase_add_test(tc, test_cluster_and_health);
    tcase_add_test(tc, test_get_fd_not_found_writes_nothing);
    tcase_add_test(tc, test_keep_alive_reuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(transfer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
