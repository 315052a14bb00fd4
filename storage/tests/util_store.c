/*
 * util_store.c -- shared helpers for storage tests (see util_store.h).
 */
#include "util_store.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "storage/blobfile.h"

#define UT_CHUNK (64 * 1024)

char *ut_tmpdir(const char *tag)
{
    char buf[256];
    char *d;

    snprintf(buf, sizeof(buf), "/tmp/cairn-%s-XXXXXX", tag);
    d = strdup(buf);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ut_rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

void ut_fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

uint8_t *ut_data(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);

    ck_assert_ptr_nonnull(p);
    ut_fill(p, n, seed);
    return p;
}

store_t *ut_open(const char *dir, const store_opts_t *base)
{
    store_opts_t o;
    store_t *s = NULL;
    int rc;

    if (base != NULL) {
        o = *base;
    } else {
        memset(&o, 0, sizeof(o));
        o.so_node_id = 1;
        o.so_inline_disable = 1;
    }
    o.so_dir = dir;
    rc = store_open(&o, &s);
    ck_assert_msg(rc == 0, "store_open(%s): %s", dir, cairn_strerror(rc));
    return s;
}

static int put_chunks(store_writer_t *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    int rc;

    for (size_t off = 0; off < len; off += UT_CHUNK) {
        size_t n = len - off < UT_CHUNK ? len - off : UT_CHUNK;

        rc = store_put_write(w, p + off, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ut_put_local(store_t *s, const char *key, const void *data, size_t len, store_stat_t *out)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    int rc;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = (int64_t)len;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    rc = put_chunks(w, data, len);
    if (rc < 0) {
        store_put_abort(w);
        return rc;
    }
    return store_put_finish(w, out);
}

int ut_put_replica(store_t *s, const char *key, const void *data, size_t len, store_version_t v,
                   store_stat_t *out)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    uint8_t h[16];
    int rc;

    blobfile_hash(data, len, h);
    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)len;
    po.po_version = v;
    po.po_hash = h;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    rc = put_chunks(w, data, len);
    if (rc < 0) {
        store_put_abort(w);
        return rc;
    }
    return store_put_finish(w, out);
}

ssize_t ut_step_copy(const store_step_t *step, void *dst)
{
    if (step->ss_mem != NULL) {
        ck_assert_int_eq(step->ss_fd, -1);
        memcpy(dst, step->ss_mem, (size_t)step->ss_len);
        return (ssize_t)step->ss_len;
    }
    ck_assert_int_ge(step->ss_fd, 0);
    return pread(step->ss_fd, dst, (size_t)step->ss_len, (off_t)step->ss_off);
}

int ut_read_all(store_t *s, const char *key, uint64_t deadline_ms, uint8_t **out, size_t *len,
                store_stat_t *st)
{
    store_read_opts_t ro;
    store_reader_t *r = NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf;
    int rc;

    memset(&ro, 0, sizeof(ro));
    ro.ro_deadline_ms = store_mono_ms() + deadline_ms;
    rc = store_read_open(s, key, strlen(key), &ro, &r, NULL);
    if (rc < 0)
        return rc;
    buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        store_step_t step;
        ssize_t got;

        rc = store_read_next(r, &step);
        if (rc < 0 || step.ss_kind == STORE_STEP_EOF)
            break;
        if (step.ss_kind == STORE_STEP_WAIT) {
            ck_assert_uint_le(store_mono_ms(), ro.ro_deadline_ms + 2000);
            store_read_wait(r, 1000);
            continue;
        }
        ck_assert_int_eq(step.ss_kind, STORE_STEP_DATA);
        ck_assert_uint_gt(step.ss_len, 0);
        while (n + step.ss_len > cap)
            cap *= 2;
        buf = realloc(buf, cap);
        ck_assert_ptr_nonnull(buf);
        got = ut_step_copy(&step, buf + n);
        ck_assert_int_eq(got, (ssize_t)step.ss_len);
        n += (size_t)got;
        store_read_consumed(r, (uint64_t)got);
    }
    if (rc == 0) {
        ck_assert_uint_eq(n, store_read_stat(r)->st_size);
        if (st != NULL)
            *st = *store_read_stat(r);
        *out = buf;
        *len = n;
    } else {
        free(buf);
    }
    store_read_close(r);
    return rc;
}

void ut_assert_content(store_t *s, const char *key, const void *data, size_t len)
{
    uint8_t *got = NULL;
    size_t n = 0;
    int rc = ut_read_all(s, key, 2000, &got, &n, NULL);

    ck_assert_msg(rc == 0, "read %s: %s", key, cairn_strerror(rc));
    ck_assert_uint_eq(n, len);
    ck_assert_msg(len == 0 || memcmp(got, data, len) == 0, "content of %s differs", key);
    free(got);
}

size_t ut_scan_files(const char *dir, uint64_t *ids, size_t max)
{
    char p1[1024], p2[1400], p3[1800];
    struct dirent *e1, *e2, *e3;
    size_t n = 0;
    DIR *d1, *d2, *d3;

    snprintf(p1, sizeof(p1), "%s/blobs", dir);
    d1 = opendir(p1);
    if (d1 == NULL)
        return 0;
    while ((e1 = readdir(d1)) != NULL) {
        if (e1->d_name[0] == '.')
            continue;
        snprintf(p2, sizeof(p2), "%s/%.255s", p1, e1->d_name);
        d2 = opendir(p2);
        if (d2 == NULL)
            continue;
        while ((e2 = readdir(d2)) != NULL) {
            if (e2->d_name[0] == '.')
                continue;
            snprintf(p3, sizeof(p3), "%s/%.255s", p2, e2->d_name);
            d3 = opendir(p3);
            if (d3 == NULL)
                continue;
            while ((e3 = readdir(d3)) != NULL) {
                uint64_t id;

                if (blobfile_parse_name(e3->d_name, &id) == 0) {
                    if (n < max)
                        ids[n] = id;
                    n++;
                }
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
    return n;
}

int ut_file_exists(const char *dir, uint64_t fid)
{
    char blobs[1024], path[2048];

    snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
    blobfile_path(blobs, fid, path, sizeof(path));
    return access(path, F_OK) == 0;
}
