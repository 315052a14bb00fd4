/*
 * blobfile.h -- one file per blob version.
 *
 * Path: BLOBS/xx/yy/<16 lowercase hex digits of the file id>.blob where
 * xx = (id >> 20) & 0xff and yy = (id >> 12) & 0xff, so consecutive ids
 * share a directory (batched directory fsyncs) and no directory holds more
 * than 4096 files per 2^28 ids.
 *
 * Layout: a 64-byte header, then the content.
 *   off  size  field
 *     0     8  magic "CAIRNBLB"
 *     8     4  format version (1), little-endian
 *    12     4  flags: WRITING 0x1, COMPLETE 0x2
 *    16     8  file id
 *    24     8  final size (expected size while WRITING; UINT64_MAX unknown)
 *    32    16  XXH3-128 of the content (canonical big-endian; zero while WRITING)
 *    48     8  reserved (zero)
 *    56     8  XXH3-64 of bytes 0..55 (header checksum), little-endian
 * A file is whole only if the checksum is valid, COMPLETE is set, the id
 * matches its name and its length is exactly 64 + size.
 */
#ifndef CAIRN_BLOBFILE_H
#define CAIRN_BLOBFILE_H

#include <stddef.h>
#include <stdint.h>

#define BLOBFILE_MAGIC "CAIRNBLB"
#define BLOBFILE_FORMAT 1
#define BLOBFILE_HEADER_SIZE 64
#define BLOBFILE_F_WRITING 0x1u
#define BLOBFILE_F_COMPLETE 0x2u
#define BLOBFILE_SIZE_UNKNOWN UINT64_MAX
#define BLOBFILE_PATH_MAX 4096

typedef struct blobfile_hdr {
    uint32_t bh_format;
    uint32_t bh_flags;
    uint64_t bh_file_id;
    uint64_t bh_size;
    uint8_t bh_hash[16];
} blobfile_hdr_t;

typedef enum {
    BLOBFILE_WHOLE = 0,      /* valid, COMPLETE, length matches */
    BLOBFILE_INCOMPLETE = 1, /* valid header without COMPLETE (being written or a leftover) */
    BLOBFILE_DAMAGED = 2,    /* bad magic/checksum/id, or length differs from the header */
    BLOBFILE_MISSING = 3,    /* no such file */
} blobfile_state_t;

void blobfile_hdr_encode(const blobfile_hdr_t *h, uint8_t out[BLOBFILE_HEADER_SIZE]);
/* CAIRN_ECORRUPT on bad magic, unknown format, bad checksum or unknown flags. */
int blobfile_hdr_decode(const uint8_t in[BLOBFILE_HEADER_SIZE], blobfile_hdr_t *h);

/* Writes "BLOBS/xx/yy/<hex>.blob" (and "BLOBS/xx/yy" for the dir) into out. */
void blobfile_path(const char *blobs, uint64_t file_id, char *out, size_t cap);
void blobfile_dir(const char *blobs, uint64_t file_id, char *out, size_t cap);
/* Parses "<16 hex>.blob" (a bare name); CAIRN_EINVAL otherwise. */
int blobfile_parse_name(const char *name, uint64_t *file_id);

/*
 * Creates the file with O_EXCL (creating its directories), writes a WRITING
 * header with expected_size (BLOBFILE_SIZE_UNKNOWN allowed) and returns the
 * open fd in *fd (positioned for content at offset 64). -EEXIST if the file
 * exists (never reused). *new_dir is set when a directory had to be made.
 */
int blobfile_create(const char *blobs, uint64_t file_id, uint64_t expected_size, int *fd,
                    int *new_dir);

/*
 * Durability order for a file whose content is written: fdatasync, failpoint
 * store.write.synced, header rewritten COMPLETE with size and hash,
 * fdatasync, failpoint store.write.finalized. On failure the file must be
 * treated as lost (never retried).
 */
int blobfile_finalize(int fd, uint64_t file_id, uint64_t size, const uint8_t hash[16]);

/*
 * Opens the file read-only and classifies it. For BLOBFILE_WHOLE and
 * BLOBFILE_INCOMPLETE the fd is returned in *fd (else -1) and the header in
 * *h. expect_size/expect_hash (may be UINT64_MAX/NULL) must match a WHOLE
 * file's header, otherwise it is DAMAGED. Returns the state (>= 0) or -errno
 * for an I/O error other than ENOENT.
 */
int blobfile_open(const char *blobs, uint64_t file_id, uint64_t expect_size,
                  const uint8_t *expect_hash, int *fd, blobfile_hdr_t *h);

/* The classification of blobfile_open() for an already open descriptor
 * (e.g. a file followed while written, possibly unlinked since): WHOLE,
 * INCOMPLETE or DAMAGED, or -errno. Borrows fd; *h is filled whenever the
 * header decodes. */
int blobfile_classify_fd(int fd, uint64_t file_id, uint64_t expect_size, const uint8_t *expect_hash,
                         blobfile_hdr_t *h);

/* Re-reads the whole content of an open WHOLE file and checks it against
 * its header hash: 0 or CAIRN_ECORRUPT (or -errno). */
int blobfile_verify_content(int fd, const blobfile_hdr_t *h);

/* Unlinks the file; ENOENT is success. */
int blobfile_remove(const char *blobs, uint64_t file_id);

/* XXH3-128 of data in canonical (big-endian) byte order. */
void blobfile_hash(const void *data, size_t len, uint8_t out[16]);

#endif
