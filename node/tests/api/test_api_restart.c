/*
 * test_api_restart.c -- what survives a restart: everything acknowledged
 * before SIGTERM or SIGKILL is served byte-exact afterwards (with the same
 * ETags and versions), deletes stay deleted, an upload cut by SIGKILL
 * leaves neither a version nor a file, in-flight requests finish on
 * SIGTERM within --shutdown-timeout while stuck ones are aborted, and a
 * second cairnd on the same data directory is refused because of the lock.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "api_http.h"

enum { LIVE, DELETED, SUPERSEDED };

typedef struct blob_spec {
    const char *bs_key;
    uint64_t bs_seed;
    uint64_t bs_size;
    int bs_state; /* LIVE, DELETED (deleted right after the write), SUPERSEDED */
} blob_spec_t;

static void write_all(const api_node_t *n, blob_spec_t *b, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        api_must_put_gen(n, b[i].bs_key, b[i].bs_seed, b[i].bs_size);
        if (b[i].bs_state == DELETED) {
            char t[256];
            snprintf(t, sizeof(t), "/v1/blobs/%s", b[i].bs_key);
            api_must_status(n, "DELETE", t, 204);
        }
    }
}

static void verify_all(const api_node_t *n, const blob_spec_t *b, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (b[i].bs_state == SUPERSEDED)
            continue;
        if (b[i].bs_state == DELETED) {
            char t[256];
            snprintf(t, sizeof(t), "/v1/blobs/%s", b[i].bs_key);
            api_must_status(n, "GET", t, 404);
        } else {
            api_must_get_gen(n, b[i].bs_key, b[i].bs_seed, b[i].bs_size);
        }
    }
}

/* Fails unless two listings have the same items (key, size, etag, version). */
static void assert_same_listing(const api_json_t *a, const api_json_t *b)
{
    const api_json_t *ia = api_json_get(a, "items");
    const api_json_t *ib = api_json_get(b, "items");
    static const char *const fields[] = {"key", "etag", "version"};

    ck_assert_msg(ia->aj_n == ib->aj_n, "listing had %zu items before the restart, %zu after",
                  ia->aj_n, ib->aj_n);
    for (size_t i = 0; i < ia->aj_n; i++) {
        for (size_t f = 0; f < 3; f++)
            ck_assert_msg(strcmp(api_json_str(ia->aj_items[i], fields[f]),
                                 api_json_str(ib->aj_items[i], fields[f])) == 0,
                          "item %zu: %s %s before the restart, %s after", i, fields[f],
                          api_json_str(ia->aj_items[i], fields[f]),
                          api_json_str(ib->aj_items[i], fields[f]));
        ck_assert(api_json_get(ia->aj_items[i], "size")->aj_num ==
                  api_json_get(ib->aj_items[i], "size")->aj_num);
    }
}

static unsigned long long max_version_hlc(const api_json_t *list)
{
    const api_json_t *items = api_json_get(list, "items");
    unsigned long long m = 0;

    for (size_t i = 0; i < items->aj_n; i++) {
        unsigned long long v = strtoull(api_json_str(items->aj_items[i], "version"), NULL, 10);
        if (v > m)
            m = v;
    }
    return m;
}

static void restart_round(int sig)
{
    blob_spec_t blobs[] = {
        {"r/empty", 1, 0, LIVE},
        {"r/one", 2, 1, LIVE},
        {"r/4k", 3, 4096, LIVE},
        {"r/1m", 4, 1u << 20, LIVE},
        {"r/3m+1", 5, (3u << 20) + 1, LIVE},
        {"r/over", 6, 5000, SUPERSEDED},
        {"r/over", 7, 7000, LIVE},
        {"r/gone", 8, 100, DELETED},
        {"r/dir/x%20y", 9, 10, LIVE},
    };
    blob_spec_t more[] = {
        {"s/after", 20, 12345, LIVE},
        {"r/over", 21, 3, LIVE},
        {"r/one", 22, 0, DELETED},
    };
    const size_t nb = sizeof(blobs) / sizeof(blobs[0]);
    const size_t nm = sizeof(more) / sizeof(more[0]);
    api_node_t n;
    api_json_t *before, *after;
    api_resp_t r;
    int status = 0;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    write_all(&n, blobs, nb);
    before = api_must_list(&n, NULL);

    ck_assert_int_eq(api_node_stop(&n, sig, 20000, &status), 0);
    if (sig == SIGTERM)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: exit status 0x%x",
                      status);
    api_node_start(&n);
    verify_all(&n, blobs, nb);
    after = api_must_list(&n, NULL);
    assert_same_listing(before, after);

    /* New writes get versions above everything from before the restart. */
    api_must_request(&n, "PUT", "/v1/blobs/s/clock", NULL, "t", 1, &r);
    ck_assert_int_eq(r.ar_status, 201);
    ck_assert_msg(strtoull(api_resp_header(&r, "X-Cairn-Version"), NULL, 10) >
                      max_version_hlc(before),
                  "version %s after the restart is not above the versions before it",
                  api_resp_header(&r, "X-Cairn-Version"));
    api_resp_free(&r);
    api_json_free(before);
    api_json_free(after);

    /* A second round on the same directory: overwrite and delete old keys. */
    write_all(&n, more, nm);
    blobs[6].bs_state = SUPERSEDED; /* r/over */
    blobs[1].bs_state = SUPERSEDED; /* r/one, now deleted */
    ck_assert_int_eq(api_node_stop(&n, sig, 20000, &status), 0);
    api_node_start(&n);
    verify_all(&n, blobs, nb);
    verify_all(&n, more, nm);
    api_must_get(&n, "s/clock", "t", 1);
    api_node_finish(&n);
}

START_TEST(test_restart_after_sigterm)
{
    restart_round(SIGTERM);
}
END_TEST

START_TEST(test_restart_after_sigkill)
{
    restart_round(SIGKILL);
}
END_TEST

/* Writes acknowledged just before the kill, over many rounds. */
START_TEST(test_sigkill_right_after_ack)
{
    api_node_t n;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    for (int round = 0; round < 5; round++) {
        char key[32];
        snprintf(key, sizeof(key), "k/%d", round);
        api_must_put_gen(&n, key, 100 + (uint64_t)round, 70000 * (uint64_t)(round + 1));
        api_node_kill(&n);
        api_node_start(&n);
        for (int j = 0; j <= round; j++) {
            snprintf(key, sizeof(key), "k/%d", j);
            api_must_get_gen(&n, key, 100 + (uint64_t)j, 70000 * (uint64_t)(j + 1));
        }
    }
    api_node_finish(&n);
}
END_TEST

START_TEST(test_sigkill_during_upload)
{
    api_node_t n;
    api_conn_t c;
    char extra[64];

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    api_must_put_gen(&n, "keep/a", 1, 300000);
    api_must_put_gen(&n, "keep/b", 2, 10);
    api_expect_blob_files(&n, 2, 5000);
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    snprintf(extra, sizeof(extra), "Content-Length: %u\r\n", 8u << 20);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/partial", extra, NULL, 0), 0);
    ck_assert_int_eq(api_conn_send_gen(&c, 3, 0, 3u << 20, 0, 1), 0);
    /* An overwrite of keep/a in flight too. */
    {
        api_conn_t c2;
        ck_assert_int_eq(api_conn_open(&c2, n.an_port, 0), 0);
        ck_assert_int_eq(api_send_req(&c2, &n, 1, "PUT", "/v1/blobs/keep/a", extra, NULL, 0), 0);
        ck_assert_int_eq(api_conn_send_gen(&c2, 4, 0, 2u << 20, 0, 1), 0);
        api_sleep_ms(300);
        api_node_kill(&n);
        api_conn_close(&c2);
    }
    api_conn_close(&c);
    api_node_start(&n);
    api_must_status(&n, "GET", "/v1/blobs/partial", 404);
    api_must_get_gen(&n, "keep/a", 1, 300000);
    api_must_get_gen(&n, "keep/b", 2, 10);
    /* Recovery removed the leftovers. */
    api_expect_blob_files(&n, 2, 5000);
    api_node_finish(&n);
}
END_TEST

START_TEST(test_second_instance_refused)
{
    api_node_t n;
    char *log;
    int port, peer_port, status = 0;
    pid_t pid;
    char log2[256];

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_start(&n);
    api_must_put(&n, "locked", "mine", 4);

    snprintf(log2, sizeof(log2), "%s/second.log", n.an_base);
    api_pick_ports(&port, &peer_port);
    pid = api_node_spawn_raw(&n, n.an_data, port, peer_port, log2);
    ck_assert_msg(api_wait_exit(pid, 10000, &status) == 0,
                  "a second cairnd on the same data dir kept running");
    ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) != 0,
                  "the second cairnd exited with status 0");
    ck_assert_msg(WIFEXITED(status), "the second cairnd died from signal %d",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    {
        api_node_t view = n;
        snprintf(view.an_log, sizeof(view.an_log), "%s", log2);
        log = api_node_log(&view);
    }
    ck_assert_msg(strcasestr(log, "lock") != NULL,
                  "the second cairnd's message does not mention the lock: %.500s", log);
    {
        size_t len = strlen(log);
        while (len > 0 && log[len - 1] == '\n')
            log[--len] = '\0';
        printf("second instance: exit %d, said: %.300s\n", WEXITSTATUS(status), log);
    }
    fflush(stdout);
    free(log);

    /* The first one is unaffected; once it is gone the lock is free. */
    api_must_get(&n, "locked", "mine", 4);
    ck_assert_int_eq(api_node_stop(&n, SIGTERM, 20000, &status), 0);
    api_node_start(&n);
    api_must_get(&n, "locked", "mine", 4);
    api_node_finish(&n);
}
END_TEST

/*
 * SIGTERM with requests in flight (--shutdown-timeout 3): the listener
 * closes at once, an upload that completes within the timeout is answered
 * and durable, one that stalls is aborted, and the process exits 0.
 */
START_TEST(test_graceful_shutdown)
{
    const uint64_t size = 4u << 20;
    api_node_t n;
    api_conn_t done, stuck, late;
    api_resp_t r;
    char extra[64], hex[API_HASH_HEX];
    int status = 0, rc;
    uint64_t t0;

    api_node_init(&n);
    api_node_files_only(&n);
    api_node_arg(&n, "--shutdown-timeout");
    api_node_arg(&n, "3");
    api_node_start(&n);
    api_must_put_gen(&n, "before", 1, 1000);
    snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)size);
    ck_assert_int_eq(api_conn_open(&done, n.an_port, 0), 0);
    ck_assert_int_eq(api_conn_open(&stuck, n.an_port, 0), 0);
    ck_assert_int_eq(api_send_req(&done, &n, 1, "PUT", "/v1/blobs/finishes", extra, NULL, 0), 0);
    ck_assert_int_eq(api_send_req(&stuck, &n, 1, "PUT", "/v1/blobs/stalls", extra, NULL, 0), 0);
    ck_assert_int_eq(api_conn_send_gen(&done, 5, 0, size / 2, 0, 1), 0);
    ck_assert_int_eq(api_conn_send_gen(&stuck, 6, 0, size / 2, 0, 1), 0);
    api_sleep_ms(200);

    t0 = api_now_ms();
    kill(n.an_pid, SIGTERM);
    api_sleep_ms(300);
    /* No new connections are accepted. */
    rc = api_conn_open(&late, n.an_port, 0);
    if (rc == 0) {
        late.ac_timeout_ms = 2000;
        (void)api_send_req(&late, &n, 1, "GET", "/v1/health", NULL, NULL, 0);
        rc = api_conn_read_final(&late, 0, &r);
        ck_assert_msg(rc != 0 || r.ar_status == 503, "a new request after SIGTERM was served (%d)",
                      rc == 0 ? r.ar_status : rc);
        api_resp_free(&r);
        api_conn_close(&late);
    }
    /* The upload in flight finishes. */
    ck_assert_int_eq(api_conn_send_gen(&done, 5, size / 2, size / 2, 0, 1), 0);
    ck_assert_int_eq(api_conn_read_final(&done, 0, &r), 0);
    api_hash_gen_hex(5, size, hex);
    api_assert_put_ok(&r, "finishes", size, hex);
    api_resp_free(&r);
    api_conn_close(&done);

    /* The stalled one is cut at the shutdown timeout and the node exits 0. */
    ck_assert_msg(api_wait_exit(n.an_pid, 10000, &status) == 0,
                  "cairnd still running 10 s after SIGTERM with --shutdown-timeout 3");
    printf("graceful shutdown took %llu ms (--shutdown-timeout 3)\n",
           (unsigned long long)(api_now_ms() - t0));
    fflush(stdout);
    n.an_pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
    ck_assert_msg(api_now_ms() - t0 < 8000, "shutdown took %llu ms",
                  (unsigned long long)(api_now_ms() - t0));
    api_conn_close(&stuck);

    api_node_start(&n);
    api_must_get_gen(&n, "finishes", 5, size);
    api_must_get_gen(&n, "before", 1, 1000);
    api_must_status(&n, "GET", "/v1/blobs/stalls", 404);
    api_expect_blob_files(&n, 2, 5000);
    api_node_finish(&n);
}
END_TEST

static Suite *restart_suite(void)
{
    Suite *s = suite_create("api_restart");
    TCase *tc = tcase_create("restart");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_restart_after_sigterm);
    tcase_add_test(tc, test_restart_after_sigkill);
    tcase_add_test(tc, test_sigkill_right_after_ack);
    tcase_add_test(tc, test_sigkill_during_upload);
    tcase_add_test(tc, test_second_instance_refused);
    tcase_add_test(tc, test_graceful_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(restart_suite());
}
