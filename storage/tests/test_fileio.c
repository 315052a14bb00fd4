/*
 * test_fileio.c -- the syscall layer: wrappers, retries, fault injection.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fileio.h"

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-fileio-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    fileio_set_ops(NULL);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", tmpdir, rel);
}

/* ---- injected operations ---- */

static int calls_pwrite, calls_pread, calls_fdatasync, calls_fsync, calls_open;
static int fail_style_direct; /* return -errno instead of -1/errno */

static int fail_with(int e)
{
    if (fail_style_direct)
        return -e;
    errno = e;
    return -1;
}

/* pwrite that returns EINTR on every third call and writes at most 3 bytes. */
static ssize_t choppy_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    calls_pwrite++;
    if (calls_pwrite % 3 == 0)
        return fail_with(EINTR);
    return pwrite(fd, buf, n > 3 ? 3 : n, off);
}

static ssize_t choppy_pread(int fd, void *buf, size_t n, off_t off)
{
    calls_pread++;
    if (calls_pread % 3 == 0)
        return fail_with(EINTR);
    return pread(fd, buf, n > 2 ? 2 : n, off);
}

static ssize_t zero_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    (void)fd;
    (void)buf;
    (void)n;
    (void)off;
    calls_pwrite++;
    return 0;
}

static ssize_t enospc_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    (void)fd;
    (void)buf;
    (void)n;
    (void)off;
    calls_pwrite++;
    return fail_with(ENOSPC);
}

static int eio_fdatasync(int fd)
{
    (void)fd;
    calls_fdatasync++;
    return fail_with(EIO);
}

static int eintr_fsync(int fd)
{
    (void)fd;
    calls_fsync++;
    return fail_with(EINTR);
}

static int eintr_once_open(const char *path, int flags, mode_t mode)
{
    calls_open++;
    if (calls_open == 1)
        return fail_with(EINTR);
    return open(path, flags, mode);
}

static int silent_fail_fsync(int fd)
{
    (void)fd;
    calls_fsync++;
    errno = 0;
    return -1;
}

static fileio_ops_t ops_from_default(void)
{
    return *fileio_default_ops();
}

/* ---- tests ---- */

START_TEST(test_open_cloexec_and_errors)
{
    char p[512];
    int fd, flags;

    path_in(p, sizeof(p), "a");
    fd = fio_open(p, O_CREAT | O_WRONLY | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    flags = fcntl(fd, F_GETFD);
    ck_assert_int_ne(flags & FD_CLOEXEC, 0);
    fio_close(fd);
    ck_assert_int_eq(fio_open(p, O_CREAT | O_WRONLY | O_EXCL, 0644), -EEXIST);
    path_in(p, sizeof(p), "nope/b");
    ck_assert_int_eq(fio_open(p, O_RDONLY, 0), -ENOENT);
    fio_close(-1); /* no-op, must not crash */
}
END_TEST

START_TEST(test_write_read_roundtrip)
{
    char p[512];
    uint8_t data[10000], back[10000];
    struct stat st;
    int fd;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    path_in(p, sizeof(p), "rw");
    fd = fio_open(p, O_CREAT | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), 100), 0);
    ck_assert_int_eq(fio_fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 100 + sizeof(data));
    ck_assert_int_eq(fio_pread_full(fd, back, sizeof(back), 100), (ssize_t)sizeof(back));
    ck_assert_mem_eq(back, data, sizeof(data));
    /* short only at EOF */
    ck_assert_int_eq(fio_pread_full(fd, back, sizeof(back), 5100), 5000);
    ck_assert_int_eq(fio_pread_full(fd, back, sizeof(back), 1u << 20), 0);
    ck_assert_int_eq(fio_fdatasync(fd), 0);
    ck_assert_int_eq(fio_fsync(fd), 0);
    fio_close(fd);
    ck_assert_int_eq(fio_unlink(p), 0);
    ck_assert_int_eq(fio_unlink(p), -ENOENT);
}
END_TEST

START_TEST(test_short_writes_and_eintr_retried)
{
    fileio_ops_t o = ops_from_default();
    char p[512];
    uint8_t data[100], back[100];
    int fd;

    fail_style_direct = _i;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(255 - i);
    o.fo_pwrite = choppy_pwrite;
    o.fo_pread = choppy_pread;
    fileio_set_ops(&o);
    path_in(p, sizeof(p), "chop");
    fd = fio_open(p, O_CREAT | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), 7), 0);
    ck_assert_int_gt(calls_pwrite, 34); /* many partial writes and EINTRs */
    memset(back, 0, sizeof(back));
    ck_assert_int_eq(fio_pread_full(fd, back, sizeof(back), 7), 100);
    ck_assert_int_gt(calls_pread, 50);
    ck_assert_mem_eq(back, data, sizeof(data));
    fileio_set_ops(NULL);
    ck_assert_int_eq(pread(fd, back, sizeof(back), 7), 100);
    ck_assert_mem_eq(back, data, sizeof(data));
    fio_close(fd);
}
END_TEST

START_TEST(test_write_errors_surface)
{
    fileio_ops_t o = ops_from_default();
    char p[512];
    uint8_t data[16] = {0};
    int fd;

    fail_style_direct = _i;
    path_in(p, sizeof(p), "err");
    fd = fio_open(p, O_CREAT | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);

    o.fo_pwrite = enospc_pwrite;
    fileio_set_ops(&o);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), 0), -ENOSPC);
    ck_assert_int_eq(calls_pwrite, 1);

    /* a write making no progress must not spin */
    calls_pwrite = 0;
    o.fo_pwrite = zero_pwrite;
    fileio_set_ops(&o);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), 0), -EIO);
    ck_assert_int_eq(calls_pwrite, 1);
    /* a zero-length write does nothing */
    ck_assert_int_eq(fio_pwrite_all(fd, data, 0, 0), 0);
    ck_assert_int_eq(calls_pwrite, 1);
    fio_close(fd);
}
END_TEST

START_TEST(test_sync_failures_not_retried)
{
    fileio_ops_t o = ops_from_default();
    char p[512];
    int fd;

    fail_style_direct = _i;
    path_in(p, sizeof(p), "sync");
    fd = fio_open(p, O_CREAT | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);
    o.fo_fdatasync = eio_fdatasync;
    o.fo_fsync = eintr_fsync;
    fileio_set_ops(&o);
    ck_assert_int_eq(fio_fdatasync(fd), -EIO);
    ck_assert_int_eq(calls_fdatasync, 1);
    ck_assert_int_eq(fio_fsync(fd), -EINTR);
    ck_assert_int_eq(calls_fsync, 1);
    /* directory fsync goes through the same op */
    ck_assert_int_eq(fio_fsync_dir(tmpdir), -EINTR);
    ck_assert_int_eq(calls_fsync, 2);
    fileio_set_ops(NULL);
    ck_assert_int_eq(fio_fdatasync(fd), 0);
    ck_assert_int_eq(calls_fdatasync, 1);
    fio_close(fd);
}
END_TEST

START_TEST(test_failure_without_errno_is_eio)
{
    fileio_ops_t o = ops_from_default();

    o.fo_fsync = silent_fail_fsync;
    fileio_set_ops(&o);
    ck_assert_int_eq(fio_fsync_dir(tmpdir), -EIO);
    ck_assert_int_eq(calls_fsync, 1);
}
END_TEST

START_TEST(test_open_eintr_retried)
{
    fileio_ops_t o = ops_from_default();
    char p[512];
    int fd;

    o.fo_open = eintr_once_open;
    fileio_set_ops(&o);
    path_in(p, sizeof(p), "intr");
    fd = fio_open(p, O_CREAT | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(calls_open, 2);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    fio_close(fd);
}
END_TEST

START_TEST(test_fsync_dir)
{
    char p[512];

    ck_assert_int_eq(fio_fsync_dir(tmpdir), 0);
    path_in(p, sizeof(p), "missing");
    ck_assert_int_eq(fio_fsync_dir(p), -ENOENT);
    path_in(p, sizeof(p), "file");
    fio_close(fio_open(p, O_CREAT | O_WRONLY, 0644));
    ck_assert_int_eq(fio_fsync_dir(p), -ENOTDIR);
}
END_TEST

START_TEST(test_mkdirs)
{
    char p[512], q[512];
    struct stat st;

    umask(022);
    path_in(p, sizeof(p), "x/y/z");
    ck_assert_int_eq(fio_mkdirs(p), 0);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0755);
    path_in(q, sizeof(q), "x");
    ck_assert_int_eq(stat(q, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0755);
    ck_assert_int_eq(fio_mkdirs(p), 0); /* existing is fine */
    path_in(p, sizeof(p), "x//w/v/");   /* doubled and trailing slashes */
    ck_assert_int_eq(fio_mkdirs(p), 0);
    path_in(q, sizeof(q), "x/w/v");
    ck_assert_int_eq(stat(q, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    /* a file in the way */
    path_in(p, sizeof(p), "x/file");
    fio_close(fio_open(p, O_CREAT | O_WRONLY, 0644));
    ck_assert_int_eq(fio_mkdirs(p), -ENOTDIR);
    path_in(p, sizeof(p), "x/file/sub");
    ck_assert_int_eq(fio_mkdirs(p), -ENOTDIR);
    ck_assert_int_eq(fio_mkdirs(""), -EINVAL);
}
END_TEST

START_TEST(test_set_ops_null_restores)
{
    fileio_ops_t o = ops_from_default();
    char p[512];
    int fd;

    o.fo_fdatasync = eio_fdatasync;
    fileio_set_ops(&o);
    path_in(p, sizeof(p), "restore");
    fd = fio_open(p, O_CREAT | O_RDWR, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fio_fdatasync(fd), -EIO);
    fileio_set_ops(NULL);
    ck_assert(fileio_default_ops()->fo_fdatasync == fdatasync);
    ck_assert_int_eq(fio_fdatasync(fd), 0);
    ck_assert_int_eq(calls_fdatasync, 1);
    fio_close(fd);
}
END_TEST

static Suite *fileio_suite(void)
{
    Suite *s = suite_create("fileio");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_cloexec_and_errors);
    tcase_add_test(tc, test_write_read_roundtrip);
    /* _i = 0: ops fail with -1/errno; _i = 1: ops return -errno */
    tcase_add_loop_test(tc, test_short_writes_and_eintr_retried, 0, 2);
    tcase_add_loop_test(tc, test_write_errors_surface, 0, 2);
    tcase_add_loop_test(tc, test_sync_failures_not_retried, 0, 2);
    tcase_add_test(tc, test_failure_without_errno_is_eio);
    tcase_add_test(tc, test_open_eintr_retried);
    tcase_add_test(tc, test_fsync_dir);
    tcase_add_test(tc, test_mkdirs);
    tcase_add_test(tc, test_set_ops_null_restores);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fileio_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
