/*
 * sync_subs.c -- what the nodes tell each other about their logs, and the
 * choice of one source link per origin.
 *
 * "heads" carries a node's cursors (= the heads of its log) per origin:
 * the receiving peer learns which changes it lacks (lag, the choice of a
 * source when the origin itself is unreachable) and which changes the
 * sender holds (acks: durability waits, offer retirement, log trimming).
 * From those, every node subscribes to exactly one source link per origin.
 */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/pack.h"
#include "replication/sync_int.h"

/* ------------------------------------------------------------- heads */

typedef struct heads_arg {
    repl_t *ha_r;
    psync_t *ha_p;
} heads_arg_t;

static int pack_cursor_map(msgpack_packer *pk, const repl_t *r)
{
    if (msgpack_pack_map(pk, r->r_norig) != 0)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < r->r_norig; i++) {
        if (msgpack_pack_uint16(pk, r->r_orig[i].or_id) != 0 ||
            msgpack_pack_uint64(pk, r->r_orig[i].or_cursor) != 0)
            return CAIRN_ENOMEM;
    }
    return 0;
}

/* {"t":"heads","h":{origin:seq..},"c":{origin:seq..},"lb":bytes}: the head
 * of this node's log per origin (h), its cursors (c; the same numbers: a
 * node logs every change it applies or skips), and the blob bytes it holds
 * that the receiving peer has not confirmed (lb, for the peer's lag). */
static int pack_heads(msgpack_packer *pk, void *arg)
{
    heads_arg_t *ha = arg;
    int rc;

    if (msgpack_pack_map(pk, 4) != 0)
        return CAIRN_ENOMEM;
    rc = pack_kv_str(pk, "t", "heads", 5);
    if (rc == 0)
        rc = pack_cstr(pk, "h");
    if (rc == 0)
        rc = pack_cursor_map(pk, ha->ha_r);
    if (rc == 0)
        rc = pack_cstr(pk, "c");
    if (rc == 0)
        rc = pack_cursor_map(pk, ha->ha_r);
    if (rc == 0)
        rc = pack_kv_u64(pk, "lb", ha->ha_p->p_lag_out_bytes);
    return rc < 0 ? CAIRN_ENOMEM : 0;
}

void repl__send_heads(psync_t *p)
{
    heads_arg_t ha = {p->p_r, p};
    int rc;

    if (!p->p_up)
        return;
    rc = repl_link_send_pack(p->p_link, pack_heads, &ha, 0, 0);
    if (rc < 0 && rc != CAIRN_EBUSY && rc != CAIRN_EUNAVAIL)
        LOG_WARN("repl.heads.send_failed", "peer=%u err=%s", (unsigned)p->p_id, cairn_errname(rc));
}

/*
 * Calls fn for each (origin, seq) of a heads map. Keys must be origin ids
 * 1..65535, values uints; at most 4 * REPL_ORIGINS_MAX entries.
 */
static int each_origin_seq(psync_t *p, const msgpack_object *map,
                           void (*fn)(psync_t *p, int oi, uint64_t seq))
{
    repl_t *r = p->p_r;

    if (map->type != MSGPACK_OBJECT_MAP || map->via.map.size > 4 * REPL_ORIGINS_MAX)
        return CAIRN_EPROTO;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        uint64_t o, seq;
        int oi;

        if (pack_obj_u64(&kv->key, UINT16_MAX, &o) < 0 || o == 0 ||
            pack_obj_u64(&kv->val, UINT64_MAX - 1, &seq) < 0)
            return CAIRN_EPROTO;
        oi = repl__origin(r, (uint16_t)o);
        if (oi >= 0)
            fn(p, oi, seq);
    }
    return 0;
}

static void note_head(psync_t *p, int oi, uint64_t seq)
{
    if (seq > p->p_head[oi])
        p->p_head[oi] = seq;
}

int repl__on_heads(psync_t *p, const msgpack_object *msg)
{
    const msgpack_object *h, *c;
    uint64_t lb = 0;
    int rc;

    rc = pack_map_get(msg, "h", &h);
    if (rc == 0)
        rc = pack_map_get(msg, "c", &c);
    if (rc < 0)
        return CAIRN_EPROTO;
    rc = pack_get_u64(msg, "lb", UINT64_MAX, &lb);
    if (rc < 0 && rc != CAIRN_ENOTFOUND)
        return CAIRN_EPROTO;
    rc = each_origin_seq(p, h, note_head);
    if (rc == 0)
        rc = each_origin_seq(p, c, repl__peer_cursor);
    if (rc < 0)
        return rc;
    p->p_lag_in_bytes = lb;
    p->p_heads_seen = 1;
    repl__review_subs(p->p_r);
    return 0;
}

/* ------------------------------------------------------ subscriptions */

static psync_t *peer_by_id(repl_t *r, uint16_t id)
{
    repl_link_t *l = repl_peers_link(r->r_ps, id);

    return l != NULL ? repl__psync(l) : NULL;
}

static void subscribe(psync_t *p, int oi)
{
    rorigin_t *o = &p->p_r->r_orig[oi];
    mmsg_t m;
    int rc;

    repl__msg_init(&m, "sub");
    repl__msg_u64(&m, "o", o->or_id);
    repl__msg_u64(&m, "from", o->or_cursor);
    rc = repl__send(p, &m, 0, REPL_SEND_URGENT);
    if (rc < 0) {
        LOG_WARN("repl.sub.send_failed", "peer=%u origin=%u err=%s", (unsigned)p->p_id,
                 (unsigned)o->or_id, cairn_errname(rc));
        return;
    }
    o->or_src = p;
    o->or_sub_from = o->or_cursor;
    o->or_expect = 0;
    LOG_DEBUG("repl.sub", "peer=%u origin=%u from=%" PRIu64, (unsigned)p->p_id, (unsigned)o->or_id,
              o->or_cursor);
}

/*
 * The source link for origin oi: the origin's own link when it is up,
 * otherwise the up link advertising the highest head for it (the current
 * source wins ties, then configuration order). NULL when no candidate.
 */
static psync_t *choose_source(repl_t *r, int oi)
{
    rorigin_t *o = &r->r_orig[oi];
    psync_t *own = peer_by_id(r, o->or_id);
    psync_t *best = NULL;

    if (own != NULL && own->p_up)
        return own;
    for (size_t i = 0; i < r->r_npeers; i++) {
        psync_t *p = &r->r_peers[i];

        if (!p->p_up || !p->p_heads_seen)
            continue;
        if (best == NULL || p->p_head[oi] > best->p_head[oi] ||
            (p->p_head[oi] == best->p_head[oi] && p == o->or_src))
            best = p;
    }
    return best;
}

/*
 * One subscription per origin (never for this node's own). A working source
 * is kept unless the origin's own link came up or the source has nothing
 * new while another link does; a switch waits until nothing of the origin
 * is queued or being applied, so the new source starts from a settled
 * cursor and no change is received twice.
 */
void repl__review_subs(repl_t *r)
{
    if (!r->r_running || r->r_stopping)
        return;
    for (size_t oi = 0; oi < r->r_norig; oi++) {
        rorigin_t *o = &r->r_orig[oi];
        psync_t *want, *own;

        if ((int)oi == r->r_self_oi)
            continue;
        want = choose_source(r, (int)oi);
        if (want == NULL || want == o->or_src)
            continue;
        if (o->or_src != NULL) {
            own = peer_by_id(r, o->or_id);
            if (want != own &&
                !(o->or_src->p_head[oi] <= o->or_cursor && want->p_head[oi] > o->or_cursor))
                continue;
            if (!repl__rx_origin_idle(o->or_src, (int)oi))
                continue;
            repl__send_os(o->or_src, "unsub", o->or_id, 1);
            o->or_src = NULL;
        }
        subscribe(want, (int)oi);
    }
}
