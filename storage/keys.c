/*
 * keys.c -- key validation (strict UTF-8) and the LMDB key encoding.
 */
#include "storage/keys.h"

#include <string.h>
#include <xxhash.h>

#include "common/error.h"

/*
 * Strict UTF-8 (RFC 3629): every sequence uses its shortest form, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence and no stray continuation byte. The second byte's allowed range
 * depends on the lead byte; that is where overlongs, surrogates and
 * too-large code points are caught (Unicode table 3-7).
 */
int utf8_validate(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;

    while (i < len) {
        uint8_t c = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* below: overlong */
            else if (c == 0xed)
                hi = 0x9f; /* above: surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* below: overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above: > U+10FFFF */
        } else {
            return CAIRN_EINVAL; /* continuation, 0xc0/0xc1 overlong, 0xf5+ */
        }
        if (len - i - 1 < need)
            return CAIRN_EINVAL;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return CAIRN_EINVAL;
        for (size_t k = 2; k <= need; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return CAIRN_EINVAL;
        }
        i += need + 1;
    }
    return 0;
}

int key_validate(const char *key, size_t len)
{
    if (len == 0 || len > KEY_MAX)
        return CAIRN_EINVAL;
    if (memchr(key, '\0', len) != NULL)
        return CAIRN_EINVAL;
    return utf8_validate(key, len);
}

/*
 * Short keys are stored as themselves; long ones as their first 448 bytes,
 * a NUL (which no key contains, so the forms cannot collide) and the
 * canonical XXH3-128 of the whole key. The caller has validated the key.
 */
size_t key_encode(const char *key, size_t len, uint8_t out[KEY_ENC_MAX])
{
    XXH128_canonical_t canon;

    if (len <= KEY_INLINE_MAX) {
        memcpy(out, key, len);
        return len;
    }
    memcpy(out, key, KEY_INLINE_MAX);
    out[KEY_INLINE_MAX] = 0x00;
    XXH128_canonicalFromHash(&canon, XXH3_128bits(key, len));
    memcpy(out + KEY_INLINE_MAX + 1, canon.digest, 16);
    return KEY_ENC_MAX;
}
