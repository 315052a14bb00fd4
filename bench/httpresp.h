/*
 * httpresp.h -- strict, incremental parser for one HTTP/1.x response.
 *
 * A thin layer over llhttp (response mode) for a client that has exactly one
 * request in flight per connection: bytes are fed as they arrive, the body
 * is counted and dropped (only the first bytes of an error body are kept, to
 * name the error), and any byte after the end of the response is a protocol
 * error, since the server cannot have answered a request not yet sent.
 * Interim 1xx responses are skipped.
 */
#ifndef CAIRN_BENCH_HTTPRESP_H
#define CAIRN_BENCH_HTTPRESP_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#define HTTPRESP_ERRBODY_MAX 256

typedef struct httpresp {
    llhttp_t hr_parser;
    int hr_status; /* final status code, once headers are complete */
    int hr_headers_done;
    int hr_complete;   /* the whole response has been parsed */
    int hr_keep_alive; /* valid once complete */
    uint64_t hr_body_bytes;
    size_t hr_errbody_len; /* bytes kept of a non-2xx body */
    char hr_errbody[HTTPRESP_ERRBODY_MAX + 1];
    const char *hr_reason; /* llhttp's description of a parse error */
} httpresp_t;

/* Prepares r for a new response (also the first). Never fails. */
void httpresp_reset(httpresp_t *r);

/*
 * Feeds len bytes of data (borrowed for the call). Returns 0 when more bytes
 * are needed, 1 when the response is complete and every byte was consumed,
 * CAIRN_EPROTO on a malformed response or bytes beyond its end (hr_reason
 * says why). After 1 or an error, call httpresp_reset() before reuse.
 */
int httpresp_feed(httpresp_t *r, const char *data, size_t len);

/*
 * The peer closed the connection. Returns 1 when that completes the response
 * (a body delimited by the close, or a response already complete),
 * CAIRN_EPROTO when the response is cut short.
 */
int httpresp_finish(httpresp_t *r);

/*
 * Copies the "error" member of a JSON error body ({"error":"CODE",...}) into
 * out (cap bytes, NUL-terminated), keeping only [A-Za-z0-9_.-]. Returns 0 or
 * CAIRN_ENOTFOUND when the kept body has no such member.
 */
int httpresp_error_code(const httpresp_t *r, char *out, size_t cap);

#endif
