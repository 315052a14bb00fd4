/*
 * proxy.c -- impairable TCP forwarding between peers (see proxy.h).
 *
 * Per connection two pipes, one per direction. A pipe reads its source into
 * a FIFO of chunks stamped with a due time (arrival + delay) and writes the
 * head to its destination when it is due, when the link is not cut and,
 * under a rate limit, when the token bucket allows; one write at a time.
 * Reading pauses while more than PIPE_HIGH bytes wait, so memory per
 * connection is bounded whatever the impairment.
 */
#include "cluster-tests/proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHUNK_SIZE 65536
#define PIPE_HIGH (1u << 20)
#define RATE_BURST 16384
#define MAX_ROUTES (PROXY_MAX_NODES * PROXY_MAX_NODES)

typedef struct chunk {
    struct chunk *ck_next;
    size_t ck_len, ck_off;
    uint64_t ck_due;
    char ck_data[CHUNK_SIZE];
} chunk_t;

struct conn;

typedef struct ppipe {
    struct conn *pp_conn;
    uv_tcp_t *pp_src, *pp_dst;
    int pp_from, pp_to;
    chunk_t *pp_head, *pp_tail;
    size_t pp_queued;
    int pp_reading, pp_eof, pp_writing, pp_shut;
    size_t pp_inflight;
    double pp_tokens;
    uint64_t pp_last_ms;
    uv_timer_t pp_timer;
    uv_write_t pp_wreq;
    uv_shutdown_t pp_sreq;
} ppipe_t;

typedef struct route {
    struct proxy *rt_p;
    int rt_from, rt_to;
    int rt_listen_port, rt_target_port;
    uv_tcp_t rt_listener;
} route_t;

typedef struct conn {
    struct proxy *cn_p;
    route_t *cn_rt;
    uv_tcp_t cn_down; /* accepted from node rt_from */
    uv_tcp_t cn_up;   /* to node rt_to */
    uv_connect_t cn_creq;
    ppipe_t cn_fwd;  /* down -> up : from -> to */
    ppipe_t cn_back; /* up -> down : to -> from */
    int cn_connected;
    int cn_closing;
    int cn_open_handles;
    struct conn *cn_next, *cn_prev;
} conn_t;

struct proxy {
    int px_n;
    uv_loop_t px_loop;
    uv_async_t px_async;
    pthread_t px_thread;
    int px_started;
    pthread_mutex_t px_lock;
    link_cfg_t px_cfg[PROXY_MAX_NODES + 1][PROXY_MAX_NODES + 1];    /* shared, under px_lock */
    link_cfg_t px_active[PROXY_MAX_NODES + 1][PROXY_MAX_NODES + 1]; /* loop thread's copy */
    int px_reset[PROXY_MAX_NODES + 1][PROXY_MAX_NODES + 1];         /* under px_lock */
    int px_stop;                                                    /* under px_lock */
    uint64_t px_bytes[PROXY_MAX_NODES + 1][PROXY_MAX_NODES + 1];    /* atomic */
    uint64_t px_nconns;                                             /* atomic */
    route_t px_routes[MAX_ROUTES];
    int px_nroutes;
    conn_t *px_conns;
};

static void pump(ppipe_t *pp);
static void conn_close(conn_t *c);

int proxy_new(int nnodes, proxy_t **out)
{
    proxy_t *p;
    int rc;

    *out = NULL;
    if (nnodes < 1 || nnodes > PROXY_MAX_NODES)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->px_n = nnodes;
    rc = uv_loop_init(&p->px_loop);
    if (rc < 0) {
        free(p);
        return rc;
    }
    pthread_mutex_init(&p->px_lock, NULL);
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------- pipes */

static void on_timer(uv_timer_t *t)
{
    pump(t->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    chunk_t *ck = malloc(sizeof(*ck));

    (void)h;
    (void)suggested;
    if (ck == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(ck->ck_data, CHUNK_SIZE);
}

static ppipe_t *pipe_of_src(conn_t *c, uv_stream_t *s)
{
    return (uv_stream_t *)c->cn_fwd.pp_src == s ? &c->cn_fwd : &c->cn_back;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    ppipe_t *pp = pipe_of_src(c, s);
    chunk_t *ck = buf->base != NULL ? (chunk_t *)(buf->base - offsetof(chunk_t, ck_data)) : NULL;
    const link_cfg_t *cfg = &c->cn_p->px_active[pp->pp_from][pp->pp_to];

    if (nread > 0 && ck != NULL) {
        ck->ck_next = NULL;
        ck->ck_len = (size_t)nread;
        ck->ck_off = 0;
        ck->ck_due =
            uv_now(&c->cn_p->px_loop) + (uint64_t)(cfg->lc_delay_ms > 0 ? cfg->lc_delay_ms : 0);
        if (pp->pp_tail != NULL)
            pp->pp_tail->ck_next = ck;
        else
            pp->pp_head = ck;
        pp->pp_tail = ck;
        pp->pp_queued += (size_t)nread;
        pump(pp);
        return;
    }
    free(ck);
    if (nread == UV_EOF) {
        pp->pp_eof = 1;
        pump(pp);
    } else if (nread < 0) {
        conn_close(c);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ppipe_t *pp = req->data;
    conn_t *c = pp->pp_conn;

    if (status < 0 || (c->cn_fwd.pp_shut && c->cn_back.pp_shut))
        conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    ppipe_t *pp = req->data;
    conn_t *c = pp->pp_conn;
    chunk_t *ck = pp->pp_head;

    pp->pp_writing = 0;
    if (c->cn_closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    __atomic_add_fetch(&c->cn_p->px_bytes[pp->pp_from][pp->pp_to], pp->pp_inflight,
                       __ATOMIC_RELAXED);
    ck->ck_off += pp->pp_inflight;
    pp->pp_queued -= pp->pp_inflight;
    pp->pp_inflight = 0;
    if (ck->ck_off == ck->ck_len) {
        pp->pp_head = ck->ck_next;
        if (pp->pp_head == NULL)
            pp->pp_tail = NULL;
        free(ck);
    }
    pump(pp);
}

/* Starts or stops reading the source as the link state and queue allow,
 * then moves the head chunk if it may move now, or arms the timer. */
static void pump(ppipe_t *pp)
{
    conn_t *c = pp->pp_conn;
    const link_cfg_t *cfg = &c->cn_p->px_active[pp->pp_from][pp->pp_to];
    uint64_t now = uv_now(&c->cn_p->px_loop);
    chunk_t *ck = pp->pp_head;
    size_t n;
    uv_buf_t b;

    if (c->cn_closing || !c->cn_connected)
        return;
    if (!cfg->lc_cut && !pp->pp_eof && pp->pp_queued < PIPE_HIGH) {
        if (!pp->pp_reading && uv_read_start((uv_stream_t *)pp->pp_src, on_alloc, on_read) == 0)
            pp->pp_reading = 1;
    } else if (pp->pp_reading) {
        uv_read_stop((uv_stream_t *)pp->pp_src);
        pp->pp_reading = 0;
    }
    if (pp->pp_writing || cfg->lc_cut)
        return;
    if (ck == NULL) {
        if (pp->pp_eof && !pp->pp_shut) {
            pp->pp_shut = 1;
            pp->pp_sreq.data = pp;
            if (uv_shutdown(&pp->pp_sreq, (uv_stream_t *)pp->pp_dst, on_shutdown) < 0)
                conn_close(c);
        }
        return;
    }
    if (ck->ck_due > now) {
        uv_timer_start(&pp->pp_timer, on_timer, ck->ck_due - now, 0);
        return;
    }
    n = ck->ck_len - ck->ck_off;
    if (cfg->lc_rate_bps > 0) {
        double cap =
            (double)cfg->lc_rate_bps / 10 > RATE_BURST ? (double)cfg->lc_rate_bps / 10 : RATE_BURST;
        pp->pp_tokens += (double)(now - pp->pp_last_ms) * (double)cfg->lc_rate_bps / 1000.0;
        pp->pp_last_ms = now;
        if (pp->pp_tokens > cap)
            pp->pp_tokens = cap;
        if (pp->pp_tokens < 1) {
            double need = (double)(n < RATE_BURST ? n : RATE_BURST) - pp->pp_tokens;
            uint64_t wait = (uint64_t)(need * 1000.0 / (double)cfg->lc_rate_bps) + 1;
            uv_timer_start(&pp->pp_timer, on_timer, wait, 0);
            return;
        }
        if ((double)n > pp->pp_tokens)
            n = (size_t)pp->pp_tokens;
        pp->pp_tokens -= (double)n;
    } else {
        pp->pp_last_ms = now;
        pp->pp_tokens = 0;
    }
    b = uv_buf_init(ck->ck_data + ck->ck_off, (unsigned)n);
    pp->pp_inflight = n;
    pp->pp_writing = 1;
    pp->pp_wreq.data = pp;
    if (uv_write(&pp->pp_wreq, (uv_stream_t *)pp->pp_dst, &b, 1, on_write) < 0) {
        pp->pp_writing = 0;
        conn_close(c);
    }
}

/* ---------------------------------------------------------------- connections */

static void pipe_free_chunks(ppipe_t *pp)
{
    while (pp->pp_head != NULL) {
        chunk_t *n = pp->pp_head->ck_next;
        free(pp->pp_head);
        pp->pp_head = n;
    }
    pp->pp_tail = NULL;
}

static void conn_handle_closed(conn_t *c)
{
    if (--c->cn_open_handles > 0)
        return;
    pipe_free_chunks(&c->cn_fwd);
    pipe_free_chunks(&c->cn_back);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_handle_closed(h->data); /* sockets carry their conn */
}

static void on_timer_closed(uv_handle_t *h)
{
    ppipe_t *pp = h->data; /* timers carry their pipe */
    conn_handle_closed(pp->pp_conn);
}

/* Closes both sockets and timers; the conn is freed when all four closed.
 * Safe to call twice. */
static void conn_close(conn_t *c)
{
    proxy_t *p = c->cn_p;

    if (c->cn_closing)
        return;
    c->cn_closing = 1;
    if (c->cn_prev != NULL)
        c->cn_prev->cn_next = c->cn_next;
    else
        p->px_conns = c->cn_next;
    if (c->cn_next != NULL)
        c->cn_next->cn_prev = c->cn_prev;
    uv_close((uv_handle_t *)&c->cn_down, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->cn_up, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->cn_fwd.pp_timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->cn_back.pp_timer, on_timer_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;

    if (c->cn_closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->cn_connected = 1;
    pump(&c->cn_fwd);
    pump(&c->cn_back);
}

static void pipe_init(conn_t *c, ppipe_t *pp, uv_tcp_t *src, uv_tcp_t *dst, int from, int to)
{
    pp->pp_conn = c;
    pp->pp_src = src;
    pp->pp_dst = dst;
    pp->pp_from = from;
    pp->pp_to = to;
    pp->pp_last_ms = uv_now(&c->cn_p->px_loop);
    uv_timer_init(&c->cn_p->px_loop, &pp->pp_timer);
    pp->pp_timer.data = pp;
}

static void on_accept(uv_stream_t *server, int status)
{
    route_t *rt = server->data;
    proxy_t *p = rt->rt_p;
    struct sockaddr_in sa;
    conn_t *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->cn_p = p;
    c->cn_rt = rt;
    uv_tcp_init(&p->px_loop, &c->cn_down);
    uv_tcp_init(&p->px_loop, &c->cn_up);
    c->cn_down.data = c;
    c->cn_up.data = c;
    pipe_init(c, &c->cn_fwd, &c->cn_down, &c->cn_up, rt->rt_from, rt->rt_to);
    pipe_init(c, &c->cn_back, &c->cn_up, &c->cn_down, rt->rt_to, rt->rt_from);
    c->cn_open_handles = 4;
    c->cn_next = p->px_conns;
    if (p->px_conns != NULL)
        p->px_conns->cn_prev = c;
    p->px_conns = c;
    __atomic_add_fetch(&p->px_nconns, 1, __ATOMIC_RELAXED);
    if (uv_accept(server, (uv_stream_t *)&c->cn_down) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->cn_down, 1);
    uv_tcp_nodelay(&c->cn_up, 1);
    uv_ip4_addr("127.0.0.1", rt->rt_target_port, &sa);
    c->cn_creq.data = c;
    if (uv_tcp_connect(&c->cn_creq, &c->cn_up, (const struct sockaddr *)&sa, on_connect) < 0)
        conn_close(c);
}

/* ---------------------------------------------------------------- control */

static void on_async(uv_async_t *a)
{
    proxy_t *p = a->data;
    int stop;
    int reset[PROXY_MAX_NODES + 1][PROXY_MAX_NODES + 1];

    pthread_mutex_lock(&p->px_lock);
    memcpy(p->px_active, p->px_cfg, sizeof(p->px_active));
    memcpy(reset, p->px_reset, sizeof(reset));
    memset(p->px_reset, 0, sizeof(p->px_reset));
    stop = p->px_stop;
    pthread_mutex_unlock(&p->px_lock);

    for (conn_t *c = p->px_conns, *next; c != NULL; c = next) {
        next = c->cn_next;
        if (stop || reset[c->cn_rt->rt_from][c->cn_rt->rt_to]) {
            conn_close(c);
            continue;
        }
        pump(&c->cn_fwd);
        pump(&c->cn_back);
    }
    if (stop) {
        for (int i = 0; i < p->px_nroutes; i++)
            uv_close((uv_handle_t *)&p->px_routes[i].rt_listener, NULL);
        uv_close((uv_handle_t *)&p->px_async, NULL);
    }
}

int proxy_add_route(proxy_t *p, int from, int to, int listen_port, int target_port)
{
    route_t *rt;
    struct sockaddr_in sa;
    int rc;

    if (p->px_started || p->px_nroutes >= MAX_ROUTES || from < 1 || to < 1 || from > p->px_n ||
        to > p->px_n)
        return UV_EINVAL;
    rt = &p->px_routes[p->px_nroutes];
    rt->rt_p = p;
    rt->rt_from = from;
    rt->rt_to = to;
    rt->rt_listen_port = listen_port;
    rt->rt_target_port = target_port;
    rc = uv_tcp_init(&p->px_loop, &rt->rt_listener);
    if (rc < 0)
        return rc;
    rt->rt_listener.data = rt;
    uv_ip4_addr("127.0.0.1", listen_port, &sa);
    rc = uv_tcp_bind(&rt->rt_listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&rt->rt_listener, 64, on_accept);
    if (rc < 0) {
        uv_close((uv_handle_t *)&rt->rt_listener, NULL);
        uv_run(&p->px_loop, UV_RUN_NOWAIT);
        return rc;
    }
    p->px_nroutes++;
    return 0;
}

static void *proxy_thread(void *arg)
{
    proxy_t *p = arg;

    uv_run(&p->px_loop, UV_RUN_DEFAULT);
    return NULL;
}

int proxy_start(proxy_t *p)
{
    int rc;

    rc = uv_async_init(&p->px_loop, &p->px_async, on_async);
    if (rc < 0)
        return rc;
    p->px_async.data = p;
    rc = pthread_create(&p->px_thread, NULL, proxy_thread, p);
    if (rc != 0)
        return -rc;
    p->px_started = 1;
    return 0;
}

static void notify(proxy_t *p)
{
    if (p->px_started)
        uv_async_send(&p->px_async);
    else
        memcpy(p->px_active, p->px_cfg, sizeof(p->px_active));
}

void proxy_set(proxy_t *p, int from, int to, const link_cfg_t *cfg)
{
    if (from < 1 || to < 1 || from > p->px_n || to > p->px_n)
        return;
    pthread_mutex_lock(&p->px_lock);
    p->px_cfg[from][to] = *cfg;
    if (!p->px_started)
        memcpy(p->px_active, p->px_cfg, sizeof(p->px_active));
    pthread_mutex_unlock(&p->px_lock);
    notify(p);
}

void proxy_get(proxy_t *p, int from, int to, link_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (from < 1 || to < 1 || from > p->px_n || to > p->px_n)
        return;
    pthread_mutex_lock(&p->px_lock);
    *cfg = p->px_cfg[from][to];
    pthread_mutex_unlock(&p->px_lock);
}

void proxy_heal(proxy_t *p)
{
    pthread_mutex_lock(&p->px_lock);
    memset(p->px_cfg, 0, sizeof(p->px_cfg));
    if (!p->px_started)
        memset(p->px_active, 0, sizeof(p->px_active));
    pthread_mutex_unlock(&p->px_lock);
    notify(p);
}

int proxy_impaired(proxy_t *p)
{
    int any = 0;

    pthread_mutex_lock(&p->px_lock);
    for (int i = 1; i <= p->px_n; i++) {
        for (int j = 1; j <= p->px_n; j++) {
            const link_cfg_t *c = &p->px_cfg[i][j];
            if (c->lc_cut || c->lc_delay_ms > 0 || c->lc_rate_bps > 0)
                any = 1;
        }
    }
    pthread_mutex_unlock(&p->px_lock);
    return any;
}

void proxy_reset(proxy_t *p, int a, int b)
{
    if (a < 1 || b < 1 || a > p->px_n || b > p->px_n)
        return;
    pthread_mutex_lock(&p->px_lock);
    p->px_reset[a][b] = 1;
    p->px_reset[b][a] = 1;
    pthread_mutex_unlock(&p->px_lock);
    notify(p);
}

uint64_t proxy_bytes(proxy_t *p, int from, int to)
{
    if (from < 1 || to < 1 || from > p->px_n || to > p->px_n)
        return 0;
    return __atomic_load_n(&p->px_bytes[from][to], __ATOMIC_RELAXED);
}

uint64_t proxy_connections(proxy_t *p)
{
    return __atomic_load_n(&p->px_nconns, __ATOMIC_RELAXED);
}

void proxy_free(proxy_t *p)
{
    if (p == NULL)
        return;
    if (p->px_started) {
        pthread_mutex_lock(&p->px_lock);
        p->px_stop = 1;
        pthread_mutex_unlock(&p->px_lock);
        uv_async_send(&p->px_async);
        pthread_join(p->px_thread, NULL);
    } else {
        for (int i = 0; i < p->px_nroutes; i++)
            uv_close((uv_handle_t *)&p->px_routes[i].rt_listener, NULL);
        uv_run(&p->px_loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&p->px_loop);
    pthread_mutex_destroy(&p->px_lock);
    free(p);
}
