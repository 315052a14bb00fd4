/*
 * record.h -- the msgpack form of records, file entries and metadata.
 *
 * Record (LMDB `records`, key = key_encode(key)): a msgpack map
 *   "k": bin   full key (1..1024)
 *   "v": uint  version HLC
 *   "o": uint  origin node id (1..65535)
 *   "s": uint  state (store_state_t)
 *   "f": uint  file id (0 for tombstones)
 *   "z": uint  size
 *   "h": bin16 content hash
 *   "t": str   content type (optional, <= 255)
 *   "p": uint  previous complete file id kept while receiving (optional)
 *   "i": uint  1 = inline: the content is in LMDB `inline` under the same
 *              key (optional; only with state complete, file id 0, no "p",
 *              size <= STORE_INLINE_LIMIT). Absent or 0: file-backed.
 *   "d": uint  1 = damaged: this complete version's local copy (file, or
 *              inline bytes) failed its hash (store_report_damaged); never
 *              served, waiting for a same-version repair (optional; only
 *              with state complete). Absent or 0: not known damaged.
 * Unknown map keys are ignored (forward compatibility); every known field is
 * type and bound checked. The inline flag travels in r_st.st_inline, the
 * damaged flag in r_st.st_damaged.
 */
#ifndef CAIRN_RECORD_H
#define CAIRN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

typedef struct record {
    store_stat_t r_st;    /* key, version, state, file id, size, hash, ctype, inline */
    uint64_t r_prev_file; /* 0 when none */
} record_t;

#define RECORD_ENC_MAX (STORE_KEY_MAX + STORE_CTYPE_MAX + 128)

/* Encodes into out (cap >= RECORD_ENC_MAX); returns the length or CAIRN_EINVAL. */
int record_encode(const record_t *r, uint8_t *out, size_t cap);
/* Decodes and validates; CAIRN_ECORRUPT for anything malformed. */
int record_decode(const void *data, size_t len, record_t *r);

/*
 * File entry (LMDB `files`, key = 8-byte big-endian file id): which record
 * references the file. Value: msgpack map {"e": bin encoded key, "v": uint
 * version, "o": uint origin}.
 */
int fileent_encode(const uint8_t *enc_key, size_t enc_len, const store_version_t *v, uint8_t *out,
                   size_t cap);
int fileent_decode(const void *data, size_t len, uint8_t *enc_key, size_t *enc_len,
                   store_version_t *v);

/* 8-byte big-endian integer keys (file ids, sequence numbers). */
void u64_to_be(uint64_t v, uint8_t out[8]);
uint64_t u64_from_be(const uint8_t in[8]);

#endif
