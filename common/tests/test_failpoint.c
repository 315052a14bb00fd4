/* test_failpoint.c -- CAIRN_FAILPOINTS parsing and actions. */
#include "common/error.h"
#include "common/failpoint.h"
#include "common/log.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void teardown(void)
{
    failpoints_configure(NULL);
}

START_TEST(test_inactive_by_default)
{
    ck_assert_int_eq(failpoints_active, 0);
    ck_assert_int_eq(FAILPOINT("store.write.chunk"), 0);
    ck_assert_uint_eq(failpoint_hits("store.write.chunk"), 0);
}
END_TEST

START_TEST(test_valid_specs)
{
    static const char *const ok[] = {
        "a=crash",
        "a=crash@1",
        "a=crash@4294967295",
        "a=error",
        "a=error@3",
        "a=enospc",
        "a=enospc@2",
        "a=sleep(0)",
        "a=sleep(250)",
        "store.write.chunk=error;repl.recv.before_commit=crash@2",
        "x_y-z.0=enospc;",
        ";a=error;;b=enospc;",
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(failpoints_configure(ok[i]) == 0, "rejected: %s", ok[i]);
        ck_assert_int_eq(failpoints_active, 1);
    }
    ck_assert_int_eq(failpoints_configure(""), 0);
    ck_assert_int_eq(failpoints_active, 0);
    ck_assert_int_eq(failpoints_configure("a=error"), 0);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_int_eq(failpoints_active, 0);
}
END_TEST

START_TEST(test_malformed_specs)
{
    static const char *const bad[] = {
        "a",                   /* no '=' */
        "=crash",              /* empty name */
        "A=crash",             /* uppercase */
        "a b=crash",           /* space in name */
        "a=crash ",            /* trailing blank */
        " a=crash",            /* leading blank */
        "a/b=crash",           /* bad char */
        "a=",                  /* empty action */
        "a=explode",           /* unknown action */
        "a=crashes",           /* action prefix only */
        "a=crash@",            /* missing N */
        "a=crash@0",           /* N is 1-based */
        "a=crash@-1",          /* negative */
        "a=crash@1x",          /* junk after N */
        "a=crash@99999999999", /* too many digits */
        "a=error@2@3",         /* two counts */
        "a=sleep",             /* no parens */
        "a=sleep()",           /* no ms */
        "a=sleep(10",          /* no closing paren */
        "a=sleep(10)x",        /* junk after */
        "a=sleep(-1)",         /* negative */
        "a=sleep(1x)",         /* junk inside */
        "a=sleep(3600001)",    /* over an hour */
        "a=sleep(10)@2",       /* sleep takes no count */
        "a=error;a=crash",     /* duplicate name */
        "a=error;b",           /* second entry broken */
        "a==error",            /* '=' in action */
    };
    char longname[80], spec[200];
    size_t i;

    ck_assert_int_eq(failpoints_configure("keep.me=error"), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(failpoints_configure(bad[i]) == CAIRN_EINVAL, "accepted: %s", bad[i]);
        /* Nothing installed: the earlier configuration stays. */
        ck_assert_int_eq(failpoints_active, 1);
        ck_assert_int_eq(FAILPOINT("keep.me"), -EIO);
        ck_assert_int_eq(FAILPOINT("a"), 0);
    }

    memset(longname, 'n', 65);
    longname[65] = '\0';
    snprintf(spec, sizeof(spec), "%s=error", longname);
    ck_assert_int_eq(failpoints_configure(spec), CAIRN_EINVAL);
    longname[64] = '\0';
    snprintf(spec, sizeof(spec), "%s=error", longname);
    ck_assert_int_eq(failpoints_configure(spec), 0);
    ck_assert_int_eq(FAILPOINT(longname), -EIO);
}
END_TEST

START_TEST(test_max_entries)
{
    char spec[1024];
    size_t len = 0;
    int i;

    for (i = 0; i < 32; i++)
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, "p%d=error;", i);
    ck_assert_int_eq(failpoints_configure(spec), 0);
    ck_assert_int_eq(FAILPOINT("p31"), -EIO);
    snprintf(spec + len, sizeof(spec) - len, "p32=error");
    ck_assert_int_eq(failpoints_configure(spec), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_error_and_enospc)
{
    int i;

    ck_assert_int_eq(failpoints_configure("e=error;s=enospc"), 0);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(FAILPOINT("e"), -EIO);
        ck_assert_int_eq(FAILPOINT("s"), -ENOSPC);
        ck_assert_int_eq(FAILPOINT("other"), 0);
    }
    ck_assert_uint_eq(failpoint_hits("e"), 3);
    ck_assert_uint_eq(failpoint_hits("s"), 3);
    ck_assert_uint_eq(failpoint_hits("other"), 0);
}
END_TEST

START_TEST(test_nth_hit)
{
    int i, rc;

    ck_assert_int_eq(failpoints_configure("e=error@3;s=enospc@1"), 0);
    for (i = 1; i <= 6; i++) {
        rc = FAILPOINT("e");
        ck_assert_int_eq(rc, i == 3 ? -EIO : 0);
        rc = FAILPOINT("s");
        ck_assert_int_eq(rc, i == 1 ? -ENOSPC : 0);
    }
    ck_assert_uint_eq(failpoint_hits("e"), 6);
    /* Reconfiguring resets the counters. */
    ck_assert_int_eq(failpoints_configure("e=error@2"), 0);
    ck_assert_uint_eq(failpoint_hits("e"), 0);
    ck_assert_int_eq(FAILPOINT("e"), 0);
    ck_assert_int_eq(FAILPOINT("e"), -EIO);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_sleep)
{
    double t0, dt;

    ck_assert_int_eq(failpoints_configure("z=sleep(120)"), 0);
    t0 = now_s();
    ck_assert_int_eq(FAILPOINT("z"), 0);
    dt = now_s() - t0;
    ck_assert_msg(dt >= 0.119 && dt < 5.0, "slept %.3f s", dt);
    ck_assert_uint_eq(failpoint_hits("z"), 1);
}
END_TEST

START_TEST(test_from_env)
{
    setenv("CAIRN_FAILPOINTS", "env.point=enospc", 1);
    ck_assert_int_eq(failpoints_from_env(), 0);
    ck_assert_int_eq(FAILPOINT("env.point"), -ENOSPC);
    setenv("CAIRN_FAILPOINTS", "env.point=bogus", 1);
    ck_assert_int_eq(failpoints_from_env(), CAIRN_EINVAL);
    unsetenv("CAIRN_FAILPOINTS");
    ck_assert_int_eq(failpoints_from_env(), 0);
    ck_assert_int_eq(failpoints_active, 0);
}
END_TEST

/* Forks a child that configures spec and hits name `hits` times, then exits 7. */
static int run_child(const char *spec, const char *name, int hits)
{
    int status, i, devnull;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            log_set_fd(devnull);
        if (failpoints_configure(spec) != 0)
            _exit(2);
        for (i = 0; i < hits; i++)
            (void)FAILPOINT(name);
        _exit(7);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(test_crash_kills_with_sigkill)
{
    int status;

    status = run_child("boom=crash", "boom", 1);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);

    status = run_child("boom=crash@3", "boom", 3);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);

    /* crash@3 hit only twice: the child runs to its normal exit. */
    status = run_child("boom=crash@3", "boom", 2);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 7);

    /* A different name never fires. */
    status = run_child("boom=crash", "other", 5);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 7);
}
END_TEST

START_TEST(test_crash_logs_the_name)
{
    int pfd[2], status;
    char buf[512];
    ssize_t n;
    pid_t pid;

    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        log_set_fd(pfd[1]);
        if (failpoints_configure("store.write.synced=crash") != 0)
            _exit(2);
        (void)FAILPOINT("store.write.synced");
        _exit(7);
    }
    close(pfd[1]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    n = read(pfd[0], buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, "level=error"));
    ck_assert_ptr_nonnull(strstr(buf, "name=store.write.synced"));
    close(pfd[0]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("failpoint");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    unsetenv("CAIRN_FAILPOINTS");
    log_set_level(LOG_ERROR); /* error/enospc hits log warnings; keep output short */
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_inactive_by_default);
    tcase_add_test(tc, test_valid_specs);
    tcase_add_test(tc, test_malformed_specs);
    tcase_add_test(tc, test_max_entries);
    tcase_add_test(tc, test_error_and_enospc);
    tcase_add_test(tc, test_nth_hit);
    tcase_add_test(tc, test_sleep);
    tcase_add_test(tc, test_from_env);
    tcase_add_test(tc, test_crash_kills_with_sigkill);
    tcase_add_test(tc, test_crash_logs_the_name);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
