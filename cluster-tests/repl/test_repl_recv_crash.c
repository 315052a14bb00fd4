/*
 * test_repl_recv_crash.c -- the defining scenario (DESIGN.md, docs/replication.md
 * "Crash re-send and read-through repair").
 *
 * Node 3 runs with repl.recv.chunk=crash@K and dies while receiving a
 * 64 MiB blob written on node 1 (durability=majority, so node 2's ack
 * completes the PUT). Node 3 is restarted without failpoints while a
 * reader hammers the key on it from the moment its HTTP port accepts:
 * every answer must be either the exact bytes (200, Content-Length equal
 * to the bytes received, XXH3-128 equal) or 503 -- never another status,
 * never wrong or partial bytes -- and the right bytes must come within
 * seconds. Afterwards the crash leftover is gone and node 3's copy lives in
 * a new file id (inlining off, so every blob is a file).
 *
 * Variants (one test each):
 *   recv_chunk       repl.recv.chunk=crash@40: the defining scenario
 *   recv_chunk_first / recv_chunk_late  the same at the 1st / 250th chunk
 *   recv_chunk_slow  crash@40 with the senders slowed (repl.send.chunk=
 *                    sleep(10): ~2.6 s per 64 MiB), so the reader meets the
 *                    re-transfer in progress
 *   before_commit    repl.recv.before_commit=crash: the whole but
 *                    uncommitted file is deleted, the blob re-sent
 *   ack_before_send  repl.ack.before_send=crash: the blob was committed;
 *                    after the restart node 3 serves that same file and
 *                    receives no blob bytes again (re-offer skipped)
 */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/blobscan.h"
#include "rt.h"

#define BLOB (64ull << 20)

/* One way of crashing the receiver. */
typedef struct variant {
    const char *v_name;
    const char *v_crash;   /* node 3's CAIRN_FAILPOINTS */
    const char *v_senders; /* nodes 1 and 2's, NULL for none */
    const char *v_log_fp;  /* failpoint name expected in the crash log line */
    int v_partial;         /* the crash must leave a partial (not whole) file */
    int v_committed;       /* the blob was committed before the crash */
} variant_t;

typedef struct reader {
    const char *rd_url;
    const char *rd_key;
    const char *rd_hex;
    int64_t rd_t0;       /* restart time (ms, rt_now_ms) */
    int64_t rd_deadline; /* give up on a first correct read at this time */
    /* results */
    int64_t rd_accept_ms;        /* first connection accepted, from t0 */
    int64_t rd_first_ok_ms;      /* first exact read complete, from t0 */
    int64_t rd_first_ok_byte_ms; /* first byte of the first exact read, from t0 */
    int rd_reads, rd_ok, rd_503, rd_violations;
    char rd_first_violation[1200];
} reader_t;

static int contains(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t k = 0; k < n; k++) {
        if (v[k] == x)
            return 1;
    }
    return 0;
}

/*
 * Reads the key in a loop from before node 3 restarts: "connection
 * refused" until its port accepts, then every answer is judged. Stops
 * after four exact reads past the first, at the first bad answer, or at
 * the deadline.
 */
static void *reader_main(void *arg)
{
    reader_t *rd = arg;
    CURL *h = curl_easy_init();
    int accepted = 0;

    rd->rd_accept_ms = -1;
    rd->rd_first_ok_ms = -1;
    while (h != NULL && rt_now_ms() < rd->rd_deadline) {
        rt_resp_t r;

        rt_get(h, rd->rd_url, rd->rd_key, &r);
        if (!accepted && r.rr_status == 0 && r.rr_curl == CURLE_COULDNT_CONNECT) {
            rt_sleep_ms(2);
            continue;
        }
        if (!accepted) {
            accepted = 1;
            rd->rd_accept_ms = r.rr_t0 + (r.rr_connect_ms > 0 ? r.rr_connect_ms : 0) - rd->rd_t0;
        }
        rd->rd_reads++;
        if (rt_get_exact(&r, rd->rd_hex, BLOB)) {
            rd->rd_ok++;
            if (rd->rd_first_ok_ms < 0) {
                rd->rd_first_ok_ms = rt_now_ms() - rd->rd_t0;
                rd->rd_first_ok_byte_ms = r.rr_t0 + r.rr_first_ms - rd->rd_t0;
            }
            if (rd->rd_ok >= 5)
                break;
        } else if (r.rr_status == 503 && r.rr_curl == CURLE_OK) {
            rd->rd_503++;
            rt_sleep_ms(5);
        } else {
            char s[1024];
            rd->rd_violations++;
            if (rd->rd_violations == 1)
                snprintf(rd->rd_first_violation, sizeof(rd->rd_first_violation),
                         "read #%d at %lld ms after restart: %s", rd->rd_reads,
                         (long long)(rt_now_ms() - rd->rd_t0), rt_resp_str(&r, s, sizeof(s)));
            break; /* one is enough to fail; stop at once */
        }
    }
    if (h != NULL)
        curl_easy_cleanup(h);
    return NULL;
}

static void scan(rt_t *t, int node, hscan_t *sc, blobfile_info_t **whole, size_t *nwhole)
{
    int rc = blobscan_dir(t->rt_cl.cl_nodes[node].hn_data, sc, whole, nwhole);
    ck_assert_msg(rc == 0, "scanning node %d's blobs: %d", node, rc);
}

static void scan_free(hscan_t *sc)
{
    free(sc->hs_ids);
    free(sc->hs_left_ids);
    free(sc->hs_orphan_ids);
    memset(sc, 0, sizeof(*sc));
}

static void run_variant(const variant_t *va)
{
    static const char *const extra[] = {"--inline-max", "0", NULL};
    const char *const crash_line[] = {"failpoint.crash", va->v_log_fp, NULL};
    const char *key = "crash/blob";
    char fig[128];
    double recv_after = -1;
    rt_t t;
    rt_resp_t r;
    reader_t rd;
    pthread_t th;
    hscan_t before, crashed, after;
    blobfile_info_t *whole = NULL;
    size_t nwhole = 0;
    char hex[33], s[1024];
    int64_t t0, deadline, pending = -1;
    int settled = 0;

    rt_setup(&t, va->v_name, 3, extra);
    rt_start(&t, 1, va->v_senders, 0);
    rt_start(&t, 2, va->v_senders, 0);
    rt_start(&t, 3, va->v_crash, 0);
    for (int i = 1; i <= 3; i++)
        ck_assert_msg(cluster_wait_ready(&t.rt_cl, i, 20000) == 0, "node %d not ready", i);
    rt_wait_links(&t, 0, 20000);
    scan(&t, 3, &before, NULL, NULL);

    rt_hash(t.rt_seed, 1, BLOB, hex);
    rt_put(t.rt_h, rt_url(&t, 1), key, "majority", t.rt_seed, 1, BLOB, &r);
    rt_assert_put_ok(&r, "PUT 64 MiB on node 1 (durability=majority, node 2 acks)", hex);

    ck_assert_msg(cluster_wait_exit(&t.rt_cl, 3, 30000) == 0,
                  "node 3 did not die at %s within 30 s of the PUT", va->v_crash);
    ck_assert_msg(rt_log_count(&t, 3, crash_line) >= 1,
                  "node 3 exited but its log has no failpoint.crash line for %s", va->v_log_fp);
    scan(&t, 3, &crashed, NULL, NULL);
    if (va->v_partial)
        ck_assert_msg(crashed.hs_nleft >= 1,
                      "node 3 died at %s but left no partial blob file (files=%llu)", va->v_crash,
                      (unsigned long long)crashed.hs_files);
    ck_assert_msg(crashed.hs_nids > before.hs_nids,
                  "node 3 died at %s but no new blob file exists (files=%llu)", va->v_crash,
                  (unsigned long long)crashed.hs_files);
    printf("node 3 crashed at %s; file ids after the crash:", va->v_crash);
    for (size_t k = 0; k < crashed.hs_nids; k++)
        printf(" %016llx%s", (unsigned long long)crashed.hs_ids[k],
               contains(crashed.hs_left_ids, crashed.hs_nleft, crashed.hs_ids[k]) ? "(partial)"
                                                                                  : "");
    printf("\n");
    fflush(stdout);

    /* Restart without failpoints, reader already waiting on the port. */
    memset(&rd, 0, sizeof(rd));
    rd.rd_url = rt_url(&t, 3);
    rd.rd_key = key;
    rd.rd_hex = hex;
    t0 = rt_now_ms();
    rd.rd_t0 = t0;
    rd.rd_deadline = t0 + 60000;
    ck_assert(pthread_create(&th, NULL, reader_main, &rd) == 0);
    rt_start(&t, 3, NULL, 0);
    pthread_join(th, NULL);

#define FIG(what, fmt, val)                                                                        \
    do {                                                                                           \
        snprintf(fig, sizeof(fig), "%s_%s", va->v_name, what);                                     \
        rt_figure(fig, fmt, val);                                                                  \
    } while (0)
    FIG("port_accept_ms", "%lld", (long long)rd.rd_accept_ms);
    FIG("restart_to_first_correct_read_ms", "%lld", (long long)rd.rd_first_ok_ms);
    FIG("first_correct_read_first_byte_ms", "%lld", (long long)rd.rd_first_ok_byte_ms);
    FIG("reader_reads", "%d", rd.rd_reads);
    FIG("reader_503", "%d", rd.rd_503);
    FIG("reader_exact", "%d", rd.rd_ok);
    FIG("reader_violations", "%d", rd.rd_violations);
    ck_assert_msg(rd.rd_violations == 0,
                  "reader on node 3 after its restart got %d answer(s) that were neither the exact "
                  "64 MiB (200, Content-Length = bytes received, hash %s) nor 503; first: %s",
                  rd.rd_violations, hex, rd.rd_first_violation);
    ck_assert_msg(rd.rd_accept_ms >= 0, "node 3's HTTP port never accepted within 60 s");
    ck_assert_msg(rd.rd_first_ok_ms >= 0,
                  "node 3 never served the exact 64 MiB within 60 s of its restart "
                  "(reads=%d, 503=%d)",
                  rd.rd_reads, rd.rd_503);
    ck_assert_msg(rd.rd_first_ok_ms <= 15000,
                  "node 3 served the right bytes only %lld ms after its restart (want seconds)",
                  (long long)rd.rd_first_ok_ms);

    /*
     * Afterwards: repairs drained and exactly one file holds the blob. When
     * the crash came before the commit, every file the crash left is gone
     * and the blob lives in a new id; when it came after the commit, the
     * committed file is the one kept.
     */
    deadline = rt_now_ms() + 30000;
    while (rt_now_ms() < deadline) {
        int crash_files_gone = 1, holders = 0, holder_new = 0;

        pending = rt_pending(&t, t.rt_h, 3);
        scan(&t, 3, &after, &whole, &nwhole);
        for (size_t k = 0; k < crashed.hs_nids; k++) {
            if (!contains(before.hs_ids, before.hs_nids, crashed.hs_ids[k]) &&
                contains(after.hs_ids, after.hs_nids, crashed.hs_ids[k]))
                crash_files_gone = 0;
        }
        for (size_t k = 0; k < nwhole; k++) {
            if (strcmp(whole[k].bi_hash, hex) != 0)
                continue;
            holders++;
            if (!contains(before.hs_ids, before.hs_nids, whole[k].bi_id) &&
                !contains(crashed.hs_ids, crashed.hs_nids, whole[k].bi_id))
                holder_new = 1;
        }
        if (va->v_committed)
            settled = pending == 0 && holders == 1 && !holder_new && after.hs_nleft == 0 &&
                      after.hs_nids == crashed.hs_nids;
        else
            settled = pending == 0 && crash_files_gone && holders == 1 && holder_new &&
                      after.hs_nleft == 0;
        if (settled) {
            printf("node 3 after recovery: files=%llu, the blob's file is %s\n",
                   (unsigned long long)after.hs_files,
                   holder_new ? "new" : "the one committed before the crash");
        } else if (rt_now_ms() + 200 >= deadline) {
            ck_assert_msg(0,
                          "30 s after node 3's restart (%s): pending_repairs=%lld, files left by "
                          "the crash %s, %d whole file(s) with the blob's hash (want 1), in a "
                          "new id: %s (want %s), %zu leftover file(s), %zu files (%zu after the "
                          "crash)",
                          va->v_crash, (long long)pending,
                          crash_files_gone ? "gone" : "STILL PRESENT", holders,
                          holder_new ? "yes" : "no", va->v_committed ? "no" : "yes", after.hs_nleft,
                          after.hs_nids, crashed.hs_nids);
        }
        free(whole);
        whole = NULL;
        scan_free(&after);
        if (settled)
            break;
        rt_sleep_ms(200);
    }
    ck_assert(settled);

    if (va->v_committed) {
        /* The re-offer after the restart must be skipped without bytes. */
        static const char *const subs[] = {"repl", "blob", "bytes", "received", NULL};
        char *m = rt_metrics(t.rt_h, rt_url(&t, 3));
        char name[256] = "";

        ck_assert(m != NULL);
        recv_after = rt_metric_find(m, subs, name, sizeof(name));
        free(m);
        FIG("blob_bytes_received_after_restart", "%.0f", recv_after);
        ck_assert_msg(recv_after == 0,
                      "node 3 had committed the blob before crashing (%s), yet received %.0f "
                      "blob bytes (%s) after its restart: the blob was transferred twice",
                      va->v_crash, recv_after, name);
    }

    /* Every node serves the blob; node 3 still alive. */
    for (int j = 1; j <= 3; j++) {
        int64_t ms = rt_wait_get(t.rt_h, rt_url(&t, j), key, hex, BLOB, 10000, &r);
        ck_assert_msg(ms >= 0, "GET %s on node %d at the end: %s", key, j,
                      rt_resp_str(&r, s, sizeof(s)));
        ck_assert_msg(rt_alive(&t, j), "node %d exited", j);
    }
    scan_free(&before);
    scan_free(&crashed);
    rt_teardown(&t);
}

static const variant_t v_recv_chunk = {
    "recv_chunk", "repl.recv.chunk=crash@40", NULL, "repl.recv.chunk", 1, 0};
static const variant_t v_recv_chunk_first = {
    "recv_chunk_first", "repl.recv.chunk=crash@1", NULL, "repl.recv.chunk", 1, 0};
static const variant_t v_recv_chunk_late = {
    "recv_chunk_late", "repl.recv.chunk=crash@250", NULL, "repl.recv.chunk", 1, 0};
static const variant_t v_recv_chunk_slow = {"recv_chunk_slow",
                                            "repl.recv.chunk=crash@40",
                                            "repl.send.chunk=sleep(10)",
                                            "repl.recv.chunk",
                                            1,
                                            0};
static const variant_t v_before_commit = {
    "before_commit", "repl.recv.before_commit=crash", NULL, "repl.recv.before_commit", 0, 0};
static const variant_t v_ack_before_send = {
    "ack_before_send", "repl.ack.before_send=crash", NULL, "repl.ack.before_send", 0, 1};

START_TEST(test_crash_recv_chunk)
{
    run_variant(&v_recv_chunk);
}
END_TEST

START_TEST(test_crash_recv_chunk_first)
{
    run_variant(&v_recv_chunk_first);
}
END_TEST

START_TEST(test_crash_recv_chunk_late)
{
    run_variant(&v_recv_chunk_late);
}
END_TEST

START_TEST(test_crash_recv_chunk_slow_senders)
{
    run_variant(&v_recv_chunk_slow);
}
END_TEST

START_TEST(test_crash_before_commit)
{
    run_variant(&v_before_commit);
}
END_TEST

START_TEST(test_crash_ack_before_send)
{
    run_variant(&v_ack_before_send);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_recv_crash");
    TCase *tc = tcase_create("recv_crash");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 140);
    tcase_add_test(tc, test_crash_recv_chunk);
    tcase_add_test(tc, test_crash_recv_chunk_first);
    tcase_add_test(tc, test_crash_recv_chunk_late);
    tcase_add_test(tc, test_crash_recv_chunk_slow_senders);
    tcase_add_test(tc, test_crash_before_commit);
    tcase_add_test(tc, test_crash_ack_before_send);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
