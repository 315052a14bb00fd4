/*
 * fileio.h -- the one narrow layer all blob-file I/O and fsync goes through.
 *
 * Every blob-file syscall in storage/ is made through these wrappers so a
 * test can swap the operations (fileio_set_ops) to inject faults or to
 * simulate a crash that loses unsynced writes. Wrappers retry EINTR and
 * short transfers; they return 0 (or a byte count where stated) or -errno.
 * fsync/fdatasync failures are never retried (fsyncgate): the caller treats
 * the file as lost.
 */
#ifndef CAIRN_FILEIO_H
#define CAIRN_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct fileio_ops {
    int (*fo_open)(const char *path, int flags, mode_t mode);
    ssize_t (*fo_pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*fo_pread)(int fd, void *buf, size_t n, off_t off);
    int (*fo_fdatasync)(int fd);
    int (*fo_fsync)(int fd);
    int (*fo_fstat)(int fd, struct stat *st);
    int (*fo_unlink)(const char *path);
    int (*fo_close)(int fd);
} fileio_ops_t;

/* Replaces the operations (NULL restores the real syscalls). Not thread-safe:
 * call before the store is opened. */
void fileio_set_ops(const fileio_ops_t *ops);
const fileio_ops_t *fileio_default_ops(void);

/* Returns an fd (O_CLOEXEC added) or -errno. */
int fio_open(const char *path, int flags, mode_t mode);
/* Writes all n bytes at off. */
int fio_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* Reads up to n bytes at off; returns the count (short only at EOF) or -errno. */
ssize_t fio_pread_full(int fd, void *buf, size_t n, uint64_t off);
int fio_fdatasync(int fd);
int fio_fsync(int fd);
int fio_fstat(int fd, struct stat *st);
int fio_unlink(const char *path);
void fio_close(int fd); /* ignores -1 */
/* fsyncs a directory (opens it O_RDONLY|O_DIRECTORY). */
int fio_fsync_dir(const char *path);
/* mkdir -p with mode 0755; EEXIST is success. */
int fio_mkdirs(const char *path);

#endif
