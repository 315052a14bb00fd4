/*
 * api_node.c -- cairnd process management for the API tests (see api_node.h).
 */
#include "api_node.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_data.h"
#include "api_http.h"

#define REG_MAX 16
#define READY_TIMEOUT_MS 10000
#define START_ATTEMPTS 4

/* Process-wide registry: what to kill and remove if the test dies early.
 * It holds copies, not pointers to the tests' (stack) node structs. */
typedef struct reg_entry {
    pid_t re_pid;
    int re_used;
    char re_base[64];
} reg_entry_t;

static reg_entry_t g_reg[REG_MAX];
static int g_atexit_set;

static int keep_dirs(void)
{
    const char *k = getenv("CAIRN_API_KEEP");
    return k != NULL && k[0] != '\0' && strcmp(k, "0") != 0;
}

static void cleanup_all(void)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (!g_reg[i].re_used)
            continue;
        if (g_reg[i].re_pid > 0) {
            kill(g_reg[i].re_pid, SIGKILL);
            waitpid(g_reg[i].re_pid, NULL, 0);
        }
        if (!keep_dirs() && g_reg[i].re_base[0] != '\0')
            api_rm_rf(g_reg[i].re_base);
        g_reg[i].re_used = 0;
    }
}

static int reg_alloc(const char *base)
{
    if (!g_atexit_set) {
        atexit(cleanup_all);
        signal(SIGPIPE, SIG_IGN);
        g_atexit_set = 1;
    }
    for (int i = 0; i < REG_MAX; i++) {
        if (!g_reg[i].re_used) {
            g_reg[i].re_used = 1;
            g_reg[i].re_pid = 0;
            snprintf(g_reg[i].re_base, sizeof(g_reg[i].re_base), "%s", base);
            return i;
        }
    }
    ck_abort_msg("too many nodes in one test");
    return -1;
}

/* Registers an extra pid (a second process on the same node) for cleanup. */
static void reg_pid(pid_t pid)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (!g_reg[i].re_used) {
            g_reg[i].re_used = 1;
            g_reg[i].re_pid = pid;
            g_reg[i].re_base[0] = '\0';
            return;
        }
    }
}

/* The pid was reaped (or is tracked elsewhere): never kill it again. */
static void reg_forget_pid(pid_t pid)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (g_reg[i].re_used && g_reg[i].re_pid == pid) {
            g_reg[i].re_pid = 0;
            if (g_reg[i].re_base[0] == '\0')
                g_reg[i].re_used = 0;
        }
    }
}

/* Moves a pid from its extra slot (api_node_spawn_raw) to the node's slot. */
static void reg_adopt(int slot, pid_t pid)
{
    for (int i = 0; i < REG_MAX; i++) {
        if (g_reg[i].re_used && g_reg[i].re_pid == pid && g_reg[i].re_base[0] == '\0')
            g_reg[i].re_used = 0;
    }
    g_reg[slot].re_pid = pid;
}

void api_node_init(api_node_t *n)
{
    const char *root = getenv("CAIRN_API_ROOT");

    memset(n, 0, sizeof(*n));
    if (root != NULL && root[0] != '\0' && strlen(root) < sizeof(n->an_base) - 16)
        snprintf(n->an_base, sizeof(n->an_base), "%s/node-XXXXXX", root);
    else
        snprintf(n->an_base, sizeof(n->an_base), "/tmp/cairn-api-XXXXXX");
    ck_assert_msg(mkdtemp(n->an_base) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(n->an_data, sizeof(n->an_data), "%s/data", n->an_base);
    snprintf(n->an_log, sizeof(n->an_log), "%s/cairnd.log", n->an_base);
    ck_assert_int_eq(mkdir(n->an_data, 0700), 0);
    n->an_log_level = getenv("CAIRN_API_LOG_LEVEL"); /* for debugging a failure */
    if (n->an_log_level == NULL || n->an_log_level[0] == '\0')
        n->an_log_level = "warn";
    n->an_reg = reg_alloc(n->an_base);
}

void api_node_files_only(api_node_t *n)
{
    api_node_arg(n, "--inline-max");
    api_node_arg(n, "0");
}

void api_node_arg(api_node_t *n, const char *arg)
{
    ck_assert(n->an_nargs < API_NODE_MAX_ARGS);
    n->an_args[n->an_nargs] = strdup(arg);
    ck_assert_ptr_nonnull(n->an_args[n->an_nargs]);
    n->an_nargs++;
}

void api_node_failpoints(api_node_t *n, const char *spec)
{
    snprintf(n->an_failpoints, sizeof(n->an_failpoints), "%s", spec != NULL ? spec : "");
}

void api_node_set_token(api_node_t *n, const char *token, int with_newline)
{
    char path[API_PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof(path), "%s/token", n->an_base);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s%s", token, with_newline ? "\n" : "");
    ck_assert_int_eq(fclose(f), 0);
    chmod(path, 0600);
    api_node_arg(n, "--api-token-file");
    api_node_arg(n, path);
    snprintf(n->an_token, sizeof(n->an_token), "%s", token);
}

void api_pick_ports(int *a, int *b)
{
    int fds[2];
    int ports[2];

    for (int i = 0; i < 2; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fds[i], (struct sockaddr *)&sa, &len), 0);
        ports[i] = ntohs(sa.sin_port);
    }
    close(fds[0]);
    close(fds[1]);
    *a = ports[0];
    *b = ports[1];
}

static const char *bin_path(void)
{
    static char path[API_PATH_MAX];
    const char *dir = getenv("CAIRN_BIN_DIR");

    ck_assert_msg(dir != NULL && dir[0] != '\0', "CAIRN_BIN_DIR is not set");
    snprintf(path, sizeof(path), "%s/cairnd", dir);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not an executable: %s", path, strerror(errno));
    return path;
}

pid_t api_node_spawn_raw(const api_node_t *n, const char *data_dir, int port, int peer_port,
                         const char *log_path)
{
    const char *bin = bin_path();
    char listen[64], peer[64];
    const char *argv[API_NODE_MAX_ARGS + 20];
    int ac = 0;
    pid_t parent = getpid();
    pid_t pid;

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", peer_port);
    argv[ac++] = bin;
    argv[ac++] = "--node-id";
    argv[ac++] = "1";
    argv[ac++] = "--data";
    argv[ac++] = data_dir;
    argv[ac++] = "--listen";
    argv[ac++] = listen;
    argv[ac++] = "--peer-listen";
    argv[ac++] = peer;
    argv[ac++] = "--durability";
    argv[ac++] = "local";
    argv[ac++] = "--log-level";
    argv[ac++] = n->an_log_level != NULL ? n->an_log_level : "warn";
    for (int i = 0; i < n->an_nargs; i++)
        argv[ac++] = n->an_args[i];
    argv[ac] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t none;
        int fd;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            dup2(fd, 0);
        /* Only stdin/out/err cross into cairnd; no test sockets. */
        close_range(3, ~0U, 0);
        if (n->an_failpoints[0] != '\0')
            setenv("CAIRN_FAILPOINTS", n->an_failpoints, 1);
        else
            unsetenv("CAIRN_FAILPOINTS");
        signal(SIGPIPE, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    reg_pid(pid);
    return pid;
}

int api_wait_exit(pid_t pid, int timeout_ms, int *status)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;
    int st = 0;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            reg_forget_pid(pid);
            if (status != NULL)
                *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return -errno;
        if (api_now_ms() >= deadline)
            return -ETIMEDOUT;
        api_sleep_ms(5);
    }
}

/* Polls /v1/health until 200, the process exits, or the timeout. */
static int wait_ready(api_node_t *n, int timeout_ms, int *exited, int *status)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;

    *exited = 0;
    while (api_now_ms() < deadline) {
        api_conn_t c;
        api_resp_t r;

        if (api_wait_exit(n->an_pid, 0, status) == 0) {
            *exited = 1;
            n->an_pid = 0;
            return -1;
        }
        if (api_conn_open(&c, n->an_port, 0) == 0) {
            c.ac_timeout_ms = 1000;
            if (api_send_req(&c, n, 0, "GET", "/v1/health", NULL, NULL, 0) == 0 &&
                api_conn_read_final(&c, 0, &r) == 0) {
                int st = r.ar_status;
                api_resp_free(&r);
                api_conn_close(&c);
                if (st == 200)
                    return 0;
            } else {
                api_resp_free(&r);
                api_conn_close(&c);
            }
        }
        api_sleep_ms(20);
    }
    return -ETIMEDOUT;
}

void api_node_start(api_node_t *n)
{
    int status = 0;

    ck_assert_msg(n->an_pid == 0, "node already running");
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int exited = 0;
        if (n->an_port == 0 || (attempt > 0 && !n->an_fixed_ports))
            api_pick_ports(&n->an_port, &n->an_peer_port);
        n->an_pid = api_node_spawn_raw(n, n->an_data, n->an_port, n->an_peer_port, n->an_log);
        reg_adopt(n->an_reg, n->an_pid);
        if (wait_ready(n, READY_TIMEOUT_MS, &exited, &status) == 0)
            return;
        if (!exited) {
            api_node_dump_log(n, 3000);
            api_node_kill(n);
            ck_abort_msg("cairnd did not answer GET /v1/health within %d ms (port %d)",
                         READY_TIMEOUT_MS, n->an_port);
        }
        g_reg[n->an_reg].re_pid = 0;
        /* Exited early: maybe a port was taken meanwhile; retry on new ports. */
    }
    api_node_dump_log(n, 3000);
    ck_abort_msg("cairnd exited during start-up %d times (last wait status 0x%x)", START_ATTEMPTS,
                 status);
}

int api_node_stop(api_node_t *n, int sig, int timeout_ms, int *status)
{
    int st = 0;
    int rc;

    if (n->an_pid <= 0)
        return -ESRCH;
    kill(n->an_pid, sig);
    rc = api_wait_exit(n->an_pid, timeout_ms, &st);
    if (rc == -ETIMEDOUT) {
        kill(n->an_pid, SIGKILL);
        api_wait_exit(n->an_pid, 10000, &st);
    }
    g_reg[n->an_reg].re_pid = 0;
    n->an_pid = 0;
    if (status != NULL)
        *status = st;
    return rc;
}

void api_node_kill(api_node_t *n)
{
    api_node_stop(n, SIGKILL, 10000, NULL);
}

void api_node_finish(api_node_t *n)
{
    int status = 0;
    int rc;

    if (n->an_pid > 0) {
        rc = api_node_stop(n, SIGTERM, 20000, &status);
        if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            api_node_dump_log(n, 3000);
        ck_assert_msg(rc == 0, "cairnd did not exit within 20 s of SIGTERM");
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "cairnd did not exit cleanly on SIGTERM: %s %d",
                      WIFEXITED(status) ? "exit status" : "killed by signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    if (!keep_dirs())
        api_rm_rf(n->an_base);
    else
        fprintf(stderr, "kept %s\n", n->an_base);
    g_reg[n->an_reg].re_used = 0;
    for (int i = 0; i < n->an_nargs; i++)
        free(n->an_args[i]);
    memset(n, 0, sizeof(*n));
}

int api_proc_mem(pid_t pid, long *rss_kb, long *hwm_kb)
{
    char path[64], line[256];
    FILE *f;

    *rss_kb = *hwm_kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return (*rss_kb >= 0 && *hwm_kb >= 0) ? 0 : -ENOENT;
}

int api_proc_sanitized(pid_t pid)
{
    char path[64], line[1024];
    FILE *f;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "libasan") != NULL || strstr(line, "libtsan") != NULL ||
            strstr(line, "libmsan") != NULL)
            found = 1;
    }
    fclose(f);
    return found;
}

char *api_node_log(const api_node_t *n)
{
    FILE *f = fopen(n->an_log, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[4096];
    size_t got;

    if (f == NULL)
        return strdup("");
    while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        memcpy(buf + len, tmp, got);
        len += got;
    }
    fclose(f);
    if (buf == NULL)
        return strdup("");
    buf[len] = '\0';
    return buf;
}

void api_node_dump_log(const api_node_t *n, size_t bytes)
{
    char *log = api_node_log(n);
    size_t len = strlen(log);
    const char *start = len > bytes ? log + len - bytes : log;

    fprintf(stderr, "---- tail of %s ----\n%s\n---- end of log ----\n", n->an_log, start);
    free(log);
}

void api_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if ((long)rl.rlim_cur >= want)
        return;
    rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

void api_expect_blob_files(const api_node_t *n, size_t want, int timeout_ms)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;
    size_t have;

    for (;;) {
        have = api_count_blob_files(n->an_data);
        if (have == want || api_now_ms() > deadline)
            break;
        api_sleep_ms(20);
    }
    ck_assert_msg(have == want, "%zu .blob files under %s/blobs, expected %zu", have, n->an_data,
                  want);
}

static int dump_log_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t len = strlen(path);
    (void)ftw;
    if (flag == FTW_F && len > 4 && strcmp(path + len - 4, ".log") == 0 && sb->st_size > 0) {
        FILE *f = fopen(path, "r");
        char buf[4097];
        size_t got;
        if (f == NULL)
            return 0;
        if (sb->st_size > 4096)
            fseek(f, -4096, SEEK_END);
        got = fread(buf, 1, 4096, f);
        buf[got] = '\0';
        fclose(f);
        fprintf(stderr, "---- %s (last %zu bytes) ----\n%s\n", path, got, buf);
    }
    return 0;
}

int api_run_suite(struct Suite *s)
{
    char root[] = "/tmp/cairn-api-XXXXXX";
    SRunner *sr;
    int failed;

    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    setenv("CAIRN_API_ROOT", root, 1);
    signal(SIGPIPE, SIG_IGN);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed > 0)
        nftw(root, dump_log_cb, 32, FTW_PHYS);
    if (keep_dirs())
        fprintf(stderr, "kept %s\n", root);
    else
        api_rm_rf(root);
    return failed == 0 ? 0 : 1;
}

/* ------------------------------------------------------------- clusters */

void api_pick_ports_n(int *ports, int count)
{
    int fds[2 * API_CLUSTER_MAX + 2];

    ck_assert(count > 0 && count <= (int)(sizeof(fds) / sizeof(fds[0])));
    for (int i = 0; i < count; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fds[i], (struct sockaddr *)&sa, &len), 0);
        ports[i] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < count; i++)
        close(fds[i]);
}

void api_node_set_secret(api_node_t *n, const char *secret)
{
    char path[API_PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof(path), "%s/secret", n->an_base);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", secret);
    ck_assert_int_eq(fclose(f), 0);
    chmod(path, 0600);
    api_node_arg(n, "--secret-file");
    api_node_arg(n, path);
}

void api_cluster_init(api_cluster_t *cl, int count)
{
    int ports[2 * API_CLUSTER_MAX];
    char secret[65], buf[64];
    uint8_t raw[32];

    ck_assert(count >= 1 && count <= API_CLUSTER_MAX);
    memset(cl, 0, sizeof(*cl));
    cl->acl_n = count;
    api_pick_ports_n(ports, 2 * count);
    api_gen_fill((uint64_t)getpid() * 7919u + api_now_ms(), 0, raw, sizeof(raw));
    for (int i = 0; i < 32; i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    for (int i = 0; i < count; i++) {
        api_node_t *n = &cl->acl_nodes[i];

        api_node_init(n);
        n->an_port = ports[2 * i];
        n->an_peer_port = ports[2 * i + 1];
        n->an_fixed_ports = 1;
        snprintf(buf, sizeof(buf), "%d", i + 1);
        api_node_arg(n, "--node-id");
        api_node_arg(n, buf);
        api_node_arg(n, "--durability");
        api_node_arg(n, "majority");
        api_node_set_secret(n, secret);
        for (int j = 0; j < count; j++) {
            if (j == i)
                continue;
            snprintf(buf, sizeof(buf), "%d@127.0.0.1:%d", j + 1, ports[2 * j + 1]);
            api_node_arg(n, "--peer");
            api_node_arg(n, buf);
        }
    }
}

void api_cluster_start(api_cluster_t *cl)
{
    for (int i = 0; i < cl->acl_n; i++)
        api_node_start(&cl->acl_nodes[i]);
}

/* 1 when body's "peers" has "link":"up" for every node id in want[0..nwant). */
static int links_up(const char *body, size_t len, const int *want, int nwant)
{
    api_json_t *j = NULL;
    const api_json_t *peers;
    int up = 0;

    if (api_json_parse(body, len, &j, NULL) < 0)
        return 0;
    peers = api_json_get(j, "peers");
    for (size_t i = 0; peers != NULL && peers->aj_type == AJ_ARR && i < peers->aj_n; i++) {
        const api_json_t *id = api_json_get(peers->aj_items[i], "node_id");
        const char *link = api_json_str(peers->aj_items[i], "link");

        if (id == NULL || id->aj_type != AJ_NUM || link == NULL || strcmp(link, "up") != 0)
            continue;
        for (int k = 0; k < nwant; k++) {
            if ((int)id->aj_num == want[k])
                up++;
        }
    }
    api_json_free(j);
    return up == nwant;
}

void api_cluster_wait_links(api_cluster_t *cl, int timeout_ms)
{
    uint64_t deadline = api_now_ms() + (uint64_t)timeout_ms;
    char last[1024] = "";

    for (int i = 0; i < cl->acl_n; i++) {
        const api_node_t *n = &cl->acl_nodes[i];
        int want[API_CLUSTER_MAX], nwant = 0;

        if (n->an_pid <= 0)
            continue;
        for (int k = 0; k < cl->acl_n; k++) {
            if (k != i && cl->acl_nodes[k].an_pid > 0)
                want[nwant++] = k + 1;
        }
        for (;;) {
            api_resp_t r;
            int ok = 0;

            if (api_request(n, 1, "GET", "/v1/cluster", NULL, NULL, 0, &r) == 0 &&
                r.ar_status == 200) {
                ok = links_up(r.ar_body, r.ar_body_len, want, nwant);
                snprintf(last, sizeof(last), "%s", r.ar_body != NULL ? r.ar_body : "");
            }
            api_resp_free(&r);
            if (ok)
                break;
            if (api_now_ms() > deadline) {
                api_node_dump_log(n, 3000);
                ck_abort_msg("node %d: peer links not all up within %d ms; last /v1/cluster: "
                             "%.900s",
                             i + 1, timeout_ms, last);
            }
            api_sleep_ms(50);
        }
    }
}

void api_cluster_finish(api_cluster_t *cl)
{
    for (int i = 0; i < cl->acl_n; i++)
        api_node_finish(&cl->acl_nodes[i]);
}
