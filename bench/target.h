/*
 * target.h -- a node to benchmark, given as a URL.
 */
#ifndef CAIRN_BENCH_TARGET_H
#define CAIRN_BENCH_TARGET_H

#include <sys/socket.h>

#define TARGET_HOST_MAX 256

typedef struct bench_target {
    char bt_url[TARGET_HOST_MAX + 32];    /* normalised: http://HOST:PORT */
    char bt_host[TARGET_HOST_MAX];        /* without brackets */
    char bt_hosthdr[TARGET_HOST_MAX + 8]; /* Host header value: HOST:PORT, [v6]:PORT */
    int bt_port;
    struct sockaddr_storage bt_addr; /* filled by bench_target_resolve() */
    socklen_t bt_addrlen;
} bench_target_t;

/*
 * Parses "http://HOST:PORT", "http://HOST:PORT/" or "HOST:PORT" (HOST may be
 * [v6]). Other schemes, paths, user info and missing ports are CAIRN_EINVAL.
 * *t is written only on success (address not yet resolved).
 */
int bench_target_parse(const char *url, bench_target_t *t);

/* Resolves bt_host with getaddrinfo (first stream address). 0 or CAIRN_EINVAL. */
int bench_target_resolve(bench_target_t *t);

/*
 * Percent-encodes s for use in a URL path: unreserved bytes and '/' are kept,
 * everything else becomes %XX. Returns 0 or CAIRN_ETOOBIG when out (cap
 * bytes, NUL-terminated) is too small.
 */
int bench_path_encode(const char *s, char *out, size_t cap);

#endif
