/*
 * test_pipeline.c — file imports through the store's write pipeline (store.h hk_db_pipeline,
 * import.c "pipelined file batches"): the database writes batch n while the batches after it
 * are read and resolved.
 *   - The same files imported with and without the pipeline give the same store (counts and
 *     checksums of orders, lines, history, customers, identities, merges), also as an initial
 *     load, whose filter of stored order numbers skips the look-ups of new orders.
 *   - A queued write that fails (another writer took an id the pipeline handed out) is redone
 *     without the pipeline, and the store ends exactly as without the failure.
 *   - The store's pipeline itself: queued copies and commits, marks, a failure rolling back its
 *     transaction and dropping what was queued after it, and turning it off clearing that.
 * HUIKE_GEN names the generator (bench/gen_generic.c).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

/* A customer named by its smallest identity, which does not depend on ids. */
#define WHO(c)                                                                                     \
    "(SELECT min(v.channel || '/' || v.kind || '/' || v.value) FROM identities v WHERE "           \
    "v.customer_id = " c ")"
#define NOT_PLANTED " o.external_no <> 'X-PLANTED' "

static const char *const SUMS[] = {
    "SELECT s.channel, s.name, o.external_no, o.status, o.total_fen, o.discount_fen, "
    "o.postage_fen, o.paid_fen, o.refund_fen, o.coupon_code, o.created_at, o.paid_at, "
    "o.received_at, o.refunded_at, o.cancelled_at, o.source, " WHO(
        "o.customer_id") " FROM orders o JOIN shops s ON s.id = o.shop_id WHERE" NOT_PLANTED
                         "ORDER BY s.channel, s.name, o.external_no",
    "SELECT s.channel, s.name, o.external_no, i.line_no, i.item_key, i.placeholder, i.title, "
    "i.quantity, i.unit_price_fen, i.paid_fen, i.refund_fen, i.category FROM order_items i JOIN "
    "orders o ON o.id = i.order_id JOIN shops s ON s.id = o.shop_id ORDER BY s.channel, s.name, "
    "o.external_no, i.line_no",
    "SELECT s.channel, s.name, o.external_no, h.change, h.old_value, h.new_value, h.source, h.at "
    "FROM order_history h JOIN orders o ON o.id = h.order_id JOIN shops s ON s.id = o.shop_id "
    "ORDER BY s.channel, s.name, o.external_no, h.id",
    "SELECT " WHO("c.id") ", c.nick, c.phone_hash, c.phone_masked, c.province, c.city, "
                          "c.name_enc IS NULL, " WHO("c.merged_into") " FROM customers c WHERE "
                                                                      "c.nick <> 'planted' "
                                                                      "ORDER BY 1, 2, 3, 4, 5, 6",
    "SELECT v.channel, v.kind, v.value, " WHO("v.customer_id") " FROM identities v ORDER BY 1, 2, "
                                                               "3",
    "SELECT " WHO("m.winner_id") ", " WHO("m.loser_id") ", m.reason FROM customer_merges m ORDER "
                                                        "BY 1, 2",
    "SELECT count(*) FROM orders o WHERE" NOT_PLANTED,
    "SELECT count(*) FROM changes",
};
#define NSUMS (sizeof SUMS / sizeof SUMS[0])

/* changes: compare the change log's size too (the last sum; not between an initial and a
   normal load: an initial load's batch logs one 'all' row, a normal one a row per customer) */
static void same_store(struct hk_store *a, struct hk_store *b, bool changes)
{
    for (size_t i = 0; i < NSUMS - (changes ? 0 : 1); i++)
        if (q_checksum(a, SUMS[i]) != q_checksum(b, SUMS[i]))
            fail_msg("differ: %s", SUMS[i]);
}

static void import_steps(struct tdb *t, struct hk_store *s, const char *const (*steps)[2],
                         size_t nsteps, enum hk_load_mode mode, bool pipeline,
                         struct tdb_plant *planter, int64_t *redos)
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
        o.no_pipeline = !pipeline;
        if (planter) {
            o.progress = tdb_plant_progress;
            o.progress_arg = planter;
        }
        size_t n = steps[i][1] ? 2 : 1;
        if (hk_import_files(&ctx, steps[i], NULL, n, &o, &res, &err) != 0)
            fail_msg("import: %s", err.msg);
        assert_int_equal(res.rejected, 0);
        if (redos)
            *redos += res.pipeline_redos;
        else
            assert_int_equal(res.pipeline_redos, 0);
        hk_import_result_release(&res);
    }
}

static void pipeline__same_store_as_without(void **state)
{
    struct tdb *t = *state;
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/gen.csv", t->tmpdir);
    snprintf(b, sizeof b, "%s/gen-later.csv", t->tmpdir);
    tdb_generate("12000", a, "0");
    tdb_generate("12000", b, "1");
    const char *merge = tdb_write(t, "merge.csv", TDB_MERGE_CSV);
    const char *const steps[][2] = {
        {merge, NULL},
        {fixture("ExportOrderDetailList202603.csv"), fixture("ExportOrderList202603.csv")},
        {fixture("jd-orders.csv"), NULL},
        {a, NULL},
        {b, NULL},
        {a, NULL}, /* an older export again: changes nothing */
    };
    size_t nsteps = sizeof steps / sizeof steps[0];
    char other[640], third[640];
    tdb_fresh_target(t, other, sizeof other);
    struct hk_store *plain = tdb_open_store(other);
    tdb_fresh_target(t, third, sizeof third);
    struct hk_store *initial = tdb_open_store(third);

    import_steps(t, t->store, steps, nsteps, HK_LOAD_NORMAL, true, NULL, NULL);
    import_steps(t, plain, steps, nsteps, HK_LOAD_NORMAL, false, NULL, NULL);
    /* as initial loads: the filter of order numbers decides which are looked up */
    import_steps(t, initial, steps, nsteps, HK_LOAD_INITIAL, true, NULL, NULL);

    assert_true(q_int(t->store, "SELECT count(*) FROM orders") > 6000);
    assert_true(q_int(t->store, "SELECT count(*) FROM customer_merges") >= 1);
    assert_true(q_int(t->store, "SELECT count(*) FROM order_history") > 100);
    same_store(t->store, plain, true);
    same_store(initial, plain, false);
    hk_store_close(plain);
    hk_store_close(initial);
}

static void pipeline__failed_write_is_redone_exactly(void **state)
{
    struct tdb *t = *state;
    char a[600];
    snprintf(a, sizeof a, "%s/gen.csv", t->tmpdir);
    tdb_generate("12000", a, "0");
    const char *const steps[][2] = {{a, NULL}};
    char other[640];
    tdb_fresh_target(t, other, sizeof other);
    struct hk_store *plain = tdb_open_store(other);

    /* after the first committed batch another writer adds an order whose id is one the pipeline
       will hand out a batch or two later (ids continue in memory, or come from a reserved block) */
    struct tdb_plant planter = {t->store,
                                {"INSERT INTO orders (id, shop_id, external_no, customer_id,"
                                 " status, created_at, updated_at) SELECT max(id) + 1000,"
                                 " min(shop_id), 'X-PLANTED', min(customer_id), 'paid', 1, 1"
                                 " FROM orders",
                                 NULL},
                                0};
    int64_t redos = 0;
    import_steps(t, t->store, steps, 1, HK_LOAD_INITIAL, true, &planter, &redos);
    import_steps(t, plain, steps, 1, HK_LOAD_INITIAL, false, NULL, NULL);

    assert_true(redos >= 1); /* the planted id made a queued insert fail */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no = 'X-PLANTED'"),
                     1);
    same_store(t->store, plain, true);
    hk_store_close(plain);
}

/* Batches of one order; the database refuses R3, slowly (a trigger that works for a moment
   first), so the importing thread has queued the two batches after R3's by the time it waits for
   R3's (import.c: PIPE_DEPTH batches queued behind the one confirmed). All three are redone, in
   order, without the pipeline: every order but R3 is stored, R3 is the one rejected row, and the
   result counts each once. */
static void pipeline__failed_batch_with_batches_queued_after_it(void **state)
{
    struct tdb *t = *state;
    if (t->pg) {
        q_exec(t->store, "CREATE FUNCTION refuse_r3() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN IF NEW.external_no = 'R3' THEN PERFORM pg_sleep(1); "
                         "RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$");
        q_exec(t->store, "CREATE TRIGGER refuse_r3 BEFORE INSERT ON orders FOR EACH ROW "
                         "EXECUTE FUNCTION refuse_r3()");
    } else {
        q_exec(t->store, "CREATE TABLE slow (x INTEGER)");
        q_exec(t->store, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE"
                         " x < 250) INSERT INTO slow SELECT x FROM c");
        q_exec(t->store, "CREATE TRIGGER refuse_r3 BEFORE INSERT ON orders WHEN NEW.external_no ="
                         " 'R3' BEGIN SELECT RAISE(ABORT, 'refused') FROM (SELECT sum(a.x + b.x +"
                         " c.x) AS n FROM slow a, slow b, slow c) WHERE n > 0; END");
    }
    char csv[2048] = TDB_GENERIC_HEADER;
    for (int i = 1; i <= 6; i++) {
        size_t at = strlen(csv);
        snprintf(csv + at, sizeof csv - at,
                 "R%d,r%d,,,,,taobao,店,paid,2026-03-0%d 10:00:00,,,P1,甲,,1,10.00,10.00,,\n", i, i,
                 i);
    }
    const char *file = tdb_write(t, "refused.csv", csv);
    struct hk_ingest_ctx ctx = t->ctx;
    struct hk_err err = {0};
    struct hk_import_opts o = {0};
    struct hk_import_result res;
    memset(&res, 0, sizeof res);
    o.load = HK_LOAD_INITIAL; /* a store without orders: no look-ups wait for the writer */
    o.batch_orders = 1;
    if (hk_import_files(&ctx, &file, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_int_equal(res.rows, 6);
    assert_int_equal(res.orders_created, 5);
    assert_int_equal(res.customers_created, 5);
    assert_int_equal(res.items_created, 5);
    assert_int_equal(res.rejected, 1);
    assert_int_equal((int64_t)res.nerrors, 1);
    assert_int_equal(res.errors[0].record, 3);
    assert_non_null(strstr(res.errors[0].message, "R3"));
    assert_int_equal(res.pipeline_redos, 3); /* R3's batch and the two queued after it */
    hk_import_result_release(&res);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders"), 5);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no IN ('R1',"
                                     " 'R2', 'R4', 'R5', 'R6')"),
                     5);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items"), 5);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE value = 'r3'"), 0);
}

/* ---- the store's pipeline ------------------------------------------------------------------ */

static void copy_shops(struct hk_db *db, int from, int to)
{
    struct hk_err err = {0};
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "shops", "channel, name, created_at", 3, &c, &err), 0);
    for (int i = from; i < to; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, "s%d", i);
        assert_int_equal(hk_copy_text(c, "pos", 3), 0);
        assert_int_equal(hk_copy_text(c, name, (size_t)n), 0);
        assert_int_equal(hk_copy_int64(c, 1), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);
}

static void store_pipeline__queues_in_order_and_a_failure_drops_the_rest(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    int64_t before = q_int(t->store, "SELECT count(*) FROM shops");
    assert_int_equal(hk_db_pipeline(db, true, &err), 0);

    /* two transactions queued; a statement in between waits for the first */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_shops(db, 0, 500);
    assert_int_equal(hk_db_commit(db, &err), 0);
    uint64_t first = hk_db_pipeline_mark(db);
    assert_true(first > 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_shops(db, 500, 1000);
    struct hk_stmt *st;
    assert_int_equal(hk_db_stmt(db, "pipe_count", "SELECT count(*) FROM shops", &st, &err), 0);
    assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
    assert_int_equal(hk_stmt_int64(st, 0), before + 1000); /* it sees the queued writes */
    hk_stmt_reset(st);
    assert_int_equal(hk_db_commit(db, &err), 0);
    uint64_t second = hk_db_pipeline_mark(db);
    assert_int_equal(hk_db_pipeline_wait(db, second, &err), 0);
    assert_int_equal(hk_db_pipeline_wait(db, first, &err), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops"), before + 1000);

    /* a failing copy (a duplicate (channel, name)) rolls back its transaction; what was
       queued after it is dropped, and every call says why until the pipeline goes off */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_shops(db, 1000, 1100);
    copy_shops(db, 0, 1);   /* s0 exists */
    hk_db_commit(db, &err); /* queued, or refused if the writer already failed */
    uint64_t bad = hk_db_pipeline_mark(db);
    assert_int_equal(hk_db_pipeline_wait(db, bad, &err), HK_E(CONFLICT));
    assert_int_equal(hk_db_stmt(db, "pipe_count", "SELECT count(*) FROM shops", &st, &err),
                     HK_E(CONFLICT));
    assert_non_null(strstr(hk_err_message(&err), "an earlier pipelined write failed"));
    assert_int_equal(hk_db_pipeline(db, false, &err), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops"), before + 1000);
    /* without the pipeline the connection works as before */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_shops(db, 3000, 3010);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops"), before + 1010);
    hk_db_release(db);
}

/* Copies rows id0 + 0 .. id0 + n - 1 into customers, with every kind of value: text, empty text,
   blobs, empty blobs, NULLs, negative and large integers. */
static void copy_value_kinds(struct hk_db *db, int64_t id0, int n)
{
    struct hk_err err = {0};
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "customers",
                                      "id, nick, name_enc, email, province, created_at, updated_at",
                                      7, &c, &err),
                     0);
    for (int i = 0; i < n; i++) {
        char nick[32];
        unsigned char blob[3] = {(unsigned char)i, 0, 0xff};
        int len = i % 5 == 0 ? 0 : snprintf(nick, sizeof nick, "买家%d", i);
        assert_int_equal(hk_copy_int64(c, id0 + i), 0);
        assert_int_equal(hk_copy_text(c, len ? nick : "", (size_t)len), 0);
        if (i % 3 == 0)
            assert_int_equal(hk_copy_null(c), 0);
        else
            assert_int_equal(hk_copy_blob(c, blob, i % 7 == 0 ? 0 : sizeof blob), 0);
        if (i % 2)
            assert_int_equal(hk_copy_null(c), 0);
        else
            assert_int_equal(hk_copy_text(c, "a@b.cn", 6), 0);
        assert_int_equal(hk_copy_text(c, "浙江省", strlen("浙江省")), 0);
        assert_int_equal(hk_copy_int64(c, i % 4 == 0 ? -i : INT64_MAX - i), 0);
        assert_int_equal(hk_copy_int64(c, 1), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);
}

/* Copies n rows whose email changes kind from one group of 32 rows to the next, and whose nick
   goes A, B, A: text "abc", a blob of the same bytes, "", an empty blob, NULL, "abc" again
   (blobs on SQLite only: PostgreSQL's email is text). */
static void copy_kind_changes(struct hk_db *db, int64_t id0, int n, bool blobs)
{
    struct hk_err err = {0};
    struct hk_copy *c;
    assert_int_equal(
        hk_db_copy_begin(db, "customers", "id, nick, email, created_at, updated_at", 5, &c, &err),
        0);
    for (int i = 0; i < n; i++) {
        int g = i / 32;
        assert_int_equal(hk_copy_int64(c, id0 + i), 0);
        assert_int_equal(hk_copy_cstr(c, g % 2 ? "B" : "A"), 0);
        switch (g % 6) {
        case 1:
            assert_int_equal(blobs ? hk_copy_blob(c, "abc", 3) : hk_copy_text(c, "abd", 3), 0);
            break;
        case 2:
            assert_int_equal(hk_copy_text(c, "", 0), 0);
            break;
        case 3:
            assert_int_equal(blobs ? hk_copy_blob(c, "", 0) : hk_copy_text(c, "", 0), 0);
            break;
        case 4:
            assert_int_equal(hk_copy_null(c), 0);
            break;
        default:
            assert_int_equal(hk_copy_text(c, "abc", 3), 0);
            break;
        }
        assert_int_equal(hk_copy_int64(c, g % 3), 0);
        assert_int_equal(hk_copy_int64(c, 7), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);
}

/* A parameter whose value is what it holds from the group before is not bound again on SQLite
   (sqlite.c, sq_bind_encoded): values that change kind but not bytes (text and blob "abc",
   "" and an empty blob, NULL), and values that come back after a group away, still arrive as
   copied without the pipeline, over six groups and a tail. */
static void store_pipeline__values_that_change_kind_between_groups(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    enum { N = 6 * 32 + 5 };
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_kind_changes(db, 1000000, N, !t->pg);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(hk_db_pipeline(db, true, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_kind_changes(db, 2000000, N, !t->pg);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(hk_db_pipeline_wait(db, hk_db_pipeline_mark(db), &err), 0);
    assert_int_equal(hk_db_pipeline(db, false, &err), 0);
    hk_db_release(db);

    /* SQLite: the kind and bytes of every value; PostgreSQL: its text */
    const char *kind = t->pg ? "coalesce(email, 'NULL')" : "typeof(email) || ':' || hex(email)";
    char q1[512], q2[512];
    snprintf(q1, sizeof q1,
             "SELECT id - 1000000, nick, %s, email IS NULL, length(email), created_at, updated_at"
             " FROM customers WHERE id >= 1000000 AND id < 1000197 ORDER BY id",
             kind);
    snprintf(q2, sizeof q2,
             "SELECT id - 2000000, nick, %s, email IS NULL, length(email), created_at, updated_at"
             " FROM customers WHERE id >= 2000000 AND id < 2000197 ORDER BY id",
             kind);
    assert_true(q_checksum(t->store, q1) == q_checksum(t->store, q2));
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"), N);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000 AND "
                                     "email IS NULL"),
                     32);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000 AND "
                                     "email = 'abc'"),
                     32 + 32 + 5);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000 AND "
                                     "nick = 'B'"),
                     3 * 32);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000 AND "
                                     "created_at = 1"),
                     2 * 32);
    if (!t->pg)
        assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000 "
                                         "AND typeof(email) = 'blob'"),
                         64);
}

/* Rows copied through the pipeline (bound in place from its buffer on SQLite, replayed value by
   value on PostgreSQL) arrive as rows copied without it: several full groups of rows per INSERT
   and a shorter last one, every kind of value. */
static void store_pipeline__values_arrive_as_copied(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    enum { N = 70 }; /* two groups of 32 on SQLite, and 6 */
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_value_kinds(db, 1000000, N);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(hk_db_pipeline(db, true, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    copy_value_kinds(db, 2000000, N);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(hk_db_pipeline_wait(db, hk_db_pipeline_mark(db), &err), 0);
    assert_int_equal(hk_db_pipeline(db, false, &err), 0);
    hk_db_release(db);

#define KINDS(lo, hi)                                                                              \
    "SELECT id - " lo ", nick, name_enc, name_enc IS NULL, length(name_enc), email, province, "    \
    "created_at FROM customers WHERE id >= " lo " AND id < " hi " ORDER BY id"
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"), N);
    assert_true(q_checksum(t->store, KINDS("1000000", "1000070")) ==
                q_checksum(t->store, KINDS("2000000", "2000070")));
#undef KINDS
    /* and they are what was copied */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"
                                     " AND nick = ''"),
                     14);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"
                                     " AND name_enc IS NULL"),
                     24);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"
                                     " AND name_enc IS NOT NULL AND length(name_enc) = 0"),
                     6);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers WHERE id >= 2000000"
                                     " AND length(name_enc) = 3"),
                     40);
    assert_int_equal(q_int(t->store,
                           "SELECT count(*) FROM customers WHERE id = 2000069"
                           " AND nick = '买家69' AND email IS NULL AND province = '浙江省'"
                           " AND created_at = 9223372036854775738"),
                     1);
}

/* A COMMIT that fails (a deferred foreign key) leaves SQLite's transaction open, PostgreSQL's
   ended: either way the writer rolls it back, so the connection is usable (and holds no lock)
   once the pipeline is off. */
static void store_pipeline__a_failed_commit_leaves_no_transaction_open(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    struct hk_stmt *st;
    struct hk_copy *c;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_stmt(db, "pipe_parent",
                                "CREATE TABLE pipe_parent (id BIGINT PRIMARY KEY)", &st, &err),
                     0);
    assert_int_equal(hk_stmt_exec(st, &err), 0);
    assert_int_equal(hk_db_stmt(db, "pipe_child",
                                "CREATE TABLE pipe_child (p BIGINT REFERENCES pipe_parent (id)"
                                " DEFERRABLE INITIALLY DEFERRED)",
                                &st, &err),
                     0);
    assert_int_equal(hk_stmt_exec(st, &err), 0);

    assert_int_equal(hk_db_pipeline(db, true, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(hk_db_copy_begin(db, "pipe_child", "p", 1, &c, &err), 0);
    assert_int_equal(hk_copy_int64(c, 42), 0); /* no parent 42: the COMMIT fails */
    assert_int_equal(hk_copy_row(c, &err), 0);
    assert_int_equal(hk_db_copy_end(c, &err), 0);
    assert_int_equal(hk_db_commit(db, &err), 0); /* queued */
    assert_true(hk_db_pipeline_wait(db, hk_db_pipeline_mark(db), &err) < 0);
    assert_int_equal(hk_db_pipeline(db, false, &err), 0);

    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0); /* no transaction left open */
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM pipe_child"), 0);
    hk_db_release(db);
}

/* With every connection of the pool taken (here the pool has one), the pipeline's id blocks
   (PostgreSQL) and hk_db_bulk_grown use the importer's own connection instead of waiting for
   a free one (which would wait up to the pool's timeout, 30 s, and then fail). */
static void store_pipeline__ids_and_bulk_grown_with_no_free_connection(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    char target[700];
    struct hk_store *s = NULL;
    struct hk_store_opts opts = {.pool_size = 1};
    tdb_fresh_target(t, target, sizeof target);
    assert_int_equal(hk_store_open(target, &opts, &s, &err), 0);
    assert_int_equal(hk_store_migrate(s, 1, NULL, NULL, &err), 0);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(s, &db, &err), 0);
    assert_int_equal(hk_db_pipeline(db, true, &err), 0);
    assert_int_equal(hk_db_bulk_grown(db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t ids[3];
    time_t t0 = time(NULL);
    assert_int_equal(hk_db_next_ids(db, "shops", 3, ids, &err), 0);
    assert_true(time(NULL) - t0 < 10);
    assert_true(ids[0] > 0 && ids[1] == ids[0] + 1 && ids[2] == ids[1] + 1);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "shops", "id, channel, name, created_at", 4, &c, &err),
                     0);
    for (int i = 0; i < 3; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(hk_copy_int64(c, ids[i]), 0);
        assert_int_equal(hk_copy_text(c, "pos", 3), 0);
        assert_int_equal(hk_copy_text(c, name, (size_t)n), 0);
        assert_int_equal(hk_copy_int64(c, 1), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);
    assert_int_equal(hk_db_commit(db, &err), 0);
    assert_int_equal(hk_db_pipeline_wait(db, hk_db_pipeline_mark(db), &err), 0);
    assert_int_equal(hk_db_pipeline(db, false, &err), 0);
    hk_db_release(db);
    assert_int_equal(q_int(s, "SELECT count(*) FROM shops WHERE name IN ('n0', 'n1', 'n2')"), 3);
    hk_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipeline__same_store_as_without, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(pipeline__failed_batch_with_batches_queued_after_it,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(pipeline__failed_write_is_redone_exactly, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(
            store_pipeline__queues_in_order_and_a_failure_drops_the_rest, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(store_pipeline__values_arrive_as_copied, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(store_pipeline__values_that_change_kind_between_groups,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(store_pipeline__a_failed_commit_leaves_no_transaction_open,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(store_pipeline__ids_and_bulk_grown_with_no_free_connection,
                                        tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
