/*
 * test_checker.c -- the invariant checker: a correct history passes, and a
 * history that breaks each invariant in one precise way is caught by that
 * invariant's check (and by no unrelated one).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster-tests/checker.h"
#include "cluster-tests/content.h"
#include "cluster-tests/history.h"

#define SEED 42

static history_t g_h;
static uint64_t g_id;

static void setup(void)
{
    history_init(&g_h);
    g_h.hi_nodes = 2;
    g_h.hi_seed = SEED;
    snprintf(g_h.hi_scenario, sizeof(g_h.hi_scenario), "unit");
    g_id = 100;
}

static void teardown(void)
{
    history_free(&g_h);
}

static void hash_of(uint64_t id, uint64_t size, char *out)
{
    content_hash(SEED, id, size, out);
}

/* Records an acknowledged PUT (version hlc-node) of size bytes; returns its id. */
static uint64_t put(int node, const char *key, int64_t t0, int64_t t1, uint64_t hlc, uint64_t size,
                    const char *dur, hop_result_t res)
{
    hop_t o;

    memset(&o, 0, sizeof(o));
    o.ho_id = ++g_id;
    o.ho_kind = OP_PUT;
    o.ho_node = node;
    o.ho_key = (char *)key;
    o.ho_start_ms = t0;
    o.ho_end_ms = t1;
    o.ho_result = res;
    o.ho_status = res == RES_OK ? 201 : 0;
    o.ho_size = size;
    snprintf(o.ho_dur, sizeof(o.ho_dur), "%s", dur);
    hash_of(o.ho_id, size, o.ho_hash);
    if (res == RES_OK) {
        snprintf(o.ho_etag, sizeof(o.ho_etag), "%s", o.ho_hash);
        o.ho_version.hv_hlc = hlc;
        o.ho_version.hv_origin = (uint32_t)node;
        o.ho_version.hv_set = 1;
    }
    ck_assert_int_eq(history_add_op(&g_h, &o), 0);
    return o.ho_id;
}

/* Records a GET that returned write wid's bytes (wid 0: not found). */
static void get(int node, const char *key, int64_t t0, int64_t t1, uint64_t wid, uint64_t size,
                uint64_t hlc, int origin, int final)
{
    hop_t o;

    memset(&o, 0, sizeof(o));
    o.ho_id = ++g_id;
    o.ho_kind = OP_GET;
    o.ho_node = node;
    o.ho_key = (char *)key;
    o.ho_start_ms = t0;
    o.ho_end_ms = t1;
    o.ho_final = (uint8_t) final;
    if (wid == 0) {
        o.ho_result = RES_NOT_FOUND;
        o.ho_status = 404;
    } else {
        o.ho_result = RES_OK;
        o.ho_status = 200;
        o.ho_size = size;
        hash_of(wid, size, o.ho_hash);
        snprintf(o.ho_etag, sizeof(o.ho_etag), "%s", o.ho_hash);
        o.ho_version.hv_hlc = hlc;
        o.ho_version.hv_origin = (uint32_t)origin;
        o.ho_version.hv_set = 1;
    }
    ck_assert_int_eq(history_add_op(&g_h, &o), 0);
}

static void raw_op(const hop_t *o)
{
    ck_assert_int_eq(history_add_op(&g_h, o), 0);
}

static void ev(int64_t t, const char *kind, int node, int flag)
{
    hevent_t e;

    memset(&e, 0, sizeof(e));
    e.he_t_ms = t;
    snprintf(e.he_kind, sizeof(e.he_kind), "%s", kind);
    e.he_node = node;
    e.he_flag = flag;
    ck_assert_int_eq(history_add_event(&g_h, &e), 0);
}

/* Both nodes up from t=0, healed at 900, converged at 950, final state clean. */
static void frame(void)
{
    ev(0, "start", 1, 0);
    ev(1, "ready", 1, 0);
    ev(0, "start", 2, 0);
    ev(1, "ready", 2, 0);
    ev(900, "heal_all", 0, 0);
    ev(950, "converged", 0, 0);
    for (int i = 1; i <= g_h.hi_nodes; i++) {
        hfinal_t *f = &g_h.hi_final[g_h.hi_nfinal++];
        f->hf_node = i;
        f->hf_up = 1;
        f->hf_listed = 1;
        f->hf_pending = 0;
    }
}

static check_report_t g_rep;

static const check_result_t *run_check(const char *name)
{
    check_opts_t o;
    const check_result_t *c;

    check_opts_default(&o);
    check_report_free(&g_rep);
    ck_assert_int_eq(checker_run(&g_h, &o, &g_rep), 0);
    c = check_report_find(&g_rep, name);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Every enforced check except `except` holds. */
static void others_hold(const char *except)
{
    for (int i = 0; i < g_rep.ck_n; i++) {
        const check_result_t *c = &g_rep.ck_checks[i];
        if (except != NULL && strcmp(c->cr_name, except) == 0)
            continue;
        ck_assert_msg(c->cr_violations == 0, "%s unexpectedly failed: %s", c->cr_name,
                      c->cr_nmsgs > 0 ? c->cr_msgs[0] : "");
    }
}

/* A small correct history: a write, reads on both nodes, final reads. */
static uint64_t correct_history(void)
{
    uint64_t w;

    frame();
    w = put(1, "k", 10, 20, 1000, 5000, "majority", RES_OK);
    get(1, "k", 30, 31, w, 5000, 1000, 1, 0);
    get(2, "k", 40, 41, w, 5000, 1000, 1, 0);
    get(1, "k", 960, 961, w, 5000, 1000, 1, 1);
    get(2, "k", 960, 961, w, 5000, 1000, 1, 1);
    return w;
}

START_TEST(correct_passes)
{
    correct_history();
    run_check("reads_exact");
    others_hold(NULL);
    ck_assert(check_report_ok(&g_rep));
    ck_assert_uint_gt(check_report_find(&g_rep, "acked_writes_durable")->cr_checked, 0);
    ck_assert_uint_gt(check_report_find(&g_rep, "reads_exact")->cr_checked, 0);
}
END_TEST

START_TEST(torn_read_caught)
{
    hop_t o;

    correct_history();
    memset(&o, 0, sizeof(o));
    o.ho_id = ++g_id;
    o.ho_kind = OP_GET;
    o.ho_node = 2;
    o.ho_key = "k";
    o.ho_start_ms = 50;
    o.ho_end_ms = 51;
    o.ho_result = RES_OK;
    o.ho_status = 200;
    o.ho_size = 5000;
    hash_of(g_id, 5000, o.ho_hash); /* bytes of nothing that was written */
    hash_of(101, 5000, o.ho_etag);  /* served as the real write's ETag */
    raw_op(&o);
    ck_assert_uint_eq(run_check("reads_exact")->cr_violations, 1);
    others_hold("reads_exact");
    ck_assert(!check_report_ok(&g_rep));
}
END_TEST

START_TEST(foreign_bytes_caught)
{
    hop_t o;

    correct_history();
    memset(&o, 0, sizeof(o));
    o.ho_id = ++g_id;
    o.ho_kind = OP_GET;
    o.ho_node = 1;
    o.ho_key = "k";
    o.ho_start_ms = 50;
    o.ho_end_ms = 51;
    o.ho_result = RES_OK;
    o.ho_size = 2500; /* half of the write: a partial read hashed consistently */
    hash_of(101, 2500, o.ho_hash);
    snprintf(o.ho_etag, sizeof(o.ho_etag), "%s", o.ho_hash);
    raw_op(&o);
    ck_assert_uint_eq(run_check("reads_exact")->cr_violations, 1);
    others_hold("reads_exact");
}
END_TEST

START_TEST(read_from_future_caught)
{
    uint64_t w;

    correct_history();
    get(1, "k2", 100, 110, 5000 + g_id + 2, 10, 2000, 1, 0); /* placeholder id fixed below */
    /* The write that produced those bytes starts only after the read ended. */
    g_h.hi_ops[g_h.hi_nops - 1].ho_hash[0] = '\0';
    w = put(1, "k2", 200, 210, 2000, 10, "local", RES_OK);
    hash_of(w, 10, g_h.hi_ops[g_h.hi_nops - 2].ho_hash);
    snprintf(g_h.hi_ops[g_h.hi_nops - 2].ho_etag, 33, "%s", g_h.hi_ops[g_h.hi_nops - 2].ho_hash);
    get(1, "k2", 960, 961, w, 10, 2000, 1, 1);
    get(2, "k2", 960, 961, w, 10, 2000, 1, 1);
    ck_assert_uint_eq(run_check("reads_exact")->cr_violations, 1);
    ck_assert_ptr_nonnull(strstr(g_rep.ck_checks[1].cr_msgs[0], "had not started"));
}
END_TEST

START_TEST(refused_write_visible_caught)
{
    uint64_t w;

    correct_history();
    w = put(1, "k", 100, 110, 0, 700, "majority", RES_NO_SPACE);
    get(1, "k", 120, 121, w, 700, 1500, 1, 0);
    ck_assert_uint_eq(run_check("reads_exact")->cr_violations, 1);
    ck_assert_ptr_nonnull(strstr(g_rep.ck_checks[1].cr_msgs[0], "refused"));
}
END_TEST

START_TEST(version_mismatch_caught)
{
    uint64_t w;

    frame();
    w = put(1, "k", 10, 20, 1000, 64, "local", RES_OK);
    get(1, "k", 30, 31, w, 64, 999, 1, 0); /* right bytes, wrong version header */
    get(1, "k", 960, 961, w, 64, 1000, 1, 1);
    get(2, "k", 960, 961, w, 64, 1000, 1, 1);
    ck_assert_uint_eq(run_check("reads_exact")->cr_violations, 1);
}
END_TEST

START_TEST(lost_write_older_version_caught)
{
    uint64_t w1, w2;

    frame();
    w1 = put(1, "k", 10, 20, 1000, 100, "majority", RES_OK);
    w2 = put(2, "k", 30, 40, 2000, 100, "all", RES_OK);
    (void)w2;
    get(1, "k", 960, 961, w1, 100, 1000, 1, 1); /* node 1 never got w2 */
    get(2, "k", 960, 961, w1, 100, 1000, 1, 1);
    ck_assert_uint_ge(run_check("acked_writes_durable")->cr_violations, 2);
    others_hold("acked_writes_durable");
}
END_TEST

START_TEST(lost_write_not_found_caught)
{
    frame();
    put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    get(1, "k", 960, 961, 0, 0, 0, 0, 1);
    get(2, "k", 960, 961, 0, 0, 0, 0, 1);
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 2);
    others_hold("acked_writes_durable");
}
END_TEST

START_TEST(delete_explains_not_found)
{
    hop_t d;

    frame();
    put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    memset(&d, 0, sizeof(d));
    d.ho_id = ++g_id;
    d.ho_kind = OP_DELETE;
    d.ho_node = 2;
    d.ho_key = "k";
    d.ho_start_ms = 15;
    d.ho_end_ms = 30; /* concurrent with the write, outcome unknown */
    d.ho_result = RES_NET_ERROR;
    raw_op(&d);
    get(1, "k", 960, 961, 0, 0, 0, 0, 1);
    get(2, "k", 960, 961, 0, 0, 0, 0, 1);
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 0);
    others_hold(NULL);
}
END_TEST

START_TEST(delete_before_write_does_not_explain)
{
    hop_t d;

    frame();
    memset(&d, 0, sizeof(d));
    d.ho_id = ++g_id;
    d.ho_kind = OP_DELETE;
    d.ho_node = 1;
    d.ho_key = "k";
    d.ho_start_ms = 1;
    d.ho_end_ms = 5; /* finished before the write started, version unknown */
    d.ho_result = RES_NET_ERROR;
    raw_op(&d);
    put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    get(1, "k", 960, 961, 0, 0, 0, 0, 1);
    get(2, "k", 960, 961, 0, 0, 0, 0, 1);
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 2);
}
END_TEST

START_TEST(same_version_other_bytes_caught)
{
    uint64_t w, x;

    frame();
    w = put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    x = put(1, "k", 25, 26, 0, 100, "local", RES_NET_ERROR); /* maybe applied, version unknown */
    get(1, "k", 960, 961, w, 100, 1000, 1, 1);
    get(2, "k", 960, 961, x, 100, 1000, 1, 1); /* x's bytes under w's version */
    ck_assert_uint_ge(run_check("acked_writes_durable")->cr_violations, 1);
    ck_assert_uint_ge(check_report_find(&g_rep, "convergence")->cr_violations, 1);
}
END_TEST

START_TEST(acked_delete_undone_caught)
{
    uint64_t w;
    hop_t d;

    frame();
    w = put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    memset(&d, 0, sizeof(d));
    d.ho_id = ++g_id;
    d.ho_kind = OP_DELETE;
    d.ho_node = 1;
    d.ho_key = "k";
    d.ho_start_ms = 30;
    d.ho_end_ms = 31;
    d.ho_result = RES_OK;
    d.ho_version.hv_hlc = 1100;
    d.ho_version.hv_origin = 1;
    d.ho_version.hv_set = 1;
    raw_op(&d);
    get(1, "k", 960, 961, w, 100, 1000, 1, 1);
    get(2, "k", 960, 961, w, 100, 1000, 1, 1);
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 2);
}
END_TEST

START_TEST(divergence_caught)
{
    uint64_t w;
    hop_t x;

    frame();
    w = put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    memset(&x, 0, sizeof(x));
    x.ho_id = ++g_id;
    x.ho_kind = OP_PUT;
    x.ho_node = 2;
    x.ho_key = "k";
    x.ho_start_ms = 12;
    x.ho_end_ms = 30;
    x.ho_size = 100;
    x.ho_result = RES_NET_ERROR; /* maybe applied */
    hash_of(x.ho_id, 100, x.ho_hash);
    raw_op(&x);
    get(1, "k", 960, 961, w, 100, 1000, 1, 1);
    get(2, "k", 960, 961, x.ho_id, 100, 1200, 2, 1);
    ck_assert_uint_eq(run_check("convergence")->cr_violations, 1);
    others_hold("convergence");
}
END_TEST

START_TEST(not_converged_caught)
{
    correct_history();
    ev(5000, "not_converged", 0, 0);
    ck_assert_uint_eq(run_check("convergence")->cr_violations, 1);
}
END_TEST

START_TEST(stale_read_same_node_caught)
{
    uint64_t w1, w2;

    frame();
    w1 = put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    w2 = put(1, "k", 30, 40, 2000, 100, "local", RES_OK);
    get(1, "k", 50, 51, w1, 100, 1000, 1, 0); /* after w2 was acked, on its node */
    get(1, "k", 960, 961, w2, 100, 2000, 1, 1);
    get(2, "k", 960, 961, w2, 100, 2000, 1, 1);
    ck_assert_uint_eq(run_check("read_after_write")->cr_violations, 1);
    others_hold("read_after_write");
}
END_TEST

START_TEST(stale_read_other_node_reported)
{
    uint64_t w1, w2;
    check_opts_t o;

    frame();
    w1 = put(1, "k", 10, 20, 1000, 100, "majority", RES_OK);
    w2 = put(1, "k", 30, 40, 2000, 100, "majority", RES_OK);
    get(2, "k", 50, 51, w1, 100, 1000, 1, 0); /* other node lags: reported only */
    get(1, "k", 960, 961, w2, 100, 2000, 1, 1);
    get(2, "k", 960, 961, w2, 100, 2000, 1, 1);
    ck_assert_uint_eq(run_check("read_after_write")->cr_violations, 0);
    ck_assert(check_report_ok(&g_rep));
    {
        const check_result_t *c = check_report_find(&g_rep, "read_after_write");
        ck_assert_str_eq(c->cr_stat_names[0], "cross_node_stale_reads");
        ck_assert(c->cr_stat_vals[0] == 1.0);
    }
    check_opts_default(&o);
    o.co_strict_raw = 1;
    check_report_free(&g_rep);
    ck_assert_int_eq(checker_run(&g_h, &o, &g_rep), 0);
    ck_assert_uint_eq(check_report_find(&g_rep, "read_after_write")->cr_violations, 1);
}
END_TEST

START_TEST(stale_read_after_all_caught)
{
    uint64_t w1, w2;

    frame();
    w1 = put(1, "k", 10, 20, 1000, 100, "majority", RES_OK);
    w2 = put(1, "k", 30, 40, 2000, 100, "all", RES_OK);
    get(2, "k", 50, 51, w1, 100, 1000, 1, 0); /* "all" promised node 2 had it */
    get(1, "k", 960, 961, w2, 100, 2000, 1, 1);
    get(2, "k", 960, 961, w2, 100, 2000, 1, 1);
    ck_assert_uint_eq(run_check("read_after_write")->cr_violations, 1);
}
END_TEST

/* Node 2 restarts after a crash; a read on it gives up with 503. */
static void leftover_window(int other_down)
{
    uint64_t w;
    hop_t r;

    ev(0, "start", 1, 0);
    ev(1, "ready", 1, 0);
    ev(0, "start", 2, 0);
    ev(1, "ready", 2, 0);
    if (other_down)
        ev(9000, "kill", 1, 0);
    ev(9100, "kill", 2, 0);
    ev(9200, "start", 2, 1);
    ev(9230, "ready", 2, 0);
    w = put(1, "k", 10, 20, 1000, 100, "majority", RES_OK);
    memset(&r, 0, sizeof(r));
    r.ho_id = ++g_id;
    r.ho_kind = OP_GET;
    r.ho_node = 2;
    r.ho_key = "k";
    r.ho_start_ms = 9300;
    r.ho_end_ms = 19300;
    r.ho_result = RES_UNAVAILABLE;
    r.ho_status = 503;
    raw_op(&r);
    get(2, "k", 9300, 9310, w, 100, 1000, 1, 0);
    ev(20000, "repairs_drained", 2, 0);
}

START_TEST(leftover_read_503_caught)
{
    leftover_window(0);
    ck_assert_uint_eq(run_check("leftover_reads")->cr_violations, 1);
    ck_assert_uint_eq(check_report_find(&g_rep, "leftover_reads")->cr_checked, 2);
}
END_TEST

START_TEST(leftover_read_503_allowed_when_holder_down)
{
    leftover_window(1);
    ck_assert_uint_eq(run_check("leftover_reads")->cr_violations, 0);
}
END_TEST

static void scan(int node, int64_t t, const char *when, const uint64_t *ids, size_t n,
                 const uint64_t *left, size_t nleft, const uint64_t *orph, size_t norph)
{
    hscan_t s;

    memset(&s, 0, sizeof(s));
    s.hs_t_ms = t;
    s.hs_node = node;
    snprintf(s.hs_when, sizeof(s.hs_when), "%s", when);
    s.hs_files = n;
    s.hs_ids = calloc(n + 1, sizeof(uint64_t));
    if (n > 0)
        memcpy(s.hs_ids, ids, n * sizeof(uint64_t));
    s.hs_nids = n;
    for (size_t i = 0; i < n; i++)
        s.hs_max_id = ids[i] > s.hs_max_id ? ids[i] : s.hs_max_id;
    s.hs_left_ids = calloc(nleft + 1, sizeof(uint64_t));
    if (nleft > 0)
        memcpy(s.hs_left_ids, left, nleft * sizeof(uint64_t));
    s.hs_nleft = nleft;
    s.hs_orphan_ids = calloc(norph + 1, sizeof(uint64_t));
    if (norph > 0)
        memcpy(s.hs_orphan_ids, orph, norph * sizeof(uint64_t));
    s.hs_norphans = norph;
    ck_assert_int_eq(history_add_scan(&g_h, &s), 0);
}

START_TEST(files_clean_passes)
{
    const uint64_t a[] = {5, 9}, b[] = {9, 12};

    correct_history();
    scan(1, 500, "before_restart", a, 2, NULL, 0, NULL, 0);
    scan(1, 990, "final", b, 2, NULL, 0, NULL, 0);
    ck_assert_uint_eq(run_check("files_clean")->cr_violations, 0);
    ck_assert_uint_eq(check_report_find(&g_rep, "files_clean")->cr_checked, 2);
}
END_TEST

START_TEST(leftover_file_caught)
{
    const uint64_t b[] = {9, 12};
    const uint64_t l[] = {12};

    correct_history();
    scan(1, 990, "final", b, 2, l, 1, NULL, 0);
    ck_assert_uint_eq(run_check("files_clean")->cr_violations, 1);
    others_hold("files_clean");
}
END_TEST

START_TEST(orphan_file_caught)
{
    const uint64_t b[] = {9, 12};
    const uint64_t o[] = {9};

    correct_history();
    scan(2, 990, "final", b, 2, NULL, 0, o, 1);
    ck_assert_uint_eq(run_check("files_clean")->cr_violations, 1);
}
END_TEST

START_TEST(file_id_reuse_caught)
{
    const uint64_t a[] = {5, 9}, b[] = {7, 12};

    correct_history();
    scan(1, 500, "before_restart", a, 2, NULL, 0, NULL, 0);
    scan(1, 990, "final", b, 2, NULL, 0, NULL, 0); /* 7 <= 9 was handed out after the restart */
    ck_assert_uint_eq(run_check("files_clean")->cr_violations, 1);
}
END_TEST

START_TEST(file_id_reappears_caught)
{
    const uint64_t a[] = {5, 9}, b[] = {9}, c[] = {5, 9, 14};

    correct_history();
    scan(1, 400, "before_restart", a, 2, NULL, 0, NULL, 0);
    scan(1, 600, "before_restart", b, 1, NULL, 0, NULL, 0);
    scan(1, 990, "final", c, 3, NULL, 0, NULL, 0);
    ck_assert_uint_ge(run_check("files_clean")->cr_violations, 1);
}
END_TEST

START_TEST(pending_and_health_caught)
{
    correct_history();
    g_h.hi_final[1].hf_pending = 3;
    ev(300, "died", 2, 0);
    ck_assert_uint_eq(run_check("pending_cleared")->cr_violations, 1);
    ck_assert_uint_eq(check_report_find(&g_rep, "nodes_healthy")->cr_violations, 1);
}
END_TEST

START_TEST(damage_excused_on_single_node_only)
{
    uint64_t w;
    hop_t f;
    hevent_t e;

    g_h.hi_nodes = 1;
    ev(0, "start", 1, 0);
    ev(1, "ready", 1, 0);
    ev(900, "heal_all", 0, 0);
    ev(950, "converged", 0, 0);
    g_h.hi_final[0].hf_node = 1;
    g_h.hi_final[0].hf_up = 1;
    g_h.hi_final[0].hf_listed = 1;
    g_h.hi_nfinal = 1;
    w = put(1, "k", 10, 20, 1000, 100, "local", RES_OK);
    memset(&f, 0, sizeof(f));
    f.ho_id = ++g_id;
    f.ho_kind = OP_GET;
    f.ho_node = 1;
    f.ho_key = "k";
    f.ho_start_ms = 960;
    f.ho_end_ms = 970;
    f.ho_final = 1;
    f.ho_result = RES_UNAVAILABLE;
    f.ho_status = 503;
    raw_op(&f);
    (void)w;
    /* Without a recorded damage, an unreadable acknowledged write is a loss. */
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 1);
    memset(&e, 0, sizeof(e));
    e.he_t_ms = 500;
    snprintf(e.he_kind, sizeof(e.he_kind), "damage");
    e.he_node = 1;
    e.he_key = "k";
    ck_assert_int_eq(history_add_event(&g_h, &e), 0);
    ck_assert_uint_eq(run_check("acked_writes_durable")->cr_violations, 0);
    others_hold(NULL);
}
END_TEST

START_TEST(json_round_trip_keeps_verdicts)
{
    char path[] = "/tmp/cairn-checker-XXXXXX";
    char err[256];
    history_t back;
    check_report_t rep2;
    check_opts_t o;
    int fd = mkstemp(path);
    const uint64_t b[] = {9, 12};
    const uint64_t l[] = {12};

    ck_assert_int_ge(fd, 0);
    close(fd);
    correct_history();
    put(1, "k\"quoted\\key\n", 100, 110, 3000, 0, "all", RES_OK);
    get(1, "k\"quoted\\key\n", 960, 961, 0, 0, 0, 0, 1); /* lost: not found */
    get(2, "k\"quoted\\key\n", 960, 961, 0, 0, 0, 0, 1);
    scan(1, 990, "final", b, 2, l, 1, NULL, 0);
    ck_assert_int_eq(history_write(&g_h, path), 0);
    ck_assert_int_eq(history_load(&back, path, err, sizeof(err)), 0);
    unlink(path);
    ck_assert_uint_eq(back.hi_nops, g_h.hi_nops);
    ck_assert_uint_eq(back.hi_nevents, g_h.hi_nevents);
    ck_assert_uint_eq(back.hi_nscans, 1);
    ck_assert_str_eq(back.hi_ops[g_h.hi_nops - 3].ho_key, "k\"quoted\\key\n");
    check_opts_default(&o);
    run_check("acked_writes_durable");
    ck_assert_int_eq(checker_run(&back, &o, &rep2), 0);
    for (int i = 0; i < g_rep.ck_n; i++)
        ck_assert_uint_eq(rep2.ck_checks[i].cr_violations, g_rep.ck_checks[i].cr_violations);
    ck_assert_uint_eq(check_report_find(&rep2, "acked_writes_durable")->cr_violations, 2);
    ck_assert_uint_eq(check_report_find(&rep2, "files_clean")->cr_violations, 1);
    check_report_free(&rep2);
    history_free(&back);
}
END_TEST

START_TEST(load_rejects_garbage)
{
    char path[] = "/tmp/cairn-checker-XXXXXX";
    char err[256];
    history_t back;
    int fd = mkstemp(path);
    const char *bad =
        "{\"format\":\"cairn-harness-history/1\",\"nodes\":1,\"ops\":[{\"kind\":\"put\"}]}";

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    ck_assert_int_lt(history_load(&back, path, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "key"));
    history_free(&back);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checker");
    TCase *t = tcase_create("invariants");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, correct_passes);
    tcase_add_test(t, torn_read_caught);
    tcase_add_test(t, foreign_bytes_caught);
    tcase_add_test(t, read_from_future_caught);
    tcase_add_test(t, refused_write_visible_caught);
    tcase_add_test(t, version_mismatch_caught);
    tcase_add_test(t, lost_write_older_version_caught);
    tcase_add_test(t, lost_write_not_found_caught);
    tcase_add_test(t, delete_explains_not_found);
    tcase_add_test(t, delete_before_write_does_not_explain);
    tcase_add_test(t, same_version_other_bytes_caught);
    tcase_add_test(t, acked_delete_undone_caught);
    tcase_add_test(t, divergence_caught);
    tcase_add_test(t, not_converged_caught);
    tcase_add_test(t, stale_read_same_node_caught);
    tcase_add_test(t, stale_read_other_node_reported);
    tcase_add_test(t, stale_read_after_all_caught);
    tcase_add_test(t, leftover_read_503_caught);
    tcase_add_test(t, leftover_read_503_allowed_when_holder_down);
    tcase_add_test(t, files_clean_passes);
    tcase_add_test(t, leftover_file_caught);
    tcase_add_test(t, orphan_file_caught);
    tcase_add_test(t, file_id_reuse_caught);
    tcase_add_test(t, file_id_reappears_caught);
    tcase_add_test(t, pending_and_health_caught);
    tcase_add_test(t, damage_excused_on_single_node_only);
    tcase_add_test(t, json_round_trip_keeps_verdicts);
    tcase_add_test(t, load_rejects_garbage);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
