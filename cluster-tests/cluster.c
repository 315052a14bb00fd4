/*
 * cluster.c -- cairnd processes and the proxy between them (see cluster.h).
 */
#include "cluster-tests/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster-tests/hclient.h"
#include "cluster-tests/hutil.h"

extern char **environ;

#define MAX_ARGS 96

static int route_port(const cluster_t *cl, int from, int to)
{
    return cl->cl_base_port + 200 + (from - 1) * cl->cl_n + (to - 1);
}

static int port_free(int port)
{
    struct sockaddr_in sa;
    int fd, one = 1, ok;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Lowest port of the kernel's ephemeral range (32768 when unknown). */
static int ephemeral_low(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int lo = 32768, hi = 60999;

    if (f != NULL) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

/* 1 when the layout (HTTP base.., peers base+100.., proxy routes
 * base+200..) is free now. */
static int layout_free(int n, int base)
{
    int ok = 1;

    for (int i = 0; ok && i < n; i++)
        ok = port_free(base + i) && port_free(base + 100 + i);
    for (int i = 0; ok && i < n * n; i++)
        ok = port_free(base + 200 + i);
    return ok;
}

/*
 * Prefers a base below the kernel's ephemeral range: a node restarted on
 * its old ports must not find one taken meanwhile by some client
 * connection's local port. Falls back to anywhere in 20000..60700.
 */
int cluster_pick_base_port(int n, uint64_t seed)
{
    int lo = 10000, hi = ephemeral_low() - 200 - n * n - 1;

    for (int attempt = 0; hi - lo > 1000 && attempt < 200; attempt++) {
        int base = lo + (int)(hu_mix64(seed + (uint64_t)attempt) % (uint64_t)(hi - lo));

        if (layout_free(n, base))
            return base;
    }
    for (int attempt = 0; attempt < 200; attempt++) {
        int base = 20000 + (int)((seed + (uint64_t)attempt * 7919) % 40) * 1000;

        base += (int)((hu_mix64(seed + (uint64_t)attempt) % 700));
        if (layout_free(n, base))
            return base;
    }
    return -EADDRINUSE;
}

int cluster_bin_has_flag(const char *bin, const char *flag)
{
    char cmd[1200];
    char line[512];
    FILE *f;
    int found = 0;

    snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin);
    f = popen(cmd, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, flag) != NULL)
            found = 1;
    }
    pclose(f);
    return found;
}

/* Writes a fresh 32-byte random secret as hex (mode 0600). */
static int write_secret(const char *path)
{
    unsigned char raw[32];
    char hex[65];
    int fd, rc;
    ssize_t n;

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, raw, sizeof(raw));
    close(fd);
    if (n != (ssize_t)sizeof(raw))
        return -EIO;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    rc = hu_write_file(path, hex, 64, 0600);
    return rc;
}

int cluster_init(cluster_t *cl, int n, int base_port, const char *root, const char *bin,
                 history_t *hist, char *err, size_t errlen)
{
    int rc;

    memset(cl, 0, sizeof(*cl));
    if (n < 1 || n > CLUSTER_MAX_NODES) {
        snprintf(err, errlen, "--nodes must be 1..%d", CLUSTER_MAX_NODES);
        return -EINVAL;
    }
    cl->cl_n = n;
    cl->cl_base_port = base_port;
    cl->cl_hist = hist;
    cl->cl_read_timeout_s = 10;
    snprintf(cl->cl_root, sizeof(cl->cl_root), "%s", root);
    snprintf(cl->cl_bin, sizeof(cl->cl_bin), "%s", bin);
    snprintf(cl->cl_secret, sizeof(cl->cl_secret), "%s/secret", root);
    if (access(bin, X_OK) != 0) {
        snprintf(err, errlen, "%s is not an executable (build cairnd first)", bin);
        return -ENOENT;
    }
    rc = hu_mkdir_p(root, 0755);
    if (rc == 0)
        rc = write_secret(cl->cl_secret);
    if (rc < 0) {
        snprintf(err, errlen, "cannot prepare %s: %s", root, strerror(-rc));
        return rc;
    }
    cl->cl_has_durability_timeout = cluster_bin_has_flag(bin, "--durability-timeout");
    for (int i = 1; i <= n; i++) {
        hnode_t *nd = &cl->cl_nodes[i];
        nd->hn_id = i;
        nd->hn_http_port = base_port + i - 1;
        nd->hn_peer_port = base_port + 100 + i - 1;
        snprintf(nd->hn_url, sizeof(nd->hn_url), "http://127.0.0.1:%d", nd->hn_http_port);
        snprintf(nd->hn_dir, sizeof(nd->hn_dir), "%s/node%d", root, i);
        snprintf(nd->hn_data, sizeof(nd->hn_data), "%s/node%d/data", root, i);
        snprintf(nd->hn_log, sizeof(nd->hn_log), "%s/node%d/cairnd.log", root, i);
        rc = hu_mkdir_p(nd->hn_data, 0755);
        if (rc < 0) {
            snprintf(err, errlen, "cannot create %s: %s", nd->hn_data, strerror(-rc));
            return rc;
        }
        if (hist != NULL && i <= HIST_MAX_NODES)
            snprintf(hist->hi_node_urls[i - 1], sizeof(hist->hi_node_urls[0]), "%s", nd->hn_url);
    }
    rc = hclient_new(1000, 5, &cl->cl_http);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create an HTTP client");
        return rc;
    }
    rc = proxy_new(n, &cl->cl_proxy);
    for (int i = 1; rc == 0 && i <= n; i++) {
        for (int j = 1; rc == 0 && j <= n; j++) {
            if (i != j)
                rc = proxy_add_route(cl->cl_proxy, i, j, route_port(cl, i, j),
                                     cl->cl_nodes[j].hn_peer_port);
        }
    }
    if (rc == 0)
        rc = proxy_start(cl->cl_proxy);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the peer proxy on ports %d..: %s",
                 cl->cl_base_port + 200, strerror(rc > -4096 ? -rc : EINVAL));
        return rc;
    }
    return 0;
}

static void event(cluster_t *cl, const char *kind, int node, int flag, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void event(cluster_t *cl, const char *kind, int node, int flag, const char *fmt, ...)
{
    char detail[600];
    va_list ap;

    if (cl->cl_hist == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    history_event(cl->cl_hist, kind, node, 0, flag, "%s", detail);
}

/* Appends a marker line to the node's log so a reader can line the log up
 * with the history. */
static void log_marker(const hnode_t *nd, const char *what)
{
    char line[1024];
    int fd = open(nd->hn_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int n;

    if (fd < 0)
        return;
    n = snprintf(line, sizeof(line), "=== cairn-harness t=%lldms node=%d %s ===\n",
                 (long long)hu_now_ms(), nd->hn_id, what);
    if (n > 0 && write(fd, line, (size_t)n) < 0) {
        /* best effort */
    }
    close(fd);
}

/*
 * Builds argv and envp (into the caller's arrays; strings in store) and
 * forks cairnd. The child only calls async-signal-safe functions before
 * execve, as the harness is multi-threaded.
 */
int cluster_start(cluster_t *cl, int i, const char *failpoints, int64_t skew_ms)
{
    hnode_t *nd = &cl->cl_nodes[i];
    char store[MAX_ARGS][160];
    char *argv[MAX_ARGS + 1];
    char **envp = NULL;
    size_t nenv = 0, ns = 0;
    int argc = 0, logfd, nullfd;
    pid_t pid;
    char what[700];

#define ARG(...)                                                                                   \
    do {                                                                                           \
        snprintf(store[ns], sizeof(store[ns]), __VA_ARGS__);                                       \
        argv[argc++] = store[ns++];                                                                \
    } while (0)

    if (nd->hn_pid != 0)
        return -EBUSY;
    argv[argc++] = cl->cl_bin;
    ARG("--node-id");
    ARG("%d", i);
    argv[argc++] = "--data";
    argv[argc++] = nd->hn_data;
    ARG("--listen");
    ARG("127.0.0.1:%d", nd->hn_http_port);
    ARG("--peer-listen");
    ARG("127.0.0.1:%d", nd->hn_peer_port);
    argv[argc++] = "--secret-file";
    argv[argc++] = cl->cl_secret;
    ARG("--log-level");
    ARG("%s", cl->cl_log_debug ? "debug" : "info");
    ARG("--read-timeout");
    ARG("%d", cl->cl_read_timeout_s);
    if (cl->cl_has_durability_timeout) {
        ARG("--durability-timeout");
        ARG("5");
    }
    for (int j = 1; j <= cl->cl_n; j++) {
        if (j == i)
            continue;
        ARG("--peer");
        ARG("%d@127.0.0.1:%d", j, route_port(cl, i, j));
    }
    for (int k = 0; k < cl->cl_nextra && argc < MAX_ARGS - 1; k++)
        argv[argc++] = (char *)cl->cl_extra[k];
    argv[argc] = NULL;
#undef ARG

    for (char **e = environ; *e != NULL; e++)
        nenv++;
    envp = calloc(nenv + 3, sizeof(char *));
    if (envp == NULL)
        return -ENOMEM;
    nenv = 0;
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "CAIRN_FAILPOINTS=", 17) != 0 &&
            strncmp(*e, "CAIRN_CLOCK_SKEW_MS=", 20) != 0)
            envp[nenv++] = *e;
    }
    if (failpoints != NULL && failpoints[0] != '\0') {
        snprintf(store[ns], sizeof(store[ns]), "CAIRN_FAILPOINTS=%s", failpoints);
        envp[nenv++] = store[ns++];
    }
    if (skew_ms != 0) {
        snprintf(store[ns], sizeof(store[ns]), "CAIRN_CLOCK_SKEW_MS=%lld", (long long)skew_ms);
        envp[nenv++] = store[ns++];
    }
    envp[nenv] = NULL;

    snprintf(what, sizeof(what), "start #%d failpoints=\"%s\" skew_ms=%lld", nd->hn_starts + 1,
             failpoints != NULL ? failpoints : "", (long long)skew_ms);
    log_marker(nd, what);
    logfd = open(nd->hn_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        int rc = -errno;
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        free(envp);
        return rc;
    }
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        execve(cl->cl_bin, argv, envp);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    free(envp);
    if (pid < 0)
        return -errno;
    nd->hn_pid = pid;
    nd->hn_state = HN_UP;
    nd->hn_expect_exit = 0;
    nd->hn_crash_armed = failpoints != NULL && strstr(failpoints, "crash") != NULL;
    snprintf(nd->hn_failpoints, sizeof(nd->hn_failpoints), "%s", failpoints ? failpoints : "");
    nd->hn_skew_ms = skew_ms;
    nd->hn_started_ms = hu_now_ms();
    nd->hn_starts++;
    event(cl, "start", i, nd->hn_unclean ? 1 : (nd->hn_damaged ? 2 : 0),
          "pid=%d failpoints=%s skew_ms=%lld", (int)pid,
          nd->hn_failpoints[0] ? nd->hn_failpoints : "-", (long long)skew_ms);
    nd->hn_damaged = 0;
    return 0;
}

/* Records how a process we did not stop ourselves exited. */
static void record_exit(cluster_t *cl, int i, int status)
{
    hnode_t *nd = &cl->cl_nodes[i];
    char how[64];

    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
    nd->hn_pid = 0;
    nd->hn_state = HN_DOWN;
    nd->hn_unclean = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (nd->hn_crash_armed) {
        event(cl, "crash", i, 0, "%s failpoints=%s", how, nd->hn_failpoints);
        log_marker(nd, "crashed at an armed failpoint");
    } else {
        event(cl, "died", i, 0, "%s", how);
        log_marker(nd, "EXITED UNEXPECTEDLY");
    }
}

int cluster_poll(cluster_t *cl)
{
    int exited = 0;

    for (int i = 1; i <= cl->cl_n; i++) {
        hnode_t *nd = &cl->cl_nodes[i];
        int status;
        pid_t r;

        if (nd->hn_pid == 0)
            continue;
        r = waitpid(nd->hn_pid, &status, WNOHANG);
        if (r == nd->hn_pid) {
            record_exit(cl, i, status);
            exited++;
        }
    }
    return exited;
}

int cluster_wait_exit(cluster_t *cl, int i, int64_t timeout_ms)
{
    int64_t deadline = hu_now_ms() + timeout_ms;

    while (cl->cl_nodes[i].hn_pid != 0) {
        cluster_poll(cl);
        if (cl->cl_nodes[i].hn_pid == 0)
            break;
        if (hu_now_ms() >= deadline)
            return -ETIMEDOUT;
        hu_sleep_ms(20);
    }
    return 0;
}

int cluster_wait_ready(cluster_t *cl, int i, int64_t timeout_ms)
{
    hnode_t *nd = &cl->cl_nodes[i];
    int64_t deadline = hu_now_ms() + timeout_ms;

    for (;;) {
        char *body = NULL;
        int status = 0;

        cluster_poll(cl);
        if (nd->hn_pid == 0)
            return -ECHILD;
        if (nd->hn_state == HN_UP &&
            hclient_fetch(cl->cl_http, nd->hn_url, "/v1/health", 4096, &body, NULL, &status) == 0 &&
            status == 200) {
            free(body);
            event(cl, "ready", i, 0, "after_ms=%lld", (long long)(hu_now_ms() - nd->hn_started_ms));
            return 0;
        }
        free(body);
        if (hu_now_ms() >= deadline)
            return -ETIMEDOUT;
        hu_sleep_ms(25);
    }
}

int cluster_start_ready(cluster_t *cl, int i, const char *failpoints, int64_t skew_ms,
                        int64_t timeout_ms)
{
    int rc = cluster_start(cl, i, failpoints, skew_ms);

    if (rc < 0)
        return rc;
    return cluster_wait_ready(cl, i, timeout_ms);
}

int cluster_kill(cluster_t *cl, int i)
{
    hnode_t *nd = &cl->cl_nodes[i];
    int status;

    cluster_poll(cl);
    if (nd->hn_pid == 0)
        return -ESRCH;
    nd->hn_expect_exit = 1;
    kill(nd->hn_pid, SIGKILL);
    while (waitpid(nd->hn_pid, &status, 0) < 0 && errno == EINTR) {
    }
    nd->hn_pid = 0;
    nd->hn_state = HN_DOWN;
    nd->hn_unclean = 1;
    event(cl, "kill", i, 0, "SIGKILL");
    log_marker(nd, "killed by the harness (SIGKILL)");
    return 0;
}

int cluster_term(cluster_t *cl, int i, int64_t timeout_ms)
{
    hnode_t *nd = &cl->cl_nodes[i];
    int64_t deadline = hu_now_ms() + timeout_ms;
    int status;

    cluster_poll(cl);
    if (nd->hn_pid == 0)
        return -ESRCH;
    nd->hn_expect_exit = 1;
    if (nd->hn_state == HN_PAUSED)
        cluster_resume(cl, i);
    log_marker(nd, "SIGTERM from the harness");
    kill(nd->hn_pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(nd->hn_pid, &status, WNOHANG);
        if (r == nd->hn_pid)
            break;
        if (hu_now_ms() >= deadline) {
            kill(nd->hn_pid, SIGKILL);
            while (waitpid(nd->hn_pid, &status, 0) < 0 && errno == EINTR) {
            }
            nd->hn_pid = 0;
            nd->hn_state = HN_DOWN;
            nd->hn_unclean = 1;
            event(cl, "died", i, 0, "no clean exit within %lld ms of SIGTERM",
                  (long long)timeout_ms);
            return -ETIMEDOUT;
        }
        hu_sleep_ms(20);
    }
    nd->hn_pid = 0;
    nd->hn_state = HN_DOWN;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        nd->hn_unclean = 0;
        event(cl, "term", i, 0, "clean exit");
        return 0;
    }
    nd->hn_unclean = 1;
    event(cl, "died", i, 0, "after SIGTERM: %s %d", WIFSIGNALED(status) ? "signal" : "exit status",
          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return -EIO;
}

int cluster_pause(cluster_t *cl, int i)
{
    hnode_t *nd = &cl->cl_nodes[i];

    cluster_poll(cl);
    if (nd->hn_pid == 0 || nd->hn_state != HN_UP)
        return -ESRCH;
    kill(nd->hn_pid, SIGSTOP);
    nd->hn_state = HN_PAUSED;
    event(cl, "stop", i, 0, "SIGSTOP");
    return 0;
}

int cluster_resume(cluster_t *cl, int i)
{
    hnode_t *nd = &cl->cl_nodes[i];

    if (nd->hn_pid == 0 || nd->hn_state != HN_PAUSED)
        return -ESRCH;
    kill(nd->hn_pid, SIGCONT);
    nd->hn_state = HN_UP;
    event(cl, "cont", i, 0, "SIGCONT");
    return 0;
}

void cluster_shutdown(cluster_t *cl)
{
    for (int i = 1; i <= cl->cl_n; i++) {
        if (cl->cl_nodes[i].hn_pid != 0)
            cluster_term(cl, i, 15000);
    }
    proxy_free(cl->cl_proxy);
    cl->cl_proxy = NULL;
    hclient_free(cl->cl_http);
    cl->cl_http = NULL;
}
