/*
 * test_heartbeat.c -- dead-peer detection and keepalive: a peer that
 * completes the handshake and goes silent is dropped after the dead time
 * (default timing: ~5 s); a SIGSTOPped peer process is noticed and the link
 * comes back after SIGCONT; an idle link and a paused reader stay up.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "replication/tests/util_repl.h"

static uv_loop_t loop;
static tnode_t na, nb;

static void setup(void)
{
    memset(&na, 0, sizeof(na));
    memset(&nb, 0, sizeof(nb));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    t_log_capture_start();
}

static void teardown(void)
{
    if (getenv("REPL_TEST_LOG") != NULL)
        t_log_dump();
    t_log_capture_end();
}

static int b_up(void *arg)
{
    (void)arg;
    return nb.tn_ups >= 1;
}

static int b_down(void *arg)
{
    (void)arg;
    return nb.tn_downs >= 1;
}

/* Authenticates as node 1, then neither reads nor writes until released. */
static void silent_after_auth(raw_thread_t *t)
{
    int fd = raw_connect(t->rt_port);

    if (fd < 0 || raw_handshake(fd, T_SECRET, 1, 2) < 0) {
        t->rt_result = -1;
        if (fd >= 0)
            close(fd);
        return;
    }
    t->rt_result = 1;
    while (!__atomic_load_n(&t->rt_go, __ATOMIC_SEQ_CST))
        usleep(10000);
    close(fd);
}

START_TEST(test_silent_peer_default_timing)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    raw_thread_t t;
    uint64_t took;

    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, NULL);
    raw_thread_start(&t, tnode_port(&nb), silent_after_auth, NULL);
    ck_assert(t_run_until(&loop, b_up, NULL, 5000));
    ck_assert(t_run_until(&loop, b_down, NULL, 9000));
    took = nb.tn_down_at_ms - nb.tn_up_at_ms;
    ck_assert_msg(took >= 4800 && took <= 6500, "dead peer noticed after %llu ms",
                  (unsigned long long)took);
    ck_assert_int_eq(nb.tn_last_down, CAIRN_ETIMEDOUT);
    ck_assert_int_eq(t_log_count("event=repl.link.down", "reason=heartbeat_timeout"), 1);
    ck_assert_int_eq(t.rt_result, 1);
    __atomic_store_n(&t.rt_go, 1, __ATOMIC_SEQ_CST);
    ck_assert(t_run_until(&loop, raw_thread_done, &t, 3000));
    raw_thread_join(&t);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

/* ---- a real peer process, stopped and continued ---- */

/* Child: node 2 on its own loop, reports its port, runs until killed. */
static void child_node(int wfd)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    repl_link_tuning_t t = t_fast_tuning();
    uv_loop_t cl;
    tnode_t n;
    int port;

    log_set_level(LOG_ERROR);
    memset(&n, 0, sizeof(n));
    if (uv_loop_init(&cl) != 0)
        _exit(2);
    tnode_start(&n, &cl, 2, "127.0.0.1:0", pb, 1, T_SECRET, &t);
    port = tnode_port(&n);
    if (write(wfd, &port, sizeof(port)) != (ssize_t)sizeof(port))
        _exit(3);
    close(wfd);
    uv_run(&cl, UV_RUN_DEFAULT);
    _exit(0);
}

static int a_ups_2(void *arg)
{
    (void)arg;
    return na.tn_ups >= 2;
}

static int a_up(void *arg)
{
    (void)arg;
    return na.tn_ups >= 1;
}

static int a_down(void *arg)
{
    (void)arg;
    return na.tn_downs >= 1;
}

START_TEST(test_sigstop_peer)
{
    repl_link_tuning_t t = t_fast_tuning();
    int pfd[2], port = 0, status;
    char addr[64];
    const char *pa[1];
    uint64_t stopped_at, took;
    pid_t pid;

    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        child_node(pfd[1]);
    }
    close(pfd[1]);
    ck_assert_int_eq(read(pfd[0], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(pfd[0]);

    snprintf(addr, sizeof(addr), "2@127.0.0.1:%d", port);
    pa[0] = addr;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, &t);
    ck_assert(t_run_until(&loop, a_up, NULL, 5000));

    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    stopped_at = t_now_ms();
    ck_assert(t_run_until(&loop, a_down, NULL, 5000));
    took = na.tn_down_at_ms - stopped_at;
    ck_assert_msg(took >= 400 && took <= 1500, "stopped peer noticed after %llu ms",
                  (unsigned long long)took);
    ck_assert_int_eq(na.tn_last_down, CAIRN_ETIMEDOUT);

    /* While stopped, attempts cannot complete; after SIGCONT the link returns. */
    t_run_for(&loop, 300);
    ck_assert_int_eq(na.tn_ups, 1);
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    ck_assert(t_run_until(&loop, a_ups_2, NULL, 8000));

    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    tnode_stop(&na, &loop);
    t_loop_finish(&loop);
}
END_TEST

/* ---- keepalive ---- */

static void start_pair_fast(void)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    repl_link_tuning_t t = t_fast_tuning();
    char addr[64];
    const char *pa[1];

    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, &t);
    snprintf(addr, sizeof(addr), "2@127.0.0.1:%d", tnode_port(&nb));
    pa[0] = addr;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, &t);
    ck_assert(t_run_until(&loop, a_up, NULL, 5000));
    ck_assert(t_run_until(&loop, b_up, NULL, 5000));
}

START_TEST(test_idle_link_stays_up)
{
    repl_link_stats_t st;

    start_pair_fast();
    t_run_for(&loop, 2000); /* > 3 dead times */
    ck_assert_int_eq(na.tn_downs, 0);
    ck_assert_int_eq(nb.tn_downs, 0);
    ck_assert_int_eq(na.tn_frames, 0); /* heartbeats are not delivered */
    repl_link_get_stats(tnode_link(&na, 2), &st);
    ck_assert_uint_ge(st.ls_frames_in, 10); /* pings and pongs */
    ck_assert_uint_ge(st.ls_frames_out, 10);
    ck_assert_int_eq(st.ls_state, REPL_LINK_UP);
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

START_TEST(test_paused_reader_not_dropped)
{
    repl_link_t *lb;

    start_pair_fast();
    lb = tnode_link(&nb, 1);
    ck_assert_int_eq(repl_link_pause_read(lb), 0);
    ck_assert_int_eq(repl_link_pause_read(lb), 0); /* idempotent */
    t_run_for(&loop, 1500);
    ck_assert_int_eq(na.tn_downs, 0); /* B still pings A */
    ck_assert_int_eq(nb.tn_downs, 0); /* B's dead timer is suspended */
    ck_assert_int_eq(repl_link_resume_read(lb), 0);
    ck_assert_int_eq(repl_link_resume_read(lb), 0);
    t_run_for(&loop, 1000);
    ck_assert_int_eq(na.tn_downs, 0);
    ck_assert_int_eq(nb.tn_downs, 0);
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

static Suite *heartbeat_suite(void)
{
    Suite *s = suite_create("repl_heartbeat");
    TCase *tc = tcase_create("heartbeat");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_silent_peer_default_timing);
    tcase_add_test(tc, test_sigstop_peer);
    tcase_add_test(tc, test_idle_link_stays_up);
    tcase_add_test(tc, test_paused_reader_not_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(heartbeat_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
