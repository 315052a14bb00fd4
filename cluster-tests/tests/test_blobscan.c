/*
 * test_blobscan.c -- judging blob files by their header, content helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster-tests/blobscan.h"
#include "cluster-tests/content.h"
#include "cluster-tests/hutil.h"

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A header as the storage writes it. */
static void make_hdr(unsigned char *h, uint64_t id, uint32_t flags, uint64_t size)
{
    memset(h, 0, 64);
    memcpy(h, "CAIRNBLB", 8);
    put_le(h + 8, 1, 4);
    put_le(h + 12, flags, 4);
    put_le(h + 16, id, 8);
    put_le(h + 24, size, 8);
    for (int i = 0; i < 16; i++)
        h[32 + i] = (unsigned char)(0xa0 + i);
    put_le(h + 56, XXH3_64bits(h, 56), 8);
}

START_TEST(header_judgement)
{
    unsigned char h[64];
    uint64_t size;
    char hash[33];

    make_hdr(h, 7, 2, 100);
    ck_assert_int_eq(blobscan_header_whole(h, 7, 164, &size, hash), 1);
    ck_assert_uint_eq(size, 100);
    ck_assert_str_eq(hash, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    ck_assert_int_eq(blobscan_header_whole(h, 7, 163, &size, hash), 0); /* truncated */
    ck_assert_int_eq(blobscan_header_whole(h, 8, 164, &size, hash), 0); /* wrong name */
    make_hdr(h, 7, 1, 100);
    ck_assert_int_eq(blobscan_header_whole(h, 7, 164, &size, hash), 0); /* WRITING */
    make_hdr(h, 7, 2, 100);
    h[20] ^= 1; /* checksum no longer matches */
    ck_assert_int_eq(blobscan_header_whole(h, 7, 164, &size, hash), 0);
}
END_TEST

START_TEST(scan_directory)
{
    char root[] = "/tmp/cairn-blobscan-XXXXXX";
    char path[256];
    unsigned char h[64], body[100];
    hscan_t s;
    blobfile_info_t *whole = NULL;
    size_t nwhole = 0;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/blobs/00/00", root);
    ck_assert_int_eq(hu_mkdir_p(path, 0755), 0);
    memset(body, 'x', sizeof(body));
    for (uint64_t id = 5; id <= 6; id++) {
        snprintf(path, sizeof(path), "%s/blobs/00/00/%016llx.blob", root, (unsigned long long)id);
        make_hdr(h, id, id == 5 ? 2 : 1, 100);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fwrite(h, 1, 64, f);
        fwrite(body, 1, 100, f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/blobs/00/00/not-a-blob.tmp", root);
    ck_assert_int_eq(hu_write_file(path, "x", 1, 0644), 0);
    ck_assert_int_eq(blobscan_dir(root, &s, &whole, &nwhole), 0);
    ck_assert_uint_eq(s.hs_files, 2);
    ck_assert_uint_eq(s.hs_bytes, 328);
    ck_assert_uint_eq(s.hs_max_id, 6);
    ck_assert_uint_eq(s.hs_nleft, 1);
    ck_assert_uint_eq(s.hs_left_ids[0], 6);
    ck_assert_uint_eq(nwhole, 1);
    ck_assert_uint_eq(whole[0].bi_id, 5);
    free(s.hs_ids);
    free(s.hs_left_ids);
    free(whole);
    ck_assert_int_eq(hu_rm_rf(root), 0);
}
END_TEST

START_TEST(content_is_deterministic)
{
    unsigned char a[300], b[300];
    char h1[33], h2[33], h3[33];

    content_fill(1, 2, 0, a, sizeof(a));
    content_fill(1, 2, 0, b, 100);
    content_fill(1, 2, 100, b + 100, 200); /* pieces at any offset agree */
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    content_fill(1, 3, 0, b, sizeof(b));
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
    content_hash(1, 2, 300, h1);
    content_hash(1, 2, 300, h2);
    content_hash(1, 2, 299, h3);
    ck_assert_str_eq(h1, h2);
    ck_assert_str_ne(h1, h3);
    ck_assert(content_hash_valid(h1));
    content_hash_hex(XXH3_128bits(a, sizeof(a)), h2);
    ck_assert_str_eq(h1, h2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("blobscan");
    TCase *t = tcase_create("files");

    tcase_add_test(t, header_judgement);
    tcase_add_test(t, scan_directory);
    tcase_add_test(t, content_is_deterministic);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
