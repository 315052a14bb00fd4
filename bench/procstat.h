/*
 * procstat.h -- resident memory of another process, from /proc/PID/status.
 */
#ifndef CAIRN_BENCH_PROCSTAT_H
#define CAIRN_BENCH_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Finds the "VmRSS:" and "VmHWM:" lines (values in kB) in the first len
 * bytes of text (borrowed). Returns 0, or CAIRN_EINVAL when either is
 * missing or malformed (a kernel thread or zombie has neither); the outputs
 * are written only on success.
 */
int procstat_parse(const char *text, size_t len, uint64_t *rss_kb, uint64_t *hwm_kb);

/*
 * Reads /proc/pid/status. Returns 0, -errno (-ENOENT once the process is
 * gone) or CAIRN_EINVAL (no memory lines, e.g. a zombie).
 */
int procstat_read(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb);

/*
 * Reads a pid file: decimal pid, optional trailing blanks/newline, nothing
 * else. Returns 0, -errno or CAIRN_EINVAL.
 */
int procstat_read_pidfile(const char *path, pid_t *pid);

#endif
