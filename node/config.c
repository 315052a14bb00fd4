/*
 * config.c -- cairnd's flags and config file (see config.h).
 */
#include "node/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "storage/store.h"
#include "common/error.h"
#include "storage/fileio.h"

#define DEFAULT_LISTEN_HOST "127.0.0.1"
#define DEFAULT_LISTEN_PORT 8080
#define DEFAULT_MAX_BLOB_SIZE (5ULL << 30)

static const char usage_text[] =
    "usage: cairnd [--config FILE] [options]\n"
    "\n"
    "Every option is also accepted as a `name = value` line in --config FILE;\n"
    "options given on the command line override the file.\n"
    "\n"
    "  --node-id N               1..65535, unique in the cluster (default 1)\n"
    "  --data DIR                data directory, created if missing (required)\n"
    "  --listen HOST:PORT        HTTP API (default 127.0.0.1:8080)\n"
    "  --peer-listen HOST:PORT   replication listener\n"
    "  --peer ID@HOST:PORT       another node of the cluster (repeatable)\n"
    "  --secret-file FILE        shared cluster secret (required with --peer)\n"
    "  --durability LEVEL        default durability: local | majority | all (default majority)\n"
    "  --max-blob-size BYTES     largest accepted blob, suffixes K M G T (default 5G)\n"
    "  --inline-max BYTES        blobs up to BYTES are kept inside LMDB, no file of their own;\n"
    "                            0 turns inlining off (default 64K, at most 1M)\n"
    "  --api-token-file FILE     /v1/ routes require Authorization: Bearer TOKEN\n"
    "  --log-level LEVEL         error | warn | info | debug (default info)\n"
    "  --max-connections N       open HTTP connections at most (default 1024)\n"
    "  --header-timeout SEC      request line + headers must arrive within SEC (default 10)\n"
    "  --idle-timeout SEC        close a connection idle or stalled for SEC (default 60)\n"
    "  --read-timeout SEC        a read waiting for a whole copy gives up after SEC (default 30)\n"
    "  --durability-timeout SEC  a PUT/DELETE waits at most SEC for its durability level,\n"
    "                            then answers 503 durability_timeout (default 10)\n"
    "  --io-threads N            disk worker threads (default 32; with peers 36 + 4 per peer,\n"
    "                            at most 64)\n"
    "  --shutdown-timeout SEC    on SIGTERM/SIGINT, in-flight requests get SEC (default 10)\n"
    "  --config FILE             read settings from FILE first\n"
    "  --help                    this text\n"
    "  --version                 print the version\n";

const char *config_usage(void)
{
    return usage_text;
}

/* Writes "fmt..." into err (errlen bytes, always terminated). */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int durability_parse(const char *s, size_t len, durability_t *out)
{
    if (len == 5 && memcmp(s, "local", 5) == 0)
        *out = DUR_LOCAL;
    else if (len == 8 && memcmp(s, "majority", 8) == 0)
        *out = DUR_MAJORITY;
    else if (len == 3 && memcmp(s, "all", 3) == 0)
        *out = DUR_ALL;
    else
        return CAIRN_EINVAL;
    return 0;
}

const char *durability_name(durability_t d)
{
    switch (d) {
    case DUR_LOCAL:
        return "local";
    case DUR_MAJORITY:
        return "majority";
    case DUR_ALL:
        return "all";
    }
    return "?";
}

void config_defaults(node_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->nc_node_id = 1;
    snprintf(cfg->nc_listen_host, sizeof(cfg->nc_listen_host), "%s", DEFAULT_LISTEN_HOST);
    cfg->nc_listen_port = DEFAULT_LISTEN_PORT;
    cfg->nc_durability = DUR_MAJORITY;
    cfg->nc_max_blob_size = DEFAULT_MAX_BLOB_SIZE;
    cfg->nc_log_level = LOG_INFO;
    cfg->nc_max_connections = 1024;
    cfg->nc_header_timeout_s = 10;
    cfg->nc_idle_timeout_s = 60;
    cfg->nc_read_timeout_s = 30;
    cfg->nc_io_threads = 0; /* auto, resolved by config_check() */
    cfg->nc_inline_max = STORE_INLINE_DEFAULT;
    cfg->nc_shutdown_timeout_s = 10;
    cfg->nc_durability_timeout_s = 10;
}

unsigned config_io_threads_auto(unsigned npeers)
{
    /* A PUT holds a worker while it waits for its group commit, so the
     * pool bounds how many writes can share one commit (32 connections
     * writing 4 KiB: 8 threads gave ~4 writes per LMDB transaction, 32
     * gave ~12, and about 1.5x the throughput). */
    unsigned n = 32;

    if (npeers > 0)
        n += 4 * npeers + 4;
    return n > 64 ? 64 : n;
}

void config_free(node_config_t *cfg)
{
    free(cfg->nc_data);
    cfg->nc_data = NULL;
    free(cfg->nc_secret_file);
    cfg->nc_secret_file = NULL;
    free(cfg->nc_api_token_file);
    cfg->nc_api_token_file = NULL;
    free(cfg->nc_config_file);
    cfg->nc_config_file = NULL;
    if (cfg->nc_secret != NULL)
        memset(cfg->nc_secret, 0, cfg->nc_secret_len);
    free(cfg->nc_secret);
    cfg->nc_secret = NULL;
    if (cfg->nc_token != NULL)
        memset(cfg->nc_token, 0, cfg->nc_token_len);
    free(cfg->nc_token);
    cfg->nc_token = NULL;
}

/* Replaces *slot with a copy of value. Returns 0 or CAIRN_ENOMEM. */
static int set_str(char **slot, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return CAIRN_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

/* Parses an unsigned setting within [min, max] into *out. */
static int set_uint(const char *name, const char *value, long long min, long long max,
                    unsigned *out, char *err, size_t errlen)
{
    long long v;

    if (conf_parse_int(value, min, max, &v) < 0) {
        seterr(err, errlen, "%s: expected an integer in %lld..%lld, got '%s'", name, min, max,
               value);
        return CAIRN_EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

/* Parses "ID@HOST:PORT" into *peer. */
static int parse_peer(const char *value, node_peer_t *peer, char *err, size_t errlen)
{
    const char *at = strchr(value, '@');
    char idbuf[16];
    size_t idlen;
    long long id;

    if (at == NULL)
        goto bad;
    idlen = (size_t)(at - value);
    if (idlen == 0 || idlen >= sizeof(idbuf))
        goto bad;
    memcpy(idbuf, value, idlen);
    idbuf[idlen] = '\0';
    if (conf_parse_int(idbuf, 1, 65535, &id) < 0)
        goto bad;
    if (conf_parse_hostport(at + 1, peer->np_host, sizeof(peer->np_host), &peer->np_port) < 0)
        goto bad;
    peer->np_id = (uint16_t)id;
    return 0;
bad:
    seterr(err, errlen, "peer: expected ID@HOST:PORT with ID in 1..65535, got '%s'", value);
    return CAIRN_EINVAL;
}

int config_set(node_config_t *cfg, const char *name, const char *value, int from_flag, char *err,
               size_t errlen)
{
    long long v;
    uint64_t size;
    int rc = 0;

    if (strcmp(name, "node-id") == 0) {
        if (conf_parse_int(value, 1, 65535, &v) < 0) {
            seterr(err, errlen, "node-id: expected an integer in 1..65535, got '%s'", value);
            return CAIRN_EINVAL;
        }
        cfg->nc_node_id = (uint16_t)v;
    } else if (strcmp(name, "data") == 0) {
        if (value[0] == '\0') {
            seterr(err, errlen, "data: empty directory name");
            return CAIRN_EINVAL;
        }
        rc = set_str(&cfg->nc_data, value);
    } else if (strcmp(name, "listen") == 0) {
        if (conf_parse_hostport(value, cfg->nc_listen_host, sizeof(cfg->nc_listen_host),
                                &cfg->nc_listen_port) < 0 ||
            cfg->nc_listen_port < 0 || cfg->nc_listen_port > 65535) {
            seterr(err, errlen, "listen: expected HOST:PORT, got '%s'", value);
            return CAIRN_EINVAL;
        }
    } else if (strcmp(name, "peer-listen") == 0) {
        if (conf_parse_hostport(value, cfg->nc_peer_listen_host, sizeof(cfg->nc_peer_listen_host),
                                &cfg->nc_peer_listen_port) < 0 ||
            cfg->nc_peer_listen_port < 0 || cfg->nc_peer_listen_port > 65535) {
            seterr(err, errlen, "peer-listen: expected HOST:PORT, got '%s'", value);
            return CAIRN_EINVAL;
        }
        cfg->nc_has_peer_listen = 1;
    } else if (strcmp(name, "peer") == 0) {
        node_peer_t peer;

        rc = parse_peer(value, &peer, err, errlen);
        if (rc < 0)
            return rc;
        if (from_flag && !cfg->nc_peers_from_flags) {
            cfg->nc_npeers = 0; /* flags replace the file's list */
            cfg->nc_peers_from_flags = 1;
        }
        if (cfg->nc_npeers >= CONFIG_MAX_PEERS) {
            seterr(err, errlen, "peer: at most %d peers", CONFIG_MAX_PEERS);
            return CAIRN_EINVAL;
        }
        cfg->nc_peers[cfg->nc_npeers++] = peer;
    } else if (strcmp(name, "secret-file") == 0) {
        rc = set_str(&cfg->nc_secret_file, value);
    } else if (strcmp(name, "api-token-file") == 0) {
        rc = set_str(&cfg->nc_api_token_file, value);
    } else if (strcmp(name, "durability") == 0) {
        if (durability_parse(value, strlen(value), &cfg->nc_durability) < 0) {
            seterr(err, errlen, "durability: expected local, majority or all, got '%s'", value);
            return CAIRN_EINVAL;
        }
    } else if (strcmp(name, "max-blob-size") == 0) {
        if (conf_parse_size(value, &size) < 0 || size == 0) {
            seterr(err, errlen,
                   "max-blob-size: expected a size > 0 such as 1048576, 64K, 8M, 5G, got '%s'",
                   value);
            return CAIRN_EINVAL;
        }
        cfg->nc_max_blob_size = size;
    } else if (strcmp(name, "inline-max") == 0) {
        if (conf_parse_size(value, &size) < 0 || size > STORE_INLINE_LIMIT) {
            seterr(err, errlen,
                   "inline-max: expected a size from 0 to 1M such as 0, 16K, 64K, got '%s'", value);
            return CAIRN_EINVAL;
        }
        cfg->nc_inline_max = size;
    } else if (strcmp(name, "log-level") == 0) {
        if (log_level_parse(value, &cfg->nc_log_level) < 0) {
            seterr(err, errlen, "log-level: expected error, warn, info or debug, got '%s'", value);
            return CAIRN_EINVAL;
        }
    } else if (strcmp(name, "max-connections") == 0) {
        rc = set_uint(name, value, 1, 1000000, &cfg->nc_max_connections, err, errlen);
    } else if (strcmp(name, "header-timeout") == 0) {
        rc = set_uint(name, value, 1, 86400, &cfg->nc_header_timeout_s, err, errlen);
    } else if (strcmp(name, "idle-timeout") == 0) {
        rc = set_uint(name, value, 1, 86400, &cfg->nc_idle_timeout_s, err, errlen);
    } else if (strcmp(name, "read-timeout") == 0) {
        rc = set_uint(name, value, 1, 86400, &cfg->nc_read_timeout_s, err, errlen);
    } else if (strcmp(name, "io-threads") == 0) {
        rc = set_uint(name, value, 1, 128, &cfg->nc_io_threads, err, errlen);
    } else if (strcmp(name, "durability-timeout") == 0) {
        rc = set_uint(name, value, 1, 3600, &cfg->nc_durability_timeout_s, err, errlen);
    } else if (strcmp(name, "shutdown-timeout") == 0) {
        rc = set_uint(name, value, 1, 3600, &cfg->nc_shutdown_timeout_s, err, errlen);
    } else if (strcmp(name, "config") == 0 && !from_flag) {
        seterr(err, errlen, "config: not allowed inside a config file");
        return CAIRN_EINVAL;
    } else {
        if (from_flag)
            seterr(err, errlen, "unknown option --%s (see --help)", name);
        else
            seterr(err, errlen, "unknown setting '%s'", name);
        return CAIRN_EINVAL;
    }
    if (rc == CAIRN_ENOMEM)
        seterr(err, errlen, "%s: out of memory", name);
    return rc;
}

typedef struct file_ctx {
    node_config_t *fc_cfg;
    const char *fc_path;
    char *fc_err;
    size_t fc_errlen;
    int fc_failed; /* fc_err holds the callback's message */
} file_ctx_t;

/* conf_parse_file callback: applies one entry, prefixing errors with FILE:LINE. */
static int file_entry(void *arg, const char *name, const char *value, int lineno)
{
    file_ctx_t *fc = arg;
    char what[512];
    int rc;

    what[0] = '\0';
    rc = config_set(fc->fc_cfg, name, value, 0, what, sizeof(what));
    if (rc < 0) {
        seterr(fc->fc_err, fc->fc_errlen, "%s:%d: %s", fc->fc_path, lineno, what);
        fc->fc_failed = 1;
    }
    return rc;
}

/*
 * Splits argv[*i] into name and value ("--name=value" or "--name value",
 * advancing *i). name points into namebuf. Returns 0 or CAIRN_EINVAL.
 */
static int split_flag(int argc, char **argv, int *i, char *namebuf, size_t namecap,
                      const char **value, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq;
    size_t nlen;

    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        seterr(err, errlen, "unexpected argument '%s' (see --help)", arg);
        return CAIRN_EINVAL;
    }
    arg += 2;
    eq = strchr(arg, '=');
    nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (nlen == 0 || nlen >= namecap) {
        seterr(err, errlen, "unknown option '%s' (see --help)", argv[*i]);
        return CAIRN_EINVAL;
    }
    memcpy(namebuf, arg, nlen);
    namebuf[nlen] = '\0';
    if (eq != NULL) {
        *value = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc) {
        seterr(err, errlen, "option --%s needs a value", namebuf);
        return CAIRN_EINVAL;
    }
    *i += 1;
    *value = argv[*i];
    return 0;
}

int config_from_args(node_config_t *cfg, int argc, char **argv, config_action_t *action, char *err,
                     size_t errlen)
{
    char name[64];
    char what[512];
    const char *value;
    const char *config_path = NULL;
    int i;
    int rc;

    *action = CONFIG_RUN;
    /* Pass 1: --help / --version win; find --config. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *action = CONFIG_HELP;
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            *action = CONFIG_VERSION;
            return 0;
        }
    }
    for (i = 1; i < argc; i++) {
        rc = split_flag(argc, argv, &i, name, sizeof(name), &value, err, errlen);
        if (rc < 0)
            return rc;
        if (strcmp(name, "config") == 0)
            config_path = value;
    }
    if (config_path != NULL) {
        file_ctx_t fc = {cfg, config_path, err, errlen, 0};
        char perr[512];

        rc = set_str(&cfg->nc_config_file, config_path);
        if (rc < 0) {
            seterr(err, errlen, "out of memory");
            return rc;
        }
        perr[0] = '\0';
        rc = conf_parse_file(config_path, file_entry, &fc, perr, sizeof(perr));
        if (rc < 0) {
            /* conf_parse_file words callback failures generically; keep ours. */
            if (!fc.fc_failed)
                seterr(err, errlen, "config file %s", perr[0] != '\0' ? perr : cairn_strerror(rc));
            return rc;
        }
    }
    /* Pass 2: flags override. */
    for (i = 1; i < argc; i++) {
        rc = split_flag(argc, argv, &i, name, sizeof(name), &value, err, errlen);
        if (rc < 0)
            return rc;
        if (strcmp(name, "config") == 0)
            continue;
        rc = config_set(cfg, name, value, 1, what, sizeof(what));
        if (rc < 0) {
            if (strncmp(what, "unknown option", 14) == 0)
                seterr(err, errlen, "%s", what);
            else
                seterr(err, errlen, "--%s", what);
            return rc;
        }
    }
    return 0;
}

/* Makes sure dir exists (creating it) and is a writable directory. */
static int check_data_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int rc;

    if (stat(dir, &st) < 0) {
        if (errno != ENOENT) {
            rc = -errno;
            seterr(err, errlen, "data directory %s: %s", dir, strerror(-rc));
            return rc;
        }
        rc = fio_mkdirs(dir);
        if (rc < 0) {
            seterr(err, errlen, "cannot create data directory %s: %s", dir, strerror(-rc));
            return rc;
        }
        if (stat(dir, &st) < 0) {
            rc = -errno;
            seterr(err, errlen, "data directory %s: %s", dir, strerror(-rc));
            return rc;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "data directory %s: not a directory", dir);
        return -ENOTDIR;
    }
    if (access(dir, W_OK | X_OK) < 0) {
        rc = -errno;
        seterr(err, errlen, "data directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    return 0;
}

/* Reads a secret/token file into *out, with one clear line on failure. */
static int read_secret(const char *what, const char *path, char **out, size_t *len, char *err,
                       size_t errlen)
{
    int rc = conf_read_secret(path, out, len);

    if (rc == CAIRN_EINVAL)
        seterr(err, errlen, "%s %s: empty or too large (max 4 KiB)", what, path);
    else if (rc < 0)
        seterr(err, errlen, "%s %s: %s", what, path, cairn_strerror(rc));
    return rc;
}

int config_check(node_config_t *cfg, char *err, size_t errlen)
{
    unsigned i, j;
    int rc;

    if (cfg->nc_data == NULL) {
        seterr(err, errlen, "--data DIR is required");
        return CAIRN_EINVAL;
    }
    for (i = 0; i < cfg->nc_npeers; i++) {
        if (cfg->nc_peers[i].np_id == cfg->nc_node_id) {
            seterr(err, errlen, "peer %u has this node's own id (--node-id %u)",
                   cfg->nc_peers[i].np_id, cfg->nc_node_id);
            return CAIRN_EINVAL;
        }
        for (j = 0; j < i; j++) {
            if (cfg->nc_peers[j].np_id == cfg->nc_peers[i].np_id) {
                seterr(err, errlen, "peer id %u given twice", cfg->nc_peers[i].np_id);
                return CAIRN_EINVAL;
            }
        }
    }
    if (cfg->nc_npeers > 0 && cfg->nc_secret_file == NULL) {
        seterr(err, errlen, "--peer needs --secret-file (the shared cluster secret)");
        return CAIRN_EINVAL;
    }
    if (cfg->nc_npeers > 0 && !cfg->nc_has_peer_listen) {
        seterr(err, errlen, "--peer needs --peer-listen HOST:PORT");
        return CAIRN_EINVAL;
    }
    rc = check_data_dir(cfg->nc_data, err, errlen);
    if (rc < 0)
        return rc;
    if (cfg->nc_io_threads == 0)
        cfg->nc_io_threads = config_io_threads_auto(cfg->nc_npeers);
    if (cfg->nc_secret_file != NULL) {
        rc = read_secret("secret file", cfg->nc_secret_file, &cfg->nc_secret, &cfg->nc_secret_len,
                         err, errlen);
        if (rc < 0)
            return rc;
    }
    if (cfg->nc_api_token_file != NULL) {
        rc = read_secret("api token file", cfg->nc_api_token_file, &cfg->nc_token,
                         &cfg->nc_token_len, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}
