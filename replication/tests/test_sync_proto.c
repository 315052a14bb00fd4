/*
 * test_sync_proto.c -- the sync protocol seen from the wire: a hand-driven
 * peer (blocking socket in a thread, posing as node 1) talks to a real
 * node 2 running on the loop. It subscribes, receives an offer, asks for
 * the bytes, checks them and acks -- and node 2 counts the ack for
 * durability. Malformed or out-of-range sync messages get the session
 * dropped (one repl.peer.rejected line) and never hurt the node.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/pack.h"
#include "replication/frame.h"
#include "replication/tests/util_repl.h"
#include "replication/tests/util_sync.h"

static tcluster_t C;

/* ----------------------------------------------------------- helpers */

typedef struct kv {
    const char *k;
    int kind; /* 'u' uint, 'b' bin, 's' str, 'm' map {1:v} */
    uint64_t u;
    const void *p;
    size_t n;
} kv_t;

/* Packs {"t":type, kv...} and sends it as one frame. */
static int send_msg(int fd, const char *type, const kv_t *kvs, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n + 1);
    pack_kv_str(&pk, "t", type, strlen(type));
    for (size_t i = 0; i < n; i++) {
        switch (kvs[i].kind) {
        case 'u':
            pack_kv_u64(&pk, kvs[i].k, kvs[i].u);
            break;
        case 'b':
            pack_kv_bin(&pk, kvs[i].k, kvs[i].p, kvs[i].n);
            break;
        case 's':
            pack_kv_str(&pk, kvs[i].k, kvs[i].p, kvs[i].n);
            break;
        default:
            pack_cstr(&pk, kvs[i].k);
            msgpack_pack_map(&pk, 1);
            msgpack_pack_uint64(&pk, 1);
            msgpack_pack_uint64(&pk, kvs[i].u);
            break;
        }
    }
    rc = raw_send_frame(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Receives frames until one of type `want` (others -- heads, ping -- are
 * skipped); decodes it into m (caller frees). buf must outlive m. */
static int recv_type(int fd, const char *want, uint8_t *buf, size_t cap, repl_msg_t *m)
{
    for (int i = 0; i < 1000; i++) {
        size_t len;

        if (raw_recv_frame(fd, buf, cap, &len) < 0)
            return -1;
        if (repl_msg_decode(buf, len, m) < 0) {
            repl_msg_free(m);
            return -1;
        }
        if (strcmp(m->rm_type, want) == 0)
            return 0;
        if (strcmp(m->rm_type, "ping") == 0) {
            uint64_t ts = 0;
            kv_t kv = {"ts", 'u', 0, NULL, 0};

            pack_get_u64(m->rm_obj, "ts", UINT64_MAX, &ts);
            kv.u = ts;
            send_msg(fd, "pong", &kv, 1);
        }
        repl_msg_free(m);
    }
    return -1;
}

static int raw_done(tcluster_t *c, void *arg)
{
    (void)c;
    return __atomic_load_n(&((raw_thread_t *)arg)->rt_done, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------- a protocol exchange */

typedef struct xfer {
    const uint8_t *x_data;
    size_t x_len;
    uint64_t x_seq;
    int x_inline;       /* the offer must carry the bytes ("d") */
    const char *x_fail; /* what went wrong, NULL when all went well */
} xfer_t;

static void peer_exchange(raw_thread_t *t)
{
    xfer_t *x = t->rt_arg;
    size_t cap = REPL_FRAME_MAX + 16;
    uint8_t *buf = malloc(cap);
    uint8_t *got = calloc(1, x->x_len);
    uint8_t hash[16];
    XXH128_canonical_t canon;
    repl_msg_t m;
    const uint8_t *p;
    size_t n, have = 0;
    uint64_t o, s, off;
    int fd = raw_connect(t->rt_port);
    int fin = 0;

    x->x_fail = "connect";
    if (fd < 0 || raw_handshake(fd, TC_SECRET, 1, 2) != 0)
        goto done;
    {
        kv_t sub[] = {{"o", 'u', 2, NULL, 0}, {"from", 'u', 0, NULL, 0}};

        x->x_fail = "sub";
        if (send_msg(fd, "sub", sub, 2) < 0)
            goto done;
    }
    x->x_fail = "no chg";
    if (recv_type(fd, "chg", buf, cap, &m) < 0)
        goto done;
    x->x_fail = "chg fields";
    if (pack_get_u64(m.rm_obj, "o", 65535, &o) < 0 || o != 2 ||
        pack_get_u64(m.rm_obj, "s", UINT64_MAX, &s) < 0 || s != x->x_seq ||
        pack_get_bin(m.rm_obj, "k", 1024, 0, &p, &n) < 0 || n != 5 || memcmp(p, "proto", 5) != 0 ||
        pack_get_bin(m.rm_obj, "h", 16, 16, &p, &n) < 0 ||
        pack_map_get(m.rm_obj, "meta", &(const msgpack_object *){NULL}) == 0) {
        repl_msg_free(&m);
        goto done;
    }
    memcpy(hash, p, 16);
    x->x_fail = "inline bytes";
    if (pack_get_bin(m.rm_obj, "d", REPL_FRAME_MAX, 0, &p, &n) == 0) {
        /* a small blob: its bytes came with the offer, no want */
        if (!x->x_inline || n != x->x_len) {
            repl_msg_free(&m);
            goto done;
        }
        memcpy(got, p, n);
        have = n;
        fin = 1;
    } else if (x->x_inline) {
        repl_msg_free(&m);
        goto done;
    }
    repl_msg_free(&m);
    if (!fin) {
        kv_t want[] = {{"o", 'u', 2, NULL, 0}, {"s", 'u', x->x_seq, NULL, 0}};

        send_msg(fd, "want", want, 2);
    }
    x->x_fail = "bytes";
    while (!fin) {
        size_t len;

        if (raw_recv_frame(fd, buf, cap, &len) < 0 || repl_msg_decode(buf, len, &m) < 0)
            goto done;
        if (strcmp(m.rm_type, "dat") == 0) {
            if (pack_get_u64(m.rm_obj, "off", UINT64_MAX, &off) < 0 || off != have ||
                pack_get_bin(m.rm_obj, "d", REPL_DAT_MAX, 0, &p, &n) < 0 || have + n > x->x_len) {
                repl_msg_free(&m);
                goto done;
            }
            memcpy(got + have, p, n);
            have += n;
        } else if (strcmp(m.rm_type, "end") == 0) {
            fin = 1;
        }
        repl_msg_free(&m);
    }
    x->x_fail = "content";
    XXH128_canonicalFromHash(&canon, XXH3_128bits(got, have));
    if (have != x->x_len || memcmp(got, x->x_data, have) != 0 ||
        memcmp(canon.digest, hash, 16) != 0)
        goto done;
    {
        kv_t ack[] = {{"o", 'u', 2, NULL, 0}, {"s", 'u', x->x_seq, NULL, 0}};

        send_msg(fd, "ack", ack, 2);
    }
    /* stay connected until node 2 has processed the ack */
    while (!__atomic_load_n(&t->rt_go, __ATOMIC_ACQUIRE))
        usleep(10000);
    x->x_fail = NULL;
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(got);
}

static int acked(tcluster_t *c, void *arg)
{
    xfer_t *x = arg;

    return repl_acks(c->tc_node[1].sn_repl, x->x_seq) == 2;
}

/* n bytes written on node 2, taken by the hand-driven peer; inl: the
 * offer must carry them ("d", no want / dat). */
static void wire_exchange(size_t n, int inl)
{
    uint8_t *d = malloc(n > 0 ? n : 1);
    store_stat_t st;
    raw_thread_t rt;
    xfer_t x;

    tc_fill(d, n, 301);
    tc_init(&C, 2);
    tc_start(&C, 1);
    tc_put(&C, 1, "proto", d, n, &st);
    memset(&x, 0, sizeof(x));
    x.x_data = d;
    x.x_len = n;
    x.x_seq = st.st_log_seq;
    x.x_inline = inl;
    raw_thread_start(&rt, C.tc_node[1].sn_port, peer_exchange, &x);
    ck_assert_msg(tc_run_until(&C, acked, &x, 10000) || raw_done(&C, &rt),
                  "node 2 did not count the ack");
    __atomic_store_n(&rt.rt_go, 1, __ATOMIC_RELEASE);
    ck_assert(tc_run_until(&C, raw_done, &rt, 5000));
    raw_thread_join(&rt);
    ck_assert_msg(x.x_fail == NULL, "peer failed at: %s", x.x_fail);
    ck_assert_uint_eq(repl_acks(C.tc_node[1].sn_repl, x.x_seq), 2);
    free(d);
    tc_destroy(&C);
}

/* A blob of at most 64 KiB travels inside its offer. */
START_TEST(test_wire_inline)
{
    wire_exchange(3000, 1);
    wire_exchange(64 * 1024, 1);
}
END_TEST

START_TEST(test_wire_exchange)
{
    wire_exchange(600 * 1000, 0);
}
END_TEST

/* ------------------------------------------------ malformed messages */

typedef struct bad {
    const char *b_type;
    kv_t b_kv[10];
    size_t b_n;
} bad_t;

static const uint8_t zhash[16];

/* A chg offer {o:1, s:1, k:"x", v:5, vo:1, st:st, z:z, h, ct:"", d} whose
 * "d" has msgpack kind dk ('b' or 's') and the n bytes at dp. */
#define CHG_D(st, z, dk, dp, n)                                                                    \
    {                                                                                              \
        "chg", {{"o", 'u', 1, NULL, 0}, {"s", 'u', 1, NULL, 0},   {"k", 'b', 0, "x", 1},           \
                {"v", 'u', 5, NULL, 0}, {"vo", 'u', 1, NULL, 0},  {"st", 'u', st, NULL, 0},        \
                {"z", 'u', z, NULL, 0}, {"h", 'b', 0, zhash, 16}, {"ct", 's', 0, "", 0},           \
                {"d", dk, 0, dp, n}},                                                              \
            10                                                                                     \
    }

static const bad_t bads[] = {
    {"chg", {{"o", 'u', 1, NULL, 0}}, 1},                                /* fields missing */
    {"nosuch", {{"o", 'u', 1, NULL, 0}}, 1},                             /* unknown type */
    {"heads", {{"h", 'u', 5, NULL, 0}, {"c", 'm', 1, NULL, 0}}, 2},      /* h not a map */
    {"sub", {{"o", 'u', 0, NULL, 0}, {"from", 'u', 0, NULL, 0}}, 2},     /* origin 0 */
    {"sub", {{"o", 'u', 70000, NULL, 0}, {"from", 'u', 0, NULL, 0}}, 2}, /* origin > 65535 */
    {"fetch",
     {{"id", 'u', 1, NULL, 0},
      {"k", 'b', 0, "", 0},
      {"v", 'u', 1, NULL, 0},
      {"vo", 'u', 1, NULL, 0}},
     4}, /* empty key */
    {"dat", {{"o", 'u', 1, NULL, 0}, {"s", 'u', 1, NULL, 0}, {"off", 'u', 0, NULL, 0}}, 3},
    {"ack", {{"o", 'u', 1, NULL, 0}, {"s", 's', 0, "x", 1}}, 2}, /* s not a uint */
    CHG_D(1, 10, 'b', "abc", 3),                                 /* d shorter than z */
    CHG_D(3, 3, 'b', "abc", 3),                                  /* d on a tombstone */
    CHG_D(1, 3, 's', "abc", 3),                                  /* d not a bin */
};

typedef struct badrun {
    int br_dropped[sizeof(bads) / sizeof(bads[0])];
    int br_second_ok;
} badrun_t;

static void peer_bad(raw_thread_t *t)
{
    badrun_t *br = t->rt_arg;

    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        int fd = raw_connect(t->rt_port);

        if (fd < 0)
            continue;
        if (raw_handshake(fd, TC_SECRET, 1, 2) == 0 &&
            send_msg(fd, bads[i].b_type, bads[i].b_kv, bads[i].b_n) == 0)
            br->br_dropped[i] = raw_wait_eof(fd, 3000);
        close(fd);
    }
    /* a well-behaved session still works afterwards */
    {
        int fd = raw_connect(t->rt_port);
        uint8_t buf[4096];
        repl_msg_t m;

        if (fd >= 0 && raw_handshake(fd, TC_SECRET, 1, 2) == 0 &&
            recv_type(fd, "heads", buf, sizeof(buf), &m) == 0) {
            br->br_second_ok = 1;
            repl_msg_free(&m);
        }
        if (fd >= 0)
            close(fd);
    }
}

START_TEST(test_malformed_dropped)
{
    raw_thread_t rt;
    badrun_t br;

    memset(&br, 0, sizeof(br));
    t_log_capture_start();
    tc_init(&C, 2);
    tc_start(&C, 1);
    raw_thread_start(&rt, C.tc_node[1].sn_port, peer_bad, &br);
    ck_assert(tc_run_until(&C, raw_done, &rt, 40000));
    raw_thread_join(&rt);
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
        ck_assert_msg(br.br_dropped[i], "bad message %zu (%s) did not end the session", i,
                      bads[i].b_type);
    ck_assert(br.br_second_ok);
    ck_assert_int_ge(t_log_count("repl.peer.rejected", "frame_refused"),
                     (int)(sizeof(bads) / sizeof(bads[0])));
    tc_destroy(&C);
    t_log_capture_end();
}
END_TEST

/* A fetch for a key this node does not have is answered fno; a stale
 * "dat" (no such transfer) is discarded without ending the session. */
static void peer_fetch_unknown(raw_thread_t *t)
{
    int *ok = t->rt_arg;
    uint8_t buf[4096];
    repl_msg_t m;
    uint64_t id = 0;
    int fd = raw_connect(t->rt_port);
    kv_t fetch[] = {{"id", 'u', 77, NULL, 0},
                    {"k", 'b', 0, "missing", 7},
                    {"v", 'u', 1, NULL, 0},
                    {"vo", 'u', 1, NULL, 0}};
    kv_t dat[] = {{"o", 'u', 2, NULL, 0},
                  {"s", 'u', 5, NULL, 0},
                  {"off", 'u', 0, NULL, 0},
                  {"d", 'b', 0, "abc", 3}};

    if (fd < 0 || raw_handshake(fd, TC_SECRET, 1, 2) != 0)
        goto done;
    if (send_msg(fd, "dat", dat, 4) < 0 || send_msg(fd, "fetch", fetch, 4) < 0)
        goto done;
    if (recv_type(fd, "fno", buf, sizeof(buf), &m) < 0)
        goto done;
    if (pack_get_u64(m.rm_obj, "id", UINT64_MAX, &id) == 0 && id == 77)
        *ok = 1;
    repl_msg_free(&m);
done:
    if (fd >= 0)
        close(fd);
}

START_TEST(test_fetch_unknown_key)
{
    raw_thread_t rt;
    int ok = 0;

    tc_init(&C, 2);
    tc_start(&C, 1);
    raw_thread_start(&rt, C.tc_node[1].sn_port, peer_fetch_unknown, &ok);
    ck_assert(tc_run_until(&C, raw_done, &rt, 10000));
    raw_thread_join(&rt);
    ck_assert(ok);
    tc_destroy(&C);
}
END_TEST

Suite *proto_suite(void)
{
    Suite *s = suite_create("sync_proto");
    TCase *tc = tcase_create("sync_proto");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wire_exchange);
    tcase_add_test(tc, test_wire_inline);
    tcase_add_test(tc, test_malformed_dropped);
    tcase_add_test(tc, test_fetch_unknown_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tc_main(proto_suite());
}
