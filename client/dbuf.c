/*
 * dbuf.c -- growable byte buffer with a hard cap, after curl's dynbuf.
 *
 * Every response body the client keeps in memory (listings, cluster status,
 * error bodies) goes through a dbuf, so a misbehaving server can never make
 * the client allocate more than the cap.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

void cairn__dbuf_init(cairn__dbuf *b, size_t cap)
{
    b->db_data = NULL;
    b->db_len = 0;
    b->db_alloc = 0;
    b->db_cap = cap;
}

void cairn__dbuf_free(cairn__dbuf *b)
{
    free(b->db_data);
    b->db_data = NULL;
    b->db_len = 0;
    b->db_alloc = 0;
}

/*
 * Appends len bytes, growing geometrically. Fails without touching the
 * buffer: CAIRN_CL_EPROTO when the cap would be exceeded (callers use dbufs
 * for what a server sends us), CAIRN_CL_ENOMEM when realloc fails.
 */
int cairn__dbuf_add(cairn__dbuf *b, const void *p, size_t len)
{
    size_t need, nalloc;
    char *nd;

    if (len > b->db_cap || b->db_len > b->db_cap - len)
        return CAIRN_CL_EPROTO;
    need = b->db_len + len + 1;
    if (need > b->db_alloc) {
        nalloc = b->db_alloc ? b->db_alloc : 64;
        while (nalloc < need)
            nalloc *= 2;
        nd = realloc(b->db_data, nalloc);
        if (nd == NULL)
            return CAIRN_CL_ENOMEM;
        b->db_data = nd;
        b->db_alloc = nalloc;
    }
    if (len > 0)
        memcpy(b->db_data + b->db_len, p, len);
    b->db_len += len;
    b->db_data[b->db_len] = '\0';
    return 0;
}

int cairn__dbuf_addc(cairn__dbuf *b, char ch)
{
    return cairn__dbuf_add(b, &ch, 1);
}

int cairn__dbuf_adds(cairn__dbuf *b, const char *s)
{
    return cairn__dbuf_add(b, s, strlen(s));
}

/* Moves the storage out; b is left empty and reusable with the same cap. */
int cairn__dbuf_take(cairn__dbuf *b, char **out, size_t *len)
{
    if (b->db_data == NULL) {
        b->db_data = malloc(1);
        if (b->db_data == NULL)
            return CAIRN_CL_ENOMEM;
        b->db_data[0] = '\0';
    }
    *out = b->db_data;
    if (len != NULL)
        *len = b->db_len;
    b->db_data = NULL;
    b->db_len = 0;
    b->db_alloc = 0;
    return 0;
}
