/* test_log.c -- event lines and value escaping. */
#include "common/error.h"
#include "common/log.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char logpath[128];
static int logfd = -1;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
    logfd = open(logpath, O_RDWR | O_CREAT | O_APPEND | O_TRUNC, 0600);
    ck_assert_int_ge(logfd, 0);
    log_set_fd(logfd);
    log_set_level(LOG_INFO);
    log_set_prefix(NULL);
}

static void teardown(void)
{
    log_set_fd(2);
    close(logfd);
    unlink(logpath);
    rmdir(tmpdir);
}

/* Reads the whole log file into a malloc'ed NUL-terminated string. */
static char *read_log(size_t *len)
{
    FILE *f = fopen(logpath, "r");
    char *data;
    size_t n;

    ck_assert_ptr_nonnull(f);
    data = malloc(4 << 20);
    ck_assert_ptr_nonnull(data);
    n = fread(data, 1, (4 << 20) - 1, f);
    data[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = n;
    return data;
}

/* Checks "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " at the start of line. */
static void check_ts(const char *line)
{
    const char *pat = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
    size_t i;

    for (i = 0; pat[i] != '\0'; i++) {
        if (pat[i] == 'd')
            ck_assert_msg(line[i] >= '0' && line[i] <= '9', "bad ts in: %s", line);
        else
            ck_assert_msg(line[i] == pat[i], "bad ts in: %s", line);
    }
}

START_TEST(test_line_format)
{
    char *data;
    const char *rest;

    LOG_INFO("put.done", "key_len=%d ms=%d", 5, 3);
    data = read_log(NULL);
    check_ts(data);
    rest = data + strlen("ts=2026-11-25T06:53:32.123Z ");
    ck_assert_str_eq(rest, "level=info event=put.done key_len=5 ms=3\n");
    free(data);
}
END_TEST

START_TEST(test_no_fields_and_prefix)
{
    char *data, *second;

    log_event(LOG_WARN, "tick", "%s", "");
    log_set_prefix("node=2");
    log_event(LOG_ERROR, "boom", "rc=%d", -5);
    data = read_log(NULL);
    ck_assert_ptr_nonnull(strstr(data, "level=warn event=tick\n"));
    second = strchr(data, '\n') + 1;
    check_ts(second);
    ck_assert_ptr_nonnull(strstr(second, "level=error node=2 event=boom rc=-5\n"));
    free(data);
}
END_TEST

START_TEST(test_level_filter)
{
    char *data;
    size_t len;

    log_set_level(LOG_WARN);
    ck_assert_int_eq(log_get_level(), LOG_WARN);
    ck_assert(!log_enabled(LOG_INFO));
    ck_assert(log_enabled(LOG_ERROR));
    LOG_INFO("hidden", "a=%d", 1);
    LOG_DEBUG("hidden", "a=%d", 1);
    log_event(LOG_INFO, "hidden", "a=%d", 1);
    LOG_WARN("shown", "a=%d", 2);
    data = read_log(&len);
    ck_assert_ptr_null(strstr(data, "hidden"));
    ck_assert_ptr_nonnull(strstr(data, "event=shown a=2\n"));
    free(data);

    log_set_level(LOG_DEBUG);
    LOG_DEBUG("dbg", "b=%d", 3);
    data = read_log(NULL);
    ck_assert_ptr_nonnull(strstr(data, "level=debug event=dbg b=3\n"));
    free(data);
}
END_TEST

START_TEST(test_level_parse)
{
    log_level_t l;

    ck_assert_int_eq(log_level_parse("error", &l), 0);
    ck_assert_int_eq(l, LOG_ERROR);
    ck_assert_int_eq(log_level_parse("warn", &l), 0);
    ck_assert_int_eq(l, LOG_WARN);
    ck_assert_int_eq(log_level_parse("info", &l), 0);
    ck_assert_int_eq(l, LOG_INFO);
    ck_assert_int_eq(log_level_parse("DEBUG", &l), 0);
    ck_assert_int_eq(l, LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("verbose", &l), CAIRN_EINVAL);
    ck_assert_int_eq(log_level_parse("", &l), CAIRN_EINVAL);
    ck_assert_int_eq(log_level_parse(NULL, &l), CAIRN_EINVAL);
}
END_TEST

START_TEST(test_truncation_keeps_newline)
{
    char *big = malloc(10000), *data;
    size_t len;

    memset(big, 'x', 9999);
    big[9999] = '\0';
    LOG_INFO("big", "v=%s", big);
    LOG_INFO("after", "%s", "ok=1");
    data = read_log(&len);
    ck_assert_ptr_nonnull(strchr(data, '\n'));
    ck_assert_int_eq(strchr(data, '\n') - data + 1, 4096);
    ck_assert_int_eq(memcmp(data + 4092, "...\n", 4), 0);
    ck_assert_ptr_nonnull(strstr(data + 4096, "event=after ok=1\n"));
    free(big);
    free(data);
}
END_TEST

START_TEST(test_embedded_newline_stays_one_line)
{
    char *data;

    LOG_INFO("raw", "msg=%s", "two\nlines\r");
    data = read_log(NULL);
    ck_assert_ptr_nonnull(strstr(data, "event=raw msg=two lines \n"));
    ck_assert_ptr_eq(strchr(data, '\n'), data + strlen(data) - 1);
    free(data);
}
END_TEST

#define NTHREADS 4
#define PER_THREAD 500

static void *log_thread(void *arg)
{
    int id = (int)(long)arg, i;
    char pad[300];

    memset(pad, 'a' + id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (i = 0; i < PER_THREAD; i++)
        LOG_INFO("mt", "t=%d i=%d pad=%s", id, i, pad);
    return NULL;
}

START_TEST(test_threads_no_interleave)
{
    pthread_t t[NTHREADS];
    char *data, *line, *save = NULL;
    int i, count = 0;

    for (i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_thread, (void *)(long)i), 0);
    for (i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    data = read_log(NULL);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        int id, n, off = 0;
        const char *pad;

        check_ts(line);
        ck_assert_int_eq(
            sscanf(strstr(line, "event=mt "), "event=mt t=%d i=%d pad=%n", &id, &n, &off), 2);
        ck_assert_int_gt(off, 0);
        pad = strstr(line, "event=mt ") + off;
        ck_assert_uint_eq(strlen(pad), 299);
        ck_assert_uint_eq(strspn(pad, (char[]){(char)('a' + id), 0}), 299);
        count++;
    }
    ck_assert_int_eq(count, NTHREADS * PER_THREAD);
    free(data);
}
END_TEST

START_TEST(test_kv_str_bare_and_quoted)
{
    char out[64];

    ck_assert_str_eq(log_kv_str(out, sizeof(out), "abc/def.1", 9), "abc/def.1");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "a b", 3), "\"a b\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "k=v", 3), "\"k=v\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "say \"hi\"", 8), "\"say \\\"hi\\\"\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "back\\slash", 10), "\"back\\\\slash\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "l1\nl2", 5), "\"l1\\nl2\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "t\tx\x01\x7f", 5), "\"t\\x09x\\x01\\x7f\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "\xc3\xa9", 2), "\"\\xc3\\xa9\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "", 0), "\"\"");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), NULL, 5), "\"\"");
    /* Not NUL-terminated input: only len bytes are used. */
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "abcdef", 3), "abc");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "a\0b", 3), "\"a\\x00b\"");
}
END_TEST

START_TEST(test_kv_str_truncation)
{
    char out[16];
    char small[4];

    /* Exactly fits: 15 chars + NUL. */
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "abcdefghijklmno", 15), "abcdefghijklmno");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "abcdefghijklmnop", 16), "abcdefghijkl...");
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "a b c d e f g h i", 17), "\"a b c d e ...\"");
    /* An escape is never cut in half: "\n" needs 2 bytes, only 1 left. */
    ck_assert_str_eq(log_kv_str(out, sizeof(out), "a bcdefgh\nxyz", 13), "\"a bcdefgh...\"");
    ck_assert_str_eq(log_kv_str(small, sizeof(small), "abcdef", 6), "...");
    ck_assert_str_eq(log_kv_str(small, 2, "abcdef", 6), ".");
    ck_assert_str_eq(log_kv_str(small, 1, "abcdef", 6), "");
    ck_assert_ptr_eq(log_kv_str(small, 0, "abcdef", 6), small);
}
END_TEST

START_TEST(test_kv_str_fuzz)
{
    char in[64], out[40];
    int i, j, len;

    srand(7);
    for (i = 0; i < 20000; i++) {
        size_t cap = 1 + (size_t)(rand() % (int)sizeof(out));

        len = rand() % (int)sizeof(in);
        for (j = 0; j < len; j++)
            in[j] = (char)(rand() & 0xff);
        memset(out, 0x55, sizeof(out));
        log_kv_str(out, cap, in, (size_t)len);
        ck_assert_uint_lt(strlen(out), cap);
        for (j = 0; out[j] != '\0'; j++)
            ck_assert(out[j] >= 0x20 && out[j] < 0x7f);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_line_format);
    tcase_add_test(tc, test_no_fields_and_prefix);
    tcase_add_test(tc, test_level_filter);
    tcase_add_test(tc, test_level_parse);
    tcase_add_test(tc, test_truncation_keeps_newline);
    tcase_add_test(tc, test_embedded_newline_stays_one_line);
    tcase_add_test(tc, test_threads_no_interleave);
    tcase_add_test(tc, test_kv_str_bare_and_quoted);
    tcase_add_test(tc, test_kv_str_truncation);
    tcase_add_test(tc, test_kv_str_fuzz);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
