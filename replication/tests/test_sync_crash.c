/*
 * test_sync_crash.c -- transfers interrupted midway.
 *
 * Receiver stops (or is SIGKILLed at repl.recv.chunk) midway: its cursor
 * did not move, the record is a `receiving` leftover; after the restart the
 * blob arrives again into a fresh file and the record swings to it -- one
 * transfer, not two. Sender stops (or is SIGKILLed at repl.send.chunk)
 * midway: the receiver drops its partial file and gets the change from
 * another peer that has it, or from the sender once it is back.
 *
 * The kill tests run the victim node in a child process (forked before
 * this process starts any thread) and the other nodes here.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "replication/tests/util_sync.h"

static tcluster_t C;

static void *fill(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n);

    tc_fill(p, n, seed);
    return p;
}

typedef struct progress {
    int pr_node;
    uint64_t pr_min;
    int pr_peer; /* out: index of the peer streaming to pr_node */
} progress_t;

/* Node pr_node is receiving a blob from some peer with >= pr_min bytes done. */
static int receiving_from_peer(tcluster_t *c, void *arg)
{
    progress_t *pr = arg;
    repl_t *r = c->tc_node[pr->pr_node].sn_repl;

    for (size_t i = 0; i < repl_peer_count(r); i++) {
        repl_peer_status_t ps;

        ck_assert_int_eq(repl_get_peer_status(r, i, &ps), 0);
        if (ps.ps_recv_size > 0 && ps.ps_recv_done >= pr->pr_min) {
            pr->pr_peer = (int)ps.ps_id - 1;
            return 1;
        }
    }
    return 0;
}

/* Node 2 stops while receiving; after its restart the blob is re-sent
 * into a fresh file id, the record swings to it, and only one copy of the
 * bytes travels after the restart. */
START_TEST(test_receiver_stops_midway)
{
    size_t n = 2 << 20;
    uint8_t *d = fill(n, 201);
    store_stat_t a, left, fin;
    progress_t pr = {1, 256 * 1024, -1};

    tc_init(&C, 2);
    C.tc_sync.st_chunk = 16 * 1024;
    ck_assert_int_eq(failpoints_configure("repl.recv.chunk=sleep(15)"), 0);
    tc_start_all(&C);
    tc_put(&C, 0, "r", d, n, &a);
    ck_assert(tc_run_until(&C, receiving_from_peer, &pr, 10000));
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "r", 1, 0, &left), 0);
    ck_assert_int_eq(left.st_state, STORE_RECEIVING);
    tc_stop(&C, 1);
    ck_assert_int_eq(failpoints_configure(NULL), 0);

    tc_start(&C, 1);
    ck_assert(tc_wait_has(&C, 0x3, "r", &a.st_version, d, n, 15000));
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "r", 1, 0, &fin), 0);
    ck_assert_uint_ne(fin.st_file_id, left.st_file_id);
    tc_run_for(&C, 300);
    ck_assert_uint_eq(tc_metrics(&C, 1).rm_blob_bytes_received, n);
    free(d);
    tc_destroy(&C);
}
END_TEST

/* The peer streaming to node 2 stops midway; node 2 completes from the
 * other peer, which has the change. */
START_TEST(test_sender_stops_midway)
{
    size_t n = 1 << 20;
    uint8_t *d = fill(n, 202);
    store_stat_t a;
    progress_t pr = {1, 64 * 1024, -1};

    tc_init(&C, 3);
    C.tc_sync.st_chunk = 16 * 1024;
    tc_start(&C, 2);
    tc_start(&C, 0);
    tc_put(&C, 0, "s", d, n, &a);
    ck_assert(tc_wait_has(&C, 0x5, "s", &a.st_version, d, n, 10000));
    ck_assert_int_eq(failpoints_configure("repl.recv.chunk=sleep(15)"), 0);
    tc_start(&C, 1);
    ck_assert(tc_run_until(&C, receiving_from_peer, &pr, 10000));
    ck_assert(pr.pr_peer == 0 || pr.pr_peer == 2);
    tc_stop(&C, pr.pr_peer);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_msg(tc_wait_has(&C, 0x2, "s", &a.st_version, d, n, 15000),
                  "node 2 did not complete from the remaining peer");
    free(d);
    tc_destroy(&C);
}
END_TEST

/* ------------------------------------------------------- kill tests */

typedef struct kidwait {
    pid_t kw_pid;
    int kw_status;
} kidwait_t;

/* Runs node i in this (child) process until killed, its parent is gone,
 * or 30 s pass. */
static void run_child(int i, const char *failpoints)
{
    pid_t parent = getppid();

    /* The loop was created before the fork: without this the child would
     * share its epoll instance and wakeup fds with the parent's loop. */
    if (uv_loop_fork(&C.tc_loop) != 0 || failpoints_configure(failpoints) != 0)
        _exit(2);
    tc_start(&C, i);
    for (int t = 0; t < 150 && getppid() == parent; t++)
        tc_run_for(&C, 200);
    _exit(3);
}

static void kid_reap(kidwait_t *k);

static int child_dead(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == pid;
}

/* Kills a child still running (a failed test must not leave it behind). */
static void kid_reap(kidwait_t *k)
{
    if (k->kw_pid > 0 && kill(k->kw_pid, 0) == 0) {
        kill(k->kw_pid, SIGKILL);
        waitpid(k->kw_pid, NULL, 0);
    }
}

static int kid_gone(tcluster_t *c, void *arg)
{
    kidwait_t *k = arg;

    (void)c;
    return child_dead(k->kw_pid, &k->kw_status);
}

/* Node 2 is SIGKILLed after its 3rd received chunk; restarted here, its
 * recovery finds the leftover and the blob arrives again, whole. */
START_TEST(test_receiver_killed_at_recv_chunk)
{
    size_t n = 1 << 20;
    uint8_t *d = fill(n, 203);
    store_stat_t a, fin;
    kidwait_t kw;

    tc_init(&C, 2);
    C.tc_sync.st_chunk = 16 * 1024;
    kw.kw_pid = fork();
    ck_assert_int_ge(kw.kw_pid, 0);
    if (kw.kw_pid == 0)
        run_child(1, "repl.recv.chunk=crash@3");
    tc_start(&C, 0);
    tc_put(&C, 0, "k", d, n, &a);
    if (!tc_run_until(&C, kid_gone, &kw, 15000)) {
        kid_reap(&kw);
        ck_abort_msg("node 2 was not killed");
    }
    ck_assert(WIFSIGNALED(kw.kw_status) && WTERMSIG(kw.kw_status) == SIGKILL);

    tc_start(&C, 1);
    ck_assert(tc_wait_has(&C, 0x3, "k", &a.st_version, d, n, 15000));
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "k", 1, 0, &fin), 0);
    {
        uint64_t cur = 0;

        for (int t = 0; t < 100 && cur == 0; t++) {
            ck_assert_int_eq(store_cursor_get(C.tc_node[1].sn_store, 1, &cur), 0);
            if (cur == 0)
                tc_run_for(&C, 50);
        }
        ck_assert_uint_eq(cur, a.st_log_seq);
    }
    free(d);
    tc_destroy(&C);
}
END_TEST

/* Node 1 (the origin) is SIGKILLed after its 2nd sent chunk: node 2 and 3
 * hold partial files; once node 1 is back they get the whole blob. */
START_TEST(test_sender_killed_at_send_chunk)
{
    size_t n = 1 << 20;
    uint8_t *d = fill(n, 204);
    store_stat_t a;
    kidwait_t kw;
    store_t *s;

    tc_init(&C, 3);
    C.tc_sync.st_chunk = 16 * 1024;
    /* the write is made before the child starts replicating */
    s = tc_open_store_only(&C, 0);
    C.tc_node[0].sn_store = s;
    tc_put(&C, 0, "k", d, n, &a);
    store_close(s);
    C.tc_node[0].sn_store = NULL;
    kw.kw_pid = fork();
    ck_assert_int_ge(kw.kw_pid, 0);
    if (kw.kw_pid == 0)
        run_child(0, "repl.send.chunk=crash@2");
    tc_start(&C, 2);
    tc_start(&C, 1);
    if (!tc_run_until(&C, kid_gone, &kw, 15000)) {
        kid_reap(&kw);
        ck_abort_msg("node 1 was not killed");
    }
    ck_assert(WIFSIGNALED(kw.kw_status) && WTERMSIG(kw.kw_status) == SIGKILL);
    tc_run_for(&C, 300);
    ck_assert(!tc_has(&C, 1, "k", NULL, d, n));
    ck_assert(!tc_has(&C, 2, "k", NULL, d, n));

    tc_start(&C, 0);
    ck_assert(tc_wait_has(&C, 0x7, "k", &a.st_version, d, n, 15000));
    free(d);
    tc_destroy(&C);
}
END_TEST

Suite *crash_suite(void)
{
    Suite *s = suite_create("sync_crash");
    TCase *tc = tcase_create("sync_crash");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_receiver_stops_midway);
    tcase_add_test(tc, test_sender_stops_midway);
    tcase_add_test(tc, test_receiver_killed_at_recv_chunk);
    tcase_add_test(tc, test_sender_killed_at_send_chunk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tc_main(crash_suite());
}
