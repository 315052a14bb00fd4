/*
 * sync_msg.c -- encoding and strict decoding of the sync layer's messages
 * (docs/replication.md, "Sync protocol"), and the small helpers every sync
 * file shares: sending on a link, key hashes, the version skew bound.
 *
 * Every field read from a peer is checked for type and bounds here; the
 * callers get validated values or CAIRN_EPROTO.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hlc.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/sync_int.h"

/* ---------------------------------------------------------- encoding */

void repl__msg_init(mmsg_t *m, const char *type)
{
    m->mm_type = type;
    m->mm_n = 0;
}

static mkv_t *msg_add(mmsg_t *m, const char *key, int kind)
{
    mkv_t *kv = &m->mm_kv[m->mm_n++];

    kv->mk_key = key;
    kv->mk_kind = kind;
    kv->mk_u = 0;
    kv->mk_p = NULL;
    kv->mk_n = 0;
    return kv;
}

void repl__msg_u64(mmsg_t *m, const char *key, uint64_t v)
{
    msg_add(m, key, MK_U64)->mk_u = v;
}

void repl__msg_bin(mmsg_t *m, const char *key, const void *p, size_t n)
{
    mkv_t *kv = msg_add(m, key, MK_BIN);

    kv->mk_p = p;
    kv->mk_n = n;
}

void repl__msg_str(mmsg_t *m, const char *key, const char *s, size_t n)
{
    mkv_t *kv = msg_add(m, key, MK_STR);

    kv->mk_p = s;
    kv->mk_n = n;
}

/* repl_pack_fn: packs the map straight into the transport's frame buffer
 * (a 256 KiB "d" binary is copied once, from the caller's buffer). */
int repl__msg_pack(msgpack_packer *pk, void *arg)
{
    const mmsg_t *m = arg;
    int rc;

    if (msgpack_pack_map(pk, (size_t)m->mm_n + 1) != 0)
        return CAIRN_ENOMEM;
    rc = pack_kv_str(pk, "t", m->mm_type, strlen(m->mm_type));
    for (int i = 0; rc == 0 && i < m->mm_n; i++) {
        const mkv_t *kv = &m->mm_kv[i];

        if (kv->mk_kind == MK_U64)
            rc = pack_kv_u64(pk, kv->mk_key, kv->mk_u);
        else if (kv->mk_kind == MK_BIN)
            rc = pack_kv_bin(pk, kv->mk_key, kv->mk_p, kv->mk_n);
        else
            rc = pack_kv_str(pk, kv->mk_key, kv->mk_p, kv->mk_n);
    }
    return rc < 0 ? CAIRN_ENOMEM : 0;
}

void repl__msg_change(mmsg_t *m, const store_change_t *c)
{
    const store_stat_t *st = &c->sc_rec;

    repl__msg_u64(m, "o", c->sc_origin);
    repl__msg_u64(m, "s", c->sc_seq);
    repl__msg_bin(m, "k", st->st_key, st->st_klen);
    repl__msg_u64(m, "v", st->st_version.sv_hlc);
    repl__msg_u64(m, "vo", st->st_version.sv_origin);
    repl__msg_u64(m, "st", (uint64_t)st->st_state);
    repl__msg_u64(m, "z", st->st_size);
    repl__msg_bin(m, "h", st->st_hash, STORE_HASH_LEN);
    repl__msg_str(m, "ct", st->st_ctype, strlen(st->st_ctype));
}

int repl__send(psync_t *p, mmsg_t *m, uint64_t credit, unsigned flags)
{
    if (!p->p_up)
        return CAIRN_EUNAVAIL;
    return repl_link_send_pack(p->p_link, repl__msg_pack, m, credit, flags);
}

/*
 * Control replies use the urgent reserve. Losing one would stall the
 * peer's state machine, so a refusal (the peer is not reading a 5 MiB
 * backlog) ends the session instead: both sides resynchronize from their
 * cursors on the next one.
 */
void repl__send_ctl(psync_t *p, mmsg_t *m)
{
    int rc = repl__send(p, m, 0, REPL_SEND_URGENT);

    if (rc == CAIRN_EUNAVAIL)
        return;
    if (rc < 0) {
        LOG_WARN("repl.sync.control_refused", "peer=%u type=%s err=%s", (unsigned)p->p_id,
                 m->mm_type, cairn_errname(rc));
        repl_link_disconnect(p->p_link, rc);
    }
}

void repl__send_os(psync_t *p, const char *type, uint16_t o, uint64_t s)
{
    mmsg_t m;

    repl__msg_init(&m, type);
    repl__msg_u64(&m, "o", o);
    repl__msg_u64(&m, "s", s);
    repl__send_ctl(p, &m);
}

void repl__send_id(psync_t *p, const char *type, uint64_t id)
{
    mmsg_t m;

    repl__msg_init(&m, type);
    repl__msg_u64(&m, "id", id);
    repl__send_ctl(p, &m);
}

/* ---------------------------------------------------------- decoding */

static int proto(int rc)
{
    return rc < 0 ? CAIRN_EPROTO : rc;
}

int repl__parse_os(const msgpack_object *msg, uint16_t *o, uint64_t *s)
{
    uint64_t v;
    int rc;

    rc = pack_get_u64(msg, "o", UINT16_MAX, &v);
    if (rc < 0 || v == 0)
        return CAIRN_EPROTO;
    *o = (uint16_t)v;
    rc = pack_get_u64(msg, "s", UINT64_MAX - 1, s);
    if (rc < 0 || *s == 0)
        return CAIRN_EPROTO;
    return 0;
}

int repl__parse_id(const msgpack_object *msg, uint64_t *id)
{
    return proto(pack_get_u64(msg, "id", UINT64_MAX, id));
}

int repl__parse_version(const msgpack_object *msg, const char *hk, const char *ok,
                        store_version_t *v)
{
    uint64_t o;
    int rc;

    rc = pack_get_u64(msg, hk, UINT64_MAX, &v->sv_hlc);
    if (rc == 0)
        rc = pack_get_u64(msg, ok, UINT16_MAX, &o);
    if (rc < 0 || o == 0 || v->sv_hlc == 0)
        return CAIRN_EPROTO;
    v->sv_origin = (uint16_t)o;
    return 0;
}

int repl__parse_flag(const msgpack_object *msg, const char *key, int *out)
{
    uint64_t v;
    int rc;

    *out = 0;
    rc = pack_get_u64(msg, key, 1, &v);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    if (rc < 0)
        return CAIRN_EPROTO;
    *out = (int)v;
    return 0;
}

/*
 * Key: 1..STORE_KEY_MAX bytes without NUL (the store validates the rest and
 * refuses what it would not accept from a client). Content type: at most
 * STORE_CTYPE_MAX bytes, no NUL.
 */
int repl__parse_change(const msgpack_object *msg, store_change_t *c)
{
    store_stat_t *st = &c->sc_rec;
    const uint8_t *p;
    const char *s;
    size_t n;
    uint64_t v;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = repl__parse_os(msg, &c->sc_origin, &c->sc_seq);
    if (rc < 0)
        return rc;
    rc = pack_get_bin(msg, "k", STORE_KEY_MAX, 0, &p, &n);
    if (rc < 0 || n == 0 || memchr(p, '\0', n) != NULL)
        return CAIRN_EPROTO;
    memcpy(st->st_key, p, n);
    st->st_key[n] = '\0';
    st->st_klen = n;
    rc = repl__parse_version(msg, "v", "vo", &st->st_version);
    if (rc < 0)
        return rc;
    rc = pack_get_u64(msg, "st", STORE_TOMBSTONE, &v);
    if (rc < 0 || v < STORE_COMPLETE)
        return CAIRN_EPROTO;
    st->st_state = (store_state_t)v;
    rc = pack_get_u64(msg, "z", (uint64_t)INT64_MAX, &st->st_size);
    if (rc < 0)
        return CAIRN_EPROTO;
    rc = pack_get_bin(msg, "h", STORE_HASH_LEN, STORE_HASH_LEN, &p, &n);
    if (rc < 0)
        return CAIRN_EPROTO;
    memcpy(st->st_hash, p, STORE_HASH_LEN);
    rc = pack_get_str(msg, "ct", STORE_CTYPE_MAX, &s, &n);
    if (rc < 0 || memchr(s, '\0', n) != NULL)
        return CAIRN_EPROTO;
    memcpy(st->st_ctype, s, n);
    st->st_ctype[n] = '\0';
    return 0;
}

/*
 * "d" of a chg offer: a small blob's bytes, at most REPL_INL_MAX of them,
 * exactly the announced size, only on a put offer that is neither
 * metadata-only nor "nb". Absent: *inl 0.
 */
int repl__parse_inline(const msgpack_object *msg, const store_change_t *c, int meta,
                       const uint8_t **d, size_t *n, int *inl)
{
    int rc;

    *inl = 0;
    *d = NULL;
    *n = 0;
    rc = pack_get_bin(msg, "d", REPL_INL_MAX, 0, d, n);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    if (rc < 0 || meta || c->sc_rec.st_state != STORE_COMPLETE || *n != c->sc_rec.st_size) {
        *n = 0;
        return CAIRN_EPROTO;
    }
    *inl = 1;
    return 0;
}

int repl__parse_data(const msgpack_object *msg, uint64_t *off, const uint8_t **d, size_t *n)
{
    int rc;

    rc = pack_get_u64(msg, "off", (uint64_t)INT64_MAX, off);
    if (rc == 0)
        rc = pack_get_bin(msg, "d", REPL_DAT_MAX, 0, d, n);
    if (rc < 0 || *n == 0)
        return CAIRN_EPROTO;
    return 0;
}

int repl__chunk_append(rxchunk_t **head, rxchunk_t **tail, uint64_t off, const uint8_t *d, size_t n)
{
    rxchunk_t *ch = malloc(sizeof(*ch) + n);

    if (ch == NULL)
        return CAIRN_ENOMEM;
    ch->rc_next = NULL;
    ch->rc_off = off;
    ch->rc_len = n;
    memcpy(ch->rc_data, d, n);
    if (*tail != NULL)
        (*tail)->rc_next = ch;
    else
        *head = ch;
    *tail = ch;
    return 0;
}

/* ----------------------------------------------------------- helpers */

uint64_t repl__key_hash(const char *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

/*
 * A version from a peer is merged into this node's clock when applied
 * (hlc_observe in the store). A peer whose clock runs far ahead would drag
 * every later local version with it, so such versions are refused.
 */
int repl__version_too_new(const repl_t *r, const store_version_t *v)
{
    uint64_t wall = hlc_wall_ms();

    return HLC_PHYS(v->sv_hlc) > wall + r->r_tun.st_max_skew_ms;
}

/* See sync_int.h. */
void repl__replica_opts(store_put_opts_t *po, const store_stat_t *st, uint16_t origin, uint64_t seq)
{
    memset(po, 0, sizeof(*po));
    po->po_mode = STORE_PUT_REPLICA;
    po->po_size = (int64_t)st->st_size;
    po->po_ctype = st->st_ctype[0] != '\0' ? st->st_ctype : NULL;
    po->po_version = st->st_version;
    po->po_hash = st->st_hash;
    po->po_log_origin = origin;
    po->po_log_seq = seq;
}
