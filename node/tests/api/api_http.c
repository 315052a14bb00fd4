/*
 * api_http.c -- raw-socket HTTP/1.1 client for the API tests (see api_http.h).
 */
#include "api_http.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_json.h"

#define CONN_BUF_INIT (64 * 1024)
#define HEAD_MAX (1024 * 1024)
#define SEND_PIECE (256 * 1024)

/* ---------------------------------------------------------------- sockets */

int api_conn_open(api_conn_t *c, int port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd pfd;
    int fd, rc, err = 0, one = 1;
    socklen_t elen = sizeof(err);

    memset(c, 0, sizeof(*c));
    c->ac_fd = -1;
    c->ac_timeout_ms = 30000;
    c->ac_store_max = 64u << 20;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* Headers and body go out in separate sends: without TCP_NODELAY,
     * Nagle plus the server's delayed ACK would add 40 ms per request. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0 && errno != EINPROGRESS) {
        rc = -errno;
        goto fail;
    }
    if (rc < 0) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        rc = poll(&pfd, 1, 10000);
        if (rc <= 0) {
            rc = rc == 0 ? -ETIMEDOUT : -errno;
            goto fail;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0) {
            rc = -err;
            goto fail;
        }
    }
    c->ac_buf = malloc(CONN_BUF_INIT);
    if (c->ac_buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    c->ac_cap = CONN_BUF_INIT;
    c->ac_fd = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

void api_conn_close(api_conn_t *c)
{
    if (c->ac_fd >= 0)
        close(c->ac_fd);
    c->ac_fd = -1;
    free(c->ac_buf);
    c->ac_buf = NULL;
    c->ac_cap = c->ac_off = c->ac_len = 0;
}

void api_conn_reset(api_conn_t *c)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};

    if (c->ac_fd >= 0)
        setsockopt(c->ac_fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    api_conn_close(c);
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int rc;

    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -errno;
    if (rc == 0)
        return -ETIMEDOUT;
    return pfd.revents;
}

int api_conn_send(api_conn_t *c, const void *p, size_t len)
{
    const char *s = p;

    while (len > 0) {
        ssize_t n = send(c->ac_fd, s, len, MSG_NOSIGNAL);
        if (n > 0) {
            s += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int ev = wait_fd(c->ac_fd, POLLOUT, c->ac_timeout_ms);
        if (ev < 0)
            return ev;
    }
    return 0;
}

int api_conn_sendf(api_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n, rc;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    rc = api_conn_send(c, s, (size_t)n);
    free(s);
    return rc;
}

int api_conn_send_gen(api_conn_t *c, uint64_t seed, uint64_t off, uint64_t len, size_t chunk,
                      int stop_on_reply)
{
    size_t piece = chunk > 0 ? chunk : SEND_PIECE;
    char *buf = malloc(piece + 32);
    int rc = 0;

    if (buf == NULL)
        return -ENOMEM;
    while (len > 0) {
        size_t n = len < piece ? (size_t)len : piece;
        size_t pre = 0;
        const char *p;
        size_t left;

        if (chunk > 0)
            pre = (size_t)snprintf(buf, 32, "%zx\r\n", n);
        api_gen_fill(seed, off, buf + pre, n);
        if (chunk > 0) {
            memcpy(buf + pre + n, "\r\n", 2);
            left = pre + n + 2;
        } else {
            left = n;
        }
        p = buf;
        while (left > 0) {
            short events = POLLOUT | (stop_on_reply ? POLLIN : 0);
            int ev = wait_fd(c->ac_fd, events, c->ac_timeout_ms);
            if (ev < 0) {
                rc = ev;
                goto done;
            }
            if (stop_on_reply && (ev & (POLLIN | POLLHUP | POLLERR))) {
                rc = 1;
                goto done;
            }
            ssize_t w = send(c->ac_fd, p, left, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    continue;
                rc = -errno;
                goto done;
            }
            p += w;
            left -= (size_t)w;
        }
        off += n;
        len -= n;
    }
done:
    free(buf);
    return rc;
}

int api_conn_readable(api_conn_t *c, int timeout_ms)
{
    if (c->ac_len > c->ac_off || c->ac_eof)
        return 1;
    return wait_fd(c->ac_fd, POLLIN, timeout_ms) > 0;
}

/* Reads more bytes into the buffer. >0 bytes read, 0 on EOF (or reset,
 * which also ends the stream), -ETIMEDOUT, -errno. */
static int conn_fill(api_conn_t *c)
{
    if (c->ac_eof)
        return 0;
    if (c->ac_off > 0 && c->ac_off == c->ac_len) {
        c->ac_off = c->ac_len = 0;
    }
    if (c->ac_len == c->ac_cap) {
        if (c->ac_off > 0) {
            memmove(c->ac_buf, c->ac_buf + c->ac_off, c->ac_len - c->ac_off);
            c->ac_len -= c->ac_off;
            c->ac_off = 0;
        } else {
            char *nb = realloc(c->ac_buf, c->ac_cap * 2);
            if (nb == NULL)
                return -ENOMEM;
            c->ac_buf = nb;
            c->ac_cap *= 2;
        }
    }
    for (;;) {
        ssize_t n = recv(c->ac_fd, c->ac_buf + c->ac_len, c->ac_cap - c->ac_len, 0);
        if (n > 0) {
            c->ac_len += (size_t)n;
            return (int)n;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            c->ac_eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int ev = wait_fd(c->ac_fd, POLLIN, c->ac_timeout_ms);
        if (ev < 0)
            return ev;
    }
}

/* ---------------------------------------------------------------- parsing */

void api_resp_free(api_resp_t *r)
{
    for (size_t i = 0; i < r->ar_nhdrs; i++) {
        free(r->ar_hdrs[i].ah_name);
        free(r->ar_hdrs[i].ah_value);
    }
    free(r->ar_hdrs);
    free(r->ar_body);
    memset(r, 0, sizeof(*r));
}

const char *api_resp_header(const api_resp_t *r, const char *name)
{
    for (size_t i = 0; i < r->ar_nhdrs; i++) {
        if (strcasecmp(r->ar_hdrs[i].ah_name, name) == 0)
            return r->ar_hdrs[i].ah_value;
    }
    return NULL;
}

size_t api_resp_header_count(const api_resp_t *r, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < r->ar_nhdrs; i++) {
        if (strcasecmp(r->ar_hdrs[i].ah_name, name) == 0)
            n++;
    }
    return n;
}

static char *dup_trimmed(const char *s, size_t len)
{
    char *out;

    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* Parses the status line and header lines in h[0..len) (the block without
 * its final CRLFCRLF). */
static int parse_head(const char *h, size_t len, api_resp_t *r)
{
    const char *end = h + len;
    const char *eol = memmem(h, len, "\r\n", 2);
    const char *line;

    if (eol == NULL)
        eol = end;
    if (eol - h < 12 || memcmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[7]) ||
        h[8] != ' ' || !isdigit((unsigned char)h[9]) || !isdigit((unsigned char)h[10]) ||
        !isdigit((unsigned char)h[11]) || (eol - h > 12 && h[12] != ' '))
        return API_EPROTO;
    r->ar_minor = h[7] - '0';
    r->ar_status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    line = eol == end ? end : eol + 2;
    while (line < end) {
        const char *le = memmem(line, (size_t)(end - line), "\r\n", 2);
        const char *colon;
        api_hdr_t *nh;

        if (le == NULL)
            le = end;
        colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line)
            return API_EPROTO;
        for (const char *q = line; q < colon; q++) {
            if (*q == ' ' || *q == '\t' || (unsigned char)*q < 0x21)
                return API_EPROTO; /* no whitespace in field names */
        }
        nh = realloc(r->ar_hdrs, (r->ar_nhdrs + 1) * sizeof(*nh));
        if (nh == NULL)
            return -ENOMEM;
        r->ar_hdrs = nh;
        nh[r->ar_nhdrs].ah_name = dup_trimmed(line, (size_t)(colon - line));
        nh[r->ar_nhdrs].ah_value = dup_trimmed(colon + 1, (size_t)(le - colon - 1));
        r->ar_nhdrs++;
        if (nh[r->ar_nhdrs - 1].ah_name == NULL || nh[r->ar_nhdrs - 1].ah_value == NULL)
            return -ENOMEM;
        line = le == end ? end : le + 2;
    }
    return 0;
}

/* Appends body bytes: hash all, store up to the cap. */
static int body_sink(api_conn_t *c, api_resp_t *r, api_hasher_t *h, const char *p, size_t n)
{
    api_hasher_update(h, p, n);
    if (r->ar_body_len < c->ac_store_max) {
        size_t keep = c->ac_store_max - r->ar_body_len;
        if (keep > n)
            keep = n;
        char *nb = realloc(r->ar_body, r->ar_body_len + keep + 1);
        if (nb == NULL)
            return -ENOMEM;
        r->ar_body = nb;
        memcpy(r->ar_body + r->ar_body_len, p, keep);
        r->ar_body_len += keep;
        r->ar_body[r->ar_body_len] = '\0';
    }
    r->ar_body_total += n;
    if (c->ac_progress != NULL)
        c->ac_progress(c->ac_progress_arg, r->ar_body_total);
    return 0;
}

/* Moves exactly want body bytes (or until EOF when want is UINT64_MAX). */
static int read_body_bytes(api_conn_t *c, api_resp_t *r, api_hasher_t *h, uint64_t want)
{
    while (want > 0) {
        if (c->ac_len == c->ac_off) {
            int rc = conn_fill(c);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return want == UINT64_MAX ? 0 : API_EPROTO; /* short body */
        }
        size_t avail = c->ac_len - c->ac_off;
        size_t n = (uint64_t)avail < want ? avail : (size_t)want;
        int rc = body_sink(c, r, h, c->ac_buf + c->ac_off, n);
        if (rc < 0)
            return rc;
        c->ac_off += n;
        if (want != UINT64_MAX)
            want -= n;
    }
    return 0;
}

/* Reads one CRLF-terminated line into out (NUL-terminated, CRLF removed). */
static int read_line(api_conn_t *c, char *out, size_t cap)
{
    for (;;) {
        char *p = memmem(c->ac_buf + c->ac_off, c->ac_len - c->ac_off, "\r\n", 2);
        if (p != NULL) {
            size_t n = (size_t)(p - (c->ac_buf + c->ac_off));
            if (n >= cap)
                return API_EPROTO;
            memcpy(out, c->ac_buf + c->ac_off, n);
            out[n] = '\0';
            c->ac_off += n + 2;
            return 0;
        }
        if (c->ac_len - c->ac_off > cap)
            return API_EPROTO;
        int rc = conn_fill(c);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return API_EPROTO;
    }
}

static int read_chunked(api_conn_t *c, api_resp_t *r, api_hasher_t *h)
{
    char line[1024];

    for (;;) {
        char *end;
        unsigned long long n;
        int rc = read_line(c, line, sizeof(line));

        if (rc < 0)
            return rc;
        if (!isxdigit((unsigned char)line[0]))
            return API_EPROTO;
        errno = 0;
        n = strtoull(line, &end, 16);
        if (errno != 0 || (*end != '\0' && *end != ';' && *end != ' '))
            return API_EPROTO;
        if (n == 0)
            break;
        rc = read_body_bytes(c, r, h, n);
        if (rc < 0)
            return rc;
        rc = read_line(c, line, sizeof(line));
        if (rc < 0)
            return rc;
        if (line[0] != '\0')
            return API_EPROTO;
    }
    for (;;) { /* trailers */
        int rc = read_line(c, line, sizeof(line));
        if (rc < 0)
            return rc;
        if (line[0] == '\0')
            return 0;
    }
}

static int has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (strncasecmp(p, token, tl) == 0 &&
            (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' ' || p[tl] == ';'))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

int api_conn_read_resp(api_conn_t *c, int head_req, api_resp_t *r)
{
    api_hasher_t h;
    const char *te, *cl, *conn;
    char *hend;
    size_t hlen;
    int rc;

    memset(r, 0, sizeof(*r));
    api_hasher_init(&h);
    for (;;) {
        hend = memmem(c->ac_buf + c->ac_off, c->ac_len - c->ac_off, "\r\n\r\n", 4);
        if (hend != NULL)
            break;
        if (c->ac_len - c->ac_off > HEAD_MAX) {
            rc = API_EPROTO;
            goto done;
        }
        rc = conn_fill(c);
        if (rc < 0)
            goto done;
        if (rc == 0) {
            rc = c->ac_len == c->ac_off ? API_ECLOSED : API_EPROTO;
            goto done;
        }
    }
    hlen = (size_t)(hend - (c->ac_buf + c->ac_off));
    rc = parse_head(c->ac_buf + c->ac_off, hlen, r);
    c->ac_off += hlen + 4;
    if (rc < 0)
        goto done;
    conn = api_resp_header(r, "Connection");
    if (conn != NULL && has_token(conn, "close"))
        r->ar_close = 1;
    if (r->ar_minor == 0 && !(conn != NULL && has_token(conn, "keep-alive")))
        r->ar_close = 1;
    if (head_req || r->ar_status / 100 == 1 || r->ar_status == 204 || r->ar_status == 304)
        goto done;
    te = api_resp_header(r, "Transfer-Encoding");
    cl = api_resp_header(r, "Content-Length");
    if (te != NULL) {
        if (cl != NULL || !has_token(te, "chunked")) {
            rc = API_EPROTO;
            goto done;
        }
        rc = read_chunked(c, r, &h);
    } else if (cl != NULL) {
        char *end;
        unsigned long long n;
        if (api_resp_header_count(r, "Content-Length") != 1 || !isdigit((unsigned char)cl[0])) {
            rc = API_EPROTO;
            goto done;
        }
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno != 0 || *end != '\0') {
            rc = API_EPROTO;
            goto done;
        }
        rc = read_body_bytes(c, r, &h, n);
    } else {
        r->ar_close = 1;
        rc = read_body_bytes(c, r, &h, UINT64_MAX);
    }
done:
    api_hasher_final(&h, r->ar_hash);
    if (r->ar_body == NULL) {
        r->ar_body = calloc(1, 1);
        if (r->ar_body == NULL && rc == 0)
            rc = -ENOMEM;
    }
    return rc;
}

int api_conn_read_final(api_conn_t *c, int head_req, api_resp_t *r)
{
    int got_100 = 0;

    for (;;) {
        int rc = api_conn_read_resp(c, head_req, r);
        if (rc < 0 || r->ar_status / 100 != 1) {
            r->ar_got_100 |= got_100;
            return rc;
        }
        if (r->ar_status == 100)
            got_100 = 1;
        api_resp_free(r);
    }
}

int api_conn_wait_closed(api_conn_t *c, int timeout_ms, size_t *nbytes)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;
    size_t total = c->ac_len - c->ac_off;
    char buf[65536];
    int rc = 0;

    c->ac_off = c->ac_len = 0;
    while (!c->ac_eof) {
        uint64_t now = api_now_ms();
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        ssize_t n = recv(c->ac_fd, buf, sizeof(buf), 0);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n == 0 || errno == ECONNRESET || errno == EPIPE) {
            c->ac_eof = 1;
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            wait_fd(c->ac_fd, POLLIN, (int)(deadline - now));
            continue;
        }
        rc = -errno;
        break;
    }
    if (nbytes != NULL)
        *nbytes = total;
    return rc;
}

/* ---------------------------------------------------------------- requests */

int api_send_req(api_conn_t *c, const api_node_t *n, int auth, const char *method,
                 const char *target, const char *extra, const void *body, size_t len)
{
    char cl[64] = "";
    char authz[300] = "";
    int rc;

    if (body != NULL)
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", len);
    if (auth && n->an_token[0] != '\0')
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s\r\n", n->an_token);
    rc = api_conn_sendf(c, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%s\r\n", method, target,
                        n->an_port, authz, extra != NULL ? extra : "", cl);
    if (rc == 0 && body != NULL && len > 0)
        rc = api_conn_send(c, body, len);
    return rc;
}

int api_request(const api_node_t *n, int auth, const char *method, const char *target,
                const char *extra, const void *body, size_t len, api_resp_t *r)
{
    api_conn_t c;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = api_conn_open(&c, n->an_port, 0);
    if (rc < 0)
        return rc;
    rc = api_send_req(&c, n, auth, method, target, extra, body, len);
    /* Even when sending failed (the server may answer early and close),
     * a response may be waiting. */
    int rrc = api_conn_read_final(&c, strcmp(method, "HEAD") == 0, r);
    if (rrc == 0 || rc == 0)
        rc = rrc;
    api_conn_close(&c);
    return rc;
}

/* ---------------------------------------------------------------- asserts */

void api_must_request(const api_node_t *n, const char *method, const char *target,
                      const char *extra, const void *body, size_t len, api_resp_t *r)
{
    int rc = api_request(n, 1, method, target, extra, body, len, r);

    ck_assert_msg(rc == 0, "%s %s: transport error %d (%s)", method, target, rc,
                  rc > -4096 ? strerror(-rc) : "closed/protocol");
}

void api_assert_error(const api_resp_t *r, int status, const char *code)
{
    api_json_t *j = NULL;
    const char *err = NULL;
    const char *ct = api_resp_header(r, "Content-Type");

    ck_assert_msg(r->ar_status == status, "expected status %d (%s), got %d: %.300s", status, code,
                  r->ar_status, r->ar_body ? r->ar_body : "");
    ck_assert_msg(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
                  "error %d: Content-Type is %s, expected application/json", status,
                  ct ? ct : "(none)");
    ck_assert_msg(api_json_parse(r->ar_body, r->ar_body_len, &j, &err) == 0,
                  "error %d body is not JSON (%s): %.300s", status, err, r->ar_body);
    ck_assert_msg(j->aj_type == AJ_OBJ, "error body is not an object: %.300s", r->ar_body);
    ck_assert_msg(api_json_str(j, "error") != NULL && strcmp(api_json_str(j, "error"), code) == 0,
                  "expected \"error\":\"%s\", body %.300s", code, r->ar_body);
    ck_assert_msg(api_json_str(j, "message") != NULL,
                  "error body lacks a \"message\" string: %.300s", r->ar_body);
    api_json_free(j);
}

int api_version_ok(const char *v)
{
    const char *p = v;

    if (v == NULL || !isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != '-' || !isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

/* Removes surrounding double quotes when present. */
static void unquote(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s);

    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

void api_assert_put_ok(const api_resp_t *r, const char *key_raw, uint64_t size, const char *hex)
{
    char want[64];
    char jetag[64];
    const char *etag = api_resp_header(r, "ETag");
    const char *ver = api_resp_header(r, "X-Cairn-Version");
    const api_json_t *sz;
    api_json_t *j = NULL;
    const char *err = NULL;

    ck_assert_msg(r->ar_status == 201, "PUT: expected 201, got %d: %.300s", r->ar_status,
                  r->ar_body);
    snprintf(want, sizeof(want), "\"%s\"", hex);
    ck_assert_msg(etag != NULL && strcmp(etag, want) == 0, "PUT: ETag %s, expected %s",
                  etag ? etag : "(none)", want);
    ck_assert_msg(api_version_ok(ver), "PUT: X-Cairn-Version %s is not <hlc>-<origin>",
                  ver ? ver : "(none)");
    ck_assert_msg(api_json_parse(r->ar_body, r->ar_body_len, &j, &err) == 0,
                  "PUT 201 body is not JSON (%s): %.300s", err, r->ar_body);
    if (key_raw != NULL)
        ck_assert_msg(api_json_str(j, "key") != NULL &&
                          strcmp(api_json_str(j, "key"), key_raw) == 0,
                      "PUT body key mismatch: %.300s", r->ar_body);
    else
        ck_assert_msg(api_json_str(j, "key") != NULL, "PUT body lacks key: %.300s", r->ar_body);
    sz = api_json_get(j, "size");
    ck_assert_msg(sz != NULL && sz->aj_type == AJ_NUM && sz->aj_num == (double)size,
                  "PUT body size mismatch (want %llu): %.300s", (unsigned long long)size,
                  r->ar_body);
    ck_assert_msg(api_json_str(j, "etag") != NULL, "PUT body lacks etag string: %.300s",
                  r->ar_body);
    unquote(api_json_str(j, "etag"), jetag, sizeof(jetag));
    ck_assert_msg(strcmp(jetag, hex) == 0, "PUT body etag %s, expected %s", api_json_str(j, "etag"),
                  hex);
    ck_assert_msg(api_json_str(j, "version") != NULL &&
                      strcmp(api_json_str(j, "version"), ver) == 0,
                  "PUT body version differs from X-Cairn-Version %s: %.300s", ver, r->ar_body);
    api_json_free(j);
}

void api_must_put(const api_node_t *n, const char *key_enc, const void *data, size_t len)
{
    char target[8192];
    char hex[API_HASH_HEX];
    api_resp_t r;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    api_hash_hex(data, len, hex);
    api_must_request(n, "PUT", target, NULL, data, len, &r);
    api_assert_put_ok(&r, NULL, len, hex);
    api_resp_free(&r);
}

static void assert_get(const api_resp_t *r, const char *target, uint64_t len, const char *hex)
{
    char want[64];
    const char *cl = api_resp_header(r, "Content-Length");
    const char *etag = api_resp_header(r, "ETag");

    ck_assert_msg(r->ar_status == 200, "GET %s: expected 200, got %d: %.300s", target, r->ar_status,
                  r->ar_body);
    ck_assert_msg(cl != NULL && strtoull(cl, NULL, 10) == len,
                  "GET %s: Content-Length %s, expected %llu", target, cl ? cl : "(none)",
                  (unsigned long long)len);
    ck_assert_msg(r->ar_body_total == len, "GET %s: got %llu body bytes, expected %llu", target,
                  (unsigned long long)r->ar_body_total, (unsigned long long)len);
    ck_assert_msg(strcmp(r->ar_hash, hex) == 0, "GET %s: content hash %s, expected %s", target,
                  r->ar_hash, hex);
    snprintf(want, sizeof(want), "\"%s\"", hex);
    ck_assert_msg(etag != NULL && strcmp(etag, want) == 0, "GET %s: ETag %s, expected %s", target,
                  etag ? etag : "(none)", want);
    ck_assert_msg(api_version_ok(api_resp_header(r, "X-Cairn-Version")),
                  "GET %s: bad X-Cairn-Version", target);
}

void api_must_get(const api_node_t *n, const char *key_enc, const void *data, size_t len)
{
    char target[8192];
    char hex[API_HASH_HEX];
    api_resp_t r;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    api_hash_hex(data, len, hex);
    api_must_request(n, "GET", target, NULL, NULL, 0, &r);
    assert_get(&r, target, len, hex);
    api_resp_free(&r);
}

void api_must_put_gen(const api_node_t *n, const char *key_enc, uint64_t seed, uint64_t size)
{
    char target[8192];
    char hex[API_HASH_HEX];
    api_conn_t c;
    api_resp_t r;
    int rc;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    api_hash_gen_hex(seed, size, hex);
    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    char extra[64];
    snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)size);
    rc = api_send_req(&c, n, 1, "PUT", target, extra, NULL, 0);
    ck_assert_msg(rc == 0, "PUT %s: send headers: %d", target, rc);
    rc = api_conn_send_gen(&c, seed, 0, size, 0, 1);
    ck_assert_msg(rc == 0, "PUT %s: sending the body stopped (%d): early reply or error", target,
                  rc);
    rc = api_conn_read_final(&c, 0, &r);
    ck_assert_msg(rc == 0, "PUT %s: reading the response: %d", target, rc);
    api_assert_put_ok(&r, NULL, size, hex);
    api_resp_free(&r);
    api_conn_close(&c);
}

void api_must_get_gen(const api_node_t *n, const char *key_enc, uint64_t seed, uint64_t size)
{
    char target[8192];
    char hex[API_HASH_HEX];
    api_conn_t c;
    api_resp_t r;
    int rc;

    snprintf(target, sizeof(target), "/v1/blobs/%s", key_enc);
    api_hash_gen_hex(seed, size, hex);
    ck_assert_int_eq(api_conn_open(&c, n->an_port, 0), 0);
    c.ac_store_max = 0;
    rc = api_send_req(&c, n, 1, "GET", target, NULL, NULL, 0);
    ck_assert_msg(rc == 0, "GET %s: send: %d", target, rc);
    rc = api_conn_read_final(&c, 0, &r);
    ck_assert_msg(rc == 0, "GET %s: reading the response: %d", target, rc);
    assert_get(&r, target, size, hex);
    api_resp_free(&r);
    api_conn_close(&c);
}

void api_must_health(const api_node_t *n)
{
    api_resp_t r;
    api_json_t *j = NULL;
    int rc = api_request(n, 0, "GET", "/v1/health", NULL, NULL, 0, &r);

    ck_assert_msg(rc == 0, "GET /v1/health: transport error %d", rc);
    ck_assert_msg(r.ar_status == 200, "GET /v1/health: status %d", r.ar_status);
    ck_assert_msg(api_json_parse(r.ar_body, r.ar_body_len, &j, NULL) == 0,
                  "health body is not JSON: %.200s", r.ar_body);
    ck_assert_msg(api_json_str(j, "status") != NULL && strcmp(api_json_str(j, "status"), "ok") == 0,
                  "health body: %.200s", r.ar_body);
    api_json_free(j);
    api_resp_free(&r);
}

void api_must_status(const api_node_t *n, const char *method, const char *target, int status)
{
    api_resp_t r;

    api_must_request(n, method, target, NULL, NULL, 0, &r);
    ck_assert_msg(r.ar_status == status, "%s %s: expected %d, got %d: %.300s", method, target,
                  status, r.ar_status, r.ar_body);
    api_resp_free(&r);
}

double api_metric_sum(const char *text, const char *name)
{
    size_t nl = strlen(name);
    const char *line = text;
    double sum = 0;
    int found = 0;

    while (line != NULL && *line != '\0') {
        const char *eol = strchr(line, '\n');
        if (line[0] != '#' && strncmp(line, name, nl) == 0 &&
            (line[nl] == ' ' || line[nl] == '{')) {
            const char *v = line + nl;
            if (*v == '{') {
                v = strchr(v, '}');
                if (v != NULL && (eol == NULL || v < eol))
                    v++;
                else
                    v = NULL;
            }
            if (v != NULL) {
                sum += strtod(v, NULL);
                found = 1;
            }
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

void api_etag_hex(const char *etag, char out[API_HASH_HEX])
{
    unquote(etag, out, API_HASH_HEX);
}

api_json_t *api_must_list(const api_node_t *n, const char *query)
{
    char target[16384];
    const char *ct;
    const char *err = NULL;
    const api_json_t *items, *next;
    api_json_t *j = NULL;
    api_resp_t r;

    if (query != NULL && query[0] != '\0')
        snprintf(target, sizeof(target), "/v1/blobs?%s", query);
    else
        snprintf(target, sizeof(target), "/v1/blobs");
    api_must_request(n, "GET", target, NULL, NULL, 0, &r);
    ck_assert_msg(r.ar_status == 200, "GET %s: expected 200, got %d: %.300s", target, r.ar_status,
                  r.ar_body);
    ct = api_resp_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
                  "GET %s: Content-Type %s", target, ct ? ct : "(none)");
    ck_assert_msg(api_json_parse(r.ar_body, r.ar_body_len, &j, &err) == 0,
                  "GET %s: body is not valid JSON (%s): %.500s", target, err, r.ar_body);
    items = api_json_get(j, "items");
    next = api_json_get(j, "next");
    ck_assert_msg(items != NULL && items->aj_type == AJ_ARR, "GET %s: no items array: %.300s",
                  target, r.ar_body);
    ck_assert_msg(next != NULL && (next->aj_type == AJ_NULL || next->aj_type == AJ_STR),
                  "GET %s: next must be a string or null: %.300s", target, r.ar_body);
    for (size_t i = 0; i < items->aj_n; i++) {
        const api_json_t *it = items->aj_items[i];
        const api_json_t *sz = api_json_get(it, "size");
        ck_assert_msg(it->aj_type == AJ_OBJ, "GET %s: item %zu is not an object", target, i);
        ck_assert_msg(api_json_str(it, "key") != NULL, "GET %s: item %zu: no key string", target,
                      i);
        ck_assert_msg(sz != NULL && sz->aj_type == AJ_NUM && sz->aj_num >= 0,
                      "GET %s: item %zu: no size number", target, i);
        ck_assert_msg(api_json_str(it, "etag") != NULL, "GET %s: item %zu: no etag string", target,
                      i);
        ck_assert_msg(api_version_ok(api_json_str(it, "version")),
                      "GET %s: item %zu: version is not a \"<hlc>-<origin>\" string: %.300s",
                      target, i, r.ar_body);
    }
    api_resp_free(&r);
    return j;
}

const char *api_list_next(const api_json_t *list)
{
    const api_json_t *next = api_json_get(list, "next");

    return next != NULL && next->aj_type == AJ_STR ? next->aj_str : NULL;
}

void api_wait_conns_settled(const api_node_t *n, double max, int timeout_ms)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;
    double open_now;

    for (;;) {
        api_resp_t r;
        api_must_request(n, "GET", "/metrics", NULL, NULL, 0, &r);
        open_now = api_metric_sum(r.ar_body, "cairn_http_connections_open");
        api_resp_free(&r);
        if (open_now <= max || api_now_ms() > deadline)
            break;
        api_sleep_ms(20);
    }
    ck_assert_msg(open_now <= max, "cairn_http_connections_open = %g, expected <= %g", open_now,
                  max);
}
