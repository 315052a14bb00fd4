/*
 * error.h -- cairn's error codes.
 *
 * Fallible functions return 0 on success or a negative code: either one of
 * the CAIRN_E* values below or a negated errno (-EIO, -ENOSPC, ...). The
 * CAIRN_E* range starts far below any errno so the two never collide.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

enum {
    CAIRN_OK = 0,
    CAIRN_EINVAL = -30001,    /* bad argument or malformed input */
    CAIRN_ENOTFOUND = -30002, /* no such key (or it is a tombstone) */
    CAIRN_EEXIST = -30003,    /* already there (duplicate delivery, create-only) */
    CAIRN_ESTALE = -30004,    /* loses last-writer-wins to the current version */
    CAIRN_ECORRUPT = -30005,  /* checksum, hash or format mismatch */
    CAIRN_EUNAVAIL = -30006,  /* no complete copy can be served before the deadline */
    CAIRN_ETIMEDOUT = -30007, /* a bounded wait expired */
    CAIRN_ETOOBIG = -30008,   /* over a configured size limit */
    CAIRN_EPRECOND = -30009,  /* a conditional write's condition failed */
    CAIRN_ELOCKED = -30010,   /* data directory held by another process */
    CAIRN_ECHANGED = -30011,  /* the version being served changed mid-stream */
    CAIRN_EBUSY = -30012,     /* a live writer already holds this version */
    CAIRN_ESHUTDOWN = -30013, /* the component is closing */
    CAIRN_ENOMEM = -30014,    /* allocation failed */
    CAIRN_EPROTO = -30015,    /* peer or client broke the protocol */
};

/* Returns a static, human-readable description of rc (CAIRN_E* or -errno). */
const char *cairn_strerror(int rc);

/* Returns a short stable identifier for rc ("not_found", "EIO", ...). */
const char *cairn_errname(int rc);

#endif
