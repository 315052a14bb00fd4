/*
 * report.h -- the readable summary and the JSON report of a run: operations
 * by kind and outcome, faults injected, recovery and convergence times, and
 * the invariant results.
 */
#ifndef CAIRN_HARNESS_REPORT_H
#define CAIRN_HARNESS_REPORT_H

#include <stdio.h>

#include "cluster-tests/checker.h"
#include "cluster-tests/history.h"
#include "common/buf.h"

/* Prints the summary of one run (checks included). */
void report_print(const history_t *h, const check_report_t *rep, FILE *f);

/*
 * Appends one run's JSON object to b: scenario, seed, nodes, passed, replay
 * (the command line, may be NULL), dir, ops, faults, recovery, checks.
 */
int report_json(const history_t *h, const check_report_t *rep, const char *replay, const char *dir,
                buf_t *b);

#endif
