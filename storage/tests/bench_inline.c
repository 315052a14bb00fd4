/*
 * bench_inline.c -- measures what inline blobs buy (not a test: built as
 * storage_bench_inline, never registered with ctest).
 *
 * For each blob size and each mode (file-backed: so_inline_disable; inline:
 * so_inline_max = STORE_INLINE_LIMIT so every measured size goes inline) a
 * fresh store is opened in a temp directory under -d, W writer threads put
 * N blobs each through the store API (new keys, or -k K keys per writer
 * overwritten round-robin), then the same threads read their keys back
 * through the reader state machine. Printed per cell: PUT ops/s and MiB/s,
 * PUT latency p50/p99, commits per LMDB transaction, GET ops/s, and the
 * disk used (LMDB file + blob files).
 *
 *   storage_bench_inline [-d DIR] [-w WRITERS] [-n PUTS_PER_WRITER]
 *                        [-k KEYS_PER_WRITER] [-s SIZE,SIZE,...] [-r ROUNDS]
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "storage/store.h"

#define BENCH_MAX_WRITERS 256
#define BENCH_MAX_SIZES 16
#define BENCH_CHUNK (64 * 1024)

typedef struct bench_cfg {
    const char *bc_dir;
    int bc_writers;
    int bc_puts;
    int bc_keys; /* 0: every put a new key */
    int bc_rounds;
    size_t bc_sizes[BENCH_MAX_SIZES];
    int bc_nsizes;
} bench_cfg_t;

typedef struct bench_thread {
    store_t *bt_s;
    const bench_cfg_t *bt_cfg;
    int bt_id;
    size_t bt_size;
    uint64_t *bt_lat_us; /* one per put */
    int bt_errors;
    uint64_t bt_read_bytes;
} bench_thread_t;

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static uint64_t du_total;

static int du_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (uint64_t)sb->st_blocks * 512u;
    return 0;
}

/* Disk blocks used under path (bytes). */
static uint64_t disk_used(const char *path)
{
    du_total = 0;
    nftw(path, du_cb, 16, FTW_PHYS);
    return du_total;
}

static void key_of(char *out, size_t cap, const bench_thread_t *t, int i)
{
    int k = t->bt_cfg->bc_keys > 0 ? i % t->bt_cfg->bc_keys : i;

    snprintf(out, cap, "b/%03d/%08d", t->bt_id, k);
}

/* One whole local put of size bytes (size known up front, like an HTTP PUT
 * with Content-Length). */
static int put_one(store_t *s, const char *key, const uint8_t *data, size_t size)
{
    store_put_opts_t po;
    store_writer_t *w = NULL;
    int rc;

    memset(&po, 0, sizeof(po));
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = (int64_t)size;
    rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    for (size_t off = 0; off < size; off += BENCH_CHUNK) {
        size_t n = size - off < BENCH_CHUNK ? size - off : BENCH_CHUNK;

        rc = store_put_write(w, data + off, n);
        if (rc < 0) {
            store_put_abort(w);
            return rc;
        }
    }
    return store_put_finish(w, NULL);
}

static void *put_main(void *arg)
{
    bench_thread_t *t = arg;
    uint8_t *data = malloc(t->bt_size ? t->bt_size : 1);
    char key[64];

    if (data == NULL) {
        t->bt_errors++;
        return NULL;
    }
    for (size_t i = 0; i < t->bt_size; i++)
        data[i] = (uint8_t)(i * 131u + (unsigned)t->bt_id);
    for (int i = 0; i < t->bt_cfg->bc_puts; i++) {
        uint64_t t0 = now_us();

        key_of(key, sizeof(key), t, i);
        data[0] = (uint8_t)i;
        if (put_one(t->bt_s, key, data, t->bt_size) < 0)
            t->bt_errors++;
        t->bt_lat_us[i] = now_us() - t0;
    }
    free(data);
    return NULL;
}

/* Reads every key this thread wrote once, copying the bytes out. */
static void *get_main(void *arg)
{
    bench_thread_t *t = arg;
    int nkeys = t->bt_cfg->bc_keys > 0 && t->bt_cfg->bc_keys < t->bt_cfg->bc_puts
                    ? t->bt_cfg->bc_keys
                    : t->bt_cfg->bc_puts;
    uint8_t *buf = malloc(t->bt_size ? t->bt_size : 1);
    char key[64];

    for (int i = 0; buf != NULL && i < nkeys; i++) {
        store_reader_t *r = NULL;
        store_step_t step;
        int rc;

        key_of(key, sizeof(key), t, i);
        rc = store_read_open(t->bt_s, key, strlen(key), NULL, &r, NULL);
        while (rc == 0) {
            rc = store_read_next(r, &step);
            if (rc < 0 || step.ss_kind == STORE_STEP_EOF)
                break;
            if (step.ss_kind == STORE_STEP_WAIT) {
                store_read_wait(r, 100);
                continue;
            }
            if (step.ss_len > t->bt_size) {
                rc = CAIRN_EINVAL;
                break;
            }
            if (step.ss_mem != NULL)
                memcpy(buf, step.ss_mem, (size_t)step.ss_len);
            else if (pread(step.ss_fd, buf, (size_t)step.ss_len, (off_t)step.ss_off) !=
                     (ssize_t)step.ss_len)
                rc = -EIO;
            if (rc < 0)
                break;
            t->bt_read_bytes += step.ss_len;
            store_read_consumed(r, step.ss_len);
        }
        if (rc < 0)
            t->bt_errors++;
        store_read_close(r);
    }
    free(buf);
    return NULL;
}

/* Runs one (size, mode) cell and prints its line. */
static int run_cell(const bench_cfg_t *c, size_t size, int inl)
{
    char path[1024], meta[1100];
    bench_thread_t th[BENCH_MAX_WRITERS];
    pthread_t tid[BENCH_MAX_WRITERS];
    store_opts_t o;
    store_stats_t s0, s1;
    store_t *s = NULL;
    uint64_t *lat, t0, put_us, get_us, disk_meta, disk_all;
    size_t nlat = (size_t)c->bc_writers * (size_t)c->bc_puts;
    int errors = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/cairn-bench-inline-XXXXXX", c->bc_dir);
    if (mkdtemp(path) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        return -1;
    }
    memset(&o, 0, sizeof(o));
    o.so_dir = path;
    o.so_node_id = 1;
    o.so_inline_disable = !inl;
    o.so_inline_max = STORE_INLINE_LIMIT;
    rc = store_open(&o, &s);
    if (rc < 0) {
        fprintf(stderr, "store_open: %s\n", cairn_strerror(rc));
        return -1;
    }
    lat = calloc(nlat, sizeof(*lat));
    if (lat == NULL)
        return -1;
    (void)put_one(s, "warm", (const uint8_t *)"w", 1);
    store_get_stats(s, &s0);

    t0 = now_us();
    for (int i = 0; i < c->bc_writers; i++) {
        th[i] = (bench_thread_t){s, c, i, size, lat + (size_t)i * (size_t)c->bc_puts, 0, 0};
        pthread_create(&tid[i], NULL, put_main, &th[i]);
    }
    for (int i = 0; i < c->bc_writers; i++)
        pthread_join(tid[i], NULL);
    put_us = now_us() - t0;
    store_get_stats(s, &s1);

    t0 = now_us();
    for (int i = 0; i < c->bc_writers; i++)
        pthread_create(&tid[i], NULL, get_main, &th[i]);
    for (int i = 0; i < c->bc_writers; i++)
        pthread_join(tid[i], NULL);
    get_us = now_us() - t0;
    for (int i = 0; i < c->bc_writers; i++)
        errors += th[i].bt_errors;

    store_close(s);
    snprintf(meta, sizeof(meta), "%s/meta", path);
    disk_meta = disk_used(meta);
    disk_all = disk_used(path);
    qsort(lat, nlat, sizeof(*lat), cmp_u64);
    {
        double secs = (double)put_us / 1e6;
        double ops = (double)nlat / secs;
        double txns = (double)(s1.ss_commit_txns - s0.ss_commit_txns);
        int nkeys = c->bc_keys > 0 && c->bc_keys < c->bc_puts ? c->bc_keys : c->bc_puts;
        double gets = (double)c->bc_writers * nkeys / ((double)get_us / 1e6);

        printf("%8zu %-6s %9.0f %8.1f %8.2f %8.2f %6.1f %9.0f %9.1f %9.1f %d\n", size,
               inl ? "inline" : "file", ops, ops * (double)size / (1024.0 * 1024.0),
               (double)lat[nlat / 2] / 1000.0, (double)lat[nlat * 99 / 100] / 1000.0,
               txns > 0 ? (double)nlat / txns : 0.0, gets, (double)disk_meta / (1024.0 * 1024.0),
               (double)(disk_all - disk_meta) / (1024.0 * 1024.0), errors);
        fflush(stdout);
    }
    free(lat);
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return errors ? -1 : 0;
}

static int parse_sizes(bench_cfg_t *c, char *arg)
{
    char *save = NULL;

    c->bc_nsizes = 0;
    for (char *tok = strtok_r(arg, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long long v = strtoull(tok, &end, 10);

        if (*end == 'K' || *end == 'k')
            v *= 1024, end++;
        if (*end != '\0' || v > STORE_INLINE_LIMIT || c->bc_nsizes == BENCH_MAX_SIZES)
            return -1;
        c->bc_sizes[c->bc_nsizes++] = (size_t)v;
    }
    return c->bc_nsizes > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench_cfg_t c = {"/tmp", 16, 200, 0, 1, {1024, 4096, 16384, 65536, 262144}, 5};
    int opt, rc = 0;

    while ((opt = getopt(argc, argv, "d:w:n:k:s:r:")) != -1) {
        switch (opt) {
        case 'd':
            c.bc_dir = optarg;
            break;
        case 'w':
            c.bc_writers = atoi(optarg);
            break;
        case 'n':
            c.bc_puts = atoi(optarg);
            break;
        case 'k':
            c.bc_keys = atoi(optarg);
            break;
        case 'r':
            c.bc_rounds = atoi(optarg);
            break;
        case 's':
            if (parse_sizes(&c, optarg) < 0) {
                fprintf(stderr, "bad -s (sizes up to %" PRIu64 ")\n", STORE_INLINE_LIMIT);
                return 2;
            }
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-d DIR] [-w WRITERS] [-n PUTS_PER_WRITER] "
                    "[-k KEYS_PER_WRITER] [-s SIZE,...] [-r ROUNDS]\n",
                    argv[0]);
            return 2;
        }
    }
    if (c.bc_writers < 1 || c.bc_writers > BENCH_MAX_WRITERS || c.bc_puts < 1 || c.bc_rounds < 1)
        return 2;
    printf("writers=%d puts/writer=%d keys/writer=%s rounds=%d dir=%s\n", c.bc_writers, c.bc_puts,
           c.bc_keys > 0 ? "overwrite" : "new", c.bc_rounds, c.bc_dir);
    printf("%8s %-6s %9s %8s %8s %8s %6s %9s %9s %9s %s\n", "size", "mode", "put/s", "MiB/s",
           "p50ms", "p99ms", "c/txn", "get/s", "lmdbMiB", "filesMiB", "err");
    for (int r = 0; r < c.bc_rounds; r++) {
        for (int i = 0; i < c.bc_nsizes; i++) {
            if (run_cell(&c, c.bc_sizes[i], 0) < 0)
                rc = 1;
            if (run_cell(&c, c.bc_sizes[i], 1) < 0)
                rc = 1;
        }
    }
    return rc;
}
