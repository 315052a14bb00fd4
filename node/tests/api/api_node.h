/*
 * api_node.h -- start, stop and inspect a real cairnd process for the API tests.
 *
 * Every node gets a fresh temporary base directory (/tmp/cairn-api-XXXXXX)
 * holding its data directory (base/data), its log (base/cairnd.log: stdout
 * and stderr of every run, appended) and optional token file. The binary is
 * $CAIRN_BIN_DIR/cairnd. A node started from a test is also recorded in a
 * process-wide registry so that it is SIGKILLed and its directory removed
 * when the test process exits early (failed assertion); the child also has
 * PR_SET_PDEATHSIG so a killed test never leaves a cairnd behind.
 * Set CAIRN_API_KEEP=1 to keep the directories for inspection and
 * CAIRN_API_LOG_LEVEL=debug for more detailed cairnd logs.
 */
#ifndef CAIRN_API_NODE_H
#define CAIRN_API_NODE_H

#include <stddef.h>
#include <sys/types.h>

#define API_NODE_MAX_ARGS 32
#define API_PATH_MAX 512

typedef struct api_node {
    pid_t an_pid;                     /* running process, or 0 */
    int an_port;                      /* HTTP API port on 127.0.0.1 */
    int an_peer_port;                 /* --peer-listen port */
    char an_base[64];                 /* temporary base directory */
    char an_data[API_PATH_MAX];       /* base/data */
    char an_log[API_PATH_MAX];        /* base/cairnd.log */
    char an_token[256];               /* sent as Bearer token when non-empty */
    const char *an_log_level;         /* default "warn" */
    char *an_args[API_NODE_MAX_ARGS]; /* extra flags (copies) */
    int an_nargs;
    char an_failpoints[512]; /* CAIRN_FAILPOINTS for the next starts ("" = unset) */
    int an_reg;              /* registry slot */
    int an_fixed_ports;      /* ports chosen by the test: never re-picked */
} api_node_t;

/* Prepares n with a fresh base directory; no process yet. */
void api_node_init(api_node_t *n);

/* Turns inlining off (--inline-max 0) so every blob has a .blob file: for
 * tests that count or damage blob files. */
void api_node_files_only(api_node_t *n);

/* Adds one extra command-line argument (copied) for every later start. */
void api_node_arg(api_node_t *n, const char *arg);

/* Sets CAIRN_FAILPOINTS for later starts (NULL or "" clears it). */
void api_node_failpoints(api_node_t *n, const char *spec);

/* Writes base/token containing `token` (plus a newline when with_newline),
 * adds --api-token-file and makes requests send the token. */
void api_node_set_token(api_node_t *n, const char *token, int with_newline);

/*
 * Starts cairnd and waits (bounded, 10 s) until GET /v1/health answers 200.
 * Picks free ports on first start and keeps them on restarts (new ones
 * are picked if the process dies early, up to a few attempts). Fails the
 * test, printing the log tail, when the node does not come up.
 */
void api_node_start(api_node_t *n);

/*
 * Low-level: forks and execs cairnd with n's flags plus extra (NULL-
 * terminated, may be NULL) but with the given data dir and ports, output
 * appended to log_path. Returns the pid; the process is registered for
 * cleanup. Does not wait for anything.
 */
pid_t api_node_spawn_raw(const api_node_t *n, const char *data_dir, int port, int peer_port,
                         const char *log_path);

/* Two distinct free ports on 127.0.0.1 (bound together, then released;
 * another process may take them before cairnd binds). */
void api_pick_ports(int *a, int *b);

/* Waits up to timeout_ms for pid to exit; 0 and the wait status in *status,
 * or -ETIMEDOUT (process left running). */
int api_wait_exit(pid_t pid, int timeout_ms, int *status);

/*
 * Sends sig to the node and waits up to timeout_ms for it to exit; if it
 * does not, SIGKILLs it and returns -ETIMEDOUT. On exit stores the wait
 * status in *status (may be NULL) and returns 0. n->an_pid becomes 0.
 */
int api_node_stop(api_node_t *n, int sig, int timeout_ms, int *status);

/* SIGKILL and reap. */
void api_node_kill(api_node_t *n);

/*
 * SIGTERM, asserts a clean exit (status 0 within 20 s), removes the base
 * directory (unless CAIRN_API_KEEP) and clears n. The normal end of a test.
 */
void api_node_finish(api_node_t *n);

/* Reads VmRSS and VmHWM (kB) of pid from /proc; 0 or -errno. */
int api_proc_mem(pid_t pid, long *rss_kb, long *hwm_kb);

/* 1 when the process maps a sanitizer runtime (memory figures meaningless). */
int api_proc_sanitized(pid_t pid);

/* Malloc'd NUL-terminated copy of the node's log (caller frees). */
char *api_node_log(const api_node_t *n);

/* Prints the last `bytes` bytes of the node's log to stderr. */
void api_node_dump_log(const api_node_t *n, size_t bytes);

/* Waits up to timeout_ms until DATA/blobs holds exactly `want` .blob files
 * (aborted uploads are cleaned up asynchronously); fails the test if not. */
void api_expect_blob_files(const api_node_t *n, size_t want, int timeout_ms);

/*
 * Runs a suite the way every API test program does: creates a root
 * directory for all nodes of this program (CAIRN_API_ROOT, inherited by
 * the forked tests), runs the suite in fork mode, prints the tail of every
 * cairnd log when something failed (a failed Check assertion ends the test
 * process with _exit, so the tests cannot clean up or report themselves),
 * removes the root unless CAIRN_API_KEEP is set, and returns the exit code
 * for main().
 */
struct Suite;
int api_run_suite(struct Suite *s);

/* Raises RLIMIT_NOFILE's soft limit to at least want (or the hard limit). */
void api_raise_nofile(long want);

/* ------------------------------------------------------------------
 * Multi-node clusters on loopback (replication between real cairnd).
 */

#define API_CLUSTER_MAX 4

/* `count` distinct free ports on 127.0.0.1, all bound at once then released. */
void api_pick_ports_n(int *ports, int count);

/* Writes base/secret (mode 0600) holding `secret` and adds --secret-file. */
void api_node_set_secret(api_node_t *n, const char *secret);

typedef struct api_cluster {
    api_node_t acl_nodes[API_CLUSTER_MAX]; /* acl_nodes[i] has node id i + 1 */
    int acl_n;
} api_cluster_t;

/*
 * Prepares `count` nodes (ids 1..count) whose HTTP and peer ports are all
 * picked up front, with one shared secret, --peer flags naming every other
 * node and --durability majority. Extra flags can still be added per node
 * with api_node_arg() before the start. No process yet.
 */
void api_cluster_init(api_cluster_t *cl, int count);

/* Starts every node (each one until /v1/health answers). */
void api_cluster_start(api_cluster_t *cl);

/*
 * Waits up to timeout_ms until every running node's GET /v1/cluster shows
 * "link":"up" for every other running node; fails the test (with the last
 * body) otherwise.
 */
void api_cluster_wait_links(api_cluster_t *cl, int timeout_ms);

/* api_node_finish() for every node (clean SIGTERM exit asserted). */
void api_cluster_finish(api_cluster_t *cl);

#endif
