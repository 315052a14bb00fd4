/*
 * testutil.h -- helpers shared by libcairn's tests: a client with short
 * timeouts, a deterministic pseudo-random upload source, a hashing sink.
 */
#ifndef CAIRN_TEST_TESTUTIL_H
#define CAIRN_TEST_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cairn.h"

/* A client for urls (comma separated) with a 2 s connect timeout and a 1 s
 * stall timeout. Aborts the test on failure. */
cairn_client *tu_client(const char *urls);

/* Deterministic byte stream: byte i of stream `seed` is tu_byte(seed, i). */
typedef struct tu_gen {
    uint64_t g_seed;
    uint64_t g_size; /* bytes produced before EOF */
    uint64_t g_pos;
    unsigned g_reads;
    int g_fail_at_read; /* > 0: that read returns -EIO */
} tu_gen;

unsigned char tu_byte(uint64_t seed, uint64_t i);
ssize_t tu_gen_read(void *arg, char *buf, size_t len);
int tu_gen_rewind(void *arg);
/* FNV-1a 64 of the first n bytes of stream seed (as fakehttp hashes). */
uint64_t tu_gen_hash(uint64_t seed, uint64_t n);
/* Fills buf with the first len bytes of stream seed. */
void tu_gen_fill(uint64_t seed, char *buf, size_t len);

/* Download sink: hashes, counts and records the largest chunk. */
typedef struct tu_sink {
    uint64_t s_hash;
    uint64_t s_len;
    size_t s_max_chunk;
    unsigned s_calls;
    int s_fail_rc; /* != 0: returned on the first call */
} tu_sink;

void tu_sink_init(tu_sink *s);
int tu_sink_write(void *arg, const char *buf, size_t len);

/* Creates a temp file holding the first len bytes of stream seed; returns
 * an fd open O_RDWR at offset 0 (the file is already unlinked). */
int tu_temp_file(uint64_t seed, size_t len);

#endif
