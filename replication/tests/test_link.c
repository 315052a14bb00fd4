/*
 * test_link.c -- peer links on a real libuv loop over 127.0.0.1: handshake,
 * frames both ways, redial, replacement, backpressure, flow control,
 * shutdown. Two peer sets (nodes 1 and 2) share one loop; node 1 dials.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/pack.h"
#include "replication/frame.h"
#include "replication/tests/util_repl.h"

static uv_loop_t loop;
static tnode_t na, nb; /* node 1 (dialer) and node 2 (listener) */
static char addr_b[64];

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

/* Starts node 2 listening, then node 1 dialing it. */
static void start_pair(const repl_link_tuning_t *ta, const repl_link_tuning_t *tb)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    const char *pa[1];

    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, tb);
    snprintf(addr_b, sizeof(addr_b), "2@127.0.0.1:%d", tnode_port(&nb));
    pa[0] = addr_b;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, ta);
}

static void stop_all(void)
{
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}

static int ups_at_least(void *arg)
{
    int want = *(int *)arg;

    return na.tn_ups >= want && nb.tn_ups >= want;
}

static void wait_up(int want)
{
    int ok = t_run_until(&loop, ups_at_least, &want, 5000);

    if (!ok)
        t_log_dump();
    ck_assert_msg(ok, "sessions did not come up (a=%d b=%d)", na.tn_ups, nb.tn_ups);
}

static int send_msg(repl_link_t *l, const char *type, uint64_t seq, size_t dlen, uint64_t credit)
{
    size_t len;
    uint8_t *p = t_payload(type, seq, dlen, &len);
    int rc = repl_link_send(l, p, len, credit, 0);

    free(p);
    return rc;
}

/* ---- connect, authenticate, exchange ---- */

typedef struct {
    uint64_t seq;
} pk_arg_t;

static int pack_reply(msgpack_packer *pk, void *arg)
{
    pk_arg_t *a = arg;
    int rc = msgpack_pack_map(pk, 2) == 0 ? 0 : -ENOMEM;

    if (rc == 0)
        rc = pack_kv_str(pk, "t", "reply", 5);
    if (rc == 0)
        rc = pack_kv_u64(pk, "seq", a->seq);
    return rc;
}

static int got_both(void *arg)
{
    (void)arg;
    return na.tn_frames >= 1 && nb.tn_frames >= 1;
}

START_TEST(test_connect_exchange)
{
    repl_link_t *la, *lb;
    repl_link_stats_t st;
    pk_arg_t pa = {42};
    uint8_t *big;

    start_pair(NULL, NULL);
    la = tnode_link(&na, 2);
    lb = tnode_link(&nb, 1);
    ck_assert_int_eq(repl_link_state(la), REPL_LINK_CONNECTING);
    ck_assert_int_eq(repl_link_state(lb), REPL_LINK_IDLE);
    ck_assert_int_eq(send_msg(la, "x", 1, 1, 0), CAIRN_EUNAVAIL);
    ck_assert_ptr_null(repl_peers_link(na.tn_ps, 3));
    ck_assert_uint_eq(repl_peers_count(na.tn_ps), 1);
    ck_assert_ptr_eq(repl_peers_link_at(na.tn_ps, 0), la);
    ck_assert_ptr_null(repl_peers_link_at(na.tn_ps, 1));
    ck_assert_uint_eq(repl_peers_self_id(nb.tn_ps), 2);

    wait_up(1);
    ck_assert_int_eq(repl_link_state(la), REPL_LINK_UP);
    ck_assert_int_eq(repl_link_state(lb), REPL_LINK_UP);
    ck_assert_str_eq(repl_link_state_name(REPL_LINK_UP), "up");
    ck_assert_uint_eq(repl_link_session(la), 1);
    ck_assert_uint_eq(repl_link_peer_id(la), 2);
    ck_assert_uint_eq(repl_link_peer_id(lb), 1);
    ck_assert_str_eq(repl_link_peer_addr(la), addr_b + 2);

    /* Argument checks on a live session. */
    ck_assert_int_eq(repl_link_send(la, "x", 0, 0, 0), CAIRN_EINVAL);
    big = calloc(1, REPL_FRAME_MAX + 1);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(repl_link_send(la, big, REPL_FRAME_MAX + 1, 0, 0), CAIRN_ETOOBIG);
    free(big);

    /* A -> B with a copied payload, B -> A with the packer form. */
    ck_assert_int_eq(send_msg(la, "hi", 7, 100, 0), 0);
    ck_assert_int_eq(repl_link_send_pack(lb, pack_reply, &pa, 0, 0), 0);
    ck_assert(t_run_until(&loop, got_both, NULL, 3000));
    ck_assert_str_eq(nb.tn_last_type, "hi");
    ck_assert_uint_eq(nb.tn_last_n, 7);
    ck_assert_str_eq(na.tn_last_type, "reply");
    ck_assert_uint_eq(na.tn_last_n, 42);

    repl_link_get_stats(la, &st);
    ck_assert_int_eq(st.ls_state, REPL_LINK_UP);
    ck_assert_uint_eq(st.ls_session, 1);
    ck_assert_uint_ge(st.ls_frames_in, 1);
    ck_assert_uint_ge(st.ls_frames_out, 1);
    ck_assert_uint_gt(st.ls_bytes_out, 100);
    ck_assert_uint_gt(st.ls_last_rx_unix_ms, 0);
    ck_assert_uint_gt(st.ls_up_since_unix_ms, 0);
    ck_assert_uint_eq(st.ls_window, REPL_DEFAULT_WINDOW);
    ck_assert_uint_eq(st.ls_dial_failures, 0);

    ck_assert_int_eq(t_log_count("event=repl.link.up", NULL), 2);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", NULL), 0);
    stop_all();
    ck_assert_int_eq(na.tn_downs, 1);
    ck_assert_int_eq(na.tn_last_down, CAIRN_ESHUTDOWN);
}
END_TEST

/* The dialer resolves a host name (getaddrinfo path). */
START_TEST(test_dial_by_name)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    const char *pa[1];

    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, NULL);
    snprintf(addr_b, sizeof(addr_b), "2@localhost:%d", tnode_port(&nb));
    pa[0] = addr_b;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, NULL);
    wait_up(1);
    stop_all();
}
END_TEST

/* ---- rejection between two real peer sets ---- */

START_TEST(test_wrong_secret)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    repl_link_tuning_t t = t_fast_tuning();
    char want_peer[96];
    const char *pa[1];

    t.lt_backoff_min_ms = t.lt_backoff_max_ms = 60000; /* one attempt only */
    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, &t);
    snprintf(addr_b, sizeof(addr_b), "2@127.0.0.1:%d", tnode_port(&nb));
    pa[0] = addr_b;
    tnode_start(&na, &loop, 1, NULL, pa, 1, "another-secret", &t);
    t_run_for(&loop, 800);
    ck_assert_int_eq(na.tn_ups, 0);
    ck_assert_int_eq(nb.tn_ups, 0);
    /* One line per side: the dialer names B's address, B names the dialer's. */
    snprintf(want_peer, sizeof(want_peer), "peer=%s", addr_b + 2);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", "reason=cluster_mismatch"), 2);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", want_peer), 1);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", NULL), 2);
    ck_assert_int_eq(repl_link_state(tnode_link(&na, 2)), REPL_LINK_BACKOFF);
    stop_all();
}
END_TEST

START_TEST(test_unknown_node)
{
    static const char *const pb[] = {"3@127.0.0.1:1"}; /* B knows node 3 only */
    repl_link_tuning_t t = t_fast_tuning();
    const char *pa[1];

    t.lt_backoff_min_ms = t.lt_backoff_max_ms = 60000;
    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, &t);
    snprintf(addr_b, sizeof(addr_b), "2@127.0.0.1:%d", tnode_port(&nb));
    pa[0] = addr_b;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, &t);
    t_run_for(&loop, 800);
    ck_assert_int_eq(na.tn_ups, 0);
    ck_assert_int_eq(nb.tn_ups, 0);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", "reason=unknown_node"), 1);
    ck_assert_int_eq(t_log_count("reason=unknown_node", "peer_id=1"), 1);
    /* The dialer only sees the connection drop: not a rejection on its side. */
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", NULL), 1);
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

/* ---- redial ---- */

START_TEST(test_reconnect_after_restart)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    repl_link_tuning_t t = t_fast_tuning();
    char listen[64];
    int port, want = 1;

    start_pair(&t, &t);
    wait_up(1);
    port = tnode_port(&nb);
    /* Peer goes away: the dialer notices and keeps retrying with backoff. */
    tnode_stop(&nb, &loop);
    ck_assert(t_run_until(&loop, ups_at_least, &want, 100)); /* na still counted 1 */
    t_run_for(&loop, 400);
    ck_assert_int_eq(na.tn_downs, 1);
    ck_assert_int_ne(repl_link_state(tnode_link(&na, 2)), REPL_LINK_UP);
    ck_assert_uint_ge(t_log_count("event=repl.link.dial_failed", NULL), 1);
    /* Same port again: the dialer comes back by itself. */
    memset(&nb, 0, sizeof(nb));
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    tnode_start(&nb, &loop, 2, listen, pb, 1, T_SECRET, &t);
    want = 1;
    ck_assert(t_run_until(&loop, ups_at_least, &want, 5000));
    ck_assert_int_eq(na.tn_ups, 2);
    ck_assert_uint_eq(repl_link_session(tnode_link(&na, 2)), 2);
    stop_all();
}
END_TEST

/* A newer authenticated connection from the same peer replaces the older. */
static void raw_session(raw_thread_t *t)
{
    int fd = raw_connect(t->rt_port);

    if (fd < 0 || raw_handshake(fd, T_SECRET, 1, 2) < 0) {
        t->rt_result = -1;
        if (fd >= 0)
            close(fd);
        return;
    }
    t->rt_result = 1; /* authenticated */
    while (!__atomic_load_n(&t->rt_go, __ATOMIC_SEQ_CST))
        usleep(5000);
    t->rt_result = raw_wait_eof(fd, 2000) ? 2 : 3; /* 2: closed by the peer */
    close(fd);
}

static int raw_authenticated(void *arg)
{
    raw_thread_t *t = arg;

    return t->rt_result != 0 && nb.tn_ups >= (t->rt_arg != NULL ? 2 : 1);
}

START_TEST(test_newer_replaces_older)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    raw_thread_t r1, r2;
    int port;

    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, NULL);
    port = tnode_port(&nb);
    raw_thread_start(&r1, port, raw_session, NULL);
    ck_assert(t_run_until(&loop, raw_authenticated, &r1, 5000));
    ck_assert_int_eq(r1.rt_result, 1);
    raw_thread_start(&r2, port, raw_session, &r2);
    ck_assert(t_run_until(&loop, raw_authenticated, &r2, 5000));
    ck_assert_int_eq(r2.rt_result, 1);
    ck_assert_int_eq(nb.tn_ups, 2);
    ck_assert_int_eq(nb.tn_downs, 1);
    ck_assert_int_eq(nb.tn_last_down, CAIRN_EEXIST);
    ck_assert_uint_eq(repl_link_session(tnode_link(&nb, 1)), 2);
    __atomic_store_n(&r1.rt_go, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r2.rt_go, 1, __ATOMIC_SEQ_CST);
    /* The loop must run for the shutdown of r2's session to reach it. */
    tnode_stop(&nb, &loop);
    ck_assert(t_run_until(&loop, raw_thread_done, &r1, 3000));
    ck_assert(t_run_until(&loop, raw_thread_done, &r2, 3000));
    raw_thread_join(&r1);
    raw_thread_join(&r2);
    ck_assert_int_eq(r1.rt_result, 2);
    ck_assert_int_eq(r2.rt_result, 2);
    t_loop_finish(&loop);
}
END_TEST

/* ---- backpressure ---- */

#define BP_FRAME (256u * 1024u)
#define BP_TOTAL 200u

typedef struct {
    uint64_t next;
    size_t max_queue;
    int busy;
} flood_t;

static flood_t flood;

static void flood_send(tnode_t *n, repl_link_t *l)
{
    size_t q;
    int rc;

    (void)n;
    while (flood.next < BP_TOTAL) {
        rc = send_msg(l, "dat", flood.next, BP_FRAME, 0);
        q = repl_link_queue_bytes(l);
        if (q > flood.max_queue)
            flood.max_queue = q;
        if (rc == CAIRN_EBUSY) {
            flood.busy++;
            return;
        }
        ck_assert_int_eq(rc, 0);
        flood.next++;
    }
}

static void pause_on_up(tnode_t *n, repl_link_t *l)
{
    (void)n;
    ck_assert_int_eq(repl_link_pause_read(l), 0);
}

static int all_received(void *arg)
{
    (void)arg;
    return nb.tn_frames >= (int)BP_TOTAL;
}

START_TEST(test_backpressure)
{
    repl_link_tuning_t t;
    repl_link_t *la;
    uint64_t stuck;
    size_t high = 1024 * 1024;

    memset(&t, 0, sizeof(t));
    memset(&flood, 0, sizeof(flood));
    t.lt_queue_high = high;
    t.lt_queue_low = 256 * 1024;
    nb.tn_on_up = pause_on_up;
    nb.tn_check_seq = 1;
    na.tn_on_writable = flood_send;
    start_pair(&t, &t);
    wait_up(1);
    la = tnode_link(&na, 2);

    /* The first burst stops at the high-water mark. */
    flood_send(&na, la);
    ck_assert_int_eq(flood.busy, 1);
    ck_assert_uint_ge(repl_link_queue_bytes(la), high);
    ck_assert(!repl_link_writable(la, 0, 0));
    ck_assert(repl_link_writable(la, 0, REPL_SEND_URGENT));

    /* The reader does not read: after kernel buffers fill, the sender stays stopped. */
    t_run_for(&loop, 1500);
    stuck = flood.next;
    ck_assert_uint_lt(stuck, BP_TOTAL);
    t_run_for(&loop, 300);
    ck_assert_uint_eq(flood.next, stuck);
    ck_assert_uint_ge(repl_link_queue_bytes(la), t.lt_queue_low);
    /* Bounded: never more than one frame above the mark. */
    ck_assert_uint_le(flood.max_queue, high + BP_FRAME + 64);
    ck_assert_int_eq(na.tn_downs, 0);

    /* Reader resumes: everything arrives, in order. */
    ck_assert_int_eq(repl_link_resume_read(tnode_link(&nb, 1)), 0);
    ck_assert(t_run_until(&loop, all_received, NULL, 20000));
    ck_assert_int_eq(nb.tn_seq_errors, 0);
    ck_assert_uint_eq(flood.next, BP_TOTAL);
    ck_assert_int_gt(na.tn_writables, 0);
    ck_assert_uint_le(flood.max_queue, high + BP_FRAME + 64);
    stop_all();
}
END_TEST

/* ---- flow-control window ---- */

#define FW_CHUNK 16384u
#define FW_TOTAL 40u
#define FW_WINDOW (64u * 1024u)

static uint64_t fw_next, fw_max_used;

static void fw_pump(tnode_t *n, repl_link_t *l)
{
    repl_link_stats_t st;
    int rc;

    (void)n;
    while (fw_next < FW_TOTAL) {
        rc = send_msg(l, "dat", fw_next, FW_CHUNK, FW_CHUNK);
        if (rc == CAIRN_EBUSY)
            break;
        ck_assert_int_eq(rc, 0);
        fw_next++;
        repl_link_get_stats(l, &st);
        if (st.ls_window_used > fw_max_used)
            fw_max_used = st.ls_window_used;
    }
}

static int fw_credit(tnode_t *n, repl_link_t *l, const char *type, const msgpack_object *msg)
{
    (void)n;
    (void)msg;
    if (strcmp(type, "dat") == 0)
        ck_assert_int_eq(repl_link_send_credit(l, FW_CHUNK), 0);
    return 0;
}

static int fw_done(void *arg)
{
    (void)arg;
    return nb.tn_frames >= (int)FW_TOTAL && repl_link_window_avail(tnode_link(&na, 2)) == FW_WINDOW;
}

START_TEST(test_flow_window)
{
    repl_link_tuning_t t;
    repl_link_t *la;

    memset(&t, 0, sizeof(t));
    t.lt_window = FW_WINDOW;
    fw_next = fw_max_used = 0;
    na.tn_on_writable = fw_pump;
    nb.tn_on_frame = fw_credit;
    nb.tn_check_seq = 1;
    start_pair(&t, &t);
    wait_up(1);
    la = tnode_link(&na, 2);
    ck_assert_uint_eq(repl_link_window_avail(la), FW_WINDOW);

    /* Exactly one window goes out before any credit returns. */
    fw_pump(&na, la);
    ck_assert_uint_eq(fw_next, FW_WINDOW / FW_CHUNK);
    ck_assert_uint_eq(repl_link_window_avail(la), 0);
    ck_assert(!repl_link_writable(la, FW_CHUNK, 0));
    ck_assert(repl_link_writable(la, 0, 0)); /* frames without credit still pass */

    ck_assert(t_run_until(&loop, fw_done, NULL, 10000));
    ck_assert_uint_eq(fw_next, FW_TOTAL);
    ck_assert_uint_le(fw_max_used, FW_WINDOW);
    ck_assert_int_ge(na.tn_writables, (int)(FW_TOTAL / (FW_WINDOW / FW_CHUNK)) - 1);
    ck_assert_int_eq(nb.tn_seq_errors, 0);
    ck_assert_int_eq(repl_link_send_credit(la, 0), CAIRN_EINVAL);
    stop_all();
}
END_TEST

/* Credit for bytes never sent is a protocol error. */
static int downs_both(void *arg)
{
    int want = *(int *)arg;

    return na.tn_downs >= want && nb.tn_downs >= want;
}

START_TEST(test_bad_credit)
{
    repl_link_tuning_t t = t_fast_tuning();
    int one = 1, two = 2;

    start_pair(&t, &t);
    wait_up(1);
    ck_assert_int_eq(repl_link_send_credit(tnode_link(&nb, 1), 1000), 0);
    ck_assert(t_run_until(&loop, downs_both, &one, 3000));
    ck_assert_int_eq(na.tn_last_down, CAIRN_EPROTO);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", "reason=bad_credit"), 1);
    /* The dialer comes back. */
    wait_up(2);
    (void)two;
    stop_all();
}
END_TEST

/* ---- the layer above refuses a frame ---- */

static int refuse_evil(tnode_t *n, repl_link_t *l, const char *type, const msgpack_object *msg)
{
    (void)n;
    (void)l;
    (void)msg;
    return strcmp(type, "evil") == 0 ? CAIRN_EPROTO : 0;
}

START_TEST(test_frame_refused)
{
    repl_link_tuning_t t = t_fast_tuning();
    int one = 1;

    nb.tn_on_frame = refuse_evil;
    start_pair(&t, &t);
    wait_up(1);
    ck_assert_int_eq(send_msg(tnode_link(&na, 2), "fine", 1, 0, 0), 0);
    ck_assert_int_eq(send_msg(tnode_link(&na, 2), "evil", 2, 0, 0), 0);
    ck_assert(t_run_until(&loop, downs_both, &one, 3000));
    ck_assert_int_eq(nb.tn_last_down, CAIRN_EPROTO);
    ck_assert_int_eq(nb.tn_frames, 2);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", "reason=frame_refused"), 1);
    ck_assert_int_eq(t_log_count("reason=frame_refused", "type=evil"), 1);
    wait_up(2);
    stop_all();
}
END_TEST

/* ---- local disconnect ---- */

START_TEST(test_disconnect_redial)
{
    repl_link_tuning_t t = t_fast_tuning();
    repl_link_t *la;

    start_pair(&t, &t);
    wait_up(1);
    la = tnode_link(&na, 2);
    repl_link_disconnect(la, CAIRN_ECORRUPT);
    ck_assert_int_eq(na.tn_downs, 1); /* synchronous */
    ck_assert_int_eq(na.tn_last_down, CAIRN_ECORRUPT);
    ck_assert_int_ne(repl_link_state(la), REPL_LINK_UP);
    ck_assert_int_eq(send_msg(la, "x", 1, 0, 0), CAIRN_EUNAVAIL);
    repl_link_disconnect(la, CAIRN_ECORRUPT); /* no session: nothing */
    ck_assert_int_eq(na.tn_downs, 1);
    wait_up(2);
    /* The accepting side disconnecting makes the dialer redial too. */
    repl_link_disconnect(tnode_link(&nb, 1), CAIRN_EPROTO);
    wait_up(3);
    ck_assert_uint_eq(repl_link_session(la), 3);
    stop_all();
}
END_TEST

/* ---- shutdown ---- */

static int closed_calls;

static void count_closed(repl_peers_t *ps, void *arg)
{
    (void)ps;
    (void)arg;
    closed_calls++;
}

static int close_in_frame(tnode_t *n, repl_link_t *l, const char *type, const msgpack_object *msg)
{
    (void)l;
    (void)type;
    (void)msg;
    repl_peers_close(n->tn_ps, count_closed, NULL);
    repl_peers_close(n->tn_ps, count_closed, NULL);
    return 0;
}

static int closed_once(void *arg)
{
    (void)arg;
    return closed_calls >= 1;
}

START_TEST(test_shutdown_paths)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    static const char *const dead[] = {"2@127.0.0.1:1"};
    repl_link_tuning_t t = t_fast_tuning();
    repl_peers_conf_t conf;
    repl_peer_addr_t a;
    repl_peers_t *ps;
    tnode_t nc;

    /* Close from inside on_frame (twice), while frames are flowing. */
    closed_calls = 0;
    nb.tn_on_frame = close_in_frame;
    start_pair(&t, &t);
    wait_up(1);
    ck_assert_int_eq(send_msg(tnode_link(&na, 2), "x", 1, 0, 0), 0);
    ck_assert_int_eq(send_msg(tnode_link(&na, 2), "y", 2, 0, 0), 0);
    ck_assert(t_run_until(&loop, closed_once, NULL, 3000));
    ck_assert_int_eq(nb.tn_downs, 1);
    ck_assert_int_eq(nb.tn_last_down, CAIRN_ESHUTDOWN);
    ck_assert_int_eq(nb.tn_frames, 1); /* nothing delivered after close */
    t_run_for(&loop, 50);
    ck_assert_int_eq(closed_calls, 1);
    repl_peers_close(nb.tn_ps, count_closed, NULL); /* closed already: no-op */
    ck_assert_int_eq(closed_calls, 1);
    repl_peers_free(nb.tn_ps);
    nb.tn_ps = NULL;
    tnode_stop(&na, &loop);

    /* Free while a dial to a dead port is in backoff, without running the loop first. */
    memset(&nc, 0, sizeof(nc));
    tnode_start(&nc, &loop, 1, NULL, dead, 1, T_SECRET, &t);
    t_run_for(&loop, 100);
    repl_peers_free(nc.tn_ps);

    /* Free right after start (connect in flight). */
    memset(&nc, 0, sizeof(nc));
    tnode_start(&nc, &loop, 1, "127.0.0.1:0", dead, 1, T_SECRET, &t);
    repl_peers_free(nc.tn_ps);

    /* Create and free without start. */
    ck_assert_int_eq(repl_peer_addr_parse(pb[0], &a), 0);
    memset(&conf, 0, sizeof(conf));
    conf.pc_self_id = 2;
    conf.pc_peers = &a;
    conf.pc_npeers = 1;
    conf.pc_secret = T_SECRET;
    conf.pc_secret_len = strlen(T_SECRET);
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), 0);
    repl_peers_free(ps);
    repl_peers_free(NULL);

    t_loop_finish(&loop);
}
END_TEST

/* Freeing the set from inside on_down and from inside the closed callback. */
static void free_on_reset(tnode_t *n, repl_link_t *l, int reason)
{
    (void)l;
    if (reason == -ECONNRESET) {
        repl_peers_free(n->tn_ps);
        n->tn_ps = NULL;
    }
}

static void free_in_closed_cb(repl_peers_t *ps, void *arg)
{
    (void)arg;
    closed_calls++;
    repl_peers_free(ps);
}

static int a_freed(void *arg)
{
    (void)arg;
    return na.tn_ps == NULL && closed_calls >= 1;
}

START_TEST(test_free_from_callbacks)
{
    repl_link_tuning_t t = t_fast_tuning();

    closed_calls = 0;
    na.tn_on_down = free_on_reset;
    start_pair(&t, &t);
    wait_up(1);
    repl_peers_close(nb.tn_ps, free_in_closed_cb, NULL);
    nb.tn_ps = NULL; /* released by its own closed callback */
    ck_assert(t_run_until(&loop, a_freed, NULL, 3000));
    ck_assert_int_eq(na.tn_downs, 1);
    ck_assert_int_eq(nb.tn_downs, 1);
    t_loop_finish(&loop);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_config)
{
    repl_peer_addr_t a, two[2];
    repl_peers_conf_t conf;
    repl_peers_t *ps, *ps2;
    char listen[64];
    int port;

    ck_assert_int_eq(repl_peer_addr_parse("3@db-3.example:7002", &a), 0);
    ck_assert_uint_eq(a.pa_id, 3);
    ck_assert_str_eq(a.pa_host, "db-3.example");
    ck_assert_int_eq(a.pa_port, 7002);
    ck_assert_int_eq(repl_peer_addr_parse("65535@[::1]:1", &a), 0);
    ck_assert_str_eq(a.pa_host, "::1");
    ck_assert_int_eq(repl_peer_addr_parse("0@h:1", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("65536@h:1", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("-1@h:1", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("@h:1", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("1h:1", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("1@h", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("1@h:0", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("1@h:70000", &a), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peer_addr_parse("x@h:1", &a), CAIRN_EINVAL);

    memset(&conf, 0, sizeof(conf));
    conf.pc_self_id = 1;
    conf.pc_secret = T_SECRET;
    conf.pc_secret_len = strlen(T_SECRET);
    ck_assert_int_eq(repl_peer_addr_parse("2@127.0.0.1:9", &two[0]), 0);
    ck_assert_int_eq(repl_peer_addr_parse("2@127.0.0.1:10", &two[1]), 0);
    conf.pc_peers = two;
    conf.pc_npeers = 2; /* duplicate id */
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    conf.pc_npeers = 1;
    conf.pc_self_id = 2; /* self among peers */
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    conf.pc_self_id = 0;
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    conf.pc_self_id = 1;
    conf.pc_secret_len = 0;
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    conf.pc_secret_len = strlen(T_SECRET);
    conf.pc_tuning.lt_heartbeat_ms = 5000;
    conf.pc_tuning.lt_dead_ms = 1000; /* dead before the first ping */
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    memset(&conf.pc_tuning, 0, sizeof(conf.pc_tuning));
    conf.pc_tuning.lt_queue_high = 100;
    conf.pc_tuning.lt_queue_low = 100;
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);
    memset(&conf.pc_tuning, 0, sizeof(conf.pc_tuning));
    conf.pc_listen = "nonsense";
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), CAIRN_EINVAL);

    /* A taken port fails start; the set can still be freed. */
    conf.pc_listen = "127.0.0.1:0";
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps), 0);
    ck_assert_int_eq(repl_peers_start(ps), 0);
    ck_assert_int_eq(repl_peers_start(ps), CAIRN_EINVAL);
    ck_assert_int_eq(repl_peers_listen_port(ps, &port), 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    conf.pc_listen = listen;
    conf.pc_self_id = 3;
    ck_assert_int_eq(repl_peers_create(&loop, &conf, NULL, NULL, &ps2), 0);
    ck_assert_int_eq(repl_peers_start(ps2), -EADDRINUSE);
    ck_assert_int_eq(repl_peers_listen_port(ps2, &port), CAIRN_EUNAVAIL);
    repl_peers_free(ps2);
    repl_peers_free(ps);
    t_loop_finish(&loop);
}
END_TEST

static Suite *link_suite(void)
{
    Suite *s = suite_create("repl_link");
    TCase *tc = tcase_create("link");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connect_exchange);
    tcase_add_test(tc, test_dial_by_name);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_unknown_node);
    tcase_add_test(tc, test_reconnect_after_restart);
    tcase_add_test(tc, test_newer_replaces_older);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_flow_window);
    tcase_add_test(tc, test_bad_credit);
    tcase_add_test(tc, test_frame_refused);
    tcase_add_test(tc, test_disconnect_redial);
    tcase_add_test(tc, test_shutdown_paths);
    tcase_add_test(tc, test_free_from_callbacks);
    tcase_add_test(tc, test_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(link_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
