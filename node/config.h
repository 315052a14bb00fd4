/*
 * config.h -- cairnd's configuration: flags, `--config FILE`, validation.
 *
 * Every setting is accepted both as a flag (`--name VALUE` or
 * `--name=VALUE`) and as a `name = value` line in the config file; flags
 * override the file (a `--peer` flag replaces the file's whole peer list).
 * Parsing never exits or prints: errors come back as one line in err.
 */
#ifndef CAIRN_NODE_CONFIG_H
#define CAIRN_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define CONFIG_MAX_PEERS 64
#define CONFIG_HOST_MAX 256

typedef enum { DUR_LOCAL = 0, DUR_MAJORITY = 1, DUR_ALL = 2 } durability_t;

typedef struct node_peer {
    uint16_t np_id;
    char np_host[CONFIG_HOST_MAX];
    int np_port;
} node_peer_t;

typedef struct node_config {
    uint16_t nc_node_id;
    char *nc_data; /* owned */
    char nc_listen_host[CONFIG_HOST_MAX];
    int nc_listen_port;
    int nc_has_peer_listen;
    char nc_peer_listen_host[CONFIG_HOST_MAX];
    int nc_peer_listen_port;
    node_peer_t nc_peers[CONFIG_MAX_PEERS];
    unsigned nc_npeers;
    char *nc_secret_file;    /* owned, NULL when not given */
    char *nc_api_token_file; /* owned, NULL when not given */
    char *nc_config_file;    /* owned, NULL when not given */
    durability_t nc_durability;
    uint64_t nc_max_blob_size;
    uint64_t nc_inline_max; /* 0: inlining off */
    log_level_t nc_log_level;
    unsigned nc_max_connections;
    unsigned nc_header_timeout_s;
    unsigned nc_idle_timeout_s;
    unsigned nc_read_timeout_s;
    unsigned nc_io_threads; /* 0 until config_check(): auto (see config_io_threads_auto) */
    unsigned nc_shutdown_timeout_s;
    unsigned nc_durability_timeout_s; /* PUT/DELETE wait at most this for their acks */
    /* filled by config_check(): */
    char *nc_secret; /* owned */
    size_t nc_secret_len;
    char *nc_token; /* owned */
    size_t nc_token_len;
    /* parsing state */
    int nc_peers_from_flags;
} node_config_t;

typedef enum { CONFIG_RUN = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2 } config_action_t;

/* Fills cfg with the defaults. cfg owns nothing yet; config_free() is safe after. */
void config_defaults(node_config_t *cfg);

/* Frees what cfg owns; safe to call twice. */
void config_free(node_config_t *cfg);

/*
 * Applies one setting (name without the leading "--"). Returns 0, or
 * CAIRN_EINVAL with "name: what is wrong" in err. On failure cfg keeps its
 * previous value for that setting.
 */
int config_set(node_config_t *cfg, const char *name, const char *value, int from_flag, char *err,
               size_t errlen);

/*
 * Parses argv: finds --config (applied first), then applies every flag in
 * order. *action tells whether --help or --version was asked for (nothing
 * else is parsed then). Returns 0 or CAIRN_EINVAL / -errno with one line in err.
 */
int config_from_args(node_config_t *cfg, int argc, char **argv, config_action_t *action, char *err,
                     size_t errlen);

/*
 * Checks what parsing cannot: required settings, peer ids, and the paths:
 * the data directory is created when missing and must be a writable
 * directory; the secret and token files are read (non-empty) into
 * nc_secret / nc_token; an --io-threads left unset gets its automatic
 * value. Returns 0 or a negative code with one line in err.
 */
int config_check(node_config_t *cfg, char *err, size_t errlen);

/*
 * The --io-threads default: 8 for a node without peers; with peers, 8 for
 * HTTP plus room for replication's store jobs (up to 4 per link and 4
 * read-through fetches), at most 64.
 */
unsigned config_io_threads_auto(unsigned npeers);

/* The --help text. */
const char *config_usage(void);

/* "local" | "majority" | "all" (exactly len bytes). 0 or CAIRN_EINVAL. */
int durability_parse(const char *s, size_t len, durability_t *out);
const char *durability_name(durability_t d);

#endif
