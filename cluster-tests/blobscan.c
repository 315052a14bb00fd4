/*
 * blobscan.c -- blob directory walk and header judgement (see blobscan.h).
 */
#include "cluster-tests/blobscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define F_COMPLETE 0x2u

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int blobscan_header_whole(const unsigned char *hdr, uint64_t id, uint64_t file_len, uint64_t *size,
                          char *hash_hex)
{
    static const char digits[] = "0123456789abcdef";

    if (memcmp(hdr, "CAIRNBLB", 8) != 0)
        return 0;
    if (get_le(hdr + 56, 8) != XXH3_64bits(hdr, 56))
        return 0;
    if (get_le(hdr + 8, 4) != 1 || get_le(hdr + 12, 4) != F_COMPLETE)
        return 0;
    if (get_le(hdr + 16, 8) != id)
        return 0;
    *size = get_le(hdr + 24, 8);
    if (file_len != BLOBSCAN_HEADER + *size)
        return 0;
    for (int i = 0; i < 16; i++) {
        hash_hex[2 * i] = digits[hdr[32 + i] >> 4];
        hash_hex[2 * i + 1] = digits[hdr[32 + i] & 15];
    }
    hash_hex[32] = '\0';
    return 1;
}

/* "0123456789abcdef.blob" -> id; 0 or -EINVAL. */
static int parse_name(const char *name, uint64_t *id)
{
    uint64_t v = 0;

    if (strlen(name) != 21 || strcmp(name + 16, ".blob") != 0)
        return -EINVAL;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -EINVAL;
        v = (v << 4) | (uint64_t)d;
    }
    *id = v;
    return 0;
}

typedef struct idvec {
    uint64_t *iv_v;
    size_t iv_n, iv_cap;
} idvec_t;

static int idvec_add(idvec_t *v, uint64_t id)
{
    if (v->iv_n == v->iv_cap) {
        size_t cap = v->iv_cap ? v->iv_cap * 2 : 64;
        uint64_t *p = realloc(v->iv_v, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        v->iv_v = p;
        v->iv_cap = cap;
    }
    v->iv_v[v->iv_n++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

typedef struct scanstate {
    hscan_t *ss_out;
    idvec_t ss_ids, ss_left;
    blobfile_info_t *ss_whole;
    size_t ss_nwhole, ss_capwhole;
    int ss_want_whole;
} scanstate_t;

/* Examines one file; a file that vanished meanwhile is skipped. */
static int scan_file(scanstate_t *s, const char *path, uint64_t id)
{
    unsigned char hdr[BLOBSCAN_HEADER];
    struct stat st;
    uint64_t size = 0;
    char hash[33];
    int fd, whole = 0, rc;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    n = pread(fd, hdr, sizeof(hdr), 0);
    close(fd);
    if (n == (ssize_t)sizeof(hdr))
        whole = blobscan_header_whole(hdr, id, (uint64_t)st.st_size, &size, hash);
    s->ss_out->hs_files++;
    s->ss_out->hs_bytes += (uint64_t)st.st_size;
    if (id > s->ss_out->hs_max_id)
        s->ss_out->hs_max_id = id;
    rc = idvec_add(&s->ss_ids, id);
    if (rc == 0 && !whole)
        rc = idvec_add(&s->ss_left, id);
    if (rc == 0 && whole && s->ss_want_whole) {
        if (s->ss_nwhole == s->ss_capwhole) {
            size_t cap = s->ss_capwhole ? s->ss_capwhole * 2 : 32;
            blobfile_info_t *p = realloc(s->ss_whole, cap * sizeof(*p));
            if (p == NULL)
                return -ENOMEM;
            s->ss_whole = p;
            s->ss_capwhole = cap;
        }
        blobfile_info_t *bi = &s->ss_whole[s->ss_nwhole++];
        bi->bi_id = id;
        bi->bi_size = size;
        memcpy(bi->bi_hash, hash, sizeof(hash));
        snprintf(bi->bi_path, sizeof(bi->bi_path), "%s", path);
    }
    return rc;
}

/* Recursive walk, depth-limited (blobs/xx/yy/file). */
static int walk(scanstate_t *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    int rc = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint64_t id;
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        if (depth < 2) {
            rc = walk(s, path, depth + 1);
            continue;
        }
        if (parse_name(e->d_name, &id) < 0)
            continue; /* temp or foreign files are not blob files */
        rc = scan_file(s, path, id);
    }
    closedir(d);
    return rc;
}

int blobscan_dir(const char *data_dir, hscan_t *out, blobfile_info_t **whole, size_t *nwhole)
{
    scanstate_t s;
    char blobs[1024];
    int rc;

    memset(&s, 0, sizeof(s));
    memset(out, 0, sizeof(*out));
    s.ss_out = out;
    s.ss_want_whole = whole != NULL;
    snprintf(blobs, sizeof(blobs), "%s/blobs", data_dir);
    rc = walk(&s, blobs, 0);
    if (rc < 0) {
        free(s.ss_ids.iv_v);
        free(s.ss_left.iv_v);
        free(s.ss_whole);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    if (s.ss_ids.iv_n > 0)
        qsort(s.ss_ids.iv_v, s.ss_ids.iv_n, sizeof(uint64_t), cmp_u64);
    if (s.ss_left.iv_n > 0)
        qsort(s.ss_left.iv_v, s.ss_left.iv_n, sizeof(uint64_t), cmp_u64);
    out->hs_ids = s.ss_ids.iv_v;
    out->hs_nids = s.ss_ids.iv_n;
    out->hs_left_ids = s.ss_left.iv_v;
    out->hs_nleft = s.ss_left.iv_n;
    if (whole != NULL) {
        *whole = s.ss_whole;
        *nwhole = s.ss_nwhole;
    }
    return 0;
}
