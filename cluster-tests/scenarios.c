/*
 * scenarios.c -- the fault schedules (see run.h; docs/harness.md lists them).
 *
 * Each function injects faults until the deadline; the engine heals,
 * converges and checks afterwards. All random choices come from r->r_rng,
 * so a seed replays the same schedule.
 */
#include <stdio.h>
#include <string.h>

#include "cluster-tests/run.h"

/* A storage or replication failpoint crashed at a random hit, cycling. */
static int cycle_failpoints(run_t *r)
{
    const char *fps[16];
    int n = r_failpoints(r, fps, 16);
    int k = 0;

    if (n == 0) {
        r_sleep(r, INT64_MAX / 4);
        return 0;
    }
    /* Start at a seed-chosen point of the cycle, then visit every failpoint in turn. */
    k = (int)hu_rng_below(&r->r_rng, (uint64_t)n);
    while (r_running(r)) {
        const char *fp = fps[k++ % n];
        int chunky = strstr(fp, "chunk") != NULL;
        int hit = (int)hu_rng_range(&r->r_rng, 1, chunky ? 24 : 4);
        int node = r_pick_node(r);
        char spec[128];

        snprintf(spec, sizeof(spec), "%s=crash@%d", fp, hit);
        workload_set_focus(r->r_wl, node);
        if (r_crash_at(r, node, spec, 8000) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 300, 1500));
    }
    return 0;
}

static int sc_crash_writes(run_t *r)
{
    return cycle_failpoints(r);
}

static int sc_sigkill_random(run_t *r)
{
    while (r_running(r)) {
        int node = r_pick_node(r);
        workload_set_focus(r->r_wl, node);
        if (!r_sleep(r, hu_rng_range(&r->r_rng, 300, 3000)))
            break;
        r_kill(r, node);
        r_sleep(r, hu_rng_range(&r->r_rng, 0, 800));
        if (r_start(r, node, NULL, 0) < 0)
            return -1;
    }
    return 0;
}

static int sc_pause_resume(run_t *r)
{
    while (r_running(r)) {
        int node = r_pick_node(r);
        workload_set_focus(r->r_wl, node);
        r_sleep(r, hu_rng_range(&r->r_rng, 300, 1500));
        if (cluster_pause(&r->r_cl, node) == 0) {
            r_sleep(r, hu_rng_range(&r->r_rng, 500, 4000));
            cluster_resume(&r->r_cl, node);
        }
    }
    return 0;
}

static int sc_restart_all(run_t *r)
{
    int round = 0;

    while (r_sleep(r, hu_rng_range(&r->r_rng, 1000, 3500))) {
        int hard = round++ % 2 == 0 || hu_rng_pct(&r->r_rng, 30);
        for (int i = 1; i <= r->r_cl.cl_n; i++) {
            if (hard)
                r_kill(r, i);
            else
                r_term(r, i);
        }
        for (int i = 1; i <= r->r_cl.cl_n; i++) {
            if (r_start(r, i, NULL, 0) < 0)
                return -1;
        }
    }
    return 0;
}

/* Disk full or failing on one node for a while: the failpoint is armed in
 * a restarted process (error/enospc at every hit, or at the Nth). */
static int disk_faults(run_t *r, const char *action)
{
    static const char *where[] = {"store.write.chunk", "store.write.synced", "store.commit.batch"};

    while (r_running(r)) {
        int node = r_pick_node(r);
        const char *fp = where[hu_rng_below(&r->r_rng, 3)];
        char spec[128];

        if (hu_rng_pct(&r->r_rng, 50))
            snprintf(spec, sizeof(spec), "%s=%s", fp, action);
        else
            snprintf(spec, sizeof(spec), "%s=%s@%d", fp, action,
                     (int)hu_rng_range(&r->r_rng, 1, 20));
        workload_set_focus(r->r_wl, node);
        r_term(r, node);
        history_event(&r->r_h, "disk_fault", node, 0, 1, "%s", spec);
        /* The node may legitimately stop itself on an I/O error (fsync is never retried). */
        if (r_start(r, node, spec, 0) < 0)
            return -1;
        r->r_cl.cl_nodes[node].hn_crash_armed = 1;
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 5000));
        r_term(r, node);
        history_event(&r->r_h, "disk_fault", node, 0, 0, "cleared");
        if (r_start(r, node, NULL, 0) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 500, 2000));
    }
    return 0;
}

static int sc_disk_full(run_t *r)
{
    return disk_faults(r, "enospc");
}

static int sc_disk_eio(run_t *r)
{
    return disk_faults(r, "error");
}

static int sc_crash_gc(run_t *r)
{
    while (r_running(r)) {
        int node = r_pick_node(r);
        char spec[64];
        snprintf(spec, sizeof(spec), "store.gc.unlink=crash@%d",
                 (int)hu_rng_range(&r->r_rng, 1, 12));
        workload_set_focus(r->r_wl, node);
        if (r_crash_at(r, node, spec, 8000) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 300, 1200));
    }
    return 0;
}

static int damage(run_t *r, int truncate)
{
    r_sleep(r, 1500); /* let some data accumulate */
    while (r_running(r)) {
        int node = r_pick_node(r);
        workload_set_focus(r->r_wl, node);
        if (r_damage(r, node, truncate) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 1500, 4000));
    }
    return 0;
}

static int sc_truncated_blob(run_t *r)
{
    return damage(r, 1);
}

static int sc_missing_blob(run_t *r)
{
    return damage(r, 0);
}

static int sc_clock_skew(run_t *r)
{
    while (r_running(r)) {
        int node = r_pick_node(r);
        int64_t skew = hu_rng_range(&r->r_rng, 2000, 8000) * (hu_rng_pct(&r->r_rng, 50) ? 1 : -1);
        workload_set_focus(r->r_wl, node);
        r_term(r, node);
        history_event(&r->r_h, "clock_skew", node, 0, 1, "skew_ms=%lld", (long long)skew);
        if (r_start(r, node, NULL, skew) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 3000, 6000));
    }
    return 0;
}

/* ---- multi-node ---- */

/* The receiver of large writes dies mid-stream while the focus reader reads
 * on it; writes go through the other nodes. */
static int sc_receiver_midstream(run_t *r)
{
    while (r_running(r)) {
        int recv = r_pick_node(r);
        char spec[64];
        workload_set_nodes(r->r_wl, ~(1u << recv) & ~1u);
        workload_set_focus(r->r_wl, recv);
        snprintf(spec, sizeof(spec), "repl.recv.chunk=crash@%d",
                 (int)hu_rng_range(&r->r_rng, 1, 16));
        if (r_crash_at(r, recv, spec, 10000) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 1000, 3000));
    }
    return 0;
}

/* The origin reaches one peer and dies: its link to the others is cut one
 * way while it takes writes; then it is killed and the link healed. */
static int sc_origin_after_peer(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_running(r)) {
        int origin = r_pick_node(r);
        int keep = origin % n + 1; /* the one peer it still reaches */
        link_cfg_t cut = {1, 0, 0};

        for (int j = 1; j <= n; j++) {
            if (j != origin && j != keep)
                proxy_set(r->r_cl.cl_proxy, origin, j, &cut);
        }
        r_net(r, "origin %d reaches only node %d", origin, keep);
        workload_set_nodes(r->r_wl, 1u << origin);
        r_sleep(r, hu_rng_range(&r->r_rng, 1500, 3500));
        r_kill(r, origin);
        workload_set_nodes(r->r_wl, 0);
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
        workload_set_focus(r->r_wl, keep % n + 1);
        r_sleep(r, hu_rng_range(&r->r_rng, 1500, 3000));
        if (r_start(r, origin, NULL, 0) < 0)
            return -1;
        r_sleep(r, 1000);
    }
    return 0;
}

static int sc_partition_halves(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_sleep(r, hu_rng_range(&r->r_rng, 500, 1500))) {
        uint32_t mask = 0;
        /* A random half (at least one node, not all). */
        for (int i = 1; i <= n; i++) {
            if (hu_rng_pct(&r->r_rng, 50))
                mask |= 1u << i;
        }
        if (mask == 0)
            mask = 1u << 1;
        if (mask == (((1u << n) - 1) << 1))
            mask &= ~(1u << n);
        r_partition(r, mask);
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 6000));
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
    }
    return 0;
}

static int sc_partition_isolate(run_t *r)
{
    while (r_sleep(r, hu_rng_range(&r->r_rng, 500, 1500))) {
        int node = r_pick_node(r);
        workload_set_focus(r->r_wl, node);
        r_partition(r, 1u << node);
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 6000));
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
    }
    return 0;
}

/* Two nodes cannot talk but both reach a third (the bridge). */
static int sc_partition_bridge(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_sleep(r, hu_rng_range(&r->r_rng, 500, 1500))) {
        int a = r_pick_node(r);
        int b = a % n + 1;
        int bridge = b % n + 1;
        link_cfg_t cut = {1, 0, 0};
        proxy_set(r->r_cl.cl_proxy, a, b, &cut);
        proxy_set(r->r_cl.cl_proxy, b, a, &cut);
        r_net(r, "nodes %d and %d cut, node %d bridges", a, b, bridge);
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 6000));
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
    }
    return 0;
}

static int sc_one_way(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_sleep(r, hu_rng_range(&r->r_rng, 500, 1500))) {
        int a = r_pick_node(r);
        int b = a % n + 1;
        link_cfg_t cut = {1, 0, 0};
        proxy_set(r->r_cl.cl_proxy, a, b, &cut);
        r_net(r, "one way: %d -> %d cut", a, b);
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 6000));
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
    }
    return 0;
}

/* The node taking the writes is paused past the heartbeat timeout (5 s). */
static int sc_pause_origin(run_t *r)
{
    while (r_running(r)) {
        int origin = r_pick_node(r);
        workload_set_nodes(r->r_wl, 1u << origin);
        workload_set_focus(r->r_wl, origin % r->r_cl.cl_n + 1);
        r_sleep(r, hu_rng_range(&r->r_rng, 1000, 2500));
        if (cluster_pause(&r->r_cl, origin) == 0) {
            r_sleep(r, hu_rng_range(&r->r_rng, 6000, 8000));
            cluster_resume(&r->r_cl, origin);
        }
        workload_set_nodes(r->r_wl, 0);
        r_sleep(r, 1000);
    }
    return 0;
}

static int sc_slow_link(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_sleep(r, hu_rng_range(&r->r_rng, 500, 1500))) {
        int a = r_pick_node(r);
        int b = a % n + 1;
        link_cfg_t slow = {0, (int)hu_rng_range(&r->r_rng, 50, 300),
                           (uint64_t)hu_rng_range(&r->r_rng, 256, 2048) << 10};
        proxy_set(r->r_cl.cl_proxy, a, b, &slow);
        proxy_set(r->r_cl.cl_proxy, b, a, &slow);
        r_net(r, "link %d<->%d delay %d ms rate %llu B/s", a, b, slow.lc_delay_ms,
              (unsigned long long)slow.lc_rate_bps);
        r_sleep(r, hu_rng_range(&r->r_rng, 3000, 8000));
        proxy_heal(r->r_cl.cl_proxy);
        r_net(r, "healed");
    }
    return 0;
}

/* A sender whose stream stalls between chunks must not wedge replication. */
static int sc_stalled_source(run_t *r)
{
    while (r_running(r)) {
        int node = r_pick_node(r);
        char spec[64];
        snprintf(spec, sizeof(spec), "repl.send.chunk=sleep(%d)",
                 (int)hu_rng_range(&r->r_rng, 1000, 4000));
        r_term(r, node);
        if (r_start(r, node, spec, 0) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 4000, 8000));
        r_term(r, node);
        if (r_start(r, node, NULL, 0) < 0)
            return -1;
        r_sleep(r, 1000);
    }
    return 0;
}

/* A receiver crashes mid-stream and, while it is down, every other node is
 * killed too; it restarts first with nothing to fetch from, then the others
 * come back: its pending repairs must clear. */
static int sc_pending_not_permanent(run_t *r)
{
    int n = r->r_cl.cl_n;

    while (r_running(r)) {
        int recv = r_pick_node(r);
        char spec[64];
        workload_set_focus(r->r_wl, recv);
        workload_set_nodes(r->r_wl, ~(1u << recv) & ~1u);
        snprintf(spec, sizeof(spec), "repl.recv.chunk=crash@%d",
                 (int)hu_rng_range(&r->r_rng, 1, 12));
        r_term(r, recv);
        if (r_start(r, recv, spec, 0) < 0)
            return -1;
        if (cluster_wait_exit(&r->r_cl, recv, 10000) < 0)
            r_kill(r, recv);
        for (int i = 1; i <= n; i++) {
            if (i != recv)
                r_kill(r, i);
        }
        workload_set_nodes(r->r_wl, 1u << recv);
        if (r_start(r, recv, NULL, 0) < 0)
            return -1;
        r_sleep(r, hu_rng_range(&r->r_rng, 1000, 3000));
        for (int i = 1; i <= n; i++) {
            if (i != recv && r_start(r, i, NULL, 0) < 0)
                return -1;
        }
        workload_set_nodes(r->r_wl, 0);
        r_sleep(r, hu_rng_range(&r->r_rng, 2000, 4000));
    }
    return 0;
}

const scenario_t scenarios[] = {
    {"crash-small-writes", 1,
     "SIGKILL at every storage (and, with peers, replication) failpoint in turn during small "
     "writes",
     sc_crash_writes, 0, 256 << 10, -1},
    {"crash-large-writes", 1, "the same failpoint cycle during large writes (1 MiB .. --max-size)",
     sc_crash_writes, 70, 0, -1},
    {"sigkill-random", 1, "SIGKILL a random node at a random moment, restart it", sc_sigkill_random,
     -1, 0, -1},
    {"pause-resume", 1, "SIGSTOP a random node for 0.5-4 s, then SIGCONT", sc_pause_resume, -1, 0,
     -1},
    {"restart-all", 1, "restart every node at once (SIGKILL or SIGTERM)", sc_restart_all, -1, 0,
     -1},
    {"disk-full", 1, "ENOSPC on one node's writes for a while (store failpoints), then cleared",
     sc_disk_full, -1, 0, -1},
    {"disk-eio", 1, "EIO on one node's writes for a while (store failpoints), then cleared",
     sc_disk_eio, -1, 0, -1},
    {"crash-gc", 1,
     "SIGKILL while superseded files are unlinked (store.gc.unlink), overwrite-heavy", sc_crash_gc,
     -1, 1 << 20, 2},
    {"truncated-blob", 1,
     "truncate a whole blob file on a stopped node: never served, never replicated, repaired from "
     "peers",
     sc_truncated_blob, -1, 0, 2},
    {"missing-blob", 1,
     "delete a blob file on a stopped node: repaired from peers, other keys unaffected",
     sc_missing_blob, -1, 0, 2},
    {"clock-skew", 1, "restart one node with its HLC's clock offset by 2-8 s (CAIRN_CLOCK_SKEW_MS)",
     sc_clock_skew, -1, 0, -1},
    {"crash-receiver-midstream", 2,
     "a receiver dies mid-stream (repl.recv.chunk) with the focus reader on it (the defining one)",
     sc_receiver_midstream, 70, 0, -1},
    {"crash-origin-after-peer", 3,
     "the origin reaches only one peer, then dies: the others get its writes from that peer",
     sc_origin_after_peer, -1, 0, -1},
    {"partition-halves", 2,
     "split the nodes in two halves, writes and hot-key writers on both sides", sc_partition_halves,
     -1, 0, -1},
    {"partition-isolate", 2, "isolate one node from all peers", sc_partition_isolate, -1, 0, -1},
    {"partition-bridge", 3, "two nodes cut from each other, a third reaches both",
     sc_partition_bridge, -1, 0, -1},
    {"one-way-partition", 2, "cut one direction of one link", sc_one_way, -1, 0, -1},
    {"pause-origin", 2, "SIGSTOP the node taking the writes past the heartbeat timeout (6-8 s)",
     sc_pause_origin, -1, 0, -1},
    {"slow-link", 2, "delay (50-300 ms) and throttle (256 KiB-2 MiB/s) one link", sc_slow_link, -1,
     0, -1},
    {"stalled-source", 2, "a sender sleeps between chunks (repl.send.chunk=sleep): no wedge",
     sc_stalled_source, 40, 0, -1},
    {"pending-not-permanent", 2,
     "a receiver crashes mid-stream and restarts alone; its pending repairs clear once peers "
     "return",
     sc_pending_not_permanent, 50, 0, -1},
    {NULL, 0, NULL, NULL, 0, 0, 0},
};

const scenario_t *scenario_find(const char *name)
{
    for (const scenario_t *s = scenarios; s->sc_name != NULL; s++) {
        if (strcmp(s->sc_name, name) == 0)
            return s;
    }
    return NULL;
}
