/*
 * test_commit_sync.c -- what waits for a committed batch to be durable
 * (commit_main in storage/commit.c: MDB_NOMETASYNC, a batch released only
 * after the next data sync or an explicit mdb_env_sync).
 *
 * With the sync held up by the store.commit.sync failpoint (sleep), a
 * write's record is already committed and visible, but until the sync:
 *   - its writer is not acknowledged (store_put_finish has not returned);
 *   - store_log_read() does not hand out its log entry (a peer must never
 *     get a local seq that a power failure could undo);
 *   - so_on_change has not been called for it.
 * After the sync all three happen.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "storage/store.h"
#include "util_store.h"

typedef struct putter {
    store_t *pt_s;
    int pt_rc;
    int pt_done; /* atomic */
} putter_t;

static uint64_t notified; /* atomic: highest seq given to so_on_change */

static void on_change(void *arg, uint16_t origin, uint64_t seq)
{
    (void)arg;
    (void)origin;
    __atomic_store_n(&notified, seq, __ATOMIC_SEQ_CST);
}

static void *putter_main(void *arg)
{
    putter_t *p = arg;
    uint8_t data[100];

    ut_fill(data, sizeof(data), 7);
    p->pt_rc = ut_put_local(p->pt_s, "k/sync", data, sizeof(data), NULL);
    __atomic_store_n(&p->pt_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int count_entry(void *arg, const store_change_t *c)
{
    (void)c;
    (*(size_t *)arg)++;
    return 0;
}

static size_t log_entries(store_t *s)
{
    size_t n = 0;

    ck_assert_int_eq(store_log_read(s, 1, 0, 0, count_entry, &n), 0);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

START_TEST(test_nothing_escapes_before_sync)
{
    char *dir = ut_tmpdir("csync");
    store_opts_t o;
    store_t *s;
    store_stat_t st;
    putter_t p;
    pthread_t th;
    int rc = CAIRN_ENOTFOUND;

    memset(&o, 0, sizeof(o));
    o.so_node_id = 1;
    o.so_log_changes = 1;
    o.so_on_change = on_change;
    __atomic_store_n(&notified, 0, __ATOMIC_SEQ_CST);
    s = ut_open(dir, &o);

    ck_assert_int_eq(failpoints_configure("store.commit.sync=sleep(1500)"), 0);
    memset(&p, 0, sizeof(p));
    p.pt_s = s;
    ck_assert_int_eq(pthread_create(&th, NULL, putter_main, &p), 0);
    /* Wait until the commit is visible (the sync is still sleeping). */
    for (int i = 0; i < 100 && rc == CAIRN_ENOTFOUND; i++) {
        sleep_ms(10);
        rc = store_stat(s, "k/sync", 6, 0, &st);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(!__atomic_load_n(&p.pt_done, __ATOMIC_SEQ_CST),
                  "writer acknowledged before its commit was synced");
    ck_assert_uint_eq(log_entries(s), 0);
    ck_assert_uint_eq(__atomic_load_n(&notified, __ATOMIC_SEQ_CST), 0);

    pthread_join(th, NULL);
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    ck_assert_int_eq(p.pt_rc, 0);
    ck_assert_uint_eq(log_entries(s), 1);
    ck_assert_uint_eq(__atomic_load_n(&notified, __ATOMIC_SEQ_CST), 1);
    store_close(s);
    ut_rm_rf(dir);
    free(dir);
}
END_TEST

static Suite *csync_suite(void)
{
    Suite *su = suite_create("storage-commit-sync");
    TCase *tc = tcase_create("sync");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_nothing_escapes_before_sync);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(csync_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
