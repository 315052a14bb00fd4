/*
 * log.c -- key=value event lines, one write(2) each.
 */
#include "common/log.h"
#include "common/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_PREFIX_MAX 256

/* Read by log_enabled() in log.h; written with atomic stores here. */
log_level_t log_current_level = LOG_INFO;

static int log_fd = 2;
static pthread_mutex_t log_prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_prefix[LOG_PREFIX_MAX];

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s, log_level_t *out)
{
    size_t i;

    if (s == NULL || out == NULL)
        return CAIRN_EINVAL;
    for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return CAIRN_EINVAL;
}

void log_set_level(log_level_t level)
{
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    __atomic_store_n(&log_current_level, level, __ATOMIC_RELAXED);
}

log_level_t log_get_level(void)
{
    return __atomic_load_n(&log_current_level, __ATOMIC_RELAXED);
}

void log_set_fd(int fd)
{
    __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

/* Copies prefix (NULL or "" clears it); longer than 255 bytes is cut. */
void log_set_prefix(const char *prefix)
{
    pthread_mutex_lock(&log_prefix_lock);
    if (prefix == NULL)
        log_prefix[0] = '\0';
    else
        snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
    pthread_mutex_unlock(&log_prefix_lock);
}

/*
 * Formats the line into a stack buffer and writes it with one write(2):
 * "ts=... level=L [PREFIX ]event=EVENT[ FIELDS]\n". A line over 4 KiB is cut
 * to 4 KiB ending in "...\n". CR/LF inside the fields become spaces so an
 * event always stays one line. errno is preserved for the caller.
 */
void log_event(log_level_t level, const char *event, const char *fmt, ...)
{
    char line[LOG_LINE_MAX + 1];
    struct timespec ts;
    struct tm tm;
    size_t len, fields_at, i;
    ssize_t n;
    int saved_errno = errno;
    int fd;
    va_list ap;

    if (!log_enabled(level))
        return;
    if (level < LOG_ERROR || level > LOG_DEBUG)
        level = LOG_ERROR;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000L, log_level_names[level]);
    len = n > 0 ? (size_t)n : 0;

    pthread_mutex_lock(&log_prefix_lock);
    if (log_prefix[0] != '\0' && len < LOG_LINE_MAX) {
        n = snprintf(line + len, sizeof(line) - len, "%s ", log_prefix);
        if (n > 0)
            len += (size_t)n;
    }
    pthread_mutex_unlock(&log_prefix_lock);

    if (len < LOG_LINE_MAX) {
        n = snprintf(line + len, sizeof(line) - len, "event=%s", event != NULL ? event : "-");
        if (n > 0)
            len += (size_t)n;
    }
    fields_at = len;
    if (fmt != NULL && fmt[0] != '\0' && len < LOG_LINE_MAX) {
        line[len++] = ' ';
        va_start(ap, fmt);
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        va_end(ap);
        if (n > 0)
            len += (size_t)n;
        else
            len--; /* no fields after all: drop the separator */
    }

    /* Keep one event on one line even if a caller formatted raw text. */
    if (len > LOG_LINE_MAX)
        len = LOG_LINE_MAX + 1; /* marks truncation below */
    for (i = fields_at; i < len && i < LOG_LINE_MAX; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    if (len >= LOG_LINE_MAX) {
        /* The line plus its newline must fit in LOG_LINE_MAX bytes. */
        memcpy(line + LOG_LINE_MAX - 4, "...", 3);
        len = LOG_LINE_MAX - 1;
    }
    line[len++] = '\n';

    fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    do {
        n = write(fd, line, len);
    } while (n < 0 && errno == EINTR);
    errno = saved_errno;
}

/* Bytes that may appear in a bare (unquoted) value. */
static int log_is_bare(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

/* Writes the quoted-form escape of c into u; returns its length (1..4). */
static size_t log_escape(unsigned char c, char u[5])
{
    static const char hex[] = "0123456789abcdef";

    if (c == '"' || c == '\\') {
        u[0] = '\\';
        u[1] = (char)c;
        return 2;
    }
    if (c == '\n') {
        u[0] = '\\';
        u[1] = 'n';
        return 2;
    }
    if (c < 0x20 || c >= 0x7f) {
        u[0] = '\\';
        u[1] = 'x';
        u[2] = hex[c >> 4];
        u[3] = hex[c & 0xf];
        return 4;
    }
    u[0] = (char)c;
    return 1;
}

/* The bytes c occupies in the output: itself when bare, its escape when quoted. */
static size_t log_unit(unsigned char c, int quoted, char u[5])
{
    if (quoted)
        return log_escape(c, u);
    u[0] = (char)c;
    return 1;
}

/*
 * Borrows s for the call; writes into out (cap bytes, NUL-terminated when
 * cap > 0). Escapes are never split by truncation. An empty or NULL s is
 * written as "" so the field stays visible.
 */
char *log_kv_str(char *out, size_t cap, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char u[5];
    size_t i, total, ulen, pos = 0, budget;
    int quoted = 0;

    if (out == NULL || cap == 0)
        return out;
    if (s == NULL)
        len = 0;
    if (len == 0)
        quoted = 1;
    total = 0;
    for (i = 0; i < len; i++) {
        if (!log_is_bare(p[i]))
            quoted = 1;
    }
    for (i = 0; i < len; i++)
        total += log_unit(p[i], quoted, u);
    if (quoted)
        total += 2;

    if (total <= cap - 1) {
        if (quoted)
            out[pos++] = '"';
        for (i = 0; i < len; i++) {
            ulen = log_unit(p[i], quoted, u);
            memcpy(out + pos, u, ulen);
            pos += ulen;
        }
        if (quoted)
            out[pos++] = '"';
        out[pos] = '\0';
        return out;
    }

    /* Truncated: [quote] units... "..." [quote] NUL. */
    if (cap - 1 < 3 + (quoted ? 2u : 0u)) {
        for (pos = 0; pos < cap - 1; pos++)
            out[pos] = '.';
        out[pos] = '\0';
        return out;
    }
    budget = cap - 1 - 3 - (quoted ? 2 : 0);
    if (quoted)
        out[pos++] = '"';
    for (i = 0; i < len; i++) {
        ulen = log_unit(p[i], quoted, u);
        if (ulen > budget)
            break;
        memcpy(out + pos, u, ulen);
        pos += ulen;
        budget -= ulen;
    }
    memcpy(out + pos, "...", 3);
    pos += 3;
    if (quoted)
        out[pos++] = '"';
    out[pos] = '\0';
    return out;
}
