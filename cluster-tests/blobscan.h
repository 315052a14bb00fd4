/*
 * blobscan.h -- walks a node's DATA/blobs and judges each file by its header
 * alone, independently of the node's code: a file is whole when its 64-byte
 * header has the magic, a valid checksum, format 1, flags exactly COMPLETE,
 * the id of its name, and its length is exactly 64 + the header's size.
 * Anything else is a leftover.
 */
#ifndef CAIRN_HARNESS_BLOBSCAN_H
#define CAIRN_HARNESS_BLOBSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "cluster-tests/history.h"

#define BLOBSCAN_HEADER 64

/* One whole file (for damage scenarios). */
typedef struct blobfile_info {
    uint64_t bi_id;
    uint64_t bi_size; /* content bytes */
    char bi_hash[33]; /* content hash from the header (hex) */
    char bi_path[1024];
} blobfile_info_t;

/*
 * Scans data_dir/blobs into *out (hs_t_ms, hs_node and hs_when are left for
 * the caller). The id arrays are malloc'ed (ascending) and owned by *out.
 * If whole/nwhole are not NULL, *whole receives a malloc'ed array of the
 * whole files (caller frees). A missing blobs directory is an empty scan.
 * 0 or -errno / -ENOMEM.
 */
int blobscan_dir(const char *data_dir, hscan_t *out, blobfile_info_t **whole, size_t *nwhole);

/* Checks one header (64 bytes) for file id and length; fills size/hash.
 * Returns 1 when whole, 0 otherwise. Exposed for tests. */
int blobscan_header_whole(const unsigned char *hdr, uint64_t id, uint64_t file_len, uint64_t *size,
                          char *hash_hex);

#endif
