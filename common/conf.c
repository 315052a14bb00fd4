/*
 * conf.c -- `name = value` configuration files and value parsers.
 */
#include "common/conf.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_FILE_MAX (1024 * 1024)
#define CONF_LINE_MAX 4096
#define CONF_SECRET_MAX 4096

/* Writes a message into err when the caller gave room for one. */
static void conf_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conf_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int conf_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int conf_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/*
 * Reads a regular file of at most max bytes into a malloc'ed, NUL-terminated
 * buffer (*out, caller frees). -errno on I/O errors, CAIRN_ETOOBIG when
 * larger than max, CAIRN_EINVAL when not a regular file. Nothing is
 * allocated on failure.
 */
static int conf_slurp(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    char *data = NULL;
    size_t have = 0;
    ssize_t n;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = CAIRN_EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        rc = CAIRN_ETOOBIG;
        goto fail;
    }
    data = malloc(max + 2);
    if (data == NULL) {
        rc = CAIRN_ENOMEM;
        goto fail;
    }
    /* Read up to max + 1 so a file that grew since fstat is still caught. */
    while (have < max + 1) {
        n = read(fd, data + have, max + 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto fail;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    if (have > max) {
        rc = CAIRN_ETOOBIG;
        goto fail;
    }
    data[have] = '\0';
    close(fd);
    *out = data;
    *len = have;
    return 0;
fail:
    if (data != NULL) {
        explicit_bzero(data, max + 2);
        free(data);
    }
    close(fd);
    return rc;
}

/*
 * Borrows path, cb's arg; err gets a message on any failure. Values are
 * handed to cb as NUL-terminated strings valid only during the call.
 */
int conf_parse_file(const char *path, conf_cb cb, void *arg, char *err, size_t errlen)
{
    char *data = NULL, *line, *next, *end, *eq, *name, *value, *p;
    size_t len, llen;
    int lineno = 0, rc;

    if (path == NULL || cb == NULL) {
        conf_err(err, errlen, "conf_parse_file: bad arguments");
        return CAIRN_EINVAL;
    }
    rc = conf_slurp(path, CONF_FILE_MAX, &data, &len);
    if (rc == CAIRN_ETOOBIG) {
        conf_err(err, errlen, "%s: file larger than %d bytes", path, CONF_FILE_MAX);
        goto done;
    }
    if (rc == CAIRN_EINVAL) {
        conf_err(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    if (rc < 0) {
        conf_err(err, errlen, "%s: %s", path, strerror(-rc));
        goto done;
    }
    if (memchr(data, '\0', len) != NULL) {
        conf_err(err, errlen, "%s: contains a NUL byte", path);
        rc = CAIRN_EINVAL;
        goto done;
    }

    for (line = data; line < data + len; line = next) {
        lineno++;
        end = memchr(line, '\n', (size_t)(data + len - line));
        if (end == NULL)
            end = data + len;
        next = end < data + len ? end + 1 : end;
        llen = (size_t)(end - line);
        if (llen > CONF_LINE_MAX) {
            conf_err(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, CONF_LINE_MAX);
            rc = CAIRN_EINVAL;
            goto done;
        }
        *end = '\0';
        while (conf_blank(*line))
            line++;
        while (end > line && conf_blank(end[-1]))
            *--end = '\0';
        if (*line == '\0' || *line == '#')
            continue;

        eq = strchr(line, '=');
        if (eq == NULL) {
            conf_err(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = CAIRN_EINVAL;
            goto done;
        }
        name = line;
        p = eq;
        while (p > name && conf_blank(p[-1]))
            p--;
        *p = '\0';
        if (*name == '\0') {
            conf_err(err, errlen, "%s:%d: missing name before '='", path, lineno);
            rc = CAIRN_EINVAL;
            goto done;
        }
        for (p = name; *p != '\0'; p++) {
            if (!conf_name_char(*p)) {
                conf_err(err, errlen, "%s:%d: invalid character in name", path, lineno);
                rc = CAIRN_EINVAL;
                goto done;
            }
        }
        value = eq + 1;
        while (conf_blank(*value))
            value++;
        rc = cb(arg, name, value, lineno);
        if (rc != 0) {
            conf_err(err, errlen, "%s:%d: %s: %s", path, lineno, name, cairn_strerror(rc));
            goto done;
        }
    }
    rc = 0;
done:
    free(data);
    return rc;
}

/* Parses leading decimal digits of s into *out; *end after them. */
static int conf_digits(const char *s, const char **end, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return CAIRN_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return CAIRN_EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *end = p;
    *out = v;
    return 0;
}

/* Accepts N, NK, NKB, NKiB (K, M, G, T; any case; powers of 1024) and NB. */
int conf_parse_size(const char *s, uint64_t *out)
{
    const char *p;
    uint64_t v;
    unsigned shift = 0;
    int rc;

    if (s == NULL)
        return CAIRN_EINVAL;
    rc = conf_digits(s, &p, &v);
    if (rc < 0)
        return rc;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift != 0) {
        p++;
        if (*p == 'i' || *p == 'I') {
            p++;
            if (*p != 'b' && *p != 'B')
                return CAIRN_EINVAL;
        }
    }
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p != '\0')
        return CAIRN_EINVAL;
    if (shift != 0 && v > (UINT64_MAX >> shift))
        return CAIRN_EINVAL;
    *out = v << shift;
    return 0;
}

/* Optional sign, then decimal digits only: no blanks, no junk, no overflow. */
int conf_parse_int(const char *s, long long min, long long max, long long *out)
{
    const char *p = s;
    uint64_t mag;
    long long v;
    int neg = 0, rc;

    if (s == NULL || min > max)
        return CAIRN_EINVAL;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    rc = conf_digits(p, &p, &mag);
    if (rc < 0 || *p != '\0')
        return CAIRN_EINVAL;
    if (neg) {
        if (mag > (uint64_t)LLONG_MAX + 1)
            return CAIRN_EINVAL;
        v = mag == (uint64_t)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
    } else {
        if (mag > (uint64_t)LLONG_MAX)
            return CAIRN_EINVAL;
        v = (long long)mag;
    }
    if (v < min || v > max)
        return CAIRN_EINVAL;
    *out = v;
    return 0;
}

/*
 * "host:port" or "[v6]:port". The host (without brackets) is copied into
 * host; a bare IPv6 address without brackets is refused as ambiguous.
 * host and *port are only written on success.
 */
int conf_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *h, *colon, *p;
    size_t hl;
    long long v;
    int rc;

    if (s == NULL || host == NULL || port == NULL)
        return CAIRN_EINVAL;
    if (s[0] == '[') {
        h = s + 1;
        p = strchr(h, ']');
        if (p == NULL || p[1] != ':')
            return CAIRN_EINVAL;
        hl = (size_t)(p - h);
        colon = p + 1;
        for (p = h; p < h + hl; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return CAIRN_EINVAL;
        }
        if (memchr(h, ':', hl) == NULL)
            return CAIRN_EINVAL;
    } else {
        h = s;
        colon = strchr(s, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return CAIRN_EINVAL;
        hl = (size_t)(colon - h);
        for (p = h; p < colon; p++) {
            if (!conf_name_char(*p))
                return CAIRN_EINVAL;
        }
    }
    if (hl == 0 || hl >= hostlen)
        return CAIRN_EINVAL;
    rc = conf_parse_int(colon + 1, 1, 65535, &v);
    if (rc < 0 || colon[1] == '+' || colon[1] == '-')
        return CAIRN_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/*
 * Reads path (a regular file, at most 4 KiB) and trims trailing whitespace.
 * *out (malloc'ed, NUL-terminated, caller frees) and *len are set only on
 * success; memory that held the secret is wiped before it is freed.
 */
int conf_read_secret(const char *path, char **out, size_t *len)
{
    char *data = NULL;
    size_t n = 0;
    int rc;

    if (path == NULL || out == NULL || len == NULL)
        return CAIRN_EINVAL;
    rc = conf_slurp(path, CONF_SECRET_MAX, &data, &n);
    if (rc < 0)
        return rc;
    while (n > 0 && (conf_blank(data[n - 1]) || data[n - 1] == '\n'))
        data[--n] = '\0';
    if (n == 0) {
        explicit_bzero(data, CONF_SECRET_MAX + 2);
        free(data);
        return CAIRN_EINVAL;
    }
    *out = data;
    *len = n;
    return 0;
}
