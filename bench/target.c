/*
 * target.c -- node URLs and path encoding.
 */
#include "bench/target.h"
#include "common/conf.h"
#include "common/error.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int bench_target_parse(const char *url, bench_target_t *t)
{
    char hp[TARGET_HOST_MAX + 16];
    bench_target_t nt;
    const char *p = url;
    size_t len;
    int rc;

    if (url == NULL)
        return CAIRN_EINVAL;
    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://") != NULL)
        return CAIRN_EINVAL;
    len = strlen(p);
    if (len > 0 && p[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof(hp) || memchr(p, '/', len) != NULL || memchr(p, '@', len) != NULL)
        return CAIRN_EINVAL;
    memcpy(hp, p, len);
    hp[len] = '\0';
    memset(&nt, 0, sizeof(nt));
    rc = conf_parse_hostport(hp, nt.bt_host, sizeof(nt.bt_host), &nt.bt_port);
    if (rc < 0)
        return CAIRN_EINVAL;
    if (strchr(nt.bt_host, ':') != NULL)
        snprintf(nt.bt_hosthdr, sizeof(nt.bt_hosthdr), "[%s]:%d", nt.bt_host, nt.bt_port);
    else
        snprintf(nt.bt_hosthdr, sizeof(nt.bt_hosthdr), "%s:%d", nt.bt_host, nt.bt_port);
    snprintf(nt.bt_url, sizeof(nt.bt_url), "http://%s", nt.bt_hosthdr);
    *t = nt;
    return 0;
}

int bench_target_resolve(bench_target_t *t)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", t->bt_port);
    rc = getaddrinfo(t->bt_host, port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(t->bt_addr)) {
        if (res != NULL)
            freeaddrinfo(res);
        return CAIRN_EINVAL;
    }
    memcpy(&t->bt_addr, res->ai_addr, res->ai_addrlen);
    t->bt_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int bench_path_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    unsigned char c;

    for (; *s != '\0'; s++) {
        c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
            if (n + 1 >= cap)
                return CAIRN_ETOOBIG;
            out[n++] = (char)c;
        } else {
            if (n + 3 >= cap)
                return CAIRN_ETOOBIG;
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    if (n >= cap)
        return CAIRN_ETOOBIG;
    out[n] = '\0';
    return 0;
}
