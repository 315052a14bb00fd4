/*
 * test_repl_peerport.c -- hostile bytes on a node's peer port are rejected,
 * and the node keeps serving HTTP and replicating.
 *
 * Against node 2 of a two-node cluster, each from its own loopback source
 * address (so each gets its own warning line, docs/replication.md
 * "Rejected peers"):
 *   127.0.0.2  an HTTP request               -> frame_too_big
 *   127.0.0.3  length prefix 0xFFFFFFFF       -> frame_too_big
 *   127.0.0.4  a zero-length frame            -> bad_frame
 *   127.0.0.5  a frame of random bytes        -> rejected (any reason)
 *   127.0.0.6  hello from a wrong secret      -> cluster_mismatch
 *   127.0.0.7  right cluster id, MAC from a wrong secret -> bad_mac
 *   127.0.0.8  a full, correct handshake as node 1, then a 3 MiB length
 *              prefix (above the 2 MiB frame limit) -> frame_too_big
 *   127.0.0.9  connects and sends nothing     -> handshake_timeout
 * plus a real cairnd started with a wrong secret file that keeps dialing
 * node 2 as node 1 (cluster_mismatch; it never gets any data).
 * Every connection must be closed by the node within a bounded time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster-tests/hutil.h"
#include "replication/auth.h"
#include "rt.h"

extern char **environ;

/* Connects from src_ip to 127.0.0.1:port. */
static int dial_from(const char *src_ip, int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    ck_assert(inet_pton(AF_INET, src_ip, &sa.sin_addr) == 1);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", src_ip,
                  strerror(errno));
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                  "connect from %s to peer port %d: %s", src_ip, port, strerror(errno));
    return fd;
}

/* Sends all bytes; 0, or -errno when the node already closed. */
static int send_all(int fd, const void *p, size_t len)
{
    const char *c = p;

    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(int fd, const void *payload, size_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    int rc = send_all(fd, hdr, 4);

    return rc == 0 ? send_all(fd, payload, len) : rc;
}

/* Reads exactly len bytes within timeout_ms. 0, -EPIPE at EOF, -ETIMEDOUT, -errno. */
static int read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    char *c = buf;
    int64_t deadline = rt_now_ms() + timeout_ms;

    while (len > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - rt_now_ms();
        ssize_t n;

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        n = recv(fd, c, len, 0);
        if (n == 0)
            return -EPIPE;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one frame (payload at most cap bytes) into buf. */
static int read_frame(int fd, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
    uint8_t hdr[4];
    uint32_t n;
    int rc = read_exact(fd, hdr, 4, timeout_ms);

    if (rc < 0)
        return rc;
    n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > cap)
        return -EMSGSIZE;
    *len = n;
    return read_exact(fd, buf, n, timeout_ms);
}

/* Discards whatever arrives until the node closes: the ms it took, or -1. */
static int64_t wait_closed(int fd, int timeout_ms)
{
    int64_t t0 = rt_now_ms(), deadline = t0 + timeout_ms;
    char buf[65536];

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - rt_now_ms();
        ssize_t n;

        if (left <= 0)
            return -1;
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return rt_now_ms() - t0;
    }
}

/* The "t" of a decoded message map, or "". */
static void msg_type(const msgpack_object *o, char *out, size_t cap)
{
    out[0] = '\0';
    if (o->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t k = 0; k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 1 &&
            kv->key.via.str.ptr[0] == 't' && kv->val.type == MSGPACK_OBJECT_STR) {
            size_t n = kv->val.via.str.size < cap - 1 ? kv->val.via.str.size : cap - 1;
            memcpy(out, kv->val.via.str.ptr, n);
            out[n] = '\0';
        }
    }
}

/* Reads the node's hello (it sends one as soon as we connect). */
static void read_hello(int fd, repl_hello_t *h)
{
    uint8_t buf[4096];
    size_t len = 0;
    msgpack_unpacked u;
    size_t off = 0;
    char t[16];
    int rc = read_frame(fd, buf, sizeof(buf), &len, 5000);

    ck_assert_msg(rc == 0, "reading the node's hello: %s", strerror(-rc));
    msgpack_unpacked_init(&u);
    ck_assert(msgpack_unpack_next(&u, (const char *)buf, len, &off) == MSGPACK_UNPACK_SUCCESS);
    msg_type(&u.data, t, sizeof(t));
    ck_assert_msg(strcmp(t, "hello") == 0, "first frame from the node is \"%s\", not hello", t);
    ck_assert_msg(repl_hello_parse(&u.data, h) == 0, "the node's hello does not parse");
    msgpack_unpacked_destroy(&u);
}

/* Sends the packed frame; 0 or -errno (the node may already have closed). */
static int send_packed(int fd, msgpack_sbuffer *sb)
{
    int rc = send_frame(fd, sb->data, sb->size);

    msgpack_sbuffer_clear(sb);
    return rc;
}

/*
 * Runs our side of the handshake as node `me` towards node `peer`:
 * hello with the cluster id of cluster_secret, auth with a MAC keyed by
 * mac_secret. Returns 0 with the auth sent (the node's verdict still to
 * come), or -errno when the node closed before our auth could be sent (it
 * refused our hello).
 */
static int handshake(int fd, const char *cluster_secret, const char *mac_secret, uint16_t me,
                     uint16_t peer)
{
    repl_hello_t mine, theirs;
    repl_auth_t a;
    uint8_t mac[REPL_MAC_LEN];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    memset(&mine, 0, sizeof(mine));
    mine.rh_proto = REPL_PROTO_VERSION;
    mine.rh_node = me;
    ck_assert(repl_auth_cluster_id(cluster_secret, strlen(cluster_secret), mine.rh_cluster) == 0);
    ck_assert(repl_auth_nonce(mine.rh_nonce) == 0);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert(repl_hello_pack(&pk, &mine) == 0);
    rc = send_packed(fd, &sb);
    ck_assert_msg(rc == 0, "sending our hello: %s", strerror(-rc));
    read_hello(fd, &theirs);
    memset(&a, 0, sizeof(a));
    ck_assert(repl_auth_init(&a, mac_secret, strlen(mac_secret)) == 0);
    ck_assert(repl_auth_mac(&a, me, peer, mine.rh_nonce, theirs.rh_nonce, mac) == 0);
    repl_auth_free(&a);
    ck_assert(repl_auth_msg_pack(&pk, mac) == 0);
    rc = send_packed(fd, &sb);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* 1 when the line's "peer=" field is the address ip (with or without a port). */
static int line_from(const char *line, const char *ip)
{
    const char *p = strstr(line, "peer=");
    size_t n = strlen(ip);

    if (p == NULL || strncmp(p + 5, ip, n) != 0)
        return 0;
    p += 5 + n;
    return !(*p == '.' || (*p >= '0' && *p <= '9'));
}

/* The first "repl.peer.rejected" line of node i's log from source ip, in
 * out (empty when none). */
static void rejected_line(rt_t *t, int i, const char *ip, char *out, size_t cap)
{
    char *text = NULL, *p;
    size_t len = 0;

    out[0] = '\0';
    if (hu_read_file(t->rt_cl.cl_nodes[i].hn_log, 64u << 20, &text, &len) < 0)
        return;
    for (p = text; p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(p, "repl.peer.rejected") != NULL && line_from(p, ip)) {
            snprintf(out, cap, "%s", p);
            break;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
}

/* Waits (bounded) for node i's rejection line for ip; asserts its reason
 * when reason is not NULL. */
static void expect_rejected(rt_t *t, int i, const char *ip, const char *reason, const char *what)
{
    char line[1024], want[64];
    int64_t deadline = rt_now_ms() + 3000;

    for (;;) {
        rejected_line(t, i, ip, line, sizeof(line));
        if (line[0] != '\0' || rt_now_ms() >= deadline)
            break;
        rt_sleep_ms(50);
    }
    ck_assert_msg(line[0] != '\0', "%s from %s: node %d logged no repl.peer.rejected line", what,
                  ip, i);
    printf("%s from %s: %s\n", what, ip, line);
    if (reason != NULL) {
        snprintf(want, sizeof(want), "reason=%s ", reason);
        ck_assert_msg(strstr(line, want) != NULL, "%s from %s: expected reason=%s, node logged: %s",
                      what, ip, reason, line);
    }
}

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Starts a cairnd claiming to be node 1 with a wrong secret, dialing node
 * 2's peer port directly. Its HTTP URL goes to url. */
static pid_t start_impostor(rt_t *t, char *url, size_t cap)
{
    char dir[600], data[700], secret[700], logp[700], listen[64], plisten[64], peer[64];
    char *argv[20];
    int argc = 0, logfd, nullfd, http = free_port(), pport = free_port();
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/impostor", t->rt_root);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(secret, sizeof(secret), "%s/wrong-secret", dir);
    snprintf(logp, sizeof(logp), "%s/cairnd.log", dir);
    ck_assert(hu_mkdir_p(data, 0755) == 0);
    ck_assert(hu_write_file(secret, "not-the-cluster-secret", 22, 0600) == 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", http);
    snprintf(plisten, sizeof(plisten), "127.0.0.1:%d", pport);
    snprintf(peer, sizeof(peer), "2@127.0.0.1:%d", t->rt_cl.cl_nodes[2].hn_peer_port);
    snprintf(url, cap, "http://%s", listen);
    argv[argc++] = t->rt_cl.cl_bin;
    argv[argc++] = "--node-id";
    argv[argc++] = "1";
    argv[argc++] = "--data";
    argv[argc++] = data;
    argv[argc++] = "--listen";
    argv[argc++] = listen;
    argv[argc++] = "--peer-listen";
    argv[argc++] = plisten;
    argv[argc++] = "--peer";
    argv[argc++] = peer;
    argv[argc++] = "--secret-file";
    argv[argc++] = secret;
    argv[argc] = NULL;
    logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert(logfd >= 0 && nullfd >= 0);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execve(t->rt_cl.cl_bin, argv, environ);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    ck_assert(pid > 0);
    return pid;
}

START_TEST(test_hostile_peer_port)
{
    rt_t t;
    rt_resp_t r;
    char secret[256], s[1024], impostor_url[80], hex[33];
    size_t slen = 0;
    char *sec = NULL;
    int port, fd, idle, rc;
    int64_t ms, idle_t0;
    pid_t imp;
    int status;

    rt_setup(&t, "peerport", 2, NULL);
    rt_start_all(&t);
    port = t.rt_cl.cl_nodes[2].hn_peer_port;
    ck_assert(hu_read_file(t.rt_cl.cl_secret, 4096, &sec, &slen) == 0);
    while (slen > 0 && (sec[slen - 1] == '\n' || sec[slen - 1] == ' '))
        sec[--slen] = '\0';
    snprintf(secret, sizeof(secret), "%s", sec);
    free(sec);

    /* A real node with the wrong secret keeps dialing node 2 as node 1. */
    imp = start_impostor(&t, impostor_url, sizeof(impostor_url));
    {
        static const char *const mismatch[] = {"repl.peer.rejected", "cluster_mismatch", NULL};
        int64_t deadline = rt_now_ms() + 10000;
        while (rt_log_count(&t, 2, mismatch) == 0 && rt_now_ms() < deadline)
            rt_sleep_ms(100);
        ck_assert_msg(rt_log_count(&t, 2, mismatch) >= 1,
                      "a cairnd with a wrong secret dialed node 2 for 10 s; node 2 logged no "
                      "repl.peer.rejected reason=cluster_mismatch");
    }

    idle = dial_from("127.0.0.9", port);
    idle_t0 = rt_now_ms();

    /* 127.0.0.2: an HTTP request on the peer port. */
    fd = dial_from("127.0.0.2", port);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    ms = wait_closed(fd, 6000);
    ck_assert_msg(ms >= 0, "HTTP request on the peer port: node 2 did not close within 6 s");
    close(fd);
    expect_rejected(&t, 2, "127.0.0.2", "frame_too_big", "HTTP request");

    /* 127.0.0.3: a length prefix of 4 GiB - 1. */
    fd = dial_from("127.0.0.3", port);
    send_all(fd, "\xff\xff\xff\xff\x81\xa1t", 7);
    ck_assert_msg(wait_closed(fd, 6000) >= 0, "length 0xFFFFFFFF: node 2 did not close within 6 s");
    close(fd);
    expect_rejected(&t, 2, "127.0.0.3", "frame_too_big", "length prefix 0xFFFFFFFF");

    /* 127.0.0.4: a zero-length frame. */
    fd = dial_from("127.0.0.4", port);
    send_all(fd, "\0\0\0\0", 4);
    ck_assert_msg(wait_closed(fd, 6000) >= 0, "zero-length frame: node 2 did not close within 6 s");
    close(fd);
    expect_rejected(&t, 2, "127.0.0.4", "bad_frame", "zero-length frame");

    /* 127.0.0.5: a frame of random bytes. */
    {
        uint8_t junk[200];
        for (size_t k = 0; k < sizeof(junk); k++)
            junk[k] = (uint8_t)(hu_mix64(t.rt_seed + k) >> 13);
        junk[0] = 0xc1; /* never valid msgpack */
        fd = dial_from("127.0.0.5", port);
        send_frame(fd, junk, sizeof(junk));
        ck_assert_msg(wait_closed(fd, 6000) >= 0, "random frame: node 2 did not close within 6 s");
        close(fd);
        expect_rejected(&t, 2, "127.0.0.5", NULL, "frame of random bytes");
    }

    /* 127.0.0.6: a hello from a node holding another secret. */
    fd = dial_from("127.0.0.6", port);
    (void)handshake(fd, "another-secret", "another-secret", 1, 2); /* may close first */
    ck_assert_msg(wait_closed(fd, 6000) >= 0,
                  "wrong-secret hello: node 2 did not close within 6 s");
    close(fd);
    expect_rejected(&t, 2, "127.0.0.6", "cluster_mismatch", "hello with a wrong secret");

    /* 127.0.0.7: the right cluster id, but a proof from a wrong secret. */
    fd = dial_from("127.0.0.7", port);
    rc = handshake(fd, secret, "another-secret", 1, 2);
    ck_assert_msg(rc == 0, "right cluster id: node 2 closed before our auth (%s)", strerror(-rc));
    ck_assert_msg(wait_closed(fd, 6000) >= 0, "wrong MAC: node 2 did not close within 6 s");
    close(fd);
    expect_rejected(&t, 2, "127.0.0.7", "bad_mac", "auth with a wrong secret");

    /* 127.0.0.8: authenticated as node 1, then an oversized frame. */
    {
        uint8_t buf[4096];
        size_t len = 0;
        msgpack_unpacked u;
        size_t off = 0;
        char tname[16];

        fd = dial_from("127.0.0.8", port);
        rc = handshake(fd, secret, secret, 1, 2);
        ck_assert_msg(rc == 0, "correct hello: node 2 closed before our auth (%s)", strerror(-rc));
        rc = read_frame(fd, buf, sizeof(buf), &len, 5000);
        ck_assert_msg(rc == 0, "correct handshake: no auth frame from node 2 (%s)", strerror(-rc));
        msgpack_unpacked_init(&u);
        ck_assert(msgpack_unpack_next(&u, (const char *)buf, len, &off) == MSGPACK_UNPACK_SUCCESS);
        msg_type(&u.data, tname, sizeof(tname));
        msgpack_unpacked_destroy(&u);
        ck_assert_msg(strcmp(tname, "auth") == 0,
                      "correct handshake: node 2 answered \"%s\" instead of auth", tname);
        send_all(fd, "\x00\x30\x00\x00\x81", 5); /* 3 MiB > REPL_FRAME_MAX */
        ck_assert_msg(
            wait_closed(fd, 6000) >= 0,
            "oversized frame in an authenticated session: node 2 did not close within 6 s");
        close(fd);
        expect_rejected(&t, 2, "127.0.0.8", "frame_too_big", "3 MiB frame after authentication");
    }

    /* 127.0.0.9: the silent connection times out. */
    ms = wait_closed(idle, (int)(9000 - (rt_now_ms() - idle_t0)));
    ck_assert_msg(ms >= 0, "a connection that sent nothing was still open 9 s later");
    rt_figure("peerport_idle_closed_after_ms", "%lld", (long long)(rt_now_ms() - idle_t0));
    close(idle);
    expect_rejected(&t, 2, "127.0.0.9", "handshake_timeout", "silent connection");

    /* Node 2 still serves HTTP and replicates both ways. */
    ck_assert_msg(rt_alive(&t, 2) && rt_alive(&t, 1), "a node exited");
    rt_wait_links(&t, 0, 20000);
    rt_hash(t.rt_seed, 1, 300000, hex);
    rt_put(t.rt_h, rt_url(&t, 1), "pp/one", "all", t.rt_seed, 1, 300000, &r);
    rt_assert_put_ok(&r, "PUT pp/one on node 1 (durability=all) after the abuse", hex);
    ms = rt_wait_get(t.rt_h, rt_url(&t, 2), "pp/one", hex, 300000, 5000, &r);
    ck_assert_msg(ms >= 0, "node 2 does not serve pp/one: %s", rt_resp_str(&r, s, sizeof(s)));
    rt_hash(t.rt_seed, 2, 5000, hex);
    rt_put(t.rt_h, rt_url(&t, 2), "pp/two", "all", t.rt_seed, 2, 5000, &r);
    rt_assert_put_ok(&r, "PUT pp/two on node 2 (durability=all) after the abuse", hex);
    ms = rt_wait_get(t.rt_h, rt_url(&t, 1), "pp/two", hex, 5000, 5000, &r);
    ck_assert_msg(ms >= 0, "node 1 does not serve pp/two: %s", rt_resp_str(&r, s, sizeof(s)));

    /* The impostor never got anything. */
    rt_get(t.rt_h, impostor_url, "pp/one", &r);
    ck_assert_msg(r.rr_status == 404,
                  "the wrong-secret node answered GET pp/one with %s (expected 404: it must "
                  "never receive data)",
                  rt_resp_str(&r, s, sizeof(s)));
    kill(imp, SIGTERM);
    waitpid(imp, &status, 0);
    rt_teardown(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_peerport");
    TCase *tc = tcase_create("peerport");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hostile_peer_port);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
