/*
 * store.c -- opening and closing the store: data directory lock, LMDB
 * environment and sub-databases, persisted metadata, file-id allocation,
 * clock ceiling and statistics. See store_int.h for the layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "storage/blobfile.h"
#include "storage/fileio.h"
#include "storage/store_int.h"

int store_version_cmp(const store_version_t *a, const store_version_t *b)
{
    if (a->sv_hlc != b->sv_hlc)
        return a->sv_hlc < b->sv_hlc ? -1 : 1;
    if (a->sv_origin != b->sv_origin)
        return a->sv_origin < b->sv_origin ? -1 : 1;
    return 0;
}

uint64_t store_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

hlc_t *store_clock(store_t *s)
{
    return s->s_clock;
}

/*
 * LMDB returns errno values (positive) or its own MDB_* codes (negative,
 * -30799..-30780). A full map at its maximum is a full disk for our callers.
 */
int store_mdb_err(int rc)
{
    if (rc == 0)
        return 0;
    if (rc < 0 && (rc < MDB_KEYEXIST || rc > MDB_LAST_ERRCODE))
        return rc; /* already a CAIRN_E* or -errno */
    if (rc == MDB_MAP_FULL)
        return -ENOSPC;
    if (rc == MDB_NOTFOUND)
        return CAIRN_ENOTFOUND;
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
        rc == MDB_VERSION_MISMATCH)
        return CAIRN_ECORRUPT;
    if (rc > 0)
        return -rc;
    return -EIO;
}

/*
 * Begins a read-only transaction. s_map_lock is held shared until
 * store_rtxn_end() so the commit thread can grow the map only when no
 * transaction is open. Callers must not begin a second one on the same
 * thread before ending the first (the lock prefers writers).
 */
int store_rtxn_begin(store_t *s, MDB_txn **out)
{
    int rc;

    *out = NULL;
    pthread_rwlock_rdlock(&s->s_map_lock);
    rc = mdb_txn_begin(s->s_env, NULL, MDB_RDONLY, out);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->s_map_lock);
        *out = NULL;
        return store_mdb_err(rc);
    }
    return 0;
}

void store_rtxn_end(store_t *s, MDB_txn *txn)
{
    if (txn == NULL)
        return;
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->s_map_lock);
}

/* Copies the record at enc out of txn into *r. */
int store_rec_get(store_t *s, MDB_txn *txn, const uint8_t *enc, size_t elen, record_t *r)
{
    MDB_val k = {elen, (void *)enc};
    MDB_val v;
    int rc;

    rc = mdb_get(txn, s->s_db_records, &k, &v);
    if (rc != 0)
        return store_mdb_err(rc);
    memset(r, 0, sizeof(*r)); /* copies handed out carry no stale bytes */
    rc = record_decode(v.mv_data, v.mv_size, r);
    if (rc < 0) {
        LOG_ERROR("store.record.corrupt", "dir=%s klen=%zu", s->s_dir, elen);
        return CAIRN_ECORRUPT;
    }
    return 0;
}

int store_rec_read(store_t *s, const uint8_t *enc, size_t elen, record_t *r)
{
    MDB_txn *txn;
    int rc;

    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = store_rec_get(s, txn, enc, elen, r);
    store_rtxn_end(s, txn);
    return rc;
}

/*
 * See store_int.h. The record and its inline bytes come from one read
 * transaction, so they always belong to the same version; the bytes are
 * copied before the transaction ends and checked after it.
 */
int store_rec_read_mem(store_t *s, const uint8_t *enc, size_t elen, record_t *r, uint8_t **mem)
{
    MDB_txn *txn;
    MDB_val k = {elen, (void *)enc};
    MDB_val v = {0, NULL};
    uint8_t hash[STORE_HASH_LEN];
    uint8_t *copy = NULL;
    char kbuf[128];
    int found = 0;
    int rc;

    *mem = NULL;
    rc = store_rtxn_begin(s, &txn);
    if (rc < 0)
        return rc;
    rc = store_rec_get(s, txn, enc, elen, r);
    if (rc < 0 || !r->r_st.st_inline || r->r_st.st_damaged) {
        /* A damaged inline copy is never served: nothing to copy. */
        store_rtxn_end(s, txn);
        return rc;
    }
    rc = mdb_get(txn, s->s_db_inline, &k, &v);
    if (rc == 0) {
        found = 1;
        if (v.mv_size == r->r_st.st_size) {
            copy = malloc(v.mv_size > 0 ? v.mv_size : 1);
            if (copy == NULL)
                rc = CAIRN_ENOMEM;
            else
                memcpy(copy, v.mv_data, v.mv_size);
        }
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else {
        rc = store_mdb_err(rc);
    }
    store_rtxn_end(s, txn);
    if (rc < 0)
        return rc;
    if (copy != NULL) {
        blobfile_hash(copy, (size_t)r->r_st.st_size, hash);
        if (memcmp(hash, r->r_st.st_hash, STORE_HASH_LEN) == 0) {
            *mem = copy;
            return 0;
        }
    }
    LOG_ERROR("store.inline.corrupt", "dir=%s key=%s size=%" PRIu64 " found=%d stored=%zu",
              s->s_dir, log_kv_str(kbuf, sizeof(kbuf), r->r_st.st_key, r->r_st.st_klen),
              r->r_st.st_size, found, v.mv_size);
    free(copy);
    return CAIRN_ECORRUPT;
}

int store_rec_whole(store_t *s, const record_t *r)
{
    if (r->r_st.st_state != STORE_COMPLETE || r->r_st.st_damaged)
        return 0;
    if (r->r_st.st_inline)
        return 1;
    return store_file_state(s, r->r_st.st_file_id, r->r_st.st_size, r->r_st.st_hash) ==
           BLOBFILE_WHOLE;
}

int store_meta_get(store_t *s, MDB_txn *txn, const char *name, uint64_t *v, int *found)
{
    MDB_val k = {strlen(name), (void *)name};
    MDB_val d;
    int rc;

    *found = 0;
    rc = mdb_get(txn, s->s_db_meta, &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return store_mdb_err(rc);
    if (d.mv_size != 8)
        return CAIRN_ECORRUPT;
    *v = u64_from_be(d.mv_data);
    *found = 1;
    return 0;
}

int store_meta_put(store_t *s, MDB_txn *txn, const char *name, uint64_t v)
{
    uint8_t be[8];
    MDB_val k = {strlen(name), (void *)name};
    MDB_val d = {8, be};

    u64_to_be(v, be);
    return mdb_put(txn, s->s_db_meta, &k, &d, 0);
}

/* With s_mu held. Every id below the result is settled (committed,
 * removed, or the file of a record); live writers hold it back. */
uint64_t store_checkpoint_locked(store_t *s)
{
    uint64_t cp = s->s_fid_next;

    for (size_t i = 0; i < STORE_WT_BUCKETS; i++) {
        for (store_went_t *e = s->s_wt[i]; e != NULL; e = e->we_next) {
            if (e->we_fid < cp)
                cp = e->we_fid;
        }
    }
    return cp;
}

/*
 * Hands out a fresh file id and hashes e under it, atomically with respect
 * to checkpoint computation (both under s_mu), so a crash can never leave a
 * file below the persisted checkpoint. When the reserved range is used up,
 * one caller asks the commit thread to persist a higher mark and the others
 * wait; ids of a range are handed out only after it is durable. On failure
 * e is not registered.
 */
int store_fid_alloc(store_t *s, store_went_t *e)
{
    store_creq_t rq;
    size_t b;
    int rc = 0;

    pthread_mutex_lock(&s->s_mu);
    while (s->s_fid_next >= s->s_fid_hwm) {
        if (s->s_fid_bumping) {
            pthread_cond_wait(&s->s_id_cond, &s->s_mu);
            continue;
        }
        s->s_fid_bumping = 1;
        pthread_mutex_unlock(&s->s_mu);
        memset(&rq, 0, sizeof(rq));
        rq.cr_type = CR_HWM;
        rc = store_commit(s, &rq);
        pthread_mutex_lock(&s->s_mu);
        s->s_fid_bumping = 0;
        pthread_cond_broadcast(&s->s_id_cond);
        if (rc < 0)
            goto done;
    }
    e->we_fid = s->s_fid_next++;
    e->we_hashed = 1;
    b = (size_t)(e->we_fid % STORE_WT_BUCKETS);
    e->we_next = s->s_wt[b];
    s->s_wt[b] = e;
    s->s_nwriters++;
done:
    pthread_mutex_unlock(&s->s_mu);
    return rc;
}

/* Opens fid only to classify it; nothing stays open. */
int store_file_state(store_t *s, uint64_t fid, uint64_t size, const uint8_t *hash)
{
    blobfile_hdr_t h;
    int fd = -1;
    int rc;

    rc = blobfile_open(s->s_blobs, fid, size, hash, &fd, &h);
    fio_close(fd);
    return rc;
}

/* so_repair must not block; it is called with no store lock held. */
void store_report_repair(store_t *s, const store_stat_t *st)
{
    char kbuf[128];

    STORE_ATOMIC_ADD(&s->s_st_repairs_queued, 1);
    LOG_INFO("store.repair.queued", "key=%s version=%" PRIu64 ".%u file=%016" PRIx64,
             log_kv_str(kbuf, sizeof(kbuf), st->st_key, st->st_klen), st->st_version.sv_hlc,
             (unsigned)st->st_version.sv_origin, st->st_file_id);
    if (s->s_repair != NULL)
        s->s_repair(s->s_repair_arg, st->st_key, st->st_klen, &st->st_version, st->st_file_id);
}

/*
 * Takes DATA/LOCK. flock() locks belong to the open file description, so a
 * second open in the same process is refused too.
 */
static int take_lock(store_t *s)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/LOCK", s->s_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        LOG_ERROR("store.lock.fail", "dir=%s errno=%d", s->s_dir, errno);
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        close(fd);
        if (e == EWOULDBLOCK) {
            LOG_ERROR("store.locked",
                      "dir=%s msg=\"data directory %s is in use by another cairnd (LOCK held)\"",
                      s->s_dir, s->s_dir);
            return CAIRN_ELOCKED;
        }
        return -e;
    }
    s->s_lock_fd = fd;
    return 0;
}

/*
 * Opens every sub-database and loads (or initialises) the persisted meta.
 * A directory written by another node id or a newer schema is refused.
 */
static int open_dbs(store_t *s)
{
    MDB_txn *txn = NULL;
    uint64_t v;
    int found;
    int rc;

    rc = mdb_txn_begin(s->s_env, NULL, 0, &txn);
    if (rc != 0)
        return store_mdb_err(rc);
    rc = mdb_dbi_open(txn, "records", MDB_CREATE, &s->s_db_records);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "files", MDB_CREATE, &s->s_db_files);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "gc", MDB_CREATE, &s->s_db_gc);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "repair", MDB_CREATE, &s->s_db_repair);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "tombs", MDB_CREATE, &s->s_db_tombs);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->s_db_log);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "cursors", MDB_CREATE, &s->s_db_cursors);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->s_db_meta);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "inline", MDB_CREATE, &s->s_db_inline);
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto fail;
    }

    rc = store_meta_get(s, txn, "schema", &v, &found);
    if (rc < 0)
        goto fail;
    if (!found) {
        /* Fresh store. File id 0 means "none", so ids start at 1. */
        rc = store_meta_put(s, txn, "schema", STORE_SCHEMA);
        if (rc == 0)
            rc = store_meta_put(s, txn, "node_id", s->s_node_id);
        if (rc == 0)
            rc = store_meta_put(s, txn, "fid_hwm", 1);
        if (rc == 0)
            rc = store_meta_put(s, txn, "checkpoint", 1);
        if (rc == 0)
            rc = store_meta_put(s, txn, "clean", 1);
        if (rc != 0) {
            rc = store_mdb_err(rc);
            goto fail;
        }
        LOG_INFO("store.init", "dir=%s node=%u", s->s_dir, (unsigned)s->s_node_id);
    } else if (v != STORE_SCHEMA) {
        LOG_ERROR("store.schema", "dir=%s schema=%" PRIu64 " supported=%d", s->s_dir, v,
                  STORE_SCHEMA);
        rc = CAIRN_EINVAL;
        goto fail;
    }
    rc = store_meta_get(s, txn, "node_id", &v, &found);
    if (rc < 0)
        goto fail;
    if (found && v != s->s_node_id) {
        LOG_ERROR("store.node_id",
                  "dir=%s node=%u stored=%" PRIu64
                  " msg=\"data directory belongs to another node id\"",
                  s->s_dir, (unsigned)s->s_node_id, v);
        rc = CAIRN_EINVAL;
        goto fail;
    }

    s->s_fid_hwm = 1;
    rc = store_meta_get(s, txn, "fid_hwm", &v, &found);
    if (rc == 0 && found && v > 1)
        s->s_fid_hwm = v;
    if (rc == 0)
        rc = store_meta_get(s, txn, "hlc_hwm", &s->s_hlc_hwm, &found);
    if (rc == 0)
        rc = store_meta_get(s, txn, "local_seq", &s->s_local_seq, &found);
    if (rc == 0)
        rc = store_meta_get(s, txn, "blobs", &s->s_cnt_blobs, &found);
    if (rc == 0)
        rc = store_meta_get(s, txn, "bytes", &s->s_cnt_bytes, &found);
    if (rc == 0)
        rc = store_meta_get(s, txn, "tombstones", &s->s_cnt_tombs, &found);
    /* Absent in stores written before inline blobs existed: 0 is right. */
    if (rc == 0)
        rc = store_meta_get(s, txn, "inline_blobs", &s->s_cnt_inl_blobs, &found);
    if (rc == 0)
        rc = store_meta_get(s, txn, "inline_bytes", &s->s_cnt_inl_bytes, &found);
    if (rc < 0)
        goto fail;
    /* Ids below the persisted mark may have been handed out before a crash. */
    s->s_fid_next = s->s_fid_hwm;

    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        rc = store_mdb_err(rc);
        goto fail;
    }
    return 0;

fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

static int open_env(store_t *s, uint64_t map_size)
{
    char path[PATH_MAX];
    MDB_envinfo info;
    int rc;

    snprintf(path, sizeof(path), "%s/meta", s->s_dir);
    rc = fio_mkdirs(path);
    if (rc < 0)
        return rc;
    rc = mdb_env_create(&s->s_env);
    if (rc != 0) {
        s->s_env = NULL;
        return store_mdb_err(rc);
    }
    rc = mdb_env_set_maxdbs(s->s_env, STORE_MAXDBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->s_env, STORE_MAXREADERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->s_env, (size_t)map_size);
    /* MDB_NOTLS: read transactions are not tied to threads (reader slots
     * are per transaction); default sync flags: every commit is durable. */
    if (rc == 0)
        rc = mdb_env_open(s->s_env, path, MDB_NOTLS, 0644);
    if (rc != 0) {
        LOG_ERROR("store.env.fail", "dir=%s rc=%d err=\"%s\"", s->s_dir, rc, mdb_strerror(rc));
        return store_mdb_err(rc);
    }
    /* A map grown by an earlier run is kept (LMDB takes the larger size). */
    rc = mdb_env_info(s->s_env, &info);
    if (rc != 0)
        return store_mdb_err(rc);
    s->s_map_size = info.me_mapsize;
    return 0;
}

/* Tears down whatever store_open() built; does not touch persisted state. */
static void store_free(store_t *s)
{
    if (s->s_env != NULL)
        mdb_env_close(s->s_env);
    if (s->s_lock_fd >= 0)
        close(s->s_lock_fd); /* releases the flock */
    for (size_t i = 0; i < STORE_WT_BUCKETS; i++) {
        while (s->s_wt[i] != NULL) {
            store_went_t *e = s->s_wt[i];

            s->s_wt[i] = e->we_next;
            free(e);
        }
    }
    if (s->s_own_clock_init)
        hlc_destroy(&s->s_own_clock);
    if (s->s_map_lock_init)
        pthread_rwlock_destroy(&s->s_map_lock);
    if (s->s_mu_init) {
        pthread_mutex_destroy(&s->s_mu);
        pthread_cond_destroy(&s->s_id_cond);
    }
    if (s->s_cq_init) {
        pthread_mutex_destroy(&s->s_cq_mu);
        pthread_cond_destroy(&s->s_cq_cond);
    }
    free(s->s_gcdone);
    free(s->s_gcdefer);
    free(s->s_batch);
    free(s->s_batch_pre);
    free(s);
}

static int init_locks(store_t *s)
{
    pthread_rwlockattr_t ra;

    /* Writer preference: readers never starve a map resize. */
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    if (pthread_rwlock_init(&s->s_map_lock, &ra) != 0) {
        pthread_rwlockattr_destroy(&ra);
        return CAIRN_ENOMEM;
    }
    pthread_rwlockattr_destroy(&ra);
    s->s_map_lock_init = 1;
    if (pthread_mutex_init(&s->s_mu, NULL) != 0)
        return CAIRN_ENOMEM;
    pthread_cond_init(&s->s_id_cond, NULL);
    s->s_mu_init = 1;
    if (pthread_mutex_init(&s->s_cq_mu, NULL) != 0)
        return CAIRN_ENOMEM;
    pthread_cond_init(&s->s_cq_cond, NULL);
    s->s_cq_init = 1;
    return 0;
}

/*
 * See store.h. Order: directories, lock, LMDB, meta, clock, recovery,
 * commit thread. Any failure tears everything down again (the lock is
 * released) and leaves *out NULL.
 */
int store_open(const store_opts_t *opts, store_t **out)
{
    store_t *s = NULL;
    uint64_t map_size;
    int rc;

    *out = NULL;
    if (opts == NULL || opts->so_dir == NULL || opts->so_dir[0] == '\0' || opts->so_node_id == 0 ||
        strlen(opts->so_dir) >= STORE_DIR_MAX - 16 || opts->so_inline_max > STORE_INLINE_LIMIT)
        return CAIRN_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CAIRN_ENOMEM;
    s->s_lock_fd = -1;
    snprintf(s->s_dir, sizeof(s->s_dir), "%s", opts->so_dir);
    snprintf(s->s_blobs, sizeof(s->s_blobs), "%s/blobs", opts->so_dir);
    s->s_node_id = opts->so_node_id;
    s->s_max_blob = opts->so_max_blob_size;
    s->s_batch_max = opts->so_commit_batch_max ? opts->so_commit_batch_max : STORE_DEFAULT_BATCH;
    s->s_log_changes = opts->so_log_changes;
    s->s_inline_on = !opts->so_inline_disable;
    s->s_inline_max = opts->so_inline_max ? opts->so_inline_max : STORE_INLINE_DEFAULT;
    s->s_repair = opts->so_repair;
    s->s_repair_arg = opts->so_repair_arg;
    s->s_on_change = opts->so_on_change;
    s->s_on_change_arg = opts->so_on_change_arg;
    map_size = opts->so_map_size ? opts->so_map_size : STORE_DEFAULT_MAP;
    s->s_map_max = opts->so_map_size_max ? opts->so_map_size_max : STORE_DEFAULT_MAP_MAX;
    if (s->s_map_max < map_size)
        s->s_map_max = map_size;

    rc = init_locks(s);
    if (rc < 0)
        goto fail;
    rc = fio_mkdirs(s->s_dir);
    if (rc == 0)
        rc = fio_mkdirs(s->s_blobs);
    if (rc < 0) {
        LOG_ERROR("store.mkdir.fail", "dir=%s err=%s", s->s_dir, cairn_errname(rc));
        goto fail;
    }
    rc = take_lock(s);
    if (rc < 0)
        goto fail;
    rc = open_env(s, map_size);
    if (rc < 0)
        goto fail;
    rc = open_dbs(s);
    if (rc < 0)
        goto fail;

    if (opts->so_clock != NULL) {
        s->s_clock = opts->so_clock;
        hlc_observe(s->s_clock, s->s_hlc_hwm);
    } else {
        hlc_init(&s->s_own_clock, s->s_hlc_hwm);
        s->s_own_clock_init = 1;
        s->s_clock = &s->s_own_clock;
    }

    rc = store_recover(s);
    if (rc < 0)
        goto fail;
    rc = store_commit_start(s);
    if (rc < 0)
        goto fail;
    LOG_INFO("store.open",
             "dir=%s node=%u map=%" PRIu64 " fid_next=%" PRIu64 " blobs=%" PRIu64
             " inline_blobs=%" PRIu64 " tombstones=%" PRIu64 " inline_max=%" PRIu64,
             s->s_dir, (unsigned)s->s_node_id, s->s_map_size, s->s_fid_next, s->s_cnt_blobs,
             s->s_cnt_inl_blobs, s->s_cnt_tombs, s->s_inline_on ? s->s_inline_max : 0);
    *out = s;
    return 0;

fail:
    LOG_ERROR("store.open.fail", "dir=%s err=%s", opts->so_dir, cairn_errname(rc));
    store_free(s);
    return rc;
}

/* See store.h. Live writers or readers at this point are the caller's bug:
 * the checkpoint then stays unclean so the next open runs full recovery. */
void store_close(store_t *s)
{
    uint64_t nw;

    if (s == NULL)
        return;
    store_commit_stop(s);
    pthread_mutex_lock(&s->s_mu);
    nw = s->s_nwriters;
    pthread_mutex_unlock(&s->s_mu);
    if (nw > 0)
        LOG_WARN("store.close.writers", "dir=%s live=%" PRIu64, s->s_dir, nw);
    (void)store_commit_final(s);
    LOG_INFO("store.close", "dir=%s", s->s_dir);
    store_free(s);
}

void store_get_stats(store_t *s, store_stats_t *out)
{
    MDB_txn *txn;
    MDB_stat ms;

    memset(out, 0, sizeof(*out));
    out->ss_blobs = STORE_ATOMIC_LOAD(&s->s_cnt_blobs);
    out->ss_bytes = STORE_ATOMIC_LOAD(&s->s_cnt_bytes);
    out->ss_tombstones = STORE_ATOMIC_LOAD(&s->s_cnt_tombs);
    out->ss_inline_blobs = STORE_ATOMIC_LOAD(&s->s_cnt_inl_blobs);
    out->ss_inline_bytes = STORE_ATOMIC_LOAD(&s->s_cnt_inl_bytes);
    out->ss_reads_reresolved = STORE_ATOMIC_LOAD(&s->s_st_reresolved);
    out->ss_repairs_queued = STORE_ATOMIC_LOAD(&s->s_st_repairs_queued);
    out->ss_commit_txns = STORE_ATOMIC_LOAD(&s->s_st_commit_txns);
    out->ss_commits = STORE_ATOMIC_LOAD(&s->s_st_commits);
    out->ss_files_collected = STORE_ATOMIC_LOAD(&s->s_st_collected);
    out->ss_leftovers_removed = STORE_ATOMIC_LOAD(&s->s_st_leftovers);
    if (store_rtxn_begin(s, &txn) == 0) {
        if (mdb_stat(txn, s->s_db_repair, &ms) == 0)
            out->ss_repairs_pending = ms.ms_entries;
        store_rtxn_end(s, txn);
    }
    pthread_mutex_lock(&s->s_mu);
    out->ss_live_writers = s->s_nwriters;
    pthread_mutex_unlock(&s->s_mu);
    out->ss_live_writers += STORE_ATOMIC_LOAD(&s->s_nbuffered);
}
