/*
 * history.c -- recording, writing and reading run histories (see history.h).
 */
#include "cluster-tests/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-tests/content.h"
#include "cluster-tests/hutil.h"
#include "cluster-tests/json.h"
#include "common/buf.h"

#define HISTORY_FILE_MAX ((size_t)2 << 30)

static const char *const kind_names[OP_KIND_COUNT] = {"put", "get", "head", "delete"};
static const char *const result_names[RES_COUNT] = {
    "ok",           "not_found", "unavailable", "durability_timeout", "no_space",
    "server_error", "refused",   "conn_error",  "net_error"};

const char *hop_kind_name(hop_kind_t k)
{
    return (unsigned)k < OP_KIND_COUNT ? kind_names[k] : "?";
}

const char *hop_result_name(hop_result_t r)
{
    return (unsigned)r < RES_COUNT ? result_names[r] : "?";
}

int hop_kind_parse(const char *s, hop_kind_t *out)
{
    for (int i = 0; i < OP_KIND_COUNT; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (hop_kind_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

int hop_result_parse(const char *s, hop_result_t *out)
{
    for (int i = 0; i < RES_COUNT; i++) {
        if (strcmp(s, result_names[i]) == 0) {
            *out = (hop_result_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

int hver_parse(const char *s, hver_t *v)
{
    char *end;
    unsigned long long hlc, origin;

    memset(v, 0, sizeof(*v));
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    hlc = strtoull(s, &end, 10);
    if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
        return -EINVAL;
    origin = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0' || origin > 65535)
        return -EINVAL;
    v->hv_hlc = hlc;
    v->hv_origin = (uint32_t)origin;
    v->hv_set = 1;
    return 0;
}

int hver_cmp(const hver_t *a, const hver_t *b)
{
    if (a->hv_set != b->hv_set)
        return a->hv_set ? 1 : -1;
    if (a->hv_hlc != b->hv_hlc)
        return a->hv_hlc < b->hv_hlc ? -1 : 1;
    if (a->hv_origin != b->hv_origin)
        return a->hv_origin < b->hv_origin ? -1 : 1;
    return 0;
}

void hver_fmt(const hver_t *v, char *out)
{
    if (!v->hv_set)
        out[0] = '\0';
    else
        snprintf(out, 32, "%" PRIu64 "-%u", v->hv_hlc, (unsigned)v->hv_origin);
}

void history_init(history_t *h)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->hi_lock, NULL);
    h->hi_next_id = 1;
}

void history_free(history_t *h)
{
    for (size_t i = 0; i < h->hi_nops; i++)
        free(h->hi_ops[i].ho_key);
    for (size_t i = 0; i < h->hi_nevents; i++) {
        free(h->hi_events[i].he_detail);
        free(h->hi_events[i].he_key);
    }
    for (size_t i = 0; i < h->hi_nscans; i++) {
        free(h->hi_scans[i].hs_ids);
        free(h->hi_scans[i].hs_left_ids);
        free(h->hi_scans[i].hs_orphan_ids);
    }
    free(h->hi_ops);
    free(h->hi_events);
    free(h->hi_scans);
    pthread_mutex_destroy(&h->hi_lock);
    memset(h, 0, sizeof(*h));
}

uint64_t history_next_id(history_t *h)
{
    uint64_t id;

    pthread_mutex_lock(&h->hi_lock);
    id = h->hi_next_id++;
    pthread_mutex_unlock(&h->hi_lock);
    return id;
}

/* Makes room for one more element of size sz in *arr (count n, capacity *cap). */
static int reserve(void **arr, size_t n, size_t *cap, size_t sz)
{
    void *p;
    size_t ncap;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 64;
    p = realloc(*arr, ncap * sz);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int history_add_op(history_t *h, const hop_t *op)
{
    char *key = strdup(op->ho_key != NULL ? op->ho_key : "");
    int rc;

    if (key == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&h->hi_lock);
    rc = reserve((void **)&h->hi_ops, h->hi_nops, &h->hi_capops, sizeof(hop_t));
    if (rc == 0) {
        h->hi_ops[h->hi_nops] = *op;
        h->hi_ops[h->hi_nops].ho_key = key;
        h->hi_nops++;
        if (op->ho_id >= h->hi_next_id)
            h->hi_next_id = op->ho_id + 1;
    }
    pthread_mutex_unlock(&h->hi_lock);
    if (rc < 0)
        free(key);
    return rc;
}

int history_add_event(history_t *h, const hevent_t *ev)
{
    hevent_t e = *ev;
    int rc;

    e.he_detail = ev->he_detail != NULL ? strdup(ev->he_detail) : NULL;
    e.he_key = ev->he_key != NULL ? strdup(ev->he_key) : NULL;
    if ((ev->he_detail != NULL && e.he_detail == NULL) ||
        (ev->he_key != NULL && e.he_key == NULL)) {
        rc = -ENOMEM;
        goto fail;
    }
    pthread_mutex_lock(&h->hi_lock);
    rc = reserve((void **)&h->hi_events, h->hi_nevents, &h->hi_capevents, sizeof(hevent_t));
    if (rc == 0)
        h->hi_events[h->hi_nevents++] = e;
    pthread_mutex_unlock(&h->hi_lock);
    if (rc == 0)
        return 0;
fail:
    free(e.he_detail);
    free(e.he_key);
    return rc;
}

int history_event(history_t *h, const char *kind, int node, int node2, int flag, const char *fmt,
                  ...)
{
    hevent_t e;
    char detail[512];
    va_list ap;

    memset(&e, 0, sizeof(e));
    e.he_t_ms = hu_now_ms();
    snprintf(e.he_kind, sizeof(e.he_kind), "%s", kind);
    e.he_node = node;
    e.he_node2 = node2;
    e.he_flag = flag;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        e.he_detail = detail;
    }
    return history_add_event(h, &e);
}

int history_add_scan(history_t *h, hscan_t *scan)
{
    int rc;

    pthread_mutex_lock(&h->hi_lock);
    rc = reserve((void **)&h->hi_scans, h->hi_nscans, &h->hi_capscans, sizeof(hscan_t));
    if (rc == 0)
        h->hi_scans[h->hi_nscans++] = *scan;
    pthread_mutex_unlock(&h->hi_lock);
    if (rc < 0) {
        free(scan->hs_ids);
        free(scan->hs_left_ids);
        free(scan->hs_orphan_ids);
    }
    scan->hs_ids = NULL;
    scan->hs_left_ids = NULL;
    scan->hs_orphan_ids = NULL;
    return rc;
}

/* ---------------------------------------------------------------- writing */

static int json_kv_str(buf_t *b, const char *name, const char *s)
{
    int rc = buf_appendf(b, ",\"%s\":", name);
    if (rc == 0)
        rc = buf_append_json_str(b, s, strlen(s));
    return rc;
}

static int write_op(buf_t *b, const hop_t *o, int first)
{
    char ver[32];
    int rc;

    hver_fmt(&o->ho_version, ver);
    rc = buf_appendf(b,
                     "%s\n{\"id\":%" PRIu64 ",\"kind\":\"%s\",\"node\":%d,\"start_ms\":%" PRId64
                     ",\"end_ms\":%" PRId64 ",\"status\":%d,\"result\":\"%s\",\"size\":%" PRIu64,
                     first ? "" : ",", o->ho_id, hop_kind_name(o->ho_kind), o->ho_node,
                     o->ho_start_ms, o->ho_end_ms, o->ho_status, hop_result_name(o->ho_result),
                     o->ho_size);
    if (rc == 0)
        rc = json_kv_str(b, "key", o->ho_key);
    if (rc == 0 && o->ho_code[0] != '\0')
        rc = json_kv_str(b, "code", o->ho_code);
    if (rc == 0 && o->ho_dur[0] != '\0')
        rc = json_kv_str(b, "durability", o->ho_dur);
    if (rc == 0 && o->ho_hash[0] != '\0')
        rc = json_kv_str(b, "hash", o->ho_hash);
    if (rc == 0 && o->ho_etag[0] != '\0')
        rc = json_kv_str(b, "etag", o->ho_etag);
    if (rc == 0 && ver[0] != '\0')
        rc = json_kv_str(b, "version", ver);
    if (rc == 0 && o->ho_final)
        rc = buf_appendf(b, ",\"final\":true");
    if (rc == 0 && o->ho_focus)
        rc = buf_appendf(b, ",\"focus\":true");
    if (rc == 0 && o->ho_external)
        rc = buf_appendf(b, ",\"external\":true");
    if (rc == 0)
        rc = buf_appendf(b, "}");
    return rc;
}

static int write_event(buf_t *b, const hevent_t *e, int first)
{
    int rc = buf_appendf(b, "%s\n{\"t_ms\":%" PRId64 ",\"kind\":\"%s\",\"node\":%d",
                         first ? "" : ",", e->he_t_ms, e->he_kind, e->he_node);

    if (rc == 0 && e->he_node2 != 0)
        rc = buf_appendf(b, ",\"node2\":%d", e->he_node2);
    if (rc == 0 && e->he_flag != 0)
        rc = buf_appendf(b, ",\"flag\":%d", e->he_flag);
    if (rc == 0 && e->he_detail != NULL)
        rc = json_kv_str(b, "detail", e->he_detail);
    if (rc == 0 && e->he_key != NULL)
        rc = json_kv_str(b, "key", e->he_key);
    if (rc == 0 && e->he_hash[0] != '\0')
        rc = json_kv_str(b, "hash", e->he_hash);
    if (rc == 0 && e->he_file_id != 0)
        rc = buf_appendf(b, ",\"file_id\":%" PRIu64, e->he_file_id);
    if (rc == 0)
        rc = buf_appendf(b, "}");
    return rc;
}

static int write_ids(buf_t *b, const char *name, const uint64_t *ids, size_t n)
{
    int rc = buf_appendf(b, ",\"%s\":[", name);

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_appendf(b, "%s%" PRIu64, i ? "," : "", ids[i]);
    if (rc == 0)
        rc = buf_appendf(b, "]");
    return rc;
}

static int write_scan(buf_t *b, const hscan_t *s, int first)
{
    int rc = buf_appendf(b,
                         "%s\n{\"t_ms\":%" PRId64 ",\"node\":%d,\"when\":\"%s\",\"files\":%" PRIu64
                         ",\"bytes\":%" PRIu64 ",\"max_id\":%" PRIu64,
                         first ? "" : ",", s->hs_t_ms, s->hs_node, s->hs_when, s->hs_files,
                         s->hs_bytes, s->hs_max_id);
    if (rc == 0)
        rc = write_ids(b, "ids", s->hs_ids, s->hs_nids);
    if (rc == 0)
        rc = write_ids(b, "leftovers", s->hs_left_ids, s->hs_nleft);
    if (rc == 0 && s->hs_norphans > 0)
        rc = write_ids(b, "orphans", s->hs_orphan_ids, s->hs_norphans);
    if (rc == 0)
        rc = buf_appendf(b, "}");
    return rc;
}

/* Flushes b into f when it grew large, so memory stays bounded. */
static int spill(buf_t *b, FILE *f, int force)
{
    if (b->b_len == 0 || (!force && b->b_len < (1u << 20)))
        return 0;
    if (fwrite(b->b_data, 1, b->b_len, f) != b->b_len)
        return -EIO;
    buf_reset(b);
    return 0;
}

/* Writes the whole history to path; holds the lock for the duration (the
 * caller writes after the workload stopped, so nobody waits long). */
int history_write(history_t *h, const char *path)
{
    buf_t b;
    FILE *f;
    int rc;

    f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    buf_init(&b, (size_t)64 << 20);
    pthread_mutex_lock(&h->hi_lock);
    rc = buf_appendf(&b,
                     "{\"format\":\"%s\",\"seed\":%" PRIu64 ",\"nodes\":%d,\"duration_s\":%" PRId64
                     ",\"converge_timeout_ms\":%" PRId64,
                     HISTORY_FORMAT, h->hi_seed, h->hi_nodes, h->hi_duration_s,
                     h->hi_converge_timeout_ms);
    if (rc == 0)
        rc = json_kv_str(&b, "scenario", h->hi_scenario);
    if (rc == 0)
        rc = buf_appendf(&b, ",\"node_urls\":[");
    for (int i = 0; rc == 0 && i < h->hi_nodes && i < HIST_MAX_NODES; i++) {
        rc = buf_appendf(&b, "%s", i ? "," : "");
        if (rc == 0)
            rc = buf_append_json_str(&b, h->hi_node_urls[i], strlen(h->hi_node_urls[i]));
    }
    if (rc == 0)
        rc = buf_appendf(&b, "],\n\"events\":[");
    for (size_t i = 0; rc == 0 && i < h->hi_nevents; i++)
        rc = write_event(&b, &h->hi_events[i], i == 0);
    if (rc == 0)
        rc = buf_appendf(&b, "],\n\"scans\":[");
    for (size_t i = 0; rc == 0 && i < h->hi_nscans; i++) {
        rc = write_scan(&b, &h->hi_scans[i], i == 0);
        if (rc == 0)
            rc = spill(&b, f, 0);
    }
    if (rc == 0)
        rc = buf_appendf(&b, "],\n\"final\":[");
    for (int i = 0; rc == 0 && i < h->hi_nfinal; i++) {
        const hfinal_t *fn = &h->hi_final[i];
        rc = buf_appendf(&b,
                         "%s\n{\"node\":%d,\"up\":%s,\"listed\":%s,\"live_keys\":%" PRIu64
                         ",\"live_bytes\":%" PRIu64 ",\"pending_repairs\":%" PRId64 "}",
                         i ? "," : "", fn->hf_node, fn->hf_up ? "true" : "false",
                         fn->hf_listed ? "true" : "false", fn->hf_live_keys, fn->hf_live_bytes,
                         fn->hf_pending);
    }
    if (rc == 0)
        rc = buf_appendf(&b, "],\n\"ops\":[");
    for (size_t i = 0; rc == 0 && i < h->hi_nops; i++) {
        rc = write_op(&b, &h->hi_ops[i], i == 0);
        if (rc == 0)
            rc = spill(&b, f, 0);
    }
    if (rc == 0)
        rc = buf_appendf(&b, "]}\n");
    pthread_mutex_unlock(&h->hi_lock);
    if (rc == 0)
        rc = spill(&b, f, 1);
    buf_free(&b);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc < -4095)
        rc = -ENOMEM; /* buf_t's own codes: over its cap or out of memory */
    return rc;
}

/* ---------------------------------------------------------------- reading */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/*
 * Fills o from one JSON operation object. Unknown members are ignored;
 * kind, node and key are required. Returns 0 or -EINVAL with err set.
 */
static int op_from_json(const jv_t *v, hop_t *o, char *err, size_t errlen)
{
    const char *s;

    memset(o, 0, sizeof(*o));
    if (v->jv_type != JV_OBJ) {
        snprintf(err, errlen, "an operation is not an object");
        return -EINVAL;
    }
    s = json_str(json_get(v, "kind"), NULL);
    if (s == NULL || hop_kind_parse(s, &o->ho_kind) < 0) {
        snprintf(err, errlen, "operation with a missing or unknown kind");
        return -EINVAL;
    }
    o->ho_key = (char *)json_str(json_get(v, "key"), NULL);
    if (o->ho_key == NULL) {
        snprintf(err, errlen, "operation without a key");
        return -EINVAL;
    }
    o->ho_id = (uint64_t)json_int(json_get(v, "id"), 0);
    o->ho_node = (int)json_int(json_get(v, "node"), 0);
    o->ho_start_ms = json_int(json_get(v, "start_ms"), 0);
    o->ho_end_ms = json_int(json_get(v, "end_ms"), o->ho_start_ms);
    o->ho_status = (int)json_int(json_get(v, "status"), 0);
    o->ho_size = (uint64_t)json_int(json_get(v, "size"), 0);
    s = json_str(json_get(v, "result"), NULL);
    if (s != NULL) {
        if (hop_result_parse(s, &o->ho_result) < 0) {
            snprintf(err, errlen, "operation %" PRIu64 ": unknown result \"%s\"", o->ho_id, s);
            return -EINVAL;
        }
    } else {
        /* Derived from the status for hand-written or external records. */
        int st = o->ho_status;
        o->ho_result = st >= 200 && st < 300 ? RES_OK
                       : st == 404           ? RES_NOT_FOUND
                       : st == 503           ? RES_UNAVAILABLE
                       : st == 507           ? RES_NO_SPACE
                       : st >= 500           ? RES_SERVER_ERROR
                       : st >= 400           ? RES_REFUSED
                                             : RES_NET_ERROR;
    }
    copy_str(o->ho_code, sizeof(o->ho_code), json_str(json_get(v, "code"), ""));
    copy_str(o->ho_dur, sizeof(o->ho_dur), json_str(json_get(v, "durability"), ""));
    copy_str(o->ho_hash, sizeof(o->ho_hash), json_str(json_get(v, "hash"), ""));
    copy_str(o->ho_etag, sizeof(o->ho_etag), json_str(json_get(v, "etag"), ""));
    s = json_str(json_get(v, "version"), NULL);
    if (s != NULL && s[0] != '\0' && hver_parse(s, &o->ho_version) < 0) {
        snprintf(err, errlen, "operation %" PRIu64 ": bad version \"%s\"", o->ho_id, s);
        return -EINVAL;
    }
    if (o->ho_hash[0] != '\0' && !content_hash_valid(o->ho_hash)) {
        snprintf(err, errlen, "operation %" PRIu64 ": hash is not 32 hex digits", o->ho_id);
        return -EINVAL;
    }
    o->ho_final = (uint8_t)json_bool(json_get(v, "final"), 0);
    o->ho_focus = (uint8_t)json_bool(json_get(v, "focus"), 0);
    o->ho_external = (uint8_t)json_bool(json_get(v, "external"), 0);
    return 0;
}

static int ids_from_json(const jv_t *arr, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL || arr->jv_type != JV_ARR || arr->jv_count == 0)
        return 0;
    *out = calloc(arr->jv_count, sizeof(uint64_t));
    if (*out == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < arr->jv_count; i++)
        (*out)[i] = (uint64_t)json_int(&arr->jv_items[i], 0);
    *n = arr->jv_count;
    return 0;
}

static int load_tree(history_t *h, const jv_t *root, char *err, size_t errlen)
{
    const jv_t *a;
    int rc = 0;

    if (root->jv_type != JV_OBJ) {
        snprintf(err, errlen, "the history is not a JSON object");
        return -EINVAL;
    }
    if (strcmp(json_str(json_get(root, "format"), ""), HISTORY_FORMAT) != 0) {
        snprintf(err, errlen, "\"format\" is not \"%s\"", HISTORY_FORMAT);
        return -EINVAL;
    }
    copy_str(h->hi_scenario, sizeof(h->hi_scenario), json_str(json_get(root, "scenario"), ""));
    h->hi_seed = (uint64_t)json_int(json_get(root, "seed"), 0);
    h->hi_nodes = (int)json_int(json_get(root, "nodes"), 1);
    if (h->hi_nodes < 1 || h->hi_nodes > HIST_MAX_NODES) {
        snprintf(err, errlen, "\"nodes\" must be 1..%d", HIST_MAX_NODES);
        return -EINVAL;
    }
    h->hi_duration_s = json_int(json_get(root, "duration_s"), 0);
    h->hi_converge_timeout_ms = json_int(json_get(root, "converge_timeout_ms"), 0);
    a = json_get(root, "node_urls");
    for (size_t i = 0; a != NULL && a->jv_type == JV_ARR && i < a->jv_count && i < HIST_MAX_NODES;
         i++)
        copy_str(h->hi_node_urls[i], sizeof(h->hi_node_urls[i]), json_str(&a->jv_items[i], ""));

    a = json_get(root, "events");
    for (size_t i = 0; rc == 0 && a != NULL && a->jv_type == JV_ARR && i < a->jv_count; i++) {
        const jv_t *v = &a->jv_items[i];
        hevent_t e;
        memset(&e, 0, sizeof(e));
        e.he_t_ms = json_int(json_get(v, "t_ms"), 0);
        copy_str(e.he_kind, sizeof(e.he_kind), json_str(json_get(v, "kind"), ""));
        e.he_node = (int)json_int(json_get(v, "node"), 0);
        e.he_node2 = (int)json_int(json_get(v, "node2"), 0);
        e.he_flag = (int)json_int(json_get(v, "flag"), 0);
        e.he_detail = (char *)json_str(json_get(v, "detail"), NULL);
        e.he_key = (char *)json_str(json_get(v, "key"), NULL);
        copy_str(e.he_hash, sizeof(e.he_hash), json_str(json_get(v, "hash"), ""));
        e.he_file_id = (uint64_t)json_int(json_get(v, "file_id"), 0);
        rc = history_add_event(h, &e);
    }
    a = json_get(root, "scans");
    for (size_t i = 0; rc == 0 && a != NULL && a->jv_type == JV_ARR && i < a->jv_count; i++) {
        const jv_t *v = &a->jv_items[i];
        hscan_t s;
        memset(&s, 0, sizeof(s));
        s.hs_t_ms = json_int(json_get(v, "t_ms"), 0);
        s.hs_node = (int)json_int(json_get(v, "node"), 0);
        copy_str(s.hs_when, sizeof(s.hs_when), json_str(json_get(v, "when"), ""));
        s.hs_files = (uint64_t)json_int(json_get(v, "files"), 0);
        s.hs_bytes = (uint64_t)json_int(json_get(v, "bytes"), 0);
        s.hs_max_id = (uint64_t)json_int(json_get(v, "max_id"), 0);
        rc = ids_from_json(json_get(v, "ids"), &s.hs_ids, &s.hs_nids);
        if (rc == 0)
            rc = ids_from_json(json_get(v, "leftovers"), &s.hs_left_ids, &s.hs_nleft);
        if (rc == 0)
            rc = ids_from_json(json_get(v, "orphans"), &s.hs_orphan_ids, &s.hs_norphans);
        if (rc == 0)
            rc = history_add_scan(h, &s);
        else {
            free(s.hs_ids);
            free(s.hs_left_ids);
            free(s.hs_orphan_ids);
        }
    }
    a = json_get(root, "final");
    for (size_t i = 0;
         a != NULL && a->jv_type == JV_ARR && i < a->jv_count && h->hi_nfinal < HIST_MAX_NODES;
         i++) {
        const jv_t *v = &a->jv_items[i];
        hfinal_t *f = &h->hi_final[h->hi_nfinal++];
        f->hf_node = (int)json_int(json_get(v, "node"), 0);
        f->hf_up = json_bool(json_get(v, "up"), 0);
        f->hf_listed = json_bool(json_get(v, "listed"), 0);
        f->hf_live_keys = (uint64_t)json_int(json_get(v, "live_keys"), 0);
        f->hf_live_bytes = (uint64_t)json_int(json_get(v, "live_bytes"), 0);
        f->hf_pending = json_int(json_get(v, "pending_repairs"), -1);
    }
    a = json_get(root, "ops");
    if (a == NULL || a->jv_type != JV_ARR) {
        snprintf(err, errlen, "\"ops\" must be an array");
        return -EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < a->jv_count; i++) {
        hop_t o;
        rc = op_from_json(&a->jv_items[i], &o, err, errlen);
        if (rc == 0)
            rc = history_add_op(h, &o);
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int history_load(history_t *h, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    jv_t *root = NULL;
    int rc;

    history_init(h);
    rc = hu_read_file(path, HISTORY_FILE_MAX, &text, &len);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    rc = json_parse(text, len, &root, err, errlen);
    if (rc < 0)
        goto done;
    rc = load_tree(h, root, err, errlen);
done:
    json_free(root);
    free(text);
    if (rc < 0) {
        history_free(h);
        history_init(h);
    }
    return rc;
}

int history_merge_jsonl(history_t *h, const char *path, size_t *added, size_t *bad)
{
    char *text = NULL, *line, *next;
    size_t len = 0;
    int rc;

    *added = 0;
    *bad = 0;
    rc = hu_read_file(path, HISTORY_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    for (line = text; line != NULL && *line != '\0'; line = next) {
        char err[128];
        jv_t *v = NULL;
        hop_t o;
        const jv_t *t;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[strspn(line, " \t\r")] == '\0')
            continue;
        if (json_parse(line, strlen(line), &v, err, sizeof(err)) < 0 ||
            op_from_json(v, &o, err, sizeof(err)) < 0) {
            (*bad)++;
            json_free(v);
            continue;
        }
        /* External records may carry wall-clock times instead of run times. */
        t = json_get(v, "start_unix_ms");
        if (t != NULL)
            o.ho_start_ms = hu_wall_to_run_ms(json_int(t, 0));
        t = json_get(v, "end_unix_ms");
        if (t != NULL)
            o.ho_end_ms = hu_wall_to_run_ms(json_int(t, 0));
        o.ho_external = 1;
        o.ho_id = history_next_id(h);
        rc = history_add_op(h, &o);
        json_free(v);
        if (rc < 0)
            break;
        (*added)++;
    }
    free(text);
    return rc;
}
