/*
 * conf.h -- `name = value` configuration files and value parsers.
 *
 * A config file has one `name = value` per line; blank lines and lines whose
 * first non-blank character is '#' are ignored; surrounding blanks are
 * trimmed. Files over 1 MiB and lines over 4 KiB are refused. The parser
 * validates syntax only; each name/value is handed to cb, which returns 0 or
 * a negative code to stop.
 */
#ifndef CAIRN_CONF_H
#define CAIRN_CONF_H

#include <stddef.h>
#include <stdint.h>

typedef int (*conf_cb)(void *arg, const char *name, const char *value, int lineno);

/*
 * Parses path, calling cb for each entry in file order. On a syntax error
 * writes "PATH:LINE: what" into err (errlen bytes) and returns CAIRN_EINVAL;
 * on an I/O error returns -errno with a message in err. A code returned by
 * cb is passed through.
 */
int conf_parse_file(const char *path, conf_cb cb, void *arg, char *err, size_t errlen);

/* "123", "64K", "8M", "2G", "1T" (powers of 1024). CAIRN_EINVAL on junk or overflow. */
int conf_parse_size(const char *s, uint64_t *out);
/* Decimal integer within [min, max]. */
int conf_parse_int(const char *s, long long min, long long max, long long *out);
/* "HOST:PORT" (HOST may be [v6]); host copied into host (hostlen). */
int conf_parse_hostport(const char *s, char *host, size_t hostlen, int *port);
/* Reads a small secret/token file (max 4 KiB), trailing newline trimmed;
 * empty is CAIRN_EINVAL. *out is malloc'ed, caller frees. */
int conf_read_secret(const char *path, char **out, size_t *len);

#endif
