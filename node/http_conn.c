/*
 * http_conn.c -- one HTTP/1.1 connection on a raw non-blocking socket
 * watched by a uv_poll_t (see http_conn.h).
 *
 * Flow control: the socket is read only while the connection can hold the
 * bytes (CONN_IN_CAP of unparsed input), the parser is fed only as much
 * body as the handler can take (routes_body_room), and output is written
 * only when the socket is writable. So a slow or stalled client, in either
 * direction, costs a bounded amount of memory.
 *
 * Pipelining: the parser pauses at the end of every request head (the
 * handler starts) and at the end of every message (the next request waits
 * until this one's response is out), so requests are served strictly in
 * order.
 */
#include "node/http_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/http_routes.h"
#include "node/server.h"

static void conn_release(conn_t *c);
static void update_poll(conn_t *c);

uint64_t conn_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t loop_now(const conn_t *c)
{
    return uv_now(c->c_srv->sv_loop);
}

/* ------------------------------------------------------------ requests */

/* Zeroes rq for a new request; its buffers start empty. */
static void request_init(request_t *rq)
{
    memset(rq, 0, sizeof(*rq));
    buf_init(&rq->rq_hbuf, CONN_HEAD_MAX + 256);
    buf_init(&rq->rq_body, CONN_OUT_CAP);
    rq->rq_hcur = -1;
    rq->rq_clen = -1;
    rq->rq_send_fd = -1;
    rq->rq_method = -1;
    rq->rq_route = ROUTE_OTHER;
}

static void request_free(request_t *rq)
{
    buf_free(&rq->rq_hbuf);
    buf_free(&rq->rq_body);
}

const char *conn_hdr(const conn_t *c, int hdr, size_t *len)
{
    const request_t *rq = &c->c_rq;
    const hdr_span_t *h = &rq->rq_hdr[hdr];

    if (!h->hs_present)
        return NULL;
    *len = h->hs_len;
    return rq->rq_hbuf.b_data != NULL ? rq->rq_hbuf.b_data + h->hs_off : "";
}

static metrics_method_t method_of(int m)
{
    switch (m) {
    case HTTP_GET:
        return MMETHOD_GET;
    case HTTP_HEAD:
        return MMETHOD_HEAD;
    case HTTP_PUT:
        return MMETHOD_PUT;
    case HTTP_DELETE:
        return MMETHOD_DELETE;
    default:
        return MMETHOD_OTHER;
    }
}

/*
 * Whether a finished request's line is logged at info rather than debug:
 * aborted requests, errors other than a plain 404 miss, and slow requests.
 * Every other request (the bulk of a busy node) is a debug line, so the
 * default level costs no write(2) per request; the metrics count them all.
 */
static int log_request_notable(const request_t *rq, double secs)
{
    if (rq->rq_status == 0 || (rq->rq_status >= 400 && rq->rq_status != 404))
        return 1;
    return secs * 1000.0 >= CONN_LOG_SLOW_MS;
}

/* Writes the request's log line (see log_request_notable) and counts it (once). */
static void log_request(conn_t *c)
{
    request_t *rq = &c->c_rq;
    log_level_t level;
    double secs;

    if (rq->rq_logged || !rq->rq_started)
        return;
    rq->rq_logged = 1;
    secs = (double)(uv_hrtime() - rq->rq_start_ns) / 1e9;
    if (rq->rq_status != 0)
        metrics_request(&c->c_srv->sv_metrics, rq->rq_route, method_of(rq->rq_method),
                        rq->rq_status, secs);
    level = log_request_notable(rq, secs) ? LOG_INFO : LOG_DEBUG;
    if (!log_enabled(level))
        return;
    log_event(
        level, "http.request",
        "conn=%" PRIu64 " method=%s route=%s key_len=%zu status=%d bytes_in=%" PRIu64
        " bytes_out=%" PRIu64 " ms=%.3f%s%s%s",
        c->c_id, rq->rq_method >= 0 ? llhttp_method_name((llhttp_method_t)rq->rq_method) : "-",
        metrics_route_name(rq->rq_route), rq->rq_klen, rq->rq_status, rq->rq_bytes_in,
        rq->rq_bytes_out, secs * 1000.0, rq->rq_err_code != NULL ? " error=" : "",
        rq->rq_err_code != NULL ? rq->rq_err_code : "", rq->rq_status == 0 ? " aborted=1" : "");
}

/* ------------------------------------------------------- llhttp callbacks */

static const char *const tracked_headers[HDR_COUNT] = {
    "content-type", "expect", "authorization", "range", "if-match", "if-none-match",
};

static int on_message_begin(llhttp_t *p)
{
    conn_t *c = p->data;
    request_t *rq = &c->c_rq;

    rq->rq_started = 1;
    rq->rq_start_ns = uv_hrtime();
    rq->rq_start_ms = loop_now(c);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    conn_t *c = p->data;

    if (buf_append(&c->c_rq.rq_hbuf, at, n) < 0) {
        c->c_rq.rq_too_large = 1;
        return HPE_USER;
    }
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    conn_t *c = p->data;

    c->c_rq.rq_url_len = c->c_rq.rq_hbuf.b_len;
    return 0;
}

/* RFC 9110 tchar: what a header field name may contain (llhttp 8 lets blanks through). */
static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    request_t *rq = &((conn_t *)p->data)->c_rq;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)at[i])) {
            llhttp_set_error_reason(p, "Invalid character in header name");
            return HPE_USER;
        }
    }
    if (rq->rq_head_done)
        return 0; /* chunked trailers are ignored */
    if (rq->rq_hname_len + n >= sizeof(rq->rq_hname)) {
        rq->rq_hname_long = 1;
        return 0;
    }
    memcpy(rq->rq_hname + rq->rq_hname_len, at, n);
    rq->rq_hname_len += n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    request_t *rq = &((conn_t *)p->data)->c_rq;
    int i;

    if (rq->rq_head_done)
        return 0;
    rq->rq_hcur = -1;
    if (!rq->rq_hname_long) {
        for (i = 0; i < HDR_COUNT; i++) {
            if (http_span_ieq(rq->rq_hname, rq->rq_hname_len, tracked_headers[i])) {
                rq->rq_hcur = i;
                break;
            }
        }
    }
    if (rq->rq_hcur >= 0 && rq->rq_hdr[rq->rq_hcur].hs_present) {
        rq->rq_hdr_dup = 1;
        rq->rq_hcur = -1;
    }
    rq->rq_hval_off = rq->rq_hbuf.b_len;
    rq->rq_hname_len = 0;
    rq->rq_hname_long = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    request_t *rq = &c->c_rq;

    if (rq->rq_head_done || rq->rq_hcur < 0)
        return 0;
    if (buf_append(&rq->rq_hbuf, at, n) < 0) {
        rq->rq_too_large = 1;
        return HPE_USER;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    request_t *rq = &((conn_t *)p->data)->c_rq;
    hdr_span_t *h;
    size_t off, len;
    const char *v;

    if (rq->rq_head_done || rq->rq_hcur < 0)
        return 0;
    h = &rq->rq_hdr[rq->rq_hcur];
    off = rq->rq_hval_off;
    len = rq->rq_hbuf.b_len - off;
    v = rq->rq_hbuf.b_data != NULL ? rq->rq_hbuf.b_data : "";
    while (len > 0 && (v[off] == ' ' || v[off] == '\t')) {
        off++;
        len--;
    }
    while (len > 0 && (v[off + len - 1] == ' ' || v[off + len - 1] == '\t'))
        len--;
    h->hs_off = (uint32_t)off;
    h->hs_len = (uint32_t)len;
    h->hs_present = 1;
    rq->rq_hcur = -1;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    conn_t *c = p->data;

    c->c_rq.rq_head_done = 1;
    c->c_pause_head = 1;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    conn_t *c = p->data;

    c->c_rq.rq_bytes_in += n;
    c->c_srv->sv_metrics.m_bytes_in += n;
    routes_on_body(c, at, n);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn_t *c = p->data;

    c->c_rq.rq_msg_done = 1;
    c->c_pause_head = 0;
    return HPE_PAUSED;
}

void conn_http_settings(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_url_complete = on_url_complete;
    s->on_header_field = on_header_field;
    s->on_header_field_complete = on_header_field_complete;
    s->on_header_value = on_header_value;
    s->on_header_value_complete = on_header_value_complete;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}

/* ------------------------------------------------------------- responses */

int conn_will_close(const conn_t *c)
{
    const request_t *rq = &c->c_rq;

    if (rq->rq_close_after || rq->rq_parse_stop || c->c_peer_eof || c->c_srv->sv_stopping)
        return 1;
    return rq->rq_head_done && !llhttp_should_keep_alive(&c->c_parser);
}

int conn_body_pending(const conn_t *c)
{
    const request_t *rq = &c->c_rq;
    const llhttp_t *p = &c->c_parser;

    if (rq->rq_msg_done)
        return 0;
    if (!rq->rq_head_done)
        return 1;
    if (p->flags & F_CHUNKED)
        return 1;
    return (p->flags & F_CONTENT_LENGTH) && p->content_length > 0;
}

void conn_stop_parsing(conn_t *c)
{
    c->c_rq.rq_parse_stop = 1;
    c->c_rq.rq_close_after = 1;
}

/* Appends the NUL-terminated s to o (0 or a buf error). */
static int out_str(buf_t *o, const char *s)
{
    return buf_append(o, s, strlen(s));
}

/*
 * See http_conn.h. Formatted with plain appends rather than printf: this
 * runs once per response. On failure (the head does not fit c_out's cap)
 * c_out may hold part of it; the caller closes the connection.
 */
int conn_head(conn_t *c, int status, const char *ctype, int has_len, uint64_t len,
              const char *extra)
{
    request_t *rq = &c->c_rq;
    buf_t *o = &c->c_out;
    char num[21];
    size_t n;
    int rc;

    if (rq->rq_status != 0)
        return CAIRN_EEXIST; /* a response head was already queued */
    rq->rq_status = status;
    n = http_u64_str(status >= 0 ? (uint64_t)status : 0, num);
    rc = buf_append(o, "HTTP/1.1 ", 9);
    if (rc == 0)
        rc = buf_append(o, num, n);
    if (rc == 0)
        rc = buf_append(o, " ", 1);
    if (rc == 0)
        rc = out_str(o, http_status_reason(status));
    if (rc == 0)
        rc = buf_append(o, "\r\nDate: ", 8);
    if (rc == 0)
        rc = out_str(o, server_date(c->c_srv));
    if (rc == 0)
        rc = buf_append(o, "\r\n", 2);
    if (rc == 0 && ctype != NULL) {
        rc = buf_append(o, "Content-Type: ", 14);
        if (rc == 0)
            rc = out_str(o, ctype);
        if (rc == 0)
            rc = buf_append(o, "\r\n", 2);
    }
    if (rc == 0 && has_len) {
        n = http_u64_str(len, num);
        rc = buf_append(o, "Content-Length: ", 16);
        if (rc == 0)
            rc = buf_append(o, num, n);
        if (rc == 0)
            rc = buf_append(o, "\r\n", 2);
    }
    if (rc == 0 && extra != NULL)
        rc = out_str(o, extra);
    if (rc == 0 && conn_will_close(c))
        rc = buf_append(o, "Connection: close\r\n", 19);
    else if (rc == 0 && llhttp_get_http_minor(&c->c_parser) == 0)
        rc = buf_append(o, "Connection: keep-alive\r\n", 24);
    if (rc == 0)
        rc = buf_append(o, "\r\n", 2);
    return rc;
}

void conn_respond(conn_t *c, int status, const char *ctype, const char *extra, const char *body,
                  size_t blen)
{
    request_t *rq = &c->c_rq;
    int no_body = status == 204 || status == 304;
    int rc;

    rc = conn_head(c, status, ctype, !no_body, no_body ? 0 : blen, extra);
    if (rc == CAIRN_EEXIST) {
        LOG_DEBUG("http.double_response", "conn=%" PRIu64 " status=%d", c->c_id, status);
        return;
    }
    if (rc == 0 && body != NULL && blen > 0 && !no_body && rq->rq_method != HTTP_HEAD)
        rc = buf_append(&c->c_out, body, blen);
    rq->rq_resp_final = 1;
    if (rc < 0) {
        LOG_ERROR("http.response_too_large", "conn=%" PRIu64 " status=%d len=%zu", c->c_id, status,
                  blen);
        conn_close(c);
    }
}

void conn_respond_error(conn_t *c, int status, const char *code, const char *message,
                        const char *extra)
{
    request_t *rq = &c->c_rq;
    char hdrs[512];
    buf_t body;

    if (rq->rq_status != 0) {
        /* The head is out already: the only way to signal is to close. */
        conn_stop_parsing(c);
        return;
    }
    if (conn_body_pending(c))
        conn_stop_parsing(c);
    snprintf(hdrs, sizeof(hdrs), "%s%s", status == 503 ? "Retry-After: 1\r\n" : "",
             extra != NULL ? extra : "");
    rq->rq_err_code = code;
    buf_init(&body, 8192);
    if (http_error_json(&body, code, message) < 0) {
        buf_reset(&body);
        buf_appendf(&body, "{\"error\":\"%s\"}\n", code);
    }
    conn_respond(c, status, "application/json", hdrs, body.b_data, body.b_len);
    buf_free(&body);
}

void conn_respond_rc(conn_t *c, int rc, const char *message)
{
    const char *code;
    int status;

    http_error_for_rc(rc, &status, &code);
    conn_respond_error(c, status, code, message, NULL);
}

void conn_send_continue(conn_t *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";

    if (buf_append(&c->c_out, line, sizeof(line) - 1) < 0)
        conn_close(c);
}

/* ----------------------------------------------------------------- output */

/* Counts n bytes sent. */
static void account_out(conn_t *c, size_t n)
{
    c->c_rq.rq_bytes_out += n;
    c->c_srv->sv_metrics.m_bytes_out += n;
    c->c_last_progress_ms = loop_now(c);
}

/*
 * Writes pending c_out bytes until done or EAGAIN. Returns 0 or -errno
 * (the connection is broken). *progress is set when bytes went out.
 */
static int flush_out(conn_t *c, int *progress)
{
    buf_t *o = &c->c_out;
    ssize_t n;
    int flags;

    while (c->c_out_off < o->b_len) {
        flags = MSG_NOSIGNAL | (c->c_out_more ? MSG_MORE : 0);
        n = send(c->c_fd, o->b_data + c->c_out_off, o->b_len - c->c_out_off, flags);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        c->c_out_off += (size_t)n;
        account_out(c, (size_t)n);
        *progress = 1;
    }
    if (o->b_alloc > 64 * 1024)
        buf_free(o);
    else
        buf_reset(o);
    c->c_out_off = 0;
    c->c_out_more = 0;
    return 0;
}

static int out_pending(const conn_t *c)
{
    return c->c_out_off < c->c_out.b_len;
}

/*
 * One sendfile(2) of the current DATA step (at most CONN_SENDFILE_CHUNK).
 * Returns 0 or -errno; *sent gets the byte count.
 */
static int send_file(conn_t *c, size_t *sent)
{
    request_t *rq = &c->c_rq;
    size_t chunk =
        rq->rq_send_left > CONN_SENDFILE_CHUNK ? CONN_SENDFILE_CHUNK : (size_t)rq->rq_send_left;
    off_t off = (off_t)rq->rq_send_off;
    ssize_t n;

    *sent = 0;
    n = sendfile(c->c_fd, rq->rq_send_fd, &off, chunk);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return -errno;
    }
    if (n == 0)
        return -EIO; /* the file is shorter than the store said */
    rq->rq_send_off += (uint64_t)n;
    rq->rq_send_left -= (uint64_t)n;
    rq->rq_consumed += (uint64_t)n;
    account_out(c, (size_t)n);
    *sent = (size_t)n;
    if (rq->rq_send_left == 0)
        routes_on_sent(c);
    return 0;
}

/* ------------------------------------------------------------------ input */

static int want_read(const conn_t *c)
{
    if (c->c_closing || c->c_peer_eof || c->c_rq.rq_parse_stop)
        return 0;
    return c->c_in == NULL || c->c_in_len - c->c_in_off < CONN_IN_CAP;
}

/* Reads what fits into c_in. Returns 0 or -errno (connection broken). */
static int read_input(conn_t *c)
{
    ssize_t n;

    if (c->c_in == NULL) {
        c->c_in = malloc(CONN_IN_CAP);
        if (c->c_in == NULL)
            return -ENOMEM;
        c->c_in_off = 0;
        c->c_in_len = 0;
    }
    if (c->c_in_off > 0) {
        memmove(c->c_in, c->c_in + c->c_in_off, c->c_in_len - c->c_in_off);
        c->c_in_len -= c->c_in_off;
        c->c_in_off = 0;
    }
    if (c->c_in_len >= CONN_IN_CAP)
        return 0;
    for (;;) {
        n = recv(c->c_fd, c->c_in + c->c_in_len, CONN_IN_CAP - c->c_in_len, 0);
        if (n > 0) {
            c->c_in_len += (size_t)n;
            c->c_last_progress_ms = loop_now(c);
            return 0;
        }
        if (n == 0) {
            c->c_peer_eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

/* Answers a request whose head broke a limit or the protocol, then closes. */
static void head_error(conn_t *c, int status, const char *code, const char *msg)
{
    request_t *rq = &c->c_rq;

    if (!rq->rq_started) {
        rq->rq_started = 1;
        rq->rq_start_ns = uv_hrtime();
        rq->rq_start_ms = loop_now(c);
    }
    if (rq->rq_method < 0 && rq->rq_url_len > 0)
        rq->rq_method = c->c_parser.method; /* the request line was parsed */
    conn_stop_parsing(c);
    LOG_DEBUG("http.bad_request", "conn=%" PRIu64 " status=%d reason=\"%s\"", c->c_id, status, msg);
    conn_respond_error(c, status, code, msg, NULL);
}

/* The parser failed with err: answer (when still possible) and close after. */
static void parse_error(conn_t *c, llhttp_errno_t err)
{
    request_t *rq = &c->c_rq;
    char msg[256];

    if (rq->rq_too_large) {
        head_error(c, 431, "header_too_large", "request line and headers exceed 16 KiB");
        return;
    }
    snprintf(msg, sizeof(msg), "malformed HTTP request: %s (%s)", llhttp_errno_name(err),
             llhttp_get_error_reason(&c->c_parser) != NULL ? llhttp_get_error_reason(&c->c_parser)
                                                           : "?");
    if (rq->rq_head_done) {
        /* A broken body: the handler must not complete the request. */
        routes_body_error(c, msg);
        return;
    }
    head_error(c, 400, "bad_request", msg);
}

/*
 * Feeds unparsed input to llhttp within the limits (head size, handler
 * room) and handles the pauses. Returns 1 when anything happened.
 */
static int parse_input(conn_t *c)
{
    static const char empty[1] = {0};
    request_t *rq = &c->c_rq;
    llhttp_errno_t err;
    const char *data;
    size_t len, lim, used, room;
    uint64_t in_before, framing;
    int did = 0, head_before;

    for (;;) {
        if (c->c_closing || rq->rq_parse_stop || rq->rq_msg_done)
            return did;
        data = c->c_in != NULL ? c->c_in + c->c_in_off : empty;
        len = c->c_in != NULL ? c->c_in_len - c->c_in_off : 0;
        lim = len;
        head_before = rq->rq_head_done;
        if (!head_before) {
            if (lim > CONN_HEAD_MAX + 1 - rq->rq_head_bytes)
                lim = CONN_HEAD_MAX + 1 - rq->rq_head_bytes;
        } else {
            room = routes_body_room(c);
            if (lim > room)
                lim = room;
        }
        if (lim == 0 && !c->c_need_exec)
            return did;
        c->c_need_exec = 0;
        c->c_pause_head = 0;
        in_before = rq->rq_bytes_in;
        err = llhttp_execute(&c->c_parser, data, lim);
        if (err == HPE_OK)
            used = lim;
        else
            used = (size_t)(llhttp_get_error_pos(&c->c_parser) - data);
        if (used > lim)
            used = lim;
        if (c->c_in != NULL)
            c->c_in_off += used;
        if (!head_before)
            rq->rq_head_bytes += used;
        if (used > 0)
            did = 1;
        if (head_before) {
            /*
             * Chunk-size lines, extensions and trailers are bounded like a
             * head: at most CONN_HEAD_MAX in a row without content, and in
             * all at most CONN_HEAD_MAX plus 8 bytes per content byte (the
             * cost of 1-byte chunks), so they cannot stream unbounded.
             */
            framing = used - (rq->rq_bytes_in - in_before);
            rq->rq_frame_total += framing;
            rq->rq_frame_run = rq->rq_bytes_in > in_before ? framing : rq->rq_frame_run + framing;
            if (rq->rq_frame_run > CONN_HEAD_MAX ||
                rq->rq_frame_total > CONN_HEAD_MAX + 8 * rq->rq_bytes_in) {
                routes_body_error(c, "chunk extensions or trailers exceed 16 KiB");
                return 1;
            }
        }
        if (err == HPE_OK) {
            if (!rq->rq_head_done && rq->rq_head_bytes > CONN_HEAD_MAX) {
                head_error(c, 431, "header_too_large", "request line and headers exceed 16 KiB");
                return 1;
            }
            if (used == 0)
                return did;
            continue;
        }
        did = 1;
        if (err == HPE_PAUSED && c->c_pause_head) {
            llhttp_resume(&c->c_parser);
            routes_on_head(c);
            c->c_need_exec = 1; /* a body-less request completes with no more input */
            continue;
        }
        if (err == HPE_PAUSED) {
            routes_on_message_done(c);
            return 1;
        }
        parse_error(c, err);
        return 1;
    }
}

/* ------------------------------------------------------------- lifecycle */

static int request_finished(const conn_t *c)
{
    const request_t *rq = &c->c_rq;

    return rq->rq_started && rq->rq_resp_final && !out_pending(c) && rq->rq_send_left == 0 &&
           !c->c_work_busy && rq->rq_writer == NULL && rq->rq_reader == NULL &&
           (rq->rq_msg_done || rq->rq_parse_stop);
}

/* Half-closes, then reads and drops what the client still sends for a while,
 * so the response is not destroyed by a reset; then closes. */
static void conn_linger(conn_t *c)
{
    if (c->c_peer_eof) {
        conn_close(c);
        return;
    }
    shutdown(c->c_fd, SHUT_WR);
    c->c_lingering = 1;
    c->c_linger_deadline_ms = loop_now(c) + CONN_LINGER_MS;
    c->c_linger_bytes = 0;
    free(c->c_in);
    c->c_in = NULL;
    c->c_in_off = c->c_in_len = 0;
}

static void linger_read(conn_t *c)
{
    char scratch[16384];
    ssize_t n;

    for (;;) {
        n = recv(c->c_fd, scratch, sizeof(scratch), 0);
        if (n > 0) {
            c->c_linger_bytes += (uint64_t)n;
            if (c->c_linger_bytes > CONN_LINGER_BYTES) {
                conn_close(c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c); /* EOF or error */
        return;
    }
}

/* The response is out: log, then keep the connection for the next request or close it. */
static void finish_request(conn_t *c)
{
    request_t *rq = &c->c_rq;
    int keep;

    log_request(c);
    keep = !rq->rq_close_after && !rq->rq_parse_stop && rq->rq_msg_done &&
           llhttp_should_keep_alive(&c->c_parser) && !c->c_srv->sv_stopping;
    routes_reset(c);
    request_free(rq);
    request_init(rq);
    if (!keep) {
        conn_linger(c);
        return;
    }
    c->c_need_exec = 0;
    llhttp_resume(&c->c_parser); /* paused at the end of the message */
    c->c_last_progress_ms = loop_now(c);
    if (c->c_in != NULL && c->c_in_off == c->c_in_len) {
        free(c->c_in);
        c->c_in = NULL;
        c->c_in_off = c->c_in_len = 0;
    }
}

/* After a peer EOF: close once nothing more can happen on this connection. */
static void check_peer_eof(conn_t *c)
{
    const request_t *rq = &c->c_rq;
    size_t unparsed = c->c_in != NULL ? c->c_in_len - c->c_in_off : 0;

    if (!c->c_peer_eof || c->c_closing || c->c_lingering)
        return;
    if (!rq->rq_started && unparsed == 0) {
        conn_close(c);
        return;
    }
    if (rq->rq_dur_waiting) {
        /* The client left while its committed write waited for acks (like
         * nginx, an EOF before the response counts as the client gone):
         * closing cancels the wait; the change stays and keeps replicating. */
        LOG_INFO("http.client_gone", "conn=%" PRIu64 " waiting=durability", c->c_id);
        conn_close(c);
        return;
    }
    if (rq->rq_started && !rq->rq_msg_done && !rq->rq_parse_stop && unparsed == 0 &&
        !c->c_need_exec) {
        /* The request can never complete (e.g. an upload cut short). */
        LOG_INFO("http.client_gone", "conn=%" PRIu64 " bytes_in=%" PRIu64, c->c_id,
                 rq->rq_bytes_in);
        conn_close(c);
    }
}

void conn_pump(conn_t *c)
{
    request_t *rq = &c->c_rq;
    size_t budget = 2 * (size_t)CONN_SENDFILE_CHUNK;
    size_t sent;
    int progress, rc;

    for (;;) {
        if (c->c_closing || c->c_lingering)
            break;
        progress = 0;
        rc = flush_out(c, &progress);
        if (rc < 0) {
            LOG_DEBUG("http.write_failed", "conn=%" PRIu64 " err=%s", c->c_id, strerror(-rc));
            conn_close(c);
            return;
        }
        if (!out_pending(c) && rq->rq_send_left > 0 && !c->c_work_busy && budget > 0) {
            rc = send_file(c, &sent);
            if (rc < 0) {
                if (rc == -EPIPE || rc == -ECONNRESET) /* the client went away */
                    LOG_DEBUG("http.sendfile_failed", "conn=%" PRIu64 " err=%s", c->c_id,
                              strerror(-rc));
                else
                    LOG_WARN("http.sendfile_failed", "conn=%" PRIu64 " err=%s", c->c_id,
                             strerror(-rc));
                conn_close(c);
                return;
            }
            if (sent > 0) {
                progress = 1;
                budget = sent >= budget ? 0 : budget - sent;
            }
        }
        if (request_finished(c)) {
            finish_request(c);
            continue;
        }
        if (parse_input(c))
            progress = 1;
        if (!progress)
            break;
    }
    if (c->c_closing)
        return;
    check_peer_eof(c);
    update_poll(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    conn_t *c = container_of(h, conn_t, c_poll);
    int rc;

    if (c->c_closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->c_lingering) {
        linger_read(c);
        if (!c->c_closing)
            update_poll(c);
        return;
    }
    if ((events & UV_READABLE) && want_read(c)) {
        rc = read_input(c);
        if (rc < 0) {
            LOG_DEBUG("http.read_failed", "conn=%" PRIu64 " err=%s", c->c_id, strerror(-rc));
            conn_close(c);
            return;
        }
    }
    conn_pump(c);
}

static void update_poll(conn_t *c)
{
    const request_t *rq = &c->c_rq;
    int ev = 0;

    if (c->c_closing)
        return;
    if (c->c_lingering) {
        ev = UV_READABLE;
    } else {
        if (want_read(c))
            ev |= UV_READABLE;
        if (out_pending(c) || (rq->rq_send_left > 0 && !c->c_work_busy))
            ev |= UV_WRITABLE;
    }
    if (ev == c->c_events)
        return;
    if (ev == 0)
        uv_poll_stop(&c->c_poll);
    else if (uv_poll_start(&c->c_poll, ev, on_poll) < 0) {
        conn_close(c);
        return;
    }
    c->c_events = ev;
}

/* ------------------------------------------------------------------- work */

static void work_cb(uv_work_t *w)
{
    conn_t *c = container_of(w, conn_t, c_work);

    routes_work(c);
}

static void after_work_cb(uv_work_t *w, int status)
{
    conn_t *c = container_of(w, conn_t, c_work);

    (void)status; /* work is never cancelled */
    c->c_work_busy = 0;
    if (c->c_closing) {
        conn_release(c);
        return;
    }
    routes_after_work(c);
    conn_pump(c);
}

int conn_queue_work(conn_t *c, work_op_t op)
{
    int rc;

    c->c_work_op = op;
    c->c_work_busy = 1;
    rc = uv_queue_work(c->c_srv->sv_loop, &c->c_work, work_cb, after_work_cb);
    if (rc < 0)
        c->c_work_busy = 0;
    return rc;
}

/* ------------------------------------------------------------ wakes, time */

void conn_wake(void *arg)
{
    conn_t *c = arg;

    server_wake(c->c_srv, c);
}

void conn_on_wake(conn_t *c)
{
    if (c->c_closing)
        return;
    routes_on_wake(c);
    conn_pump(c);
}

int conn_is_idle(const conn_t *c)
{
    return c->c_lingering || (!c->c_rq.rq_started && !c->c_work_busy && !out_pending(c));
}

/* A client-side timeout: 408 when nothing was answered yet, else close. */
static void conn_timeout(conn_t *c, const char *what)
{
    request_t *rq = &c->c_rq;

    c->c_srv->sv_metrics.m_timeouts++;
    LOG_INFO("http.timeout", "conn=%" PRIu64 " what=%s bytes_in=%" PRIu64, c->c_id, what,
             rq->rq_bytes_in);
    if (!rq->rq_head_done && rq->rq_status == 0 && !out_pending(c)) {
        if (rq->rq_method < 0 && rq->rq_url_len > 0)
            rq->rq_method = c->c_parser.method; /* the request line was parsed */
        conn_stop_parsing(c);
        conn_respond_error(c, 408, "request_timeout",
                           "request line and headers did not arrive within --header-timeout", NULL);
        c->c_last_progress_ms = loop_now(c);
        conn_pump(c);
        return;
    }
    conn_close(c);
}

void conn_check_timeouts(conn_t *c, uint64_t now)
{
    const node_config_t *cfg = c->c_srv->sv_cfg;
    request_t *rq = &c->c_rq;
    uint64_t idle_ms = (uint64_t)cfg->nc_idle_timeout_s * 1000;
    uint64_t header_ms = (uint64_t)cfg->nc_header_timeout_s * 1000;
    size_t unparsed;
    int stalled;

    if (c->c_closing)
        return;
    if (c->c_lingering) {
        if (now >= c->c_linger_deadline_ms)
            conn_close(c);
        return;
    }
    if (rq->rq_waiting && conn_mono_ms() >= rq->rq_deadline_ms) {
        routes_on_wake(c); /* the store answers unavailable now */
        conn_pump(c);
        return;
    }
    if (!rq->rq_started) {
        if (now - c->c_last_progress_ms >= idle_ms) {
            LOG_DEBUG("http.idle_close", "conn=%" PRIu64, c->c_id);
            conn_close(c);
        }
        return;
    }
    if (!rq->rq_head_done) {
        if (now - rq->rq_start_ms >= header_ms)
            conn_timeout(c, "header");
        return;
    }
    unparsed = c->c_in != NULL ? c->c_in_len - c->c_in_off : 0;
    stalled = out_pending(c) || (rq->rq_send_left > 0 && !c->c_work_busy) ||
              (!rq->rq_msg_done && !rq->rq_parse_stop && unparsed == 0 && !c->c_peer_eof &&
               routes_body_room(c) > 0);
    if (stalled && now - c->c_last_progress_ms >= idle_ms)
        conn_timeout(c, out_pending(c) || rq->rq_send_left > 0 ? "write" : "body");
}

/* ------------------------------------------------------- create, close, free */

int conn_create(server_t *srv, int fd, const char *peer)
{
    conn_t *c;
    int rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CAIRN_ENOMEM;
    c->c_srv = srv;
    c->c_fd = fd;
    c->c_id = ++srv->sv_next_conn_id;
    snprintf(c->c_peer, sizeof(c->c_peer), "%s", peer);
    llhttp_init(&c->c_parser, HTTP_REQUEST, &srv->sv_http);
    c->c_parser.data = c;
    buf_init(&c->c_out, CONN_OUT_CAP);
    request_init(&c->c_rq);
    rc = uv_poll_init(srv->sv_loop, &c->c_poll, fd);
    if (rc < 0) {
        request_free(&c->c_rq);
        free(c);
        return rc;
    }
    c->c_last_progress_ms = uv_now(srv->sv_loop);
    server_conn_added(srv, c);
    LOG_DEBUG("http.accept", "conn=%" PRIu64 " peer=%s", c->c_id, c->c_peer);
    update_poll(c);
    return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
    conn_t *c = container_of((uv_poll_t *)h, conn_t, c_poll);

    if (c->c_fd >= 0)
        close(c->c_fd);
    c->c_fd = -1;
    c->c_poll_closed = 1;
    conn_release(c);
}

void conn_close(conn_t *c)
{
    if (c->c_closing)
        return;
    c->c_closing = 1;
    if (c->c_events != 0)
        uv_poll_stop(&c->c_poll);
    c->c_events = 0;
    uv_close((uv_handle_t *)&c->c_poll, on_poll_closed);
}

/* Frees c once the socket is closed, no work runs and the store objects are released. */
static void conn_release(conn_t *c)
{
    server_t *srv = c->c_srv;

    if (!c->c_poll_closed || c->c_work_busy)
        return;
    if (routes_release(c))
        return;
    log_request(c);
    server_unwake(srv, c);
    server_conn_removed(srv, c);
    routes_reset(c);
    request_free(&c->c_rq);
    buf_free(&c->c_out);
    free(c->c_in);
    LOG_DEBUG("http.close", "conn=%" PRIu64, c->c_id);
    free(c);
}
