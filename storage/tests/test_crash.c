/*
 * test_crash.c -- the storage crash matrix.
 *
 * For every storage failpoint, a child process opens the store, writes
 * (small and multi-MiB blobs, new keys and overwrites) and is killed there
 * with SIGKILL by the failpoint itself. The parent then reopens the same
 * directory and checks what DESIGN.md section 3 promises:
 *   - before the commit: the previous complete version (or not-found) is
 *     served, byte-exact -- never partial bytes;
 *   - at or after the commit: the new version is served, byte-exact;
 *   - every blob file left on disk is referenced by a record (leftovers
 *     collected, superseded files collected);
 *   - new file ids are above every id that existed before the restart.
 * The cells of small and empty blobs run twice: with inline blobs on (the
 * default: the blob goes into LMDB with its record, store.write.synced and
 * store.write.finalized are never reached) and off (file-backed).
 * Plus replicated writes killed mid-stream: the record is `receiving`, readers
 * never get bytes from the leftover, a re-delivery of the same version into a
 * fresh file is accepted and served, and the leftover is gone.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/failpoint.h"
#include "storage/blobfile.h"
#include "storage/store.h"

#define CHUNK (256 * 1024)
#define MAX_FILES 256

/* ---------------------------------------------------------------- helpers */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
    char *d = strdup("/tmp/cairn-crash-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

/* Deterministic content for (seed, size): a simple xorshift stream. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

/* inl: inline blobs on (the default threshold) or off. */
static store_t *open_store_inl(const char *dir, int inl)
{
    store_opts_t o = {0};
    o.so_dir = dir;
    o.so_node_id = 1;
    o.so_inline_disable = !inl;
    store_t *s = NULL;
    int rc = store_open(&o, &s);
    ck_assert_msg(rc == 0, "store_open(%s): %s", dir, cairn_strerror(rc));
    return s;
}

static store_t *open_store(const char *dir)
{
    return open_store_inl(dir, 1);
}

/* Writes a whole local blob in CHUNK pieces; returns the rc of finish. */
static int put_local(store_t *s, const char *key, const uint8_t *data, size_t len,
                     store_stat_t *out)
{
    store_put_opts_t po = {0};
    po.po_mode = STORE_PUT_LOCAL;
    po.po_size = (int64_t)len;
    store_writer_t *w = NULL;
    int rc = store_put_begin(s, key, strlen(key), &po, &w);
    if (rc < 0)
        return rc;
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        rc = store_put_write(w, data + off, n);
        if (rc < 0) {
            store_put_abort(w);
            return rc;
        }
    }
    return store_put_finish(w, out);
}

/*
 * Reads the whole current version of key through the reader state machine,
 * with a short deadline. Returns 0 and the bytes (malloc'ed) in *out, or
 * the reader's error. Asserts no WAIT loop runs past the deadline.
 */
static int read_all(store_t *s, const char *key, uint8_t **out, size_t *len, uint64_t deadline_ms)
{
    store_read_opts_t ro = {0};
    ro.ro_deadline_ms = store_mono_ms() + deadline_ms;
    store_reader_t *r = NULL;
    store_stat_t st;
    int rc = store_read_open(s, key, strlen(key), &ro, &r, &st);
    if (rc < 0)
        return rc;
    size_t cap = 1024, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        store_step_t step;
        rc = store_read_next(r, &step);
        if (rc < 0)
            break;
        if (step.ss_kind == STORE_STEP_EOF)
            break;
        if (step.ss_kind == STORE_STEP_WAIT) {
            ck_assert_uint_le(store_mono_ms(), ro.ro_deadline_ms + 2000);
            store_read_wait(r, 100);
            continue;
        }
        while (n + step.ss_len > cap)
            cap *= 2;
        buf = realloc(buf, cap);
        ssize_t got;
        if (step.ss_mem != NULL) {
            ck_assert_int_eq(step.ss_fd, -1);
            memcpy(buf + n, step.ss_mem, step.ss_len);
            got = (ssize_t)step.ss_len;
        } else {
            got = pread(step.ss_fd, buf + n, step.ss_len, (off_t)step.ss_off);
        }
        ck_assert_int_eq(got, (ssize_t)step.ss_len);
        n += (size_t)got;
        store_read_consumed(r, (uint64_t)got);
    }
    const store_stat_t *rst = store_read_stat(r);
    if (rc == 0)
        ck_assert_uint_eq(n, rst->st_size);
    store_read_close(r);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void assert_content(store_t *s, const char *key, uint64_t seed, size_t len)
{
    uint8_t *got = NULL;
    size_t n = 0;
    int rc = read_all(s, key, &got, &n, 2000);
    ck_assert_msg(rc == 0, "read %s: %s", key, cairn_strerror(rc));
    ck_assert_uint_eq(n, len);
    uint8_t *want = malloc(len ? len : 1);
    fill(want, len, seed);
    ck_assert_msg(memcmp(got, want, len) == 0, "content of %s differs", key);
    free(want);
    free(got);
}

/* Collects every blob file id under DIR/blobs into ids (sorted unneeded). */
static size_t scan_blob_ids(const char *dir, uint64_t *ids, size_t max)
{
    char p1[1024], p2[1400], p3[1800];
    size_t n = 0;
    snprintf(p1, sizeof p1, "%s/blobs", dir);
    DIR *d1 = opendir(p1);
    if (!d1)
        return 0;
    struct dirent *e1, *e2, *e3;
    while ((e1 = readdir(d1)) != NULL) {
        if (e1->d_name[0] == '.')
            continue;
        snprintf(p2, sizeof p2, "%s/%.255s", p1, e1->d_name);
        DIR *d2 = opendir(p2);
        if (!d2)
            continue;
        while ((e2 = readdir(d2)) != NULL) {
            if (e2->d_name[0] == '.')
                continue;
            snprintf(p3, sizeof p3, "%s/%.255s", p2, e2->d_name);
            DIR *d3 = opendir(p3);
            if (!d3)
                continue;
            while ((e3 = readdir(d3)) != NULL) {
                uint64_t id;
                if (blobfile_parse_name(e3->d_name, &id) == 0 && n < max)
                    ids[n++] = id;
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
    return n;
}

static uint64_t max_id(const uint64_t *ids, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] > m)
            m = ids[i];
    return m;
}

/* Every file on disk must be the file of one of the given keys' records. */
static void assert_only_referenced(store_t *s, const char *dir, const char **keys, size_t nkeys)
{
    uint64_t ids[MAX_FILES];
    size_t n = scan_blob_ids(dir, ids, MAX_FILES);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t k = 0; k < nkeys; k++) {
            store_stat_t st;
            if (store_stat(s, keys[k], strlen(keys[k]), 0, &st) == 0 && st.st_file_id == ids[i])
                found = 1;
        }
        ck_assert_msg(found, "file %016llx on disk is not referenced by any record",
                      (unsigned long long)ids[i]);
    }
}

/* Runs fn in a child with failpoint spec installed; returns the wait status. */
static int run_child(const char *spec, void (*fn)(const char *dir, void *arg), const char *dir,
                     void *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (failpoints_configure(spec) < 0)
            _exit(90);
        fn(dir, arg);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int killed(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* ------------------------------------------------------ local write matrix */

typedef struct crash_case {
    const char *failpoint; /* with its action */
    int committed;         /* crash happens at/after the commit (see AT_COMMIT_IF_INLINE) */
    int needs_overwrite;   /* only reached when an old version exists (gc) */
} crash_case_t;

/*
 * store.commit.sync: a batch's LMDB transaction is committed (its meta
 * page written, not yet synced) and nothing of it is acknowledged. A
 * process crash loses no written page, so what that transaction committed
 * is there after the restart (only a power failure could undo it, and
 * nobody was told it exists). The first such batch of a file-backed write
 * is its file-id high-water bump (the child's first id after open), so
 * there crash@1 is before the write's own commit and crash@2 at it; an
 * inline write has only its own commit (crash@2 is never reached).
 */
#define AT_COMMIT_IF_INLINE 2 /* committed: 1 for an inline write, 0 for a file */

static const crash_case_t cases[] = {
    {"store.write.chunk=crash", 0, 0},
    {"store.write.chunk=crash@3", 0, 0},
    {"store.write.synced=crash", 0, 0},
    {"store.write.finalized=crash", 0, 0},
    {"store.commit.sync=crash", AT_COMMIT_IF_INLINE, 0},
    {"store.commit.sync=crash@2", 1, 0},
    {"store.commit.after=crash", 1, 0},
    {"store.gc.unlink=crash", 1, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

typedef struct local_arg {
    const char *key;
    size_t size;
    uint64_t seed;
    int inl;
} local_arg_t;

static void child_put(const char *dir, void *argp)
{
    local_arg_t *a = argp;
    store_t *s = open_store_inl(dir, a->inl);
    uint8_t *data = malloc(a->size ? a->size : 1);
    fill(data, a->size, a->seed);
    int rc = put_local(s, a->key, data, a->size, NULL);
    /* Reaching here means the failpoint did not fire: exit cleanly. */
    free(data);
    store_close(s);
    _exit(rc == 0 ? 0 : 91);
}

/*
 * One cell of the matrix: case ci, blob size, overwrite or new key, inline
 * blobs on or off. For "chunk" cases of small blobs crash@3 is never
 * reached, nor are the file-only failpoints (synced, finalized) by an
 * inline write: such a cell checks the child exited normally and the
 * write is intact.
 */
static void run_local_case(size_t ci, size_t size, int overwrite, int inl)
{
    const crash_case_t *c = &cases[ci];
    char *dir = make_tmpdir();
    const char *key = "k/crash";
    const char *other = "k/other";
    const size_t old_size = 300 * 1024 + 7;
    int is_inline = inl && size <= STORE_INLINE_DEFAULT;

    store_t *s = open_store_inl(dir, inl);
    uint8_t *old = malloc(old_size);
    fill(old, old_size, 11);
    ck_assert_int_eq(put_local(s, other, old, old_size, NULL), 0);
    if (overwrite)
        ck_assert_int_eq(put_local(s, key, old, old_size, NULL), 0);
    free(old);
    store_close(s);

    local_arg_t a = {key, size, 42, inl};
    int status = run_child(c->failpoint, child_put, dir, &a);
    size_t nchunks = size / CHUNK + (size % CHUNK ? 1 : 0);
    int reachable = !(c->needs_overwrite && !overwrite);
    if (strstr(c->failpoint, "store.write.chunk")) {
        size_t hits_needed = strstr(c->failpoint, "crash@3") ? 3 : 1;
        if (nchunks < hits_needed)
            reachable = 0;
    }
    if (is_inline && (strstr(c->failpoint, "store.write.synced") ||
                      strstr(c->failpoint, "store.write.finalized") ||
                      strstr(c->failpoint, "store.commit.sync=crash@2")))
        reachable = 0;
    if (reachable)
        ck_assert_msg(killed(status), "%s size=%zu overwrite=%d: child was not killed (status %d)",
                      c->failpoint, size, overwrite, status);
    else
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child failed (status %d)",
                      c->failpoint, status);

    uint64_t before[MAX_FILES];
    size_t nbefore = scan_blob_ids(dir, before, MAX_FILES);
    uint64_t hw = max_id(before, nbefore);

    s = open_store_inl(dir, inl);
    int new_visible =
        !reachable || c->committed == 1 || (c->committed == AT_COMMIT_IF_INLINE && is_inline);
    if (new_visible) {
        assert_content(s, key, 42, size);
        store_stat_t vst;
        ck_assert_int_eq(store_stat(s, key, strlen(key), 0, &vst), 0);
        ck_assert_int_eq(vst.st_inline, is_inline);
        ck_assert(is_inline ? vst.st_file_id == 0 : vst.st_file_id != 0);
    } else if (overwrite)
        assert_content(s, key, 11, old_size);
    else {
        store_stat_t st;
        ck_assert_int_eq(store_stat(s, key, strlen(key), 0, &st), CAIRN_ENOTFOUND);
        uint8_t *got = NULL;
        size_t n = 0;
        ck_assert_int_eq(read_all(s, key, &got, &n, 200), CAIRN_ENOTFOUND);
    }
    assert_content(s, other, 11, old_size);

    const char *keys[] = {key, other};
    assert_only_referenced(s, dir, keys, 2);

    /* A new (file-backed) write gets an id above every id that was ever on disk. */
    store_stat_t st;
    size_t after_size = inl ? STORE_INLINE_DEFAULT + 10 : 10;
    uint8_t *small = malloc(after_size);
    fill(small, after_size, 5);
    ck_assert_int_eq(put_local(s, "k/after", small, after_size, &st), 0);
    free(small);
    ck_assert_int_eq(st.st_inline, 0);
    ck_assert_msg(st.st_file_id > hw, "new file id %llu not above old max %llu",
                  (unsigned long long)st.st_file_id, (unsigned long long)hw);
    store_close(s);

    /* A clean reopen keeps everything. */
    s = open_store_inl(dir, inl);
    if (new_visible)
        assert_content(s, key, 42, size);
    assert_content(s, "k/after", 5, after_size);
    store_close(s);
    rm_rf(dir);
    free(dir);
}

/* Loop index: cells 0..NCASES-1 with inline on, NCASES..2*NCASES-1 off. */
START_TEST(test_local_small_new)
{
    run_local_case((size_t)_i % NCASES, 4096, 0, _i < (int)NCASES);
}
END_TEST

START_TEST(test_local_small_overwrite)
{
    run_local_case((size_t)_i % NCASES, 4096, 1, _i < (int)NCASES);
}
END_TEST

START_TEST(test_local_big_new)
{
    run_local_case((size_t)_i, 3 * 1024 * 1024 + 123, 0, 1);
}
END_TEST

START_TEST(test_local_big_overwrite)
{
    run_local_case((size_t)_i, 3 * 1024 * 1024 + 123, 1, 1);
}
END_TEST

START_TEST(test_local_empty_new)
{
    run_local_case((size_t)_i % NCASES, 0, 0, _i < (int)NCASES);
}
END_TEST

/* ---------------------------------------------------- replicated writes */

static const uint8_t *hash_of(const uint8_t *data, size_t len, uint8_t out[16])
{
    blobfile_hash(data, len, out);
    return out;
}

typedef struct repl_arg {
    const char *key;
    size_t size;
    uint64_t seed;
    store_version_t version;
} repl_arg_t;

static int put_replica(store_t *s, const repl_arg_t *a, store_stat_t *out)
{
    uint8_t *data = malloc(a->size ? a->size : 1);
    uint8_t h[16];
    fill(data, a->size, a->seed);
    store_put_opts_t po = {0};
    po.po_mode = STORE_PUT_REPLICA;
    po.po_size = (int64_t)a->size;
    po.po_version = a->version;
    po.po_hash = hash_of(data, a->size, h);
    store_writer_t *w = NULL;
    int rc = store_put_begin(s, a->key, strlen(a->key), &po, &w);
    if (rc < 0)
        goto done;
    for (size_t off = 0; off < a->size; off += CHUNK) {
        size_t n = a->size - off < CHUNK ? a->size - off : CHUNK;
        rc = store_put_write(w, data + off, n);
        if (rc < 0) {
            store_put_abort(w);
            goto done;
        }
    }
    rc = store_put_finish(w, out);
done:
    free(data);
    return rc;
}

static void child_replica(const char *dir, void *argp)
{
    store_t *s = open_store(dir);
    int rc = put_replica(s, argp, NULL);
    store_close(s);
    _exit(rc == 0 ? 0 : 91);
}

typedef struct repair_log {
    int calls;
    uint64_t file_id;
} repair_log_t;

static void on_repair(void *arg, const char *key, size_t klen, const store_version_t *v,
                      uint64_t file_id)
{
    (void)key;
    (void)klen;
    (void)v;
    repair_log_t *l = arg;
    __atomic_add_fetch(&l->calls, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->file_id, file_id, __ATOMIC_SEQ_CST);
}

/*
 * The defining failure at store level: a replicated blob is killed midway
 * (at a chunk, after its content sync, after finalize). After restart the
 * record is `receiving` on a leftover; a reader never gets its bytes (it
 * reports repair and times out with CAIRN_EUNAVAIL); re-delivery of the
 * same version into a fresh file is accepted; readers then get exactly the
 * right bytes; the leftover file is gone.
 */
static void run_replica_case(const char *spec, size_t size, int overwrite)
{
    char *dir = make_tmpdir();
    const char *key = "r/blob";
    const size_t old_size = 100 * 1024;
    store_t *s = open_store(dir);
    if (overwrite) {
        repl_arg_t a0 = {key, old_size, 7, {1000ull << 16, 2}};
        ck_assert_int_eq(put_replica(s, &a0, NULL), 0);
    }
    store_close(s);

    repl_arg_t a = {key, size, 99, {2000ull << 16, 3}};
    int status = run_child(spec, child_replica, dir, &a);
    ck_assert_msg(killed(status), "%s: child not killed (status %d)", spec, status);

    repair_log_t rl = {0};
    store_opts_t o = {0};
    o.so_dir = dir;
    o.so_node_id = 1;
    o.so_repair = on_repair;
    o.so_repair_arg = &rl;
    ck_assert_int_eq(store_open(&o, &s), 0);

    store_stat_t st;
    ck_assert_int_eq(store_stat(s, key, strlen(key), 0, &st), 0);
    ck_assert_int_eq(st.st_state, STORE_RECEIVING);
    ck_assert_uint_eq(st.st_version.sv_hlc, a.version.sv_hlc);
    uint64_t stale = st.st_file_id;

    store_stats_t ss;
    store_get_stats(s, &ss);
    ck_assert_uint_ge(ss.ss_repairs_pending, 1);

    uint8_t *got = NULL;
    size_t n = 0;
    uint64_t t0 = store_mono_ms();
    ck_assert_int_eq(read_all(s, key, &got, &n, 300), CAIRN_EUNAVAIL);
    ck_assert_uint_ge(store_mono_ms() - t0, 250); /* waited for the deadline, bounded */
    ck_assert_int_ge(rl.calls, 1);
    ck_assert_uint_eq(rl.file_id, stale);

    /* Re-delivery of the same version into a fresh file. */
    store_stat_t done;
    ck_assert_int_eq(put_replica(s, &a, &done), 0);
    ck_assert_uint_ne(done.st_file_id, stale);
    ck_assert_int_eq(done.st_state, STORE_COMPLETE);
    assert_content(s, key, 99, size);
    /* A second delivery of the now-complete version is a duplicate. */
    ck_assert_int_eq(put_replica(s, &a, NULL), CAIRN_EEXIST);

    store_get_stats(s, &ss);
    ck_assert_uint_eq(ss.ss_repairs_pending, 0);
    const char *keys[] = {key};
    assert_only_referenced(s, dir, keys, 1);
    store_close(s);

    /* And after a clean restart. */
    s = open_store(dir);
    assert_content(s, key, 99, size);
    assert_only_referenced(s, dir, keys, 1);
    store_close(s);
    rm_rf(dir);
    free(dir);
}

START_TEST(test_replica_chunk_new)
{
    run_replica_case("store.write.chunk=crash@2", 2 * 1024 * 1024, 0);
}
END_TEST

START_TEST(test_replica_chunk_overwrite)
{
    run_replica_case("store.write.chunk=crash@5", 4 * 1024 * 1024, 1);
}
END_TEST

START_TEST(test_replica_synced)
{
    run_replica_case("store.write.synced=crash", 1024 * 1024, 0);
}
END_TEST

START_TEST(test_replica_finalized)
{
    run_replica_case("store.write.finalized=crash", 512 * 1024, 1);
}
END_TEST

/* ---------------------------------------------------- injected I/O errors */

/*
 * ENOSPC and EIO through failpoints: the writer gets a clear error, the
 * previous version stays intact, no file is left, the store keeps working.
 * Runs in-process (no crash needed).
 */
static void run_error_case(const char *spec, int want)
{
    char *dir = make_tmpdir();
    store_t *s = open_store(dir);
    uint8_t *old = malloc(50000);
    fill(old, 50000, 3);
    ck_assert_int_eq(put_local(s, "e/key", old, 50000, NULL), 0);
    free(old);

    ck_assert_int_eq(failpoints_configure(spec), 0);
    size_t size = 1024 * 1024;
    uint8_t *data = malloc(size);
    fill(data, size, 4);
    int rc = put_local(s, "e/key", data, size, NULL);
    ck_assert_msg(rc == want, "%s: got %s", spec, cairn_strerror(rc));
    ck_assert_int_eq(failpoints_configure(NULL), 0);

    assert_content(s, "e/key", 3, 50000);
    const char *keys[] = {"e/key"};
    assert_only_referenced(s, dir, keys, 1);

    /* The store keeps working. */
    ck_assert_int_eq(put_local(s, "e/key", data, size, NULL), 0);
    assert_content(s, "e/key", 4, size);
    free(data);
    store_close(s);
    rm_rf(dir);
    free(dir);
}

START_TEST(test_enospc_chunk)
{
    run_error_case("store.write.chunk=enospc@2", -ENOSPC);
}
END_TEST

START_TEST(test_eio_chunk)
{
    run_error_case("store.write.chunk=error", -EIO);
}
END_TEST

START_TEST(test_eio_synced)
{
    run_error_case("store.write.synced=error", -EIO);
}
END_TEST

START_TEST(test_enospc_finalized)
{
    run_error_case("store.write.finalized=enospc", -ENOSPC);
}
END_TEST

/*
 * The sync that makes a committed batch durable fails: the write is not
 * acknowledged (an ack before that sync would be a durability bug), the
 * store refuses every later write (fsync failures are never retried), and
 * after a restart the store is consistent: the key holds the old or the
 * new version whole (the commit itself happened), the other key is intact.
 */
START_TEST(test_eio_commit_sync)
{
    char *dir = make_tmpdir();
    store_t *s = open_store(dir);
    uint8_t old[3000];
    uint8_t data[5000];
    fill(old, sizeof(old), 3);
    fill(data, sizeof(data), 4);
    ck_assert_int_eq(put_local(s, "e/key", old, sizeof(old), NULL), 0);
    ck_assert_int_eq(put_local(s, "e/other", old, sizeof(old), NULL), 0);

    ck_assert_int_eq(failpoints_configure("store.commit.sync=error"), 0);
    int rc = put_local(s, "e/key", data, sizeof(data), NULL);
    ck_assert_msg(rc == -EIO, "put acknowledged without a durable sync: %s", cairn_strerror(rc));
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    rc = put_local(s, "e/next", data, sizeof(data), NULL);
    ck_assert_msg(rc == -EIO, "write after a failed sync: %s", cairn_strerror(rc));
    store_close(s);

    s = open_store(dir);
    store_stat_t st;
    ck_assert_int_eq(store_stat(s, "e/key", 5, 0, &st), 0);
    if (st.st_size == sizeof(data))
        assert_content(s, "e/key", 4, sizeof(data));
    else
        assert_content(s, "e/key", 3, sizeof(old));
    assert_content(s, "e/other", 3, sizeof(old));
    ck_assert_int_eq(put_local(s, "e/next", data, sizeof(data), NULL), 0);
    assert_content(s, "e/next", 4, sizeof(data));
    store_close(s);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------- pipelined commits under load */

#define PL_THREADS 8
#define PL_PUTS 40

typedef struct pl_arg {
    store_t *pa_s;
    int pa_id;
    int pa_fail;
} pl_arg_t;

static size_t pl_size(int id, int i)
{
    /* inline and file-backed writes mixed */
    return (i % 5 == 4) ? 100 * 1024 + (size_t)id : 1000 + (size_t)(id * 37 + i);
}

static void *pl_main(void *argp)
{
    pl_arg_t *a = argp;
    char key[32];

    for (int i = 0; i < PL_PUTS; i++) {
        size_t n = pl_size(a->pa_id, i);
        uint8_t *d = malloc(n);
        fill(d, n, (uint64_t)(a->pa_id * 1000 + i));
        snprintf(key, sizeof(key), "p/%d/%d", a->pa_id, i % 10);
        if (put_local(a->pa_s, key, d, n, NULL) != 0)
            a->pa_fail++;
        free(d);
    }
    return NULL;
}

/*
 * Many writers while every sync is slowed down: batches pile up behind
 * the one awaiting its sync, so commits overlap syncs. Every write is
 * acknowledged, batches were shared, and after close and reopen every
 * key holds its last acknowledged version, byte-exact.
 */
START_TEST(test_pipelined_commits)
{
    char *dir = make_tmpdir();
    store_t *s = open_store(dir);
    pthread_t th[PL_THREADS];
    pl_arg_t args[PL_THREADS];
    store_stats_t ss;

    ck_assert_int_eq(failpoints_configure("store.commit.sync=sleep(3)"), 0);
    for (int t = 0; t < PL_THREADS; t++) {
        args[t] = (pl_arg_t){s, t, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, pl_main, &args[t]), 0);
    }
    for (int t = 0; t < PL_THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(args[t].pa_fail, 0);
    }
    ck_assert_int_eq(failpoints_configure(NULL), 0);
    store_get_stats(s, &ss);
    ck_assert_uint_ge(ss.ss_commits, PL_THREADS * PL_PUTS); /* + file-id high-water bumps */
    ck_assert_msg(ss.ss_commit_txns < ss.ss_commits, "no batch was shared (%llu txns)",
                  (unsigned long long)ss.ss_commit_txns);
    store_close(s);

    s = open_store(dir);
    for (int t = 0; t < PL_THREADS; t++) {
        for (int k = 0; k < 10; k++) {
            char key[32];
            int last = PL_PUTS - 10 + k;
            snprintf(key, sizeof(key), "p/%d/%d", t, k);
            assert_content(s, key, (uint64_t)(t * 1000 + last), pl_size(t, last));
        }
    }
    store_close(s);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------------------- damage on disk */

/*
 * Damage found on disk: truncated file, corrupted header, missing file,
 * file longer than its header says. Each is detected and treated as a
 * leftover: never served, reported for repair, the read ends with
 * CAIRN_EUNAVAIL at its deadline; a re-delivery of the version repairs it.
 */
typedef enum { DMG_TRUNCATE, DMG_HEADER, DMG_MISSING, DMG_EXTEND } damage_t;

static void run_damage_case(damage_t kind)
{
    char *dir = make_tmpdir();
    const char *key = "d/blob";
    repl_arg_t a = {key, 200 * 1024, 21, {5000ull << 16, 2}};
    repair_log_t rl = {0};
    store_opts_t o = {0};
    o.so_dir = dir;
    o.so_node_id = 1;
    o.so_repair = on_repair;
    o.so_repair_arg = &rl;
    store_t *s = NULL;
    ck_assert_int_eq(store_open(&o, &s), 0);
    store_stat_t st;
    ck_assert_int_eq(put_replica(s, &a, &st), 0);

    char path[BLOBFILE_PATH_MAX];
    snprintf(path, sizeof path, "%s/blobs", dir);
    char fpath[BLOBFILE_PATH_MAX];
    blobfile_path(path, st.st_file_id, fpath, sizeof fpath);
    switch (kind) {
    case DMG_TRUNCATE:
        ck_assert_int_eq(truncate(fpath, BLOBFILE_HEADER_SIZE + 1000), 0);
        break;
    case DMG_EXTEND:
        ck_assert_int_eq(truncate(fpath, BLOBFILE_HEADER_SIZE + (off_t)a.size + 1), 0);
        break;
    case DMG_MISSING:
        ck_assert_int_eq(unlink(fpath), 0);
        break;
    case DMG_HEADER: {
        int fd = open(fpath, O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, "X", 1, 20), 1);
        close(fd);
        break;
    }
    }

    uint8_t *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(read_all(s, key, &got, &n, 300), CAIRN_EUNAVAIL);
    ck_assert_int_ge(rl.calls, 1);
    ck_assert_uint_eq(rl.file_id, st.st_file_id);

    /* The same version is accepted again (its copy here is a leftover). */
    store_stat_t st2;
    ck_assert_int_eq(put_replica(s, &a, &st2), 0);
    ck_assert_uint_ne(st2.st_file_id, st.st_file_id);
    assert_content(s, key, 21, a.size);
    const char *keys[] = {key};
    assert_only_referenced(s, dir, keys, 1);
    store_close(s);
    rm_rf(dir);
    free(dir);
}

START_TEST(test_damage)
{
    run_damage_case((damage_t)_i);
}
END_TEST

/* A second process on the same data directory is refused. */
static void child_open(const char *dir, void *arg)
{
    (void)arg;
    store_opts_t o = {0};
    o.so_dir = dir;
    o.so_node_id = 1;
    store_t *s = NULL;
    int rc = store_open(&o, &s);
    _exit(rc == CAIRN_ELOCKED ? 0 : 1);
}

START_TEST(test_lock)
{
    char *dir = make_tmpdir();
    store_t *s = open_store(dir);
    int status = run_child("", child_open, dir, NULL);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    store_close(s);
    rm_rf(dir);
    free(dir);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *su = suite_create("storage-crash");
    TCase *tc = tcase_create("local");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_local_small_new, 0, 2 * NCASES);
    tcase_add_loop_test(tc, test_local_small_overwrite, 0, 2 * NCASES);
    tcase_add_loop_test(tc, test_local_big_new, 0, NCASES);
    tcase_add_loop_test(tc, test_local_big_overwrite, 0, NCASES);
    tcase_add_loop_test(tc, test_local_empty_new, 0, 2 * NCASES);
    suite_add_tcase(su, tc);

    tc = tcase_create("replica");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_replica_chunk_new);
    tcase_add_test(tc, test_replica_chunk_overwrite);
    tcase_add_test(tc, test_replica_synced);
    tcase_add_test(tc, test_replica_finalized);
    suite_add_tcase(su, tc);

    tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pipelined_commits);
    suite_add_tcase(su, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_enospc_chunk);
    tcase_add_test(tc, test_eio_chunk);
    tcase_add_test(tc, test_eio_synced);
    tcase_add_test(tc, test_enospc_finalized);
    tcase_add_test(tc, test_eio_commit_sync);
    tcase_add_loop_test(tc, test_damage, DMG_TRUNCATE, DMG_EXTEND + 1);
    tcase_add_test(tc, test_lock);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(crash_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
