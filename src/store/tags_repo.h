/*
 * tags_repo.h — tags and the customers carrying them (tables tags, customer_tags, tag_presets;
 * sql/0001_init.sql and sql/0003_tags.sql).
 *
 * A tag is manual (staff put it on customers: customer_tags rows with source 'manual'), rule (a
 * segment expression; its members are computed by every process's engine and never stored) or
 * model (reserved). Every write to customer_tags touches the customer (hk_db_touch_customer), so
 * engines reload it; writes to tags announce HK_CHANGE_SEGMENT, so engines re-read the rules.
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(CONFLICT) for a duplicate name,
 * HK_E(NOTFOUND) for an id that does not exist.
 *
 * Threading: functions use the one hk_db they are given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_TAGS_REPO_H
#define HK_STORE_TAGS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/** A tag as stored. Strings owned (hk_tag_row_release); "" where the column is NULL. */
struct hk_tag_row {
    int64_t id;
    char *name;
    char *kind;       /* manual, rule, model */
    char *expression; /* rule tags; "" otherwise */
    char *color;
    char *description;
    char *preset; /* the preset key it was made from, "" when staff made it */
    int64_t created_at, updated_at;
};

void hk_tag_row_release(struct hk_tag_row *r);
void hk_tag_rows_free(struct hk_tag_row *rows, size_t n);

/** Every tag ordered by id. *out new (hk_tag_rows_free; NULL when *n is 0). */
int hk_tags_repo_list(struct hk_db *db, struct hk_tag_row **out, size_t *n, struct hk_err *err);
/** The tag with id (release *out). HK_E(NOTFOUND). */
int hk_tags_repo_get(struct hk_db *db, int64_t id, struct hk_tag_row *out, struct hk_err *err);
/** The tag named name (release *out). HK_E(NOTFOUND). */
int hk_tags_repo_find(struct hk_db *db, const char *name, struct hk_tag_row *out,
                      struct hk_err *err);
/**
 * Inserts a tag (r->id ignored; NULL or "" expression and preset store NULL); its id into *id.
 * HK_E(CONFLICT) for a taken name.
 */
int hk_tags_repo_insert(struct hk_db *db, const struct hk_tag_row *r, int64_t now, int64_t *id,
                        struct hk_err *err);
/** Replaces name, expression, color and description of r->id. HK_E(NOTFOUND), HK_E(CONFLICT). */
int hk_tags_repo_update(struct hk_db *db, const struct hk_tag_row *r, int64_t now,
                        struct hk_err *err);
/**
 * Deletes tag id and every customer_tags row of it (touching those customers); the number of
 * customers untagged into *untagged (may be NULL). HK_E(NOTFOUND).
 */
int hk_tags_repo_delete(struct hk_db *db, int64_t id, size_t *untagged, struct hk_err *err);

/** Touches every customer carrying tag_id (its name changed: engines re-read them). */
int hk_tags_repo_touch_members(struct hk_db *db, int64_t tag_id, struct hk_err *err);
/** Puts tag_id on customer_id (source 'manual'); *added (may be NULL): it was not there yet. */
int hk_tags_repo_add(struct hk_db *db, int64_t customer_id, int64_t tag_id, int64_t now,
                     bool *added, struct hk_err *err);
/** Takes tag_id off customer_id; *removed (may be NULL): it was there. */
int hk_tags_repo_remove(struct hk_db *db, int64_t customer_id, int64_t tag_id, bool *removed,
                        struct hk_err *err);
/**
 * Puts tag_id on every customer of ids[0..n) (existing customers; duplicates allowed) with
 * multi-row INSERTs of up to 256 rows, touching the customers newly tagged; their number into
 * *added. Run inside a write transaction.
 */
int hk_tags_repo_add_many(struct hk_db *db, int64_t tag_id, const int64_t *ids, size_t n,
                          int64_t now, size_t *added, struct hk_err *err);

/** One stored tag of a customer (borrowed strings, valid during the callback). */
struct hk_tag_of {
    int64_t customer_id, tag_id;
    const char *name, *kind, *color, *source;
    int64_t tagged_at;
};
typedef int (*hk_tag_of_cb)(void *ctx, const struct hk_tag_of *t, struct hk_err *err);
/** The stored tags of customers ids[0..n), by customer then name. */
int hk_tags_repo_of_customers(struct hk_db *db, const int64_t *ids, size_t n, hk_tag_of_cb cb,
                              void *ctx, struct hk_err *err);
/** Stored memberships per tag: cb(ctx, tag_id, customers), merged-away customers left out. */
int hk_tags_repo_counts(struct hk_db *db, void (*cb)(void *ctx, int64_t tag_id, int64_t n),
                        void *ctx, struct hk_err *err);

/** The live customer id stands for: itself, or the customer it was merged into. NOTFOUND. */
int hk_tags_repo_survivor(struct hk_db *db, int64_t id, int64_t *out, struct hk_err *err);

/**
 * Claims preset key: true in *claimed when it had never been claimed (the caller then creates
 * the tag in the same transaction), false when it was (created before, maybe deleted since).
 */
int hk_tags_repo_preset_claim(struct hk_db *db, const char *key, int64_t now, bool *claimed,
                              struct hk_err *err);
/** Whether preset key was ever claimed. */
int hk_tags_repo_preset_seen(struct hk_db *db, const char *key, bool *seen, struct hk_err *err);

#endif
