/* test_procstat.c -- VmRSS/VmHWM parsing and pid files. */
#include "bench/procstat.h"
#include "common/error.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char sample[] = "Name:\tcairnd\nVmPeak:\t  200000 kB\nVmHWM:\t    5120 kB\n"
                             "VmRSS:\t    4096 kB\nThreads:\t9\n";

START_TEST(test_parse)
{
    uint64_t rss = 1, hwm = 1;

    ck_assert_int_eq(procstat_parse(sample, strlen(sample), &rss, &hwm), 0);
    ck_assert_uint_eq(rss, 4096);
    ck_assert_uint_eq(hwm, 5120);
    /* no trailing newline */
    ck_assert_int_eq(procstat_parse("VmRSS: 1 kB\nVmHWM: 2 kB", 23, &rss, &hwm), 0);
    ck_assert_uint_eq(rss, 1);
    ck_assert_uint_eq(hwm, 2);
}
END_TEST

START_TEST(test_parse_refuses)
{
    static const char *const bad[] = {
        "Name:\tkthreadd\nState:\tS\n",  /* kernel thread: no Vm lines */
        "VmRSS:\t4096 kB\n",             /* no VmHWM */
        "VmRSS:\t kB\nVmHWM:\t1 kB\n",   /* no digits */
        "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", /* unit */
        "VmRSS:\t99999999999999999999999 kB\nVmHWM:\t1 kB\n",
    };
    uint64_t rss = 7, hwm = 7;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(procstat_parse(bad[i], strlen(bad[i]), &rss, &hwm) == CAIRN_EINVAL, "%s",
                      bad[i]);
        ck_assert_uint_eq(rss, 7);
        ck_assert_uint_eq(hwm, 7);
    }
}
END_TEST

START_TEST(test_read_self_and_gone)
{
    uint64_t rss = 0, hwm = 0;
    pid_t child;
    int st;

    ck_assert_int_eq(procstat_read(getpid(), &rss, &hwm), 0);
    ck_assert_uint_gt(rss, 0);
    ck_assert_uint_ge(hwm, rss);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert_int_eq(procstat_read(child, &rss, &hwm), -ENOENT);
}
END_TEST

START_TEST(test_pidfile)
{
    char dir[] = "/tmp/cairn-bench-test.XXXXXX", path[256];
    pid_t pid = 0;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/pid", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("12345\n", f);
    fclose(f);
    ck_assert_int_eq(procstat_read_pidfile(path, &pid), 0);
    ck_assert_int_eq(pid, 12345);
    f = fopen(path, "w");
    fputs("12x\n", f);
    fclose(f);
    ck_assert_int_eq(procstat_read_pidfile(path, &pid), CAIRN_EINVAL);
    f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(procstat_read_pidfile(path, &pid), CAIRN_EINVAL);
    unlink(path);
    ck_assert_int_eq(procstat_read_pidfile(path, &pid), -ENOENT);
    ck_assert_int_eq(pid, 12345);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("procstat");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_parse_refuses);
    tcase_add_test(tc, test_read_self_and_gone);
    tcase_add_test(tc, test_pidfile);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
