/*
 * store/ingest_repo.h — the ingest repository: every SQL statement the importer and identity
 * resolution run (shops, products, customers, identities, orders, order_items, order_history,
 * staged_items, customer_merges, merge_moves, never_merge; schema in sql/0001_init.sql).
 *
 * Design
 *   The importer works in batches of thousands of orders, so the hot statements come in two
 *   shapes that keep round trips (PostgreSQL) and statement executions (SQLite) per batch small:
 *     - bulk inserts (hk_irepo_*_insert): the rows are streamed with the store's bulk loader
 *       (hk_db_copy_*: COPY on PostgreSQL, a single-row INSERT bound without copies on SQLite);
 *       ids of new customers, identities and orders are reserved first (hk_db_next_ids) and
 *       written with the rows, so ids[i] is row i's id by construction (a file import's new
 *       products come with theirs, reserved when the importer first met them);
 *     - keyed look-ups of many keys at once (hk_irepo_*_find): "... WHERE key IN ($2, ...)" in
 *       chunks of 128/16/1 keys (a short chunk is padded by repeating its last key), each an
 *       index look-up per key; rows are handed to a callback as they are read.
 *   Everything else (updates, merges, staging) is one statement per call.
 *
 * Invariants
 *   No clear PII reaches this layer except what callers seal: *_enc columns take sealed bytes,
 *   phone_hash/name_hash and phone/recipient identity values are keyed hashes. Errors never
 *   contain bound values (store.h). Times are epoch seconds; 0 is written as NULL for the
 *   nullable time columns and NULL reads back as 0. Out-parameters are written only on success.
 *   Every statement is reset before returning, so no SQLite read snapshot stays open.
 *
 * Errors: 0 or a negative HK_E code with err filled; HK_E(NOTFOUND) where one row is asked for
 * and there is none; HK_E(CONFLICT) for unique violations and refused merges/unmerges.
 *
 * Threads: stateless; a db is used by one thread at a time (store.h).
 */
#ifndef HK_STORE_INGEST_REPO_H
#define HK_STORE_INGEST_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;

/* ---- shops and products ------------------------------------------------------------------ */

/** The id of shop (channel, name), created (with timezone tz_name) when missing. */
int hk_irepo_shop_ensure(struct hk_db *db, const char *channel, const char *name,
                         const char *tz_name, int64_t now, int64_t *id, struct hk_err *err);
/**
 * The time zone name of shop (channel, name) copied into buf (size bytes); "" when the shop
 * does not exist yet.
 */
int hk_irepo_shop_timezone(struct hk_db *db, const char *channel, const char *name, char *buf,
                           size_t size, struct hk_err *err);

/* A product for hk_irepo_products_insert, its id reserved with hk_db_next_ids("products"). */
struct hk_irepo_product {
    int64_t id, shop_id;
    const char *external_id, *title, *category;
};
/** Called for each product of a shop; a negative return stops the walk and is returned. */
typedef int (*hk_irepo_product_cb)(void *arg, int64_t id, const char *external_id, bool title_empty,
                                   bool category_empty);
/** Every product of shop_id, one query (a file import reads its shops' products once). */
int hk_irepo_products_of_shop(struct hk_db *db, int64_t shop_id, hk_irepo_product_cb cb, void *arg,
                              struct hk_err *err);
/** Writes new products with their reserved ids (the bulk loader, so a pipelined import does
    not wait for its writer). */
int hk_irepo_products_insert(struct hk_db *db, const struct hk_irepo_product *rows, size_t n,
                             int64_t now, struct hk_err *err);
/** Gives stored product id the title and category where it has none (NULL or "": nothing);
    a category given marks its buyers changed (their main category may follow). */
int hk_irepo_product_fill(struct hk_db *db, int64_t id, const char *title, const char *category,
                          struct hk_err *err);

/**
 * The id of product (shop_id, external_id), created when missing; an existing product whose
 * title or category is empty gets the given one (never overwritten otherwise).
 */
int hk_irepo_product_ensure(struct hk_db *db, int64_t shop_id, const char *external_id,
                            const char *title, const char *category, int64_t now, int64_t *id,
                            struct hk_err *err);

/* ---- customers --------------------------------------------------------------------------- */

/** Bits of hk_irepo_customer_state.missing: profile fields the customer does not have yet. */
enum hk_irepo_missing {
    HK_MISSING_NICK = 1 << 0,
    HK_MISSING_NAME = 1 << 1,         /* no clear real name (name_hash is NULL) */
    HK_MISSING_PHONE = 1 << 2,        /* no phone_enc (a clear number) */
    HK_MISSING_PHONE_MASKED = 1 << 3, /* no phone_masked */
    HK_MISSING_EMAIL = 1 << 4,
    HK_MISSING_PROVINCE = 1 << 5,
    HK_MISSING_CITY = 1 << 6,
    HK_MISSING_ADDRESS = 1 << 7,
    HK_MISSING_NAME_ANY = 1 << 8, /* no name at all, not even a masked one (name_enc NULL) */
    HK_MISSING_ALL = (1 << 9) - 1,
};

/**
 * Profile columns of a customer to insert or to fill. Borrowed. NULL (or "" for the text
 * columns) means "not given". Sealed values come from hk_pii_seal.
 */
struct hk_irepo_customer {
    const char *nick;
    const unsigned char *name_enc;
    size_t name_enc_len;
    const char *name_hash;
    const unsigned char *phone_enc;
    size_t phone_enc_len;
    const char *phone_hash;
    const char *phone_masked;
    const char *email;
    const char *province, *city;
    const unsigned char *address_enc;
    size_t address_enc_len;
};

/**
 * Inserts n customers (created_at = updated_at = now) and writes their ids to ids[0..n) in the
 * order of rows.
 */
int hk_irepo_customers_insert(struct hk_db *db, const struct hk_irepo_customer *rows, size_t n,
                              int64_t now, int64_t *ids, struct hk_err *err);

/**
 * Fills the profile of customer id with the given fields where it has none. Never overwrites a
 * value it has, with two upgrades: a clear name (given with name_hash) replaces a masked one,
 * and a clear phone (phone_enc) replaces a masked-only phone_masked.
 */
int hk_irepo_customer_fill(struct hk_db *db, int64_t id, const struct hk_irepo_customer *c,
                           int64_t now, struct hk_err *err);

struct hk_irepo_customer_state {
    int64_t id;
    int64_t merged_into; /* 0 when not merged */
    unsigned missing;    /* hk_irepo_missing bits */
};

typedef int (*hk_irepo_customer_cb)(void *arg, const struct hk_irepo_customer_state *c);
/** Reads the state of each existing customer in ids[0..n) (duplicates allowed). */
int hk_irepo_customers_state(struct hk_db *db, const int64_t *ids, size_t n,
                             hk_irepo_customer_cb cb, void *arg, struct hk_err *err);

/** The customer id ends up as after following merged_into (id itself when not merged). */
int hk_irepo_customer_root(struct hk_db *db, int64_t id, int64_t *root, struct hk_err *err);

/* ---- identities -------------------------------------------------------------------------- */

struct hk_irepo_identity {
    int64_t id; /* out of find; ignored by insert */
    int64_t customer_id;
    const char *channel, *kind, *value;
    /* find only: the owner's state */
    int64_t merged_into;
    unsigned missing;
};

typedef int (*hk_irepo_identity_cb)(void *arg, const struct hk_irepo_identity *row);
/**
 * Finds the identities (channel, kind, values[i]) for i < n; cb gets each one found (strings
 * borrowed for the call), with its customer's state. Keys not found produce no call.
 */
int hk_irepo_identities_find(struct hk_db *db, const char *channel, const char *kind,
                             const char *const *values, size_t n, hk_irepo_identity_cb cb,
                             void *arg, struct hk_err *err);

/** Inserts n identities (created_at = now); ids[i] is the new id of rows[i]. */
int hk_irepo_identities_insert(struct hk_db *db, const struct hk_irepo_identity *rows, size_t n,
                               int64_t now, int64_t *ids, struct hk_err *err);

/* ---- orders, items, history -------------------------------------------------------------- */

struct hk_irepo_order {
    int64_t id; /* ignored by insert */
    int64_t shop_id;
    const char *external_no;
    int64_t customer_id;
    int64_t identity_id; /* 0 = NULL */
    const char *status;
    int64_t total_fen, discount_fen, postage_fen, paid_fen, refund_fen;
    const char *coupon_code; /* NULL or "" = NULL */
    int64_t created_at;
    int64_t paid_at, shipped_at, received_at, refunded_at, cancelled_at; /* 0 = NULL */
    const char *buyer_note, *seller_note, *source;
    int64_t updated_at;
};

typedef int (*hk_irepo_order_cb)(void *arg, const struct hk_irepo_order *row);
/** Finds orders (shop_id, nos[i]); cb gets each one found (strings borrowed for the call). */
int hk_irepo_orders_find(struct hk_db *db, int64_t shop_id, const char *const *nos, size_t n,
                         hk_irepo_order_cb cb, void *arg, struct hk_err *err);
/** Finds orders numbered nos[i] in any shop of channel (Taobao detail lists name no shop). */
int hk_irepo_orders_find_in_channel(struct hk_db *db, const char *channel, const char *const *nos,
                                    size_t n, hk_irepo_order_cb cb, void *arg, struct hk_err *err);
/** Inserts n orders; ids[i] is the new id of rows[i]. */
int hk_irepo_orders_insert(struct hk_db *db, const struct hk_irepo_order *rows, size_t n,
                           int64_t *ids, struct hk_err *err);
/**
 * Writes the mutable columns of order row->id (status, amounts, coupon, times, notes,
 * updated_at). The shop, number, customer and identity are not changed here.
 */
int hk_irepo_order_update(struct hk_db *db, const struct hk_irepo_order *row, struct hk_err *err);

struct hk_irepo_item {
    int64_t order_id;
    int32_t line_no;
    const char *item_key;
    bool placeholder;
    int64_t product_id; /* 0 = NULL */
    const char *title, *sku, *variant, *category;
    int32_t quantity;
    int64_t unit_price_fen, paid_fen, refund_fen;
    /* inserts only: the order's customer when the caller knows it (the change log then names
       it directly), else 0 (resolved from the order at commit); reads leave it 0 */
    int64_t customer_id;
};

typedef int (*hk_irepo_item_cb)(void *arg, const struct hk_irepo_item *row);
/** Reads the items of orders order_ids[0..n), ordered by order and line. */
int hk_irepo_items_find(struct hk_db *db, const int64_t *order_ids, size_t n, hk_irepo_item_cb cb,
                        void *arg, struct hk_err *err);
int hk_irepo_items_insert(struct hk_db *db, const struct hk_irepo_item *rows, size_t n,
                          struct hk_err *err);
/** Rewrites item (row->order_id, row->item_key): every column but line_no. */
int hk_irepo_item_update(struct hk_db *db, const struct hk_irepo_item *row, struct hk_err *err);
/** Deletes the placeholder items of an order; *deleted (may be NULL) how many. */
int hk_irepo_items_delete_placeholders(struct hk_db *db, int64_t order_id, int64_t *deleted,
                                       struct hk_err *err);

struct hk_irepo_history {
    int64_t order_id;
    int64_t at;
    const char *change; /* created, status, amounts, refund */
    const char *old_value, *new_value, *source;
};
int hk_irepo_history_insert(struct hk_db *db, const struct hk_irepo_history *rows, size_t n,
                            struct hk_err *err);

/* ---- staged items ------------------------------------------------------------------------ */

struct hk_irepo_staged {
    const char *channel, *order_no, *item_key;
    const char *product_ext_id, *sku, *title, *variant, *category, *status;
    int32_t quantity;
    int64_t unit_price_fen, paid_fen, refund_fen;
};

/**
 * Stages an item for an order not yet known, or rewrites the staged item with the same
 * (channel, order_no, item_key). *changed (may be NULL): whether anything was written.
 */
int hk_irepo_staged_put(struct hk_db *db, const struct hk_irepo_staged *row, int64_t now,
                        bool *changed, struct hk_err *err);
/** Whether any item is staged at all (a cheap check before looking for an order's). */
int hk_irepo_staged_any(struct hk_db *db, bool *out, struct hk_err *err);

typedef int (*hk_irepo_staged_cb)(void *arg, const struct hk_irepo_staged *row);
/** Hands every item staged for (channel, order_no) to cb, then deletes them. */
int hk_irepo_staged_take(struct hk_db *db, const char *channel, const char *order_no,
                         hk_irepo_staged_cb cb, void *arg, struct hk_err *err);

/* ---- merges ------------------------------------------------------------------------------ */

/**
 * Merges customer loser into winner: moves the loser's identities, orders, events and the tags
 * the winner does not have, records every moved row in merge_moves and the merge in
 * customer_merges (reason: the key kind that linked them, or "manual"), and sets
 * loser.merged_into = winner. The caller checks never_merge and that neither is merged; run it
 * inside a transaction. Writes the new merge id to *merge_id (may be NULL).
 */
int hk_irepo_merge(struct hk_db *db, int64_t winner, int64_t loser, const char *reason, int64_t now,
                   int64_t *merge_id, struct hk_err *err);

struct hk_irepo_merge_row {
    int64_t id, winner_id, loser_id, at, undone_at;
    char reason[32];
};
/** The merge that made customer loser_id merged (not undone); HK_E(NOTFOUND) if none. */
int hk_irepo_merge_active_for_loser(struct hk_db *db, int64_t loser_id,
                                    struct hk_irepo_merge_row *out, struct hk_err *err);
/** The most recent merge (not undone) that customer winner_id won; HK_E(NOTFOUND) if none. */
int hk_irepo_merge_latest_for_winner(struct hk_db *db, int64_t winner_id,
                                     struct hk_irepo_merge_row *out, struct hk_err *err);
/** Reads merge id; HK_E(NOTFOUND) if none. */
int hk_irepo_merge_get(struct hk_db *db, int64_t id, struct hk_irepo_merge_row *out,
                       struct hk_err *err);

/**
 * Undoes merge id exactly: the rows it moved go back to the loser, and so do the orders and
 * events that reached the winner later through an identity that goes back; loser.merged_into
 * becomes NULL, the merge is marked undone (undone_at = now, undone_by = by) and the pair is
 * recorded in never_merge. HK_E(CONFLICT) when the merge was undone already or the winner has
 * since been merged into another customer (undo that one first). Run inside a transaction.
 */
int hk_irepo_unmerge(struct hk_db *db, int64_t merge_id, const char *by, int64_t now,
                     struct hk_err *err);

/** Records that customers a and b must never be merged (idempotent; order of a, b free). */
int hk_irepo_never_merge_add(struct hk_db *db, int64_t a, int64_t b, const char *reason,
                             int64_t now, struct hk_err *err);
/**
 * *blocked = true when merging a and b would join a never-merge pair: some customer in a's
 * group (a and every customer merged into it, transitively) and some customer in b's group are
 * recorded in never_merge.
 */
int hk_irepo_never_merge_blocked(struct hk_db *db, int64_t a, int64_t b, bool *blocked,
                                 struct hk_err *err);

/* ---- initial loads ----------------------------------------------------------------------- */

/*
 * Secondary indexes of the import tables that no statement of the importer or of identity
 * resolution reads (customers_phone_hash, customers_name_hash, order_history_order, and on
 * PostgreSQL orders_sales — SQLite keeps it row by row: customer search, the dashboard, an
 * order's history) and the two only merges read (identities_customer, orders_customer:
 * hk_irepo_merge and hk_irepo_unmerge build those again first when they are missing); on
 * PostgreSQL also order_items_pkey. Their keys come in random
 * order, so keeping them up to date row by row is much of a bulk import's cost; dropped for a
 * large load into a small store and built again afterwards by sorting (the "initial load",
 * import.c). A load killed half-way leaves them missing: restore runs again at the next file
 * import and at every hk_store_migrate. The definitions are the latest migrations' (a test
 * compares them with the schema the migrations build). Restore builds every one of them that
 * is missing, also orders_sales on SQLite.
 */
/** Drops the load indexes that exist (no transaction needed; run outside a copy). */
int hk_irepo_load_indexes_drop(struct hk_db *db, struct hk_err *err);
/** Creates the load indexes that are missing; *created (may be NULL) gets how many. */
int hk_irepo_load_indexes_restore(struct hk_db *db, int *created, struct hk_err *err);
/** How many of the load indexes this backend drops exist now (6 on SQLite, 8 on PostgreSQL). */
int hk_irepo_load_indexes_present(struct hk_db *db, int *present, struct hk_err *err);
/** Whether the identities table holds any row. */
int hk_irepo_identities_any(struct hk_db *db, bool *out, struct hk_err *err);

/*
 * The identities' unique key (identities_key, 0011_identities_key) is a load index too, but
 * only a load into a store without identities drops it (its keys come in random order: kept
 * row by row, it made large loads several times slower per line). While it is missing the
 * store does not refuse a second row with the same key, so:
 *   - drop: only by the holder of the store's load lock (hk_db_load_lock), which the dropping
 *     load keeps until the index is back, so no second load drops it meanwhile; in one
 *     transaction that no writer of identities can run beside (SQLite: the write lock;
 *     PostgreSQL: an exclusive advisory lock the others take shared while they check); and
 *     only when identities is empty and the index exists. The caller (the load that dropped
 *     it) is then the only writer that adds identities without it, and it never adds a key
 *     twice. A load that finds it missing builds it instead;
 *   - ensure: every other writer, in the transaction that looks identities up or adds them,
 *     first builds the index if it is missing (once per transaction). The dropping import's
 *     later rows then meet the index like any other writer's, and a key added behind its back
 *     makes its batch fail and be redone (identity.h).
 * The end of the load builds it again (hk_irepo_load_indexes_restore), as do the next import
 * and hk_store_migrate after a kill.
 */
/** Drops identities_key when identities is empty and no other load holds the load lock;
    *dropped says whether it did, and then db keeps the load lock until the caller ends its load
    (hk_db_load_unlock, or hk_db_release). Builds the index when it is missing. Outside a
    transaction: runs its own. */
int hk_irepo_identities_key_drop(struct hk_db *db, bool *dropped, struct hk_err *err);
/** Builds identities_key if it is missing; once per transaction (no-op until db's transaction
    ends or rolls back to a savepoint). Call inside the write transaction that will read or add
    identities. */
int hk_irepo_identities_key_ensure(struct hk_db *db, struct hk_err *err);
/** Whether identities_key exists now. */
int hk_irepo_identities_key_present(struct hk_db *db, bool *out, struct hk_err *err);
/** The largest order id (0 for none): how much the store holds, for choosing a load mode. */
int hk_irepo_orders_max_id(struct hk_db *db, int64_t *out, struct hk_err *err);
/** Calls cb with every stored order number (any shop), in no particular order; a non-zero
    return from cb stops and is returned. */
int hk_irepo_order_numbers(struct hk_db *db, int (*cb)(void *arg, const char *no, size_t len),
                           void *arg, struct hk_err *err);

#endif
