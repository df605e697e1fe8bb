/*
 * tag_rules.h — rule tags inside the engine: the set of rule tags (name + segment expression)
 * as read from the store, and their evaluation into the engine's tag bitmaps.
 *
 * Rule-tag memberships are derived data, like the aggregates: never stored, computed by each
 * process's engine (docs/architecture.md, "Tags"). services/engine_svc.c owns one hk_tag_rules
 * and derives it after every load, applied change set, rescore and swap (evaluation under the
 * read lock, install under the write lock), so has_tag("规则标签") and tag counts follow the
 * data the engine holds.
 *
 * Order: a rule may use has_tag() of another rule tag; rules are evaluated so that every rule
 * tag a rule names comes first (the names are found in the text, hk_tag_refs). A cycle is
 * refused when a rule is saved (services/tags.c); rules reached only through in_segment are
 * evaluated in id order.
 *
 * Threading: a hk_tag_rules is immutable except through derive (the caller's exclusive lock).
 */
#ifndef HK_SERVICES_TAG_RULES_H
#define HK_SERVICES_TAG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_engine;
struct hk_err;
struct hk_tag_rules;

/**
 * Reads every tag (rule tags' expressions, every name so the engine knows them) and the saved
 * segments (for in_segment) from the store. *out new (hk_tag_rules_free).
 */
int hk_tag_rules_load(struct hk_app *app, struct hk_tag_rules **out, struct hk_err *err);
/** The same from tags rows (no saved segments: in_segment names none). Tests, benchmarks. */
struct hk_tag_row;
int hk_tag_rules_from_rows(const struct hk_tag_row *rows, size_t n, struct hk_tag_rules **out,
                           struct hk_err *err);
void hk_tag_rules_free(struct hk_tag_rules *r);
/** Number of rule tags. */
size_t hk_tag_rules_count(const struct hk_tag_rules *r);
/** The name of rule i (i < count; borrowed). */
const char *hk_tag_rules_name(const struct hk_tag_rules *r, size_t i);

struct hk_tag_rules_result {
    size_t rules;   /* evaluated */
    size_t failed;  /* rules that did not compile (they get no members) */
    size_t changed; /* tags whose members changed */
    int64_t us;     /* wall time, microseconds */
};

/** The longest chain of rules naming rule tags through has_tag (1 when none does; 0: none). */
int hk_tag_rules_levels(const struct hk_tag_rules *r);

/*
 * Deriving in three steps, so that the evaluation (the costly part: milliseconds per rule per
 * million customers) runs under the engine's read lock and only the install under the write lock:
 *   prepare (exclusive): defines every tag name in e and clears the rule tags of prev (may be
 *       NULL) that r no longer has (unless the name is now a manual tag); *changed += cleared;
 *       retires every other tag name e knows (deleted or renamed away: hk_engine_tag_retire),
 *       so has_tag() of it is an unknown tag;
 *   eval (read): evaluates every rule of r as of now into r's own bitmaps (so one thread at a
 *       time per r); a rule that does not compile gets no members; a rule naming a rule tag
 *       reads that tag as the engine holds it; the rules that are exactly
 *       `main_category = "c"` (the category presets) are filled together in one pass
 *       (hk_engine_main_category_bitmaps), with the members each would have alone;
 *   assign (exclusive): installs the bitmaps; res->changed counts the tags that changed.
 * Run eval + assign hk_tag_rules_levels(r) times (or until nothing changes) to settle rules that
 * name rule tags.
 */
int hk_tag_rules_prepare(const struct hk_tag_rules *r, const struct hk_tag_rules *prev,
                         struct hk_engine *e, size_t *changed, struct hk_err *err);
int hk_tag_rules_eval(struct hk_tag_rules *r, const struct hk_engine *e, int64_t now,
                      struct hk_tag_rules_result *res, struct hk_err *err);
int hk_tag_rules_assign(struct hk_tag_rules *r, struct hk_engine *e,
                        struct hk_tag_rules_result *res, struct hk_err *err);

/** All three at once, with e held exclusively (a freshly loaded engine; tests). */
int hk_tag_rules_derive(struct hk_tag_rules *r, const struct hk_tag_rules *prev,
                        struct hk_engine *e, int64_t now, struct hk_tag_rules_result *res,
                        struct hk_err *err);

/**
 * Calls fn(ctx, name, len) for the string argument of every has_tag("...") in expr (escapes
 * undone into a temporary buffer; strings elsewhere skipped). Used to order rules and to find
 * the users of a tag.
 */
void hk_tag_refs(const char *expr, void (*fn)(void *ctx, const char *name, size_t len), void *ctx);
/** True when expr names tag `name` through has_tag. */
bool hk_tag_refs_has(const char *expr, const char *name);

#endif
