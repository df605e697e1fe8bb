/*
 * test_initial.c — the initial-load mode of file imports (import.h, hk_load_mode): the
 * secondary indexes no import look-up reads are dropped before the first batch and built again
 * after the last.
 *   - The same files imported as an initial load and as a normal load give the same store:
 *     counts and checksums of orders, lines, history, customers (profile and grouping),
 *     identities and merges — over a generated export, its later version (updates), a Taobao
 *     detail list before its order list (staging), JD and a hand-made file whose last order
 *     merges two customers through a shared phone.
 *   - Indexes a killed load left missing are built again by the next file import and by
 *     hk_store_migrate (every store open of the CLI and the server), exactly as the migrations
 *     define them. (test_crash.c kills a real initial load with SIGKILL and runs it again.)
 *   - A resolver told the store holds no key skips look-ups; a key another writer adds behind
 *     its back is refused by the unique index (not stored twice), and once the rollback made it
 *     forget, the key is found and joins the customer that holds it.
 *   - Past its cache's cap (made tiny here) a complete load keeps the keys the cache dropped in
 *     a filter: the store is the same as an uncapped load's, and only keys the store holds are
 *     looked up (no look-up for a new key); a key another writer stores meanwhile is still
 *     refused, the batch redone with look-ups, and the orders join that writer's customer; a
 *     rollback keeps the forgotten keys in the filter and looks keys up until the next commit.
 * HUIKE_GEN names the generator (bench/gen_generic.c).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/events.h"
#include "ingest/identity.h"
#include "ingest/reader.h"
#include "store/ingest_repo.h"
#include "store/repo_util.h"
#include "store/store.h"

/* ingest_repo.c, LOAD_INDEXES: on PostgreSQL also order_items_pkey and orders_sales */
#define LOAD_INDEXES TDB_LOAD_INDEXES(t->pg)

/* A customer named by its smallest identity (channel/kind/value), which does not depend on ids. */
#define WHO(c)                                                                                     \
    "(SELECT min(v.channel || '/' || v.kind || '/' || v.value) FROM identities v WHERE "           \
    "v.customer_id = " c ")"

static const char *const SUMS[][2] = {
    {"orders", "SELECT s.channel, s.name, o.external_no, o.status, o.total_fen, o.discount_fen, "
               "o.postage_fen, o.paid_fen, o.refund_fen, o.coupon_code, o.created_at, o.paid_at, "
               "o.shipped_at, o.received_at, o.refunded_at, o.cancelled_at, o.source, " WHO(
                   "o.customer_id") ", (SELECT i.kind || '/' || i.value FROM identities i WHERE "
                                    "i.id = o.identity_id) FROM orders o JOIN shops s ON s.id = "
                                    "o.shop_id ORDER BY s.channel, s.name, o.external_no"},
    {"items", "SELECT o.external_no, i.line_no, i.item_key, i.placeholder, i.title, i.sku, "
              "i.quantity, i.unit_price_fen, i.paid_fen, i.refund_fen, i.variant, i.category, "
              "p.external_id, s.channel, s.name FROM order_items i JOIN orders o ON o.id = "
              "i.order_id JOIN shops s ON s.id = o.shop_id LEFT JOIN products p ON p.id = "
              "i.product_id ORDER BY s.channel, s.name, o.external_no, i.line_no"},
    {"history", "SELECT s.channel, s.name, o.external_no, h.change, h.old_value, h.new_value, "
                "h.source, h.at FROM order_history h JOIN orders o ON o.id = h.order_id JOIN "
                "shops s ON s.id = o.shop_id ORDER BY s.channel, s.name, o.external_no, h.id"},
    {"customers",
     "SELECT " WHO("c.id") ", c.nick, c.phone_hash, c.name_hash, c.phone_masked, "
                           "c.email, c.province, c.city, c.name_enc IS NULL, c.phone_enc IS NULL, "
                           "c.address_enc IS NULL, " WHO(
                               "c.merged_into") " FROM customers c ORDER BY 1, 2, 3, "
                                                "4, 5, 6, 7, 8, 9, 10, 11, 12"},
    {"identities", "SELECT v.channel, v.kind, v.value, " WHO(
                       "v.customer_id") " FROM identities v ORDER BY v.channel, v.kind, v.value"},
    {"merges", "SELECT " WHO("m.winner_id") ", " WHO(
                   "m.loser_id") ", m.reason FROM customer_merges m ORDER BY 1, 2"},
    {"staged", "SELECT channel, order_no, item_key FROM staged_items ORDER BY 1, 2, 3"},
};
#define NSUMS (sizeof SUMS / sizeof SUMS[0])

static const char *const COUNTS[] = {
    "SELECT count(*) FROM orders",        "SELECT count(*) FROM order_items",
    "SELECT count(*) FROM order_history", "SELECT count(*) FROM customers",
    "SELECT count(*) FROM identities",    "SELECT count(*) FROM customer_merges",
    "SELECT count(*) FROM products",      "SELECT count(*) FROM staged_items",
};
#define NCOUNTS (sizeof COUNTS / sizeof COUNTS[0])

/* The files in import order: each entry is one hk_import_files call. */
struct step {
    const char *paths[2];
    size_t n;
};

static void load_all(struct tdb *t, struct hk_store *s, const struct step *steps, size_t nsteps,
                     enum hk_load_mode mode)
{
    struct hk_ingest_ctx ctx = t->ctx;
    ctx.store = s;
    for (size_t i = 0; i < nsteps; i++) {
        struct hk_err err = {0};
        struct hk_import_opts o = {0};
        struct hk_import_result res;
        memset(&res, 0, sizeof res);
        o.load = mode;
        o.batch_orders = 700; /* several transactions per file */
        if (hk_import_files(&ctx, steps[i].paths, NULL, steps[i].n, &o, &res, &err) != 0)
            fail_msg("import: %s", err.msg);
        assert_int_equal(res.rejected, 0);
        assert_int_equal(res.initial_load, mode == HK_LOAD_INITIAL);
        hk_import_result_release(&res);
        assert_int_equal(tdb_load_indexes(s), LOAD_INDEXES);
    }
}

static void initial_load__same_store_as_normal_load(void **state)
{
    struct tdb *t = *state;
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/gen.csv", t->tmpdir);
    snprintf(b, sizeof b, "%s/gen-later.csv", t->tmpdir);
    tdb_generate("12000", a, "0");
    tdb_generate("12000", b, "1");
    const char *merge = tdb_write(t, "merge.csv", TDB_MERGE_CSV);
    const struct step steps[] = {
        {{merge}, 1},
        {{fixture("ExportOrderDetailList202603.csv"), fixture("ExportOrderList202603.csv")}, 2},
        {{fixture("jd-orders.csv")}, 1},
        {{a}, 1},
        {{b}, 1},
        {{a}, 1}, /* an older export again: changes nothing */
    };
    size_t nsteps = sizeof steps / sizeof steps[0];

    char other[640];
    tdb_fresh_target(t, other, sizeof other);
    struct hk_store *normal = tdb_open_store(other);
    load_all(t, t->store, steps, nsteps, HK_LOAD_INITIAL);
    load_all(t, normal, steps, nsteps, HK_LOAD_NORMAL);

    assert_true(q_int(t->store, "SELECT count(*) FROM orders") > 6000);
    assert_true(q_int(t->store, "SELECT count(*) FROM customer_merges") >= 1);
    assert_true(q_int(t->store, "SELECT count(*) FROM order_history") > 100);
    for (size_t i = 0; i < NCOUNTS; i++) {
        int64_t x = q_int(t->store, COUNTS[i]), y = q_int(normal, COUNTS[i]);
        if (x != y)
            fail_msg("%s: initial %lld, normal %lld", COUNTS[i], (long long)x, (long long)y);
    }
    for (size_t i = 0; i < NSUMS; i++) {
        if (q_checksum(t->store, SUMS[i][1]) != q_checksum(normal, SUMS[i][1]))
            fail_msg("%s differ between the initial and the normal load", SUMS[i][0]);
    }
    /* the change log: an initial load's batch logs one 'all' row (followers reload everything),
       a normal load's a row per customer it touched */
    const char *per_customer = "SELECT count(*) FROM changes WHERE kind <> 'all'";
    const char *all = "SELECT count(*) FROM changes WHERE kind = 'all'";
    assert_int_equal(q_int(t->store, per_customer), 0);
    assert_true(q_int(t->store, all) >= 12000 / 700);
    assert_true(q_int(normal, per_customer) > 6000);
    assert_int_equal(q_int(normal, all), 0);
    hk_store_close(normal);
}

/* Another writer (the REST ingest, say) stores an order while an initial load runs; the
   load's file brings the same number later. The filter of stored numbers was filled before, so
   the order is not looked up and its insert fails: the batch is redone looking every number up,
   and the record updates the stored order instead of being rejected. */

static void initial_load__order_stored_behind_its_back_is_updated(void **state)
{
    struct tdb *t = *state;
    const char *merge = tdb_write(t, "merge.csv", TDB_MERGE_CSV);
    struct hk_ingest_ctx ctx = t->ctx;
    struct hk_err err = {0};
    struct hk_import_opts o = {0};
    struct hk_import_result res;
    memset(&res, 0, sizeof res);
    struct tdb_plant planted = {
        t->store,
        {"INSERT INTO orders (shop_id, external_no, customer_id, status, created_at, updated_at)"
         " SELECT shop_id, 'M3', customer_id, 'paid', 1, 1 FROM orders WHERE external_no = 'M2'",
         NULL},
        0};
    o.load = HK_LOAD_INITIAL;
    o.batch_orders = 2;   /* M1 and M2, then M3 (planted after the first batch) */
    o.no_pipeline = true; /* the plant lands between two batches, not during one */
    o.progress = tdb_plant_progress;
    o.progress_arg = &planted;
    if (hk_import_files(&ctx, &merge, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_true(res.initial_load);
    assert_int_equal(res.rejected, 0);
    assert_int_equal(res.orders_created, 2);
    assert_int_equal(res.orders_updated, 1);
    hk_import_result_release(&res);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = 'M3'"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = 'M3'"
                                     " AND status = 'completed'"),
                     1);
}

/* A pipelined load whose last batch of orders fails (another writer took an id the pipeline
   handed out) and whose file ends in rejected rows: the batch is redone, and the rows read with
   and after it still count (rows, rejected, their errors). The failure shows when the batch is
   queued or when it is confirmed (with the reader's last errors in an empty batch after it),
   as the threads' timing has it; both end in confirm_all. The first progress report comes
   when the first batch is confirmed, with PIPE_DEPTH (HK_READER_KEPT) batches queued after
   it; the planted order takes the first id of the batch after those. */

#define ROW(no, day)                                                                               \
    no ",ma,甲,13900000001,浙江省,杭州市,taobao,店,paid,2026-01-0" day " 10:00:00,2026-01-0" day   \
       " 10:00:00,,P1,商品,零食,1,10.00,10.00,,\n"

static void pipeline__redone_last_batch_keeps_the_rows_read_after_it(void **state)
{
    struct tdb *t = *state;
    enum { PER_BATCH = 2, BATCHES = HK_READER_KEPT + 2 }; /* the last one fails */
    char csv[4096] = TDB_GENERIC_HEADER;
    for (int i = 1; i <= BATCHES * PER_BATCH; i++) {
        size_t at = strlen(csv);
        snprintf(csv + at, sizeof csv - at, ROW("M%d", "%d"), i, 1 + i % 9, 1 + i % 9);
    }
    size_t at = strlen(csv);
    snprintf(csv + at, sizeof csv - at, "%s", ROW("", "7") ROW("", "8"));
    const char *file = tdb_write(t, "tail.csv", csv);
    struct hk_ingest_ctx ctx = t->ctx;
    struct hk_err err = {0};
    struct hk_import_opts o = {0};
    struct hk_import_result res;
    memset(&res, 0, sizeof res);
    char plant[256];
    snprintf(plant, sizeof plant,
             "INSERT INTO orders (id, shop_id, external_no, customer_id, status, created_at,"
             " updated_at) SELECT %d, shop_id, 'X-PLANTED', customer_id, 'paid', 1, 1 FROM orders"
             " WHERE external_no = 'M1'",
             (BATCHES - 1) * PER_BATCH + 1);
    struct tdb_plant planted = {t->store, {plant, NULL}, 0};
    o.load = HK_LOAD_INITIAL;
    o.batch_orders = PER_BATCH; /* the reader reports the first bad row with the last order (it
                                   ends that order), the second one after */
    o.progress = tdb_plant_progress;
    o.progress_arg = &planted;
    if (hk_import_files(&ctx, &file, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_true(res.pipeline_redos >= 1);
    assert_int_equal(res.orders_created, BATCHES * PER_BATCH);
    assert_int_equal(res.rows, BATCHES * PER_BATCH + 2);
    assert_int_equal(res.rejected, 2);
    assert_int_equal(res.nerrors, 2);
    hk_import_result_release(&res);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders"), BATCHES * PER_BATCH + 1);
}

/* An initial load's filter knows the numbers of the orders it created in earlier batches, so a
   record of such an order in a later batch is looked up and updates it: no insert of the same
   number, no batch redone. (The filter takes a record's number when the record is prefetched,
   not when its order is created.) */
#define N1_DONE                                                                                      \
    "N1,ma,甲,13900000001,浙江省,杭州市,taobao,店,completed,2026-01-01 10:00:00,2026-01-01 " \
    "10:00:00,2026-01-05 10:00:00,P1,商品,零食,1,10.00,10.00,,\n"

static void initial_load__order_again_in_a_later_batch_is_looked_up(void **state)
{
    struct tdb *t = *state;
    const char *file = tdb_write(
        t, "again.csv", TDB_GENERIC_HEADER ROW("N1", "1") ROW("N2", "2") ROW("N3", "3") N1_DONE);
    for (int piped = 0; piped < 2; piped++) { /* each into a fresh store */
        char target[512];
        struct hk_store *st =
            piped ? tdb_open_store(tdb_fresh_target(t, target, sizeof target)) : t->store;
        struct hk_ingest_ctx ctx = t->ctx;
        ctx.store = st;
        struct hk_err err = {0};
        struct hk_import_opts o = {0};
        struct hk_import_result res;
        memset(&res, 0, sizeof res);
        o.load = HK_LOAD_INITIAL;
        o.batch_orders = 1; /* N1, N2, N3, then N1 again in a fourth batch */
        o.no_pipeline = !piped;
        if (hk_import_files(&ctx, &file, NULL, 1, &o, &res, &err) != 0)
            fail_msg("import: %s", err.msg);
        assert_true(res.initial_load);
        assert_int_equal(res.pipeline_redos, 0);
        assert_int_equal(res.rejected, 0);
        assert_int_equal(res.orders_created, 3);
        assert_int_equal(res.orders_updated, 1);
        hk_import_result_release(&res);
        assert_int_equal(q_int(st, "SELECT count(*) FROM orders WHERE external_no = 'N1'"
                                   " AND status = 'completed'"),
                         1);
        if (piped)
            hk_store_close(st);
    }
}

/* The definitions of the load indexes as the database reports them, concatenated. */
static const char *definitions(struct tdb *t, char *buf, size_t size)
{
    return q_text(t->store,
                  t->pg ? "SELECT string_agg(indexdef, ';' ORDER BY indexname) FROM pg_indexes "
                          "WHERE schemaname = current_schema() AND indexname IN "
                          "('customers_phone_hash', 'customers_name_hash', 'orders_sales', "
                          "'order_history_order', 'identities_customer', 'orders_customer', "
                          "'order_items_pkey', 'identities_key')"
                        : "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master "
                          "WHERE type = 'index' AND name IN ('customers_phone_hash', "
                          "'customers_name_hash', 'orders_sales', 'order_history_order', "
                          "'identities_customer', 'orders_customer', 'identities_key') "
                          "ORDER BY name)",
                  buf, size);
}

static void drop_indexes(struct tdb *t)
{
    tdb_drop_load_indexes(t->store);
}

static void killed_load__indexes_built_again_by_next_import_and_by_migrate(void **state)
{
    struct tdb *t = *state;
    char want[2048], got[2048];
    definitions(t, want, sizeof want);
    assert_int_equal(tdb_load_indexes(t->store), LOAD_INDEXES);
    assert_non_null(strstr(want, "phone_hash IS NOT NULL"));

    /* as a killed initial load leaves the store: the next import builds them first */
    drop_indexes(t);
    struct hk_import_result res;
    tdb_import1(t, fixture("generic-orders.csv"), &res);
    assert_false(res.initial_load); /* a small file into a store: a normal load */
    assert_true(res.orders_created > 0);
    hk_import_result_release(&res);
    assert_int_equal(tdb_load_indexes(t->store), LOAD_INDEXES);
    assert_string_equal(definitions(t, got, sizeof got), want);

    /* and any store open (hk_store_migrate) does too */
    drop_indexes(t);
    struct hk_err err = {0};
    assert_int_equal(hk_store_migrate(t->store, TEST_NOW, NULL, NULL, &err), 0);
    assert_int_equal(tdb_load_indexes(t->store), LOAD_INDEXES);
    assert_string_equal(definitions(t, got, sizeof got), want);
}

/* Resolves one buyer id in a write transaction and flushes; returns the flush's code. */
static int resolve_and_flush(struct tdb *t, struct hk_resolver *r, struct hk_db *db,
                             struct hk_resolution *out)
{
    struct hk_err err = {0};
    const struct hk_identity_in in = {"taobao", "buyer_id", "behind-its-back"};
    struct hk_identity_keys keys;
    assert_int_equal(hk_identity_keys_from_input(&t->keys, &in, 1, &keys, &err), 0);
    const struct hk_identity_keys *set = &keys;
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(hk_resolver_prefetch(r, db, &set, 1, NULL, 0, &err), 0);
    assert_int_equal(hk_resolver_resolve(r, db, &keys, 0, NULL, TEST_NOW, out, &err), 0);
    int rc = hk_resolver_flush(r, db, TEST_NOW, NULL, &err);
    if (rc == 0) {
        out->customer_id = hk_resolver_real_customer(r, out->customer_id);
        rc = hk_db_commit(db, &err);
    } else {
        hk_db_rollback(db);
    }
    hk_resolver_flush_done(r);
    return rc;
}

static void complete_cache__key_added_behind_its_back_refused_then_found(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_resolver *r = hk_resolver_new(&t->keys);
    assert_non_null(r);
    hk_resolver_set_complete(r, true); /* the store holds no identity now */
    q_exec(t->store, "INSERT INTO customers (nick, created_at, updated_at) VALUES ('old', 1, 1)");
    q_exec(t->store, "INSERT INTO identities (customer_id, channel, kind, value, created_at) "
                     "SELECT max(id), 'taobao', 'buyer_id', 'behind-its-back', 1 FROM customers");
    int64_t old = q_int(t->store, "SELECT max(id) FROM customers");

    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    struct hk_resolution res;
    /* the look-up was skipped: a new customer, whose identity the unique index refuses */
    assert_int_equal(resolve_and_flush(t, r, db, &res), HK_E(CONFLICT));
    assert_true(res.customer_created);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), 1);
    /* after the rollback the importer forgets: the key is looked up and found */
    hk_resolver_forget(r);
    assert_int_equal(resolve_and_flush(t, r, db, &res), 0);
    assert_false(res.customer_created);
    assert_int_equal(res.customer_id, old);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities"), 1);
    hk_db_release(db);
    hk_resolver_free(r);
}

/* Compares every count and checksum of two stores. */
static void same_store(struct hk_store *a, struct hk_store *b)
{
    for (size_t i = 0; i < NCOUNTS; i++) {
        int64_t x = q_int(a, COUNTS[i]), y = q_int(b, COUNTS[i]);
        if (x != y)
            fail_msg("%s: %lld and %lld", COUNTS[i], (long long)x, (long long)y);
    }
    for (size_t i = 0; i < NSUMS; i++)
        if (q_checksum(a, SUMS[i][1]) != q_checksum(b, SUMS[i][1]))
            fail_msg("%s differ", SUMS[i][0]);
}

/* Imports one file into s as an initial load with the options o (its load mode set here) and
   checks that it ran as one, rejecting nothing; res must be released by the caller. */
static void load_initial(struct tdb *t, struct hk_store *s, const char *path,
                         struct hk_import_opts o, struct hk_import_result *res)
{
    struct hk_ingest_ctx ctx = t->ctx;
    struct hk_err err = {0};
    ctx.store = s;
    memset(res, 0, sizeof *res);
    o.load = HK_LOAD_INITIAL;
    if (hk_import_files(&ctx, &path, NULL, 1, &o, res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_int_equal(res->rejected, 0);
    assert_true(res->initial_load);
}

/* load_initial with the identity cache capped at cap keys (0: the default). */
static void load_capped(struct tdb *t, struct hk_store *s, const char *path, size_t cap,
                        bool no_pipeline, struct hk_import_result *res)
{
    struct hk_import_opts o = {0};
    o.batch_orders = 300;
    o.identity_cache_keys = cap;
    o.no_pipeline = no_pipeline;
    load_initial(t, s, path, o, res);
}

static void capped_cache__same_store_and_no_lookup_of_new_keys(void **state)
{
    struct tdb *t = *state;
    char a[600], other[640];
    snprintf(a, sizeof a, "%s/gen.csv", t->tmpdir);
    tdb_generate("12000", a, "0"); /* about 3600 customers, 6100 keys, 40 % returning */
    tdb_fresh_target(t, other, sizeof other);
    struct hk_store *uncapped = tdb_open_store(other);

    struct hk_import_result capped, plain;
    load_capped(t, t->store, a, 400, false, &capped);
    load_capped(t, uncapped, a, 0, false, &plain);
    same_store(t->store, uncapped);

    /* the uncapped load knew every key: no look-up at all */
    assert_int_equal(plain.identity_restarts, 0);
    assert_int_equal(plain.identity_lookups, 0);
    /* the capped one started over many times, and looked up only keys it had stored before
       (returning buyers): a new key, certainly not in the filter, is not asked for (one in
       about 10^6 may be: a false "maybe") */
    assert_true(capped.identity_restarts >= 10);
    assert_true(capped.identity_lookups > 500);
    assert_true(capped.identity_lookups - capped.identity_found <= 3);
    hk_import_result_release(&capped);
    hk_import_result_release(&plain);
    hk_store_close(uncapped);
}

/* A capped load, with the buyer of a later order stored by another writer after the first
   batch: past the restarts the filter says "certainly not" for its key, the new identity is
   refused by the unique index, the batch is rolled back and redone with look-ups, and the
   orders join the other writer's customer; nothing is stored twice, and the load goes on
   skipping look-ups of new keys after the redo. */

static void capped_cache__key_stored_behind_its_back_found_on_redo(void **state)
{
    struct tdb *t = *state;
    char csv[16384];
    int len = snprintf(csv, sizeof csv, TDB_GENERIC_HEADER);
    for (int i = 1; i <= 40; i++) /* 40 buyers, 2 keys each; U41..U80: the first 40 again */
        len += snprintf(csv + len, sizeof csv - (size_t)len,
                        "U%d,u%d,买家%d,139%08d,浙江省,杭州市,taobao,店,paid,2026-01-01 "
                        "10:00:00,2026-01-01 10:00:00,,P1,商品,零食,1,10.00,10.00,,\n",
                        i, i, i, i);
    for (int i = 1; i <= 40; i++)
        len += snprintf(csv + len, sizeof csv - (size_t)len,
                        "U%d,u%d,买家%d,139%08d,浙江省,杭州市,taobao,店,paid,2026-01-02 "
                        "10:00:00,2026-01-02 10:00:00,,P1,商品,零食,1,10.00,10.00,,\n",
                        40 + i, i, i, i);
    assert_true(len < (int)sizeof csv);
    const char *file = tdb_write(t, "buyers.csv", csv);

    for (int piped = 0; piped < 2; piped++) {
        struct hk_ingest_ctx ctx = t->ctx;
        struct hk_err err = {0};
        struct hk_import_opts o = {0};
        struct hk_import_result res;
        memset(&res, 0, sizeof res);
        struct tdb_plant planted = {
            t->store,
            {"INSERT INTO customers (nick, created_at, updated_at) VALUES ('other', 1, 1)",
             "INSERT INTO identities (customer_id, channel, kind, value, created_at)"
             " SELECT max(id), 'taobao', 'buyer_id', 'u9', 1 FROM customers"},
            0};
        if (piped) { /* again into a fresh store */
            char other[640];
            tdb_fresh_target(t, other, sizeof other);
            ctx.store = planted.store = tdb_open_store(other);
        }
        o.load = HK_LOAD_INITIAL;
        o.batch_orders = 2;
        o.identity_cache_keys = 4; /* starts over every two or three batches */
        o.no_pipeline = !piped;
        o.progress = tdb_plant_progress;
        o.progress_arg = &planted;
        if (hk_import_files(&ctx, &file, NULL, 1, &o, &res, &err) != 0)
            fail_msg("import: %s", err.msg);
        assert_int_equal(res.rejected, 0);
        assert_int_equal(res.orders_created, 80);
        assert_true(res.identity_restarts >= 10);
        assert_int_equal(res.customers_created, 39);
        if (piped)
            assert_true(res.pipeline_redos >= 1);
        /* after the redo (which looked its keys up) the load went on skipping new keys */
        assert_true(res.identity_lookups - res.identity_found <= 20);
        hk_import_result_release(&res);
        struct hk_store *s = planted.store;
        assert_int_equal(q_int(s, "SELECT count(*) FROM identities"), 80);
        assert_int_equal(q_int(s, "SELECT count(*) FROM customers"), 40);
        assert_int_equal(q_int(s, "SELECT count(*) FROM orders o JOIN customers c ON c.id ="
                                  " o.customer_id WHERE c.nick = 'other'"),
                         2);
        /* every buyer's second order found its first one's customer */
        assert_int_equal(q_int(s, "SELECT count(*) FROM (SELECT customer_id FROM orders"
                                  " GROUP BY customer_id HAVING count(*) = 2) x"),
                         40);
        if (piped)
            hk_store_close(s);
    }
}

/* Resolves each of keys[0..n) (buyer ids on taobao) as one set in one transaction. */
static void resolve_ids(struct tdb *t, struct hk_resolver *r, struct hk_db *db,
                        const char *const *values, size_t n, int64_t *customers)
{
    struct hk_err err = {0};
    struct hk_identity_keys keys[8];
    const struct hk_identity_keys *sets[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        const struct hk_identity_in in = {"taobao", "buyer_id", values[i]};
        assert_int_equal(hk_identity_keys_from_input(&t->keys, &in, 1, &keys[i], &err), 0);
        hk_resolver_digest_keys(r, &keys[i]);
        sets[i] = &keys[i];
    }
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(hk_resolver_prefetch(r, db, sets, n, NULL, 0, &err), 0);
    struct hk_resolution res[8];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hk_resolver_resolve(r, db, &keys[i], 0, NULL, TEST_NOW, &res[i], &err), 0);
    assert_int_equal(hk_resolver_flush(r, db, TEST_NOW, NULL, &err), 0);
    for (size_t i = 0; i < n; i++)
        customers[i] = hk_resolver_real_customer(r, res[i].customer_id);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_resolver_flush_done(r);
}

static void capped_cache__filter_keeps_stored_keys_and_skips_new_ones(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_resolver *r = hk_resolver_new(&t->keys);
    assert_non_null(r);
    hk_resolver_set_complete(r, true);
    hk_resolver_set_limits(r, 3, 0);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);

    const char *first[] = {"a1", "a2", "a3", "a4"};
    int64_t c1[4], c2[4], c3[4];
    resolve_ids(t, r, db, first, 4, c1);
    struct hk_resolver_stats st;
    hk_resolver_stats(r, &st);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(st.keys_looked_up, 0);
    assert_int_equal(st.keys_skipped, 4);

    /* past the cap: the cache starts over, the four keys go into the filter; two old keys are
       looked up (and found), two new ones are not */
    const char *second[] = {"a1", "b1", "a3", "b2"};
    resolve_ids(t, r, db, second, 4, c2);
    hk_resolver_stats(r, &st);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(st.filter_keys, 4);
    assert_int_equal(st.keys_looked_up, 2);
    assert_int_equal(st.keys_found, 2);
    assert_int_equal(st.keys_skipped, 6);
    assert_int_equal(c2[0], c1[0]);
    assert_int_equal(c2[2], c1[2]);
    assert_true(c2[1] != c1[0] && c2[3] != c2[1]);

    /* and again: the filter keeps growing, so keys of every generation are found */
    const char *third[] = {"a2", "b2", "b3", "a4"};
    resolve_ids(t, r, db, third, 4, c3);
    hk_resolver_stats(r, &st);
    assert_int_equal(st.restarts, 2);
    assert_int_equal(st.keys_looked_up, 5);
    assert_int_equal(st.keys_found, 5);
    assert_int_equal(c3[0], c1[1]);
    assert_int_equal(c3[1], c2[3]);
    assert_int_equal(c3[3], c1[3]);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities"), 7);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), 7);

    /* a rollback: the cache's keys join the filter (b3 is only there now), and until the next
       commit every key is looked up (the rollback may have been another writer's key) */
    hk_resolver_forget(r);
    hk_resolver_stats(r, &st);
    assert_int_equal(st.filter_keys, 7);
    const char *fourth[] = {"c1"};
    int64_t c4[2], c5[2];
    resolve_ids(t, r, db, fourth, 1, c4);
    hk_resolver_stats(r, &st);
    assert_int_equal(st.keys_looked_up, 6);
    assert_int_equal(st.keys_found, 5);
    hk_resolver_committed(r);
    const char *fifth[] = {"c2", "b3"};
    resolve_ids(t, r, db, fifth, 2, c5);
    hk_resolver_stats(r, &st);
    assert_int_equal(st.keys_looked_up, 7); /* b3, found; c2 certainly new */
    assert_int_equal(st.keys_found, 6);
    assert_int_equal(c5[1], c3[2]);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities"), 9);
    hk_db_release(db);
    hk_resolver_free(r);
}

/* A PRAGMA's value on the connection db (statement name: the PRAGMA itself). */
static int64_t pragma_value(struct hk_db *db, const char *sql)
{
    struct hk_err err = {0};
    struct hk_stmt *st;
    int64_t v = -1;
    bool found = false;
    assert_int_equal(hk_db_stmt(db, sql, sql, &st, &err), 0);
    assert_int_equal(hk_stmt_find_int64(st, &v, &found, &err), 0);
    assert_true(found);
    return v;
}

/* The load-index names present among identities_customer and orders_customer. */
static int64_t merge_indexes(struct tdb *t)
{
    return q_int(t->store,
                 t->pg ? "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()"
                         " AND indexname IN ('identities_customer', 'orders_customer')"
                       : "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
                         " ('identities_customer', 'orders_customer')");
}

/* Runs one merge of loser into winner in its own transaction, committed or rolled back. */
static void merge_once(struct tdb *t, int64_t winner, int64_t loser, bool commit)
{
    struct hk_err err = {0};
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    if (hk_irepo_merge(db, winner, loser, "phone", TEST_NOW, NULL, &err) != 0)
        fail_msg("merge: %s", err.msg);
    if (commit)
        assert_int_equal(hk_db_commit(db, &err), 0);
    else
        hk_db_rollback(db);
    hk_db_release(db);
}

/* An initial load also drops the two indexes merges read by customer; a merge builds them
   first (a rolled-back merge takes them with it), so merges never scan. */
static void merge__builds_the_customer_indexes_an_initial_load_dropped(void **state)
{
    struct tdb *t = *state;
    char want[2048], got[2048];
    definitions(t, want, sizeof want);
    q_exec(t->store, "INSERT INTO customers (nick, created_at, updated_at) VALUES ('w', 1, 1),"
                     " ('l', 1, 1)");
    int64_t w = q_int(t->store, "SELECT min(id) FROM customers");
    int64_t l = q_int(t->store, "SELECT max(id) FROM customers");
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO identities (customer_id, channel, kind, value, created_at)"
             " VALUES (%lld, 'taobao', 'buyer_id', 'l1', 1)",
             (long long)l);
    q_exec(t->store, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO orders (shop_id, external_no, customer_id, status, created_at,"
             " updated_at) VALUES (1, 'L1', %lld, 'paid', 1, 1)",
             (long long)l);
    q_exec(t->store, sql);

    drop_indexes(t);
    assert_int_equal(merge_indexes(t), 0);
    merge_once(t, w, l, false);
    assert_int_equal(merge_indexes(t), 0); /* rolled back with the merge */
    merge_once(t, w, l, true);
    assert_int_equal(merge_indexes(t), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM orders WHERE customer_id = %lld", (long long)w);
    assert_int_equal(q_int(t->store, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM identities WHERE customer_id = %lld",
             (long long)w);
    assert_int_equal(q_int(t->store, sql), 1);

    /* the end of the load builds the rest, and all are as the migrations define them */
    struct hk_err err = {0};
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    if (!t->pg) { /* SQLite builds with its own settings and puts back the connection's */
        struct hk_stmt *st;
        assert_int_equal(hk_db_stmt(db, "t_temp_store", "PRAGMA temp_store = 2", &st, &err), 0);
        assert_int_equal(hk_stmt_exec(st, &err), 0);
        assert_int_equal(hk_db_stmt(db, "t_cache", "PRAGMA cache_size = -12345", &st, &err), 0);
        assert_int_equal(hk_stmt_exec(st, &err), 0);
        assert_int_equal(pragma_value(db, "PRAGMA threads = 2"), 2);
    }
    assert_int_equal(hk_irepo_load_indexes_restore(db, NULL, &err), 0);
    if (!t->pg) {
        assert_int_equal(pragma_value(db, "PRAGMA temp_store"), 2);
        assert_int_equal(pragma_value(db, "PRAGMA threads"), 2);
        assert_int_equal(pragma_value(db, "PRAGMA cache_size"), -12345);
    }
    hk_db_release(db);
    assert_int_equal(tdb_load_indexes(t->store), LOAD_INDEXES);
    assert_string_equal(definitions(t, got, sizeof got), want);
}

/* ---- identities_key (ingest_repo.h) -------------------------------------------------------- */

static bool key_present(struct hk_store *s)
{
    struct hk_err err = {0};
    struct hk_db *db;
    bool there = false;
    if (hk_db_acquire(s, &db, &err) != 0 || hk_irepo_identities_key_present(db, &there, &err) != 0)
        fail_msg("identities_key: %s", err.msg);
    hk_db_release(db);
    return there;
}

/* A progress callback: whether identities_key existed at the first call (between batches). */
struct key_watch {
    struct hk_store *store;
    int calls;
    bool present;
};

static void watch_key(void *arg, int64_t done, int64_t total, int64_t rows)
{
    (void)done;
    (void)total;
    (void)rows;
    struct key_watch *w = arg;
    if (w->calls++ == 0)
        w->present = key_present(w->store);
}

static void load_watched(struct tdb *t, const char *path, struct key_watch *w,
                         struct hk_import_result *res)
{
    struct hk_import_opts o = {0};
    *w = (struct key_watch){t->store, 0, false};
    o.batch_orders = 2;
    o.progress = watch_key;
    o.progress_arg = w;
    load_initial(t, t->store, path, o, res);
    assert_true(w->calls > 1);
}

/* Exactly one identity per key, and the index that says so. */
static void keys_unique(struct hk_store *s)
{
    assert_true(key_present(s));
    assert_int_equal(q_int(s, "SELECT count(*) FROM (SELECT value, kind, channel FROM"
                              " identities GROUP BY value, kind, channel"
                              " HAVING count(*) > 1) d"),
                     0);
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    assert_int_equal(hk_db_acquire(s, &db, &err), 0);
    assert_int_equal(hk_db_stmt(db, "t_key_twice",
                                "INSERT INTO identities (customer_id, channel, kind, value,"
                                " created_at) SELECT customer_id, channel, kind, value, 1"
                                " FROM identities WHERE id = (SELECT min(id) FROM identities)",
                                &st, &err),
                     0);
    assert_true(hk_stmt_exec(st, &err) < 0); /* refused */
    hk_db_release(db);
}

static void identities_key__dropped_only_by_a_load_into_a_store_without_identities(void **state)
{
    struct tdb *t = *state;
    struct key_watch w;
    struct hk_import_result res;
    assert_true(key_present(t->store));

    /* into an empty store: missing while the load runs, no key looked up, there at the end */
    load_watched(t, fixture("generic-orders.csv"), &w, &res);
    assert_false(w.present);
    assert_int_equal(res.identity_lookups, 0);
    assert_true(res.customers_created > 0);
    hk_import_result_release(&res);
    keys_unique(t->store);

    /* into a store with identities: kept, and keys are looked up in it */
    load_watched(t, tdb_write(t, "merge.csv", TDB_MERGE_CSV), &w, &res);
    assert_true(w.present);
    assert_true(res.identity_lookups > 0);
    hk_import_result_release(&res);
    keys_unique(t->store);
}

/* The progress callback of the next test: between the load's first two batches, a customer
   upsert through the API (hk_ingest_customers) with the buyer id of the file's second order. */
struct api_writer {
    struct hk_ingest_ctx ctx;
    int calls;
    bool present_before, present_after;
    int64_t customer;
};

static void api_upsert(void *arg, int64_t done, int64_t total, int64_t rows)
{
    (void)done;
    (void)total;
    (void)rows;
    struct api_writer *a = arg;
    if (a->calls++ != 0)
        return;
    a->present_before = key_present(a->ctx.store);
    struct hk_identity_in id = {"jd", "buyer_id", "mb"};
    struct hk_customer_in c = {.ids = &id, .nids = 1, .nick = "api"};
    c.consent_sms = c.consent_email = c.consent_wechat = -1;
    struct hk_ingest_item_result r;
    struct hk_err ierr = {0}, err = {0};
    if (hk_ingest_customers(&a->ctx, &c, 1, &r, &ierr, &err) != 0 || ierr.code != 0)
        fail_msg("upsert: %s %s", err.msg, ierr.msg);
    a->customer = r.customer_id;
    a->present_after = key_present(a->ctx.store);
}

static void identities_key__built_by_a_writer_during_the_load_and_each_key_stays_one(void **state)
{
    struct tdb *t = *state;
    const char *merge = tdb_write(t, "merge.csv", TDB_MERGE_CSV);
    for (int piped = 0; piped < 2; piped++) {
        struct hk_err err = {0};
        struct hk_import_opts o = {0};
        struct hk_import_result res;
        struct api_writer a = {t->ctx, 0, false, false, 0};
        memset(&res, 0, sizeof res);
        if (piped) { /* again into a fresh store */
            char other[640];
            tdb_fresh_target(t, other, sizeof other);
            a.ctx.store = tdb_open_store(other);
        }
        struct hk_store *s = a.ctx.store;
        o.load = HK_LOAD_INITIAL;
        o.batch_orders = 1; /* M1, then M2 (whose buyer the upsert added), then M3 */
        o.no_pipeline = !piped;
        o.progress = api_upsert;
        o.progress_arg = &a;
        if (hk_import_files(&a.ctx, &merge, NULL, 1, &o, &res, &err) != 0)
            fail_msg("import: %s", err.msg);
        assert_false(a.present_before); /* the load dropped it */
        assert_true(a.present_after);   /* the upsert built it before adding its key */
        assert_int_equal(res.rejected, 0);
        assert_int_equal(res.orders_created, 3);
        hk_import_result_release(&res);
        keys_unique(s);
        /* the load's M2 found the upsert's customer instead of adding the key again */
        assert_int_equal(q_int(s, "SELECT count(*) FROM identities WHERE value = 'mb'"), 1);
        char sql[400];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM orders o WHERE o.external_no = 'M2' AND (o.customer_id ="
                 " %lld OR o.customer_id = (SELECT merged_into FROM customers WHERE id = %lld))",
                 (long long)a.customer, (long long)a.customer);
        assert_int_equal(q_int(s, sql), 1);
        if (piped)
            hk_store_close(s);
    }
}

/* Two loads into one empty store: the second never drops the index the first dropped, even
   after something (here a store open's restore) built it meanwhile. */
static void identities_key__one_load_at_a_time_drops_it(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *a, *b;
    bool dropped = false;
    int created = 0;
    assert_int_equal(hk_db_acquire(t->store, &a, &err), 0);
    assert_int_equal(hk_db_acquire(t->store, &b, &err), 0);
    assert_int_equal(hk_irepo_identities_key_drop(a, &dropped, &err), 0);
    assert_true(dropped);
    assert_false(key_present(t->store));

    assert_int_equal(hk_irepo_load_indexes_restore(b, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_true(key_present(t->store));
    assert_int_equal(hk_irepo_identities_key_drop(b, &dropped, &err), 0);
    assert_false(dropped); /* a still holds the load lock */
    assert_true(key_present(t->store));
    bool got = true;
    assert_int_equal(hk_db_load_lock(b, &got, &err), 0);
    assert_false(got);

    hk_db_load_unlock(a); /* a's load ended */
    assert_int_equal(hk_irepo_identities_key_drop(b, &dropped, &err), 0);
    assert_true(dropped);
    assert_false(key_present(t->store));
    hk_db_release(b); /* frees b's lock too */
    assert_int_equal(hk_db_load_lock(a, &got, &err), 0);
    assert_true(got);
    hk_db_load_unlock(a);
    assert_int_equal(hk_irepo_load_indexes_restore(a, &created, &err), 0);
    assert_true(key_present(t->store));
    hk_db_release(a);
}

/* 0011 run again on a store with identities and events that name them: same rows and ids. */
static void migration_0011__identities_keep_rows_ids_and_references(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result res;
    tdb_import1(t, tdb_write(t, "merge.csv", TDB_MERGE_CSV), &res);
    hk_import_result_release(&res);
    q_exec(t->store, "INSERT INTO events (customer_id, type, at, identity_id, created_at)"
                     " SELECT customer_id, 'browse', 1, id, 1 FROM identities");
    static const char ids_sql[] = "SELECT id, customer_id, channel, kind, value, created_at"
                                  " FROM identities ORDER BY id";
    static const char ev_sql[] = "SELECT id, identity_id FROM events ORDER BY id";
    uint64_t ids = q_checksum(t->store, ids_sql), ev = q_checksum(t->store, ev_sql);
    int64_t n = q_int(t->store, "SELECT count(*) FROM identities");
    assert_true(n >= 4);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM events WHERE identity_id IS NOT NULL"),
                     n);

    q_exec(t->store, "DELETE FROM schema_version WHERE version >= 11");
    struct hk_err err = {0};
    int from = 0, to = 0;
    assert_int_equal(hk_store_migrate(t->store, TEST_NOW, &from, &to, &err), 0);
    assert_int_equal(from, 10);
    assert_true(to >= 11);
    assert_int_equal(q_checksum(t->store, ids_sql), ids);
    assert_int_equal(q_checksum(t->store, ev_sql), ev);
    keys_unique(t->store);
    if (!t->pg) /* the unique key is the named index only, no automatic one beside it */
        assert_int_equal(q_int(t->store, "SELECT count(*) FROM sqlite_master WHERE tbl_name ="
                                         " 'identities' AND name LIKE 'sqlite_autoindex%'"),
                         0);
    else
        assert_int_equal(q_int(t->store, "SELECT count(*) FROM pg_constraint WHERE conrelid ="
                                         " 'identities'::regclass AND contype = 'u'"),
                         0);
    /* an event still cannot name an identity that does not exist (the foreign key holds) */
    struct hk_db *db;
    struct hk_stmt *st;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(
        hk_db_stmt(db, "t_bad_ref",
                   "INSERT INTO events (customer_id, type, at, identity_id,"
                   " created_at) SELECT min(id), 'browse', 1, 999999, 1 FROM customers",
                   &st, &err),
        0);
    assert_true(hk_stmt_exec(st, &err) < 0);
    hk_db_release(db);
}

static int no_order(void *arg, const struct hk_irepo_order *row)
{
    (void)arg;
    (void)row;
    return 0;
}

/* PostgreSQL: a bulk connection's look-ups plan index scans, also a generic plan cached while
   the table was small (and analyzed so) and kept as it grew; without that, it scanned the
   whole table per look-up. hk_db_bulk_grown gives a table without statistics those of its
   looked-up column (without them a look-up's rows are misjudged). The setting ends with the
   bulk mode. */
static void pg_bulk__cached_lookup_plans_use_indexes_as_tables_grow(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    if (!t->pg)
        return;
    q_exec(t->store, "INSERT INTO orders (shop_id, external_no, customer_id, status, created_at,"
                     " updated_at) SELECT 1, 'S' || g, 1, 'paid', 1, 1"
                     " FROM generate_series(1, 20) g");
    const char *stats = "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()"
                        " AND tablename = 'orders' AND attname = 'external_no'";
    assert_int_equal(q_int(t->store, stats), 0);
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_bulk(db, true, &err), 0);
    assert_int_equal(hk_db_bulk_grown(db, &err), 0);
    assert_int_equal(q_int(t->store, stats), 1);
    const char *nos[16];
    for (int i = 0; i < 16; i++)
        nos[i] = "X";
    for (int i = 0; i < 8; i++) /* past the five custom plans: the generic one is cached */
        assert_int_equal(hk_irepo_orders_find(db, 1, nos, 16, no_order, NULL, &err), 0);
    q_exec(t->store, "INSERT INTO orders (shop_id, external_no, customer_id, status, created_at,"
                     " updated_at) SELECT 1, 'N' || g, 1, 'paid', 1, 1"
                     " FROM generate_series(1, 20000) g");

    struct hk_stmt *st;
    char name[128] = "", sql[1024], plan[4096] = "";
    size_t plen = 0;
    assert_int_equal(hk_db_stmt(db, "t_stmt_name",
                                "SELECT name FROM pg_prepared_statements"
                                " WHERE name LIKE '%irepo_orders_find_16'",
                                &st, &err),
                     0);
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    hk_stmt_text_copy(st, 0, name, sizeof name);
    hk_stmt_reset(st);
    int n = snprintf(sql, sizeof sql, "EXPLAIN EXECUTE %s(1", name);
    for (int i = 0; i < 16; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", 'X'");
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    assert_int_equal(hk_db_stmt(db, "t_explain", sql, &st, &err), 0);
    while (hk_stmt_step(st, &err) == HK_ROW) {
        char line[512];
        hk_stmt_text_copy(st, 0, line, sizeof line);
        int w = snprintf(plan + plen, sizeof plan - plen, "%s\n", line);
        if (w > 0 && (size_t)w < sizeof plan - plen)
            plen += (size_t)w;
    }
    hk_stmt_reset(st);
    if (strstr(plan, "Seq Scan") || !strstr(plan, "Index"))
        fail_msg("the cached look-up plan scans the table:\n%s", plan);

    assert_int_equal(hk_db_stmt(db, "t_seqscan", "SHOW enable_seqscan", &st, &err), 0);
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    hk_stmt_text_copy(st, 0, name, sizeof name);
    assert_string_equal(name, "off");
    hk_stmt_reset(st);
    assert_int_equal(hk_db_bulk(db, false, &err), 0);
    assert_int_equal(hk_db_stmt(db, "t_seqscan", "SHOW enable_seqscan", &st, &err), 0);
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    hk_stmt_text_copy(st, 0, name, sizeof name);
    assert_string_equal(name, "on");
    hk_stmt_reset(st);
    hk_db_release(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(initial_load__same_store_as_normal_load, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(initial_load__order_stored_behind_its_back_is_updated,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(pipeline__redone_last_batch_keeps_the_rows_read_after_it,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(initial_load__order_again_in_a_later_batch_is_looked_up,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(
            killed_load__indexes_built_again_by_next_import_and_by_migrate, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(
            complete_cache__key_added_behind_its_back_refused_then_found, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(capped_cache__same_store_and_no_lookup_of_new_keys,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(capped_cache__key_stored_behind_its_back_found_on_redo,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(capped_cache__filter_keeps_stored_keys_and_skips_new_ones,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(merge__builds_the_customer_indexes_an_initial_load_dropped,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(
            identities_key__dropped_only_by_a_load_into_a_store_without_identities, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(
            identities_key__built_by_a_writer_during_the_load_and_each_key_stays_one, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(identities_key__one_load_at_a_time_drops_it, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(migration_0011__identities_keep_rows_ids_and_references,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(pg_bulk__cached_lookup_plans_use_indexes_as_tables_grow,
                                        tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
