/*
 * test_api_faults.c -- storage faults seen through the API, injected with
 * CAIRN_FAILPOINTS (part of the contract) or by removing a blob file:
 * ENOSPC while writing -> 507 insufficient_storage, EIO -> 500 internal,
 * a crash right after the commit (the write survives the restart), a crash
 * before it (nothing visible, no leftover file), and a blob whose file is
 * gone -> 503 unavailable with Retry-After and a queued repair.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_http.h"

/* Starts n with seed blobs written before any failpoint is armed, then
 * restarts it with `failpoints`. */
static void start_with_faults(api_node_t *n, const char *failpoints)
{
    api_node_init(n);
    api_node_files_only(n);
    api_node_start(n);
    api_must_put_gen(n, "seed/a", 1, 100000);
    api_must_put_gen(n, "seed/b", 2, 10);
    ck_assert_int_eq(api_node_stop(n, SIGTERM, 20000, NULL), 0);
    api_node_failpoints(n, failpoints);
    api_node_start(n);
}

static void check_seeds(const api_node_t *n)
{
    api_must_health(n);
    api_must_get_gen(n, "seed/a", 1, 100000);
    api_must_get_gen(n, "seed/b", 2, 10);
}

/* Waits for the node to kill itself at a crash failpoint. */
static void wait_crashed(api_node_t *n)
{
    int status = 0;

    ck_assert_msg(api_wait_exit(n->an_pid, 10000, &status) == 0,
                  "cairnd did not crash at the failpoint");
    n->an_pid = 0;
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "expected death by SIGKILL at the failpoint, wait status 0x%x", status);
}

/* PUT that the node never answers (it dies): the client sees a close. */
static void put_into_crash(api_node_t *n, const char *key, uint64_t seed, uint64_t size)
{
    char target[128], extra[64];
    api_conn_t c;
    api_resp_t r;
    int rc;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key);
    snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)size);
    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&c, n, 1, "PUT", target, extra, NULL, 0), 0);
    api_conn_send_gen(&c, seed, 0, size, 0, 1);
    rc = api_conn_read_final(&c, 0, &r);
    ck_assert_msg(rc != 0, "PUT %s was answered (%d) although the node crashed", key, r.ar_status);
    api_resp_free(&r);
    api_conn_close(&c);
    wait_crashed(n);
}

START_TEST(test_enospc)
{
    api_node_t n;
    api_resp_t r;
    uint8_t *data = api_gen_alloc(3, 1u << 20);

    start_with_faults(&n, "store.write.chunk=enospc");
    api_must_request(&n, "PUT", "/v1/blobs/full", NULL, data, 1u << 20, &r);
    api_assert_error(&r, 507, "insufficient_storage");
    api_resp_free(&r);
    /* An overwrite that fails keeps the old version. */
    api_must_request(&n, "PUT", "/v1/blobs/seed/a", NULL, data, 1u << 20, &r);
    api_assert_error(&r, 507, "insufficient_storage");
    api_resp_free(&r);
    api_must_status(&n, "GET", "/v1/blobs/full", 404);
    api_expect_blob_files(&n, 2, 5000);
    check_seeds(&n);
    free(data);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_eio)
{
    api_node_t n;
    api_resp_t r;
    uint8_t *data = api_gen_alloc(4, 300000);

    start_with_faults(&n, "store.write.chunk=error");
    api_must_request(&n, "PUT", "/v1/blobs/eio", NULL, data, 300000, &r);
    api_assert_error(&r, 500, "internal");
    api_resp_free(&r);
    api_must_status(&n, "GET", "/v1/blobs/eio", 404);
    api_expect_blob_files(&n, 2, 5000);
    check_seeds(&n);
    free(data);
    api_node_finish(&n);
}
END_TEST

/* Killed after the record committed but before the 201: the write is
 * durable and served after the restart. */
START_TEST(test_crash_after_commit)
{
    api_node_t n;

    start_with_faults(&n, "store.commit.after=crash");
    put_into_crash(&n, "committed", 5, 2u << 20);
    api_node_failpoints(&n, NULL);
    api_node_start(&n);
    api_must_get_gen(&n, "committed", 5, 2u << 20);
    check_seeds(&n);
    api_expect_blob_files(&n, 3, 5000);
    api_node_finish(&n);
}
END_TEST

/* Killed with the file complete but the record not committed: nothing is
 * visible and recovery removes the file. Same for an overwrite. */
START_TEST(test_crash_before_commit)
{
    api_node_t n;

    start_with_faults(&n, "store.write.finalized=crash");
    put_into_crash(&n, "uncommitted", 6, 2u << 20);
    api_node_start(&n);
    put_into_crash(&n, "seed/a", 7, 1u << 20);
    api_node_failpoints(&n, NULL);
    api_node_start(&n);
    api_must_status(&n, "GET", "/v1/blobs/uncommitted", 404);
    check_seeds(&n);
    api_expect_blob_files(&n, 2, 5000);
    api_node_finish(&n);
}
END_TEST

/* Killed in the middle of writing chunks (third chunk). */
START_TEST(test_crash_mid_write)
{
    api_node_t n;

    start_with_faults(&n, "store.write.chunk=crash@3");
    put_into_crash(&n, "midway", 8, 8u << 20);
    api_node_failpoints(&n, NULL);
    api_node_start(&n);
    api_must_status(&n, "GET", "/v1/blobs/midway", 404);
    check_seeds(&n);
    api_expect_blob_files(&n, 2, 5000);
    api_node_finish(&n);
}
END_TEST

/*
 * A blob whose file vanished (disk loss while stopped): on a single node no
 * complete copy exists, so a read waits --read-timeout and answers 503
 * unavailable with Retry-After; a repair is queued and reported. A new
 * write of the key heals it.
 */
START_TEST(test_missing_file)
{
    api_node_t n;
    api_resp_t r;
    char *paths[4] = {0};
    uint64_t t0, el;
    api_json_t *j = NULL;
    const api_json_t *v;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_arg(&n, "--read-timeout");
    api_node_arg(&n, "1");
    api_node_start(&n);
    api_must_put_gen(&n, "lost", 9, 50000);
    ck_assert_uint_eq(api_list_blob_files(n.an_data, paths, 4), 1);
    api_must_put_gen(&n, "kept", 10, 50000);
    ck_assert_int_eq(api_node_stop(&n, SIGTERM, 20000, NULL), 0);
    ck_assert_int_eq(unlink(paths[0]), 0);
    free(paths[0]);
    api_node_start(&n);

    t0 = api_now_ms();
    api_must_request(&n, "GET", "/v1/blobs/lost", NULL, NULL, 0, &r);
    el = api_now_ms() - t0;
    api_assert_error(&r, 503, "unavailable");
    ck_assert_msg(api_resp_header(&r, "Retry-After") != NULL, "503 without Retry-After");
    api_resp_free(&r);
    printf("GET of a blob without a file: 503 after %llu ms (--read-timeout 1)\n",
           (unsigned long long)el);
    fflush(stdout);
    ck_assert_msg(el < 5000, "the 503 took %llu ms with --read-timeout 1", (unsigned long long)el);

    api_must_request(&n, "GET", "/metrics", NULL, NULL, 0, &r);
    ck_assert_msg(api_metric_sum(r.ar_body, "cairn_repairs_queued_total") >= 1,
                  "cairn_repairs_queued_total did not count the repair");
    api_resp_free(&r);
    api_must_request(&n, "GET", "/v1/cluster", NULL, NULL, 0, &r);
    ck_assert_int_eq(api_json_parse(r.ar_body, r.ar_body_len, &j, NULL), 0);
    v = api_json_get(j, "pending_repairs");
    ck_assert_msg(v != NULL && v->aj_type == AJ_NUM && v->aj_num >= 1,
                  "pending_repairs after a lost file: %.300s", r.ar_body);
    api_json_free(j);
    api_resp_free(&r);

    api_must_get_gen(&n, "kept", 10, 50000);
    api_must_health(&n);
    api_must_put_gen(&n, "lost", 11, 777);
    api_must_get_gen(&n, "lost", 11, 777);
    api_node_finish(&n);
}
END_TEST

/* A malformed CAIRN_FAILPOINTS is refused at start. */
START_TEST(test_bad_failpoints_refused)
{
    api_node_t n;
    int port, peer, status = 0;
    pid_t pid;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_failpoints(&n, "store.write.chunk=explode");
    api_pick_ports(&port, &peer);
    pid = api_node_spawn_raw(&n, n.an_data, port, peer, n.an_log);
    ck_assert_msg(api_wait_exit(pid, 10000, &status) == 0, "cairnd ran with bad failpoints");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status 0x%x", status);
    api_node_finish(&n);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("api_faults");
    TCase *tc = tcase_create("faults");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_enospc);
    tcase_add_test(tc, test_eio);
    tcase_add_test(tc, test_crash_after_commit);
    tcase_add_test(tc, test_crash_before_commit);
    tcase_add_test(tc, test_crash_mid_write);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_bad_failpoints_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(faults_suite());
}
