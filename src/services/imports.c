/*
 * imports.c — uploads of import files and the queries on import jobs (see imports.h); the job
 * runner is import_worker.c.
 *
 * Uploads
 *   An upload owns one job row (status uploading, created first so its id names the directory)
 *   and the directory <data_dir>/uploads/<id>/ (mode 0700, like everything huike writes). Each
 *   file is created with O_EXCL | O_NOFOLLOW under a sanitised name, written as data arrives
 *   and fsync'd when it is complete, so a queued job's files survive a power cut. Only after
 *   every file is on disk does the row become queued: the worker never sees half an upload.
 *   An upload that ends any other way (client gone, too large, bad options, server stopping)
 *   is removed by hk_upload_free: files, directory, row.
 *
 * File names: the client's name is untrusted. Only its last path component is kept (browsers
 * on Windows send "C:\\Users\\…\\orders.csv"); control characters, the characters Windows
 * forbids (<>:"/\|?*) and invalid UTF-8 are dropped or replaced; leading dots and spaces are
 * removed (no hidden files, no "..");  the name is cut to HK_IMPORT_NAME_MAX-1 bytes on a
 * character boundary keeping its extension; duplicates within an upload get "-2", "-3" ...
 *
 * Invariants: hk_upload.total == sum of files[].size == bytes written, and never passes
 * cfg.upload_limit. `committed` is set only after the row says queued.
 *
 * Threads: an upload belongs to one thread at a time; the queries are thread-safe.
 */
#include "services/imports.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/jsontext.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "ingest/reader.h"
#include "services/app.h"
#include "services/imports_int.h"
#include "store/store.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     500

struct upload_file {
    char name[HK_IMPORT_NAME_MAX];
    int64_t size;
};

struct hk_upload {
    struct hk_app *app; /* borrowed */
    int64_t id;
    char dir[HK_IMPORT_PATH_MAX];
    int fd; /* the current file, or -1 */
    size_t nfiles;
    struct upload_file files[HK_IMPORT_FILES_MAX];
    int64_t total; /* bytes written, all files */
    bool committed;
};

/* ---- shared with the worker ------------------------------------------------------------- */

static int mkdir_ok(const char *path, bool must_be_new, struct hk_err *err)
{
    if (mkdir(path, 0700) == 0 || (!must_be_new && errno == EEXIST))
        return 0;
    return hk_err_set(err, HK_E(IO), "cannot create directory %s: %s", path, strerror(errno));
}

int hk_imports_dir(struct hk_app *app, int64_t id, bool create, char *buf, size_t size,
                   struct hk_err *err)
{
    const char *base = app->cfg.data_dir[0] ? app->cfg.data_dir : ".";
    int n = snprintf(buf, size, "%s/uploads", base);
    if (n < 0 || (size_t)n >= size)
        return hk_err_set(err, HK_E(INVAL), "data_dir is too long for upload paths");
    int rc;
    if (create && ((rc = mkdir_ok(base, false, err)) != 0 || (rc = mkdir_ok(buf, false, err)) != 0))
        return rc;
    n = snprintf(buf, size, "%s/uploads/%lld", base, (long long)id);
    if (n < 0 || (size_t)n >= size)
        return hk_err_set(err, HK_E(INVAL), "data_dir is too long for upload paths");
    if (!create)
        return 0;
    /* The job row is new, so a directory of that id is a leftover (SQLite may reuse the id of
       an abandoned upload whose files could not be removed): start afresh. */
    if (mkdir(buf, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return hk_err_set(err, HK_E(IO), "cannot create directory %s: %s", buf, strerror(errno));
    hk_imports_remove_dir(app, buf);
    return mkdir_ok(buf, true, err);
}

void hk_imports_remove_dir(struct hk_app *app, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            hk_log_kv(&app->log, HK_LOG_WARN, "import.cleanup", NULL, "dir", dir, "error",
                      strerror(errno), NULL);
        return;
    }
    struct dirent *e;
    char path[HK_IMPORT_PATH_MAX + HK_IMPORT_NAME_MAX + 2];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof path && unlink(path) != 0 && errno != ENOENT)
            hk_log_kv(&app->log, HK_LOG_WARN, "import.cleanup", NULL, "dir", dir, "error",
                      strerror(errno), NULL);
    }
    closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT)
        hk_log_kv(&app->log, HK_LOG_WARN, "import.cleanup", NULL, "dir", dir, "error",
                  strerror(errno), NULL);
}

/* ---- options ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = (s[0] & 0xE0) == 0xC0   ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || n < len)
        return 0;
    uint32_t cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int hk_imports_check_options(const char *format, const char *shop, struct hk_err *err)
{
    if (format) {
        enum hk_import_format f;
        struct hk_err ferr;
        hk_err_clear(&ferr);
        if (hk_import_format_parse(format, &f, &ferr) != 0)
            return hk_err_setf(err, HK_E(INVAL), "format",
                               "format: '%.32s' is not one of auto, generic, taobao, douyin, pdd, "
                               "jd",
                               format);
    }
    if (shop) {
        size_t n = strlen(shop);
        if (n >= HK_IMPORT_SHOP_MAX)
            return hk_err_setf(err, HK_E(INVAL), "shop", "shop: at most %d bytes",
                               HK_IMPORT_SHOP_MAX - 1);
        const unsigned char *p = (const unsigned char *)shop;
        for (size_t i = 0; i < n;) {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0 || p[i] < 0x20 || p[i] == 0x7F)
                return hk_err_setf(err, HK_E(INVAL), "shop",
                                   "shop: must be UTF-8 text without control characters");
            i += l;
        }
    }
    return 0;
}

/* ---- file names ------------------------------------------------------------------------- */

/* The client's name made safe as a file name (see the header comment); out has size bytes. */
static void sanitize_name(const char *in, char *out, size_t size)
{
    const char *base = in;
    for (const char *p = in; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const unsigned char *s = (const unsigned char *)base;
    size_t n = strlen(base), len = 0;
    char tmp[4 * HK_IMPORT_NAME_MAX];
    for (size_t i = 0; i < n && len + 4 < sizeof tmp;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 0 || s[i] < 0x20 || s[i] == 0x7F) {
            i += l ? l : 1; /* control character or invalid byte: dropped */
            continue;
        }
        if (l == 1 && strchr("<>:\"|?*", s[i]))
            tmp[len++] = '_';
        else if (!(len == 0 && (s[i] == '.' || s[i] == ' ')))
            for (size_t k = 0; k < l; k++)
                tmp[len++] = (char)s[i + k];
        i += l;
    }
    while (len > 0 && (tmp[len - 1] == ' ' || tmp[len - 1] == '.'))
        len--;
    tmp[len] = '\0';
    if (len == 0) {
        hk_strlcpy(out, "upload.csv", size);
        return;
    }
    if (len < size) {
        memcpy(out, tmp, len + 1);
        return;
    }
    /* Too long: keep a short extension, cut the stem on a character boundary. */
    const char *dot = strrchr(tmp, '.');
    size_t ext = dot && (size_t)(tmp + len - dot) <= 16 ? (size_t)(tmp + len - dot) : 0;
    size_t stem = size - 1 - ext;
    while (stem > 0 && ((unsigned char)tmp[stem] & 0xC0) == 0x80)
        stem--;
    memcpy(out, tmp, stem);
    memcpy(out + stem, tmp + len - ext, ext);
    out[stem + ext] = '\0';
}

static bool name_taken(const struct hk_upload *u, const char *name)
{
    for (size_t i = 0; i < u->nfiles; i++)
        if (strcmp(u->files[i].name, name) == 0)
            return true;
    return false;
}

/* name, or name with "-N" before its extension, not used yet in u; into out. */
static void unique_name(const struct hk_upload *u, const char *name, char *out, size_t size)
{
    hk_strlcpy(out, name, size);
    const char *dot = strrchr(name, '.');
    size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    for (int k = 2; name_taken(u, out); k++) {
        char suffix[16];
        int sl = snprintf(suffix, sizeof suffix, "-%d", k);
        size_t ext = strlen(name) - stem;
        size_t keep = stem;
        while (keep > 0 && keep + (size_t)sl + ext >= size)
            keep--;
        while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
            keep--;
        snprintf(out, size, "%.*s%s%s", (int)keep, name, suffix, name + stem);
    }
}

/* ---- uploads ---------------------------------------------------------------------------- */

int hk_upload_begin(struct hk_app *app, int64_t user_id, struct hk_upload **out, struct hk_err *err)
{
    struct hk_upload *u = calloc(1, sizeof *u);
    if (!u)
        return hk_err_set(err, HK_E(NOMEM), "out of memory starting an upload");
    u->app = app;
    u->fd = -1;
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_insert(db, user_id, hk_clock_now(&app->clock), &u->id, err);
    hk_db_release(db);
    if (rc != 0) {
        free(u);
        return rc;
    }
    if ((rc = hk_imports_dir(app, u->id, true, u->dir, sizeof u->dir, err)) != 0) {
        hk_upload_free(u); /* removes the row */
        return rc;
    }
    *out = u;
    return 0;
}

int64_t hk_upload_id(const struct hk_upload *u)
{
    return u->id;
}

/* Makes the current file durable and closes it. */
static int close_current(struct hk_upload *u, struct hk_err *err)
{
    if (u->fd < 0)
        return 0;
    int rc = 0;
    if (fsync(u->fd) != 0)
        rc = hk_err_set(err, HK_E(IO), "cannot write upload file %s: %s",
                        u->files[u->nfiles - 1].name, strerror(errno));
    if (close(u->fd) != 0 && rc == 0)
        rc = hk_err_set(err, HK_E(IO), "cannot write upload file %s: %s",
                        u->files[u->nfiles - 1].name, strerror(errno));
    u->fd = -1;
    return rc;
}

int hk_upload_file(struct hk_upload *u, const char *client_name, struct hk_err *err)
{
    int rc = close_current(u, err);
    if (rc != 0)
        return rc;
    if (u->nfiles >= HK_IMPORT_FILES_MAX)
        return hk_err_set(err, HK_E(INVAL), "at most %d files per upload", HK_IMPORT_FILES_MAX);
    char clean[HK_IMPORT_NAME_MAX];
    struct upload_file *f = &u->files[u->nfiles];
    sanitize_name(client_name ? client_name : "", clean, sizeof clean);
    unique_name(u, clean, f->name, sizeof f->name);
    f->size = 0;
    char path[HK_IMPORT_PATH_MAX + HK_IMPORT_NAME_MAX + 2];
    int n = snprintf(path, sizeof path, "%s/%s", u->dir, f->name);
    if (n < 0 || (size_t)n >= sizeof path)
        return hk_err_set(err, HK_E(INVAL), "upload path too long");
    u->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (u->fd < 0)
        return hk_err_set(err, HK_E(IO), "cannot create upload file %s: %s", f->name,
                          strerror(errno));
    u->nfiles++;
    return 0;
}

int hk_upload_write(struct hk_upload *u, const void *data, size_t len, struct hk_err *err)
{
    if (u->fd < 0)
        return hk_err_set(err, HK_E(INVAL), "no file started in this upload");
    int64_t limit = u->app->cfg.upload_limit;
    if ((uint64_t)len > (uint64_t)(limit - u->total))
        return hk_err_set(err, HK_E(TOOLARGE), "the upload is larger than the limit of %lld bytes",
                          (long long)limit);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(u->fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return hk_err_set(err, HK_E(IO), "cannot write upload file %s: %s",
                              u->files[u->nfiles - 1].name, strerror(errno));
        }
        p += w;
        left -= (size_t)w;
    }
    u->files[u->nfiles - 1].size += (int64_t)len;
    u->total += (int64_t)len;
    return 0;
}

/* [{"name": ..., "size": ...}, ...] of the upload's files (new; caller frees). */
static char *files_json(const struct hk_upload *u, struct hk_err *err)
{
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    int rc = hk_strbuf_addch(&sb, '[');
    for (size_t i = 0; rc == 0 && i < u->nfiles; i++) {
        rc = i ? hk_strbuf_addch(&sb, ',') : 0;
        if (rc == 0)
            rc = hk_strbuf_addch(&sb, '{');
        if (rc == 0)
            rc = hk_json_text_key(&sb, "name");
        if (rc == 0)
            rc = hk_json_text_string(&sb, u->files[i].name, (size_t)-1);
        if (rc == 0)
            rc = hk_strbuf_addch(&sb, ',');
        if (rc == 0)
            rc = hk_json_text_key(&sb, "size");
        if (rc == 0)
            rc = hk_json_text_int(&sb, u->files[i].size);
        if (rc == 0)
            rc = hk_strbuf_addch(&sb, '}');
    }
    if (rc == 0)
        rc = hk_strbuf_addch(&sb, ']');
    if (rc != 0) {
        hk_strbuf_release(&sb);
        hk_err_set(err, HK_E(NOMEM), "out of memory listing the upload's files");
        return NULL;
    }
    return hk_strbuf_detach(&sb, NULL);
}

int hk_upload_commit(struct hk_upload *u, const char *format, const char *shop, struct hk_err *err)
{
    int rc;
    if (u->committed)
        return hk_err_set(err, HK_E(INTERNAL), "upload %lld committed twice", (long long)u->id);
    if ((rc = hk_imports_check_options(format, shop, err)) != 0)
        return rc;
    if (u->nfiles == 0)
        return hk_err_set(err, HK_E(INVAL),
                          "the upload has no file: send the file as the request body, or as "
                          "multipart/form-data parts named 'file'");
    for (size_t i = 0; i < u->nfiles; i++)
        if (u->files[i].size == 0)
            return hk_err_setf(err, HK_E(INVAL), "file", "file %s is empty", u->files[i].name);
    if ((rc = close_current(u, err)) != 0)
        return rc;
    int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the new names must survive a crash too */
        (void)fsync(dfd);
        close(dfd);
    }
    char *files = files_json(u, err);
    if (!files)
        return HK_E(NOMEM);
    struct hk_db *db = NULL;
    bool changed = false;
    rc = hk_db_acquire(u->app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_queue(db, u->id, format ? format : "auto", shop ? shop : "", files,
                                   u->total, &changed, err);
    hk_db_release(db);
    free(files);
    if (rc == 0 && !changed)
        rc =
            hk_err_set(err, HK_E(CONFLICT), "import %lld is no longer uploading", (long long)u->id);
    if (rc != 0)
        return rc;
    u->committed = true;
    char id[24], nfiles[16], bytes[24];
    snprintf(id, sizeof id, "%lld", (long long)u->id);
    snprintf(nfiles, sizeof nfiles, "%zu", u->nfiles);
    snprintf(bytes, sizeof bytes, "%lld", (long long)u->total);
    hk_log_kv(&u->app->log, HK_LOG_INFO, "import.queued", NULL, "import", id, "files", nfiles,
              "bytes", bytes, NULL);
    hk_import_worker_wake(u->app->imports);
    return 0;
}

void hk_upload_free(struct hk_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (!u->committed) {
        if (u->dir[0])
            hk_imports_remove_dir(u->app, u->dir);
        struct hk_err err;
        hk_err_clear(&err);
        struct hk_db *db = NULL;
        int rc = hk_db_acquire(u->app->store, &db, &err);
        if (rc == 0)
            rc = hk_imports_repo_delete_uploading(db, u->id, &err);
        hk_db_release(db);
        if (rc != 0) {
            char id[24];
            snprintf(id, sizeof id, "%lld", (long long)u->id);
            hk_log_kv(&u->app->log, HK_LOG_WARN, "import.cleanup", NULL, "import", id, "error",
                      hk_err_message(&err), NULL);
        }
    }
    free(u);
}

/* ---- queries ---------------------------------------------------------------------------- */

int hk_imports_get(struct hk_app *app, int64_t id, struct hk_import_job *out, struct hk_err *err)
{
    struct hk_db *db = NULL;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_get(db, id, true, out, err);
    hk_db_release(db);
    return rc;
}

int hk_imports_list(struct hk_app *app, int64_t cursor, int limit, struct hk_import_job **out,
                    size_t *n, int64_t *next_cursor, struct hk_err *err)
{
    size_t cap = (size_t)(limit < 1 || limit > PAGE_MAX ? PAGE_DEFAULT : limit) + 1;
    struct hk_import_job *rows = calloc(cap, sizeof *rows);
    if (!rows)
        return hk_err_set(err, HK_E(NOMEM), "out of memory listing imports");
    struct hk_db *db = NULL;
    size_t count = 0;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_list(db, cursor, cap, rows, &count, err);
    hk_db_release(db);
    if (rc != 0) {
        free(rows);
        return rc;
    }
    int64_t next = 0;
    if (count == cap) { /* one more than asked: there is a next page */
        count--;
        hk_import_job_release(&rows[count]);
        next = rows[count - 1].id;
    }
    if (count == 0) {
        free(rows);
        rows = NULL;
    }
    *out = rows;
    *n = count;
    *next_cursor = next;
    return 0;
}
