/*
 * httpresp.c -- response parsing on top of llhttp.
 *
 * on_message_complete pauses the parser, so llhttp_execute() stops right
 * after the last byte of the response; llhttp_get_error_pos() then tells how
 * much was consumed and anything left over is refused.
 */
#include "bench/httpresp.h"
#include "common/error.h"

#include <string.h>

#define HR_OF(p) ((httpresp_t *)(p)->data)

static int hr_on_message_begin(llhttp_t *p)
{
    httpresp_t *r = HR_OF(p);

    r->hr_status = 0;
    r->hr_headers_done = 0;
    r->hr_body_bytes = 0;
    r->hr_errbody_len = 0;
    r->hr_errbody[0] = '\0';
    return 0;
}

static int hr_on_headers_complete(llhttp_t *p)
{
    httpresp_t *r = HR_OF(p);

    r->hr_status = llhttp_get_status_code(p);
    r->hr_headers_done = 1;
    return 0;
}

/* Counts body bytes; keeps the start of a non-2xx body to name the error. */
static int hr_on_body(llhttp_t *p, const char *at, size_t len)
{
    httpresp_t *r = HR_OF(p);
    size_t room;

    r->hr_body_bytes += len;
    if (r->hr_status >= 200 && r->hr_status < 300)
        return 0;
    room = HTTPRESP_ERRBODY_MAX - r->hr_errbody_len;
    if (len > room)
        len = room;
    memcpy(r->hr_errbody + r->hr_errbody_len, at, len);
    r->hr_errbody_len += len;
    r->hr_errbody[r->hr_errbody_len] = '\0';
    return 0;
}

/* Interim 1xx responses are skipped; the final one pauses the parser. */
static int hr_on_message_complete(llhttp_t *p)
{
    httpresp_t *r = HR_OF(p);

    if (r->hr_status >= 100 && r->hr_status < 200)
        return 0;
    r->hr_complete = 1;
    r->hr_keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

static llhttp_settings_t hr_settings = {
    .on_message_begin = hr_on_message_begin,
    .on_headers_complete = hr_on_headers_complete,
    .on_body = hr_on_body,
    .on_message_complete = hr_on_message_complete,
};

void httpresp_reset(httpresp_t *r)
{
    memset(r, 0, sizeof(*r));
    llhttp_init(&r->hr_parser, HTTP_RESPONSE, &hr_settings);
    r->hr_parser.data = r;
}

int httpresp_feed(httpresp_t *r, const char *data, size_t len)
{
    llhttp_errno_t err;
    const char *pos;

    if (r->hr_complete) {
        r->hr_reason = "data after the end of the response";
        return len == 0 ? 1 : CAIRN_EPROTO;
    }
    if (r->hr_reason != NULL)
        return CAIRN_EPROTO;
    err = llhttp_execute(&r->hr_parser, data, len);
    if (err == HPE_OK)
        return 0;
    if (err == HPE_PAUSED && r->hr_complete) {
        pos = llhttp_get_error_pos(&r->hr_parser);
        if (pos != data + len) {
            r->hr_reason = "data after the end of the response";
            return CAIRN_EPROTO;
        }
        return 1;
    }
    r->hr_reason = llhttp_get_error_reason(&r->hr_parser);
    if (r->hr_reason == NULL)
        r->hr_reason = llhttp_errno_name(err);
    return CAIRN_EPROTO;
}

int httpresp_finish(httpresp_t *r)
{
    llhttp_errno_t err;

    if (r->hr_complete)
        return 1;
    if (r->hr_reason != NULL)
        return CAIRN_EPROTO;
    err = llhttp_finish(&r->hr_parser);
    if ((err == HPE_OK || err == HPE_PAUSED) && r->hr_complete)
        return 1;
    r->hr_reason = err == HPE_OK ? "connection closed before the response" : llhttp_errno_name(err);
    return CAIRN_EPROTO;
}

int httpresp_error_code(const httpresp_t *r, char *out, size_t cap)
{
    const char *p, *end = r->hr_errbody + r->hr_errbody_len;
    size_t n = 0;

    if (cap == 0)
        return CAIRN_EINVAL;
    out[0] = '\0';
    p = strstr(r->hr_errbody, "\"error\"");
    if (p == NULL)
        return CAIRN_ENOTFOUND;
    p += 7;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p == end || *p != ':')
        return CAIRN_ENOTFOUND;
    p++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p == end || *p != '"')
        return CAIRN_ENOTFOUND;
    p++;
    while (p < end && *p != '"' && n + 1 < cap) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == '-')
            out[n++] = *p;
        p++;
    }
    out[n] = '\0';
    return n > 0 ? 0 : CAIRN_ENOTFOUND;
}
