/*
 * snapshot.h — the engine's history in one file, so a process starts from it instead of
 * decoding every row of the store (docs/architecture.md, "Engine snapshot").
 *
 * The file holds what the bulk load builds and nothing derived: the customer rows' history
 * columns (ids, ranges, province, city, channels, live), orders, lines and events, the
 * dictionaries, the product table, the zones and shops, and the manual tags' members. Reading it
 * rebuilds the engine in the state of a bulk load before hk_engine_load_finish (that call then
 * derives aggregates and the bought() index as after a full load). The header names the store it
 * came from and the change-log position it reflects; the engine module does not interpret them
 * (services/engine_svc.c compares them with the store and brings the engine current).
 *
 * Format (all integers in the writer's byte order, which the header records; a reader with
 * another byte order or word size refuses the file):
 *   header  struct hk_snap_header (magic, version, byte order, word size, file size, the
 *           layout hash of the column table, cursor, store id, default zone, counts)
 *   sections in a fixed order, each {u32 id, u32 element size, u64 count} + raw elements
 *   trailer u64 XXH3-64 of every byte before it
 *
 * Threading: writing reads e without locking it; the caller keeps every writer of the history
 * out for the duration (services/engine_svc.c holds the sync mutex), and copies the tag bitmaps,
 * shops and zones beforehand under its read lock (hk_engine_snapshot_tags), since rule tags and
 * RFM configuration change outside the sync. Reading builds a new, unshared engine.
 */
#ifndef HK_ENGINE_SNAPSHOT_H
#define HK_ENGINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_engine;
struct hk_engine_opts;
struct hk_err;

#define HK_SNAP_STORE_ID_MAX 96
#define HK_SNAP_ZONE_MAX     64

/** What the file says about where it came from (written by the caller, read back). */
struct hk_engine_snapshot_info {
    char store_id[HK_SNAP_STORE_ID_MAX]; /* the store's identity */
    int64_t cursor;                      /* every change with id <= cursor is in the file */
    int64_t anchor_id, anchor_at;        /* the last change row with id <= cursor (0: none) */
    int64_t anchor_customer;             /* and its customer_id */
    int64_t written_at;                  /* wall clock, seconds */
    char default_zone[HK_SNAP_ZONE_MAX]; /* out: the engine's default zone when written */
    uint64_t bytes;                      /* out: the file's size */
};

/** Manual tags' members copied out of an engine (hk_engine_snapshot_tags). */
struct hk_snapshot_tags;

/**
 * Copies what may change outside the sync: the members of every tag for which keep(ctx, name)
 * is true (NULL keep: every tag; tags nobody carries and retired tags are skipped), the shop
 * table and the zone names. Call with the engine's read lock held; *out new
 * (hk_engine_snapshot_tags_free). hk_engine_snapshot_write takes these from the copy.
 */
int hk_engine_snapshot_tags(const struct hk_engine *e, bool (*keep)(void *ctx, const char *name),
                            void *ctx, struct hk_snapshot_tags **out, struct hk_err *err);
void hk_engine_snapshot_tags_free(struct hk_snapshot_tags *t);

/** A snapshot written to a temporary file, not yet in place. */
struct hk_snapshot_pending {
    int fd;
    char tmp[4096];
    char path[4096];
    uint64_t bytes;
};

/**
 * Writes e's history (and tags, which may be NULL) with info to a new temporary file beside
 * path (path.tmp.PID). The file is complete but not durable and not in place: finish it with
 * hk_engine_snapshot_finish. On error nothing is left behind.
 */
int hk_engine_snapshot_write(const struct hk_engine *e, const struct hk_snapshot_tags *tags,
                             const struct hk_engine_snapshot_info *info, const char *path,
                             struct hk_snapshot_pending *out, struct hk_err *err);
/**
 * commit: fsync the file, rename it over path, fsync the directory (a crash at any point leaves
 * either the old file or the new one). !commit: remove it.
 */
int hk_engine_snapshot_finish(struct hk_snapshot_pending *p, bool commit, struct hk_err *err);

/**
 * Reads only the header of a snapshot into *info (cheap: to check it against the store before
 * reading the rest). Errors as hk_engine_snapshot_read's for the header.
 */
int hk_engine_snapshot_peek(const char *path, struct hk_engine_snapshot_info *info,
                            struct hk_err *err);

/**
 * Reads a snapshot into a new engine made with opts (the default zone must be the file's).
 * The engine is in the bulk-load state: call hk_engine_load_finish next. Any problem (missing,
 * truncated, other version, byte order or layout, checksum mismatch, another default zone,
 * inconsistent contents) returns an error whose message says which; *info is filled as far as
 * the header was read. HK_E(NOTFOUND) when the file does not exist.
 */
int hk_engine_snapshot_read(const char *path, const struct hk_engine_opts *opts,
                            struct hk_engine_snapshot_info *info, struct hk_engine **out,
                            struct hk_err *err);

#endif
