/*
 * test_durable.c -- durability waits: a write's seq counts a peer once the
 * peer committed it (its cursor for the writer passed the seq). Majority
 * met with every node up; "all" with a node down times out with the acks
 * reached; callbacks never run synchronously; cancel and shutdown.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "replication/tests/util_sync.h"

static tcluster_t C;

typedef struct wres {
    int wr_done;
    int wr_calls;
    int wr_status;
    unsigned wr_acks, wr_required;
    uint64_t wr_at_ms;
} wres_t;

static void durable_cb(repl_wait_t *w, int status, unsigned acks, unsigned required)
{
    wres_t *r = w->data;

    r->wr_done = 1;
    r->wr_calls++;
    r->wr_status = status;
    r->wr_acks = acks;
    r->wr_required = required;
    r->wr_at_ms = uv_now(&C.tc_loop);
}

static int done(tcluster_t *c, void *arg)
{
    (void)c;
    return ((wres_t *)arg)->wr_done;
}

static uint64_t put_seq(int node, const char *key)
{
    uint8_t d[2000];
    store_stat_t st;

    tc_fill(d, sizeof(d), 5);
    tc_put(&C, node, key, d, sizeof(d), &st);
    ck_assert_uint_gt(st.st_log_seq, 0);
    return st.st_log_seq;
}

START_TEST(test_required_acks)
{
    tc_init(&C, 3);
    tc_start_all(&C);
    ck_assert_uint_eq(repl_nodes(C.tc_node[0].sn_repl), 3);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[0].sn_repl, REPL_DUR_LOCAL), 1);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[0].sn_repl, REPL_DUR_MAJORITY), 2);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[0].sn_repl, REPL_DUR_ALL), 3);
    tc_destroy(&C);

    tc_init(&C, 4);
    C.tc_link[0][3] = C.tc_link[3][0] = 0; /* node 1 knows 2 peers */
    tc_start_all(&C);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[0].sn_repl, REPL_DUR_MAJORITY), 2);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[1].sn_repl, REPL_DUR_MAJORITY), 3);
    ck_assert_uint_eq(repl_required_acks(C.tc_node[1].sn_repl, REPL_DUR_ALL), 4);
    tc_destroy(&C);
}
END_TEST

/* Every node up: majority and all are met. */
START_TEST(test_majority_and_all_met)
{
    repl_wait_t w1, w2;
    wres_t r1, r2;
    uint64_t seq;

    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    memset(&w1, 0, sizeof(w1));
    memset(&w2, 0, sizeof(w2));
    w1.data = &r1;
    w2.data = &r2;
    tc_init(&C, 3);
    tc_start_all(&C);
    tc_run_for(&C, 200);
    seq = put_seq(0, "d1");
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w1, seq, 2, 5000, durable_cb), 0);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w2, seq, 3, 5000, durable_cb), 0);
    ck_assert_int_eq(r1.wr_done, 0); /* never synchronous */
    ck_assert(tc_run_until(&C, done, &r1, 5000));
    ck_assert(tc_run_until(&C, done, &r2, 5000));
    ck_assert_int_eq(r1.wr_status, 0);
    ck_assert_uint_ge(r1.wr_acks, 2);
    ck_assert_int_eq(r2.wr_status, 0);
    ck_assert_uint_eq(r2.wr_acks, 3);
    ck_assert_uint_eq(repl_acks(C.tc_node[0].sn_repl, seq), 3);
    tc_run_for(&C, 100);
    ck_assert_int_eq(r1.wr_calls, 1);
    ck_assert_int_eq(r2.wr_calls, 1);
    tc_destroy(&C);
}
END_TEST

/* Node 3 down: majority met, all times out with 2 acks of 3; the write
 * stays and reaches node 3 once it is back. */
START_TEST(test_all_times_out_with_node_down)
{
    repl_wait_t wm, wa;
    wres_t rm, ra;
    uint64_t seq, t0;
    uint8_t d[2000];

    memset(&rm, 0, sizeof(rm));
    memset(&ra, 0, sizeof(ra));
    memset(&wm, 0, sizeof(wm));
    memset(&wa, 0, sizeof(wa));
    wm.data = &rm;
    wa.data = &ra;
    tc_init(&C, 3);
    tc_start(&C, 1);
    tc_start(&C, 0);
    tc_run_for(&C, 200);
    seq = put_seq(0, "d2");
    t0 = uv_now(&C.tc_loop);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &wm, seq, 2, 5000, durable_cb), 0);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &wa, seq, 3, 700, durable_cb), 0);
    ck_assert(tc_run_until(&C, done, &rm, 5000));
    ck_assert_int_eq(rm.wr_status, 0);
    ck_assert_uint_eq(rm.wr_acks, 2);
    ck_assert(tc_run_until(&C, done, &ra, 5000));
    ck_assert_int_eq(ra.wr_status, CAIRN_ETIMEDOUT);
    ck_assert_uint_eq(ra.wr_acks, 2);
    ck_assert_uint_eq(ra.wr_required, 3);
    ck_assert_uint_ge(uv_now(&C.tc_loop) - t0, 650);
    ck_assert_uint_eq(tc_metrics(&C, 0).rm_durable_timeouts, 1);
    ck_assert_uint_eq(tc_metrics(&C, 0).rm_durable_waits, 0);

    tc_start(&C, 2);
    tc_fill(d, sizeof(d), 5);
    ck_assert(tc_wait_has(&C, 0x7, "d2", NULL, d, sizeof(d), 10000));
    tc_destroy(&C);
}
END_TEST

/* Local durability (1 ack) is met at once but still called back later. */
START_TEST(test_local_not_synchronous)
{
    repl_wait_t w;
    wres_t r;
    uint64_t seq;

    memset(&r, 0, sizeof(r));
    memset(&w, 0, sizeof(w));
    w.data = &r;
    tc_init(&C, 2);
    tc_start(&C, 0); /* alone */
    seq = put_seq(0, "d3");
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w, seq, 1, 1000, durable_cb), 0);
    ck_assert_int_eq(r.wr_done, 0);
    ck_assert(tc_run_until(&C, done, &r, 1000));
    ck_assert_int_eq(r.wr_status, 0);
    ck_assert_uint_eq(r.wr_acks, 1);
    /* bad arguments */
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w, 0, 1, 1000, durable_cb),
                     CAIRN_EINVAL);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w, seq, 3, 1000, durable_cb),
                     CAIRN_EINVAL);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w, seq, 0, 1000, durable_cb),
                     CAIRN_EINVAL);
    tc_destroy(&C);
}
END_TEST

/* A cancelled wait is never called back; stopping ends the others with
 * CAIRN_ESHUTDOWN before repl_stop returns. */
static void stopped_cb(repl_t *r, void *arg)
{
    (void)r;
    *(int *)arg = 1;
}

static int flag(tcluster_t *c, void *arg)
{
    (void)c;
    return *(int *)arg;
}

START_TEST(test_cancel_and_shutdown)
{
    int stopped = 0;
    repl_wait_t w1, w2;
    wres_t r1, r2;
    uint64_t seq;

    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    memset(&w1, 0, sizeof(w1));
    memset(&w2, 0, sizeof(w2));
    w1.data = &r1;
    w2.data = &r2;
    tc_init(&C, 2);
    tc_start(&C, 0);
    seq = put_seq(0, "d4");
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w1, seq, 2, 300, durable_cb), 0);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w2, seq, 2, 10000, durable_cb), 0);
    repl_wait_cancel(&w1);
    repl_wait_cancel(&w1); /* twice is fine */
    tc_run_for(&C, 500);
    ck_assert_int_eq(r1.wr_calls, 0);
    ck_assert_int_eq(r2.wr_calls, 0);
    repl_stop(C.tc_node[0].sn_repl, stopped_cb, &stopped);
    ck_assert_int_eq(r2.wr_calls, 1);
    ck_assert_int_eq(r2.wr_status, CAIRN_ESHUTDOWN);
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w1, seq, 1, 10, durable_cb),
                     CAIRN_ESHUTDOWN);
    ck_assert(tc_run_until(&C, flag, &stopped, 5000));
    store_close(C.tc_node[0].sn_store);
    repl_free(C.tc_node[0].sn_repl);
    C.tc_node[0].sn_running = 0;
    tc_destroy(&C);
}
END_TEST

/* A change relayed to a node without a direct link to the origin still
 * counts for the origin's durability when the receiver has a link to it:
 * node 3 gets node 1's change through node 2 (1 -> 3 is cut) ... and node 1
 * cannot hear node 3, so "all" times out while majority is met. */
START_TEST(test_acks_through_relay)
{
    repl_wait_t w;
    wres_t r;
    uint64_t seq;
    uint8_t d[2000];

    memset(&r, 0, sizeof(r));
    memset(&w, 0, sizeof(w));
    w.data = &r;
    tc_init(&C, 3);
    C.tc_dead[0][2] = 1;
    tc_start_all(&C);
    tc_run_for(&C, 200);
    seq = put_seq(0, "d5");
    tc_fill(d, sizeof(d), 5);
    ck_assert(tc_wait_has(&C, 0x7, "d5", NULL, d, sizeof(d), 10000));
    ck_assert_int_eq(repl_wait_durable(C.tc_node[0].sn_repl, &w, seq, 3, 500, durable_cb), 0);
    ck_assert(tc_run_until(&C, done, &r, 5000));
    ck_assert_int_eq(r.wr_status, CAIRN_ETIMEDOUT);
    ck_assert_uint_eq(r.wr_acks, 2);
    tc_destroy(&C);
}
END_TEST

Suite *durable_suite(void)
{
    Suite *s = suite_create("durable");
    TCase *tc = tcase_create("durable");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_required_acks);
    tcase_add_test(tc, test_majority_and_all_met);
    tcase_add_test(tc, test_all_times_out_with_node_down);
    tcase_add_test(tc, test_local_not_synchronous);
    tcase_add_test(tc, test_cancel_and_shutdown);
    tcase_add_test(tc, test_acks_through_relay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tc_main(durable_suite());
}
