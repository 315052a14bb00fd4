/*
 * frame.c -- length-prefixed msgpack frames: incremental parser, decoder, encoder.
 */
#include "replication/frame.h"
#include "common/error.h"
#include "common/pack.h"

#include <stdlib.h>
#include <string.h>

/* A buffer grown past this for one large frame is released afterwards. */
#define FRAME_BUF_KEEP (512u * 1024u)

void repl_frame_put_len(uint8_t *hdr, uint32_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

uint32_t repl_frame_get_len(const uint8_t *hdr)
{
    return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) |
           (uint32_t)hdr[3];
}

static uint32_t clamp_max(uint32_t max)
{
    if (max == 0 || max > REPL_FRAME_MAX)
        return REPL_FRAME_MAX;
    return max;
}

void repl_frame_parser_init(repl_frame_parser_t *p, uint32_t max)
{
    memset(p, 0, sizeof(*p));
    p->fp_max = clamp_max(max);
}

void repl_frame_parser_set_max(repl_frame_parser_t *p, uint32_t max)
{
    p->fp_max = clamp_max(max);
}

void repl_frame_parser_free(repl_frame_parser_t *p)
{
    free(p->fp_buf);
    p->fp_buf = NULL;
    p->fp_cap = 0;
    p->fp_got = 0;
}

/*
 * Makes fp_buf hold at least need bytes. Called only when no payload bytes
 * are buffered, so the old contents need not be kept. On failure the old
 * buffer is gone and CAIRN_ENOMEM is returned.
 */
static int parser_reserve(repl_frame_parser_t *p, uint32_t need)
{
    if (p->fp_cap >= need)
        return 0;
    free(p->fp_buf);
    p->fp_buf = malloc(need);
    p->fp_cap = p->fp_buf != NULL ? need : 0;
    return p->fp_buf != NULL ? 0 : CAIRN_ENOMEM;
}

/*
 * The loop alternates between the header and the payload of the current
 * frame. The frame state is reset before cb runs, so a stop request from cb
 * leaves the parser at a frame boundary.
 */
int repl_frame_parser_feed(repl_frame_parser_t *p, const void *data, size_t len, repl_frame_cb cb,
                           void *arg, size_t *consumed)
{
    const uint8_t *d = data;
    const uint8_t *payload;
    size_t pos = 0, take;
    uint32_t n;
    int rc = 0;

    if (p->fp_err != 0) {
        rc = p->fp_err;
        goto done;
    }
    while (pos < len) {
        if (p->fp_hdr_got < REPL_FRAME_HDR_LEN) {
            take = REPL_FRAME_HDR_LEN - p->fp_hdr_got;
            if (take > len - pos)
                take = len - pos;
            memcpy(p->fp_hdr + p->fp_hdr_got, d + pos, take);
            p->fp_hdr_got += (uint32_t)take;
            pos += take;
            if (p->fp_hdr_got < REPL_FRAME_HDR_LEN)
                break;
            p->fp_len = repl_frame_get_len(p->fp_hdr);
            p->fp_got = 0;
            if (p->fp_len == 0) {
                rc = CAIRN_EPROTO;
                goto fail;
            }
            if (p->fp_len > p->fp_max) {
                rc = CAIRN_ETOOBIG;
                goto fail;
            }
            continue;
        }
        n = p->fp_len;
        if (p->fp_got == 0 && len - pos >= n) {
            /* The whole payload is in this piece: hand it over in place. */
            payload = d + pos;
            pos += n;
            p->fp_hdr_got = 0;
            rc = cb(arg, payload, n);
        } else {
            if (p->fp_got == 0) {
                rc = parser_reserve(p, n);
                if (rc < 0)
                    goto fail;
            }
            take = n - p->fp_got;
            if (take > len - pos)
                take = len - pos;
            memcpy(p->fp_buf + p->fp_got, d + pos, take);
            p->fp_got += (uint32_t)take;
            pos += take;
            if (p->fp_got < n)
                break;
            p->fp_hdr_got = 0;
            p->fp_got = 0;
            rc = cb(arg, p->fp_buf, n);
            if (p->fp_cap > FRAME_BUF_KEEP)
                repl_frame_parser_free(p);
        }
        if (rc < 0)
            goto fail;
        if (rc > 0)
            goto done;
    }
    rc = 0;
    goto done;
fail:
    p->fp_err = rc;
done:
    if (consumed != NULL)
        *consumed = pos;
    return rc;
}

/*
 * m is always left destroyable. The "t" check is strict (printable ASCII,
 * no spaces) because the type is echoed into log lines.
 */
int repl_msg_decode(const uint8_t *payload, size_t len, repl_msg_t *m)
{
    const char *t;
    size_t tlen, i;
    int rc;

    m->rm_obj = NULL;
    m->rm_type[0] = '\0';
    rc = pack_unpack_one(payload, len, REPL_MSG_DEPTH, &m->rm_unpacked);
    if (rc < 0)
        return rc == CAIRN_ENOMEM ? rc : CAIRN_EINVAL;
    if (m->rm_unpacked.data.type != MSGPACK_OBJECT_MAP)
        return CAIRN_EPROTO;
    rc = pack_get_str(&m->rm_unpacked.data, "t", REPL_TYPE_MAX, &t, &tlen);
    if (rc < 0 || tlen == 0)
        return CAIRN_EPROTO;
    for (i = 0; i < tlen; i++) {
        if (t[i] <= ' ' || t[i] > '~')
            return CAIRN_EPROTO;
    }
    memcpy(m->rm_type, t, tlen);
    m->rm_type[tlen] = '\0';
    m->rm_obj = &m->rm_unpacked.data;
    return 0;
}

void repl_msg_free(repl_msg_t *m)
{
    msgpack_unpacked_destroy(&m->rm_unpacked);
    msgpack_unpacked_init(&m->rm_unpacked);
    m->rm_obj = NULL;
}

int repl_frame_enc_init(repl_frame_enc_t *e)
{
    static const char zero[REPL_FRAME_HDR_LEN];

    msgpack_sbuffer_init(&e->fe_sb);
    msgpack_packer_init(&e->fe_pk, &e->fe_sb, msgpack_sbuffer_write);
    if (msgpack_sbuffer_write(&e->fe_sb, zero, sizeof(zero)) != 0)
        return CAIRN_ENOMEM;
    return 0;
}

msgpack_packer *repl_frame_enc_packer(repl_frame_enc_t *e)
{
    return &e->fe_pk;
}

int repl_frame_enc_finish(repl_frame_enc_t *e, uint32_t max, uint8_t **frame, size_t *len)
{
    size_t size = e->fe_sb.size;

    if (size < REPL_FRAME_HDR_LEN || e->fe_sb.data == NULL)
        return CAIRN_ENOMEM; /* the prefix reservation failed */
    if (size == REPL_FRAME_HDR_LEN)
        return CAIRN_EINVAL;
    if (size - REPL_FRAME_HDR_LEN > clamp_max(max))
        return CAIRN_ETOOBIG;
    repl_frame_put_len((uint8_t *)e->fe_sb.data, (uint32_t)(size - REPL_FRAME_HDR_LEN));
    *frame = (uint8_t *)msgpack_sbuffer_release(&e->fe_sb);
    *len = size;
    return 0;
}

void repl_frame_enc_free(repl_frame_enc_t *e)
{
    msgpack_sbuffer_destroy(&e->fe_sb);
    msgpack_sbuffer_init(&e->fe_sb);
}

int repl_frame_wrap(const void *payload, size_t len, uint8_t **frame, size_t *flen)
{
    uint8_t *f;

    if (len == 0 || payload == NULL)
        return CAIRN_EINVAL;
    if (len > REPL_FRAME_MAX)
        return CAIRN_ETOOBIG;
    f = malloc(REPL_FRAME_HDR_LEN + len);
    if (f == NULL)
        return CAIRN_ENOMEM;
    repl_frame_put_len(f, (uint32_t)len);
    memcpy(f + REPL_FRAME_HDR_LEN, payload, len);
    *frame = f;
    *flen = REPL_FRAME_HDR_LEN + len;
    return 0;
}
