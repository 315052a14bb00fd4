/*
 * util_fakehttp.c -- the fake cairnd of fakehttp.h.
 *
 * One thread accepts connections on 127.0.0.1:0 and serves them one at a
 * time, keep-alive included, until fh_stop() writes to its stop pipe. Every
 * blocking wait polls that pipe too, so stopping never hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakehttp.h"

#define MAX_REQS 256
#define MAX_BLOBS 32
#define IO_TIMEOUT_MS 10000

typedef struct stored_blob {
    char fb_path[4096];
    char *fb_data;
    size_t fb_len;
} stored_blob;

struct fakehttp {
    int fh_lfd;
    int fh_stop[2];
    pthread_t fh_thr;
    char fh_url[64];
    pthread_mutex_t fh_mu;
    fh_request fh_reqs[MAX_REQS];
    size_t fh_nreq;
    stored_blob fh_blobs[MAX_BLOBS];
    int fh_status;
    char *fh_json;
    char *fh_extra;
    uint64_t fh_after_body;
    int fh_stalling;
    int fh_truncate;
    char **fh_pages;
    size_t fh_npages;
    size_t fh_pagei;
};

typedef struct rd {
    int r_fd;
    int r_stopfd;
    int r_lfd; /* >= 0 while idle between requests: a new client closes us */
    char r_buf[65536];
    size_t r_len;
    size_t r_pos;
} rd;

uint64_t fh_hash(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Copies src into dst[size], truncating. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void die(const char *what)
{
    perror(what);
    abort();
}

/* Waits for fd to be readable; -1 on stop, timeout or error. */
static int wait_readable(int fd, int stopfd, int timeout_ms)
{
    struct pollfd p[2] = {{fd, POLLIN, 0}, {stopfd, POLLIN, 0}};
    int n;

    do {
        n = poll(p, 2, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0 || (p[1].revents & POLLIN))
        return -1;
    return 0;
}

/* Refills the buffer: 1 when bytes arrived, 0 at EOF, -1 on failure. */
static int rd_fill(rd *r)
{
    ssize_t n;

    if (r->r_pos > 0) {
        memmove(r->r_buf, r->r_buf + r->r_pos, r->r_len - r->r_pos);
        r->r_len -= r->r_pos;
        r->r_pos = 0;
    }
    if (r->r_len == sizeof(r->r_buf))
        return -1;
    if (r->r_lfd >= 0 && r->r_len == 0) {
        /* Idle keep-alive connection: served one at a time, so give way
         * to a waiting client, as a server at its connection limit would. */
        struct pollfd p[3] = {
            {r->r_fd, POLLIN, 0}, {r->r_stopfd, POLLIN, 0}, {r->r_lfd, POLLIN, 0}};

        if (poll(p, 3, IO_TIMEOUT_MS) <= 0 || !(p[0].revents & (POLLIN | POLLHUP)))
            return -1;
    } else if (wait_readable(r->r_fd, r->r_stopfd, IO_TIMEOUT_MS) != 0) {
        return -1;
    }
    n = recv(r->r_fd, r->r_buf + r->r_len, sizeof(r->r_buf) - r->r_len, 0);
    if (n < 0)
        return -1;
    r->r_len += (size_t)n;
    return n > 0 ? 1 : 0;
}

/* Reads one CRLF-terminated line (CRLF removed). 0, or -1 on EOF/failure. */
static int rd_line(rd *r, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(r->r_buf + r->r_pos, '\n', r->r_len - r->r_pos);

        if (nl != NULL) {
            size_t n = (size_t)(nl - (r->r_buf + r->r_pos));

            if (n > 0 && r->r_buf[r->r_pos + n - 1] == '\r')
                n--;
            if (n >= size)
                n = size - 1;
            memcpy(out, r->r_buf + r->r_pos, n);
            out[n] = '\0';
            r->r_pos = (size_t)(nl - r->r_buf) + 1;
            return 0;
        }
        if (rd_fill(r) <= 0)
            return -1;
    }
}

/* Reads up to max bytes: count, or -1 on EOF/failure. */
static ssize_t rd_some(rd *r, char *out, size_t max)
{
    size_t n;

    if (r->r_pos == r->r_len && rd_fill(r) <= 0)
        return -1;
    n = r->r_len - r->r_pos;
    if (n > max)
        n = max;
    memcpy(out, r->r_buf + r->r_pos, n);
    r->r_pos += n;
    return (ssize_t)n;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* Sends a response with a complete body (or only headers for HEAD). */
static int respond(int fd, int status, const char *extra, const char *body, size_t len,
                   int head_only, int close_conn)
{
    char hdr[2048];
    int n;

    n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s\r\n", status,
                 reason(status), len,
                 body && len && !head_only ? "Content-Type: application/json\r\n" : "",
                 extra ? extra : "", close_conn ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(hdr))
        abort(); /* a test configured oversized headers */
    if (send_all(fd, hdr, (size_t)n) != 0)
        return -1;
    if (!head_only && len > 0)
        return send_all(fd, body, len);
    return 0;
}

typedef struct body_sink {
    uint64_t bs_len;
    uint64_t bs_hash;
    char *bs_data; /* kept only when bs_keep */
    int bs_keep;
} body_sink;

static int sink_add(body_sink *s, const char *p, size_t n)
{
    s->bs_hash = fh_hash(s->bs_hash, p, n);
    if (s->bs_keep) {
        char *nd = realloc(s->bs_data, s->bs_len + n + 1);

        if (nd == NULL)
            return -1;
        s->bs_data = nd;
        memcpy(s->bs_data + s->bs_len, p, n);
    }
    s->bs_len += n;
    return 0;
}

/*
 * Reads a request body (Content-Length clen, or chunked) into s, stopping
 * early once `limit` bytes were read (limit 0: no limit). 0 when the body
 * was read up to its end or the limit, -1 on a broken connection.
 */
static int read_body(rd *r, int chunked, uint64_t clen, uint64_t limit, body_sink *s)
{
    char buf[16384], line[256];

    if (!chunked) {
        while (s->bs_len < clen && (limit == 0 || s->bs_len < limit)) {
            uint64_t want = clen - s->bs_len;
            ssize_t n;

            if (limit != 0 && want > limit - s->bs_len)
                want = limit - s->bs_len;
            n = rd_some(r, buf, want < sizeof(buf) ? (size_t)want : sizeof(buf));
            if (n < 0 || sink_add(s, buf, (size_t)n) != 0)
                return -1;
        }
        return 0;
    }
    for (;;) {
        unsigned long long left;

        if (rd_line(r, line, sizeof(line)) != 0)
            return -1;
        left = strtoull(line, NULL, 16);
        if (left == 0)
            break;
        while (left > 0) {
            ssize_t n = rd_some(r, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

            if (n < 0 || sink_add(s, buf, (size_t)n) != 0)
                return -1;
            left -= (unsigned long long)n;
            if (limit != 0 && s->bs_len >= limit)
                return 0;
        }
        if (rd_line(r, line, sizeof(line)) != 0)
            return -1;
    }
    do {
        if (rd_line(r, line, sizeof(line)) != 0)
            return -1;
    } while (line[0] != '\0');
    return 0;
}

static void record(fakehttp *fh, const fh_request *q)
{
    pthread_mutex_lock(&fh->fh_mu);
    if (fh->fh_nreq < MAX_REQS)
        fh->fh_reqs[fh->fh_nreq++] = *q;
    pthread_mutex_unlock(&fh->fh_mu);
}

static stored_blob *find_blob(fakehttp *fh, const char *path, int create)
{
    for (size_t i = 0; i < MAX_BLOBS; i++) {
        if (fh->fh_blobs[i].fb_data != NULL && strcmp(fh->fh_blobs[i].fb_path, path) == 0)
            return &fh->fh_blobs[i];
    }
    if (!create)
        return NULL;
    for (size_t i = 0; i < MAX_BLOBS; i++) {
        if (fh->fh_blobs[i].fb_data == NULL) {
            copy_str(fh->fh_blobs[i].fb_path, sizeof(fh->fh_blobs[i].fb_path), path);
            return &fh->fh_blobs[i];
        }
    }
    return NULL;
}

static const char not_found[] = "{\"error\":\"not_found\",\"message\":\"no such key\"}";

/* Serves one request of a normal (well-behaved) exchange. */
static int serve_normal(fakehttp *fh, int fd, const fh_request *q, body_sink *body)
{
    char path[4096], extra[512];
    const char *qm;
    stored_blob *b;
    int rc = 0;

    copy_str(path, sizeof(path), q->fr_target);
    qm = strchr(path, '?');
    if (qm != NULL)
        path[qm - path] = '\0';
    pthread_mutex_lock(&fh->fh_mu);
    if (strcmp(path, "/v1/health") == 0) {
        rc = respond(fd, 200, NULL, "{\"status\":\"ok\"}", 15, 0, 0);
    } else if (strcmp(path, "/v1/cluster") == 0) {
        const char *j = "{\"node_id\":1,\"peers\":[]}";

        rc = respond(fd, 200, NULL, j, strlen(j), 0, 0);
    } else if (strcmp(path, "/v1/blobs") == 0) {
        const char *j = "{\"items\":[],\"next\":null}";

        if (fh->fh_pagei < fh->fh_npages)
            j = fh->fh_pages[fh->fh_pagei++];
        rc = respond(fd, 200, NULL, j, strlen(j), 0, 0);
    } else if (strncmp(path, "/v1/blobs/", 10) != 0) {
        rc = respond(fd, 404, NULL, not_found, strlen(not_found), 0, 0);
    } else if (strcmp(q->fr_method, "PUT") == 0) {
        b = find_blob(fh, path, 1);
        if (b == NULL)
            abort();
        free(b->fb_data);
        b->fb_data = body->bs_data ? body->bs_data : malloc(1);
        b->fb_len = body->bs_len;
        body->bs_data = NULL;
        snprintf(extra, sizeof(extra), "ETag: \"e%016llx\"\r\nX-Cairn-Version: 42.1\r\n",
                 (unsigned long long)body->bs_hash);
        rc = respond(fd, 201, extra, "{}", 2, 0, 0);
    } else if (strcmp(q->fr_method, "DELETE") == 0) {
        b = find_blob(fh, path, 0);
        if (b == NULL) {
            rc = respond(fd, 404, NULL, not_found, strlen(not_found), 0, 0);
        } else {
            free(b->fb_data);
            b->fb_data = NULL;
            rc = respond(fd, 204, NULL, NULL, 0, 0, 0);
        }
    } else {
        int head = strcmp(q->fr_method, "HEAD") == 0;

        b = find_blob(fh, path, 0);
        if (b == NULL) {
            rc = respond(fd, 404, NULL, head ? NULL : not_found, head ? 0 : strlen(not_found), head,
                         0);
        } else {
            uint64_t h = fh_hash(FH_HASH_INIT, b->fb_data, b->fb_len);

            snprintf(extra, sizeof(extra), "ETag: \"e%016llx\"\r\nX-Cairn-Version: 42.1\r\n",
                     (unsigned long long)h);
            if (fh->fh_truncate && !head) {
                char hdr[1024];
                int n =
                    snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n",
                             b->fb_len, extra);

                if (n < 0 || (size_t)n >= sizeof(hdr))
                    abort();
                send_all(fd, hdr, (size_t)n);
                send_all(fd, b->fb_data, b->fb_len / 2);
                rc = -1; /* close */
            } else {
                rc = respond(fd, 200, extra, b->fb_data, b->fb_len, head, 0);
            }
        }
    }
    pthread_mutex_unlock(&fh->fh_mu);
    return rc;
}

/* Serves one request. 0 to keep the connection, -1 to close it after
 * draining what the client still sends, -2 to close it at once. */
static int serve_one(fakehttp *fh, rd *r)
{
    char line[8192];
    fh_request q;
    body_sink body = {0, FH_HASH_INIT, NULL, 0};
    uint64_t clen = 0;
    int close_conn = 0, rc, status, stalling;
    char *json = NULL, *extra = NULL;
    uint64_t after;

    memset(&q, 0, sizeof(q));
    r->r_lfd = fh->fh_lfd;
    rc = rd_line(r, line, sizeof(line));
    r->r_lfd = -1;
    if (rc != 0)
        return -2; /* idle: nothing to drain */
    if (sscanf(line, "%15s %4095s", q.fr_method, q.fr_target) != 2)
        return -1;
    for (;;) {
        if (rd_line(r, line, sizeof(line)) != 0)
            return -1;
        if (line[0] == '\0')
            break;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtoull(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
            q.fr_chunked = 1;
        else if (strncasecmp(line, "Authorization: ", 15) == 0)
            copy_str(q.fr_auth, sizeof(q.fr_auth), line + 15);
        else if (strncasecmp(line, "Expect:", 7) == 0)
            q.fr_expect = 1;
        else if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close"))
            close_conn = 1;
    }
    pthread_mutex_lock(&fh->fh_mu);
    status = fh->fh_status;
    stalling = fh->fh_stalling;
    after = fh->fh_after_body;
    if (fh->fh_json)
        json = strdup(fh->fh_json);
    if (fh->fh_extra)
        extra = strdup(fh->fh_extra);
    pthread_mutex_unlock(&fh->fh_mu);

    if (stalling) {
        record(fh, &q);
        wait_readable(r->r_stopfd, r->r_stopfd, 60000);
        rc = -1;
        goto done;
    }
    body.bs_keep = status == 0 && strcmp(q.fr_method, "PUT") == 0;
    if (read_body(r, q.fr_chunked, clen, status != 0 ? after : 0, &body) != 0) {
        rc = -1;
        goto done;
    }
    q.fr_body_len = body.bs_len;
    q.fr_body_hash = body.bs_hash;
    record(fh, &q);
    if (status != 0) {
        respond(r->r_fd, status, extra, json, json ? strlen(json) : 0,
                strcmp(q.fr_method, "HEAD") == 0, 1);
        rc = -1;
        goto done;
    }
    rc = serve_normal(fh, r->r_fd, &q, &body);
    if (close_conn)
        rc = -1;
done:
    free(body.bs_data);
    free(json);
    free(extra);
    return rc;
}

/* Closes a connection gracefully: our FIN first, then drain what the
 * client still sends, so it reads our response instead of a reset. */
static void conn_close(int fd, int stopfd)
{
    char buf[16384];

    shutdown(fd, SHUT_WR);
    while (wait_readable(fd, stopfd, 2000) == 0 && recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
}

static void *server_main(void *arg)
{
    fakehttp *fh = arg;
    rd *r = malloc(sizeof(*r));

    if (r == NULL)
        abort();
    for (;;) {
        int fd, rc;

        if (wait_readable(fh->fh_lfd, fh->fh_stop[0], -1) != 0)
            break;
        fd = accept(fh->fh_lfd, NULL, NULL);
        if (fd < 0)
            continue;
        r->r_fd = fd;
        r->r_stopfd = fh->fh_stop[0];
        r->r_len = 0;
        r->r_pos = 0;
        do {
            rc = serve_one(fh, r);
        } while (rc == 0);
        if (rc == -2)
            close(fd);
        else
            conn_close(fd, fh->fh_stop[0]);
    }
    free(r);
    return NULL;
}

/* Binds a listening socket on 127.0.0.1:0; returns it and its port. */
static int listen_any(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket");
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("bind");
    if (getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        die("getsockname");
    *port = ntohs(a.sin_port);
    return fd;
}

fakehttp *fh_start(void)
{
    fakehttp *fh = calloc(1, sizeof(*fh));
    int port;

    if (fh == NULL)
        abort();
    fh->fh_lfd = listen_any(&port);
    if (listen(fh->fh_lfd, 16) != 0)
        die("listen");
    if (pipe(fh->fh_stop) != 0)
        die("pipe");
    snprintf(fh->fh_url, sizeof(fh->fh_url), "http://127.0.0.1:%d", port);
    pthread_mutex_init(&fh->fh_mu, NULL);
    if (pthread_create(&fh->fh_thr, NULL, server_main, fh) != 0)
        die("pthread_create");
    return fh;
}

void fh_stop(fakehttp *fh)
{
    if (write(fh->fh_stop[1], "x", 1) != 1)
        die("write");
    pthread_join(fh->fh_thr, NULL);
    close(fh->fh_lfd);
    close(fh->fh_stop[0]);
    close(fh->fh_stop[1]);
    for (size_t i = 0; i < MAX_BLOBS; i++)
        free(fh->fh_blobs[i].fb_data);
    for (size_t i = 0; i < fh->fh_npages; i++)
        free(fh->fh_pages[i]);
    free(fh->fh_pages);
    free(fh->fh_json);
    free(fh->fh_extra);
    pthread_mutex_destroy(&fh->fh_mu);
    free(fh);
}

const char *fh_url(const fakehttp *fh)
{
    return fh->fh_url;
}

void fh_respond(fakehttp *fh, int status, const char *json, const char *extra_headers,
                uint64_t after_body)
{
    pthread_mutex_lock(&fh->fh_mu);
    fh->fh_status = status;
    free(fh->fh_json);
    free(fh->fh_extra);
    fh->fh_json = json ? strdup(json) : NULL;
    fh->fh_extra = extra_headers ? strdup(extra_headers) : NULL;
    fh->fh_after_body = after_body;
    pthread_mutex_unlock(&fh->fh_mu);
}

void fh_stall(fakehttp *fh)
{
    pthread_mutex_lock(&fh->fh_mu);
    fh->fh_stalling = 1;
    pthread_mutex_unlock(&fh->fh_mu);
}

void fh_truncate_gets(fakehttp *fh)
{
    pthread_mutex_lock(&fh->fh_mu);
    fh->fh_truncate = 1;
    pthread_mutex_unlock(&fh->fh_mu);
}

void fh_list_pages(fakehttp *fh, const char *const *pages, size_t n)
{
    pthread_mutex_lock(&fh->fh_mu);
    fh->fh_pages = calloc(n, sizeof(char *));
    if (fh->fh_pages == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        fh->fh_pages[i] = strdup(pages[i]);
    fh->fh_npages = n;
    fh->fh_pagei = 0;
    pthread_mutex_unlock(&fh->fh_mu);
}

size_t fh_count(fakehttp *fh)
{
    size_t n;

    pthread_mutex_lock(&fh->fh_mu);
    n = fh->fh_nreq;
    pthread_mutex_unlock(&fh->fh_mu);
    return n;
}

fh_request fh_req(fakehttp *fh, size_t i)
{
    fh_request q;

    pthread_mutex_lock(&fh->fh_mu);
    if (i >= fh->fh_nreq)
        abort();
    q = fh->fh_reqs[i];
    pthread_mutex_unlock(&fh->fh_mu);
    return q;
}

char *fh_blob(fakehttp *fh, const char *path, size_t *len)
{
    stored_blob *b;
    char *copy = NULL;

    pthread_mutex_lock(&fh->fh_mu);
    b = find_blob(fh, path, 0);
    if (b != NULL) {
        copy = malloc(b->fb_len + 1);
        if (copy == NULL)
            abort();
        memcpy(copy, b->fb_data, b->fb_len);
        *len = b->fb_len;
    }
    pthread_mutex_unlock(&fh->fh_mu);
    return copy;
}

void fh_refused_url(char *buf, size_t size)
{
    int port, fd = listen_any(&port);

    close(fd); /* bound but never listened: the port refuses connections */
    snprintf(buf, size, "http://127.0.0.1:%d", port);
}
