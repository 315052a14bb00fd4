/*
 * hlc.h -- hybrid logical clock.
 *
 * A version is 64 bits: the top 48 are physical milliseconds since the Unix
 * epoch, the low 16 a logical counter. hlc_now() never returns a value at or
 * below any value it returned before or was told about with hlc_observe(),
 * so versions from one node are strictly increasing even when the wall clock
 * steps back. Across restarts, the caller persists a ceiling above every
 * value it lets the clock issue (the store keeps it in LMDB `meta`), and
 * passes it to hlc_init() as the floor, so the restarted clock starts
 * strictly above it. Remote versions must be bounded (a maximum skew above
 * the wall clock) by the caller before hlc_observe().
 *
 * Thread-safe (a mutex); every function is O(1).
 */
#ifndef CAIRN_HLC_H
#define CAIRN_HLC_H

#include <pthread.h>
#include <stdint.h>

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MASK ((uint64_t)0xffff)
#define HLC_PHYS(v) ((v) >> HLC_LOGICAL_BITS)
#define HLC_MAKE(ms, logical)                                                                      \
    (((uint64_t)(ms) << HLC_LOGICAL_BITS) | ((uint64_t)(logical)&HLC_LOGICAL_MASK))

typedef struct hlc {
    pthread_mutex_t hc_lock;
    uint64_t hc_last;             /* last value issued or observed */
    int64_t hc_offset_ms;         /* added to the wall clock (clock-skew testing) */
    uint64_t (*hc_wall_ms)(void); /* wall clock source; tests may replace */
} hlc_t;

/* Starts the clock strictly above floor (0 for none). Never fails. */
void hlc_init(hlc_t *c, uint64_t floor);
void hlc_destroy(hlc_t *c);
/* Offsets the physical clock by ms (may be negative); for skew tests. */
void hlc_set_offset_ms(hlc_t *c, int64_t ms);
/* Returns a fresh version above everything issued or observed. */
uint64_t hlc_now(hlc_t *c);
/* Merges a version seen from elsewhere, so later hlc_now() values exceed it. */
void hlc_observe(hlc_t *c, uint64_t remote);
/* Last value issued or observed. */
uint64_t hlc_last(hlc_t *c);
/* The system wall clock in ms. */
uint64_t hlc_wall_ms(void);

#endif
