/*
 * checker.h -- the invariants, checked over a recorded history.
 *
 * Each invariant is a separate named check (docs/harness.md lists them with
 * what exactly each one demands and what it forgives):
 *
 *   acked_writes_durable  1. every acknowledged write is readable, byte-exact, from
 *                            every node after healing (or superseded by a newer version)
 *   reads_exact           2. every successful read returned exactly one written version
 *   leftover_reads        3. reads on a node holding a crash leftover succeed while a
 *                            node holding that version is up (counts and latency reported)
 *   convergence           4. after healing all nodes hold the same version of every key
 *   read_after_write      5. a read that starts after a write was acknowledged returns it
 *                            or a newer version (same node, or any node for durability
 *                            "all": enforced; other nodes after "majority": reported)
 *   files_clean           6. no leftover file survives, no file id is reused, disk usage
 *                            equals what the live data needs
 *   pending_cleared          no repair stays pending after healing
 *   nodes_healthy            no node exited unless the harness killed it or a failpoint
 *                            crashed it; every node is up at the end
 *
 * A check is "enforced" when a violation fails the run. The checker never
 * talks to a node: everything comes from the history.
 */
#ifndef CAIRN_HARNESS_CHECKER_H
#define CAIRN_HARNESS_CHECKER_H

#include <stdint.h>
#include <stdio.h>

#include "cluster-tests/history.h"
#include "common/buf.h"

#define CHECK_MAX 12
#define CHECK_MAX_MSGS 20
#define CHECK_MAX_STATS 10

typedef struct check_result {
    char cr_name[32];
    char cr_title[128];
    int cr_enforced;
    int cr_skipped;      /* nothing in the history to check it against */
    uint64_t cr_checked; /* items examined */
    uint64_t cr_violations;
    char *cr_msgs[CHECK_MAX_MSGS]; /* the first violations, owned */
    int cr_nmsgs;
    char cr_stat_names[CHECK_MAX_STATS][32];
    double cr_stat_vals[CHECK_MAX_STATS];
    int cr_nstats;
} check_result_t;

typedef struct check_opts {
    int co_strict_raw;   /* enforce cross-node read-after-write for "majority" too */
    int64_t co_grace_ms; /* how long all peers must have been up before a leftover
                            read may not fail (reconnect backoff); default 6000 */
} check_opts_t;

typedef struct check_report {
    check_result_t ck_checks[CHECK_MAX];
    int ck_n;
} check_report_t;

void check_opts_default(check_opts_t *o);

/* Runs every check over h into rep (initialised here). 0 or -ENOMEM. */
int checker_run(const history_t *h, const check_opts_t *o, check_report_t *rep);

/* Adds a result computed elsewhere (e.g. the external workload's exit
 * status); returns it for filling, or NULL when the report is full. */
check_result_t *check_report_add(check_report_t *rep, const char *name, const char *title,
                                 int enforced);
/* Records one violation with a message (printf-style). */
void check_violation(check_result_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void check_stat(check_result_t *c, const char *name, double v);

/* 1 if every enforced check held. */
int check_report_ok(const check_report_t *rep);
/* The result named name, or NULL. */
const check_result_t *check_report_find(const check_report_t *rep, const char *name);

void check_report_free(check_report_t *rep);

/* Human-readable lines, one per check (and its first violations). */
void check_report_print(const check_report_t *rep, FILE *f);
/* JSON array of the checks. */
int check_report_json(const check_report_t *rep, buf_t *b);

#endif
