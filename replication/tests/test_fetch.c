/*
 * test_fetch.c -- read-through repair and damaged copies.
 *
 * A node whose copy of a key is a leftover (receiving, no writer) or whose
 * file went missing fetches the version from a peer into a fresh file; a
 * reader waiting on the key follows those bytes and gets exactly the
 * version. A node whose own copy fails its hash never vouches for it: the
 * stream is aborted, the receiver never commits it and fetches elsewhere.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "replication/tests/util_sync.h"
#include "storage/blobfile.h"

static tcluster_t C;

/* ----------------------------------------------------- reader thread */

typedef struct rthread {
    pthread_t rt_thr;
    store_t *rt_store;
    const char *rt_key;
    uint64_t rt_deadline_ms;
    int rt_done; /* atomic */
    int rt_rc;
    uint8_t *rt_buf;
    size_t rt_len;
    store_stat_t rt_st;
    int rt_waits; /* WAIT steps seen: the reader had to wait for bytes */
} rthread_t;

/* Reads the whole current version with the blocking reader (waits on
 * store_read_wait), like an HTTP GET would. */
static void *reader_main(void *arg)
{
    rthread_t *t = arg;
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    store_step_t step;
    size_t cap = 1 << 20;
    int rc;

    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + t->rt_deadline_ms;
    t->rt_buf = malloc(cap);
    rc = store_read_open(t->rt_store, t->rt_key, strlen(t->rt_key), &ro, &r, NULL);
    while (rc == 0) {
        rc = store_read_next(r, &step);
        if (rc < 0 || step.ss_kind == STORE_STEP_EOF)
            break;
        if (step.ss_kind == STORE_STEP_WAIT) {
            t->rt_waits++;
            store_read_wait(r, 100);
            continue;
        }
        if (t->rt_len + step.ss_len > cap) {
            while (t->rt_len + step.ss_len > cap)
                cap *= 2;
            t->rt_buf = realloc(t->rt_buf, cap);
        }
        if (step.ss_mem != NULL)
            memcpy(t->rt_buf + t->rt_len, step.ss_mem, step.ss_len);
        else if (pread(step.ss_fd, t->rt_buf + t->rt_len, step.ss_len, (off_t)step.ss_off) !=
                 (ssize_t)step.ss_len)
            rc = CAIRN_EINVAL;
        if (rc == 0) {
            store_read_consumed(r, step.ss_len);
            t->rt_len += step.ss_len;
        }
    }
    if (r != NULL)
        t->rt_st = *store_read_stat(r);
    store_read_close(r);
    t->rt_rc = rc;
    __atomic_store_n(&t->rt_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reader_start(rthread_t *t, store_t *s, const char *key, uint64_t deadline_ms)
{
    memset(t, 0, sizeof(*t));
    t->rt_store = s;
    t->rt_key = key;
    t->rt_deadline_ms = deadline_ms;
    ck_assert_int_eq(pthread_create(&t->rt_thr, NULL, reader_main, t), 0);
}

static int reader_done(tcluster_t *c, void *arg)
{
    (void)c;
    return __atomic_load_n(&((rthread_t *)arg)->rt_done, __ATOMIC_ACQUIRE);
}

static void reader_join(rthread_t *t)
{
    ck_assert(tc_run_until(&C, reader_done, t, 20000));
    pthread_join(t->rt_thr, NULL);
}

static int repaired(tcluster_t *c, void *arg)
{
    return tc_metrics(c, *(int *)arg).rm_repairs_done >= 1;
}

/* The reader can finish before the fetch's commit (the file is whole
 * first): wait for the fetch to complete. */
static void wait_repaired(int node)
{
    ck_assert(tc_run_until(&C, repaired, &node, 10000));
}

static void *fill(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n);

    tc_fill(p, n, seed);
    return p;
}

/*
 * Node 2's record of k is a leftover at node 1's version (a replica write
 * abandoned midway) and its cursor is already past the change, so only a
 * read-through repair can fill it: after the restart a reader gets the
 * bytes from node 1, through a fresh local file.
 */
START_TEST(test_repair_leftover)
{
    size_t n = 3 << 20;
    uint8_t *d = fill(n, 101);
    store_stat_t a, b;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_change_t ch;
    store_t *s2;
    rthread_t rt;

    tc_init(&C, 2);
    tc_start(&C, 0);
    tc_put(&C, 0, "big", d, n, &a);

    s2 = tc_open_store_only(&C, 1);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)n;
    po.po_version = a.st_version;
    po.po_hash = a.st_hash;
    ck_assert_int_eq(store_put_begin(s2, "big", 3, &po, &w), 0);
    ck_assert_int_eq(store_put_write(w, d, 100000), 0);
    store_put_abort(w);
    memset(&ch, 0, sizeof(ch));
    ch.sc_origin = 1;
    ch.sc_seq = a.st_log_seq;
    ch.sc_rec = a;
    ch.sc_rec.st_file_id = 0;
    ch.sc_rec.st_log_seq = 0;
    ch.sc_rec.st_inline = 0;
    ch.sc_rec.st_state = STORE_COMPLETE;
    ck_assert_int_eq(store_log_skip(s2, &ch), 0);
    ck_assert_int_eq(store_stat(s2, "big", 3, 0, &b), 0);
    ck_assert_int_eq(b.st_state, STORE_RECEIVING);
    store_close(s2);

    tc_start(&C, 1);
    reader_start(&rt, C.tc_node[1].sn_store, "big", 15000);
    reader_join(&rt);
    ck_assert_msg(rt.rt_rc == 0, "read failed: %s", cairn_strerror(rt.rt_rc));
    ck_assert_uint_eq(rt.rt_len, n);
    ck_assert(memcmp(rt.rt_buf, d, n) == 0);
    ck_assert_int_eq(store_version_cmp(&rt.rt_st.st_version, &a.st_version), 0);
    wait_repaired(1);
    ck_assert(tc_has(&C, 1, "big", &a.st_version, d, n));
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "big", 3, 0, &b), 0);
    ck_assert_uint_ne(b.st_file_id, 0);
    ck_assert_uint_ge(tc_metrics(&C, 1).rm_repairs_done, 1);
    ck_assert_uint_eq(tc_metrics(&C, 1).rm_blob_bytes_received, n);
    free(rt.rt_buf);
    free(d);
    tc_destroy(&C);
}
END_TEST

/* Node 2's file of a replicated blob disappears: the first read finds it
 * missing, reports it, and follows the fetch from node 1. */
START_TEST(test_repair_on_read_missing_file)
{
    size_t n = 2 << 20;
    uint8_t *d = fill(n, 102);
    store_stat_t a, b;
    char path[1024];
    rthread_t rt;

    tc_init(&C, 2);
    tc_start_all(&C);
    tc_put(&C, 0, "gone", d, n, &a);
    ck_assert(tc_wait_has(&C, 0x3, "gone", &a.st_version, d, n, 10000));
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "gone", 4, 0, &b), 0);
    tc_blob_path(&C, 1, b.st_file_id, path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    tc_run_for(&C, 300);
    ck_assert_uint_eq(tc_metrics(&C, 1).rm_repairs_done, 0); /* nobody noticed yet */

    reader_start(&rt, C.tc_node[1].sn_store, "gone", 15000);
    reader_join(&rt);
    ck_assert_msg(rt.rt_rc == 0, "read failed: %s", cairn_strerror(rt.rt_rc));
    ck_assert_uint_eq(rt.rt_len, n);
    ck_assert(memcmp(rt.rt_buf, d, n) == 0);
    ck_assert_int_ge(rt.rt_waits, 1); /* it waited for the fetch, then followed it */
    wait_repaired(1);
    ck_assert_uint_eq(tc_metrics(&C, 1).rm_repairs_done, 1);
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "gone", 4, 0, &a), 0);
    ck_assert_uint_ne(a.st_file_id, b.st_file_id); /* a fresh file */
    free(rt.rt_buf);
    free(d);
    tc_destroy(&C);
}
END_TEST

/* Flips one content byte of node i's file of key (header left intact). */
static void damage(int i, const char *key)
{
    store_stat_t st;
    char path[1024];
    uint8_t byte;
    FILE *f;

    ck_assert_int_eq(store_stat(C.tc_node[i].sn_store, key, strlen(key), 0, &st), 0);
    ck_assert_uint_ne(st.st_file_id, 0);
    tc_blob_path(&C, i, st.st_file_id, path, sizeof(path));
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, BLOBFILE_HEADER_SIZE + 777, SEEK_SET), 0);
    ck_assert_int_eq(fread(&byte, 1, 1, f), 1);
    byte ^= 0x5a;
    ck_assert_int_eq(fseek(f, BLOBFILE_HEADER_SIZE + 777, SEEK_SET), 0);
    ck_assert_int_eq(fwrite(&byte, 1, 1, f), 1);
    fclose(f);
}

/* The only copy is damaged: node 2 never commits it (never COMPLETE,
 * reads give up), node 1 counts the damaged copy, marks it damaged in its
 * store (its own reads give up too) and does not resend it in a loop. */
START_TEST(test_damaged_only_copy_never_committed)
{
    size_t n = 1 << 20;
    uint8_t *d = fill(n, 103);
    store_stat_t a, b;
    rthread_t rt;
    uint64_t sent;

    tc_init(&C, 2);
    tc_start(&C, 0);
    tc_put(&C, 0, "bad", d, n, &a);
    damage(0, "bad");
    tc_start(&C, 1);
    tc_run_for(&C, 1500);
    ck_assert_uint_ge(tc_metrics(&C, 0).rm_damaged_copies, 1);
    ck_assert_int_eq(store_stat(C.tc_node[0].sn_store, "bad", 3, 0, &b), 0);
    ck_assert_int_eq(b.st_damaged, 1);
    ck_assert(!tc_has(&C, 0, "bad", NULL, d, n));
    ck_assert(!tc_has(&C, 1, "bad", NULL, d, n));
    if (store_stat(C.tc_node[1].sn_store, "bad", 3, 0, &b) == 0)
        ck_assert_int_ne(b.st_state, STORE_COMPLETE);
    sent = tc_metrics(&C, 0).rm_blob_bytes_sent;
    ck_assert_uint_le(sent, n); /* streamed (and aborted) once, never again */
    reader_start(&rt, C.tc_node[1].sn_store, "bad", 500);
    reader_join(&rt);
    ck_assert_int_ne(rt.rt_rc, 0);
    tc_run_for(&C, 700);
    ck_assert_uint_eq(tc_metrics(&C, 0).rm_blob_bytes_sent, sent);
    free(rt.rt_buf);
    free(d);
    tc_destroy(&C);
}
END_TEST

/* Node 1's copy is damaged, node 3 has a good one: node 2 ends up with the
 * good bytes, fetched from node 3; node 1 then skips it without bytes, and
 * repairs its own copy (marked damaged when it failed to send) from node 3. */
START_TEST(test_damaged_sender_fetch_elsewhere)
{
    size_t n = 1 << 20;
    uint8_t *d = fill(n, 104);
    store_stat_t a, b;
    uint64_t cur = 0;

    tc_init(&C, 3);
    tc_start(&C, 2);
    tc_start(&C, 0);
    tc_put(&C, 0, "k", d, n, &a);
    ck_assert(tc_wait_has(&C, 0x5, "k", &a.st_version, d, n, 10000));
    damage(0, "k");
    /* First node 2 can only reach node 1: the damaged stream is aborted. */
    C.tc_dead[1][2] = 1;
    tc_start(&C, 1);
    for (int t = 0; t < 100 && tc_metrics(&C, 0).rm_damaged_copies == 0; t++)
        tc_run_for(&C, 50);
    ck_assert_uint_ge(tc_metrics(&C, 0).rm_damaged_copies, 1);
    tc_run_for(&C, 300);
    ck_assert(!tc_has(&C, 1, "k", NULL, d, n));
    /* Then with node 3 reachable it fetches the good copy there. */
    tc_stop(&C, 1);
    C.tc_dead[1][2] = 0;
    tc_start(&C, 1);
    ck_assert_msg(tc_wait_has(&C, 0x2, "k", &a.st_version, d, n, 15000),
                  "node 2 did not get a good copy");
    /* and its cursor for node 1 moves past the change */
    for (int t = 0; t < 100 && cur < a.st_log_seq; t++) {
        tc_run_for(&C, 50);
        ck_assert_int_eq(store_cursor_get(C.tc_node[1].sn_store, 1, &cur), 0);
    }
    ck_assert_uint_eq(cur, a.st_log_seq);
    ck_assert_msg(tc_wait_has(&C, 0x1, "k", &a.st_version, d, n, 15000),
                  "node 1 did not repair its damaged copy");
    ck_assert_int_eq(store_stat(C.tc_node[0].sn_store, "k", 1, 0, &b), 0);
    ck_assert_int_eq(b.st_damaged, 0);
    ck_assert_uint_ne(b.st_file_id, a.st_file_id);
    free(d);
    tc_destroy(&C);
}
END_TEST

/* The key was deleted on node 1 after node 2's leftover: the fetch brings
 * the tombstone. */
START_TEST(test_repair_finds_tombstone)
{
    size_t n = 200000;
    uint8_t *d = fill(n, 105);
    store_stat_t a, del, b;
    store_put_opts_t po;
    store_writer_t *w = NULL;
    store_t *s2;

    store_change_t ch;

    tc_init(&C, 2);
    tc_start(&C, 0);
    tc_put(&C, 0, "x", d, n, &a);
    tc_delete(&C, 0, "x", &del);
    s2 = tc_open_store_only(&C, 1);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)n;
    po.po_version = a.st_version;
    po.po_hash = a.st_hash;
    ck_assert_int_eq(store_put_begin(s2, "x", 1, &po, &w), 0);
    store_put_abort(w);
    /* its cursor is past both changes: only the fetch can settle it */
    memset(&ch, 0, sizeof(ch));
    ch.sc_origin = 1;
    ch.sc_seq = a.st_log_seq;
    ch.sc_rec = a;
    ch.sc_rec.st_file_id = 0;
    ch.sc_rec.st_log_seq = 0;
    ch.sc_rec.st_inline = 0;
    ck_assert_int_eq(store_log_skip(s2, &ch), 0);
    ch.sc_seq = del.st_log_seq;
    ch.sc_rec = del;
    ch.sc_rec.st_log_seq = 0;
    ck_assert_int_eq(store_log_skip(s2, &ch), 0);
    store_close(s2);
    tc_start(&C, 1);
    ck_assert_int_eq(store_stat(C.tc_node[1].sn_store, "x", 1, 1, &b), 0);
    for (int t = 0; t < 200 && !tc_deleted(&C, 1, "x", &del.st_version); t++)
        tc_run_for(&C, 50);
    ck_assert(tc_deleted(&C, 1, "x", &del.st_version));
    ck_assert_uint_ge(tc_metrics(&C, 1).rm_repairs_done, 1);
    free(d);
    tc_destroy(&C);
}
END_TEST

Suite *fetch_suite(void)
{
    Suite *s = suite_create("fetch");
    TCase *tc = tcase_create("fetch");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_repair_leftover);
    tcase_add_test(tc, test_repair_on_read_missing_file);
    tcase_add_test(tc, test_damaged_only_copy_never_committed);
    tcase_add_test(tc, test_damaged_sender_fetch_elsewhere);
    tcase_add_test(tc, test_repair_finds_tombstone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tc_main(fetch_suite());
}
