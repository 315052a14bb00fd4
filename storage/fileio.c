/*
 * fileio.c -- the swappable syscall layer under every blob-file operation.
 *
 * The operations in fileio_ops_t follow the syscall convention: a negative
 * return (normally -1) with errno set. An injected operation may instead
 * return -errno directly (any value below -1); the wrappers accept both and
 * always hand callers 0/count or -errno.
 */
#include "storage/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int real_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static const fileio_ops_t real_ops = {
    .fo_open = real_open,
    .fo_pwrite = pwrite,
    .fo_pread = pread,
    .fo_fdatasync = fdatasync,
    .fo_fsync = fsync,
    .fo_fstat = fstat,
    .fo_unlink = unlink,
    .fo_close = close,
};

static const fileio_ops_t *ops = &real_ops;

void fileio_set_ops(const fileio_ops_t *o)
{
    ops = o != NULL ? o : &real_ops;
}

const fileio_ops_t *fileio_default_ops(void)
{
    return &real_ops;
}

/*
 * Turns a failed operation's return value into -errno. -1 means "look at
 * errno" (syscall style); anything below -1 already is -errno. A failure
 * that left errno at 0 is reported as -EIO so it can never look like success.
 */
static int err_of(long rc, int saved_errno)
{
    if (rc < -1)
        return (int)rc;
    if (saved_errno > 0)
        return -saved_errno;
    return -EIO;
}

/* Returns an fd with O_CLOEXEC set, or -errno. Retries EINTR. */
int fio_open(const char *path, int flags, mode_t mode)
{
    int fd;

    for (;;) {
        errno = 0;
        fd = ops->fo_open(path, flags | O_CLOEXEC, mode);
        if (fd >= 0)
            return fd;
        fd = err_of(fd, errno);
        if (fd != -EINTR)
            return fd;
    }
}

/*
 * Writes all n bytes of buf at off, looping over short writes and EINTR.
 * On failure some prefix of the range may have been written. A write that
 * makes no progress is reported as -EIO instead of looping forever.
 */
int fio_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    ssize_t w;
    int rc;

    if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
        return -EINVAL;
    while (n > 0) {
        size_t chunk = n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n;

        errno = 0;
        w = ops->fo_pwrite(fd, p, chunk, (off_t)off);
        if (w < 0) {
            rc = err_of(w, errno);
            if (rc == -EINTR)
                continue;
            return rc;
        }
        if (w == 0 || (size_t)w > chunk)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/*
 * Reads up to n bytes at off into buf, looping over short reads and EINTR.
 * Returns the count read (less than n only at end of file) or -errno.
 */
ssize_t fio_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    ssize_t r;
    int rc;

    if (n > (size_t)SSIZE_MAX)
        n = (size_t)SSIZE_MAX;
    if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
        return -EINVAL;
    while (got < n) {
        errno = 0;
        r = ops->fo_pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            rc = err_of(r, errno);
            if (rc == -EINTR)
                continue;
            return rc;
        }
        if (r == 0)
            break;
        if ((size_t)r > n - got)
            return -EIO;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/*
 * fdatasync/fsync are never retried, not even on EINTR: after a failed
 * flush the kernel may have dropped the dirty pages (fsyncgate), so a
 * second call could report success for data that is gone.
 */
int fio_fdatasync(int fd)
{
    int rc;

    errno = 0;
    rc = ops->fo_fdatasync(fd);
    return rc < 0 ? err_of(rc, errno) : 0;
}

int fio_fsync(int fd)
{
    int rc;

    errno = 0;
    rc = ops->fo_fsync(fd);
    return rc < 0 ? err_of(rc, errno) : 0;
}

int fio_fstat(int fd, struct stat *st)
{
    int rc;

    errno = 0;
    rc = ops->fo_fstat(fd, st);
    return rc < 0 ? err_of(rc, errno) : 0;
}

int fio_unlink(const char *path)
{
    int rc;

    errno = 0;
    rc = ops->fo_unlink(path);
    return rc < 0 ? err_of(rc, errno) : 0;
}

/* Closes fd once (never retried: on Linux the fd is gone even after EINTR). */
void fio_close(int fd)
{
    if (fd < 0)
        return;
    (void)ops->fo_close(fd);
}

/* Opens the directory read-only and fsyncs it; 0 or -errno. */
int fio_fsync_dir(const char *path)
{
    int fd;
    int rc;

    fd = fio_open(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    rc = fio_fsync(fd);
    fio_close(fd);
    return rc;
}

/*
 * Creates path and every missing parent with mode 0755 (mkdir -p). An
 * existing directory is success; an existing non-directory is -ENOTDIR.
 * On failure the components made so far stay.
 */
int fio_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    struct stat st;
    size_t i;

    if (len == 0)
        return -EINVAL;
    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "a//b": skip the empty component */
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        if (i < len)
            buf[i] = '/';
    }
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}
