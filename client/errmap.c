/*
 * errmap.c -- from HTTP status + the server's JSON error code to CAIRN_CL_E*.
 *
 * The JSON code wins when it is one the contract defines (docs/http-api.md,
 * DESIGN.md section 7), since it is more precise than the status (two
 * different 503s); otherwise the status decides.
 */
#include <string.h>

#include "client_int.h"

static const struct {
    const char *name;
    int rc;
} codes[] = {
    {"bad_request", CAIRN_CL_EBADREQ},
    {"unauthorized", CAIRN_CL_EUNAUTH},
    {"not_found", CAIRN_CL_ENOTFOUND},
    {"conflict", CAIRN_CL_ECONFLICT},
    {"precondition_failed", CAIRN_CL_ECONFLICT},
    {"payload_too_large", CAIRN_CL_ETOOBIG},
    {"header_too_large", CAIRN_CL_EHDRTOOBIG},
    {"unavailable", CAIRN_CL_EUNAVAIL},
    {"durability_timeout", CAIRN_CL_EDURABILITY},
    {"insufficient_storage", CAIRN_CL_ENOSPACE},
    {"internal", CAIRN_CL_ESERVER},
};

int cairn__status_to_rc(long status, const char *code)
{
    if (status >= 200 && status <= 299)
        return 0;
    if (code != NULL) {
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            if (strcmp(code, codes[i].name) == 0)
                return codes[i].rc;
        }
    }
    switch (status) {
    case 400:
        return CAIRN_CL_EBADREQ;
    case 401:
    case 403:
        return CAIRN_CL_EUNAUTH;
    case 404:
    case 410:
        return CAIRN_CL_ENOTFOUND;
    case 409:
    case 412:
        return CAIRN_CL_ECONFLICT;
    case 413:
        return CAIRN_CL_ETOOBIG;
    case 414:
    case 431:
        return CAIRN_CL_EHDRTOOBIG;
    case 503:
        return CAIRN_CL_EUNAVAIL;
    case 507:
        return CAIRN_CL_ENOSPACE;
    default:
        break;
    }
    if (status >= 500 && status <= 599)
        return CAIRN_CL_ESERVER;
    return CAIRN_CL_EHTTP;
}

const char *cairn_client_strerror(int rc)
{
    switch (rc) {
    case CAIRN_CL_OK:
        return "success";
    case CAIRN_CL_EINVAL:
        return "invalid argument";
    case CAIRN_CL_ENOMEM:
        return "out of memory";
    case CAIRN_CL_EBADREQ:
        return "bad request";
    case CAIRN_CL_EUNAUTH:
        return "unauthorized (missing or wrong token)";
    case CAIRN_CL_ENOTFOUND:
        return "not found";
    case CAIRN_CL_ECONFLICT:
        return "conflict or failed precondition";
    case CAIRN_CL_ETOOBIG:
        return "blob too large for the server";
    case CAIRN_CL_EHDRTOOBIG:
        return "request header too large";
    case CAIRN_CL_EUNAVAIL:
        return "unavailable (no node could serve the request)";
    case CAIRN_CL_EDURABILITY:
        return "durability not reached in time (the write is stored and keeps replicating)";
    case CAIRN_CL_ENOSPACE:
        return "insufficient storage on the server";
    case CAIRN_CL_ESERVER:
        return "server error";
    case CAIRN_CL_EHTTP:
        return "unexpected HTTP status";
    case CAIRN_CL_EPROTO:
        return "malformed response from the server";
    case CAIRN_CL_ETIMEDOUT:
        return "transfer stalled (timed out)";
    case CAIRN_CL_ENET:
        return "connection lost during the transfer";
    case CAIRN_CL_EABORTED:
        return "aborted";
    case CAIRN_CL_ECURL:
        return "HTTP client error";
    default:
        break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}
