/*
 * util_repl.c -- fixtures for replication link tests.
 */
#include "replication/tests/util_repl.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/auth.h"
#include "replication/frame.h"

/* ---- loop driver ---- */

uint64_t t_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

int t_run_until(uv_loop_t *loop, t_pred_fn pred, void *arg, uint64_t timeout_ms)
{
    uv_timer_t ticker;
    uint64_t start = t_now_ms();
    int ok;

    uv_timer_init(loop, &ticker);
    uv_timer_start(&ticker, tick_cb, 5, 5);
    for (;;) {
        ok = pred != NULL && pred(arg);
        if (ok || t_now_ms() - start >= timeout_ms)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

void t_run_for(uv_loop_t *loop, uint64_t ms)
{
    t_run_until(loop, NULL, NULL, ms);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void t_loop_finish(uv_loop_t *loop)
{
    int i;

    /* Nothing of ours should be left: a leftover handle is a bug, report it. */
    for (i = 0; i < 200 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    if (uv_loop_close(loop) != 0) {
        uv_walk(loop, walk_close, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        ck_abort_msg("handles left on the loop after shutdown");
    }
}

/* ---- recording node ---- */

static void n_on_up(repl_link_t *l, void *arg)
{
    tnode_t *n = arg;

    n->tn_ups++;
    n->tn_up_at_ms = t_now_ms();
    n->tn_next_n = 0;
    if (n->tn_on_up != NULL)
        n->tn_on_up(n, l);
}

static void n_on_down(repl_link_t *l, int reason, void *arg)
{
    tnode_t *n = arg;

    n->tn_downs++;
    n->tn_last_down = reason;
    n->tn_down_at_ms = t_now_ms();
    if (n->tn_on_down != NULL)
        n->tn_on_down(n, l, reason);
}

static int n_on_frame(repl_link_t *l, const char *type, const msgpack_object *msg, void *arg)
{
    tnode_t *n = arg;
    uint64_t v = 0;

    n->tn_frames++;
    snprintf(n->tn_last_type, sizeof(n->tn_last_type), "%s", type);
    if (pack_get_u64(msg, "seq", UINT64_MAX, &v) == 0) {
        n->tn_last_n = v;
        if (n->tn_check_seq && v != n->tn_next_n)
            n->tn_seq_errors++;
        n->tn_next_n = v + 1;
    }
    if (n->tn_on_frame != NULL)
        return n->tn_on_frame(n, l, type, msg);
    return 0;
}

static void n_on_writable(repl_link_t *l, void *arg)
{
    tnode_t *n = arg;

    n->tn_writables++;
    if (n->tn_on_writable != NULL)
        n->tn_on_writable(n, l);
}

static const repl_link_cbs_t tnode_cbs = {
    .lc_on_up = n_on_up,
    .lc_on_down = n_on_down,
    .lc_on_frame = n_on_frame,
    .lc_on_writable = n_on_writable,
};

void tnode_start(tnode_t *n, uv_loop_t *loop, uint16_t self, const char *listen,
                 const char *const *peers, size_t npeers, const char *secret,
                 const repl_link_tuning_t *tun)
{
    repl_peer_addr_t addrs[8];
    repl_peers_conf_t conf;
    size_t i;

    ck_assert_uint_le(npeers, 8);
    for (i = 0; i < npeers; i++)
        ck_assert_int_eq(repl_peer_addr_parse(peers[i], &addrs[i]), 0);
    memset(&conf, 0, sizeof(conf));
    conf.pc_self_id = self;
    conf.pc_listen = listen;
    conf.pc_peers = addrs;
    conf.pc_npeers = npeers;
    conf.pc_secret = secret;
    conf.pc_secret_len = strlen(secret);
    if (tun != NULL)
        conf.pc_tuning = *tun;
    n->tn_id = self;
    ck_assert_int_eq(repl_peers_create(loop, &conf, &tnode_cbs, n, &n->tn_ps), 0);
    ck_assert_int_eq(repl_peers_start(n->tn_ps), 0);
}

int tnode_port(tnode_t *n)
{
    int port = 0;

    ck_assert_int_eq(repl_peers_listen_port(n->tn_ps, &port), 0);
    return port;
}

repl_link_t *tnode_link(tnode_t *n, uint16_t peer)
{
    repl_link_t *l = repl_peers_link(n->tn_ps, peer);

    ck_assert_ptr_nonnull(l);
    return l;
}

static void n_closed(repl_peers_t *ps, void *arg)
{
    tnode_t *n = arg;

    (void)ps;
    n->tn_closed++;
}

static int n_is_closed(void *arg)
{
    return ((tnode_t *)arg)->tn_closed > 0;
}

void tnode_stop(tnode_t *n, uv_loop_t *loop)
{
    if (n->tn_ps == NULL)
        return;
    repl_peers_close(n->tn_ps, n_closed, n);
    ck_assert(t_run_until(loop, n_is_closed, n, 5000));
    ck_assert_int_eq(n->tn_closed, 1);
    repl_peers_free(n->tn_ps);
    n->tn_ps = NULL;
}

repl_link_tuning_t t_fast_tuning(void)
{
    repl_link_tuning_t t;

    memset(&t, 0, sizeof(t));
    t.lt_handshake_ms = 1000;
    t.lt_heartbeat_ms = 100;
    t.lt_dead_ms = 600;
    t.lt_backoff_min_ms = 20;
    t.lt_backoff_max_ms = 200;
    return t;
}

uint8_t *t_payload(const char *type, uint64_t seq, size_t dlen, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t *d = calloc(1, dlen + 1);

    ck_assert_ptr_nonnull(d);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pack_kv_str(&pk, "t", type, strlen(type));
    pack_kv_u64(&pk, "seq", seq);
    pack_kv_bin(&pk, "d", d, dlen);
    free(d);
    *len = sb.size;
    return (uint8_t *)msgpack_sbuffer_release(&sb);
}

/* ---- log capture ---- */

static char log_path[64];
static int log_fd = -1;

void t_log_capture_start(void)
{
    snprintf(log_path, sizeof(log_path), "/tmp/cairn-repl-log-XXXXXX");
    log_fd = mkstemp(log_path);
    ck_assert_int_ge(log_fd, 0);
    log_set_fd(log_fd);
}

static char *log_read(void)
{
    FILE *f = fopen(log_path, "r");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    if (n > 0)
        ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

int t_log_count(const char *a, const char *b)
{
    char *buf = log_read();
    char *line, *save = NULL;
    int count = 0;

    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
            count++;
    }
    free(buf);
    return count;
}

void t_log_dump(void)
{
    char *buf = log_read();

    fprintf(stderr, "---- captured log ----\n%s----\n", buf);
    free(buf);
}

void t_log_capture_end(void)
{
    log_set_fd(2);
    if (log_fd >= 0) {
        close(log_fd);
        unlink(log_path);
        log_fd = -1;
    }
}

/* ---- raw peer ---- */

int raw_connect(int port)
{
    struct sockaddr_in sin;
    struct timeval tv = {3, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int raw_send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    ssize_t w;

    while (n > 0) {
        w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int raw_send_frame(int fd, const void *payload, size_t len)
{
    uint8_t hdr[4];

    repl_frame_put_len(hdr, (uint32_t)len);
    if (raw_send_all(fd, hdr, 4) < 0)
        return -1;
    return raw_send_all(fd, payload, len);
}

static int recv_all(int fd, uint8_t *b, size_t n)
{
    ssize_t r;

    while (n > 0) {
        r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int raw_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t hdr[4];
    uint32_t n;

    if (recv_all(fd, hdr, 4) < 0)
        return -1;
    n = repl_frame_get_len(hdr);
    if (n == 0 || n > cap)
        return -1;
    if (recv_all(fd, buf, n) < 0)
        return -1;
    *len = n;
    return 0;
}

int raw_wait_eof(int fd, int timeout_ms)
{
    uint64_t end = t_now_ms() + (uint64_t)timeout_ms;
    struct pollfd pfd;
    char buf[4096];
    ssize_t r;
    int left;

    for (;;) {
        left = (int)(end - t_now_ms());
        if ((int64_t)(end - t_now_ms()) <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, left) <= 0)
            continue;
        r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
    }
}

static int pack_frame_hello(const repl_hello_t *h, uint8_t **frame, size_t *len)
{
    repl_frame_enc_t e;
    int rc = repl_frame_enc_init(&e);

    if (rc == 0)
        rc = repl_hello_pack(repl_frame_enc_packer(&e), h);
    if (rc == 0)
        rc = repl_frame_enc_finish(&e, REPL_FRAME_MAX, frame, len);
    repl_frame_enc_free(&e);
    return rc;
}

int raw_send_hello(int fd, const char *secret, uint16_t node, uint64_t proto, uint8_t nonce[32])
{
    repl_hello_t h;
    uint8_t *frame;
    size_t len;
    int rc;

    h.rh_proto = proto;
    if (repl_auth_cluster_id(secret, strlen(secret), h.rh_cluster) < 0)
        return -1;
    h.rh_node = node;
    if (repl_auth_nonce(h.rh_nonce) < 0)
        return -1;
    memcpy(nonce, h.rh_nonce, 32);
    if (pack_frame_hello(&h, &frame, &len) < 0)
        return -1;
    rc = raw_send_all(fd, frame, len);
    free(frame);
    return rc;
}

int raw_handshake(int fd, const char *secret, uint16_t self, uint16_t peer)
{
    uint8_t buf[4096], mine[32], theirs[32], mac[32];
    repl_frame_enc_t e;
    repl_auth_t a;
    repl_hello_t h;
    repl_msg_t m;
    uint8_t *frame = NULL;
    size_t len;
    int rc = -1;

    if (repl_auth_init(&a, secret, strlen(secret)) < 0)
        return -1;
    if (raw_recv_frame(fd, buf, sizeof(buf), &len) < 0)
        goto done;
    if (repl_msg_decode(buf, len, &m) < 0 || repl_hello_parse(m.rm_obj, &h) < 0 ||
        h.rh_node != peer) {
        repl_msg_free(&m);
        goto done;
    }
    repl_msg_free(&m);
    memcpy(theirs, h.rh_nonce, 32);
    if (raw_send_hello(fd, secret, self, REPL_PROTO_VERSION, mine) < 0)
        goto done;
    if (repl_auth_mac(&a, self, peer, mine, theirs, mac) < 0)
        goto done;
    if (repl_frame_enc_init(&e) < 0 || repl_auth_msg_pack(repl_frame_enc_packer(&e), mac) < 0 ||
        repl_frame_enc_finish(&e, REPL_FRAME_MAX, &frame, &len) < 0) {
        repl_frame_enc_free(&e);
        goto done;
    }
    repl_frame_enc_free(&e);
    if (raw_send_all(fd, frame, len) < 0)
        goto done;
    if (raw_recv_frame(fd, buf, sizeof(buf), &len) < 0)
        goto done;
    if (repl_msg_decode(buf, len, &m) < 0 || repl_auth_msg_parse(m.rm_obj, mac) < 0 ||
        repl_auth_verify(&a, peer, self, theirs, mine, mac) < 0) {
        repl_msg_free(&m);
        goto done;
    }
    repl_msg_free(&m);
    rc = 0;
done:
    free(frame);
    repl_auth_free(&a);
    return rc;
}

static void *raw_thread_main(void *arg)
{
    raw_thread_t *t = arg;

    t->rt_fn(t);
    __atomic_store_n(&t->rt_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

void raw_thread_start(raw_thread_t *t, int port, void (*fn)(raw_thread_t *t), void *arg)
{
    memset(t, 0, sizeof(*t));
    t->rt_fn = fn;
    t->rt_port = port;
    t->rt_arg = arg;
    ck_assert_int_eq(pthread_create(&t->rt_thread, NULL, raw_thread_main, t), 0);
}

void raw_thread_join(raw_thread_t *t)
{
    pthread_join(t->rt_thread, NULL);
}

int raw_thread_done(void *t)
{
    return __atomic_load_n(&((raw_thread_t *)t)->rt_done, __ATOMIC_SEQ_CST);
}
