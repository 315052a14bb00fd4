/*
 * hclient.c -- libcurl requests with exact recording (see hclient.h).
 */
#include "cluster-tests/hclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "cluster-tests/content.h"

#define ERRBODY_MAX 1024

struct hclient {
    CURL *hc_curl;
    long hc_connect_ms;
    long hc_stall_s;
};

/* Per-request state shared by the curl callbacks. */
typedef struct xfer {
    CURL *xf_curl;
    hresp_t *xf_r;
    XXH3_state_t *xf_hash;
    char xf_err[ERRBODY_MAX + 1];
    size_t xf_errlen;
    /* upload */
    uint64_t xf_seed, xf_id, xf_size, xf_off;
    /* fetch */
    char *xf_body;
    size_t xf_len, xf_cap, xf_max;
    int xf_overflow;
} xfer_t;

int hclient_new(long connect_ms, long stall_s, hclient_t **out)
{
    hclient_t *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->hc_curl = curl_easy_init();
    if (c->hc_curl == NULL) {
        free(c);
        return -ENOMEM;
    }
    c->hc_connect_ms = connect_ms;
    c->hc_stall_s = stall_s;
    *out = c;
    return 0;
}

void hclient_free(hclient_t *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->hc_curl);
    free(c);
}

int hclient_encode_key(const char *key, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                   *p == '/';
        if (n + (keep ? 1 : 3) + 1 > cap)
            return -ENAMETOOLONG;
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

/* Copies a header value (trimmed, without quotes) when the name matches. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), i, j;

    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    i = nl + 1;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '"'))
        i++;
    j = len;
    while (j > i &&
           (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' ' || line[j - 1] == '"'))
        j--;
    if (j - i >= cap)
        j = i + cap - 1;
    memcpy(out, line + i, j - i);
    out[j - i] = '\0';
    return 1;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * nitems;
    char v[64];

    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (e.g. after 100 Continue): forget the previous headers. */
        x->xf_r->hr_etag[0] = '\0';
        memset(&x->xf_r->hr_version, 0, sizeof(x->xf_r->hr_version));
        return len;
    }
    if (header_value(buf, len, "ETag", x->xf_r->hr_etag, sizeof(x->xf_r->hr_etag)))
        return len;
    if (header_value(buf, len, "X-Cairn-Version", v, sizeof(v)))
        hver_parse(v, &x->xf_r->hr_version);
    return len;
}

static long response_code(CURL *curl)
{
    long code = 0;

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * nitems;
    long code = response_code(x->xf_curl);

    if (code >= 200 && code < 300) {
        if (x->xf_hash != NULL)
            XXH3_128bits_update(x->xf_hash, buf, len);
        x->xf_r->hr_bytes += len;
        return len;
    }
    if (x->xf_errlen < ERRBODY_MAX) {
        size_t n = len < ERRBODY_MAX - x->xf_errlen ? len : ERRBODY_MAX - x->xf_errlen;
        memcpy(x->xf_err + x->xf_errlen, buf, n);
        x->xf_errlen += n;
        x->xf_err[x->xf_errlen] = '\0';
    }
    return len;
}

static size_t on_fetch_body(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * nitems;

    if (x->xf_len + len > x->xf_max) {
        x->xf_overflow = 1;
        return 0; /* aborts the transfer */
    }
    if (x->xf_len + len + 1 > x->xf_cap) {
        size_t cap = x->xf_cap ? x->xf_cap : 4096;
        char *p;
        while (cap < x->xf_len + len + 1)
            cap *= 2;
        p = realloc(x->xf_body, cap);
        if (p == NULL)
            return 0;
        x->xf_body = p;
        x->xf_cap = cap;
    }
    memcpy(x->xf_body + x->xf_len, buf, len);
    x->xf_len += len;
    x->xf_body[x->xf_len] = '\0';
    return len;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    xfer_t *x = arg;
    size_t n = size * nitems;

    if (x->xf_size - x->xf_off < n)
        n = (size_t)(x->xf_size - x->xf_off);
    content_fill(x->xf_seed, x->xf_id, x->xf_off, buf, n);
    x->xf_off += n;
    x->xf_r->hr_bytes = x->xf_off;
    return n;
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
    xfer_t *x = arg;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->xf_size)
        return CURL_SEEKFUNC_CANTSEEK;
    x->xf_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Extracts "error":"CODE" from a JSON error body (best effort). */
static void error_code(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body, "\"error\"");
    size_t n = 0;

    out[0] = '\0';
    if (p == NULL)
        return;
    p = strchr(p + 7, '"');
    if (p == NULL)
        return;
    p++;
    while (p[n] != '\0' && p[n] != '"' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Maps the transfer's outcome onto the history's result classes. */
static void classify(xfer_t *x, CURLcode cc)
{
    hresp_t *r = x->xf_r;
    long code = response_code(x->xf_curl);

    r->hr_status = (int)code;
    if (cc != CURLE_OK) {
        r->hr_result = cc == CURLE_COULDNT_CONNECT ? RES_CONN_ERROR : RES_NET_ERROR;
        snprintf(r->hr_code, sizeof(r->hr_code), "curl_%d", (int)cc);
        r->hr_hash[0] = '\0';
        return;
    }
    if (code >= 200 && code < 300) {
        r->hr_result = RES_OK;
        return;
    }
    error_code(x->xf_err, r->hr_code, sizeof(r->hr_code));
    if (code == 404)
        r->hr_result = RES_NOT_FOUND;
    else if (code == 503 && strcmp(r->hr_code, "durability_timeout") == 0)
        r->hr_result = RES_DURABILITY_TIMEOUT;
    else if (code == 503)
        r->hr_result = RES_UNAVAILABLE;
    else if (code == 507)
        r->hr_result = RES_NO_SPACE;
    else if (code >= 500)
        r->hr_result = RES_SERVER_ERROR;
    else
        r->hr_result = RES_REFUSED;
}

static void common_opts(hclient_t *c, xfer_t *x, const char *url)
{
    CURL *h = c->hc_curl;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->hc_connect_ms);
    if (c->hc_stall_s > 0) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->hc_stall_s);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    x->xf_curl = h;
}

static int blob_url(const char *base, const char *key, const char *durability, char *url,
                    size_t cap)
{
    char enc[3200];
    int n;

    if (hclient_encode_key(key, enc, sizeof(enc)) < 0)
        return -ENAMETOOLONG;
    if (durability != NULL && durability[0] != '\0')
        n = snprintf(url, cap, "%s/v1/blobs/%s?durability=%s", base, enc, durability);
    else
        n = snprintf(url, cap, "%s/v1/blobs/%s", base, enc);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Runs one blob request: method is "PUT", "GET", "HEAD" or "DELETE". */
static int blob_request(hclient_t *c, const char *method, const char *base, const char *key,
                        const char *durability, xfer_t *x)
{
    char url[4096];
    struct curl_slist *hdrs = NULL;
    CURLcode cc;
    int rc, hashing = strcmp(method, "GET") == 0;

    memset(x->xf_r, 0, sizeof(*x->xf_r));
    rc = blob_url(base, key, durability, url, sizeof(url));
    if (rc < 0)
        return rc;
    common_opts(c, x, url);
    if (hashing) {
        x->xf_hash = XXH3_createState();
        if (x->xf_hash == NULL)
            return -ENOMEM;
        XXH3_128bits_reset(x->xf_hash);
    }
    if (strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0) {
        /* A write never rides a kept-alive connection: libcurl silently
         * retries a request whose reused connection died, and a retry that
         * then cannot connect would report "could not connect" for a request
         * the node may have applied. On a fresh connection, a failed connect
         * proves the request was never sent. */
        curl_easy_setopt(c->hc_curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c->hc_curl, CURLOPT_FORBID_REUSE, 1L);
    }
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c->hc_curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c->hc_curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->xf_size);
        curl_easy_setopt(c->hc_curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c->hc_curl, CURLOPT_READDATA, x);
        curl_easy_setopt(c->hc_curl, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c->hc_curl, CURLOPT_SEEKDATA, x);
        hdrs = curl_slist_append(hdrs, "Expect:");
        hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
        curl_easy_setopt(c->hc_curl, CURLOPT_HTTPHEADER, hdrs);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c->hc_curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(c->hc_curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    cc = curl_easy_perform(c->hc_curl);
    classify(x, cc);
    if (hashing) {
        if (x->xf_r->hr_result == RES_OK)
            content_hash_hex(XXH3_128bits_digest(x->xf_hash), x->xf_r->hr_hash);
        XXH3_freeState(x->xf_hash);
        x->xf_hash = NULL;
    }
    curl_slist_free_all(hdrs);
    return 0;
}

int hclient_put(hclient_t *c, const char *base, const char *key, const char *durability,
                uint64_t seed, uint64_t id, uint64_t size, hresp_t *r)
{
    xfer_t x;

    memset(&x, 0, sizeof(x));
    x.xf_r = r;
    x.xf_seed = seed;
    x.xf_id = id;
    x.xf_size = size;
    return blob_request(c, "PUT", base, key, durability, &x);
}

int hclient_get(hclient_t *c, const char *base, const char *key, hresp_t *r)
{
    xfer_t x;

    memset(&x, 0, sizeof(x));
    x.xf_r = r;
    return blob_request(c, "GET", base, key, NULL, &x);
}

int hclient_head(hclient_t *c, const char *base, const char *key, hresp_t *r)
{
    xfer_t x;

    memset(&x, 0, sizeof(x));
    x.xf_r = r;
    return blob_request(c, "HEAD", base, key, NULL, &x);
}

int hclient_delete(hclient_t *c, const char *base, const char *key, const char *durability,
                   hresp_t *r)
{
    xfer_t x;

    memset(&x, 0, sizeof(x));
    x.xf_r = r;
    return blob_request(c, "DELETE", base, key, durability, &x);
}

int hclient_fetch(hclient_t *c, const char *base, const char *path, size_t cap, char **body,
                  size_t *len, int *status)
{
    char url[4096];
    hresp_t r;
    xfer_t x;
    CURLcode cc;

    *body = NULL;
    *status = 0;
    memset(&x, 0, sizeof(x));
    memset(&r, 0, sizeof(r));
    x.xf_r = &r;
    x.xf_max = cap;
    snprintf(url, sizeof(url), "%s%s", base, path);
    common_opts(c, &x, url);
    curl_easy_setopt(c->hc_curl, CURLOPT_WRITEFUNCTION, on_fetch_body);
    curl_easy_setopt(c->hc_curl, CURLOPT_TIMEOUT_MS, 10000L);
    cc = curl_easy_perform(c->hc_curl);
    if (cc != CURLE_OK) {
        free(x.xf_body);
        return -EIO;
    }
    *status = (int)response_code(c->hc_curl);
    if (x.xf_body == NULL) {
        x.xf_body = strdup("");
        if (x.xf_body == NULL)
            return -ENOMEM;
    }
    *body = x.xf_body;
    if (len != NULL)
        *len = x.xf_len;
    return 0;
}
