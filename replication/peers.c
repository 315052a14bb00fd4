/*
 * peers.c -- the peer set: configuration, listener, dial policy, shutdown.
 */
#include "replication/repl_int.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "ID@HOST:PORT"; the id is plain decimal 1..65535. */
int repl_peer_addr_parse(const char *s, repl_peer_addr_t *out)
{
    char idbuf[8];
    const char *at;
    long long id;
    size_t n;

    if (s == NULL || out == NULL)
        return CAIRN_EINVAL;
    at = strchr(s, '@');
    if (at == NULL)
        return CAIRN_EINVAL;
    n = (size_t)(at - s);
    if (n == 0 || n >= sizeof(idbuf) || s[0] == '+' || s[0] == '-')
        return CAIRN_EINVAL;
    memcpy(idbuf, s, n);
    idbuf[n] = '\0';
    if (conf_parse_int(idbuf, 1, UINT16_MAX, &id) < 0)
        return CAIRN_EINVAL;
    memset(out, 0, sizeof(*out));
    out->pa_id = (uint16_t)id;
    return conf_parse_hostport(at + 1, out->pa_host, sizeof(out->pa_host), &out->pa_port);
}

/*
 * Like conf_parse_hostport but also accepts port 0 ("any free port"), which
 * the listener (and tests) use.
 */
static int parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    char tmp[REPL_HOST_MAX + 16];
    size_t n;

    if (s == NULL)
        return CAIRN_EINVAL;
    n = strlen(s);
    if (n >= sizeof(tmp))
        return CAIRN_EINVAL;
    memcpy(tmp, s, n + 1);
    if (n >= 2 && strcmp(tmp + n - 2, ":0") == 0) {
        tmp[n - 1] = '1';
        if (conf_parse_hostport(tmp, host, hostlen, port) < 0)
            return CAIRN_EINVAL;
        *port = 0;
        return 0;
    }
    return conf_parse_hostport(tmp, host, hostlen, port);
}

static void fill_defaults(repl_link_tuning_t *t)
{
    if (t->lt_handshake_ms == 0)
        t->lt_handshake_ms = REPL_DEFAULT_HANDSHAKE_MS;
    if (t->lt_heartbeat_ms == 0)
        t->lt_heartbeat_ms = REPL_DEFAULT_HEARTBEAT_MS;
    if (t->lt_dead_ms == 0)
        t->lt_dead_ms = REPL_DEFAULT_DEAD_MS;
    if (t->lt_backoff_min_ms == 0)
        t->lt_backoff_min_ms = REPL_DEFAULT_BACKOFF_MIN_MS;
    if (t->lt_backoff_max_ms == 0)
        t->lt_backoff_max_ms = REPL_DEFAULT_BACKOFF_MAX_MS;
    if (t->lt_queue_high == 0)
        t->lt_queue_high = REPL_DEFAULT_QUEUE_HIGH;
    if (t->lt_queue_low == 0)
        t->lt_queue_low = t->lt_queue_high < REPL_DEFAULT_QUEUE_LOW * 2 ? t->lt_queue_high / 4
                                                                        : REPL_DEFAULT_QUEUE_LOW;
    if (t->lt_window == 0)
        t->lt_window = REPL_DEFAULT_WINDOW;
    if (t->lt_max_pending == 0)
        t->lt_max_pending = REPL_DEFAULT_MAX_PENDING;
}

/* Checks the configuration (with defaults already filled into t). */
static int validate(const repl_peers_conf_t *conf, const repl_link_tuning_t *t)
{
    size_t i, j;

    if (conf->pc_self_id == 0 || conf->pc_npeers > REPL_PEERS_MAX ||
        (conf->pc_npeers > 0 && conf->pc_peers == NULL))
        return CAIRN_EINVAL;
    if (conf->pc_secret == NULL || conf->pc_secret_len == 0 ||
        conf->pc_secret_len > REPL_SECRET_MAX)
        return CAIRN_EINVAL;
    if (t->lt_dead_ms <= t->lt_heartbeat_ms || t->lt_backoff_min_ms > t->lt_backoff_max_ms ||
        t->lt_queue_low >= t->lt_queue_high || t->lt_queue_high > ((size_t)1 << 40))
        return CAIRN_EINVAL;
    for (i = 0; i < conf->pc_npeers; i++) {
        const repl_peer_addr_t *a = &conf->pc_peers[i];

        if (a->pa_id == 0 || a->pa_id == conf->pc_self_id || a->pa_port < 1 || a->pa_port > 65535 ||
            memchr(a->pa_host, '\0', sizeof(a->pa_host)) == NULL || a->pa_host[0] == '\0')
            return CAIRN_EINVAL;
        for (j = 0; j < i; j++) {
            if (conf->pc_peers[j].pa_id == a->pa_id)
                return CAIRN_EINVAL;
        }
    }
    return 0;
}

static uint64_t seed_rng(void)
{
    uint64_t s = 0;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 16);
    return s != 0 ? s : 0x9e3779b97f4a7c15ull;
}

/* xorshift64*: only for jitter, never for anything secret. */
uint64_t repl__peers_random(repl_peers_t *ps)
{
    uint64_t x = ps->ps_rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ps->ps_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

int repl_peers_create(uv_loop_t *loop, const repl_peers_conf_t *conf, const repl_link_cbs_t *cbs,
                      void *cb_arg, repl_peers_t **out)
{
    repl_link_tuning_t t;
    repl_peers_t *ps = NULL;
    size_t i;
    int rc;

    *out = NULL;
    if (loop == NULL || conf == NULL)
        return CAIRN_EINVAL;
    t = conf->pc_tuning;
    fill_defaults(&t);
    rc = validate(conf, &t);
    if (rc < 0)
        return rc;
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return CAIRN_ENOMEM;
    ps->ps_listen_port = -1;
    if (conf->pc_listen != NULL) {
        rc = parse_listen(conf->pc_listen, ps->ps_listen_host, sizeof(ps->ps_listen_host),
                          &ps->ps_listen_port);
        if (rc < 0)
            goto fail;
    }
    rc = repl_auth_init(&ps->ps_auth, conf->pc_secret, conf->pc_secret_len);
    if (rc < 0)
        goto fail;
    if (conf->pc_npeers > 0) {
        ps->ps_links = calloc(conf->pc_npeers, sizeof(*ps->ps_links));
        if (ps->ps_links == NULL) {
            rc = CAIRN_ENOMEM;
            goto fail;
        }
    }
    ps->ps_loop = loop;
    ps->ps_self = conf->pc_self_id;
    ps->ps_tun = t;
    if (cbs != NULL)
        ps->ps_cbs = *cbs;
    ps->ps_cb_arg = cb_arg;
    ps->ps_rng = seed_rng();
    /* From here on handles exist: nothing below can fail. */
    ps->ps_nlinks = conf->pc_npeers;
    for (i = 0; i < conf->pc_npeers; i++)
        repl__link_init(&ps->ps_links[i], ps, &conf->pc_peers[i]);
    *out = ps;
    return 0;
fail:
    repl_auth_free(&ps->ps_auth);
    free(ps->ps_links);
    free(ps);
    return rc;
}

static void on_connection(uv_stream_t *server, int status)
{
    repl_peers_t *ps = server->data;

    if (ps->ps_closing)
        return;
    if (status < 0) {
        LOG_WARN("repl.accept.failed", "reason=%s", cairn_errname(status));
        return;
    }
    repl__conn_accept(ps, server);
}

static void on_listener_closed(uv_handle_t *h)
{
    repl__peers_unref(h->data);
}

/* Resolves the listen host: a literal directly, a name with a blocking lookup (startup only). */
static int listen_addr(repl_peers_t *ps, struct sockaddr_storage *ss)
{
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    char port[16];
    int rc;

    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(ps->ps_listen_host, ps->ps_listen_port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(ps->ps_listen_host, ps->ps_listen_port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof(port), "%d", ps->ps_listen_port);
    rc = uv_getaddrinfo(ps->ps_loop, &req, NULL, ps->ps_listen_host, port, &hints);
    if (rc < 0)
        return rc;
    if (req.addrinfo == NULL || req.addrinfo->ai_addrlen > sizeof(*ss)) {
        uv_freeaddrinfo(req.addrinfo);
        return -ENOENT;
    }
    memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

/*
 * libuv writes to sockets with write(2): a peer that vanished mid-write
 * would raise SIGPIPE and kill the process. Unless the program installed
 * its own disposition, ignore it (EPIPE is handled as a socket error).
 */
static void ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGPIPE, &sa, NULL);
}

/*
 * Binds before dialing so a bind failure leaves nothing running. A
 * listener handle that failed to bind is closed here; its reference goes
 * in the close callback.
 */
int repl_peers_start(repl_peers_t *ps)
{
    struct sockaddr_storage ss;
    size_t i;
    int rc, port;

    if (ps->ps_started || ps->ps_closing)
        return CAIRN_EINVAL;
    ps->ps_started = 1; /* also on failure: the listener handle may be closing */
    ignore_sigpipe();
    if (ps->ps_listen_port >= 0) {
        rc = listen_addr(ps, &ss);
        if (rc < 0)
            return rc;
        rc = uv_tcp_init(ps->ps_loop, &ps->ps_listener);
        if (rc < 0)
            return rc;
        ps->ps_listener.data = ps;
        ps->ps_listener_init = 1;
        repl__peers_ref(ps);
        rc = uv_tcp_bind(&ps->ps_listener, (const struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&ps->ps_listener, 128, on_connection);
        if (rc < 0) {
            LOG_ERROR("repl.listen.failed", "addr=%s:%d reason=%s", ps->ps_listen_host,
                      ps->ps_listen_port, cairn_errname(rc));
            ps->ps_listener_init = 0;
            uv_close((uv_handle_t *)&ps->ps_listener, on_listener_closed);
            return rc;
        }
        ps->ps_listening = 1;
    }
    if (ps->ps_listening && repl_peers_listen_port(ps, &port) == 0)
        LOG_INFO("repl.peers.started", "node_id=%u peers=%zu listen=%s:%d", (unsigned)ps->ps_self,
                 ps->ps_nlinks, ps->ps_listen_host, port);
    else
        LOG_INFO("repl.peers.started", "node_id=%u peers=%zu listen=-", (unsigned)ps->ps_self,
                 ps->ps_nlinks);
    for (i = 0; i < ps->ps_nlinks; i++)
        repl__link_start(&ps->ps_links[i]);
    return 0;
}

int repl_peers_listen_port(const repl_peers_t *ps, int *port)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    int rc;

    if (!ps->ps_listening || ps->ps_closing)
        return CAIRN_EUNAVAIL;
    rc = uv_tcp_getsockname(&ps->ps_listener, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return rc;
    if (ss.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

uint16_t repl_peers_self_id(const repl_peers_t *ps)
{
    return ps->ps_self;
}

size_t repl_peers_count(const repl_peers_t *ps)
{
    return ps->ps_nlinks;
}

repl_link_t *repl_peers_link_at(repl_peers_t *ps, size_t i)
{
    return i < ps->ps_nlinks ? &ps->ps_links[i] : NULL;
}

repl_link_t *repl_peers_link(repl_peers_t *ps, uint16_t node_id)
{
    size_t i;

    for (i = 0; i < ps->ps_nlinks; i++) {
        if (ps->ps_links[i].l_peer_id == node_id)
            return &ps->ps_links[i];
    }
    return NULL;
}

static void peers_release(repl_peers_t *ps)
{
    repl_auth_free(&ps->ps_auth);
    free(ps->ps_links);
    free(ps);
}

void repl__peers_ref(repl_peers_t *ps)
{
    ps->ps_refs++;
}

/*
 * Drops one handle/request reference. The last one of a closing set
 * completes the close: the closed callback runs, then the memory goes if
 * repl_peers_free asked for it (also when the callback itself did).
 */
void repl__peers_unref(repl_peers_t *ps)
{
    repl_peers_closed_cb cb;

    ps->ps_refs--;
    if (ps->ps_refs > 0 || !ps->ps_closing || ps->ps_closed)
        return;
    ps->ps_closed = 1;
    cb = ps->ps_closed_cb;
    ps->ps_closed_cb = NULL;
    if (cb != NULL) {
        ps->ps_in_finish = 1;
        cb(ps, ps->ps_closed_arg);
        ps->ps_in_finish = 0;
    }
    LOG_DEBUG("repl.peers.closed", "node_id=%u", (unsigned)ps->ps_self);
    if (ps->ps_free_on_close)
        peers_release(ps);
}

/*
 * Order: stop accepting, drop handshakes in progress, then end sessions
 * (on_down) and stop each link's timers. A callback calling close again
 * returns at once; one calling free only marks the set for release.
 */
void repl_peers_close(repl_peers_t *ps, repl_peers_closed_cb cb, void *arg)
{
    size_t i;

    if (ps == NULL || ps->ps_closing)
        return;
    ps->ps_closing = 1;
    ps->ps_closed_cb = cb;
    ps->ps_closed_arg = arg;
    LOG_INFO("repl.peers.closing", "node_id=%u", (unsigned)ps->ps_self);
    /* Hold a reference so completion cannot run in the middle of this function. */
    repl__peers_ref(ps);
    if (ps->ps_listener_init) {
        ps->ps_listener_init = 0;
        ps->ps_listening = 0;
        uv_close((uv_handle_t *)&ps->ps_listener, on_listener_closed);
    }
    while (ps->ps_pending != NULL)
        repl__conn_shutdown(ps->ps_pending);
    for (i = 0; i < ps->ps_nlinks; i++)
        repl__link_shutdown(&ps->ps_links[i]);
    repl__peers_unref(ps);
}

void repl_peers_free(repl_peers_t *ps)
{
    if (ps == NULL)
        return;
    if (ps->ps_closed && !ps->ps_in_finish) {
        peers_release(ps);
        return;
    }
    ps->ps_free_on_close = 1;
    repl_peers_close(ps, NULL, NULL);
}
