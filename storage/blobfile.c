/*
 * blobfile.c -- header format, naming and lifecycle of blob files.
 *
 * All I/O goes through fileio.h. See blobfile.h for the byte layout; the
 * durability order lives in blobfile_finalize().
 */
#include "storage/blobfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "storage/fileio.h"

#define HDR_OFF_FORMAT 8
#define HDR_OFF_FLAGS 12
#define HDR_OFF_ID 16
#define HDR_OFF_SIZE 24
#define HDR_OFF_HASH 32
#define HDR_OFF_RESERVED 48
#define HDR_OFF_CSUM 56

#define VERIFY_CHUNK (1u << 20)

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Serialises h into the 64-byte on-disk header, checksum included. */
void blobfile_hdr_encode(const blobfile_hdr_t *h, uint8_t out[BLOBFILE_HEADER_SIZE])
{
    memset(out, 0, BLOBFILE_HEADER_SIZE);
    memcpy(out, BLOBFILE_MAGIC, 8);
    put_le32(out + HDR_OFF_FORMAT, h->bh_format);
    put_le32(out + HDR_OFF_FLAGS, h->bh_flags);
    put_le64(out + HDR_OFF_ID, h->bh_file_id);
    put_le64(out + HDR_OFF_SIZE, h->bh_size);
    memcpy(out + HDR_OFF_HASH, h->bh_hash, 16);
    put_le64(out + HDR_OFF_CSUM, XXH3_64bits(out, HDR_OFF_CSUM));
}

/*
 * Parses and checks a header read from disk. Valid flags are exactly
 * WRITING or exactly COMPLETE (our writer never produces anything else);
 * the reserved bytes are covered by the checksum but otherwise ignored.
 * Returns 0 or CAIRN_ECORRUPT; *h is only written on success.
 */
int blobfile_hdr_decode(const uint8_t in[BLOBFILE_HEADER_SIZE], blobfile_hdr_t *h)
{
    uint32_t format, flags;

    if (memcmp(in, BLOBFILE_MAGIC, 8) != 0)
        return CAIRN_ECORRUPT;
    if (get_le64(in + HDR_OFF_CSUM) != XXH3_64bits(in, HDR_OFF_CSUM))
        return CAIRN_ECORRUPT;
    format = get_le32(in + HDR_OFF_FORMAT);
    if (format != BLOBFILE_FORMAT)
        return CAIRN_ECORRUPT;
    flags = get_le32(in + HDR_OFF_FLAGS);
    if (flags != BLOBFILE_F_WRITING && flags != BLOBFILE_F_COMPLETE)
        return CAIRN_ECORRUPT;
    h->bh_format = format;
    h->bh_flags = flags;
    h->bh_file_id = get_le64(in + HDR_OFF_ID);
    h->bh_size = get_le64(in + HDR_OFF_SIZE);
    memcpy(h->bh_hash, in + HDR_OFF_HASH, 16);
    return 0;
}

void blobfile_dir(const char *blobs, uint64_t file_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%02x/%02x", blobs, (unsigned)((file_id >> 20) & 0xff),
             (unsigned)((file_id >> 12) & 0xff));
}

void blobfile_path(const char *blobs, uint64_t file_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%02x/%02x/%016" PRIx64 ".blob", blobs,
             (unsigned)((file_id >> 20) & 0xff), (unsigned)((file_id >> 12) & 0xff), file_id);
}

/* Accepts exactly 16 lowercase hex digits followed by ".blob". */
int blobfile_parse_name(const char *name, uint64_t *file_id)
{
    uint64_t v = 0;
    int i;

    if (strlen(name) != 16 + 5 || strcmp(name + 16, ".blob") != 0)
        return CAIRN_EINVAL;
    for (i = 0; i < 16; i++) {
        char c = name[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return CAIRN_EINVAL;
        v = (v << 4) | d;
    }
    *file_id = v;
    return 0;
}

/*
 * Creates a fresh file (O_EXCL: an id is never reused) and writes its
 * WRITING header. The directory is made only when the first open says it
 * is missing, so the common case costs one open. On success the caller owns
 * *fd (offset at 64, content written with pwrite at 64+). On failure *fd is
 * -1 and the file is not left behind (unless it already existed: -EEXIST
 * touches nothing); directories made stay and *new_dir says so.
 */
int blobfile_create(const char *blobs, uint64_t file_id, uint64_t expected_size, int *fd,
                    int *new_dir)
{
    char path[BLOBFILE_PATH_MAX];
    char dir[BLOBFILE_PATH_MAX];
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    blobfile_hdr_t h;
    int flags = O_CREAT | O_EXCL | O_RDWR;
    int f = -1;
    int rc;

    *fd = -1;
    *new_dir = 0;
    blobfile_path(blobs, file_id, path, sizeof(path));
    f = fio_open(path, flags, 0644);
    if (f == -ENOENT) {
        blobfile_dir(blobs, file_id, dir, sizeof(dir));
        rc = fio_mkdirs(dir);
        if (rc < 0)
            return rc;
        *new_dir = 1;
        f = fio_open(path, flags, 0644);
    }
    if (f < 0)
        return f;

    memset(&h, 0, sizeof(h));
    h.bh_format = BLOBFILE_FORMAT;
    h.bh_flags = BLOBFILE_F_WRITING;
    h.bh_file_id = file_id;
    h.bh_size = expected_size;
    blobfile_hdr_encode(&h, raw);
    rc = fio_pwrite_all(f, raw, sizeof(raw), 0);
    if (rc < 0)
        goto fail;
    if (lseek(f, BLOBFILE_HEADER_SIZE, SEEK_SET) < 0) {
        rc = -errno;
        goto fail;
    }
    *fd = f;
    return 0;

fail:
    fio_close(f);
    (void)fio_unlink(path);
    return rc;
}

/*
 * Makes the content durable, then the COMPLETE header, in that order: a
 * crash at any point leaves either a file without COMPLETE (a leftover) or
 * a whole file, never a COMPLETE header over content that was not synced.
 * Borrows fd (not closed). On failure the file must be treated as lost.
 */
int blobfile_finalize(int fd, uint64_t file_id, uint64_t size, const uint8_t hash[16])
{
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    blobfile_hdr_t h;
    int rc;

    rc = fio_fdatasync(fd);
    if (rc < 0)
        return rc;
    rc = FAILPOINT("store.write.synced");
    if (rc < 0)
        return rc;

    memset(&h, 0, sizeof(h));
    h.bh_format = BLOBFILE_FORMAT;
    h.bh_flags = BLOBFILE_F_COMPLETE;
    h.bh_file_id = file_id;
    h.bh_size = size;
    memcpy(h.bh_hash, hash, 16);
    blobfile_hdr_encode(&h, raw);
    rc = fio_pwrite_all(fd, raw, sizeof(raw), 0);
    if (rc < 0)
        return rc;
    rc = fio_fdatasync(fd);
    if (rc < 0)
        return rc;
    return FAILPOINT("store.write.finalized");
}

/*
 * Classifies an open blob file by its header and length (see blobfile.h).
 * Borrows fd. *h is filled whenever the header decodes.
 */
int blobfile_classify_fd(int fd, uint64_t file_id, uint64_t expect_size, const uint8_t *expect_hash,
                         blobfile_hdr_t *h)
{
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    blobfile_hdr_t hdr;
    struct stat st;
    ssize_t n;
    int rc;

    n = fio_pread_full(fd, raw, sizeof(raw), 0);
    if (n < 0)
        return (int)n;
    if ((size_t)n < sizeof(raw) || blobfile_hdr_decode(raw, &hdr) < 0)
        return BLOBFILE_DAMAGED;
    *h = hdr;
    if (hdr.bh_file_id != file_id)
        return BLOBFILE_DAMAGED;
    if (hdr.bh_flags != BLOBFILE_F_COMPLETE)
        return BLOBFILE_INCOMPLETE;
    rc = fio_fstat(fd, &st);
    if (rc < 0)
        return rc;
    if (st.st_size < BLOBFILE_HEADER_SIZE ||
        (uint64_t)st.st_size - BLOBFILE_HEADER_SIZE != hdr.bh_size ||
        (expect_size != UINT64_MAX && expect_size != hdr.bh_size) ||
        (expect_hash != NULL && memcmp(expect_hash, hdr.bh_hash, 16) != 0))
        return BLOBFILE_DAMAGED;
    return BLOBFILE_WHOLE;
}

/*
 * Opens and classifies a blob file. The fd is handed to the caller only for
 * WHOLE and INCOMPLETE (*fd = -1 otherwise); *h is filled whenever the
 * header decoded. An I/O error other than ENOENT returns -errno with
 * nothing left open.
 */
int blobfile_open(const char *blobs, uint64_t file_id, uint64_t expect_size,
                  const uint8_t *expect_hash, int *fd, blobfile_hdr_t *h)
{
    char path[BLOBFILE_PATH_MAX];
    int f;
    int rc;

    *fd = -1;
    blobfile_path(blobs, file_id, path, sizeof(path));
    f = fio_open(path, O_RDONLY, 0);
    if (f == -ENOENT)
        return BLOBFILE_MISSING;
    if (f < 0)
        return f;
    rc = blobfile_classify_fd(f, file_id, expect_size, expect_hash, h);
    if (rc == BLOBFILE_WHOLE || rc == BLOBFILE_INCOMPLETE) {
        *fd = f;
        return rc;
    }
    fio_close(f);
    return rc;
}

/*
 * Streams the content through XXH3-128 in 1 MiB chunks, so memory stays
 * bounded whatever the blob size. Borrows fd. A file shorter than its
 * header says is CAIRN_ECORRUPT.
 */
int blobfile_verify_content(int fd, const blobfile_hdr_t *h)
{
    XXH3_state_t *xs = NULL;
    uint8_t *buf = NULL;
    uint64_t off = 0;
    uint8_t got[16];
    XXH128_canonical_t canon;
    int rc;

    buf = malloc(VERIFY_CHUNK);
    xs = XXH3_createState();
    if (buf == NULL || xs == NULL) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    if (XXH3_128bits_reset(xs) != XXH_OK) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    while (off < h->bh_size) {
        uint64_t left = h->bh_size - off;
        size_t want = left < VERIFY_CHUNK ? (size_t)left : VERIFY_CHUNK;
        ssize_t n = fio_pread_full(fd, buf, want, BLOBFILE_HEADER_SIZE + off);

        if (n < 0) {
            rc = (int)n;
            goto done;
        }
        if ((size_t)n < want) {
            rc = CAIRN_ECORRUPT;
            goto done;
        }
        (void)XXH3_128bits_update(xs, buf, want);
        off += want;
    }
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(xs));
    memcpy(got, canon.digest, 16);
    rc = memcmp(got, h->bh_hash, 16) == 0 ? 0 : CAIRN_ECORRUPT;

done:
    XXH3_freeState(xs);
    free(buf);
    return rc;
}

int blobfile_remove(const char *blobs, uint64_t file_id)
{
    char path[BLOBFILE_PATH_MAX];
    int rc;

    blobfile_path(blobs, file_id, path, sizeof(path));
    rc = fio_unlink(path);
    return rc == -ENOENT ? 0 : rc;
}

void blobfile_hash(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t canon;

    XXH128_canonicalFromHash(&canon, XXH3_128bits(data, len));
    memcpy(out, canon.digest, 16);
}
