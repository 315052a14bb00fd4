/*
 * damaged.c -- marking a complete local copy damaged (store.h,
 * store_report_damaged()).
 *
 * Whoever reads a copy whole and hashes it (the replication sender does,
 * the store's reader does not for files) can tell that its content fails
 * the record's hash although the file's header is intact. The mark is the
 * record's "d" flag (record.h), set by the commit thread (apply_damaged in
 * commit.c) only while the record still names that copy, so a late report
 * about a copy that was replaced meanwhile changes nothing. With the mark
 * the copy counts as not whole everywhere the store asks (store_rec_whole:
 * same-version re-delivery; the reader; recovery), and the key keeps a
 * repair entry until a new record -- re-delivered, newer or a tombstone --
 * replaces the marked one.
 */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "storage/store_int.h"

/*
 * See store.h. Borrows key for the call. Waits for the commit (synced),
 * then reports the key through so_repair with no lock held. On any
 * failure nothing is marked and nothing is reported.
 */
int store_report_damaged(store_t *s, const char *key, size_t klen, uint64_t file_id)
{
    store_creq_t rq;
    char kbuf[128];
    int rc;

    if (s == NULL || key == NULL || key_validate(key, klen) < 0)
        return CAIRN_EINVAL;
    memset(&rq, 0, sizeof(rq));
    rq.cr_type = CR_DAMAGED;
    rq.cr_enclen = key_encode(key, klen, rq.cr_enc);
    rq.cr_rec.r_st.st_file_id = file_id;
    rc = store_commit(s, &rq);
    if (rc < 0) {
        if (rc != CAIRN_ESTALE)
            LOG_WARN("store.damaged.fail", "dir=%s key=%s file=%016" PRIx64 " err=%s", s->s_dir,
                     log_kv_str(kbuf, sizeof(kbuf), key, klen), file_id, cairn_errname(rc));
        return rc;
    }
    LOG_ERROR("store.damaged",
              "dir=%s key=%s version=%" PRIu64 ".%u file=%016" PRIx64 " inline=%d"
              " note=\"local copy fails its hash; not served until repaired\"",
              s->s_dir, log_kv_str(kbuf, sizeof(kbuf), key, klen), rq.cr_rec.r_st.st_version.sv_hlc,
              (unsigned)rq.cr_rec.r_st.st_version.sv_origin, file_id, rq.cr_rec.r_st.st_inline);
    store_report_repair(s, &rq.cr_rec.r_st);
    return 0;
}
