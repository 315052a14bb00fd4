/*
 * log.h -- one key=value line per event.
 *
 * Every line is written with a single write(2) to stderr (or the fd given to
 * log_set_fd) so lines from different threads never interleave:
 *
 *   ts=2026-11-25T06:53:32.123Z level=info event=put.done key_len=5 ms=3
 *
 * Values containing spaces, quotes, '=' or control bytes are quoted and
 * escaped by log_kv_str(). Lines longer than 4 KiB are truncated.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <stddef.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level_t;

/* Parses "error" | "warn" | "info" | "debug". Returns 0 or CAIRN_EINVAL. */
int log_level_parse(const char *s, log_level_t *out);
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Lines go to fd (default 2). */
void log_set_fd(int fd);
/* Optional fixed field prepended to every line, e.g. "node=2" (copied). */
void log_set_prefix(const char *prefix);

static inline int log_enabled(log_level_t level)
{
    extern log_level_t log_current_level;
    return level <= log_current_level;
}

/*
 * Writes one line: "ts=... level=L event=EVENT " followed by the fields
 * formatted from fmt (printf-style, the caller writes "k=v k2=v2"). Does
 * nothing when level is filtered out.
 */
void log_event(log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Formats s (len bytes, not necessarily NUL-terminated) as a log value into
 * out (cap bytes, always NUL-terminated): bare when it has only safe bytes,
 * otherwise double-quoted with \", \\, \n and \xNN escapes; truncated with
 * "..." when it does not fit. Returns out.
 */
char *log_kv_str(char *out, size_t cap, const char *s, size_t len);

#define LOG_ERROR(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)
#define LOG_WARN(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define LOG_INFO(ev, ...)                                                                          \
    do {                                                                                           \
        if (log_enabled(LOG_INFO))                                                                 \
            log_event(LOG_INFO, ev, __VA_ARGS__);                                                  \
    } while (0)
#define LOG_DEBUG(ev, ...)                                                                         \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_event(LOG_DEBUG, ev, __VA_ARGS__);                                                 \
    } while (0)

#endif
