/*
 * error.c -- descriptions and stable names for cairn's error codes.
 */
#include "common/error.h"

#include <string.h>

typedef struct err_info {
    int ei_code;
    const char *ei_name;
    const char *ei_desc;
} err_info_t;

static const err_info_t err_table[] = {
    {CAIRN_OK, "ok", "success"},
    {CAIRN_EINVAL, "invalid", "invalid argument or malformed input"},
    {CAIRN_ENOTFOUND, "not_found", "not found"},
    {CAIRN_EEXIST, "exists", "already exists"},
    {CAIRN_ESTALE, "stale", "older than the current version"},
    {CAIRN_ECORRUPT, "corrupt", "data corrupt (checksum, hash or format mismatch)"},
    {CAIRN_EUNAVAIL, "unavailable", "no complete copy available"},
    {CAIRN_ETIMEDOUT, "timed_out", "timed out"},
    {CAIRN_ETOOBIG, "too_big", "over a configured size limit"},
    {CAIRN_EPRECOND, "precondition_failed", "precondition failed"},
    {CAIRN_ELOCKED, "locked", "data directory locked by another process"},
    {CAIRN_ECHANGED, "changed", "version changed while being served"},
    {CAIRN_EBUSY, "busy", "a live writer holds this version"},
    {CAIRN_ESHUTDOWN, "shutdown", "shutting down"},
    {CAIRN_ENOMEM, "no_memory", "out of memory"},
    {CAIRN_EPROTO, "protocol_error", "protocol violation"},
};

/* Returns the table entry for rc, or NULL when rc is not a CAIRN_E* code. */
static const err_info_t *err_lookup(int rc)
{
    size_t i;

    for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].ei_code == rc)
            return &err_table[i];
    }
    return NULL;
}

/*
 * Returns a static string; never NULL. -errno values use glibc's
 * strerrordesc_np, which (unlike strerror) never writes a shared buffer and
 * so is thread-safe.
 */
const char *cairn_strerror(int rc)
{
    const err_info_t *ei = err_lookup(rc);
    const char *s;

    if (ei != NULL)
        return ei->ei_desc;
    if (rc < 0 && rc > -4096) {
        s = strerrordesc_np(-rc);
        if (s != NULL)
            return s;
    }
    return "unknown error";
}

/* Returns a static identifier ("not_found", "EIO", "unknown"); never NULL. */
const char *cairn_errname(int rc)
{
    const err_info_t *ei = err_lookup(rc);
    const char *s;

    if (ei != NULL)
        return ei->ei_name;
    if (rc < 0 && rc > -4096) {
        s = strerrorname_np(-rc);
        if (s != NULL)
            return s;
    }
    return "unknown";
}
