/*
 * store/events_repo.h — SQL for live ingest beyond what the importer needs (ingest_repo.h):
 * events, profile updates of customer upserts, the order -> customer look-up of the orders
 * endpoint, and the merge history of a customer.
 *
 * Invariants
 *   As ingest_repo.h: no clear PII reaches this layer (name, phone and address arrive sealed,
 *   with keyed hashes beside them); errors never contain bound values; out-parameters are
 *   written only on success; every statement is reset before returning.
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(NOTFOUND) where one row is asked for
 * and there is none; HK_E(CONFLICT) for unique violations.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#ifndef HK_STORE_EVENTS_REPO_H
#define HK_STORE_EVENTS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/* ---- events ------------------------------------------------------------------------------ */

/** An event row to insert. Strings borrowed; external_id NULL or "" = none. */
struct hk_erepo_event {
    int64_t customer_id;
    int64_t shop_id;     /* 0 = NULL */
    int64_t identity_id; /* 0 = NULL */
    const char *type;
    int64_t at;
    const char *properties; /* JSON object text */
    const char *external_id;
};

/**
 * The event (type, external_id): writes its id and its customer to *id / *customer_id (either
 * may be NULL). HK_E(NOTFOUND) when there is none.
 */
int hk_erepo_event_find(struct hk_db *db, const char *type, const char *external_id, int64_t *id,
                        int64_t *customer_id, struct hk_err *err);

/** Inserts an event (created_at = now); *id (may be NULL) gets its id. */
int hk_erepo_event_insert(struct hk_db *db, const struct hk_erepo_event *row, int64_t now,
                          int64_t *id, struct hk_err *err);

/* ---- customer profiles ------------------------------------------------------------------- */

#define HK_EREPO_SEALED_MAX 1024 /* sealed address kept for comparison; longer: not compared */

/** What a customer upsert compares against. Text columns "" when NULL. */
struct hk_erepo_profile {
    char nick[256];
    char email[256];
    char province[64], city[64];
    char birthday[16];
    char gender[4];
    char name_hash[65], phone_hash[65];
    unsigned char address_enc[HK_EREPO_SEALED_MAX];
    size_t address_enc_len; /* 0: none; SIZE_MAX: longer than the buffer */
    int consent_sms, consent_email, consent_wechat;
};

/** Reads the profile columns of customer id (HK_E(NOTFOUND) if none). */
int hk_erepo_profile_get(struct hk_db *db, int64_t id, struct hk_erepo_profile *out,
                         struct hk_err *err);

/**
 * Profile columns to overwrite; NULL (blob: NULL pointer) = leave as is, consent -1 = leave.
 * Sealed values come from hk_pii_seal, hashes from hk_pii_hash. Borrowed.
 */
struct hk_erepo_profile_set {
    const char *nick, *email, *province, *city, *birthday, *gender;
    const unsigned char *name_enc;
    size_t name_enc_len;
    const char *name_hash; /* NULL: name_hash is set NULL when name_enc is given (masked) */
    const unsigned char *phone_enc;
    size_t phone_enc_len;
    const char *phone_hash, *phone_masked;
    const unsigned char *address_enc;
    size_t address_enc_len;
    int consent_sms, consent_email, consent_wechat;
};

/** Overwrites the given profile columns of customer id and sets updated_at = now. */
int hk_erepo_profile_set(struct hk_db *db, int64_t id, const struct hk_erepo_profile_set *p,
                         int64_t now, struct hk_err *err);

/* ---- orders ------------------------------------------------------------------------------ */

/**
 * The customer of order order_no in a shop of channel named shop (shop NULL or "": any shop of
 * the channel; the lowest order id wins). HK_E(NOTFOUND) when there is none.
 */
int hk_erepo_order_customer(struct hk_db *db, const char *channel, const char *shop,
                            const char *order_no, int64_t *customer_id, struct hk_err *err);

/* ---- merge history ----------------------------------------------------------------------- */

struct hk_erepo_merge {
    int64_t id, winner_id, loser_id, at, undone_at; /* undone_at 0: in effect */
    char reason[32];
    char undone_by[64];
};

/**
 * The merges customer id won or lost, newest first, at most max (1-1000). *out new (caller
 * frees; NULL when *n is 0).
 */
int hk_erepo_merges_of(struct hk_db *db, int64_t customer_id, size_t max,
                       struct hk_erepo_merge **out, size_t *n, struct hk_err *err);

/** Merge id (HK_E(NOTFOUND) if none). */
int hk_erepo_merge_get(struct hk_db *db, int64_t id, struct hk_erepo_merge *out,
                       struct hk_err *err);

#endif
