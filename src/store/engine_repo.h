/*
 * engine_repo.h — the SQL that feeds the customer engine: every row the engine derives from,
 * streamed to callbacks so the store stays ignorant of the engine (and the engine of SQL).
 *
 * hk_engine_repo_load reads shops, products, customers, identities (channels), tags, customer
 * tags, orders with their lines and events, inside one read transaction, so the engine starts
 * from one consistent snapshot. Orders arrive with all their lines (joined, ordered by order id
 * and line number). A callback returning non-zero stops the load with that code.
 *
 * Threading: uses the one hk_db it is given (borrowed; one thread at a time).
 */
#ifndef HK_STORE_ENGINE_REPO_H
#define HK_STORE_ENGINE_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_db;
struct hk_err;
struct hk_store;

struct hk_engine_repo_line {
    int64_t product_id; /* 0 when the line has no product */
    int64_t amount_fen; /* paid_fen - refund_fen of the line */
};

struct hk_engine_repo_order {
    int64_t id, customer_id, shop_id;
    const char *status; /* borrowed for the callback's duration */
    bool has_paid_at;
    int64_t paid_at, paid_fen, refund_fen;
    bool coupon; /* coupon_code is set */
    const struct hk_engine_repo_line *lines;
    size_t n_lines;
};

/* Every callback gets ctx first; strings are borrowed for the call; NULL callbacks skip. */
struct hk_engine_repo_sink {
    void *ctx;
    int (*shop)(void *ctx, int64_t id, const char *timezone, struct hk_err *err);
    int (*product)(void *ctx, int64_t id, const char *external_id, const char *category,
                   struct hk_err *err);
    int (*customer)(void *ctx, int64_t id, const char *province, const char *city,
                    int64_t merged_into, struct hk_err *err);
    int (*channel)(void *ctx, int64_t customer_id, const char *channel, struct hk_err *err);
    int (*tag)(void *ctx, const char *name, struct hk_err *err);
    int (*customer_tag)(void *ctx, int64_t customer_id, const char *tag, struct hk_err *err);
    int (*order)(void *ctx, const struct hk_engine_repo_order *o, struct hk_err *err);
    int (*event)(void *ctx, int64_t customer_id, int64_t shop_id, const char *type, int64_t at,
                 struct hk_err *err);
    /* after shop: the shop's channel and name (per-shop RFM names shops by them) */
    int (*shop_name)(void *ctx, int64_t id, const char *channel, const char *name,
                     struct hk_err *err);
};

/**
 * Streams the whole engine input to sink, in the order shops, products, customers, channels,
 * tags, customer tags, orders, events; every callback runs on the calling thread. With store
 * (may be NULL) the orders are read by a thread of their own on a second connection of it,
 * while this thread reads the rest on db. An order's lines come in no particular order.
 * Returns 0, a store error, or a callback's code.
 */
int hk_engine_repo_load(struct hk_db *db, struct hk_store *store,
                        const struct hk_engine_repo_sink *sink, struct hk_err *err);

/**
 * Streams one customer as the store has it now (inside the caller's transaction, if any): the
 * shops and products its history refers to, then its profile row (none when the id is
 * unknown), channels, tags, orders with lines and events — the input to re-derive that customer
 * after a change (services/engine_svc.c).
 */
int hk_engine_repo_load_customer(struct hk_db *db, int64_t customer_id,
                                 const struct hk_engine_repo_sink *sink, struct hk_err *err);

/** Streams the shops only (id, time zone), as hk_engine_repo_load does first. */
int hk_engine_repo_load_shops(struct hk_db *db, const struct hk_engine_repo_sink *sink,
                              struct hk_err *err);

/**
 * The store's identity (engine snapshots: a snapshot is only used on the store that wrote it):
 * a random text kept in schema_version as version 0 (name "store <id>"; migrations only ever
 * read the largest version). create (a fresh random id, or NULL): record it when the store has
 * none yet (applied_at = now), and return whichever is recorded (two processes racing agree). buf
 * gets "" when there is none and create is NULL.
 */
int hk_engine_repo_store_id(struct hk_db *db, const char *create, int64_t now, char *buf,
                            size_t size, struct hk_err *err);

#endif
