/*
 * identity.h — identity resolution: which customer an order (or an event, or a customer
 * upsert) belongs to, found by the identity keys it carries, and merging customers that turn
 * out to be one person.
 *
 * Identity keys (table identities: channel, kind, value -> customer)
 *   account  (channel, buyer_id, id)      the buyer's account on the channel (淘宝 会员名, JD
 *            (channel, nick, nick)        下单帐号, …); nick only when there is no buyer id;
 *            (wechat, open_id, id)        WeChat open id (per app).
 *   strong   (*, phone, H(+86…))          a clear mainland mobile number, normalised to +86
 *                                         form; the value is the keyed look-up hash, never the
 *                                         number. Masked numbers (138****5678) and landlines
 *                                         are never identities.
 *            (*, email, lower-cased)      a well-formed, unmasked e-mail address;
 *            (wechat, union_id, id)       WeChat union id.
 *   weak     (channel, recipient, H(…))   only for a record with no other key (a PDD or Douyin
 *                                         export with everything masked): the keyed hash of the
 *                                         masked phone, the name and the address together, when
 *                                         all three are present and the phone shows at least 7
 *                                         digits. Otherwise such an order gets a customer of its
 *                                         own (re-imports find it again through the order).
 *            (channel|*, device, id)      device ids sent through the API.
 *
 * Rules (applied per record, in hk_resolver_resolve)
 *   1. Each key is looked up (in-memory cache first, then one indexed look-up per unseen key,
 *      batched by hk_resolver_prefetch). The customers it points at are followed through merges.
 *   2. The record's customer ("primary"): the existing order's customer when the order is
 *      already stored (an order never moves on re-import); else the customer of its first
 *      account key found; else of its first strong key found; else of its weak key; else a
 *      new customer.
 *   3. Merge: when a strong key of the record points at a customer, every customer pointed at
 *      by the record's strong and account keys (and the existing order's customer) is the same
 *      person: they are merged into the oldest (smallest id), with reason = the kind of that
 *      strong key — except pairs whose groups are marked never-merge, which stay apart. Weak
 *      keys never cause a merge, and account keys alone never do (a record with buyer ids of
 *      two customers and no strong key links nothing).
 *   4. Keys not found join the primary customer (a new identity sharing a strong key with a
 *      customer joins that customer). Keys found on another customer that was not merged stay
 *      where they are.
 *   5. The order's identity is its first key that belongs to the primary customer.
 *   6. The primary customer's profile is filled where empty: nick, real name (sealed, with a
 *      look-up hash), phone (sealed, look-up hash, masked form), e-mail, province, city,
 *      address (sealed). Masked values are kept as masked text (sealed), never guessed; a
 *      masked phone only sets phone_masked.
 *
 * Bulk imports: the resolver keeps, for the life of an import, a hash map of identity key ->
 * (customer, identity) (hashtab.h; misses are cached too), a map of customer -> which profile
 * fields it lacks, and the merges it made. New customers and identities get provisional
 * (negative) ids and are written in bulk by hk_resolver_flush; a merge that
 * involves a provisional customer first flushes everything pending (through the flush
 * callback, so the importer writes its pending orders too). After any rollback the caller
 * must call hk_resolver_forget: the maps may name rows that no longer exist.
 *
 * Merges and unmerges (service level): hk_identity_merge / hk_identity_unmerge /
 * hk_identity_never_merge, each in its own transaction; see ingest_repo.h for exactly what
 * moves.
 *
 * Threads: a resolver belongs to one thread and one db at a time.
 */
#ifndef HK_INGEST_IDENTITY_H
#define HK_INGEST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pii.h"

struct hk_db;
struct hk_err;
struct hk_keyring;
struct hk_order_rec;
struct hk_store;
struct hk_identity_in; /* events.h */

enum hk_key_class { HK_KEY_WEAK = 0, HK_KEY_ACCOUNT = 1, HK_KEY_STRONG = 2 };

#define HK_IDENTITY_KEYS_MAX  8
#define HK_IDENTITY_VALUE_MAX 256 /* longer values are not used as keys */

struct hk_identity_key {
    const char *channel; /* "*" for phone and email */
    const char *kind;
    const char *value; /* borrowed from the record or held in the keys' own buffers */
    enum hk_key_class cls;
};

/** The keys of one record, in priority order, with what they were made from. */
struct hk_identity_keys {
    struct hk_identity_key k[HK_IDENTITY_KEYS_MAX];
    size_t n;
    /* The resolver's look-up digests of k[0..n), computed once by hk_resolver_digest_keys and
       valid only for the resolver whose tag this is (0: none; the keys must not change after). */
    uint64_t digest_tag;
    uint64_t digest[HK_IDENTITY_KEYS_MAX][2];
    /* the (first) phone: 0 none, 1 mobile (+86 form in phone_norm), 2 another clear number
       (landline, foreign: kept, not an identity), 3 masked by the marketplace */
    int phone_state;
    char phone_norm[HK_PHONE_MAX + 8];
    char phone_hash[HK_PII_HASH_HEX + 1]; /* look-up hash of phone_norm (states 1 and 2) */
    char phone_masked[40];                /* what roles without PII access see (states 1-3) */
    const char *email; /* the (first) e-mail, lower-cased, in pool; NULL when none */
    char pool[1024];   /* normalised key values (hashes, lower-cased e-mails) */
    size_t pool_used;
};

/**
 * Derives the identity keys of an order record (rules above). kr: the look-up hash key.
 * Never fails; a record may have no key at all (n == 0).
 */
void hk_identity_keys_from_order(const struct hk_keyring *kr, const struct hk_order_rec *rec,
                                 struct hk_identity_keys *out);

/**
 * Derives keys from identities an integrator sent (events.h): kinds buyer_id, nick, open_id,
 * union_id, phone, email, device. A phone must be a mainland mobile number, an email
 * well-formed; buyer_id, nick and open_id need a channel. Returns 0, or HK_E(INVAL) naming the
 * bad identity (by index and kind, never its value).
 */
int hk_identity_keys_from_input(const struct hk_keyring *kr, const struct hk_identity_in *ids,
                                size_t n, struct hk_identity_keys *out, struct hk_err *err);

/** Profile fields a record brings (borrowed; NULL or "" = not given). Phone and email come
 *  from the keys. */
struct hk_profile_in {
    const char *nick;
    const char *name;
    bool name_masked;
    const char *address;
    bool address_masked;
    const char *province, *city;
};

struct hk_resolver;

/**
 * Flushes everything the caller has pending (it must call hk_resolver_flush first and
 * hk_resolver_flush_done last). Called by the resolver before a merge that involves a
 * provisional customer.
 */
typedef int (*hk_resolver_flush_fn)(void *arg, struct hk_db *db, struct hk_err *err);

/** A new resolver (caller frees with hk_resolver_free). kr borrowed. NULL on out of memory. */
struct hk_resolver *hk_resolver_new(const struct hk_keyring *kr);
void hk_resolver_free(struct hk_resolver *r);
/** Sets the callback that flushes the caller's pending writes (NULL: flush only the resolver). */
void hk_resolver_set_flush(struct hk_resolver *r, hk_resolver_flush_fn fn, void *arg);
/**
 * Declares that the store held no identity when the caller dropped the identities' key index
 * (hk_irepo_identities_key_drop; r has cached nothing): every key the store will hold is then
 * one r creates or one another writer adds, so a key r does not know is not stored and
 * prefetch skips the look-up. When the cache starts over or is forgotten, the keys it drops go
 * into a filter (hk_resolver_set_limits) and only keys that may be in it are looked up. Safe
 * against another writer adding the same key meanwhile: that writer first builds the index
 * again (ingest_repo.h), which then refuses r's second row, the batch is rolled back, and after
 * the rollback (hk_resolver_forget) every key is looked up until the caller's next commit
 * (hk_resolver_committed). Ends after 8 rollbacks, or when the filter overflows.
 */
void hk_resolver_set_complete(struct hk_resolver *r, bool complete);
/**
 * Bounds the resolver's memory in a bulk import: the cache starts over (before a prefetch, with
 * nothing pending) when its keys and the prefetch's would be more than max_cached_keys (0: the
 * default, about 5.8M keys, 256 MiB). In a complete import (hk_resolver_set_complete) the keys it
 * drops go into a Bloom filter of what may be stored, sized for filter_keys keys (0: twice what the
 * cache held; at most HK_RESOLVER_FILTER_MAX_KEYS, 6 bytes a key), so a key certainly not in it
 * still needs no look-up; a key that may be is looked up. Past twice the keys it was sized for, the
 * filter is dropped and every key the cache does not know is looked up, as in an incomplete import.
 */
void hk_resolver_set_limits(struct hk_resolver *r, size_t max_cached_keys, size_t filter_keys);
#define HK_RESOLVER_FILTER_MAX_KEYS ((size_t)21 << 19) /* 11M keys; bloom.h rounds up: 64 MiB */

/** What a resolver did so far (for tests and benchmarks). */
struct hk_resolver_stats {
    int64_t restarts;       /* times the cache started over */
    int64_t keys_looked_up; /* keys asked of the store */
    int64_t keys_found;     /* of those, keys the store holds */
    int64_t keys_skipped;   /* keys known not stored without asking (complete: cache, filter) */
    int64_t filter_keys;    /* keys in the filter of dropped keys (0: none) */
    int64_t merges;         /* customers merged into another (in transactions that may yet
                               roll back) */
};
void hk_resolver_stats(const struct hk_resolver *r, struct hk_resolver_stats *out);
/**
 * Forgets every cached key, customer and pending row (after a rollback). A complete import
 * (hk_resolver_set_complete) keeps the forgotten keys in its filter and looks every key up until
 * hk_resolver_committed: the rollback may have been another writer's key, which the retry must
 * find.
 */
void hk_resolver_forget(struct hk_resolver *r);
/** Tells r that the caller committed a transaction that ran after the last forget. */
void hk_resolver_committed(struct hk_resolver *r);
/**
 * Tells r whether its caller dropped the identities' key index (hk_irepo_identities_key_drop):
 * then r adds identities without first making sure the index exists, as every other writer
 * does (ingest_repo.h). Look-ups always make sure of it.
 */
void hk_resolver_set_keys_owned(struct hk_resolver *r, bool owned);

/**
 * Looks up, in as few statements as possible, every key of sets[0..n) that the cache does not
 * know yet, and the profile state of customers[0..ncust) (existing orders' customers; 0s
 * ignored). Optional: resolve looks up what was not prefetched, one key at a time.
 */
/**
 * Computes the resolver's look-up digests of keys once and keeps them in keys, so prefetch and
 * resolve need not hash the same key again (each did, up to three times a key). Optional: keys
 * without them are hashed where needed. The digests are valid for this resolver only.
 */
void hk_resolver_digest_keys(const struct hk_resolver *r, struct hk_identity_keys *keys);

int hk_resolver_prefetch(struct hk_resolver *r, struct hk_db *db,
                         const struct hk_identity_keys *const *sets, size_t n,
                         const int64_t *customers, size_t ncust, struct hk_err *err);

/**
 * Asks the CPU to bring the cache slots of keys into its caches ahead of a resolve of them (the
 * cache is a large table probed at random). Only a hint: nothing changes. keys may be NULL.
 */
void hk_resolver_prefetch_keys(const struct hk_resolver *r, const struct hk_identity_keys *keys);

struct hk_resolution {
    int64_t customer_id; /* real (> 0) or provisional (< 0) until flushed */
    int64_t identity_id; /* likewise; 0 when the record has no key of its customer */
    bool customer_created;
    int merges; /* merges made for this record */
};

/**
 * Resolves one record (rules above): existing_customer is the stored order's customer, or 0.
 * May write to the store (merges, profile fills of existing customers, and — through the flush
 * callback — pending rows). now: for created_at/updated_at and merges.
 */
int hk_resolver_resolve(struct hk_resolver *r, struct hk_db *db,
                        const struct hk_identity_keys *keys, int64_t existing_customer,
                        const struct hk_profile_in *profile, int64_t now, struct hk_resolution *out,
                        struct hk_err *err);

/**
 * Inserts pending customers and identities; afterwards hk_resolver_real_customer/_identity
 * translate provisional ids until hk_resolver_flush_done. *customers_created (may be NULL)
 * gets the number of customers inserted.
 */
int hk_resolver_flush(struct hk_resolver *r, struct hk_db *db, int64_t now,
                      int64_t *customers_created, struct hk_err *err);
/** The real id of a customer id (provisional ids translated after hk_resolver_flush). */
int64_t hk_resolver_real_customer(const struct hk_resolver *r, int64_t id);
int64_t hk_resolver_real_identity(const struct hk_resolver *r, int64_t id);
/** Ends a flush: provisional ids are forgotten (and may be reused). */
void hk_resolver_flush_done(struct hk_resolver *r);
/** Whether anything is pending. */
bool hk_resolver_pending(const struct hk_resolver *r);

/* ---- service level ------------------------------------------------------------------------ */

/**
 * Merges customers a and b (each followed to the customer it is merged into) in its own
 * transaction: the older (smaller id) wins. reason: "manual" or a key kind. HK_E(CONFLICT)
 * when the pair is marked never-merge, HK_E(NOTFOUND) for an unknown customer, HK_E(INVAL)
 * when both are already one customer. *merge_id (may be NULL) gets the merge's id.
 */
int hk_identity_merge(struct hk_store *store, int64_t a, int64_t b, const char *reason, int64_t now,
                      int64_t *merge_id, struct hk_err *err);

/**
 * Undoes a merge in its own transaction. customer_id: a merged customer (its merge is undone)
 * or a winner (its most recent merge is undone). The pair becomes never-merge. by: who asked
 * (login or "cli"). *merge_id (may be NULL) gets the undone merge's id. HK_E(NOTFOUND) when
 * there is nothing to undo; HK_E(CONFLICT) when the winner was merged again since.
 */
int hk_identity_unmerge(struct hk_store *store, int64_t customer_id, const char *by, int64_t now,
                        int64_t *merge_id, struct hk_err *err);

/** Marks customers a and b never to be merged (own transaction; idempotent). */
int hk_identity_never_merge(struct hk_store *store, int64_t a, int64_t b, const char *reason,
                            int64_t now, struct hk_err *err);

#endif
