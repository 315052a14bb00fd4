/*
 * http_routes.h -- the API's request handlers (node-internal).
 *
 * http_conn.c calls these at the request's milestones; the handlers answer
 * directly or run store work on the thread pool (routes_work) and continue
 * in routes_after_work on the loop thread.
 */
#ifndef CAIRN_NODE_HTTP_ROUTES_H
#define CAIRN_NODE_HTTP_ROUTES_H

#include <stddef.h>

#include "node/http_conn.h"

/* The request head is complete (the parser is paused): route and start. */
void routes_on_head(conn_t *c);

/* Bytes of request body; never more than routes_body_room() allows. */
void routes_on_body(conn_t *c, const char *p, size_t n);

/* How many body bytes the handler can take now (SIZE_MAX: discards). */
size_t routes_body_room(const conn_t *c);

/* The request body is malformed or abusive: fail the request with 400 (an
 * upload is aborted) and stop parsing the connection. */
void routes_body_error(conn_t *c, const char *msg);

/* The whole request (body included) was parsed. */
void routes_on_message_done(conn_t *c);

/* The DATA step being sent with sendfile is fully sent. */
void routes_on_sent(conn_t *c);

/* A reader wake or its deadline. */
void routes_on_wake(conn_t *c);

/* Runs on a pool thread: the store call for c->c_work_op. */
void routes_work(conn_t *c);

/* On the loop thread after routes_work (not called once c is closing). */
void routes_after_work(conn_t *c);

/*
 * c is closing: queues the abort of its writer or the close of its reader.
 * Returns 1 when work was queued (call again after it), 0 when nothing is
 * left to release.
 */
int routes_release(conn_t *c);

/* The node is about to close c (shutdown timeout): a write still waiting
 * for its durability is answered 503 unavailable first (it is committed
 * here; its durability is unknown). Loop thread. */
void routes_shutdown(conn_t *c);

/* Frees the request's handler resources (loop thread, nothing in flight). */
void routes_reset(conn_t *c);

#endif
