/*
 * tags.h — customer tags (docs/segments.md, "Tags"): manual tags that staff put on customers
 * (one at a time or in bulk on a segment's members), rule tags whose members are a segment
 * expression's (kept current by the engine, services/tag_rules.h), and the preset rule tags in
 * the sellers' vocabulary.
 *
 * Names are unique over all tags and usable in has_tag("name") everywhere (the engine knows every
 * tag's name, so suggestions include them). A rule tag's expression is validated like a saved
 * segment's (HK_E(INVAL) with the place in *where) and may not reach itself through has_tag;
 * renaming or deleting a tag that a rule tag or a saved segment names through has_tag is
 * HK_E(CONFLICT) naming the user. Rule tags are never put on or taken off by hand
 * (HK_E(CONFLICT)).
 *
 * Writes are audited (tag.create, tag.update, tag.delete, tag.apply, customer.tag_add,
 * customer.tag_remove) with the actor given, and take effect in this process's engine before
 * the call returns (hk_engine_svc_rules_reload); other processes follow the change log.
 *
 * Presets (hk_tags_presets_ensure): 高客单价, 高频复购, 优惠券敏感, 沉睡客户, 新客 and one
 * <category>爱好者 per main category, each made once (table tag_presets): editable, deletable, and
 * never made again after deletion.
 *
 * Threading: thread-safe; engine reads hold its read lock only briefly.
 */
#ifndef HK_SERVICES_TAGS_H
#define HK_SERVICES_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/customers.h"
#include "services/segment_svc.h"
#include "store/tags_repo.h"

struct hk_app;
struct hk_err;
struct hk_actor;

#define HK_TAG_NAME_MAX  128  /* bytes */
#define HK_TAG_COLOR_MAX 32   /* bytes */
#define HK_TAG_DESC_MAX  2000 /* bytes */

/** A tag as the API shows it. */
struct hk_tag {
    struct hk_tag_row row; /* owned strings */
    bool has_count;        /* false when the engine is not loaded and the tag is a rule tag */
    int64_t count;         /* live customers carrying it */
    char error[256];       /* a rule tag whose expression does not compile now: why; else "" */
};
void hk_tag_release(struct hk_tag *t);
void hk_tags_free(struct hk_tag *tags, size_t n);

/** Every tag ordered by id with its count. *out new (hk_tags_free). */
int hk_tags_list(struct hk_app *app, struct hk_tag **out, size_t *n, struct hk_err *err);
/** One tag (release *out). HK_E(NOTFOUND). */
int hk_tags_get(struct hk_app *app, int64_t id, struct hk_tag *out, struct hk_err *err);

/** Fields of a create or update; NULL = absent (update: unchanged). */
struct hk_tag_input {
    const char *name;
    const char *kind; /* create: "manual" (default) or "rule"; update: must be NULL */
    const char *expression;
    const char *color;
    const char *description;
};

/** Creates a tag. HK_E(INVAL) (expression errors fill *where), HK_E(CONFLICT) for the name. */
int hk_tags_create(struct hk_app *app, const struct hk_actor *actor, const struct hk_tag_input *in,
                   struct hk_segment_error *where, struct hk_tag *out, struct hk_err *err);
/** Changes the fields given. HK_E(NOTFOUND), HK_E(INVAL), HK_E(CONFLICT) as create and above. */
int hk_tags_update(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                   const struct hk_tag_input *in, struct hk_segment_error *where,
                   struct hk_tag *out, struct hk_err *err);
/** Deletes a tag and takes it off every customer. HK_E(NOTFOUND), HK_E(CONFLICT). */
int hk_tags_delete(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                   struct hk_err *err);

/**
 * Puts manual tag id on every member of saved segment segment_id (when > 0) or of expression:
 * *applied = the members, *added = those not carrying it before. HK_E(CONFLICT) for a rule tag,
 * HK_E(NOTFOUND) for an unknown tag or segment, HK_E(INVAL) (with *where) for a bad expression.
 */
int hk_tags_apply(struct hk_app *app, const struct hk_actor *actor, int64_t id, int64_t segment_id,
                  const char *expression, struct hk_segment_error *where, size_t *applied,
                  size_t *added, struct hk_err *err);

/**
 * Puts the manual tag named name on customer id (its survivor when merged away, into
 * *customer_id), creating the tag when no tag has that name. HK_E(CONFLICT) for a rule tag.
 */
int hk_tags_customer_add(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                         const char *name, int64_t *customer_id, struct hk_err *err);
/** Takes manual tag tag_id off customer id (idempotent). HK_E(CONFLICT) for a rule tag. */
int hk_tags_customer_remove(struct hk_app *app, const struct hk_actor *actor, int64_t id,
                            int64_t tag_id, int64_t *customer_id, struct hk_err *err);

/**
 * Every tag of customer id (a live id; no merge resolution): the stored ones and the rule tags
 * the engine gives it, ordered by name. *out new (free; NULL when *n is 0).
 */
int hk_tags_of_customer(struct hk_app *app, int64_t id, struct hk_customer_tag **out, size_t *n,
                        struct hk_err *err);
/**
 * Appends to (*tags, *n) (a profile's stored tags, realloc'd) the rule tags the engine gives
 * customer id, then sorts by name. No engine: nothing appended.
 */
int hk_tags_add_rule_tags(struct hk_app *app, int64_t id, struct hk_customer_tag **tags, size_t *n,
                          struct hk_err *err);
/**
 * The tag names of customers ids[0..n) for lists: lists[i] new array of counts[i] new strings
 * (free with hk_tags_names_free), stored and rule tags, by name.
 */
int hk_tags_names_of(struct hk_app *app, const int64_t *ids, size_t n, char ***lists,
                     size_t *counts, struct hk_err *err);
void hk_tags_names_free(char **list, size_t n);

/**
 * Makes the presets not made before (tag_presets): the five fixed rule tags and, with the engine
 * loaded, one <category>爱好者 per category that is some buyer's main category (the 50 largest).
 * *created (may be NULL) = tags made. Idempotent.
 */
int hk_tags_presets_ensure(struct hk_app *app, size_t *created, struct hk_err *err);

struct hk_tags_watch;
/**
 * Watches app->engine's changes for categories that become some buyer's main category and makes
 * their presets (new; stop with hk_tags_watch_stop before the engine stops, free after).
 */
int hk_tags_watch_start(struct hk_app *app, struct hk_tags_watch **out, struct hk_err *err);
void hk_tags_watch_stop(struct hk_tags_watch *w);
void hk_tags_watch_free(struct hk_tags_watch *w);

#endif
