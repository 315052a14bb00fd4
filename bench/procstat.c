/*
 * procstat.c -- VmRSS/VmHWM sampling from /proc.
 */
#include "bench/procstat.h"
#include "common/conf.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PS_STATUS_MAX 8192

/*
 * Parses the value of a "Name:\t   1234 kB" line starting at p (at most end).
 * Returns 0 and *kb, or CAIRN_EINVAL.
 */
static int ps_value_kb(const char *p, const char *end, uint64_t *kb)
{
    uint64_t v = 0;
    int digits = 0;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return CAIRN_EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        digits++;
        p++;
    }
    if (digits == 0)
        return CAIRN_EINVAL;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 2 || p[0] != 'k' || p[1] != 'B')
        return CAIRN_EINVAL;
    *kb = v;
    return 0;
}

int procstat_parse(const char *text, size_t len, uint64_t *rss_kb, uint64_t *hwm_kb)
{
    const char *p = text, *end = text + len, *eol;
    uint64_t rss = 0, hwm = 0;
    int have_rss = 0, have_hwm = 0, rc;

    while (p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if (eol - p > 6 && memcmp(p, "VmRSS:", 6) == 0) {
            rc = ps_value_kb(p + 6, eol, &rss);
            if (rc < 0)
                return rc;
            have_rss = 1;
        } else if (eol - p > 6 && memcmp(p, "VmHWM:", 6) == 0) {
            rc = ps_value_kb(p + 6, eol, &hwm);
            if (rc < 0)
                return rc;
            have_hwm = 1;
        }
        p = eol + 1;
    }
    if (!have_rss || !have_hwm)
        return CAIRN_EINVAL;
    *rss_kb = rss;
    *hwm_kb = hwm;
    return 0;
}

/*
 * Reads up to cap - 1 bytes of path into buf (NUL-terminated); *len gets the
 * byte count. Returns 0 or -errno.
 */
static int ps_slurp(const char *path, char *buf, size_t cap, size_t *len)
{
    size_t got = 0;
    ssize_t n;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while (got + 1 < cap) {
        n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto done;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
done:
    close(fd);
    return rc;
}

int procstat_read(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb)
{
    char path[64], buf[PS_STATUS_MAX];
    size_t len;
    int rc;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    rc = ps_slurp(path, buf, sizeof(buf), &len);
    if (rc < 0)
        return rc;
    return procstat_parse(buf, len, rss_kb, hwm_kb);
}

int procstat_read_pidfile(const char *path, pid_t *pid)
{
    char buf[64];
    size_t len;
    long long v;
    int rc;

    rc = ps_slurp(path, buf, sizeof(buf), &len);
    if (rc < 0)
        return rc;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
                       buf[len - 1] == '\r'))
        buf[--len] = '\0';
    rc = conf_parse_int(buf, 1, 4194304, &v);
    if (rc < 0 || buf[0] == '+')
        return CAIRN_EINVAL;
    *pid = (pid_t)v;
    return 0;
}
