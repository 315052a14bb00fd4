/*
 * content.c -- deterministic blob content and XXH3-128 hex (see content.h).
 */
#include "cluster-tests/content.h"

#include <string.h>

#include "cluster-tests/hutil.h"

static uint64_t content_base(uint64_t seed, uint64_t id)
{
    return hu_mix64(seed ^ hu_mix64(id));
}

void content_fill(uint64_t seed, uint64_t id, uint64_t off, void *out, size_t len)
{
    uint64_t base = content_base(seed, id);
    unsigned char *p = out;
    uint64_t word = off / 8;
    unsigned skip = (unsigned)(off % 8);

    while (len > 0) {
        uint64_t w = hu_mix64(base + word);
        unsigned char b[8];
        unsigned n;

        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(w >> (8 * i));
        n = 8 - skip;
        if (n > len)
            n = (unsigned)len;
        memcpy(p, b + skip, n);
        p += n;
        len -= n;
        skip = 0;
        word++;
    }
}

void content_hash_hex(XXH128_hash_t h, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    XXH128_canonical_t c;

    XXH128_canonicalFromHash(&c, h);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[c.digest[i] >> 4];
        hex[2 * i + 1] = digits[c.digest[i] & 15];
    }
    hex[32] = '\0';
}

void content_hash(uint64_t seed, uint64_t id, uint64_t size, char *hex)
{
    unsigned char buf[65536];
    XXH3_state_t *st = XXH3_createState();
    uint64_t off = 0;

    if (st == NULL) {
        /* Out of memory: fall back to the one-shot function on small sizes
         * is not possible for large ones, so mark the hash unusable. */
        hex[0] = '\0';
        return;
    }
    XXH3_128bits_reset(st);
    while (off < size) {
        size_t n = sizeof(buf);
        if (size - off < n)
            n = (size_t)(size - off);
        content_fill(seed, id, off, buf, n);
        XXH3_128bits_update(st, buf, n);
        off += n;
    }
    content_hash_hex(XXH3_128bits_digest(st), hex);
    XXH3_freeState(st);
}

int content_hash_valid(const char *s)
{
    size_t i;

    for (i = 0; i < 32; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return 0;
    }
    return s[32] == '\0';
}
