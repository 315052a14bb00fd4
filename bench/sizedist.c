/*
 * sizedist.c -- parsing and sampling of blob size distributions.
 */
#include "bench/sizedist.h"
#include "common/conf.h"
#include "common/error.h"

#include <string.h>

/* Parses one SIZE token (NUL-terminated, borrowed) within the limits. */
static int sd_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    int rc;

    if (*s == '\0')
        return CAIRN_EINVAL;
    rc = conf_parse_size(s, &v);
    if (rc < 0 || v > SIZEDIST_MAX_SIZE)
        return CAIRN_EINVAL;
    *out = v;
    return 0;
}

/*
 * Parses "SIZE[-SIZE][:WEIGHT]" held in tok (modified in place). *e is
 * written only on success.
 */
static int sd_parse_entry(char *tok, sizedist_entry_t *e)
{
    sizedist_entry_t ent = {0, 0, 1};
    char *colon, *dash;
    long long w;
    int rc;

    colon = strchr(tok, ':');
    if (colon != NULL) {
        *colon = '\0';
        rc = conf_parse_int(colon + 1, 1, SIZEDIST_MAX_WEIGHT, &w);
        if (rc < 0 || colon[1] == '+')
            return CAIRN_EINVAL;
        ent.se_weight = (uint64_t)w;
    }
    dash = strchr(tok, '-');
    if (dash != NULL) {
        *dash = '\0';
        rc = sd_parse_size(tok, &ent.se_min);
        if (rc < 0)
            return rc;
        rc = sd_parse_size(dash + 1, &ent.se_max);
        if (rc < 0)
            return rc;
        if (ent.se_min > ent.se_max)
            return CAIRN_EINVAL;
    } else {
        rc = sd_parse_size(tok, &ent.se_min);
        if (rc < 0)
            return rc;
        ent.se_max = ent.se_min;
    }
    *e = ent;
    return 0;
}

int sizedist_parse(const char *spec, sizedist_t *out)
{
    char copy[SIZEDIST_MAX_SPEC + 1];
    sizedist_t d;
    char *tok, *next;
    size_t len;
    int rc;

    if (spec == NULL)
        return CAIRN_EINVAL;
    len = strlen(spec);
    if (len == 0 || len > SIZEDIST_MAX_SPEC)
        return CAIRN_EINVAL;
    memcpy(copy, spec, len + 1);
    memset(&d, 0, sizeof(d));
    tok = copy;
    for (;;) {
        next = strchr(tok, ',');
        if (next != NULL)
            *next = '\0';
        if (d.sd_n == SIZEDIST_MAX_ENTRIES)
            return CAIRN_EINVAL;
        rc = sd_parse_entry(tok, &d.sd_e[d.sd_n]);
        if (rc < 0)
            return rc;
        d.sd_total_weight += d.sd_e[d.sd_n].se_weight;
        d.sd_n++;
        if (next == NULL)
            break;
        tok = next + 1;
    }
    *out = d;
    return 0;
}

uint64_t sizedist_sample(const sizedist_t *d, bench_rng_t *rng)
{
    const sizedist_entry_t *e = &d->sd_e[0];
    uint64_t pick;
    unsigned i;

    if (d->sd_n > 1) {
        pick = bench_rng_below(rng, d->sd_total_weight);
        for (i = 0; i < d->sd_n; i++) {
            e = &d->sd_e[i];
            if (pick < e->se_weight)
                break;
            pick -= e->se_weight;
        }
    }
    if (e->se_min == e->se_max)
        return e->se_min;
    return e->se_min + bench_rng_below(rng, e->se_max - e->se_min + 1);
}

uint64_t sizedist_max(const sizedist_t *d)
{
    uint64_t m = 0;
    unsigned i;

    for (i = 0; i < d->sd_n; i++) {
        if (d->sd_e[i].se_max > m)
            m = d->sd_e[i].se_max;
    }
    return m;
}

double sizedist_mean(const sizedist_t *d)
{
    double sum = 0.0;
    unsigned i;

    if (d->sd_total_weight == 0)
        return 0.0;
    for (i = 0; i < d->sd_n; i++) {
        sum += (double)d->sd_e[i].se_weight *
               ((double)d->sd_e[i].se_min + (double)d->sd_e[i].se_max) / 2.0;
    }
    return sum / (double)d->sd_total_weight;
}

int sizedist_is_fixed(const sizedist_t *d)
{
    unsigned i;

    for (i = 0; i < d->sd_n; i++) {
        if (d->sd_e[i].se_min != d->sd_e[i].se_max || d->sd_e[i].se_min != d->sd_e[0].se_min)
            return 0;
    }
    return d->sd_n > 0;
}
