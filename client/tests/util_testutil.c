/*
 * util_testutil.c -- see testutil.h.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakehttp.h"
#include "testutil.h"

cairn_client *tu_client(const char *urls)
{
    cairn_client *c = NULL;

    ck_assert_int_eq(cairn_client_new(&c), 0);
    ck_assert_int_eq(cairn_client_add_nodes(c, urls), 0);
    ck_assert_int_eq(cairn_client_set_timeouts(c, 2000, 1, 1), 0);
    return c;
}

/* splitmix64 of (seed, i / 8), one byte of it: cheap and position-addressable. */
unsigned char tu_byte(uint64_t seed, uint64_t i)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) + 1;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (unsigned char)(z >> ((i & 7) * 8));
}

void tu_gen_fill(uint64_t seed, char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tu_byte(seed, i);
}

ssize_t tu_gen_read(void *arg, char *buf, size_t len)
{
    tu_gen *g = arg;
    uint64_t left = g->g_size - g->g_pos;

    g->g_reads++;
    if (g->g_fail_at_read > 0 && g->g_reads == (unsigned)g->g_fail_at_read)
        return -EIO;
    if (len > left)
        len = (size_t)left;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tu_byte(g->g_seed, g->g_pos + i);
    g->g_pos += len;
    return (ssize_t)len;
}

int tu_gen_rewind(void *arg)
{
    ((tu_gen *)arg)->g_pos = 0;
    return 0;
}

uint64_t tu_gen_hash(uint64_t seed, uint64_t n)
{
    uint64_t h = FH_HASH_INIT;
    char buf[4096];

    for (uint64_t off = 0; off < n;) {
        size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);

        for (size_t i = 0; i < k; i++)
            buf[i] = (char)tu_byte(seed, off + i);
        h = fh_hash(h, buf, k);
        off += k;
    }
    return h;
}

void tu_sink_init(tu_sink *s)
{
    memset(s, 0, sizeof(*s));
    s->s_hash = FH_HASH_INIT;
}

int tu_sink_write(void *arg, const char *buf, size_t len)
{
    tu_sink *s = arg;

    s->s_calls++;
    if (s->s_fail_rc != 0)
        return s->s_fail_rc;
    s->s_hash = fh_hash(s->s_hash, buf, len);
    s->s_len += len;
    if (len > s->s_max_chunk)
        s->s_max_chunk = len;
    return 0;
}

int tu_temp_file(uint64_t seed, size_t len)
{
    char path[] = "/tmp/cairn-client-test-XXXXXX";
    char *buf = malloc(len ? len : 1);
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(buf);
    unlink(path);
    tu_gen_fill(seed, buf, len);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    free(buf);
    return fd;
}
