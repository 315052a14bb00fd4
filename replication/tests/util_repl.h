/*
 * util_repl.h -- fixtures for replication link tests: a recording peer-set
 * wrapper, a loop driver, log capture and a raw (hand-driven, blocking)
 * peer for misbehaving-client tests.
 */
#ifndef CAIRN_REPL_TEST_UTIL_H
#define CAIRN_REPL_TEST_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "replication/link.h"
#include "replication/peers.h"

#define T_SECRET "test-cluster-secret"

/* ---- loop driver ---- */

typedef int (*t_pred_fn)(void *arg);
/* Runs loop until pred(arg) is true or timeout_ms passes; returns pred's final value. */
int t_run_until(uv_loop_t *loop, t_pred_fn pred, void *arg, uint64_t timeout_ms);
/* Runs loop for ms milliseconds. */
void t_run_for(uv_loop_t *loop, uint64_t ms);
/* Milliseconds on a monotonic clock. */
uint64_t t_now_ms(void);

/* ---- recording node ---- */

typedef struct tnode tnode_t;

struct tnode {
    repl_peers_t *tn_ps;
    uint16_t tn_id;
    int tn_ups, tn_downs, tn_frames, tn_writables;
    int tn_last_down;
    uint64_t tn_up_at_ms, tn_down_at_ms;
    char tn_last_type[16];
    uint64_t tn_last_n;
    uint64_t tn_next_n; /* frames "seq" expected in order (checked when tn_check_seq) */
    int tn_check_seq;
    int tn_seq_errors;
    int tn_closed;
    /* optional hooks */
    void (*tn_on_up)(tnode_t *n, repl_link_t *l);
    int (*tn_on_frame)(tnode_t *n, repl_link_t *l, const char *type, const msgpack_object *msg);
    void (*tn_on_writable)(tnode_t *n, repl_link_t *l);
    void (*tn_on_down)(tnode_t *n, repl_link_t *l, int reason);
    void *tn_arg;
};

/*
 * Creates and starts a node: id self, listening on listen (NULL: none),
 * peers given as "ID@HOST:PORT" strings. tun may be NULL. Asserts on failure.
 */
void tnode_start(tnode_t *n, uv_loop_t *loop, uint16_t self, const char *listen,
                 const char *const *peers, size_t npeers, const char *secret,
                 const repl_link_tuning_t *tun);
int tnode_port(tnode_t *n);
repl_link_t *tnode_link(tnode_t *n, uint16_t peer);
/* Closes the node and waits until it is closed, then frees it. */
void tnode_stop(tnode_t *n, uv_loop_t *loop);

/* Shorter timings for tests. */
repl_link_tuning_t t_fast_tuning(void);

/* Builds {"t":type,"seq":seq,"d":bin(dlen)} into a malloc'ed payload. */
uint8_t *t_payload(const char *type, uint64_t seq, size_t dlen, size_t *len);

/* Closes every handle still on loop, runs it dry and closes it (asserts success). */
void t_loop_finish(uv_loop_t *loop);

/* ---- log capture ---- */

void t_log_capture_start(void);
/* Lines of the captured log containing a (and b when non-NULL). */
int t_log_count(const char *a, const char *b);
void t_log_dump(void);
void t_log_capture_end(void);

/* ---- raw peer (blocking sockets; run in a thread while the loop runs) ---- */

int raw_connect(int port);
int raw_send_all(int fd, const void *p, size_t n);
int raw_send_frame(int fd, const void *payload, size_t len);
/* Reads one frame (payload up to cap). 0, or -1 on EOF / error / timeout. */
int raw_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len);
/* Waits until the peer closes (1) or timeout_ms passes (0), discarding data. */
int raw_wait_eof(int fd, int timeout_ms);
/* Sends a hello claiming node with proto and secret's cluster id; nonce out. */
int raw_send_hello(int fd, const char *secret, uint16_t node, uint64_t proto, uint8_t nonce[32]);
/*
 * Full handshake as node self with the listening node peer: reads its hello,
 * sends ours and a correct auth, reads and verifies its auth. 0 on success.
 */
int raw_handshake(int fd, const char *secret, uint16_t self, uint16_t peer);

typedef struct raw_thread {
    pthread_t rt_thread;
    void (*rt_fn)(struct raw_thread *t);
    int rt_port;
    volatile int rt_done;
    volatile int rt_go;     /* set by the test to release a waiting thread */
    volatile int rt_result; /* whatever the body reports */
    void *rt_arg;
} raw_thread_t;

void raw_thread_start(raw_thread_t *t, int port, void (*fn)(raw_thread_t *t), void *arg);
void raw_thread_join(raw_thread_t *t);
int raw_thread_done(void *t);

#endif
