/*
 * cli_util.h -- pieces of the `cairn` CLI that are unit-tested on their own:
 * exit codes, output escaping, option value parsing.
 */
#ifndef CAIRN_CLI_UTIL_H
#define CAIRN_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes of `cairn` (documented in `cairn --help` and docs/cli.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,      /* anything not listed below */
    CLI_EXIT_USAGE = 2,      /* bad command line */
    CLI_EXIT_NOTFOUND = 3,   /* no such key */
    CLI_EXIT_UNAVAIL = 4,    /* 503, no node reachable, transfer stalled or cut */
    CLI_EXIT_CONFLICT = 5,   /* 409 / 412 */
    CLI_EXIT_UNAUTH = 6,     /* 401 */
    CLI_EXIT_TOOBIG = 7,     /* 413 / 431 */
    CLI_EXIT_DURABILITY = 8, /* stored, but durability not reached in time */
    CLI_EXIT_NOSPACE = 9,    /* 507 */
    CLI_EXIT_INTERRUPTED = 130,
};

/* Maps a libcairn return code (CAIRN_CL_E*, -errno, 0) to an exit code. */
int cli_exit_code(int rc);

/*
 * Writes s[0..len) to f so that it stays on one line of a tab-separated
 * listing: '\\' -> "\\\\", tab -> "\\t", newline -> "\\n", CR -> "\\r",
 * other bytes below 0x20, 0x7f and invalid UTF-8 -> "\\xHH"; valid UTF-8 is
 * written as it is. Returns 0 or -1 when f reports a write error.
 */
int cli_write_escaped(FILE *f, const char *s, size_t len);

/* Parses a positive number of seconds ("10", "2.5") into milliseconds
 * (at least 1). 0 on success, -1 when s is not such a number. */
int cli_parse_seconds(const char *s, long *ms);

/* Formats a byte count for humans ("1.5 MiB") into buf. Returns buf. */
const char *cli_human_bytes(double n, char *buf, size_t size);

#endif
