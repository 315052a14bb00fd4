/*
 * hlc.c -- hybrid logical clock (48-bit ms, 16-bit logical counter).
 */
#include "common/hlc.h"

#include <time.h>

#define HLC_PHYS_MAX (((uint64_t)1 << (64 - HLC_LOGICAL_BITS)) - 1)

/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
uint64_t hlc_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* c is caller-owned; after this, hlc_now(c) > floor. */
void hlc_init(hlc_t *c, uint64_t floor)
{
    pthread_mutex_init(&c->hc_lock, NULL);
    c->hc_last = floor;
    c->hc_offset_ms = 0;
    c->hc_wall_ms = hlc_wall_ms;
}

void hlc_destroy(hlc_t *c)
{
    pthread_mutex_destroy(&c->hc_lock);
}

void hlc_set_offset_ms(hlc_t *c, int64_t ms)
{
    pthread_mutex_lock(&c->hc_lock);
    c->hc_offset_ms = ms;
    pthread_mutex_unlock(&c->hc_lock);
}

/* Wall clock plus offset, clamped to the 48-bit physical range. Lock held. */
static uint64_t hlc_phys_now(hlc_t *c)
{
    uint64_t wall = c->hc_wall_ms != NULL ? c->hc_wall_ms() : hlc_wall_ms();
    int64_t off = c->hc_offset_ms;

    if (off < 0) {
        /* -(off + 1) + 1 avoids negating INT64_MIN. */
        uint64_t back = (uint64_t)(-(off + 1)) + 1;
        wall = wall > back ? wall - back : 0;
    } else if ((uint64_t)off > UINT64_MAX - wall) {
        wall = UINT64_MAX;
    } else {
        wall += (uint64_t)off;
    }
    return wall > HLC_PHYS_MAX ? HLC_PHYS_MAX : wall;
}

/*
 * A wall clock ahead of everything seen starts a new millisecond at logical
 * 0; otherwise the last value is bumped, and a logical overflow carries into
 * the physical part, which is still strictly increasing. Saturates at
 * UINT64_MAX (unreachable for ~8900 years of real time).
 */
uint64_t hlc_now(hlc_t *c)
{
    uint64_t phys, v;

    pthread_mutex_lock(&c->hc_lock);
    phys = hlc_phys_now(c);
    if (phys > HLC_PHYS(c->hc_last))
        c->hc_last = HLC_MAKE(phys, 0);
    else if (c->hc_last != UINT64_MAX)
        c->hc_last++;
    v = c->hc_last;
    pthread_mutex_unlock(&c->hc_lock);
    return v;
}

void hlc_observe(hlc_t *c, uint64_t remote)
{
    pthread_mutex_lock(&c->hc_lock);
    if (remote > c->hc_last)
        c->hc_last = remote;
    pthread_mutex_unlock(&c->hc_lock);
}

uint64_t hlc_last(hlc_t *c)
{
    uint64_t v;

    pthread_mutex_lock(&c->hc_lock);
    v = c->hc_last;
    pthread_mutex_unlock(&c->hc_lock);
    return v;
}
