/*
 * frame.h -- replication frames: 4-byte big-endian length, then one msgpack map.
 *
 * A frame's payload is 1..REPL_FRAME_MAX bytes (before authentication the
 * link lowers the limit to REPL_FRAME_HANDSHAKE_MAX). The payload is one
 * msgpack map whose "t" entry is a short string naming the message type.
 *
 * The parser is incremental: feed it the byte stream in pieces of any size
 * and it hands each complete payload to a callback. Payload bytes borrowed by
 * the callback are valid only for the duration of the call. Any violation
 * (zero length, length above the limit) makes the parser fail permanently:
 * the stream cannot be resynchronized and the connection must be dropped.
 */
#ifndef CAIRN_REPL_FRAME_H
#define CAIRN_REPL_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_FRAME_HDR_LEN 4u
#define REPL_FRAME_MAX (2u * 1024u * 1024u) /* largest payload after auth */
#define REPL_FRAME_HANDSHAKE_MAX 4096u      /* largest payload before auth */
#define REPL_DAT_MAX (256u * 1024u)         /* largest blob chunk in a "dat" frame */
#define REPL_MSG_DEPTH 4                    /* deepest nesting a message may have */
#define REPL_TYPE_MAX 15u                   /* longest "t" value */

/*
 * Called with one complete payload (len >= 1), borrowed for the call.
 * Return 0 to go on, a positive value to stop feeding (the parser keeps its
 * state; the rest of the input is not consumed), or a negative code to stop
 * with that error.
 */
typedef int (*repl_frame_cb)(void *arg, const uint8_t *payload, size_t len);

typedef struct repl_frame_parser {
    uint32_t fp_max; /* largest accepted payload */
    uint8_t fp_hdr[REPL_FRAME_HDR_LEN];
    uint32_t fp_hdr_got; /* header bytes seen of the current frame */
    uint32_t fp_len;     /* payload length of the current frame (once the header is complete) */
    uint32_t fp_got;     /* payload bytes buffered in fp_buf */
    uint8_t *fp_buf;     /* owned; holds a payload that spans feeds */
    uint32_t fp_cap;
    int fp_err; /* sticky error, 0 while healthy */
} repl_frame_parser_t;

/* max of 0 or above REPL_FRAME_MAX means REPL_FRAME_MAX. */
void repl_frame_parser_init(repl_frame_parser_t *p, uint32_t max);
/* Changes the limit for frames whose header has not been read yet. */
void repl_frame_parser_set_max(repl_frame_parser_t *p, uint32_t max);
/* Releases the buffer; safe to call twice. */
void repl_frame_parser_free(repl_frame_parser_t *p);

/*
 * Consumes data[0..len), calling cb for every complete frame. A payload
 * wholly inside data is passed in place; one split across feeds is copied
 * into the parser's buffer first (grown on demand up to the frame's length).
 * Returns 0 when all input was consumed, a positive value when cb asked to
 * stop (*consumed says how far it got), CAIRN_ETOOBIG for a length above the
 * limit, CAIRN_EPROTO for a zero length, CAIRN_ENOMEM, or cb's negative code.
 * After an error every further feed returns the same error. consumed may be
 * NULL.
 */
int repl_frame_parser_feed(repl_frame_parser_t *p, const void *data, size_t len, repl_frame_cb cb,
                           void *arg, size_t *consumed);

/* ---- decoding a payload ---- */

typedef struct repl_msg {
    msgpack_unpacked rm_unpacked;    /* owns the object tree; strings borrow the payload */
    const msgpack_object *rm_obj;    /* the top-level map */
    char rm_type[REPL_TYPE_MAX + 1]; /* "t", NUL-terminated */
} repl_msg_t;

/*
 * Decodes one payload into m. Borrows payload: m's strings and binaries
 * point into it, so it must outlive m. Returns CAIRN_EINVAL for malformed
 * msgpack (truncated, trailing bytes, reserved byte, nesting deeper than
 * REPL_MSG_DEPTH), CAIRN_EPROTO for valid msgpack that is not a map with a
 * "t" string of 1..REPL_TYPE_MAX printable bytes, CAIRN_ENOMEM. Call
 * repl_msg_free afterwards, also on failure.
 */
int repl_msg_decode(const uint8_t *payload, size_t len, repl_msg_t *m);
void repl_msg_free(repl_msg_t *m);

/* ---- encoding ---- */

/*
 * Builds one frame in a growable buffer: init reserves the length prefix,
 * the caller packs one map with repl_frame_enc_packer(), finish writes the
 * prefix and hands the buffer over.
 */
typedef struct repl_frame_enc {
    msgpack_sbuffer fe_sb;
    msgpack_packer fe_pk;
} repl_frame_enc_t;

int repl_frame_enc_init(repl_frame_enc_t *e);
msgpack_packer *repl_frame_enc_packer(repl_frame_enc_t *e);
/*
 * Checks the payload is 1..max bytes, writes the prefix and moves the
 * buffer to *frame (malloc'ed, caller frees) with its total length (prefix
 * included) in *len. CAIRN_EINVAL for an empty payload, CAIRN_ETOOBIG above
 * max; on failure the encoder still owns its buffer.
 */
int repl_frame_enc_finish(repl_frame_enc_t *e, uint32_t max, uint8_t **frame, size_t *len);
/* Releases whatever the encoder still owns; safe to call twice. */
void repl_frame_enc_free(repl_frame_enc_t *e);

/*
 * Copies an already-encoded payload behind a length prefix into a fresh
 * malloc'ed frame. CAIRN_EINVAL for len 0, CAIRN_ETOOBIG above REPL_FRAME_MAX,
 * CAIRN_ENOMEM.
 */
int repl_frame_wrap(const void *payload, size_t len, uint8_t **frame, size_t *flen);

/* Writes / reads the 4-byte big-endian prefix. */
void repl_frame_put_len(uint8_t *hdr, uint32_t len);
uint32_t repl_frame_get_len(const uint8_t *hdr);

#endif
