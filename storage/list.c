/*
 * list.c -- record lookups: stat, prefix listing, the repair walk.
 *
 * Callbacks are never called inside a read transaction: records are copied
 * out in chunks and the transaction ended first, so a callback may call
 * back into the store (even write) without holding up a map resize.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "storage/store_int.h"

#define LIST_CHUNK 64

/* See store.h. */
int store_stat(store_t *s, const char *key, size_t klen, int with_tombstones, store_stat_t *out)
{
    uint8_t enc[KEY_ENC_MAX];
    record_t rec;
    size_t elen;
    int rc;

    if (s == NULL || key == NULL || out == NULL || key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    elen = key_encode(key, klen, enc);
    rc = store_rec_read(s, enc, elen, &rec);
    if (rc < 0)
        return rc;
    if (rec.r_st.st_state == STORE_TOMBSTONE && !with_tombstones)
        return CAIRN_ENOTFOUND;
    *out = rec.r_st;
    return 0;
}

typedef struct lwalk {
    uint8_t lw_seek[KEY_ENC_MAX]; /* resume position */
    size_t lw_seeklen;
    int lw_exclusive; /* skip a record exactly at lw_seek */
    int lw_done;
} lwalk_t;

/*
 * Copies up to cap matching live records, starting at the walk position,
 * into buf. Stops (lw_done) at the end of the prefix range, or when
 * `left` records were taken and one more match exists (*more = 1).
 */
static int list_chunk(store_t *s, lwalk_t *lw, const char *prefix, size_t plen, size_t left,
                      store_stat_t *buf, size_t cap, size_t *n, int *more)
{
    size_t eplen = plen < KEY_INLINE_MAX ? plen : KEY_INLINE_MAX;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    record_t rec;
    int rc;

    *n = 0;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = mdb_cursor_open(txn, s->s_db_records, &c);
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto done;
    }
    k.mv_size = lw->lw_seeklen;
    k.mv_data = lw->lw_seek;
    rc = lw->lw_seeklen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)
                        : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == 0 && lw->lw_exclusive && k.mv_size == lw->lw_seeklen &&
        memcmp(k.mv_data, lw->lw_seek, k.mv_size) == 0)
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < eplen || memcmp(k.mv_data, prefix, eplen) != 0)
            break;
        if (record_decode(v.mv_data, v.mv_size, &rec) < 0)
            continue;
        if (rec.r_st.st_state == STORE_TOMBSTONE || rec.r_st.st_klen < plen ||
            memcmp(rec.r_st.st_key, prefix, plen) != 0)
            continue;
        if (*n == left) {
            *more = 1;
            break;
        }
        if (*n == cap) {
            /* Chunk full: resume after the last copied key. */
            lw->lw_seeklen = key_encode(buf[*n - 1].st_key, buf[*n - 1].st_klen, lw->lw_seek);
            lw->lw_exclusive = 1;
            rc = 0;
            goto done;
        }
        buf[(*n)++] = rec.r_st;
    }
    lw->lw_done = 1;
    rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : store_mdb_err(rc);
done:
    if (c != NULL)
        mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    return rc;
}

/* See store.h. */
int store_list(store_t *s, const char *prefix, size_t plen, const char *after, size_t alen,
               size_t limit, store_list_fn fn, void *arg, int *more)
{
    store_stat_t *buf = NULL;
    lwalk_t lw;
    size_t emitted = 0;
    int dummy = 0;
    int rc = 0;

    if (more == NULL)
        more = &dummy;
    *more = 0;
    if (s == NULL || fn == NULL || plen > STORE_KEY_MAX || (prefix == NULL && plen > 0))
        return CAIRN_EINVAL;
    if (after != NULL && alen > 0 && key_validate(after, alen) < 0)
        return CAIRN_EINVAL;
    memset(&lw, 0, sizeof(lw));
    /* Start at the later of the prefix and `after` (both in encoded order). */
    lw.lw_seeklen = plen < KEY_INLINE_MAX ? plen : KEY_INLINE_MAX;
    if (lw.lw_seeklen > 0)
        memcpy(lw.lw_seek, prefix, lw.lw_seeklen);
    if (after != NULL && alen > 0) {
        uint8_t ae[KEY_ENC_MAX];
        size_t aelen = key_encode(after, alen, ae);
        size_t m = aelen < lw.lw_seeklen ? aelen : lw.lw_seeklen;
        int c = memcmp(ae, lw.lw_seek, m);

        if (c > 0 || (c == 0 && aelen >= lw.lw_seeklen)) {
            memcpy(lw.lw_seek, ae, aelen);
            lw.lw_seeklen = aelen;
            lw.lw_exclusive = 1;
        }
    }
    buf = malloc(LIST_CHUNK * sizeof(*buf));
    if (buf == NULL)
        return CAIRN_ENOMEM;
    while (!lw.lw_done) {
        size_t n = 0;

        rc = list_chunk(s, &lw, prefix, plen, limit - emitted, buf, LIST_CHUNK, &n, more);
        if (rc < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            rc = fn(arg, &buf[i]);
            if (rc != 0)
                goto done;
        }
        emitted += n;
    }
done:
    free(buf);
    return rc;
}

typedef struct repitem {
    char ri_key[STORE_KEY_MAX];
    size_t ri_klen;
    store_version_t ri_version;
    uint64_t ri_fid;
} repitem_t;

/* See store.h. Records with a live writer are being repaired right now
 * and are skipped. */
int store_each_repair(store_t *s, store_repair_fn fn, void *arg)
{
    repitem_t *items = NULL;
    size_t n = 0, cap = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    record_t rec;
    int rc;

    if (s == NULL || fn == NULL)
        return CAIRN_EINVAL;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = mdb_cursor_open(txn, s->s_db_repair, &c);
    for (rc = rc != 0 ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t fid;

        if (v.mv_size != 8 || k.mv_size > KEY_ENC_MAX)
            continue;
        fid = u64_from_be(v.mv_data);
        if (store_rec_get(s, txn, k.mv_data, k.mv_size, &rec) < 0 || rec.r_st.st_file_id != fid ||
            rec.r_st.st_state == STORE_TOMBSTONE)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            repitem_t *p = realloc(items, nc * sizeof(*p));

            if (p == NULL) {
                rc = CAIRN_ENOMEM;
                break;
            }
            items = p;
            cap = nc;
        }
        memcpy(items[n].ri_key, rec.r_st.st_key, rec.r_st.st_klen);
        items[n].ri_klen = rec.r_st.st_klen;
        items[n].ri_version = rec.r_st.st_version;
        items[n].ri_fid = fid;
        n++;
    }
    if (c != NULL)
        mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : store_mdb_err(rc);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int live;

        pthread_mutex_lock(&s->s_mu);
        live = store_wt_find(s, items[i].ri_fid) != NULL;
        pthread_mutex_unlock(&s->s_mu);
        if (!live)
            fn(arg, items[i].ri_key, items[i].ri_klen, &items[i].ri_version, items[i].ri_fid);
    }
    free(items);
    return rc;
}
