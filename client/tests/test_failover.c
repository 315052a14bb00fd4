/*
 * test_failover.c -- moving to the next node on refused connections, 503s
 * and stalls, and the limits of failover for streamed bodies.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "fakehttp.h"
#include "testutil.h"

#define BIG (4 * 1024 * 1024)

static const char unavail[] = "{\"error\":\"unavailable\",\"message\":\"node is starting\"}";

static char *join(const char *a, const char *b)
{
    static char buf[256];

    snprintf(buf, sizeof(buf), "%s,%s", a, b);
    return buf;
}

START_TEST(test_refused_then_ok)
{
    fakehttp *f = fh_start();
    char dead[64];
    cairn_client *c;
    tu_sink s;
    cairn_stat st;

    fh_refused_url(dead, sizeof(dead));
    c = tu_client(join(dead, fh_url(f)));
    ck_assert_int_eq(cairn_put_buf(c, "k", "hello", 5, &st), 0);
    ck_assert_int_eq(cairn_last_error(c)->ce_rc, 0);
    ck_assert_uint_eq(st.cs_size, 5);
    ck_assert_uint_eq(fh_count(f), 1);
    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "k", tu_sink_write, &s, NULL), 0);
    ck_assert_uint_eq(s.s_len, 5);
    ck_assert_uint_eq(s.s_hash, fh_hash(FH_HASH_INIT, "hello", 5));
    ck_assert_int_eq(cairn_health(c, NULL, NULL), 0);
    cairn_client_free(c);
    fh_stop(f);
}
END_TEST

START_TEST(test_503_then_ok_and_sticky)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c;
    cairn_stat st;

    fh_respond(f1, 503, unavail, "Retry-After: 3\r\n", 0);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_put_buf(c, "k", "abc", 3, NULL), 0);
    ck_assert_uint_eq(fh_count(f1), 1);
    ck_assert_uint_eq(fh_count(f2), 1);
    /* The node that answered is now asked first. */
    ck_assert_int_eq(cairn_stat_key(c, "k", &st), 0);
    ck_assert_uint_eq(st.cs_size, 3);
    ck_assert_uint_eq(fh_count(f1), 1);
    ck_assert_uint_eq(fh_count(f2), 2);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_all_503)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c;
    const cairn_error *e;

    fh_respond(f1, 503, unavail, "Retry-After: 7\r\n", 0);
    fh_respond(f2, 503, unavail, "Retry-After: 3\r\n", 0);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_delete(c, "k"), CAIRN_CL_EUNAVAIL);
    e = cairn_last_error(c);
    ck_assert_int_eq(e->ce_rc, CAIRN_CL_EUNAVAIL);
    ck_assert_int_eq(e->ce_http_status, 503);
    ck_assert_str_eq(e->ce_code, "unavailable");
    ck_assert_ptr_nonnull(strstr(e->ce_message, "node is starting"));
    ck_assert_ptr_nonnull(strstr(e->ce_message, "all 2 nodes failed"));
    ck_assert_str_eq(e->ce_node, fh_url(f2));
    ck_assert_int_eq(e->ce_retry_after, 3);
    ck_assert_uint_eq(e->ce_nodes_tried, 2);
    ck_assert_uint_eq(fh_count(f1), 1);
    ck_assert_uint_eq(fh_count(f2), 1);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_all_refused)
{
    char d1[64], d2[64];
    cairn_client *c;
    const cairn_error *e;

    fh_refused_url(d1, sizeof(d1));
    fh_refused_url(d2, sizeof(d2));
    c = tu_client(join(d1, d2));
    ck_assert_int_eq(cairn_put_buf(c, "k", "x", 1, NULL), CAIRN_CL_EUNAVAIL);
    e = cairn_last_error(c);
    ck_assert_int_eq(e->ce_http_status, 0);
    ck_assert_uint_eq(e->ce_nodes_tried, 2);
    ck_assert_str_ne(e->ce_message, "");
    /* One node only: still "unavailable". */
    cairn_client_free(c);
    c = tu_client(d1);
    ck_assert_int_eq(cairn_cluster_status(c, &(char *){NULL}, NULL), CAIRN_CL_EUNAVAIL);
    ck_assert_uint_eq(cairn_last_error(c)->ce_nodes_tried, 1);
    cairn_client_free(c);
}
END_TEST

START_TEST(test_durability_timeout_not_failed_over)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c;

    fh_respond(f1, 503, "{\"error\":\"durability_timeout\",\"message\":\"1 of 2 acks\",\"acks\":1}",
               NULL, 0);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_client_set_durability(c, "all"), 0);
    ck_assert_int_eq(cairn_put_buf(c, "k", "v", 1, NULL), CAIRN_CL_EDURABILITY);
    ck_assert_str_eq(cairn_last_error(c)->ce_code, "durability_timeout");
    ck_assert_str_eq(cairn_last_error(c)->ce_message, "1 of 2 acks");
    ck_assert_uint_eq(fh_count(f2), 0);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_not_found_not_failed_over)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c1 = tu_client(fh_url(f2)), *c;
    tu_sink s;

    ck_assert_int_eq(cairn_put_buf(c1, "k", "v", 1, NULL), 0);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    tu_sink_init(&s);
    ck_assert_int_eq(cairn_get_cb(c, "k", tu_sink_write, &s, NULL), CAIRN_CL_ENOTFOUND);
    ck_assert_uint_eq(s.s_calls, 0); /* an error body never reaches the sink */
    ck_assert_uint_eq(fh_count(f2), 1);
    cairn_client_free(c);
    cairn_client_free(c1);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

/* f1 reads 64 KiB of a PUT body, then answers 503 and closes. */
static void setup_midbody_failure(fakehttp **f1, fakehttp **f2)
{
    *f1 = fh_start();
    *f2 = fh_start();
    fh_respond(*f1, 503, unavail, NULL, 64 * 1024);
}

START_TEST(test_put_cb_without_rewind_stops)
{
    fakehttp *f1, *f2;
    cairn_client *c;
    tu_gen g = {11, BIG, 0, 0, 0};
    int rc;

    setup_midbody_failure(&f1, &f2);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    rc = cairn_put_cb(c, "big", BIG, tu_gen_read, NULL, &g, NULL);
    ck_assert_msg(rc == CAIRN_CL_EUNAVAIL || rc == CAIRN_CL_ENET, "rc %d", rc);
    ck_assert_ptr_nonnull(strstr(cairn_last_error(c)->ce_message, "cannot be rewound"));
    ck_assert_uint_eq(cairn_last_error(c)->ce_nodes_tried, 1);
    ck_assert_uint_ge(fh_req(f1, 0).fr_body_len, 64 * 1024);
    ck_assert_uint_eq(fh_count(f2), 0);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_put_cb_with_rewind_fails_over)
{
    fakehttp *f1, *f2;
    cairn_client *c;
    tu_gen g = {12, BIG, 0, 0, 0};
    cairn_stat st;

    setup_midbody_failure(&f1, &f2);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_put_cb(c, "big", BIG, tu_gen_read, tu_gen_rewind, &g, &st), 0);
    ck_assert_uint_eq(st.cs_size, BIG);
    ck_assert_uint_eq(fh_count(f2), 1);
    ck_assert_uint_eq(fh_req(f2, 0).fr_body_len, BIG);
    ck_assert_uint_eq(fh_req(f2, 0).fr_body_hash, tu_gen_hash(12, BIG));
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_put_buf_fails_over_after_bytes)
{
    fakehttp *f1, *f2;
    cairn_client *c;
    char *buf = malloc(BIG), *got;
    size_t len = 0;

    ck_assert_ptr_nonnull(buf);
    tu_gen_fill(13, buf, BIG);
    setup_midbody_failure(&f1, &f2);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_put_buf(c, "big", buf, BIG, NULL), 0);
    got = fh_blob(f2, "/v1/blobs/big", &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, BIG);
    ck_assert(memcmp(got, buf, BIG) == 0);
    free(got);
    free(buf);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_put_fd_fails_over_from_its_offset)
{
    fakehttp *f1, *f2;
    cairn_client *c;
    int fd = tu_temp_file(14, BIG);
    char *got, *want = malloc(BIG);
    size_t len = 0;

    ck_assert_int_eq(lseek(fd, 100, SEEK_SET), 100);
    setup_midbody_failure(&f1, &f2);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_put_fd(c, "big", fd, -1, NULL), 0);
    ck_assert_int_eq(fh_req(f2, 0).fr_chunked, 0);
    got = fh_blob(f2, "/v1/blobs/big", &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, BIG - 100);
    tu_gen_fill(14, want, BIG);
    ck_assert(memcmp(got, want + 100, BIG - 100) == 0);
    free(got);
    free(want);
    close(fd);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

static void *pipe_writer(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];

    for (size_t off = 0; off < BIG; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (char)tu_byte(15, off + i);
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            break; /* reader gone */
    }
    close(fd);
    return NULL;
}

START_TEST(test_put_pipe_sent_chunked_not_rewindable)
{
    fakehttp *f1, *f2;
    cairn_client *c;
    pthread_t thr;
    int p[2], rc;

    signal(SIGPIPE, SIG_IGN); /* the writer outlives the reader */
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(pthread_create(&thr, NULL, pipe_writer, &p[1]), 0);
    setup_midbody_failure(&f1, &f2);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    rc = cairn_put_fd(c, "big", p[0], -1, NULL);
    ck_assert_msg(rc == CAIRN_CL_EUNAVAIL || rc == CAIRN_CL_ENET, "rc %d", rc);
    ck_assert_int_eq(fh_req(f1, 0).fr_chunked, 1);
    ck_assert_uint_eq(fh_count(f2), 0);
    close(p[0]); /* unblocks the writer */
    pthread_join(thr, NULL);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_pipe_fails_over_before_first_byte)
{
    fakehttp *f2 = fh_start();
    char dead[64];
    cairn_client *c;
    pthread_t thr;
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(pthread_create(&thr, NULL, pipe_writer, &p[1]), 0);
    fh_refused_url(dead, sizeof(dead));
    c = tu_client(join(dead, fh_url(f2)));
    ck_assert_int_eq(cairn_put_fd(c, "big", p[0], -1, NULL), 0);
    ck_assert_uint_eq(fh_req(f2, 0).fr_body_len, BIG);
    ck_assert_uint_eq(fh_req(f2, 0).fr_body_hash, tu_gen_hash(15, BIG));
    close(p[0]);
    pthread_join(thr, NULL);
    cairn_client_free(c);
    fh_stop(f2);
}
END_TEST

START_TEST(test_stalled_node_skipped)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c;
    struct timespec t0, t1;
    char *json = NULL;

    fh_stall(f1);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(cairn_cluster_status(c, &json, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_ptr_nonnull(strstr(json, "node_id"));
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
    ck_assert_uint_eq(fh_count(f1), 1);
    free(json);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_stalled_single_node_times_out)
{
    fakehttp *f1 = fh_start();
    cairn_client *c;

    fh_stall(f1);
    c = tu_client(fh_url(f1));
    ck_assert_int_eq(cairn_health(c, NULL, NULL), CAIRN_CL_EUNAVAIL);
    ck_assert_int_eq(cairn_last_error(c)->ce_http_status, 0);
    cairn_client_free(c);
    fh_stop(f1);
}
END_TEST

START_TEST(test_get_cut_after_first_byte_not_failed_over)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c1, *c2, *c;
    char *buf = malloc(BIG);
    tu_sink s;
    int rc;

    tu_gen_fill(16, buf, BIG);
    c1 = tu_client(fh_url(f1));
    c2 = tu_client(fh_url(f2));
    ck_assert_int_eq(cairn_put_buf(c1, "big", buf, BIG, NULL), 0);
    ck_assert_int_eq(cairn_put_buf(c2, "big", buf, BIG, NULL), 0);
    fh_truncate_gets(f1);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    tu_sink_init(&s);
    rc = cairn_get_cb(c, "big", tu_sink_write, &s, NULL);
    ck_assert_msg(rc == CAIRN_CL_ENET, "rc %d: %s (tried %u)", rc, cairn_last_error(c)->ce_message,
                  cairn_last_error(c)->ce_nodes_tried);
    ck_assert_uint_gt(s.s_len, 0);
    ck_assert_uint_lt(s.s_len, BIG);
    ck_assert_uint_eq(fh_count(f2), 1); /* only c2's PUT */
    free(buf);
    cairn_client_free(c);
    cairn_client_free(c1);
    cairn_client_free(c2);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

START_TEST(test_502_failed_over)
{
    fakehttp *f1 = fh_start(), *f2 = fh_start();
    cairn_client *c;

    fh_respond(f1, 502, NULL, NULL, 0);
    c = tu_client(join(fh_url(f1), fh_url(f2)));
    ck_assert_int_eq(cairn_health(c, NULL, NULL), 0);
    ck_assert_uint_eq(fh_count(f1), 1);
    ck_assert_uint_eq(fh_count(f2), 1);
    cairn_client_free(c);
    fh_stop(f1);
    fh_stop(f2);
}
END_TEST

static Suite *failover_suite(void)
{
    Suite *s = suite_create("client_failover");
    TCase *tc = tcase_create("failover");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_refused_then_ok);
    tcase_add_test(tc, test_503_then_ok_and_sticky);
    tcase_add_test(tc, test_all_503);
    tcase_add_test(tc, test_all_refused);
    tcase_add_test(tc, test_durability_timeout_not_failed_over);
    tcase_add_test(tc, test_not_found_not_failed_over);
    tcase_add_test(tc, test_put_cb_without_rewind_stops);
    tcase_add_test(tc, test_put_cb_with_rewind_fails_over);
    tcase_add_test(tc, test_put_buf_fails_over_after_bytes);
    tcase_add_test(tc, test_put_fd_fails_over_from_its_offset);
    tcase_add_test(tc, test_put_pipe_sent_chunked_not_rewindable);
    tcase_add_test(tc, test_pipe_fails_over_before_first_byte);
    tcase_add_test(tc, test_stalled_node_skipped);
    tcase_add_test(tc, test_stalled_single_node_times_out);
    tcase_add_test(tc, test_get_cut_after_first_byte_not_failed_over);
    tcase_add_test(tc, test_502_failed_over);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(failover_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
