/*
 * test_blobfile.c -- blob file header, naming, create/finalize/open states,
 * content verification, failpoints and injected I/O faults.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"

static char tmpdir[256];
static char blobs[300];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-blobfile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(blobs, sizeof(blobs), "%s/blobs", tmpdir);
}

static void teardown(void)
{
    fileio_set_ops(NULL);
    failpoints_configure(NULL);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void sample_hdr(blobfile_hdr_t *h, uint32_t flags)
{
    memset(h, 0, sizeof(*h));
    h->bh_format = BLOBFILE_FORMAT;
    h->bh_flags = flags;
    h->bh_file_id = 0x0123456789abcdefULL;
    h->bh_size = 0x1122334455667788ULL;
    for (int i = 0; i < 16; i++)
        h->bh_hash[i] = (uint8_t)(0xa0 + i);
}

static void reseal(uint8_t raw[BLOBFILE_HEADER_SIZE])
{
    uint64_t c = XXH3_64bits(raw, 56);

    for (int i = 0; i < 8; i++)
        raw[56 + i] = (uint8_t)(c >> (8 * i));
}

/* Creates, writes and finalizes a blob; returns its path in path. */
static void make_blob(uint64_t id, const uint8_t *data, size_t len, uint8_t hash[16], char *path,
                      size_t cap)
{
    int fd = -1, nd = 0;

    ck_assert_int_eq(blobfile_create(blobs, id, len, &fd, &nd), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, len, BLOBFILE_HEADER_SIZE), 0);
    blobfile_hash(data, len, hash);
    ck_assert_int_eq(blobfile_finalize(fd, id, len, hash), 0);
    fio_close(fd);
    if (path != NULL)
        blobfile_path(blobs, id, path, cap);
}

static void read_raw_hdr(const char *path, uint8_t raw[BLOBFILE_HEADER_SIZE])
{
    int fd = open(path, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, raw, BLOBFILE_HEADER_SIZE, 0), BLOBFILE_HEADER_SIZE);
    close(fd);
}

/* ------------------------------------------------------------ header */

START_TEST(test_hdr_layout_and_roundtrip)
{
    blobfile_hdr_t h, back;
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    static const uint8_t want_prefix[32] = {
        'C',  'A',  'I',  'R',  'N',  'B',  'L',  'B',  /* magic */
        0x01, 0x00, 0x00, 0x00,                         /* format LE */
        0x02, 0x00, 0x00, 0x00,                         /* flags LE */
        0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* id LE */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* size LE */
    };
    uint64_t csum = 0;

    sample_hdr(&h, BLOBFILE_F_COMPLETE);
    blobfile_hdr_encode(&h, raw);
    ck_assert_mem_eq(raw, want_prefix, sizeof(want_prefix));
    ck_assert_mem_eq(raw + 32, h.bh_hash, 16);
    for (int i = 48; i < 56; i++)
        ck_assert_uint_eq(raw[i], 0);
    for (int i = 7; i >= 0; i--)
        csum = (csum << 8) | raw[56 + i];
    ck_assert(csum == XXH3_64bits_withSeed(raw, 56, 0));

    memset(&back, 0x55, sizeof(back));
    ck_assert_int_eq(blobfile_hdr_decode(raw, &back), 0);
    ck_assert_uint_eq(back.bh_format, BLOBFILE_FORMAT);
    ck_assert_uint_eq(back.bh_flags, BLOBFILE_F_COMPLETE);
    ck_assert(back.bh_file_id == h.bh_file_id);
    ck_assert(back.bh_size == h.bh_size);
    ck_assert_mem_eq(back.bh_hash, h.bh_hash, 16);

    sample_hdr(&h, BLOBFILE_F_WRITING);
    h.bh_size = BLOBFILE_SIZE_UNKNOWN;
    memset(h.bh_hash, 0, 16);
    blobfile_hdr_encode(&h, raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &back), 0);
    ck_assert_uint_eq(back.bh_flags, BLOBFILE_F_WRITING);
    ck_assert(back.bh_size == BLOBFILE_SIZE_UNKNOWN);
}
END_TEST

START_TEST(test_hdr_every_bit_flip_detected)
{
    blobfile_hdr_t h, back;
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    int missed = 0;

    sample_hdr(&h, _i == 0 ? BLOBFILE_F_WRITING : BLOBFILE_F_COMPLETE);
    blobfile_hdr_encode(&h, raw);
    for (int bit = 0; bit < BLOBFILE_HEADER_SIZE * 8; bit++) {
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (blobfile_hdr_decode(raw, &back) != CAIRN_ECORRUPT)
            missed++;
        raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_int_eq(missed, 0);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &back), 0);
}
END_TEST

START_TEST(test_hdr_bad_fields_with_valid_checksum)
{
    blobfile_hdr_t h, back;
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    static const uint32_t bad_flags[] = {0, 3, 4, 0x10, 0x80000000u, 0x6};
    static const uint32_t bad_formats[] = {0, 2, 0x01000000u, 0xffffffffu};

    sample_hdr(&h, BLOBFILE_F_COMPLETE);
    blobfile_hdr_encode(&h, raw);
    raw[0] = 'X';
    reseal(raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &back), CAIRN_ECORRUPT);

    for (size_t i = 0; i < sizeof(bad_formats) / sizeof(bad_formats[0]); i++) {
        h.bh_format = bad_formats[i];
        blobfile_hdr_encode(&h, raw);
        ck_assert_int_eq(blobfile_hdr_decode(raw, &back), CAIRN_ECORRUPT);
    }
    h.bh_format = BLOBFILE_FORMAT;
    for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
        h.bh_flags = bad_flags[i];
        blobfile_hdr_encode(&h, raw);
        ck_assert_msg(blobfile_hdr_decode(raw, &back) == CAIRN_ECORRUPT, "flags %x", bad_flags[i]);
    }
    /* sanity: the same path accepts good values */
    h.bh_flags = BLOBFILE_F_WRITING;
    blobfile_hdr_encode(&h, raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &back), 0);
}
END_TEST

/* ------------------------------------------------------------ names */

START_TEST(test_paths_and_names)
{
    char p[512];
    uint64_t id = 0;

    blobfile_path("/d/blobs", 0x0123456789abcdefULL, p, sizeof(p));
    ck_assert_str_eq(p, "/d/blobs/9a/bc/0123456789abcdef.blob");
    blobfile_dir("/d/blobs", 0x0123456789abcdefULL, p, sizeof(p));
    ck_assert_str_eq(p, "/d/blobs/9a/bc");
    blobfile_path("b", 1, p, sizeof(p));
    ck_assert_str_eq(p, "b/00/00/0000000000000001.blob");
    /* consecutive ids share a directory, 4096 per directory */
    blobfile_dir("b", 0xfff, p, sizeof(p));
    ck_assert_str_eq(p, "b/00/00");
    blobfile_dir("b", 0x1000, p, sizeof(p));
    ck_assert_str_eq(p, "b/00/01");
    blobfile_dir("b", 0x100000, p, sizeof(p));
    ck_assert_str_eq(p, "b/01/00");

    ck_assert_int_eq(blobfile_parse_name("0123456789abcdef.blob", &id), 0);
    ck_assert(id == 0x0123456789abcdefULL);
    ck_assert_int_eq(blobfile_parse_name("ffffffffffffffff.blob", &id), 0);
    ck_assert(id == UINT64_MAX);
    ck_assert_int_eq(blobfile_parse_name("0000000000000000.blob", &id), 0);
    ck_assert(id == 0);

    static const char *bad[] = {
        "",
        ".blob",
        "0123456789ABCDEF.blob",
        "0123456789abcde.blob",
        "0123456789abcdef0.blob",
        "0123456789abcdef.blo",
        "0123456789abcdef.blobx",
        "0123456789abcdef.BLOB",
        "0123456789abcdef",
        "0123456789abcdeg.blob",
        " 123456789abcdef.blob",
        "9a/0123456789abcdef.blob",
        "0123456789abcdef.blob.tmp",
        "0x23456789abcdef.blob",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        id = 42;
        ck_assert_msg(blobfile_parse_name(bad[i], &id) == CAIRN_EINVAL, "accepted '%s'", bad[i]);
        ck_assert(id == 42);
    }
}
END_TEST

START_TEST(test_hash_canonical)
{
    uint8_t out[16];
    XXH128_hash_t h = XXH3_128bits("hello", 5);

    blobfile_hash("hello", 5, out);
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(out[i], (uint8_t)(h.high64 >> (56 - 8 * i)));
        ck_assert_uint_eq(out[8 + i], (uint8_t)(h.low64 >> (56 - 8 * i)));
    }
}
END_TEST

/* ------------------------------------------------------------ lifecycle */

START_TEST(test_create_finalize_open_whole)
{
    uint8_t data[5000], hash[16], back[5000];
    blobfile_hdr_t h;
    char path[BLOBFILE_PATH_MAX];
    struct stat st;
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    int fd = -1, nd = -1;
    uint64_t id = 0x12345;

    fill(data, sizeof(data), 1);
    ck_assert_int_eq(blobfile_create(blobs, id, sizeof(data), &fd, &nd), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(nd, 1);
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), BLOBFILE_HEADER_SIZE);
    blobfile_path(blobs, id, path, sizeof(path));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644 & ~umask(022));
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);

    /* WRITING header with the expected size is on disk at once */
    read_raw_hdr(path, raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &h), 0);
    ck_assert_uint_eq(h.bh_flags, BLOBFILE_F_WRITING);
    ck_assert(h.bh_size == sizeof(data));
    ck_assert(h.bh_file_id == id);

    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), BLOBFILE_HEADER_SIZE), 0);
    blobfile_hash(data, sizeof(data), hash);
    ck_assert_int_eq(blobfile_finalize(fd, id, sizeof(data), hash), 0);
    fio_close(fd);

    read_raw_hdr(path, raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &h), 0);
    ck_assert_uint_eq(h.bh_flags, BLOBFILE_F_COMPLETE);

    memset(&h, 0, sizeof(h));
    fd = -1;
    ck_assert_int_eq(blobfile_open(blobs, id, UINT64_MAX, NULL, &fd, &h), BLOBFILE_WHOLE);
    ck_assert_int_ge(fd, 0);
    ck_assert(h.bh_file_id == id);
    ck_assert(h.bh_size == sizeof(data));
    ck_assert_uint_eq(h.bh_flags, BLOBFILE_F_COMPLETE);
    ck_assert_mem_eq(h.bh_hash, hash, 16);
    ck_assert_int_eq(pread(fd, back, sizeof(back), BLOBFILE_HEADER_SIZE), sizeof(back));
    ck_assert_mem_eq(back, data, sizeof(data));
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    ck_assert_int_eq(blobfile_verify_content(fd, &h), 0);
    fio_close(fd);

    /* with matching expectations */
    ck_assert_int_eq(blobfile_open(blobs, id, sizeof(data), hash, &fd, &h), BLOBFILE_WHOLE);
    fio_close(fd);

    /* a second file in the same directory does not make a directory */
    ck_assert_int_eq(blobfile_create(blobs, id + 1, 0, &fd, &nd), 0);
    ck_assert_int_eq(nd, 0);
    fio_close(fd);
    /* one in another directory does */
    ck_assert_int_eq(blobfile_create(blobs, id + 0x1000, 0, &fd, &nd), 0);
    ck_assert_int_eq(nd, 1);
    fio_close(fd);
}
END_TEST

START_TEST(test_empty_blob_whole)
{
    uint8_t hash[16];
    blobfile_hdr_t h;
    int fd;

    make_blob(7, (const uint8_t *)"", 0, hash, NULL, 0);
    ck_assert_int_eq(blobfile_open(blobs, 7, 0, hash, &fd, &h), BLOBFILE_WHOLE);
    ck_assert(h.bh_size == 0);
    ck_assert_int_eq(blobfile_verify_content(fd, &h), 0);
    fio_close(fd);
}
END_TEST

START_TEST(test_incomplete_without_finalize)
{
    uint8_t data[100];
    blobfile_hdr_t h;
    int fd = -1, nd, rfd = -1;

    fill(data, sizeof(data), 2);
    ck_assert_int_eq(blobfile_create(blobs, 99, BLOBFILE_SIZE_UNKNOWN, &fd, &nd), 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), BLOBFILE_HEADER_SIZE), 0);
    fio_close(fd);
    ck_assert_int_eq(blobfile_open(blobs, 99, UINT64_MAX, NULL, &rfd, &h), BLOBFILE_INCOMPLETE);
    ck_assert_int_ge(rfd, 0);
    ck_assert_uint_eq(h.bh_flags, BLOBFILE_F_WRITING);
    ck_assert(h.bh_size == BLOBFILE_SIZE_UNKNOWN);
    fio_close(rfd);

    /* a fresh file with only its header is incomplete as well */
    ck_assert_int_eq(blobfile_create(blobs, 100, 5, &fd, &nd), 0);
    ck_assert_int_eq(blobfile_open(blobs, 100, 5, NULL, &rfd, &h), BLOBFILE_INCOMPLETE);
    ck_assert(h.bh_size == 5);
    fio_close(rfd);
    fio_close(fd);
}
END_TEST

START_TEST(test_missing)
{
    blobfile_hdr_t h;
    int fd = 123;

    ck_assert_int_eq(blobfile_open(blobs, 5, UINT64_MAX, NULL, &fd, &h), BLOBFILE_MISSING);
    ck_assert_int_eq(fd, -1);
}
END_TEST

static int count_open_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    }
    return n;
}

/* Each _i damages a whole file a different way; open must say DAMAGED,
 * return no fd and leave none open. */
START_TEST(test_damaged)
{
    uint8_t data[3000], hash[16], other_hash[16];
    char path[BLOBFILE_PATH_MAX], path2[BLOBFILE_PATH_MAX];
    blobfile_hdr_t h;
    int fd, tfd, before;
    uint64_t id = 0x5000, expect_size = UINT64_MAX, open_id = id;
    const uint8_t *expect_hash = NULL;

    fill(data, sizeof(data), 3);
    make_blob(id, data, sizeof(data), hash, path, sizeof(path));
    tfd = open(path, O_RDWR);
    ck_assert_int_ge(tfd, 0);
    switch (_i) {
    case 0: /* truncated by one byte */
        ck_assert_int_eq(ftruncate(tfd, BLOBFILE_HEADER_SIZE + sizeof(data) - 1), 0);
        break;
    case 1: /* extended by one byte */
        ck_assert_int_eq(ftruncate(tfd, BLOBFILE_HEADER_SIZE + sizeof(data) + 1), 0);
        break;
    case 2: { /* one header byte corrupted (in the size field) */
        uint8_t b;
        ck_assert_int_eq(pread(tfd, &b, 1, 25), 1);
        b ^= 0x40;
        ck_assert_int_eq(pwrite(tfd, &b, 1, 25), 1);
        break;
    }
    case 3: /* renamed to another id's path: id mismatch */
        open_id = id + 1;
        blobfile_path(blobs, open_id, path2, sizeof(path2));
        ck_assert_int_eq(rename(path, path2), 0);
        break;
    case 4: /* hash mismatch */
        memcpy(other_hash, hash, 16);
        other_hash[15] ^= 1;
        expect_hash = other_hash;
        break;
    case 5: /* size mismatch */
        expect_size = sizeof(data) - 1;
        break;
    case 6: /* shorter than a header */
        ck_assert_int_eq(ftruncate(tfd, BLOBFILE_HEADER_SIZE - 1), 0);
        break;
    case 7: /* empty */
        ck_assert_int_eq(ftruncate(tfd, 0), 0);
        break;
    case 8: /* truncated to the header only */
        ck_assert_int_eq(ftruncate(tfd, BLOBFILE_HEADER_SIZE), 0);
        break;
    default:
        ck_abort();
    }
    close(tfd);

    /* the undamaged variant would be WHOLE: the damage is what is detected */
    before = count_open_fds();
    fd = 77;
    ck_assert_int_eq(blobfile_open(blobs, open_id, expect_size, expect_hash, &fd, &h),
                     BLOBFILE_DAMAGED);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(count_open_fds(), before);
}
END_TEST

START_TEST(test_damaged_incomplete_header)
{
    char path[BLOBFILE_PATH_MAX];
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    blobfile_hdr_t h;
    int fd, nd, rfd;

    /* a WRITING file with a corrupted header is damaged, not incomplete */
    ck_assert_int_eq(blobfile_create(blobs, 300, 10, &fd, &nd), 0);
    fio_close(fd);
    blobfile_path(blobs, 300, path, sizeof(path));
    read_raw_hdr(path, raw);
    raw[3] ^= 0x01;
    fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
    close(fd);
    ck_assert_int_eq(blobfile_open(blobs, 300, UINT64_MAX, NULL, &rfd, &h), BLOBFILE_DAMAGED);
    ck_assert_int_eq(rfd, -1);
}
END_TEST

START_TEST(test_create_twice_eexist)
{
    uint8_t data[64], hash[16];
    blobfile_hdr_t h;
    int fd = 5, nd = 5;

    fill(data, sizeof(data), 4);
    make_blob(42, data, sizeof(data), hash, NULL, 0);
    ck_assert_int_eq(blobfile_create(blobs, 42, 1, &fd, &nd), -EEXIST);
    ck_assert_int_eq(fd, -1);
    /* the existing file is untouched */
    ck_assert_int_eq(blobfile_open(blobs, 42, sizeof(data), hash, &fd, &h), BLOBFILE_WHOLE);
    ck_assert_int_eq(blobfile_verify_content(fd, &h), 0);
    fio_close(fd);
}
END_TEST

START_TEST(test_verify_catches_flip)
{
    size_t len = (size_t)(2.5 * 1024 * 1024); /* spans several 1 MiB chunks */
    uint8_t *data = malloc(len);
    uint8_t hash[16], b;
    char path[BLOBFILE_PATH_MAX];
    blobfile_hdr_t h;
    int fd, wfd;
    off_t where[] = {0, 1 << 20, (off_t)len - 1};

    ck_assert_ptr_nonnull(data);
    fill(data, len, 5);
    make_blob(0xabc, data, len, hash, path, sizeof(path));
    ck_assert_int_eq(blobfile_open(blobs, 0xabc, len, hash, &fd, &h), BLOBFILE_WHOLE);
    ck_assert_int_eq(blobfile_verify_content(fd, &h), 0);

    wfd = open(path, O_RDWR);
    ck_assert_int_ge(wfd, 0);
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        off_t o = BLOBFILE_HEADER_SIZE + where[i];

        ck_assert_int_eq(pread(wfd, &b, 1, o), 1);
        b ^= 0x08;
        ck_assert_int_eq(pwrite(wfd, &b, 1, o), 1);
        ck_assert_int_eq(blobfile_verify_content(fd, &h), CAIRN_ECORRUPT);
        b ^= 0x08;
        ck_assert_int_eq(pwrite(wfd, &b, 1, o), 1);
        ck_assert_int_eq(blobfile_verify_content(fd, &h), 0);
    }
    /* a file shorter than its header claims */
    ck_assert_int_eq(ftruncate(wfd, BLOBFILE_HEADER_SIZE + len - 10), 0);
    ck_assert_int_eq(blobfile_verify_content(fd, &h), CAIRN_ECORRUPT);
    close(wfd);
    fio_close(fd);
    free(data);
}
END_TEST

START_TEST(test_remove)
{
    uint8_t hash[16];
    blobfile_hdr_t h;
    int fd;

    make_blob(9, (const uint8_t *)"abc", 3, hash, NULL, 0);
    ck_assert_int_eq(blobfile_remove(blobs, 9), 0);
    ck_assert_int_eq(blobfile_open(blobs, 9, UINT64_MAX, NULL, &fd, &h), BLOBFILE_MISSING);
    ck_assert_int_eq(blobfile_remove(blobs, 9), 0);
}
END_TEST

/* ------------------------------------------------------------ faults */

static void assert_header_flags(uint64_t id, uint32_t flags)
{
    char path[BLOBFILE_PATH_MAX];
    uint8_t raw[BLOBFILE_HEADER_SIZE];
    blobfile_hdr_t h;

    blobfile_path(blobs, id, path, sizeof(path));
    read_raw_hdr(path, raw);
    ck_assert_int_eq(blobfile_hdr_decode(raw, &h), 0);
    ck_assert_uint_eq(h.bh_flags, flags);
}

START_TEST(test_failpoint_synced_error)
{
    uint8_t data[500], hash[16];
    blobfile_hdr_t h;
    int fd, nd, rfd;

    fill(data, sizeof(data), 6);
    blobfile_hash(data, sizeof(data), hash);
    ck_assert_int_eq(failpoints_configure("store.write.synced=error"), 0);
    ck_assert_int_eq(blobfile_create(blobs, 11, sizeof(data), &fd, &nd), 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), BLOBFILE_HEADER_SIZE), 0);
    ck_assert_int_eq(blobfile_finalize(fd, 11, sizeof(data), hash), -EIO);
    ck_assert_uint_eq(failpoint_hits("store.write.synced"), 1);
    fio_close(fd);
    assert_header_flags(11, BLOBFILE_F_WRITING);
    ck_assert_int_eq(blobfile_open(blobs, 11, UINT64_MAX, NULL, &rfd, &h), BLOBFILE_INCOMPLETE);
    fio_close(rfd);
}
END_TEST

START_TEST(test_failpoint_finalized_error)
{
    uint8_t data[500], hash[16];
    blobfile_hdr_t h;
    int fd, nd, rfd;

    fill(data, sizeof(data), 7);
    blobfile_hash(data, sizeof(data), hash);
    ck_assert_int_eq(failpoints_configure("store.write.finalized=enospc"), 0);
    ck_assert_int_eq(blobfile_create(blobs, 12, sizeof(data), &fd, &nd), 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), BLOBFILE_HEADER_SIZE), 0);
    ck_assert_int_eq(blobfile_finalize(fd, 12, sizeof(data), hash), -ENOSPC);
    ck_assert_uint_eq(failpoint_hits("store.write.finalized"), 1);
    fio_close(fd);
    /* it fires after the COMPLETE header is durable */
    ck_assert_int_eq(blobfile_open(blobs, 12, sizeof(data), hash, &rfd, &h), BLOBFILE_WHOLE);
    fio_close(rfd);
}
END_TEST

static int fdatasync_calls, fdatasync_fail_at, pwrite_fail_at, pwrite_calls;
static int last_pwrite_fd;

static int counting_fdatasync(int fd)
{
    fdatasync_calls++;
    if (fdatasync_calls == fdatasync_fail_at) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static ssize_t counting_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pwrite_calls++;
    last_pwrite_fd = fd;
    if (pwrite_calls == pwrite_fail_at) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

/* _i = 1: the content fdatasync fails; _i = 2: the header fdatasync fails. */
START_TEST(test_injected_fdatasync_failure)
{
    fileio_ops_t o = *fileio_default_ops();
    uint8_t data[200], hash[16];
    int fd, nd;

    fill(data, sizeof(data), 8);
    blobfile_hash(data, sizeof(data), hash);
    o.fo_fdatasync = counting_fdatasync;
    fdatasync_fail_at = _i;
    fileio_set_ops(&o);
    ck_assert_int_eq(blobfile_create(blobs, 13, sizeof(data), &fd, &nd), 0);
    ck_assert_int_eq(fio_pwrite_all(fd, data, sizeof(data), BLOBFILE_HEADER_SIZE), 0);
    ck_assert_int_eq(blobfile_finalize(fd, 13, sizeof(data), hash), -EIO);
    ck_assert_int_eq(fdatasync_calls, _i); /* failed, then stopped: never retried */
    fio_close(fd);
    /* content sync failed: the header must not have been marked COMPLETE */
    if (_i == 1)
        assert_header_flags(13, BLOBFILE_F_WRITING);
}
END_TEST

START_TEST(test_injected_header_write_failure)
{
    fileio_ops_t o = *fileio_default_ops();
    uint8_t hash[16] = {0};
    char path[BLOBFILE_PATH_MAX];
    int fd = 9, nd;

    o.fo_pwrite = counting_pwrite;
    fileio_set_ops(&o);
    /* the create's header write fails: -ENOSPC and nothing left behind */
    pwrite_fail_at = 1;
    ck_assert_int_eq(blobfile_create(blobs, 14, 0, &fd, &nd), -ENOSPC);
    ck_assert_int_eq(fd, -1);
    blobfile_path(blobs, 14, path, sizeof(path));
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* the finalize's header write fails */
    pwrite_calls = 0;
    pwrite_fail_at = 2;
    ck_assert_int_eq(blobfile_create(blobs, 15, 0, &fd, &nd), 0);
    ck_assert_int_eq(blobfile_finalize(fd, 15, 0, hash), -ENOSPC);
    fio_close(fd);
    assert_header_flags(15, BLOBFILE_F_WRITING);
}
END_TEST

static ssize_t eio_pread(int fd, void *buf, size_t n, off_t off)
{
    (void)fd;
    (void)buf;
    (void)n;
    (void)off;
    errno = EIO;
    return -1;
}

START_TEST(test_open_io_error)
{
    fileio_ops_t o = *fileio_default_ops();
    uint8_t hash[16];
    blobfile_hdr_t h;
    int fd = 3, before;

    make_blob(16, (const uint8_t *)"xyz", 3, hash, NULL, 0);
    o.fo_pread = eio_pread;
    fileio_set_ops(&o);
    before = count_open_fds();
    ck_assert_int_eq(blobfile_open(blobs, 16, UINT64_MAX, NULL, &fd, &h), -EIO);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(count_open_fds(), before);
}
END_TEST

static Suite *blobfile_suite(void)
{
    Suite *s = suite_create("blobfile");
    TCase *hdr = tcase_create("header");
    TCase *life = tcase_create("lifecycle");
    TCase *fault = tcase_create("faults");

    tcase_add_test(hdr, test_hdr_layout_and_roundtrip);
    tcase_add_loop_test(hdr, test_hdr_every_bit_flip_detected, 0, 2);
    tcase_add_test(hdr, test_hdr_bad_fields_with_valid_checksum);
    tcase_add_test(hdr, test_paths_and_names);
    tcase_add_test(hdr, test_hash_canonical);
    suite_add_tcase(s, hdr);

    tcase_add_checked_fixture(life, setup, teardown);
    tcase_add_test(life, test_create_finalize_open_whole);
    tcase_add_test(life, test_empty_blob_whole);
    tcase_add_test(life, test_incomplete_without_finalize);
    tcase_add_test(life, test_missing);
    tcase_add_loop_test(life, test_damaged, 0, 9);
    tcase_add_test(life, test_damaged_incomplete_header);
    tcase_add_test(life, test_create_twice_eexist);
    tcase_add_test(life, test_verify_catches_flip);
    tcase_add_test(life, test_remove);
    suite_add_tcase(s, life);

    tcase_add_checked_fixture(fault, setup, teardown);
    tcase_add_test(fault, test_failpoint_synced_error);
    tcase_add_test(fault, test_failpoint_finalized_error);
    tcase_add_loop_test(fault, test_injected_fdatasync_failure, 1, 3);
    tcase_add_test(fault, test_injected_header_write_failure);
    tcase_add_test(fault, test_open_io_error);
    suite_add_tcase(s, fault);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blobfile_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
