/*
 * test_reject.c -- misbehaving peers on the peer port: each is logged once
 * (repl.peer.rejected with its reason) and dropped, the process survives and
 * the listener keeps accepting. Raw clients run in a thread with blocking
 * sockets while the test drives node 2's loop.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/auth.h"
#include "replication/frame.h"
#include "replication/tests/util_repl.h"

static uv_loop_t loop;
static tnode_t nb;
static int port_b;

static void setup(void)
{
    static const char *const pb[] = {"1@127.0.0.1:1"};
    repl_link_tuning_t t;

    memset(&nb, 0, sizeof(nb));
    memset(&t, 0, sizeof(t));
    t.lt_handshake_ms = 400;
    t.lt_max_pending = 4;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    t_log_capture_start();
    log_set_level(LOG_DEBUG); /* repeated rejections from one address are debug lines */
    tnode_start(&nb, &loop, 2, "127.0.0.1:0", pb, 1, T_SECRET, &t);
    port_b = tnode_port(&nb);
}

static void teardown(void)
{
    if (getenv("REPL_TEST_LOG") != NULL)
        t_log_dump();
    t_log_capture_end();
}

/* ---- what each raw client sends ---- */

static int send_u32_then(int fd, uint32_t len, const void *p, size_t n)
{
    uint8_t hdr[4];

    repl_frame_put_len(hdr, len);
    if (raw_send_all(fd, hdr, 4) < 0)
        return -1;
    return n > 0 ? raw_send_all(fd, p, n) : 0;
}

static int c_http(int fd)
{
    static const char req[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    return raw_send_all(fd, req, sizeof(req) - 1);
}

static int c_oversize(int fd)
{
    return send_u32_then(fd, 3u * 1024 * 1024, "x", 1);
}

static int c_over_handshake_limit(int fd)
{
    return send_u32_then(fd, REPL_FRAME_HANDSHAKE_MAX + 1, "x", 1);
}

static int c_zero(int fd)
{
    return send_u32_then(fd, 0, NULL, 0);
}

static int c_bad_msgpack(int fd)
{
    static const uint8_t p[] = {0x82, 0xa1, 't', 0xa5, 'h', 'e'}; /* truncated */
    return raw_send_frame(fd, p, sizeof(p));
}

static int c_reserved_byte(int fd)
{
    static const uint8_t p[] = {0xc1};
    return raw_send_frame(fd, p, sizeof(p));
}

static int c_not_a_map(int fd)
{
    static const uint8_t p[] = {0x93, 0x01, 0x02, 0x03};
    return raw_send_frame(fd, p, sizeof(p));
}

static int c_data_before_auth(int fd)
{
    size_t len;
    uint8_t *p = t_payload("chg", 1, 10, &len);
    int rc = raw_send_frame(fd, p, len);

    free(p);
    return rc;
}

static int c_proto(int fd)
{
    uint8_t nonce[32];
    return raw_send_hello(fd, T_SECRET, 1, REPL_PROTO_VERSION + 1, nonce);
}

static int c_wrong_secret(int fd)
{
    uint8_t nonce[32];
    return raw_send_hello(fd, "not-the-secret", 1, REPL_PROTO_VERSION, nonce);
}

static int c_unknown_node(int fd)
{
    uint8_t nonce[32];
    return raw_send_hello(fd, T_SECRET, 9, REPL_PROTO_VERSION, nonce);
}

static int c_self(int fd)
{
    uint8_t nonce[32];
    return raw_send_hello(fd, T_SECRET, 2, REPL_PROTO_VERSION, nonce);
}

static int c_bad_hello(int fd)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t cluster[8], nonce[31] = {0};
    int rc;

    repl_auth_cluster_id(T_SECRET, strlen(T_SECRET), cluster);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_kv_str(&pk, "t", "hello", 5);
    pack_kv_u64(&pk, "proto", 1);
    pack_kv_bin(&pk, "cluster", cluster, 8);
    pack_kv_u64(&pk, "node", 1);
    pack_kv_bin(&pk, "nonce", nonce, sizeof(nonce));
    rc = raw_send_frame(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* A correct hello, then an auth whose mac is wrong. */
static int c_bad_mac(int fd)
{
    uint8_t nonce[32], mac[32];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    if (raw_send_hello(fd, T_SECRET, 1, REPL_PROTO_VERSION, nonce) < 0)
        return -1;
    memset(mac, 0x5a, sizeof(mac));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    repl_auth_msg_pack(&pk, mac);
    rc = raw_send_frame(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Echoes the listener's own nonce back (a reflection attempt). */
static int c_nonce_reuse(int fd)
{
    uint8_t buf[4096];
    repl_frame_enc_t e;
    repl_hello_t h;
    repl_msg_t m;
    uint8_t *frame;
    size_t len;
    int rc = -1;

    if (raw_recv_frame(fd, buf, sizeof(buf), &len) < 0)
        return -1;
    if (repl_msg_decode(buf, len, &m) == 0 && repl_hello_parse(m.rm_obj, &h) == 0) {
        h.rh_node = 1;
        repl_frame_enc_init(&e);
        repl_hello_pack(repl_frame_enc_packer(&e), &h);
        if (repl_frame_enc_finish(&e, REPL_FRAME_MAX, &frame, &len) == 0) {
            rc = raw_send_all(fd, frame, len);
            free(frame);
        }
        repl_frame_enc_free(&e);
    }
    repl_msg_free(&m);
    return rc;
}

static int c_silent(int fd)
{
    (void)fd;
    return 0;
}

static int c_partial_frame(int fd)
{
    return send_u32_then(fd, 100, "abc", 3);
}

/* Auth before hello. */
static int c_auth_first(int fd)
{
    uint8_t mac[32] = {0};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    repl_auth_msg_pack(&pk, mac);
    rc = raw_send_frame(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

typedef struct {
    const char *rc_name;
    const char *rc_reason;
    int (*rc_send)(int fd);
} reject_case_t;

static const reject_case_t cases[] = {
    {"http request", "reason=frame_too_big", c_http},
    {"oversize length prefix", "reason=frame_too_big", c_oversize},
    {"over the handshake limit", "reason=frame_too_big", c_over_handshake_limit},
    {"zero length", "reason=bad_frame", c_zero},
    {"truncated msgpack", "reason=bad_msgpack", c_bad_msgpack},
    {"reserved msgpack byte", "reason=bad_msgpack", c_reserved_byte},
    {"not a map", "reason=bad_message", c_not_a_map},
    {"data before auth", "reason=unexpected_frame", c_data_before_auth},
    {"auth before hello", "reason=unexpected_frame", c_auth_first},
    {"protocol version", "reason=proto_version", c_proto},
    {"wrong secret", "reason=cluster_mismatch", c_wrong_secret},
    {"unknown node", "reason=unknown_node", c_unknown_node},
    {"own node id", "reason=self_connect", c_self},
    {"bad hello fields", "reason=bad_hello", c_bad_hello},
    {"bad mac", "reason=bad_mac", c_bad_mac},
    {"nonce reflection", "reason=nonce_reuse", c_nonce_reuse},
    {"silent", "reason=handshake_timeout", c_silent},
    {"partial frame", "reason=handshake_timeout", c_partial_frame},
};

static void run_case(raw_thread_t *t)
{
    const reject_case_t *c = t->rt_arg;
    int fd = raw_connect(t->rt_port);

    if (fd < 0) {
        t->rt_result = -1;
        return;
    }
    if (c->rc_send(fd) < 0) {
        t->rt_result = -2;
        close(fd);
        return;
    }
    t->rt_result = raw_wait_eof(fd, 3000) ? 1 : -3;
    close(fd);
}

static int case_logged(void *arg)
{
    const reject_case_t *c = arg;
    return t_log_count("event=repl.peer.rejected", c->rc_reason) > 0;
}

START_TEST(test_each_rejected_once)
{
    static const char *const pa_fmt = "2@127.0.0.1:%d";
    raw_thread_t t;
    char addr[64];
    const char *pa[1];
    tnode_t na;
    size_t i, ncases = sizeof(cases) / sizeof(cases[0]);
    int before, after, distinct;

    for (i = 0; i < ncases; i++) {
        const reject_case_t *c = &cases[i];

        before = t_log_count("event=repl.peer.rejected", c->rc_reason);
        raw_thread_start(&t, port_b, run_case, (void *)c);
        ck_assert(t_run_until(&loop, raw_thread_done, &t, 5000));
        raw_thread_join(&t);
        ck_assert_msg(t.rt_result == 1, "%s: not dropped (%d)", c->rc_name, t.rt_result);
        /* Give the loop a moment: a second line would show up now. */
        t_run_until(&loop, case_logged, (void *)c, 1000);
        t_run_for(&loop, 20);
        after = t_log_count("event=repl.peer.rejected", c->rc_reason);
        ck_assert_msg(after == before + 1, "%s: logged %d times", c->rc_name, after - before);
    }
    /* One line per connection; a warning only for the first of each reason from this address. */
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", NULL), (int)ncases);
    distinct = 0;
    for (i = 0; i < ncases; i++) {
        size_t j;

        for (j = 0; j < i && strcmp(cases[j].rc_reason, cases[i].rc_reason) != 0; j++)
            ;
        if (j == i) {
            distinct++;
            ck_assert_int_eq(t_log_count("level=warn event=repl.peer.rejected", cases[i].rc_reason),
                             1);
        }
    }
    ck_assert_int_eq(t_log_count("level=warn event=repl.peer.rejected", NULL), distinct);
    ck_assert_int_eq(t_log_count("level=debug event=repl.peer.rejected", NULL),
                     (int)ncases - distinct);
    ck_assert_int_eq(nb.tn_ups, 0);

    /* The listener still accepts, and a real peer authenticates. */
    memset(&na, 0, sizeof(na));
    snprintf(addr, sizeof(addr), pa_fmt, port_b);
    pa[0] = addr;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, NULL);
    {
        int ok = 0;
        uint64_t end = t_now_ms() + 5000;

        while (!ok && t_now_ms() < end) {
            t_run_for(&loop, 10);
            ok = na.tn_ups == 1 && nb.tn_ups == 1;
        }
        ck_assert(ok);
    }
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

/* Beyond the pending limit a new connection is dropped at once. */
static void many_pending(raw_thread_t *t)
{
    int fds[5], i, extra;

    for (i = 0; i < 4; i++)
        fds[i] = raw_connect(t->rt_port);
    usleep(100 * 1000); /* let the listener accept them */
    extra = raw_connect(t->rt_port);
    t->rt_result = extra >= 0 && raw_wait_eof(extra, 200) ? 1 : -1;
    fds[4] = extra;
    for (i = 0; i < 5; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
}

START_TEST(test_pending_limit)
{
    raw_thread_t t;

    raw_thread_start(&t, port_b, many_pending, NULL);
    ck_assert(t_run_until(&loop, raw_thread_done, &t, 5000));
    raw_thread_join(&t);
    ck_assert_int_eq(t.rt_result, 1);
    t_run_for(&loop, 50);
    ck_assert_int_eq(t_log_count("event=repl.peer.rejected", "reason=too_many_pending"), 1);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

/*
 * Random bytes: sometimes raw noise, sometimes plausible small frames,
 * sometimes a valid hello followed by noise. Nothing crashes, each
 * connection is logged at most once, and the listener survives.
 */
static void fuzz(raw_thread_t *t)
{
    unsigned seed = 777;
    uint8_t buf[600], nonce[32];
    int i, fd, n, j, kind;

    for (i = 0; i < 60; i++) {
        fd = raw_connect(t->rt_port);
        if (fd < 0) {
            t->rt_result = -1;
            return;
        }
        n = 1 + rand_r(&seed) % (int)sizeof(buf);
        for (j = 0; j < n; j++)
            buf[j] = (uint8_t)rand_r(&seed);
        kind = i % 3;
        if (kind == 1 && n > 4) {
            buf[0] = buf[1] = 0;
            buf[2] = (uint8_t)((n - 4) >> 8);
            buf[3] = (uint8_t)(n - 4);
            buf[4] = (uint8_t)(0x80 | (buf[4] & 0x0f)); /* a fixmap of random size */
        } else if (kind == 2) {
            raw_send_hello(fd, T_SECRET, 1, REPL_PROTO_VERSION, nonce);
        }
        raw_send_all(fd, buf, (size_t)n);
        if (i % 2 == 0)
            raw_wait_eof(fd, 1000);
        close(fd);
    }
    t->rt_result = 1;
}

START_TEST(test_fuzz_survives)
{
    static const char *const pa_fmt = "2@127.0.0.1:%d";
    raw_thread_t t;
    char addr[64];
    const char *pa[1];
    tnode_t na;
    int rejected, want = 1;
    uint64_t end;

    raw_thread_start(&t, port_b, fuzz, NULL);
    ck_assert(t_run_until(&loop, raw_thread_done, &t, 20000));
    raw_thread_join(&t);
    ck_assert_int_eq(t.rt_result, 1);
    t_run_for(&loop, 600); /* handshake timeouts of the quiet ones */
    rejected = t_log_count("event=repl.peer.rejected", NULL);
    ck_assert_int_le(rejected, 60);
    ck_assert_int_gt(rejected, 0);
    ck_assert_int_eq(nb.tn_ups, 0);

    memset(&na, 0, sizeof(na));
    snprintf(addr, sizeof(addr), pa_fmt, port_b);
    pa[0] = addr;
    tnode_start(&na, &loop, 1, NULL, pa, 1, T_SECRET, NULL);
    end = t_now_ms() + 5000;
    while (nb.tn_ups < want && t_now_ms() < end)
        t_run_for(&loop, 10);
    ck_assert_int_eq(nb.tn_ups, 1);
    tnode_stop(&na, &loop);
    tnode_stop(&nb, &loop);
    t_loop_finish(&loop);
}
END_TEST

static Suite *reject_suite(void)
{
    Suite *s = suite_create("repl_reject");
    TCase *tc = tcase_create("reject");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_each_rejected_once);
    tcase_add_test(tc, test_pending_limit);
    tcase_add_test(tc, test_fuzz_survives);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reject_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
