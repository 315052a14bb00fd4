/*
 * test_api_big.c -- a 1 GiB blob streamed in and out of cairnd.
 *
 * The content is generated on the fly and compared by XXH3-128, never held
 * in memory. cairnd's peak resident set (VmHWM) over the PUT and the GET
 * must stay below 64 MiB: bodies stream, memory is bounded by
 * configuration, not by blob size (DESIGN.md section 5). The measured
 * figures are printed. Should take well under 60 s.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "api_http.h"

#define GIB (1024ull * 1024 * 1024)
#define HWM_LIMIT_KB (64 * 1024)

typedef struct mem_probe {
    pid_t mp_pid;
    long mp_max_rss_kb;
    uint64_t mp_next;
} mem_probe_t;

static void probe(mem_probe_t *m)
{
    long rss, hwm;

    if (api_proc_mem(m->mp_pid, &rss, &hwm) == 0 && rss > m->mp_max_rss_kb)
        m->mp_max_rss_kb = rss;
}

/* Progress hook of the GET: sample cairnd's RSS every 64 MiB. */
static void on_progress(void *arg, uint64_t total)
{
    mem_probe_t *m = arg;

    if (total >= m->mp_next) {
        probe(m);
        m->mp_next = total + (64u << 20);
    }
}

START_TEST(test_one_gib)
{
    const uint64_t size = GIB;
    api_node_t n;
    api_conn_t c;
    api_resp_t r;
    mem_probe_t m = {0};
    struct statvfs vfs;
    char hex[API_HASH_HEX], extra[64];
    long rss0, hwm0, rss, hwm;
    uint64_t t0, t_put, t_get;
    int sanitized;

    ck_assert_int_eq(statvfs("/tmp", &vfs), 0);
    ck_assert_msg((uint64_t)vfs.f_bavail * vfs.f_frsize > 2 * GIB,
                  "need 2 GiB free in /tmp for the 1 GiB test");
    api_hash_gen_hex(77, size, hex);

    api_node_init(&n);
    api_node_start(&n);
    m.mp_pid = n.an_pid;
    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss0, &hwm0), 0);
    sanitized = api_proc_sanitized(n.an_pid);

    /* PUT: headers, then 1 GiB in 256 KiB pieces, sampling RSS as we go. */
    t0 = api_now_ms();
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    c.ac_timeout_ms = 60000;
    snprintf(extra, sizeof(extra), "Content-Length: %llu\r\n", (unsigned long long)size);
    ck_assert_int_eq(api_send_req(&c, &n, 1, "PUT", "/v1/blobs/one-gib", extra, NULL, 0), 0);
    for (uint64_t off = 0; off < size; off += 64u << 20) {
        int rc = api_conn_send_gen(&c, 77, off, 64u << 20, 0, 1);
        ck_assert_msg(rc == 0, "PUT body stopped at offset %llu (%d)", (unsigned long long)off, rc);
        probe(&m);
    }
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    t_put = api_now_ms() - t0;
    api_assert_put_ok(&r, "one-gib", size, hex);
    api_resp_free(&r);
    api_conn_close(&c);

    /* GET: hash while reading. */
    t0 = api_now_ms();
    ck_assert_int_eq(api_conn_open(&c, n.an_port, 0), 0);
    c.ac_timeout_ms = 60000;
    c.ac_store_max = 0;
    c.ac_progress = on_progress;
    c.ac_progress_arg = &m;
    ck_assert_int_eq(api_send_req(&c, &n, 1, "GET", "/v1/blobs/one-gib", NULL, NULL, 0), 0);
    ck_assert_int_eq(api_conn_read_final(&c, 0, &r), 0);
    t_get = api_now_ms() - t0;
    ck_assert_int_eq(r.ar_status, 200);
    ck_assert_uint_eq(r.ar_body_total, size);
    ck_assert_str_eq(r.ar_hash, hex);
    api_resp_free(&r);
    api_conn_close(&c);

    ck_assert_int_eq(api_proc_mem(n.an_pid, &rss, &hwm), 0);
    printf("1 GiB: PUT %.1f s (%.0f MiB/s), GET %.1f s (%.0f MiB/s); cairnd VmHWM %ld KiB "
           "(%.1f MiB; %.1f MiB at start), max sampled VmRSS %ld KiB, limit %d KiB%s\n",
           t_put / 1000.0, 1024.0 / (t_put / 1000.0 + 1e-9), t_get / 1000.0,
           1024.0 / (t_get / 1000.0 + 1e-9), hwm, hwm / 1024.0, hwm0 / 1024.0, m.mp_max_rss_kb,
           HWM_LIMIT_KB, sanitized ? " (sanitizer build: limit not enforced)" : "");
    fflush(stdout);
    if (!sanitized)
        ck_assert_msg(hwm < HWM_LIMIT_KB, "cairnd VmHWM %ld KiB >= %d KiB during 1 GiB PUT+GET",
                      hwm, HWM_LIMIT_KB);
    ck_assert_msg(t_put + t_get < 120000, "1 GiB PUT+GET took %llu ms",
                  (unsigned long long)(t_put + t_get));
    api_must_health(&n);
    api_node_finish(&n);
}
END_TEST

static Suite *big_suite(void)
{
    Suite *s = suite_create("api_big");
    TCase *tc = tcase_create("one_gib");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_one_gib);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return api_run_suite(big_suite());
}
