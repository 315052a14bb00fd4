/*
 * cli_util.c -- exit codes, escaping and value parsing for the `cairn` CLI.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "cairn.h"
#include "cli_util.h"
#include "client_int.h"

int cli_exit_code(int rc)
{
    switch (rc) {
    case CAIRN_CL_OK:
        return CLI_EXIT_OK;
    case CAIRN_CL_ENOTFOUND:
        return CLI_EXIT_NOTFOUND;
    case CAIRN_CL_EUNAVAIL:
    case CAIRN_CL_ETIMEDOUT:
    case CAIRN_CL_ENET:
        return CLI_EXIT_UNAVAIL;
    case CAIRN_CL_ECONFLICT:
        return CLI_EXIT_CONFLICT;
    case CAIRN_CL_EUNAUTH:
        return CLI_EXIT_UNAUTH;
    case CAIRN_CL_ETOOBIG:
    case CAIRN_CL_EHDRTOOBIG:
        return CLI_EXIT_TOOBIG;
    case CAIRN_CL_EDURABILITY:
        return CLI_EXIT_DURABILITY;
    case CAIRN_CL_ENOSPACE:
        return CLI_EXIT_NOSPACE;
    case CAIRN_CL_EINVAL:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_ERROR;
    }
}

static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

int cli_write_escaped(FILE *f, const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c >= 0x80 ? utf8_seq_len(c) : 1;

        if (c >= 0x80 && n > 0 && len - i >= n && cairn__utf8_valid(s + i, n)) {
            fwrite(s + i, 1, n, f);
            i += n;
            continue;
        }
        if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02X", c);
        else
            fputc(c, f);
        i++;
    }
    return ferror(f) ? -1 : 0;
}

int cli_parse_seconds(const char *s, long *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400.0 * 365)
        return -1;
    *ms = (long)ceil(v * 1000.0);
    if (*ms < 1)
        *ms = 1;
    return 0;
}

const char *cli_human_bytes(double n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;

    while (n >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        n /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f %s", n, units[u]);
    else
        snprintf(buf, size, "%.1f %s", n, units[u]);
    return buf;
}
