/*
 * failpoint.c -- named fault-injection points (CAIRN_FAILPOINTS).
 *
 * The table is small (at most FP_MAX_ENTRIES) and only consulted when
 * failpoints_active is set, so a mutex and a linear scan are enough.
 */
#include "common/failpoint.h"
#include "common/error.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_ENTRIES 32
#define FP_NAME_MAX 64
#define FP_SLEEP_MAX_MS 3600000UL /* one hour */

typedef enum { FP_CRASH, FP_ERROR, FP_ENOSPC, FP_SLEEP } fp_kind_t;

typedef struct fp_entry {
    char fe_name[FP_NAME_MAX + 1];
    fp_kind_t fe_kind;
    unsigned long fe_nth;      /* fire on this hit only (1-based); 0 = every hit */
    unsigned long fe_sleep_ms; /* FP_SLEEP */
    unsigned long fe_hits;
} fp_entry_t;

typedef struct fp_table {
    fp_entry_t ft_entries[FP_MAX_ENTRIES];
    int ft_count;
} fp_table_t;

int failpoints_active = 0;

static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static fp_table_t fp_table;

static int fp_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Parses a positive decimal of at most 10 digits in s[0..len); 0 on success. */
static int fp_parse_count(const char *s, size_t len, unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (len == 0 || len > 10)
        return CAIRN_EINVAL;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CAIRN_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Parses an action (s[0..len)) into e; CAIRN_EINVAL when malformed. */
static int fp_parse_action(const char *s, size_t len, fp_entry_t *e)
{
    static const struct {
        const char *name;
        fp_kind_t kind;
    } kinds[] = {{"crash", FP_CRASH}, {"error", FP_ERROR}, {"enospc", FP_ENOSPC}};
    const char *at;
    size_t i, klen;
    int rc;

    if (len > 6 && memcmp(s, "sleep(", 6) == 0) {
        if (s[len - 1] != ')')
            return CAIRN_EINVAL;
        rc = fp_parse_count(s + 6, len - 7, &e->fe_sleep_ms);
        if (rc < 0 || e->fe_sleep_ms > FP_SLEEP_MAX_MS)
            return CAIRN_EINVAL;
        e->fe_kind = FP_SLEEP;
        e->fe_nth = 0;
        return 0;
    }

    at = memchr(s, '@', len);
    klen = at != NULL ? (size_t)(at - s) : len;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strlen(kinds[i].name) == klen && memcmp(s, kinds[i].name, klen) == 0)
            break;
    }
    if (i == sizeof(kinds) / sizeof(kinds[0]))
        return CAIRN_EINVAL;
    e->fe_kind = kinds[i].kind;
    e->fe_nth = 0;
    e->fe_sleep_ms = 0;
    if (at != NULL) {
        rc = fp_parse_count(at + 1, len - klen - 1, &e->fe_nth);
        if (rc < 0 || e->fe_nth == 0)
            return CAIRN_EINVAL;
    }
    return 0;
}

/* Parses one "name=action" (s[0..len)) and appends it to t. */
static int fp_parse_entry(const char *s, size_t len, fp_table_t *t)
{
    const char *eq = memchr(s, '=', len);
    fp_entry_t *e;
    size_t nlen, i;
    int j;

    if (eq == NULL)
        return CAIRN_EINVAL;
    nlen = (size_t)(eq - s);
    if (nlen == 0 || nlen > FP_NAME_MAX)
        return CAIRN_EINVAL;
    for (i = 0; i < nlen; i++) {
        if (!fp_name_char(s[i]))
            return CAIRN_EINVAL;
    }
    for (j = 0; j < t->ft_count; j++) {
        if (strlen(t->ft_entries[j].fe_name) == nlen &&
            memcmp(t->ft_entries[j].fe_name, s, nlen) == 0)
            return CAIRN_EINVAL; /* duplicate name: ambiguous */
    }
    if (t->ft_count == FP_MAX_ENTRIES)
        return CAIRN_EINVAL;
    e = &t->ft_entries[t->ft_count];
    memset(e, 0, sizeof(*e));
    memcpy(e->fe_name, s, nlen);
    e->fe_name[nlen] = '\0';
    if (fp_parse_action(eq + 1, len - nlen - 1, e) < 0)
        return CAIRN_EINVAL;
    t->ft_count++;
    return 0;
}

/*
 * Borrows spec for the call. Parses into a scratch table and installs it
 * only when the whole spec is valid, so a malformed spec leaves the previous
 * configuration in place. Empty segments (";;", a trailing ';') are skipped.
 * Hit counters restart at zero.
 */
int failpoints_configure(const char *spec)
{
    fp_table_t *t;
    const char *p, *end;
    int rc = 0;

    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return CAIRN_ENOMEM;
    p = spec != NULL ? spec : "";
    while (*p != '\0') {
        end = strchr(p, ';');
        if (end == NULL)
            end = p + strlen(p);
        if (end > p) {
            rc = fp_parse_entry(p, (size_t)(end - p), t);
            if (rc < 0)
                goto done;
        }
        p = *end == ';' ? end + 1 : end;
    }

    pthread_mutex_lock(&fp_lock);
    fp_table = *t;
    __atomic_store_n(&failpoints_active, fp_table.ft_count > 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fp_lock);
done:
    free(t);
    return rc;
}

int failpoints_from_env(void)
{
    return failpoints_configure(getenv("CAIRN_FAILPOINTS"));
}

/* Sleeps ms milliseconds, resuming after signal interruptions. */
static void fp_sleep_ms(unsigned long ms)
{
    struct timespec req, rem;

    req.tv_sec = (time_t)(ms / 1000);
    req.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&req, &rem) < 0 && errno == EINTR)
        req = rem;
}

/*
 * Counts a hit on name when it is configured, then acts outside the lock.
 * A crash logs one error line and SIGKILLs the whole process; it does not
 * return.
 */
int failpoint_eval(const char *name)
{
    fp_kind_t kind = FP_ERROR;
    unsigned long hits = 0, nth = 0, sleep_ms = 0;
    int found = 0, i, saved_errno = errno;

    if (!__atomic_load_n(&failpoints_active, __ATOMIC_ACQUIRE) || name == NULL)
        return 0;
    pthread_mutex_lock(&fp_lock);
    for (i = 0; i < fp_table.ft_count; i++) {
        if (strcmp(fp_table.ft_entries[i].fe_name, name) == 0) {
            fp_entry_t *e = &fp_table.ft_entries[i];
            hits = ++e->fe_hits;
            kind = e->fe_kind;
            nth = e->fe_nth;
            sleep_ms = e->fe_sleep_ms;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&fp_lock);
    if (!found)
        return 0;
    if (nth != 0 && hits != nth)
        return 0;

    switch (kind) {
    case FP_CRASH:
        LOG_ERROR("failpoint.crash", "name=%s hit=%lu", name, hits);
        kill(getpid(), SIGKILL);
        for (;;)
            pause();
    case FP_ERROR:
        LOG_WARN("failpoint.error", "name=%s hit=%lu", name, hits);
        return -EIO;
    case FP_ENOSPC:
        LOG_WARN("failpoint.enospc", "name=%s hit=%lu", name, hits);
        return -ENOSPC;
    case FP_SLEEP:
        fp_sleep_ms(sleep_ms);
        errno = saved_errno;
        return 0;
    }
    return 0;
}

unsigned long failpoint_hits(const char *name)
{
    unsigned long hits = 0;
    int i;

    if (name == NULL)
        return 0;
    pthread_mutex_lock(&fp_lock);
    for (i = 0; i < fp_table.ft_count; i++) {
        if (strcmp(fp_table.ft_entries[i].fe_name, name) == 0) {
            hits = fp_table.ft_entries[i].fe_hits;
            break;
        }
    }
    pthread_mutex_unlock(&fp_lock);
    return hits;
}
