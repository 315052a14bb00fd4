/*
 * run.c -- the scenario engine, `up` and `check` (see run.h).
 */
#include "cluster-tests/run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster-tests/blobscan.h"
#include "cluster-tests/hclient.h"
#include "cluster-tests/json.h"
#include "cluster-tests/report.h"
#include "common/buf.h"

extern char **environ;

#define READY_TIMEOUT_MS 30000
#define TERM_TIMEOUT_MS 8000
#define LISTING_MAX ((size_t)16 << 20)

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    if (g_interrupted)
        signal(sig, SIG_DFL);
    g_interrupted = 1;
}

void run_opts_default(run_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->ro_scenario = "all";
    o->ro_nodes = 1;
    o->ro_seed = 1;
    o->ro_duration_s = 20;
    o->ro_converge_timeout_s = 60;
    wl_opts_default(&o->ro_wl);
    check_opts_default(&o->ro_check);
}

/* cairnd next to our own binary. */
static void default_bin(char *out, size_t cap)
{
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0) {
        snprintf(out, cap, "cairnd");
        return;
    }
    self[n] = '\0';
    snprintf(out, cap, "%s/cairnd", dirname(self));
}

static void self_path(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);

    if (n <= 0)
        snprintf(out, cap, "cairn-harness");
    else
        out[n] = '\0';
}

/* ---------------------------------------------------------------- node queries */

/* pending_repairs and live_writers of node i from /v1/cluster; -1 unknown. */
static void node_pending(run_t *r, int i, int64_t *pending, int64_t *writers)
{
    char *body = NULL;
    size_t len = 0;
    int status = 0;
    jv_t *v = NULL;
    char err[64];

    *pending = -1;
    if (writers != NULL)
        *writers = -1;
    if (hclient_fetch(r->r_cl.cl_http, r->r_cl.cl_nodes[i].hn_url, "/v1/cluster", 1 << 20, &body,
                      &len, &status) < 0 ||
        status != 200) {
        free(body);
        return;
    }
    if (json_parse(body, len, &v, err, sizeof(err)) == 0) {
        *pending = json_int(json_get(v, "pending_repairs"), -1);
        if (writers != NULL)
            *writers = json_int(json_get(v, "live_writers"), 0);
    }
    json_free(v);
    free(body);
}

/*
 * Reads node i's whole listing; appends "key\tetag\tversion\n" lines to sig
 * (when not NULL) and counts keys and bytes. Keys are added to keys (a
 * newline-separated set built by the caller) when not NULL.
 * 0 or -EIO when the node did not answer a page properly.
 */
static int node_listing(run_t *r, int i, buf_t *sig, uint64_t *nkeys, uint64_t *bytes, buf_t *keys)
{
    char after_enc[3200] = "";
    char path[3400];
    int rc = 0;

    *nkeys = 0;
    *bytes = 0;
    for (int page = 0; page < 10000; page++) {
        char *body = NULL;
        size_t len = 0;
        int status = 0;
        jv_t *v = NULL;
        const jv_t *items, *next;
        char err[128];

        snprintf(path, sizeof(path), "/v1/blobs?limit=1000%s%s", after_enc[0] ? "&after=" : "",
                 after_enc);
        if (hclient_fetch(r->r_cl.cl_http, r->r_cl.cl_nodes[i].hn_url, path, LISTING_MAX, &body,
                          &len, &status) < 0 ||
            status != 200 || json_parse(body, len, &v, err, sizeof(err)) < 0) {
            free(body);
            return -EIO;
        }
        free(body);
        items = json_get(v, "items");
        for (size_t k = 0; items != NULL && items->jv_type == JV_ARR && k < items->jv_count; k++) {
            const jv_t *it = &items->jv_items[k];
            const jv_t *ver = json_get(it, "version");
            const char *key = json_str(json_get(it, "key"), "");
            char vbuf[32];

            if (ver != NULL && ver->jv_type == JV_NUM)
                snprintf(vbuf, sizeof(vbuf), "%lld", (long long)json_int(ver, 0));
            else
                snprintf(vbuf, sizeof(vbuf), "%s", json_str(ver, ""));
            (*nkeys)++;
            *bytes += (uint64_t)json_int(json_get(it, "size"), 0);
            if (sig != NULL && rc == 0)
                rc =
                    buf_appendf(sig, "%s\t%s\t%s\n", key, json_str(json_get(it, "etag"), ""), vbuf);
            if (keys != NULL && rc == 0)
                rc = buf_appendf(keys, "%s\n", key);
        }
        next = json_get(v, "next");
        if (next == NULL || next->jv_type != JV_STR ||
            hclient_encode_key(next->jv_str, after_enc, sizeof(after_enc)) < 0) {
            json_free(v);
            break;
        }
        json_free(v);
    }
    return rc < 0 ? -ENOMEM : 0;
}

/* ---------------------------------------------------------------- helpers */

static int alive(run_t *r, int i)
{
    return r->r_cl.cl_nodes[i].hn_pid != 0;
}

/* Cluster bookkeeping done while sleeping: reap exits, restart nodes that
 * died unexpectedly, close leftover windows whose repairs drained. */
static void r_watch(run_t *r)
{
    int64_t now = hu_now_ms();

    cluster_poll(&r->r_cl);
    for (int i = 1; i <= r->r_cl.cl_n; i++) {
        hnode_t *nd = &r->r_cl.cl_nodes[i];
        if (nd->hn_pid == 0 && !nd->hn_expect_exit && !nd->hn_crash_armed && r_running(r)) {
            /* It died on its own (recorded as "died"): keep the run going. */
            r_start(r, i, NULL, 0);
        }
    }
    if (now - r->r_last_watch_ms < 500)
        return;
    r->r_last_watch_ms = now;
    for (int i = 1; i <= r->r_cl.cl_n; i++) {
        int64_t pending;
        if (!r->r_window[i] || r->r_cl.cl_nodes[i].hn_state != HN_UP)
            continue;
        node_pending(r, i, &pending, NULL);
        if (pending == 0) {
            history_event(&r->r_h, "repairs_drained", i, 0, 0, NULL);
            r->r_window[i] = 0;
        }
    }
}

int r_running(run_t *r)
{
    return !g_interrupted && hu_now_ms() < r->r_deadline_ms;
}

int r_sleep(run_t *r, int64_t ms)
{
    int64_t end = hu_now_ms() + ms;

    if (end > r->r_deadline_ms || end < 0)
        end = r->r_deadline_ms;
    while (!g_interrupted && hu_now_ms() < end) {
        int64_t left = end - hu_now_ms();
        hu_sleep_ms(left < 50 ? left : 50);
        r_watch(r);
    }
    return r_running(r);
}

int r_pick_node(run_t *r)
{
    return 1 + (int)hu_rng_below(&r->r_rng, (uint64_t)r->r_cl.cl_n);
}

static void scan_node(run_t *r, int i, const char *when)
{
    hscan_t s;

    if (blobscan_dir(r->r_cl.cl_nodes[i].hn_data, &s, NULL, NULL) < 0)
        return;
    s.hs_t_ms = hu_now_ms();
    s.hs_node = i;
    snprintf(s.hs_when, sizeof(s.hs_when), "%s", when);
    history_add_scan(&r->r_h, &s);
}

int r_start(run_t *r, int i, const char *failpoints, int64_t skew_ms)
{
    hnode_t *nd = &r->r_cl.cl_nodes[i];
    int rc = -EIO;

    if (alive(r, i))
        return 0;
    if (nd->hn_unclean || nd->hn_damaged)
        scan_node(r, i, "before_restart");
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *fp = attempt == 0 ? failpoints : NULL;
        int flagged = nd->hn_unclean || nd->hn_damaged;

        rc = cluster_start_ready(&r->r_cl, i, fp, skew_ms, READY_TIMEOUT_MS);
        if (rc == 0) {
            if (flagged)
                r->r_window[i] = 1;
            return 0;
        }
        if (alive(r, i))
            cluster_kill(&r->r_cl, i); /* never became ready */
        scan_node(r, i, "before_restart");
    }
    fprintf(stderr, "cairn-harness: node %d does not start (see %s)\n", i, nd->hn_log);
    return rc;
}

int r_kill(run_t *r, int i)
{
    return cluster_kill(&r->r_cl, i);
}

int r_term(run_t *r, int i)
{
    return cluster_term(&r->r_cl, i, TERM_TIMEOUT_MS);
}

int r_crash_at(run_t *r, int i, const char *spec, int64_t wait_ms)
{
    int64_t end;
    int rc, hit;

    if (alive(r, i))
        r_term(r, i);
    rc = r_start(r, i, spec, 0);
    if (rc < 0)
        return rc;
    r->r_fp_armed++;
    end = hu_now_ms() + wait_ms;
    while (alive(r, i) && hu_now_ms() < end && r_running(r)) {
        hu_sleep_ms(25);
        cluster_poll(&r->r_cl);
    }
    hit = !alive(r, i);
    if (hit) {
        r->r_fp_hit++;
    } else {
        r->r_fp_missed++;
        history_event(&r->r_h, "failpoint_not_hit", i, 0, 0, "%s", spec);
        r_kill(r, i);
    }
    rc = r_start(r, i, NULL, 0);
    return rc < 0 ? rc : hit;
}

void r_net(run_t *r, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    history_event(&r->r_h, "net", 0, 0, proxy_impaired(r->r_cl.cl_proxy), "%s", detail);
}

void r_partition(run_t *r, uint32_t mask)
{
    link_cfg_t cut = {1, 0, 0};
    char a[64] = "", b[64] = "";

    for (int i = 1; i <= r->r_cl.cl_n; i++) {
        char *side = (mask & (1u << i)) ? a : b;
        snprintf(side + strlen(side), 64 - strlen(side), "%s%d", side[0] ? "," : "", i);
        for (int j = 1; j <= r->r_cl.cl_n; j++) {
            if (((mask >> i) & 1) != ((mask >> j) & 1))
                proxy_set(r->r_cl.cl_proxy, i, j, &cut);
        }
    }
    r_net(r, "partition {%s} | {%s}", a, b);
}

/* Finds the key whose PUT content hash is hash (NULL if none). Copies it. */
static int key_of_hash(run_t *r, const char *hash, char *key, size_t cap)
{
    int found = 0;

    pthread_mutex_lock(&r->r_h.hi_lock);
    for (size_t k = 0; k < r->r_h.hi_nops && !found; k++) {
        const hop_t *o = &r->r_h.hi_ops[k];
        if (o->ho_kind == OP_PUT && strcmp(o->ho_hash, hash) == 0) {
            snprintf(key, cap, "%s", o->ho_key);
            found = 1;
        }
    }
    pthread_mutex_unlock(&r->r_h.hi_lock);
    return found;
}

int r_damage(run_t *r, int i, int truncate)
{
    blobfile_info_t *files = NULL;
    size_t nfiles = 0, pick;
    hscan_t s;
    hevent_t e;
    char key[1100];
    int rc, damaged = 0;

    r_term(r, i);
    rc = blobscan_dir(r->r_cl.cl_nodes[i].hn_data, &s, &files, &nfiles);
    if (rc < 0)
        return rc;
    free(s.hs_ids);
    free(s.hs_left_ids);
    if (nfiles > 0) {
        pick = (size_t)hu_rng_below(&r->r_rng, nfiles);
        for (size_t k = 0; k < nfiles && !damaged; k++) {
            blobfile_info_t *f = &files[(pick + k) % nfiles];
            if (f->bi_size < 2 || !key_of_hash(r, f->bi_hash, key, sizeof(key)))
                continue;
            memset(&e, 0, sizeof(e));
            e.he_t_ms = hu_now_ms();
            snprintf(e.he_kind, sizeof(e.he_kind), "damage");
            e.he_node = i;
            e.he_key = key;
            snprintf(e.he_hash, sizeof(e.he_hash), "%s", f->bi_hash);
            e.he_file_id = f->bi_id;
            if (truncate) {
                if (truncate64(f->bi_path, (off_t)(BLOBSCAN_HEADER + f->bi_size / 2)) < 0)
                    continue;
                e.he_detail = "truncated to half its content";
            } else {
                if (unlink(f->bi_path) < 0)
                    continue;
                e.he_detail = "deleted";
            }
            history_add_event(&r->r_h, &e);
            r->r_cl.cl_nodes[i].hn_damaged = 1;
            damaged = 1;
        }
    }
    free(files);
    rc = r_start(r, i, NULL, 0);
    return rc < 0 ? rc : damaged;
}

int r_failpoints(run_t *r, const char **out, int cap)
{
    static const char *store_fps[] = {
        "store.write.chunk",  "store.write.synced", "store.write.finalized", "store.commit.after",
        "store.commit.batch", "store.commit.sync",  "store.gc.unlink"};
    static const char *repl_fps[] = {"repl.send.chunk", "repl.recv.chunk",
                                     "repl.recv.before_commit", "repl.ack.before_send"};
    const char *all[16];
    int n = 0, k = 0;

    for (size_t j = 0; j < sizeof(store_fps) / sizeof(store_fps[0]); j++)
        all[n++] = store_fps[j];
    if (r->r_cl.cl_n >= 2) {
        for (size_t j = 0; j < sizeof(repl_fps) / sizeof(repl_fps[0]); j++)
            all[n++] = repl_fps[j];
    }
    for (int j = 0; j < n && k < cap; j++) {
        const char *want = r->r_o->ro_failpoints;
        if (want != NULL && want[0] != '\0') {
            const char *p = strstr(want, all[j]);
            size_t len = strlen(all[j]);
            if (p == NULL || (p != want && p[-1] != ',') || (p[len] != '\0' && p[len] != ','))
                continue;
        }
        out[k++] = all[j];
    }
    return k;
}

/* ---------------------------------------------------------------- external workload */

/* Starts the external workload command in its own process group. */
static int cmd_start(run_t *r)
{
    const run_opts_t *o = r->r_o;
    char nodes[CLUSTER_MAX_NODES * 64] = "";
    char env_store[6][CLUSTER_MAX_NODES * 64 + 64];
    char logpath[700];
    char **envp;
    size_t nenv = 0;
    int logfd;
    pid_t pid;

    for (int i = 1; i <= r->r_cl.cl_n; i++)
        snprintf(nodes + strlen(nodes), sizeof(nodes) - strlen(nodes), "%s%s", i > 1 ? "," : "",
                 r->r_cl.cl_nodes[i].hn_url);
    snprintf(env_store[0], sizeof(env_store[0]), "CAIRN_NODES=%s", nodes);
    snprintf(env_store[1], sizeof(env_store[1]), "CAIRN_HARNESS_SEED=%" PRIu64, o->ro_seed);
    snprintf(env_store[2], sizeof(env_store[2]), "CAIRN_HARNESS_OPS=%s/external-ops.jsonl",
             r->r_dir);
    snprintf(env_store[3], sizeof(env_store[3]), "CAIRN_HARNESS_DURATION_S=%" PRId64,
             o->ro_duration_s);
    snprintf(env_store[4], sizeof(env_store[4]), "CAIRN_HARNESS_RUN_DIR=%s", r->r_dir);
    snprintf(env_store[5], sizeof(env_store[5]), "CAIRN_HARNESS_T0_UNIX_MS=%" PRId64,
             hu_wall_ms() - hu_now_ms());
    for (char **e = environ; *e != NULL; e++)
        nenv++;
    envp = calloc(nenv + 7, sizeof(char *));
    if (envp == NULL)
        return -ENOMEM;
    nenv = 0;
    for (char **e = environ; *e != NULL; e++)
        envp[nenv++] = *e;
    for (int k = 0; k < 6; k++)
        envp[nenv++] = env_store[k];
    envp[nenv] = NULL;
    snprintf(logpath, sizeof(logpath), "%s/workload-cmd.log", r->r_dir);
    logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        free(envp);
        return -errno;
    }
    pid = fork();
    if (pid == 0) {
        char *argv[] = {"/bin/sh", "-c", (char *)o->ro_workload_cmd, NULL};
        setpgid(0, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    close(logfd);
    free(envp);
    if (pid < 0)
        return -errno;
    r->r_cmd_pid = pid;
    r->r_cmd_ran = 1;
    history_event(&r->r_h, "workload_cmd", 0, 0, 0, "started pid=%d", (int)pid);
    return 0;
}

/* Ends the external command: SIGTERM to its group, SIGKILL after 10 s. */
static void cmd_stop(run_t *r)
{
    int status = 0;
    int64_t end;

    if (r->r_cmd_pid <= 0)
        return;
    if (waitpid(r->r_cmd_pid, &status, WNOHANG) == r->r_cmd_pid)
        goto reaped;
    kill(-r->r_cmd_pid, SIGTERM);
    end = hu_now_ms() + 10000;
    while (hu_now_ms() < end) {
        if (waitpid(r->r_cmd_pid, &status, WNOHANG) == r->r_cmd_pid)
            goto reaped;
        hu_sleep_ms(50);
    }
    kill(-r->r_cmd_pid, SIGKILL);
    waitpid(r->r_cmd_pid, &status, 0);
reaped:
    r->r_cmd_status = status;
    r->r_cmd_pid = 0;
    history_event(&r->r_h, "workload_cmd", 0, 0, 0, "ended %s %d",
                  WIFSIGNALED(status) ? "signal" : "exit status",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* ---------------------------------------------------------------- end of a run */

/* Heals every fault: links, paused and stopped nodes (restarted without failpoints). */
static void heal_all(run_t *r)
{
    proxy_heal(r->r_cl.cl_proxy);
    r_net(r, "healed (end of faults)");
    for (int i = 1; i <= r->r_cl.cl_n; i++) {
        hnode_t *nd = &r->r_cl.cl_nodes[i];
        cluster_poll(&r->r_cl);
        if (nd->hn_state == HN_PAUSED)
            cluster_resume(&r->r_cl, i);
        /* Failpoints and skew end with the fault phase. */
        if (alive(r, i) && (nd->hn_failpoints[0] != '\0' || nd->hn_skew_ms != 0))
            r_term(r, i);
        if (!alive(r, i))
            r_start(r, i, NULL, 0);
    }
    history_event(&r->r_h, "heal_all", 0, 0, 0, NULL);
}

/*
 * Waits until every node lists the same keys with the same ETags and
 * versions, no repair is pending and no write is in flight. Records
 * "converged" or "not_converged".
 */
static int converge(run_t *r)
{
    int64_t end = hu_now_ms() + r->r_o->ro_converge_timeout_s * 1000;
    int n = r->r_cl.cl_n;

    for (;;) {
        buf_t sig0, sig;
        int same = 1;

        buf_init(&sig0, LISTING_MAX);
        buf_init(&sig, LISTING_MAX);
        for (int i = 1; i <= n && same; i++) {
            uint64_t nk, nb;
            int64_t pending, writers;
            int allowed = 0;

            if (n == 1) {
                for (size_t k = 0; k < r->r_h.hi_nevents; k++)
                    allowed += strcmp(r->r_h.hi_events[k].he_kind, "damage") == 0;
            }
            node_pending(r, i, &pending, &writers);
            if (pending < 0 || pending > allowed || writers != 0) {
                same = 0;
                break;
            }
            buf_reset(i == 1 ? &sig0 : &sig);
            if (node_listing(r, i, i == 1 ? &sig0 : &sig, &nk, &nb, NULL) < 0) {
                same = 0;
                break;
            }
            if (i > 1 && (sig.b_len != sig0.b_len ||
                          (sig.b_len > 0 && memcmp(sig.b_data, sig0.b_data, sig.b_len) != 0)))
                same = 0;
        }
        buf_free(&sig0);
        buf_free(&sig);
        r_watch(r);
        if (same) {
            history_event(&r->r_h, "converged", 0, 0, 0, NULL);
            /* Whatever windows are still open have drained now. */
            for (int i = 1; i <= n; i++) {
                if (r->r_window[i]) {
                    history_event(&r->r_h, "repairs_drained", i, 0, 0, NULL);
                    r->r_window[i] = 0;
                }
            }
            return 0;
        }
        if (hu_now_ms() >= end || g_interrupted) {
            history_event(&r->r_h, "not_converged", 0, 0, 0, "timeout %" PRId64 " s",
                          r->r_o->ro_converge_timeout_s);
            return -ETIMEDOUT;
        }
        hu_sleep_ms(300);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every key ever touched or listed from every node (final phase). */
static int final_reads(run_t *r)
{
    buf_t keys;
    char **list = NULL;
    size_t nlist = 0, cap = 0;
    hclient_t *hc = NULL;
    uint64_t seq = 0;
    int rc;

    buf_init(&keys, (size_t)64 << 20);
    for (size_t k = 0; k < r->r_h.hi_nops; k++) {
        if (buf_appendf(&keys, "%s\n", r->r_h.hi_ops[k].ho_key) < 0)
            break;
    }
    for (int i = 1; i <= r->r_cl.cl_n; i++) {
        uint64_t nk, nb;
        node_listing(r, i, NULL, &nk, &nb, &keys);
    }
    for (char *p = keys.b_data, *nl; p != NULL && *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nlist == cap) {
            char **nlp = realloc(list, (cap ? cap * 2 : 256) * sizeof(char *));
            if (nlp == NULL)
                break;
            list = nlp;
            cap = cap ? cap * 2 : 256;
        }
        list[nlist++] = p;
    }
    if (nlist > 0)
        qsort(list, nlist, sizeof(char *), cmp_str);
    rc = hclient_new(2000, 20, &hc);
    for (int i = 1; rc == 0 && i <= r->r_cl.cl_n; i++) {
        for (size_t k = 0; k < nlist; k++) {
            hop_t op;
            hresp_t resp;
            if (k > 0 && strcmp(list[k], list[k - 1]) == 0)
                continue;
            memset(&op, 0, sizeof(op));
            op.ho_id = (0xffffull << 32) | ++seq;
            op.ho_kind = OP_GET;
            op.ho_node = i;
            op.ho_key = list[k];
            op.ho_final = 1;
            op.ho_start_ms = hu_now_ms();
            hclient_get(hc, r->r_cl.cl_nodes[i].hn_url, list[k], &resp);
            op.ho_end_ms = hu_now_ms();
            op.ho_status = resp.hr_status;
            op.ho_result = resp.hr_result;
            op.ho_size = resp.hr_bytes;
            op.ho_version = resp.hr_version;
            snprintf(op.ho_code, sizeof(op.ho_code), "%s", resp.hr_code);
            snprintf(op.ho_etag, sizeof(op.ho_etag), "%s", resp.hr_etag);
            snprintf(op.ho_hash, sizeof(op.ho_hash), "%s", resp.hr_hash);
            history_add_op(&r->r_h, &op);
        }
    }
    hclient_free(hc);
    free(list);
    buf_free(&keys);
    return rc;
}

/*
 * Final scan of node i: every whole blob file must be accounted for by a
 * live version of the node's listing (matched by content hash = ETag, each
 * listed version at most once); the rest are recorded as orphans.
 */
static void final_scan(run_t *r, int i)
{
    blobfile_info_t *files = NULL;
    size_t nfiles = 0, nlines = 0;
    char **etags = NULL;
    uint64_t nk, nb;
    buf_t sig;
    hscan_t s;

    buf_init(&sig, LISTING_MAX);
    if (blobscan_dir(r->r_cl.cl_nodes[i].hn_data, &s, &files, &nfiles) < 0) {
        buf_free(&sig);
        return;
    }
    if (node_listing(r, i, &sig, &nk, &nb, NULL) == 0) {
        etags = calloc(nk + 1, sizeof(char *));
        for (char *p = sig.b_data; etags != NULL && p != NULL && *p != '\0';) {
            char *tab = strchr(p, '\t'), *nl = strchr(p, '\n');
            if (tab == NULL || nl == NULL || nlines >= nk)
                break;
            *nl = '\0';
            etags[nlines++] = tab + 1;
            *strchr(tab + 1, '\t') = '\0';
            p = nl + 1;
        }
        s.hs_orphan_ids = calloc(nfiles + 1, sizeof(uint64_t));
        for (size_t f = 0; s.hs_orphan_ids != NULL && f < nfiles; f++) {
            int used = 0;
            for (size_t k = 0; k < nlines && !used; k++) {
                if (etags[k] != NULL && strcmp(etags[k], files[f].bi_hash) == 0) {
                    etags[k] = NULL; /* one file per live version */
                    used = 1;
                }
            }
            if (!used)
                s.hs_orphan_ids[s.hs_norphans++] = files[f].bi_id;
        }
    }
    s.hs_t_ms = hu_now_ms();
    s.hs_node = i;
    snprintf(s.hs_when, sizeof(s.hs_when), "final");
    history_add_scan(&r->r_h, &s);
    free(etags);
    free(files);
    buf_free(&sig);
}

/* Records every node's final state and scans its blob files. */
static void final_state(run_t *r)
{
    for (int i = 1; i <= r->r_cl.cl_n && i <= HIST_MAX_NODES; i++) {
        hfinal_t *f = &r->r_h.hi_final[r->r_h.hi_nfinal++];
        char *body = NULL;
        int status = 0;

        f->hf_node = i;
        f->hf_up = hclient_fetch(r->r_cl.cl_http, r->r_cl.cl_nodes[i].hn_url, "/v1/health", 4096,
                                 &body, NULL, &status) == 0 &&
                   status == 200;
        free(body);
        f->hf_listed = node_listing(r, i, NULL, &f->hf_live_keys, &f->hf_live_bytes, NULL) == 0;
        node_pending(r, i, &f->hf_pending, NULL);
        final_scan(r, i);
    }
}

/* The command that replays this run (same schedule). */
static void replay_cmd(const run_t *r, char *out, size_t cap)
{
    const run_opts_t *o = r->r_o;
    char self[1024];
    size_t n;

    self_path(self, sizeof(self));
    n = (size_t)snprintf(out, cap,
                         "%s run --scenario %s --nodes %d --seed %" PRIu64 " --duration %" PRId64,
                         self, r->r_sc->sc_name, o->ro_nodes, o->ro_seed, o->ro_duration_s);
    if (n < cap && o->ro_max_size_set)
        n += (size_t)snprintf(out + n, cap - n, " --max-size %" PRIu64, o->ro_wl.wo_max_size);
    if (n < cap && o->ro_failpoints != NULL)
        n += (size_t)snprintf(out + n, cap - n, " --failpoints %s", o->ro_failpoints);
    if (n < cap && o->ro_wl.wo_threads != 4)
        n += (size_t)snprintf(out + n, cap - n, " --clients %d", o->ro_wl.wo_threads);
    if (n < cap && o->ro_workload_cmd != NULL)
        n += (size_t)snprintf(out + n, cap - n, " --workload-cmd '%s'", o->ro_workload_cmd);
    if (n < cap && o->ro_bin != NULL)
        n += (size_t)snprintf(out + n, cap - n, " --bin %s", o->ro_bin);
    if (n < cap && o->ro_no_workload)
        n += (size_t)snprintf(out + n, cap - n, " --no-workload");
    for (int k = 0; k < o->ro_nnode_args && n < cap; k++)
        n += (size_t)snprintf(out + n, cap - n, " --node-arg '%s'", o->ro_node_args[k]);
}

/*
 * Runs one scenario under root/<name>. Appends its JSON to runs. *passed
 * tells whether every invariant held. Returns 0, or negative on a setup
 * error (message printed).
 */
static int run_one(const run_opts_t *o, const scenario_t *sc, const char *root, buf_t *runs,
                   int *passed)
{
    run_t *r;
    char err[512], bin[1024], path[800], replay[2048];
    check_report_t rep;
    wl_opts_t wl = o->ro_wl;
    int base, rc, ok;

    *passed = 0;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->r_o = o;
    r->r_sc = sc;
    history_init(&r->r_h);
    snprintf(r->r_h.hi_scenario, sizeof(r->r_h.hi_scenario), "%s", sc->sc_name);
    r->r_h.hi_seed = o->ro_seed;
    r->r_h.hi_nodes = o->ro_nodes;
    r->r_h.hi_duration_s = o->ro_duration_s;
    r->r_h.hi_converge_timeout_ms = o->ro_converge_timeout_s * 1000;
    if ((size_t)snprintf(r->r_dir, sizeof(r->r_dir), "%s/%s", root, sc->sc_name) >=
        sizeof(r->r_dir)) {
        fprintf(stderr, "cairn-harness: --dir is too long\n");
        rc = -ENAMETOOLONG;
        goto done;
    }
    hu_rm_rf(r->r_dir);
    if (o->ro_bin != NULL)
        snprintf(bin, sizeof(bin), "%s", o->ro_bin);
    else
        default_bin(bin, sizeof(bin));
    base = o->ro_base_port > 0
               ? o->ro_base_port
               : cluster_pick_base_port(o->ro_nodes, o->ro_seed ^ hu_str_hash(sc->sc_name) ^
                                                         (uint64_t)getpid() * 7919);
    if (base < 0) {
        fprintf(stderr, "cairn-harness: no free port range found\n");
        rc = base;
        goto done;
    }
    hu_clock_reset();
    rc = cluster_init(&r->r_cl, o->ro_nodes, base, r->r_dir, bin, &r->r_h, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "cairn-harness: %s\n", err);
        goto done;
    }
    r->r_cl.cl_log_debug = o->ro_log_debug;
    if (cluster_bin_has_flag(bin, "--shutdown-timeout") &&
        r->r_cl.cl_nextra < CLUSTER_MAX_EXTRA_ARGS - 1) {
        r->r_cl.cl_extra[r->r_cl.cl_nextra++] = "--shutdown-timeout";
        r->r_cl.cl_extra[r->r_cl.cl_nextra++] = "2";
    }
    for (int k = 0; k < o->ro_nnode_args && r->r_cl.cl_nextra < CLUSTER_MAX_EXTRA_ARGS; k++)
        r->r_cl.cl_extra[r->r_cl.cl_nextra++] = o->ro_node_args[k];
    if (!o->ro_quiet)
        printf("== %s: %d node(s), seed %" PRIu64 ", %" PRId64 " s, ports %d.., dir %s\n",
               sc->sc_name, o->ro_nodes, o->ro_seed, o->ro_duration_s, base, r->r_dir);
    fflush(stdout);
    r->r_deadline_ms = INT64_MAX / 2;
    for (int i = 1; i <= o->ro_nodes; i++) {
        rc = cluster_start_ready(&r->r_cl, i, NULL, 0, READY_TIMEOUT_MS);
        if (rc < 0) {
            fprintf(stderr, "cairn-harness: node %d did not start (log: %s)\n", i,
                    r->r_cl.cl_nodes[i].hn_log);
            cluster_shutdown(&r->r_cl);
            goto done;
        }
    }
    hu_rng_seed(&r->r_rng, o->ro_seed ^ hu_str_hash(sc->sc_name));
    if (sc->sc_large_pct >= 0)
        wl.wo_large_pct = sc->sc_large_pct;
    if (sc->sc_max_size > 0 && !o->ro_max_size_set)
        wl.wo_max_size = sc->sc_max_size;
    if (sc->sc_del_pct >= 0) {
        wl.wo_put_pct += wl.wo_del_pct - sc->sc_del_pct;
        wl.wo_del_pct = sc->sc_del_pct;
    }
    if (o->ro_no_workload)
        wl.wo_threads = 0;
    rc = workload_start(&wl, &r->r_cl, &r->r_h, o->ro_seed, &r->r_wl);
    if (rc == 0 && o->ro_workload_cmd != NULL)
        rc = cmd_start(r);
    if (rc < 0) {
        fprintf(stderr, "cairn-harness: cannot start the workload: %s\n", strerror(-rc));
        workload_stop(r->r_wl);
        cluster_shutdown(&r->r_cl);
        goto done;
    }
    r->r_deadline_ms = hu_now_ms() + o->ro_duration_s * 1000;
    history_event(&r->r_h, "faults_begin", 0, 0, 0, NULL);
    rc = sc->sc_fn(r);
    r->r_deadline_ms = 0; /* r_running() is false from here on */
    if (rc < 0)
        history_event(&r->r_h, "scenario_error", 0, 0, 0, "the fault schedule stopped early");
    workload_request_stop(r->r_wl);
    cmd_stop(r);
    heal_all(r);
    workload_stop(r->r_wl);
    r->r_wl = NULL;
    if (r->r_cmd_ran) {
        size_t added = 0, bad = 0;
        snprintf(path, sizeof(path), "%s/external-ops.jsonl", r->r_dir);
        if (history_merge_jsonl(&r->r_h, path, &added, &bad) == 0 || added > 0)
            history_event(&r->r_h, "external_ops", 0, 0, 0, "merged=%zu malformed=%zu", added, bad);
    }
    converge(r);
    final_reads(r);
    final_state(r);
    cluster_shutdown(&r->r_cl);

    snprintf(path, sizeof(path), "%s/history.json", r->r_dir);
    rc = history_write(&r->r_h, path);
    if (rc < 0)
        fprintf(stderr, "cairn-harness: cannot write %s: %s\n", path, strerror(-rc));
    rc = checker_run(&r->r_h, &o->ro_check, &rep);
    if (rc < 0) {
        fprintf(stderr, "cairn-harness: the checker ran out of memory\n");
        goto done;
    }
    {
        check_result_t *c = check_report_add(&rep, "failpoints_hit",
                                             "armed crash failpoints fired (not enforced)", 0);
        if (c != NULL) {
            c->cr_checked = r->r_fp_armed;
            check_stat(c, "armed", (double)r->r_fp_armed);
            check_stat(c, "hit", (double)r->r_fp_hit);
            check_stat(c, "not_hit", (double)r->r_fp_missed);
            if (r->r_fp_armed == 0)
                c->cr_skipped = 1;
        }
    }
    if (r->r_cmd_ran) {
        check_result_t *c =
            check_report_add(&rep, "workload_cmd", "the external workload command succeeded", 1);
        int st = r->r_cmd_status;
        if (c != NULL) {
            c->cr_checked = 1;
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
                !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM))
                check_violation(c,
                                "the workload command ended with %s %d (log: %s/workload-cmd.log)",
                                WIFSIGNALED(st) ? "signal" : "exit status",
                                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), r->r_dir);
        }
    }
    ok = check_report_ok(&rep);
    *passed = ok;
    replay_cmd(r, replay, sizeof(replay));
    if (!o->ro_quiet)
        report_print(&r->r_h, &rep, stdout);
    if (runs->b_len > 1)
        buf_appendf(runs, ",");
    report_json(&r->r_h, &rep, replay, ok && !o->ro_keep ? NULL : r->r_dir, runs);
    if (!ok) {
        printf("  RESULT: FAILED (seed %" PRIu64 ")\n  replay: %s\n  kept: %s (history.json, "
               "node*/cairnd.log, node*/data)\n",
               o->ro_seed, replay, r->r_dir);
    } else {
        printf("  RESULT: passed%s%s\n", o->ro_keep ? " (kept: " : "", o->ro_keep ? r->r_dir : "");
        if (o->ro_keep)
            printf(")\n");
        if (!o->ro_keep)
            hu_rm_rf(r->r_dir);
    }
    fflush(stdout);
    check_report_free(&rep);
    rc = 0;
done:
    workload_stop(r->r_wl);
    history_free(&r->r_h);
    free(r);
    return rc;
}

int run_main(const run_opts_t *o)
{
    const scenario_t *sel[64];
    int nsel = 0, failed = 0, setup_err = 0, made_root = 0;
    char root[600];
    buf_t runs;
    struct sigaction sa;

    if (strcmp(o->ro_scenario, "all") == 0) {
        for (const scenario_t *s = scenarios; s->sc_name != NULL && nsel < 64; s++) {
            if (s->sc_min_nodes <= o->ro_nodes)
                sel[nsel++] = s;
        }
    } else {
        /* A comma-separated list of names. */
        char names[1024];
        snprintf(names, sizeof(names), "%s", o->ro_scenario);
        for (char *save = NULL, *t = strtok_r(names, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            const scenario_t *s = scenario_find(t);
            if (s == NULL) {
                fprintf(stderr,
                        "cairn-harness: unknown scenario \"%s\" (see `cairn-harness list`)\n", t);
                return 2;
            }
            if (s->sc_min_nodes > o->ro_nodes) {
                fprintf(stderr, "cairn-harness: scenario %s needs --nodes %d or more\n", t,
                        s->sc_min_nodes);
                return 2;
            }
            if (nsel < 64)
                sel[nsel++] = s;
        }
    }
    if (nsel == 0) {
        fprintf(stderr, "cairn-harness: no scenario selected\n");
        return 2;
    }
    if (o->ro_dir != NULL) {
        snprintf(root, sizeof(root), "%s", o->ro_dir);
        if (hu_mkdir_p(root, 0755) < 0) {
            fprintf(stderr, "cairn-harness: cannot create %s\n", root);
            return 2;
        }
    } else {
        snprintf(root, sizeof(root), "/tmp/cairn-harness-XXXXXX");
        if (mkdtemp(root) == NULL) {
            fprintf(stderr, "cairn-harness: mkdtemp: %s\n", strerror(errno));
            return 2;
        }
        made_root = 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    buf_init(&runs, (size_t)64 << 20);
    buf_appendf(&runs, "[");
    for (int k = 0; k < nsel && !g_interrupted; k++) {
        int passed = 0;
        if (run_one(o, sel[k], root, &runs, &passed) < 0) {
            setup_err = 1;
            break;
        }
        if (!passed)
            failed++;
    }
    buf_appendf(&runs, "]");
    {
        char rpath[700];
        buf_t doc;
        int rc;
        if (o->ro_report != NULL)
            snprintf(rpath, sizeof(rpath), "%s", o->ro_report);
        else
            snprintf(rpath, sizeof(rpath), "%s/report.json", root);
        buf_init(&doc, (size_t)80 << 20);
        rc = buf_appendf(&doc, "{\"format\":\"cairn-harness-report/1\",\"passed\":%s,\"runs\":",
                         failed == 0 && !setup_err ? "true" : "false");
        if (rc == 0)
            rc = buf_append(&doc, runs.b_data, runs.b_len);
        if (rc == 0)
            rc = buf_appendf(&doc, "}\n");
        if (rc == 0 && (failed > 0 || setup_err || o->ro_keep || o->ro_report != NULL)) {
            rc = hu_write_file(rpath, doc.b_data, doc.b_len, 0644);
            if (rc < 0)
                fprintf(stderr, "cairn-harness: cannot write %s: %s\n", rpath, strerror(-rc));
            else
                printf("report: %s\n", rpath);
        }
        buf_free(&doc);
    }
    buf_free(&runs);
    printf("%d scenario(s) run, %d failed%s\n", nsel, failed, setup_err ? ", setup error" : "");
    if (made_root && failed == 0 && !setup_err && !o->ro_keep)
        rmdir(root); /* empty when every scenario removed its own directory */
    if (setup_err)
        return 2;
    return failed > 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- up */

int run_up(int nodes, int base_port, const char *dir, const char *bin_opt)
{
    cluster_t cl;
    char err[512], bin[1024];
    struct sigaction sa;
    int rc = 0;

    if (bin_opt != NULL)
        snprintf(bin, sizeof(bin), "%s", bin_opt);
    else
        default_bin(bin, sizeof(bin));
    hu_clock_reset();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (cluster_init(&cl, nodes, base_port, dir, bin, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "cairn-harness: %s\n", err);
        return 2;
    }
    if (cluster_bin_has_flag(bin, "--durability") && nodes == 1) {
        cl.cl_extra[cl.cl_nextra++] = "--durability";
        cl.cl_extra[cl.cl_nextra++] = "local";
    }
    for (int i = 1; i <= nodes; i++) {
        if (cluster_start_ready(&cl, i, NULL, 0, READY_TIMEOUT_MS) < 0) {
            fprintf(stderr, "cairn-harness: node %d did not start (log: %s)\n", i,
                    cl.cl_nodes[i].hn_log);
            cluster_shutdown(&cl);
            return 1;
        }
    }
    printf("cairn: %d node(s) up (data and logs under %s)\n\n", nodes, dir);
    for (int i = 1; i <= nodes; i++)
        printf("  node %d   %s   (peers on 127.0.0.1:%d via the harness proxy, log %s)\n", i,
               cl.cl_nodes[i].hn_url, cl.cl_nodes[i].hn_peer_port, cl.cl_nodes[i].hn_log);
    printf("\n  try:  curl -T README.md %s/v1/blobs/docs/readme\n", cl.cl_nodes[1].hn_url);
    printf("        curl %s/v1/blobs/docs/readme\n", cl.cl_nodes[nodes].hn_url);
    printf("        curl '%s/v1/blobs?prefix=docs/'\n", cl.cl_nodes[1].hn_url);
    printf("        curl %s/v1/cluster\n\nCtrl-C stops the cluster cleanly.\n",
           cl.cl_nodes[1].hn_url);
    fflush(stdout);
    while (!g_interrupted) {
        hu_sleep_ms(200);
        cluster_poll(&cl);
        for (int i = 1; i <= nodes; i++) {
            if (cl.cl_nodes[i].hn_pid == 0 && !g_interrupted) {
                fprintf(stderr, "cairn-harness: node %d exited (log: %s); restarting it\n", i,
                        cl.cl_nodes[i].hn_log);
                if (cluster_start_ready(&cl, i, NULL, 0, READY_TIMEOUT_MS) < 0)
                    rc = 1;
            }
        }
    }
    printf("\nstopping...\n");
    cluster_shutdown(&cl);
    return rc;
}

/* ---------------------------------------------------------------- check */

int run_check(const char *history_path, const char *report_path, const check_opts_t *co)
{
    history_t h;
    check_report_t rep;
    char err[512];
    int ok;

    if (history_load(&h, history_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "cairn-harness: cannot read %s: %s\n", history_path, err);
        history_free(&h);
        return 2;
    }
    if (checker_run(&h, co, &rep) < 0) {
        fprintf(stderr, "cairn-harness: out of memory\n");
        history_free(&h);
        return 2;
    }
    report_print(&h, &rep, stdout);
    ok = check_report_ok(&rep);
    if (report_path != NULL) {
        buf_t b;
        buf_init(&b, (size_t)64 << 20);
        if (buf_appendf(&b, "{\"format\":\"cairn-harness-report/1\",\"passed\":%s,\"runs\":[",
                        ok ? "true" : "false") == 0 &&
            report_json(&h, &rep, NULL, NULL, &b) == 0 && buf_appendf(&b, "]}\n") == 0)
            hu_write_file(report_path, b.b_data, b.b_len, 0644);
        buf_free(&b);
    }
    printf("  RESULT: %s\n", ok ? "every invariant held" : "FAILED");
    check_report_free(&rep);
    history_free(&h);
    return ok ? 0 : 1;
}
