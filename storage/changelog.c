/*
 * changelog.c -- the replication log and per-origin cursors (store.h,
 * "replication log").
 *
 * LMDB `log`: key u16be(origin) u64be(seq), so one origin's entries are a
 * contiguous range in seq order; value a msgpack map
 *   "k": bin   key (1..1024)        "v": uint version HLC
 *   "o": uint  version origin       "s": uint state (store_state_t)
 *   "z": uint  size                 "h": bin16 content hash
 *   "t": str   content type         "x": uint 1 = superseded marker (optional)
 * Unknown map keys are ignored. LMDB `cursors`: u16be(origin) -> u64be(seq).
 *
 * Writes happen only on the commit thread inside its transaction (the
 * store_log_put/cursor_raise/trim_txn helpers, called from commit.c, and
 * the CR_SKIP / CR_LOGTRIM requests queued here). Reads copy entries out of
 * short read transactions and call back with nothing held.
 */
#include <inttypes.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "storage/store_int.h"

#define LOG_READ_CHUNK 64    /* entries copied per read transaction */
#define LOG_TRIM_CHUNK 10000 /* entries deleted per write transaction */
#define LOG_MAX_DEPTH 4      /* unknown fields may nest, boundedly */

static void logkey(uint16_t origin, uint64_t seq, uint8_t kb[STORE_LOGKEY_LEN])
{
    kb[0] = (uint8_t)(origin >> 8);
    kb[1] = (uint8_t)origin;
    u64_to_be(seq, kb + 2);
}

static uint16_t logkey_origin(const uint8_t *kb)
{
    return (uint16_t)((kb[0] << 8) | kb[1]);
}

/* ----------------------------------------------- transaction helpers */

/* See store_int.h. Encoding failures are CAIRN_ENOMEM (msgpack-c's only
 * failure is allocation); nothing is written then. */
int store_log_put(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t seq, const store_stat_t *st,
                  int superseded, int noover, int *added)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t kb[STORE_LOGKEY_LEN];
    MDB_val k = {STORE_LOGKEY_LEN, kb};
    MDB_val v;
    int rc = 0;

    if (added != NULL)
        *added = 0;
    logkey(origin, seq, kb);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, superseded ? 8 : 7) != 0)
        rc = CAIRN_ENOMEM;
    if (rc == 0)
        rc = pack_kv_bin(&pk, "k", st->st_key, st->st_klen);
    if (rc == 0)
        rc = pack_kv_u64(&pk, "v", st->st_version.sv_hlc);
    if (rc == 0)
        rc = pack_kv_u64(&pk, "o", st->st_version.sv_origin);
    if (rc == 0)
        rc = pack_kv_u64(&pk, "s", (uint64_t)st->st_state);
    if (rc == 0)
        rc = pack_kv_u64(&pk, "z", st->st_size);
    if (rc == 0)
        rc = pack_kv_bin(&pk, "h", st->st_hash, STORE_HASH_LEN);
    if (rc == 0)
        rc = pack_kv_str(&pk, "t", st->st_ctype, strlen(st->st_ctype));
    if (rc == 0 && superseded)
        rc = pack_kv_u64(&pk, "x", 1);
    if (rc != 0) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    v.mv_size = sb.size;
    v.mv_data = sb.data;
    rc = mdb_put(txn, s->s_db_log, &k, &v, noover ? MDB_NOOVERWRITE : 0);
    if (rc == MDB_KEYEXIST && noover) {
        rc = 0;
        goto done;
    }
    if (rc == 0 && added != NULL)
        *added = 1;
done:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* See store_int.h. A malformed stored cursor is overwritten. */
int store_cursor_raise(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t seq)
{
    uint8_t kb[2] = {(uint8_t)(origin >> 8), (uint8_t)origin};
    uint8_t vb[8];
    MDB_val k = {2, kb};
    MDB_val v;
    int rc;

    rc = mdb_get(txn, s->s_db_cursors, &k, &v);
    if (rc == 0 && v.mv_size == 8 && u64_from_be(v.mv_data) >= seq)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    u64_to_be(seq, vb);
    v.mv_size = 8;
    v.mv_data = vb;
    return mdb_put(txn, s->s_db_cursors, &k, &v, 0);
}

/* See store_int.h. Re-seeks the start of origin's range after every
 * delete rather than relying on cursor positioning after mdb_cursor_del. */
int store_log_trim_txn(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t upto, size_t max,
                       size_t *n)
{
    uint8_t start[STORE_LOGKEY_LEN];
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    *n = 0;
    logkey(origin, 0, start);
    rc = mdb_cursor_open(txn, s->s_db_log, &c);
    if (rc != 0)
        return rc;
    while (*n < max) {
        k.mv_size = STORE_LOGKEY_LEN;
        k.mv_data = start;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        if (k.mv_size != STORE_LOGKEY_LEN || logkey_origin(k.mv_data) != origin ||
            u64_from_be((const uint8_t *)k.mv_data + 2) > upto)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(c);
    return rc;
}

/* ------------------------------------------------------------ decode */

/*
 * Decodes one stored entry into *c (every field type and bound checked).
 * CAIRN_ECORRUPT for anything malformed; *c is then unspecified.
 */
static int log_decode(const MDB_val *k, const MDB_val *v, store_change_t *c)
{
    store_stat_t *st = &c->sc_rec;
    msgpack_unpacked u;
    const msgpack_object *map;
    const uint8_t *p;
    const char *str;
    size_t n;
    uint64_t x;
    int rc;

    memset(c, 0, sizeof(*c));
    msgpack_unpacked_init(&u);
    if (k->mv_size != STORE_LOGKEY_LEN) {
        rc = CAIRN_ECORRUPT;
        goto done;
    }
    c->sc_origin = logkey_origin(k->mv_data);
    c->sc_seq = u64_from_be((const uint8_t *)k->mv_data + 2);
    rc = pack_unpack_one(v->mv_data, v->mv_size, LOG_MAX_DEPTH, &u);
    if (rc < 0)
        goto done;
    map = &u.data;
    rc = map->type == MSGPACK_OBJECT_MAP ? 0 : CAIRN_EINVAL;
    if (rc == 0)
        rc = pack_get_bin(map, "k", STORE_KEY_MAX, 0, &p, &n);
    if (rc == 0 && key_validate((const char *)p, n) < 0)
        rc = CAIRN_EINVAL;
    if (rc < 0)
        goto done;
    memcpy(st->st_key, p, n);
    st->st_key[n] = '\0';
    st->st_klen = n;
    rc = pack_get_u64(map, "v", UINT64_MAX, &st->st_version.sv_hlc);
    if (rc == 0)
        rc = pack_get_u64(map, "o", UINT16_MAX, &x);
    if (rc == 0 && x == 0)
        rc = CAIRN_EINVAL;
    if (rc < 0)
        goto done;
    st->st_version.sv_origin = (uint16_t)x;
    rc = pack_get_u64(map, "s", STORE_TOMBSTONE, &x);
    if (rc == 0 && x < STORE_COMPLETE)
        rc = CAIRN_EINVAL;
    if (rc < 0)
        goto done;
    st->st_state = (store_state_t)x;
    rc = pack_get_u64(map, "z", UINT64_MAX, &st->st_size);
    if (rc == 0)
        rc = pack_get_bin(map, "h", STORE_HASH_LEN, STORE_HASH_LEN, &p, &n);
    if (rc < 0)
        goto done;
    memcpy(st->st_hash, p, STORE_HASH_LEN);
    rc = pack_get_str(map, "t", STORE_CTYPE_MAX, &str, &n);
    if (rc == 0 && memchr(str, '\0', n) != NULL)
        rc = CAIRN_EINVAL;
    if (rc == 0)
        memcpy(st->st_ctype, str, n);
    else if (rc != CAIRN_ENOTFOUND)
        goto done;
    rc = pack_get_u64(map, "x", 1, &x);
    if (rc == 0)
        c->sc_superseded = (int)x;
    else if (rc == CAIRN_ENOTFOUND)
        rc = 0;
done:
    msgpack_unpacked_destroy(&u);
    return rc < 0 ? CAIRN_ECORRUPT : 0;
}

/* -------------------------------------------------------------- read */

/*
 * Copies up to cap entries of origin with seq > *after into buf, in one
 * read transaction, and advances *after past them. *end is set when the
 * origin's range is exhausted. A malformed entry stops the chunk with
 * CAIRN_ECORRUPT (the entries before it are in buf, counted in *n).
 */
static int read_chunk(store_t *s, uint16_t origin, uint64_t *after, store_change_t *buf, size_t cap,
                      size_t *n, int *end)
{
    uint8_t kb[STORE_LOGKEY_LEN];
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    *n = 0;
    *end = 0;
    if (*after == UINT64_MAX) {
        *end = 1;
        return 0;
    }
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = mdb_cursor_open(txn, s->s_db_log, &c);
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto done;
    }
    logkey(origin, *after + 1, kb);
    k.mv_size = STORE_LOGKEY_LEN;
    k.mv_data = kb;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < 2 || logkey_origin(k.mv_data) != origin) {
            *end = 1;
            break;
        }
        if (*n == cap)
            break; /* more follow */
        if (log_decode(&k, &v, &buf[*n]) < 0) {
            LOG_ERROR("store.log.corrupt", "dir=%s origin=%u after=%" PRIu64, s->s_dir,
                      (unsigned)origin, *after);
            rc = CAIRN_ECORRUPT;
            goto done;
        }
        *after = buf[*n].sc_seq;
        (*n)++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        *end = 1;
        rc = 0;
    }
    rc = store_mdb_err(rc);
done:
    if (c != NULL)
        mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    return rc;
}

/* See store.h. Memory is bounded by one chunk whatever max is. */
int store_log_read(store_t *s, uint16_t origin, uint64_t after_seq, size_t max, store_change_fn fn,
                   void *arg)
{
    store_change_t *buf = NULL;
    size_t delivered = 0;
    int end = 0;
    int rc = 0;

    if (s == NULL || fn == NULL || origin == 0)
        return CAIRN_EINVAL;
    buf = malloc(LOG_READ_CHUNK * sizeof(*buf));
    if (buf == NULL)
        return CAIRN_ENOMEM;
    while (!end && (max == 0 || delivered < max)) {
        size_t want = LOG_READ_CHUNK;
        size_t n = 0;
        int crc;

        if (max != 0 && max - delivered < want)
            want = max - delivered;
        crc = read_chunk(s, origin, &after_seq, buf, want, &n, &end);
        if (origin == s->s_node_id) {
            /* No entry of a commit not yet durable (commit_main in
             * commit.c). Loaded after the read: every entry it saw was
             * committed, so its seq is <= committed. */
            uint64_t com = __atomic_load_n(&s->s_local_committed, __ATOMIC_ACQUIRE);
            uint64_t dur = __atomic_load_n(&s->s_local_durable, __ATOMIC_ACQUIRE);
            size_t keep = 0;

            while (keep < n && (buf[keep].sc_seq <= dur || buf[keep].sc_seq > com))
                keep++;
            if (keep < n) {
                n = keep;
                end = 1;
            }
        }
        for (size_t i = 0; i < n; i++) {
            rc = fn(arg, &buf[i]);
            if (rc != 0)
                goto done;
        }
        delivered += n;
        if (crc < 0) {
            rc = crc;
            goto done;
        }
    }
done:
    free(buf);
    return rc;
}

/* -------------------------------------------------------------- skip */

/* The parts of sc_rec a log entry stores must be well formed. */
static int change_valid(const store_t *s, const store_change_t *c)
{
    const store_stat_t *st = &c->sc_rec;

    if (c->sc_origin == 0 || c->sc_origin == s->s_node_id || c->sc_seq == 0)
        return CAIRN_EINVAL;
    if (st->st_klen > STORE_KEY_MAX || key_validate(st->st_key, st->st_klen) < 0)
        return CAIRN_EINVAL;
    if (st->st_version.sv_origin == 0 || st->st_version.sv_hlc == 0)
        return CAIRN_EINVAL;
    if (st->st_state < STORE_COMPLETE || st->st_state > STORE_TOMBSTONE)
        return CAIRN_EINVAL;
    if (memchr(st->st_ctype, '\0', sizeof(st->st_ctype)) == NULL)
        return CAIRN_EINVAL;
    return 0;
}

/* See store.h. The entry and the cursor are written by the commit thread
 * in one transaction (CR_SKIP in commit.c). */
int store_log_skip(store_t *s, const store_change_t *c)
{
    store_creq_t rq;
    int rc;

    if (s == NULL || c == NULL)
        return CAIRN_EINVAL;
    rc = change_valid(s, c);
    if (rc < 0)
        return rc;
    if (!s->s_log_changes)
        return 0;
    memset(&rq, 0, sizeof(rq));
    rq.cr_type = CR_SKIP;
    rq.cr_replica = 1;
    rq.cr_enclen = key_encode(c->sc_rec.st_key, c->sc_rec.st_klen, rq.cr_enc);
    rq.cr_rec.r_st = c->sc_rec;
    rq.cr_rec.r_st.st_file_id = 0;
    rq.cr_rec.r_st.st_log_seq = 0;
    rq.cr_log_origin = c->sc_origin;
    rq.cr_log_seq = c->sc_seq;
    return store_commit(s, &rq);
}

/* ----------------------------------------------------------- cursors */

/* Reads cursor[origin] (0 when absent) inside txn. */
static int cursor_get_txn(store_t *s, MDB_txn *txn, uint16_t origin, uint64_t *seq)
{
    uint8_t kb[2] = {(uint8_t)(origin >> 8), (uint8_t)origin};
    MDB_val k = {2, kb};
    MDB_val v;
    int found;
    int rc;

    *seq = 0;
    if (origin == s->s_node_id)
        return store_meta_get(s, txn, "local_seq", seq, &found);
    rc = mdb_get(txn, s->s_db_cursors, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc);
    if (v.mv_size != 8)
        return CAIRN_ECORRUPT;
    *seq = u64_from_be(v.mv_data);
    return 0;
}

/* See store.h. The local seq is read from the committed meta, not from
 * the commit thread's mirror (no shared mutable state is touched). */
int store_cursor_get(store_t *s, uint16_t origin, uint64_t *seq)
{
    MDB_txn *txn = NULL;
    int rc;

    if (s == NULL || seq == NULL || origin == 0)
        return CAIRN_EINVAL;
    *seq = 0;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = cursor_get_txn(s, txn, origin, seq);
    store_rtxn_end(s, txn);
    return rc;
}

typedef struct curent {
    uint16_t ce_origin;
    uint64_t ce_seq;
} curent_t;

/* See store.h. At most 65535 cursors: copied into one array sized from
 * the sub-database's entry count. Stored entries for this node's own id
 * are ignored (its value is the local seq). */
int store_each_cursor(store_t *s, int (*fn)(void *arg, uint16_t origin, uint64_t seq), void *arg)
{
    curent_t *ents = NULL;
    size_t n = 0, cap;
    uint64_t self_seq = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_stat ms;
    MDB_val k, v;
    int inserted = 0;
    int rc;

    if (s == NULL || fn == NULL)
        return CAIRN_EINVAL;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = mdb_stat(txn, s->s_db_cursors, &ms);
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto done;
    }
    cap = ms.ms_entries + 1;
    ents = malloc(cap * sizeof(*ents));
    if (ents == NULL) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    rc = cursor_get_txn(s, txn, s->s_node_id, &self_seq);
    if (rc < 0)
        goto done;
    rc = mdb_cursor_open(txn, s->s_db_cursors, &c);
    for (rc = rc != 0 ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint16_t origin;

        if (k.mv_size != 2 || v.mv_size != 8)
            continue;
        origin = logkey_origin(k.mv_data);
        if (origin == 0 || origin == s->s_node_id)
            continue;
        if (!inserted && origin > s->s_node_id) {
            ents[n].ce_origin = s->s_node_id;
            ents[n++].ce_seq = self_seq;
            inserted = 1;
        }
        if (n == cap)
            break; /* cannot happen: entries are counted in this txn */
        ents[n].ce_origin = origin;
        ents[n++].ce_seq = u64_from_be(v.mv_data);
    }
    rc = (rc == 0 || rc == MDB_NOTFOUND) ? 0 : store_mdb_err(rc);
    if (rc == 0 && !inserted && n < cap) {
        ents[n].ce_origin = s->s_node_id;
        ents[n++].ce_seq = self_seq;
    }
done:
    if (c != NULL)
        mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(arg, ents[i].ce_origin, ents[i].ce_seq);
    free(ents);
    return rc;
}

/* -------------------------------------------------------------- trim */

/* See store.h. One CR_LOGTRIM request per bounded chunk. */
int store_log_trim(store_t *s, uint16_t origin, uint64_t upto_seq, size_t *removed)
{
    store_creq_t rq;
    size_t total = 0;
    int rc;

    if (removed != NULL)
        *removed = 0;
    if (s == NULL || origin == 0)
        return CAIRN_EINVAL;
    for (;;) {
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_LOGTRIM;
        rq.cr_log_origin = origin;
        rq.cr_log_seq = upto_seq;
        rq.cr_max = LOG_TRIM_CHUNK;
        rc = store_commit(s, &rq);
        if (rc < 0)
            break;
        total += rq.cr_count;
        if (rq.cr_count < LOG_TRIM_CHUNK)
            break;
    }
    if (removed != NULL)
        *removed = total;
    if (total > 0)
        LOG_DEBUG("store.log.trim", "dir=%s origin=%u upto=%" PRIu64 " removed=%zu", s->s_dir,
                  (unsigned)origin, upto_seq, total);
    return rc;
}

/* ------------------------------------------------------ GC horizon */

/* See store.h. One seek per origin present in the log. */
int store_log_oldest_hlc(store_t *s, uint64_t *hlc)
{
    uint8_t kb[STORE_LOGKEY_LEN];
    store_change_t ch;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint32_t next = 0;
    int found = 0;
    int rc;

    if (s == NULL || hlc == NULL)
        return CAIRN_EINVAL;
    *hlc = UINT64_MAX;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = mdb_cursor_open(txn, s->s_db_log, &c);
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto done;
    }
    while (next <= UINT16_MAX) {
        logkey((uint16_t)next, 0, kb);
        k.mv_size = STORE_LOGKEY_LEN;
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = store_mdb_err(rc);
            goto done;
        }
        if (log_decode(&k, &v, &ch) < 0) {
            LOG_ERROR("store.log.corrupt", "dir=%s origin=%u", s->s_dir, (unsigned)next);
            rc = CAIRN_ECORRUPT;
            goto done;
        }
        if (ch.sc_rec.st_version.sv_hlc < *hlc)
            *hlc = ch.sc_rec.st_version.sv_hlc;
        found = 1;
        next = (uint32_t)ch.sc_origin + 1;
    }
    if (!found)
        rc = CAIRN_ENOTFOUND;
done:
    if (c != NULL)
        mdb_cursor_close(c);
    store_rtxn_end(s, txn);
    if (rc < 0)
        *hlc = 0;
    return rc;
}
