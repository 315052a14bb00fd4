/*
 * failpoint.h -- named fault-injection points.
 *
 * CAIRN_FAILPOINTS="name=action;name=action" with action one of
 *   crash        SIGKILL this process at the first hit
 *   crash@N      SIGKILL at the Nth hit (1-based)
 *   error        the failpoint returns -EIO
 *   error@N      -EIO on the Nth hit only
 *   enospc       the failpoint returns -ENOSPC (enospc@N likewise)
 *   sleep(MS)    sleep MS milliseconds, then continue (returns 0)
 *
 * Code marks a point with
 *     rc = FAILPOINT("store.write.chunk");
 *     if (rc < 0) goto fail;
 * When no failpoint is configured, FAILPOINT costs one predictable branch on
 * a global flag. docs/failpoints.md lists every name.
 */
#ifndef CAIRN_FAILPOINT_H
#define CAIRN_FAILPOINT_H

extern int failpoints_active;

/*
 * Parses spec (the CAIRN_FAILPOINTS syntax) and installs it, replacing any
 * earlier configuration. NULL or "" clears all. Returns 0, or CAIRN_EINVAL
 * for a malformed spec (nothing installed then). Thread-safe.
 */
int failpoints_configure(const char *spec);
/* Reads CAIRN_FAILPOINTS from the environment; returns what configure returns. */
int failpoints_from_env(void);
/* Evaluates the named point: 0, -EIO, -ENOSPC, or does not return (crash). */
int failpoint_eval(const char *name);
/* How many times name was hit since configured (for tests). */
unsigned long failpoint_hits(const char *name);

#define FAILPOINT(name) (__builtin_expect(failpoints_active, 0) ? failpoint_eval(name) : 0)

#endif
