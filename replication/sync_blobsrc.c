/*
 * sync_blobsrc.c -- reading one blob version from the local store to send
 * it to a peer (log shipping and fetch serving), hashing it as it goes.
 *
 * The store's reader does the resolving: a source is opened only on a
 * COMPLETE record whose file is whole (header checked by the store), and
 * holding the reader's file descriptor pins the file even if a newer
 * version supersedes it meanwhile. The content hash is not checked by the
 * store on reads, so the sender computes it over what it sends and compares
 * at the end: a mismatch means this node's copy is damaged and the stream is
 * aborted instead of ended (the receiver never commits it). The copy is
 * then marked damaged in the store (store_report_damaged(), here on the
 * pool thread), so this node's own reads stop serving it and a repair
 * replaces it; a marked copy is not opened again (CAIRN_ECORRUPT).
 *
 * Every function here blocks on disk: pool threads only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "replication/sync_int.h"

/*
 * See sync_int.h. The reader's deadline is "now": a stale file makes
 * store_read_next() give up at once (CAIRN_EUNAVAIL) instead of waiting,
 * and the store has then reported the key for repair itself.
 */
int repl__bsrc_open(store_t *s, bsrc_t *b, const char *key, size_t klen,
                    const store_version_t *exact, const store_version_t *min, size_t chunk)
{
    store_read_opts_t ro;
    const store_stat_t *st;
    store_step_t step;
    int c;
    int rc;

    memset(b, 0, sizeof(*b));
    /* The record first: a version still arriving (or a leftover, already
     * reported for repair when it was left) is not opened at all -- a
     * reader would report it again, and a peer's fetch of a key both nodes
     * lack would bounce repair reports between them. */
    rc = store_stat(s, key, klen, 1, &b->bs_st);
    if (rc == CAIRN_ENOTFOUND)
        return BSRC_SUPERSEDED;
    if (rc < 0)
        return rc;
    if (b->bs_st.st_state == STORE_TOMBSTONE) {
        if (min != NULL && store_version_cmp(&b->bs_st.st_version, min) >= 0)
            return BSRC_DELETED;
        return BSRC_SUPERSEDED;
    }
    if (b->bs_st.st_state != STORE_COMPLETE || b->bs_st.st_damaged) {
        c = store_version_cmp(&b->bs_st.st_version, exact != NULL ? exact : min);
        if ((exact != NULL && c > 0) || (exact == NULL && c < 0))
            return BSRC_SUPERSEDED;
        /* A copy marked damaged fails as its hash did when it was found. */
        return b->bs_st.st_damaged && c >= 0 ? CAIRN_ECORRUPT : BSRC_HOLD;
    }
    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms();
    rc = store_read_open(s, key, klen, &ro, &b->bs_reader, &b->bs_st);
    if (rc == CAIRN_ENOTFOUND)
        return BSRC_SUPERSEDED; /* deleted meanwhile */
    /* Inline bytes failing their hash: the store re-checks and marks them. */
    if (rc == CAIRN_ECORRUPT)
        (void)store_report_damaged(s, key, klen, 0);
    if (rc < 0)
        return rc;
    rc = store_read_next(b->bs_reader, &step);
    st = store_read_stat(b->bs_reader);
    b->bs_st = *st;
    if (rc == CAIRN_ENOTFOUND) {
        rc = BSRC_SUPERSEDED;
        goto fail;
    }
    if (rc == CAIRN_EUNAVAIL) {
        rc = BSRC_HOLD;
        goto fail;
    }
    if (rc < 0)
        goto fail;
    c = store_version_cmp(&st->st_version, exact != NULL ? exact : min);
    if ((exact != NULL && c > 0) || (exact == NULL && c < 0)) {
        rc = BSRC_SUPERSEDED;
        goto fail;
    }
    if (c < 0 || st->st_state != STORE_COMPLETE || step.ss_kind == STORE_STEP_WAIT) {
        rc = BSRC_HOLD;
        goto fail;
    }
    b->bs_xs = XXH3_createState();
    b->bs_buf = malloc(chunk);
    if (b->bs_xs == NULL || b->bs_buf == NULL || XXH3_128bits_reset(b->bs_xs) != XXH_OK) {
        rc = CAIRN_ENOMEM;
        goto fail;
    }
    b->bs_cap = chunk;
    if (step.ss_kind == STORE_STEP_EOF) {
        b->bs_eof = 1;
    } else {
        b->bs_step = step;
        b->bs_step_left = step.ss_len;
    }
    return BSRC_OK;

fail:
    repl__bsrc_close(b);
    return rc;
}

/* pread until n bytes or end of file; -errno on failure. */
static ssize_t pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = pread(fd, p + got, n - got, (off_t)(off + got));

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/*
 * See sync_int.h. A file shorter than its step promised is CAIRN_ECORRUPT
 * (treated like a hash mismatch by the callers). Either is reported to the
 * store as a damaged copy (store_read_report_damaged(): a no-op when the
 * record moved on to another copy meanwhile).
 */
int repl__bsrc_read(bsrc_t *b)
{
    int was_eof = b->bs_eof;
    int rc;

    b->bs_len = 0;
    while (b->bs_len < b->bs_cap && !b->bs_eof) {
        size_t n;
        ssize_t got;

        if (b->bs_step_left == 0) {
            rc = store_read_next(b->bs_reader, &b->bs_step);
            if (rc < 0)
                return rc;
            if (b->bs_step.ss_kind == STORE_STEP_EOF) {
                b->bs_eof = 1;
                break;
            }
            if (b->bs_step.ss_kind != STORE_STEP_DATA)
                return CAIRN_EUNAVAIL;
            b->bs_step_left = b->bs_step.ss_len;
        }
        n = b->bs_cap - b->bs_len;
        if (n > b->bs_step_left)
            n = (size_t)b->bs_step_left;
        if (b->bs_step.ss_mem != NULL) { /* an inline blob: the bytes are in memory */
            memcpy(b->bs_buf + b->bs_len, b->bs_step.ss_mem, n);
            got = (ssize_t)n;
        } else {
            got = pread_full(b->bs_step.ss_fd, b->bs_buf + b->bs_len, n, b->bs_step.ss_off);
        }
        if (got < 0)
            return (int)got;
        if ((size_t)got < n) {
            (void)store_read_report_damaged(b->bs_reader);
            return CAIRN_ECORRUPT;
        }
        store_read_consumed(b->bs_reader, (uint64_t)got);
        /* The step is borrowed until the next store_read_* call (consumed
         * is one): ask for a fresh step for the next piece. */
        b->bs_step_left = 0;
        b->bs_len += (size_t)got;
        b->bs_off += (uint64_t)got;
    }
    if (b->bs_len > 0)
        (void)XXH3_128bits_update(b->bs_xs, b->bs_buf, b->bs_len);
    /* The whole copy was read: a mismatch is reported here, off the loop
     * (the caller's own repl__bsrc_verify() then aborts the stream). */
    if (b->bs_eof && !was_eof && repl__bsrc_verify(b) < 0)
        (void)store_read_report_damaged(b->bs_reader);
    return 0;
}

int repl__bsrc_verify(bsrc_t *b)
{
    XXH128_canonical_t canon;

    if (b->bs_xs == NULL || !b->bs_eof || b->bs_off != b->bs_st.st_size)
        return CAIRN_ECORRUPT;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(b->bs_xs));
    return memcmp(canon.digest, b->bs_st.st_hash, STORE_HASH_LEN) == 0 ? 0 : CAIRN_ECORRUPT;
}

void repl__bsrc_close(bsrc_t *b)
{
    store_read_close(b->bs_reader);
    b->bs_reader = NULL;
    if (b->bs_xs != NULL)
        XXH3_freeState(b->bs_xs);
    b->bs_xs = NULL;
    free(b->bs_buf);
    b->bs_buf = NULL;
    b->bs_cap = 0;
    b->bs_len = 0;
}

/* ------------------------------------------------------- damaged copies */

/*
 * Local copies that failed their hash while being sent. Such a version is
 * never offered with bytes again ("nb": the receiver fetches elsewhere) nor
 * served to fetches. Bounded: the oldest entry is forgotten first (at
 * worst that copy is read and rejected once more). Loop thread.
 */
void repl__damaged_add(repl_t *r, const char *key, size_t klen, const store_version_t *v)
{
    rdamaged_t *d;

    if (repl__damaged_has(r, key, klen, v))
        return;
    d = &r->r_dmg[r->r_dmg_next];
    d->rd_hash = repl__key_hash(key, klen);
    d->rd_version = *v;
    r->r_dmg_next = (r->r_dmg_next + 1) % REPL_DAMAGED_MAX;
    if (r->r_ndmg < REPL_DAMAGED_MAX)
        r->r_ndmg++;
}

int repl__damaged_has(const repl_t *r, const char *key, size_t klen, const store_version_t *v)
{
    uint64_t h;

    if (r->r_ndmg == 0)
        return 0;
    h = repl__key_hash(key, klen);
    for (size_t i = 0; i < r->r_ndmg; i++) {
        if (r->r_dmg[i].rd_hash == h && store_version_cmp(&r->r_dmg[i].rd_version, v) == 0)
            return 1;
    }
    return 0;
}
