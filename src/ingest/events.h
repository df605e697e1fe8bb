/*
 * events.h — live ingest of customer events and customer profiles (POST /api/v1/events,
 * POST /api/v1/customers), through the same identity resolution as orders (identity.h).
 *
 * An event (browse, cart, favourite, coupon_claim, coupon_use, review, check_in, share,
 * logistics_update, chat_message) names its customer by identities and carries free-form
 * properties (a JSON object, kept as text; this module does not parse it). An event with an
 * external_id is idempotent: the same (type, external_id) again is "unchanged".
 *
 * A customer upsert names identities (at least one) and profile fields; it finds the customer
 * by identity (creating one when none matches; merging per identity.h when a strong key links
 * two) and fills/updates the profile. PII is sealed with the keyring as in import.c.
 *
 * Batches apply in one transaction with a savepoint per item: one bad item never rejects the
 * good ones. Outcomes and per-item errors are reported by index.
 */
#ifndef HK_INGEST_EVENTS_H
#define HK_INGEST_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/import.h"

/** One identity as an integrator sends it. */
struct hk_identity_in {
    const char *channel; /* taobao, jd, pdd, douyin, wechat, pos, other; "" for phone/email */
    const char *kind;    /* buyer_id, nick, open_id, union_id, phone, email, device */
    const char *value;
};

#define HK_EVENT_TYPES                                                                             \
    "browse, cart, favourite, coupon_claim, coupon_use, review, check_in, share, "                 \
    "logistics_update, chat_message"

/** True when type is one of HK_EVENT_TYPES. */
bool hk_event_type_valid(const char *type);

struct hk_event_in {
    const char *type;
    int64_t at;          /* when it happened (epoch s) */
    bool at_local;       /* at was written without an offset and holds the wall-clock time read as
                            UTC: it is re-read in the shop's zone (the default zone without a shop) */
    const char *shop;    /* shop name, or NULL/"" */
    const char *channel; /* shop's channel when shop is given */
    const char *external_id;     /* sender's id for idempotence, or NULL */
    const char *properties_json; /* a JSON object as text ("{}" when none) */
    const struct hk_identity_in *ids;
    size_t nids;
};

struct hk_customer_in {
    const struct hk_identity_in *ids;
    size_t nids;
    const char *nick, *name, *phone, *email, *province, *city, *address;
    const char *birthday;                           /* YYYY-MM-DD or NULL */
    const char *gender;                             /* "f", "m" or NULL */
    int consent_sms, consent_email, consent_wechat; /* -1 = leave as is, 0/1 = set */
};

/** Outcome per item; customer_id is the resolved customer (for events and customers). */
struct hk_ingest_item_result {
    enum hk_apply_outcome outcome; /* 0 when rejected (then err.code != 0) */
    int64_t customer_id;
    int64_t id; /* events.id or customers.id */
};

/**
 * Applies a batch of events. results[i] and errors[i] are filled per item (errors[i].code 0 on
 * success). Returns 0, or a negative HK_E code when the transaction failed (nothing committed).
 */
int hk_ingest_events(const struct hk_ingest_ctx *ctx, const struct hk_event_in *events, size_t n,
                     struct hk_ingest_item_result *results, struct hk_err *errors,
                     struct hk_err *err);

/** Applies a batch of customer upserts; as hk_ingest_events. */
int hk_ingest_customers(const struct hk_ingest_ctx *ctx, const struct hk_customer_in *customers,
                        size_t n, struct hk_ingest_item_result *results, struct hk_err *errors,
                        struct hk_err *err);

#endif
