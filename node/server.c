/*
 * server.c -- listener, connection list, wakes, sweep timer, signals and
 * clean shutdown (see server.h).
 */
#include "node/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/http_routes.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100

void server_init(server_t *sv, uv_loop_t *loop, const node_config_t *cfg)
{
    memset(sv, 0, sizeof(*sv));
    sv->sv_loop = loop;
    sv->sv_cfg = cfg;
    sv->sv_listen_fd = -1;
    conn_http_settings(&sv->sv_http);
    metrics_init(&sv->sv_metrics);
    pthread_mutex_init(&sv->sv_wake_lock, NULL);
    atomic_init(&sv->sv_repair_reports, 0);
}

int server_bind(server_t *sv, char *err, size_t errlen)
{
    const node_config_t *cfg = sv->sv_cfg;
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int fd = -1, one = 1, rc, saved = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->nc_listen_port);
    rc = getaddrinfo(cfg->nc_listen_host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", cfg->nc_listen_host,
                 gai_strerror(rc));
        return -EINVAL;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->nc_listen_host,
                 cfg->nc_listen_port, strerror(saved != 0 ? saved : EADDRNOTAVAIL));
        return -(saved != 0 ? saved : EADDRNOTAVAIL);
    }
    sv->sv_listen_fd = fd;
    return 0;
}

const char *server_date(server_t *sv)
{
    time_t now = time(NULL);

    if ((int64_t)now != sv->sv_date_sec) {
        sv->sv_date_sec = (int64_t)now;
        http_date((int64_t)now, sv->sv_date);
    }
    return sv->sv_date;
}

/* ----------------------------------------------------------------- accept */

static void on_accept(uv_poll_t *h, int status, int events);

static void on_accept_resume(uv_timer_t *t)
{
    server_t *sv = container_of(t, server_t, sv_accept_pause);

    if (sv->sv_listen_active && !sv->sv_stopping)
        uv_poll_start(&sv->sv_listen_poll, UV_READABLE, on_accept);
}

/* Over --max-connections: a best-effort 503, then close. */
static void reject_conn(server_t *sv, int fd)
{
    static const char body[] = "{\"error\":\"unavailable\",\"message\":\"too many connections\"}\n";
    char resp[512];
    int n;

    sv->sv_metrics.m_conns_rejected++;
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                 sizeof(body) - 1, body);
    if (send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        LOG_DEBUG("http.reject_send_failed", "err=%s", strerror(errno));
    shutdown(fd, SHUT_WR);
    close(fd);
    LOG_DEBUG("http.rejected", "connections=%u", sv->sv_nconns);
}

/* Formats the peer address of a new connection for the logs. */
static void peer_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    server_t *sv = container_of(h, server_t, sv_listen_poll);
    struct sockaddr_storage ss;
    socklen_t sl;
    char peer[80];
    int i, fd, one = 1, rc;

    (void)events;
    if (status < 0 || sv->sv_stopping)
        return;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        sl = sizeof(ss);
        fd = accept4(sv->sv_listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            LOG_WARN("http.accept_failed", "err=%s", strerror(errno));
            /* EMFILE and friends: the pending connection stays queued and the
             * poll would spin; back off briefly. */
            uv_poll_stop(&sv->sv_listen_poll);
            uv_timer_start(&sv->sv_accept_pause, on_accept_resume, ACCEPT_PAUSE_MS, 0);
            break;
        }
        if (sv->sv_nconns >= sv->sv_cfg->nc_max_connections) {
            reject_conn(sv, fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peer_name(&ss, peer, sizeof(peer));
        rc = conn_create(sv, fd, peer);
        if (rc < 0) {
            LOG_WARN("http.conn_create_failed", "err=%s", cairn_strerror(rc));
            close(fd);
        }
    }
}

/* ------------------------------------------------------------ connections */

void server_conn_added(server_t *sv, conn_t *c)
{
    c->c_prev = NULL;
    c->c_next = sv->sv_conns;
    if (sv->sv_conns != NULL)
        sv->sv_conns->c_prev = c;
    sv->sv_conns = c;
    sv->sv_nconns++;
    sv->sv_metrics.m_conns_open++;
    sv->sv_metrics.m_conns_total++;
}

static void maybe_finish(server_t *sv);

void server_conn_removed(server_t *sv, conn_t *c)
{
    if (c->c_prev != NULL)
        c->c_prev->c_next = c->c_next;
    else
        sv->sv_conns = c->c_next;
    if (c->c_next != NULL)
        c->c_next->c_prev = c->c_prev;
    c->c_prev = c->c_next = NULL;
    sv->sv_nconns--;
    sv->sv_metrics.m_conns_open--;
    maybe_finish(sv);
}

/* ------------------------------------------------------------------ wakes */

void server_wake(server_t *sv, conn_t *c)
{
    pthread_mutex_lock(&sv->sv_wake_lock);
    if (!c->c_wake_queued) {
        c->c_wake_queued = 1;
        c->c_wake_next = sv->sv_wake_head;
        sv->sv_wake_head = c;
    }
    pthread_mutex_unlock(&sv->sv_wake_lock);
    uv_async_send(&sv->sv_wake_async);
}

void server_unwake(server_t *sv, conn_t *c)
{
    conn_t **pp;

    pthread_mutex_lock(&sv->sv_wake_lock);
    if (c->c_wake_queued) {
        for (pp = &sv->sv_wake_head; *pp != NULL; pp = &(*pp)->c_wake_next) {
            if (*pp == c) {
                *pp = c->c_wake_next;
                break;
            }
        }
        c->c_wake_queued = 0;
    }
    pthread_mutex_unlock(&sv->sv_wake_lock);
}

/*
 * Delivers queued wakes. Each connection is taken off the list under the
 * lock before it is handled, so a wake arriving meanwhile queues it again
 * (and is delivered by the next async callback). Connections are freed only
 * from callbacks, never inside this loop, and a freed one unwakes itself first.
 */
static void on_wake_async(uv_async_t *a)
{
    server_t *sv = container_of(a, server_t, sv_wake_async);
    conn_t *c;

    for (;;) {
        pthread_mutex_lock(&sv->sv_wake_lock);
        c = sv->sv_wake_head;
        if (c != NULL) {
            sv->sv_wake_head = c->c_wake_next;
            c->c_wake_queued = 0;
            c->c_wake_next = NULL;
        }
        pthread_mutex_unlock(&sv->sv_wake_lock);
        if (c == NULL)
            break;
        conn_on_wake(c);
    }
}

/* ------------------------------------------------------------------ timers */

static void on_sweep(uv_timer_t *t)
{
    server_t *sv = container_of(t, server_t, sv_sweep);
    uint64_t now = uv_now(sv->sv_loop);
    conn_t *c, *next;

    server_date(sv);
    for (c = sv->sv_conns; c != NULL; c = next) {
        next = c->c_next;
        conn_check_timeouts(c, now);
    }
}

/* --------------------------------------------------------------- shutdown */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_listen_closed(uv_handle_t *h)
{
    server_t *sv = container_of((uv_poll_t *)h, server_t, sv_listen_poll);

    if (sv->sv_listen_fd >= 0)
        close(sv->sv_listen_fd);
    sv->sv_listen_fd = -1;
}

/* Once stopping and no connection is left: close every server handle, so uv_run returns. */
static void maybe_finish(server_t *sv)
{
    if (!sv->sv_stopping || sv->sv_nconns > 0 || sv->sv_handles_closed)
        return;
    sv->sv_handles_closed = 1;
    LOG_INFO("node.drained", "aborted=%d", sv->sv_aborting);
    uv_close((uv_handle_t *)&sv->sv_sweep, on_handle_closed);
    uv_close((uv_handle_t *)&sv->sv_shutdown_timer, on_handle_closed);
    uv_close((uv_handle_t *)&sv->sv_accept_pause, on_handle_closed);
    uv_close((uv_handle_t *)&sv->sv_sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&sv->sv_sigint, on_handle_closed);
    uv_close((uv_handle_t *)&sv->sv_wake_async, on_handle_closed);
    if (sv->sv_on_drained != NULL)
        sv->sv_on_drained(sv, sv->sv_drained_arg);
}

/* Closes every connection now (in-flight store work still completes first;
 * a write waiting for its durability is answered 503 first). */
static void abort_all(server_t *sv)
{
    conn_t *c, *next;

    sv->sv_aborting = 1;
    for (c = sv->sv_conns; c != NULL; c = next) {
        next = c->c_next;
        routes_shutdown(c);
        conn_close(c);
    }
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    server_t *sv = container_of(t, server_t, sv_shutdown_timer);

    LOG_WARN("node.shutdown_timeout", "connections=%u", sv->sv_nconns);
    abort_all(sv);
}

void server_stop(server_t *sv)
{
    const node_config_t *cfg = sv->sv_cfg;
    conn_t *c, *next;

    if (sv->sv_stopping) {
        LOG_WARN("node.stop_now", "connections=%u", sv->sv_nconns);
        abort_all(sv);
        return;
    }
    sv->sv_stopping = 1;
    LOG_INFO("node.stopping", "connections=%u timeout_s=%u", sv->sv_nconns,
             cfg->nc_shutdown_timeout_s);
    if (sv->sv_listen_active) {
        sv->sv_listen_active = 0;
        uv_timer_stop(&sv->sv_accept_pause);
        uv_close((uv_handle_t *)&sv->sv_listen_poll, on_listen_closed);
    }
    uv_timer_start(&sv->sv_shutdown_timer, on_shutdown_timeout,
                   (uint64_t)cfg->nc_shutdown_timeout_s * 1000, 0);
    for (c = sv->sv_conns; c != NULL; c = next) {
        next = c->c_next;
        if (conn_is_idle(c))
            conn_close(c);
    }
    maybe_finish(sv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *sv = h->data;

    LOG_INFO("node.signal", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(sv);
}

/* ------------------------------------------------------------------ start */

int server_start(server_t *sv, store_t *store)
{
    uv_loop_t *loop = sv->sv_loop;
    int rc;

    sv->sv_store = store;
    sv->sv_start_ms = uv_now(loop);
    server_date(sv);
    rc = uv_poll_init(loop, &sv->sv_listen_poll, sv->sv_listen_fd);
    if (rc < 0)
        return rc;
    rc = uv_poll_start(&sv->sv_listen_poll, UV_READABLE, on_accept);
    if (rc < 0)
        return rc;
    sv->sv_listen_active = 1;
    uv_timer_init(loop, &sv->sv_accept_pause);
    uv_timer_init(loop, &sv->sv_shutdown_timer);
    uv_timer_init(loop, &sv->sv_sweep);
    uv_timer_start(&sv->sv_sweep, on_sweep, SERVER_SWEEP_MS, SERVER_SWEEP_MS);
    uv_signal_init(loop, &sv->sv_sigterm);
    uv_signal_init(loop, &sv->sv_sigint);
    sv->sv_sigterm.data = sv;
    sv->sv_sigint.data = sv;
    rc = uv_signal_start(&sv->sv_sigterm, on_signal, SIGTERM);
    if (rc == 0)
        rc = uv_signal_start(&sv->sv_sigint, on_signal, SIGINT);
    if (rc == 0)
        rc = uv_async_init(loop, &sv->sv_wake_async, on_wake_async);
    sv->sv_started = 1;
    return rc;
}

void server_destroy(server_t *sv)
{
    if (sv->sv_listen_fd >= 0)
        close(sv->sv_listen_fd);
    sv->sv_listen_fd = -1;
    pthread_mutex_destroy(&sv->sv_wake_lock);
    free(sv->sv_inline_buf);
    sv->sv_inline_buf = NULL;
}

void server_repair_cb(void *arg, const char *key, size_t klen, const store_version_t *version,
                      uint64_t file_id)
{
    server_t *sv = arg;
    char kbuf[256];

    atomic_fetch_add(&sv->sv_repair_reports, 1);
    if (sv->sv_repl == NULL) {
        LOG_WARN("repair.needed",
                 "key=%s version=%" PRIu64 "-%u file_id=%" PRIu64 " fetch=unavailable",
                 log_kv_str(kbuf, sizeof(kbuf), key, klen), version->sv_hlc,
                 (unsigned)version->sv_origin, file_id);
        return;
    }
    LOG_INFO("repair.needed", "key=%s version=%" PRIu64 "-%u file_id=%" PRIu64 " fetch=peers",
             log_kv_str(kbuf, sizeof(kbuf), key, klen), version->sv_hlc,
             (unsigned)version->sv_origin, file_id);
    repl_on_store_repair(sv->sv_repl, key, klen, version, file_id);
}
