/*
 * merges.h — the merge/unmerge service behind POST /api/v1/customers/{id}/unmerge,
 * POST /api/v1/customers/never-merge and GET /api/v1/customers/{id}/merges, on top of the
 * merge primitives in identity.h and ingest_repo.h.
 *
 * Invariants: each call is one transaction; an undone merge makes its pair never-merge (so
 * identity resolution will not merge them again); a pair marked never-merge stays apart however
 * strong the key that links them.
 *
 * Threads: every function takes a db from the store for its duration; thread-safe.
 */
#ifndef HK_INGEST_MERGES_H
#define HK_INGEST_MERGES_H

#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_store;

/** One merge as the history shows it. */
struct hk_merge_info {
    int64_t id, winner_id, loser_id;
    int64_t at;        /* epoch s */
    int64_t undone_at; /* 0 while in effect */
    char reason[32];   /* the key kind that linked them ("phone", "union_id", ...) or "manual" */
    char undone_by[64];
};

/**
 * Undoes a merge: merge_id when non-zero (it must involve customer_id as winner or loser),
 * else the merge that merged customer_id away, else the latest merge customer_id won. by: the
 * login (or "cli") recorded as undone_by. *out (may be NULL) gets the merge as it is after the
 * undo. HK_E(NOTFOUND) when customer_id or the merge does not exist or there is nothing to
 * undo; HK_E(CONFLICT) when the merge was undone already or the winner was merged again since.
 */
int hk_merges_undo(struct hk_store *store, int64_t customer_id, int64_t merge_id, const char *by,
                   int64_t now, struct hk_merge_info *out, struct hk_err *err);

/**
 * Marks customers a and b never to be merged (idempotent). HK_E(INVAL) when a == b,
 * HK_E(NOTFOUND) for an unknown customer, HK_E(CONFLICT) when they are merged now (undo that
 * merge first). reason: free text (NULL or "": "manual"), never PII.
 */
int hk_merges_never(struct hk_store *store, int64_t a, int64_t b, const char *reason, int64_t now,
                    struct hk_err *err);

/**
 * The merges customer_id won or lost, newest first, at most max. *out new (caller frees; NULL
 * when *n is 0). HK_E(NOTFOUND) for an unknown customer.
 */
int hk_merges_list(struct hk_store *store, int64_t customer_id, size_t max,
                   struct hk_merge_info **out, size_t *n, struct hk_err *err);

#endif
