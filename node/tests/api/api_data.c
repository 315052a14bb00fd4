/*
 * api_data.c -- content generation, hashing and file-system helpers.
 */
#include "api_data.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void api_gen_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    uint64_t sk = splitmix(seed ^ 0x5ca1ab1e0ddba11ULL);

    /* Leading partial word, whole words, trailing partial word. */
    while (len > 0 && (off % 8) != 0) {
        uint64_t v = splitmix(sk ^ (off / 8));
        *p++ = (uint8_t)(v >> (8 * (off % 8)));
        off++;
        len--;
    }
    while (len >= 8) {
        uint64_t v = splitmix(sk ^ (off / 8));
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(v >> (8 * i));
        p += 8;
        off += 8;
        len -= 8;
    }
    while (len > 0) {
        uint64_t v = splitmix(sk ^ (off / 8));
        *p++ = (uint8_t)(v >> (8 * (off % 8)));
        off++;
        len--;
    }
}

uint8_t *api_gen_alloc(uint64_t seed, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);

    ck_assert_msg(p != NULL, "malloc(%zu) failed", len);
    api_gen_fill(seed, 0, p, len);
    return p;
}

static void hex16(const XXH128_hash_t *h, char out[API_HASH_HEX])
{
    XXH128_canonical_t c;
    static const char digits[] = "0123456789abcdef";

    XXH128_canonicalFromHash(&c, *h);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[c.digest[i] >> 4];
        out[2 * i + 1] = digits[c.digest[i] & 0xf];
    }
    out[32] = '\0';
}

void api_hash_hex(const void *data, size_t len, char out[API_HASH_HEX])
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    hex16(&h, out);
}

void api_hasher_init(api_hasher_t *h)
{
    h->ah_state = XXH3_createState();
    ck_assert_ptr_nonnull(h->ah_state);
    XXH3_128bits_reset(h->ah_state);
}

void api_hasher_update(api_hasher_t *h, const void *data, size_t len)
{
    if (len > 0)
        XXH3_128bits_update(h->ah_state, data, len);
}

void api_hasher_final(api_hasher_t *h, char out[API_HASH_HEX])
{
    XXH128_hash_t d = XXH3_128bits_digest(h->ah_state);
    hex16(&d, out);
    XXH3_freeState(h->ah_state);
    h->ah_state = NULL;
}

void api_hash_gen_hex(uint64_t seed, uint64_t size, char out[API_HASH_HEX])
{
    enum { PIECE = 1 << 20 };
    uint8_t *buf = malloc(PIECE);
    api_hasher_t h;

    ck_assert_ptr_nonnull(buf);
    api_hasher_init(&h);
    for (uint64_t off = 0; off < size; off += PIECE) {
        size_t n = size - off < PIECE ? (size_t)(size - off) : PIECE;
        api_gen_fill(seed, off, buf, n);
        api_hasher_update(&h, buf, n);
    }
    api_hasher_final(&h, out);
    free(buf);
}

char *api_pct_encode(const char *raw, size_t len, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = malloc(3 * len + 1);
    size_t o = 0;

    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash);
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 0xf];
        }
    }
    out[o] = '\0';
    return out;
}

/* nftw() has no user argument: the walk's state lives here. */
static size_t g_blob_count;
static char **g_blob_paths;
static size_t g_blob_max;

static int count_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    (void)sb;
    (void)ftw;
    if (flag == FTW_F && n > 5 && strcmp(path + n - 5, ".blob") == 0) {
        if (g_blob_count < g_blob_max) {
            g_blob_paths[g_blob_count] = strdup(path);
            ck_assert_ptr_nonnull(g_blob_paths[g_blob_count]);
        }
        g_blob_count++;
    }
    return 0;
}

size_t api_list_blob_files(const char *data_dir, char **paths, size_t max)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/blobs", data_dir);
    g_blob_count = 0;
    g_blob_paths = paths;
    g_blob_max = paths != NULL ? max : 0;
    nftw(path, count_cb, 32, FTW_PHYS);
    return g_blob_count;
}

size_t api_count_blob_files(const char *data_dir)
{
    return api_list_blob_files(data_dir, NULL, 0);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void api_rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

uint64_t api_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void api_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0)
        ;
}
