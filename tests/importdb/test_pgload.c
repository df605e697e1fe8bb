/*
 * test_pgload.c — what a PostgreSQL import does to the server beyond the rows (session 5):
 *   - order_items' primary key is a load index: an initial load drops the constraint and builds
 *     it again at the end as the same constraint (a unique index on id, attached as the
 *     primary key in one transaction: a build that fails leaves neither behind), also when
 *     the build runs on the only connection of the pool (no second lane).
 *   - The missing load indexes are built on two connections at once when the pool has a free
 *     one, with every index back and counted.
 *   - The bulk connection commits without waiting for the WAL flush (synchronous_commit off)
 *     and, when the bulk mode ends, its setting is back and what it wrote has been flushed.
 *   - With the pipeline, order_items' ids come from the table's sequence through the
 *     pipeline's pool: unique, and a later row with the default id takes a new one.
 * On SQLite there is nothing of this to test: each test returns at once.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/ingest_repo.h"
#include "store/store.h"

#define PK_SQL                                                                                     \
    "SELECT count(*) FROM pg_constraint WHERE conrelid = 'order_items'::regclass"                  \
    " AND contype = 'p' AND conname = 'order_items_pkey'"                                          \
    " AND pg_get_constraintdef(oid) = 'PRIMARY KEY (id)'"
#define PK_INDEX_SQL                                                                               \
    "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()"                          \
    " AND indexname = 'order_items_pkey'"

static void drop_all(struct hk_store *s)
{
    tdb_drop_load_indexes(s);
}

/* hk_irepo_load_indexes_restore on a db of s: its return code; *created how many it built. */
static int restore(struct hk_store *s, int *created, struct hk_err *err)
{
    struct hk_db *db;
    if (hk_db_acquire(s, &db, err) != 0)
        fail_msg("acquire: %s", err->msg);
    *created = -1;
    int rc = hk_irepo_load_indexes_restore(db, created, err);
    hk_db_release(db);
    return rc;
}

/* Runs sql on db: its return code. */
static int db_exec(struct hk_db *db, const char *name, const char *sql, struct hk_err *err)
{
    struct hk_stmt *st;
    int rc = hk_db_stmt(db, name, sql, &st, err);
    return rc < 0 ? rc : hk_stmt_exec(st, err);
}

/* The text the one-row, one-column query sql returns on db (a fixed buffer). */
static const char *db_text(struct hk_db *db, const char *name, const char *sql)
{
    static char buf[128];
    struct hk_err err = {0};
    struct hk_stmt *st;
    buf[0] = '\0';
    if (hk_db_stmt(db, name, sql, &st, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    if (hk_stmt_step(st, &err) != HK_ROW)
        fail_msg("%s: no row (%s)", name, err.msg);
    const char *v = hk_stmt_text(st, 0, NULL);
    snprintf(buf, sizeof buf, "%s", v ? v : "");
    hk_stmt_reset(st);
    return buf;
}

/* One item of a made-up order, its id given. */
static void add_item(struct hk_store *s, int64_t id, const char *key)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO order_items (id, order_id, line_no, item_key) VALUES (%lld, 1, 1, '%s')",
             (long long)id, key);
    q_exec(s, sql);
}

static void items_pkey__dropped_and_built_again_as_the_same_constraint(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    int created = 0;
    if (!t->pg)
        return;
    assert_int_equal(tdb_load_indexes(t->store), 8);
    assert_int_equal(q_int(t->store, PK_SQL), 1);

    drop_all(t->store);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM pg_constraint"
                                     " WHERE conrelid = 'order_items'::regclass AND contype = 'p'"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM pg_attribute WHERE attrelid ="
                                     " 'order_items'::regclass AND attname = 'id' AND attnotnull"),
                     1);

    /* a repeated id (no writer of huike makes one: ids come from the sequence) cannot be made
       the primary key: the build fails and leaves no index of that name behind */
    add_item(t->store, 900001, "a");
    add_item(t->store, 900001, "b");
    assert_true(restore(t->store, &created, &err) < 0);
    assert_int_equal(q_int(t->store, PK_INDEX_SQL), 0);
    assert_true(tdb_load_indexes(t->store) < 8);

    /* without it, the next restore builds what is missing, and the key refuses a repeat */
    q_exec(t->store, "DELETE FROM order_items WHERE item_key = 'b'");
    int before = tdb_load_indexes(t->store);
    memset(&err, 0, sizeof err);
    assert_int_equal(restore(t->store, &created, &err), 0);
    assert_int_equal(created, 8 - before);
    assert_int_equal(tdb_load_indexes(t->store), 8);
    assert_int_equal(q_int(t->store, PK_SQL), 1);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_true(db_exec(db, "t_repeat",
                        "INSERT INTO order_items (id, order_id, line_no, item_key)"
                        " VALUES (900001, 1, 2, 'c')",
                        &err) < 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items WHERE id = 900001"), 1);
}

static void restore__two_lanes_or_one_build_every_index(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    int created = 0;
    if (!t->pg)
        return;
    /* the default pool: a second connection is free, two lanes */
    drop_all(t->store);
    assert_int_equal(restore(t->store, &created, &err), 0);
    assert_int_equal(created, 8);
    assert_int_equal(tdb_load_indexes(t->store), 8);
    assert_int_equal(q_int(t->store, PK_SQL), 1);
    assert_int_equal(restore(t->store, &created, &err), 0); /* nothing missing: nothing built */
    assert_int_equal(created, 0);

    /* a pool of one connection: one lane */
    char target[640];
    snprintf(target, sizeof target, "%s", t->target);
    struct hk_store *one = NULL;
    struct hk_store_opts opts = {.pool_size = 1};
    assert_int_equal(hk_store_open(target, &opts, &one, &err), 0);
    drop_all(one);
    assert_int_equal(restore(one, &created, &err), 0);
    assert_int_equal(created, 8);
    assert_int_equal(tdb_load_indexes(one), 8);
    assert_int_equal(q_int(one, PK_SQL), 1);
    hk_store_close(one);
}

static void bulk__commits_unflushed_and_flushes_at_its_end(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    if (!t->pg)
        return;
    /* the test cluster commits without flushing (pg-cluster.sh); this database as a server
       set up for durability, for connections made from now on */
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" SET synchronous_commit = on", t->pg_name);
    q_exec(t->store, sql);
    struct hk_store *s = NULL;
    assert_int_equal(hk_store_open(t->target, NULL, &s, &err), 0);
    assert_int_equal(hk_db_acquire(s, &db, &err), 0);
    assert_string_equal(db_text(db, "t_sc0", "SHOW synchronous_commit"), "on");

    assert_int_equal(hk_db_bulk(db, true, &err), 0);
    assert_string_equal(db_text(db, "t_sc1", "SHOW synchronous_commit"), "off");
    assert_string_equal(db_text(db, "t_seq1", "SHOW enable_seqscan"), "off");
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(db_exec(db, "t_write",
                             "INSERT INTO order_items (order_id, line_no, item_key)"
                             " SELECT 7, g, 'k' || g FROM generate_series(1, 2000) g",
                             &err),
                     0);
    assert_int_equal(hk_db_commit(db, &err), 0);
    char lsn[64];
    snprintf(lsn, sizeof lsn, "%s", db_text(db, "t_lsn", "SELECT pg_current_wal_insert_lsn()"));

    assert_int_equal(hk_db_bulk(db, false, &err), 0);
    assert_string_equal(db_text(db, "t_sc2", "SHOW synchronous_commit"), "on");
    assert_string_equal(db_text(db, "t_seq2", "SHOW enable_seqscan"), "on");
    snprintf(sql, sizeof sql, "SELECT (pg_current_wal_flush_lsn() >= '%s'::pg_lsn)::int", lsn);
    assert_string_equal(db_text(db, "t_flushed", sql), "1");
    hk_db_release(db);
    hk_store_close(s);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_items WHERE order_id = 7"), 2000);
}

static void pipeline__item_ids_come_from_the_sequence(void **state)
{
    struct tdb *t = *state;
    if (!t->pg)
        return;
    char file[512];
    snprintf(file, sizeof file, "%s/gen.csv", t->tmpdir);
    tdb_generate("3000", file, "0");
    struct hk_err err = {0};
    struct hk_import_opts o = {0};
    struct hk_import_result res;
    memset(&res, 0, sizeof res);
    o.load = HK_LOAD_INITIAL;
    o.batch_orders = 100; /* many transactions, several blocks of ids */
    const char *path = file;
    if (hk_import_files(&t->ctx, &path, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_true(res.initial_load);
    assert_int_equal(res.rejected, 0);
    assert_true(res.items_created > 2000);
    int64_t items = res.items_created;
    hk_import_result_release(&res);

    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT id) FROM order_items"), items);
    assert_int_equal(q_int(t->store, PK_SQL), 1);
    assert_int_equal(tdb_load_indexes(t->store), 8);
    /* the sequence is past every id the import wrote */
    assert_int_equal(q_int(t->store,
                           "SELECT (max(id) <= (SELECT last_value FROM order_items_id_seq))::int"
                           " FROM order_items"),
                     1);
    /* taken by the pipeline's pool a block at a time (pipe.c, 65,536), not a nextval a row */
    assert_true(q_int(t->store, "SELECT last_value FROM order_items_id_seq") >= 65536);
    int64_t max = q_int(t->store, "SELECT max(id) FROM order_items");
    q_exec(t->store, "INSERT INTO order_items (order_id, line_no, item_key) VALUES (1, 99, 'new')");
    assert_true(q_int(t->store, "SELECT id FROM order_items WHERE item_key = 'new'") > max);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(items_pkey__dropped_and_built_again_as_the_same_constraint,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(restore__two_lanes_or_one_build_every_index, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(bulk__commits_unflushed_and_flushes_at_its_end, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(pipeline__item_ids_come_from_the_sequence, tdb_setup,
                                        tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
