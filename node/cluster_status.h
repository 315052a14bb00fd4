/*
 * cluster_status.h -- the JSON body of GET /v1/cluster (node-internal).
 *
 * Loop thread only: the peer status comes from the replication module,
 * which is not thread-safe; the store numbers were taken on a worker
 * thread before (store_get_stats) and are passed in.
 */
#ifndef CAIRN_NODE_CLUSTER_STATUS_H
#define CAIRN_NODE_CLUSTER_STATUS_H

#include <stdint.h>

#include "common/buf.h"
#include "node/config.h"
#include "replication/repl.h"
#include "storage/store.h"

/*
 * Appends the cluster view to out: this node, replication "active" (r not
 * NULL) or "none", one entry per configured peer with its link, lag both
 * ways, transfers in flight and acknowledged seq, then repairs and writers
 * (docs/http-api.md lists every field). now_unix_ms turns the module's
 * wall-clock contact times into ages. Borrows everything for the call.
 * Returns 0 or CAIRN_ETOOBIG / CAIRN_ENOMEM (out then holds a partial
 * body the caller discards).
 */
int cluster_status_json(const node_config_t *cfg, const repl_t *r, const store_stats_t *st,
                        uint64_t now_unix_ms, buf_t *out);

/* Wall-clock time in ms (CLOCK_REALTIME), the base of the peer status times. */
uint64_t cluster_now_unix_ms(void);

#endif
