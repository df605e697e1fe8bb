/*
 * test_bulk.c — the store's bulk loader (hk_db_copy_*) and id reservation (hk_db_next_ids),
 * which the importer writes its new rows with, on both backends (COPY on PostgreSQL, a
 * single-row INSERT on SQLite): values round-trip exactly (escapes, NULL, empty and binary
 * blobs), ids are unique and ascending, and failures abort the transaction like a failed
 * statement.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"

static const char *const TRICKY[] = {
    "plain",
    "tab\there",
    "new\nline and \r\n CRLF",
    "back\\slash \\N \\x41 and \\\\",
    "中文，全角；\"quotes\" 'single'",
    "",
};
#define NTRICKY (sizeof TRICKY / sizeof TRICKY[0])

static void bulk__text_null_and_blob_values_round_trip(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t ids[NTRICKY];
    assert_int_equal(hk_db_next_ids(db, "customers", NTRICKY, ids, &err), 0);
    for (size_t i = 1; i < NTRICKY; i++)
        assert_true(ids[i] > ids[i - 1]);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "customers",
                                      "id, nick, name_enc, phone_masked, created_at, updated_at", 6,
                                      &c, &err),
                     0);
    static const unsigned char bin[] = {0, 1, '\\', '\t', '\n', 0xff, 'x', 0};
    for (size_t i = 0; i < NTRICKY; i++) {
        assert_int_equal(hk_copy_int64(c, ids[i]), 0);
        assert_int_equal(hk_copy_text(c, TRICKY[i], strlen(TRICKY[i])), 0);
        if (i == 0)
            assert_int_equal(hk_copy_blob(c, bin, sizeof bin), 0);
        else if (i == 1)
            assert_int_equal(hk_copy_blob(c, bin, 0), 0); /* empty, not NULL */
        else
            assert_int_equal(hk_copy_blob(c, NULL, 0), 0);
        assert_int_equal(hk_copy_text(c, i == 2 ? NULL : "138****5678", 11), 0);
        assert_int_equal(hk_copy_int64(c, -(int64_t)i), 0);
        assert_int_equal(hk_copy_int64(c, INT64_MAX - (int64_t)i), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);

    /* read back inside the transaction */
    struct hk_stmt *st;
    assert_int_equal(hk_db_stmt(db, "bulk_read",
                                "SELECT id, nick, name_enc, phone_masked, created_at, updated_at"
                                " FROM customers ORDER BY id",
                                &st, &err),
                     0);
    for (size_t i = 0; i < NTRICKY; i++) {
        assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
        assert_int_equal(hk_stmt_int64(st, 0), ids[i]);
        size_t len = 0;
        const char *nick = hk_stmt_text(st, 1, &len);
        assert_int_equal(len, strlen(TRICKY[i]));
        assert_memory_equal(nick, TRICKY[i], len);
        const void *blob = hk_stmt_blob(st, 2, &len);
        if (i == 0) {
            assert_int_equal(len, sizeof bin);
            assert_memory_equal(blob, bin, sizeof bin);
        } else if (i == 1) {
            assert_false(hk_stmt_is_null(st, 2));
            assert_int_equal(len, 0);
        } else {
            assert_true(hk_stmt_is_null(st, 2));
        }
        assert_int_equal(hk_stmt_is_null(st, 3), i == 2);
        assert_int_equal(hk_stmt_int64(st, 4), -(int64_t)i);
        assert_int_equal(hk_stmt_int64(st, 5), INT64_MAX - (int64_t)i);
    }
    assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
    hk_stmt_reset(st);

    /* later reservations never hand out an id again, also before the rows are written */
    int64_t more[3], again[2];
    assert_int_equal(hk_db_next_ids(db, "customers", 3, more, &err), 0);
    assert_int_equal(hk_db_next_ids(db, "customers", 2, again, &err), 0);
    assert_true(more[0] > ids[NTRICKY - 1]);
    assert_true(again[0] > more[2]);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), (int64_t)NTRICKY);

    /* a plain INSERT afterwards gets an id of its own (the sequence / rowid moved on) */
    q_exec(t->store, "INSERT INTO customers (nick, created_at, updated_at) VALUES ('x', 0, 0)");
    assert_true(q_int(t->store, "SELECT max(id) FROM customers") > ids[NTRICKY - 1]);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT id) FROM customers"),
                     (int64_t)NTRICKY + 1);
}

static void bulk__a_duplicate_aborts_the_transaction_and_nothing_stays(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "order_history", "order_id, at, change", 3, &c, &err), 0);
    /* a statement may not run while a copy is open; a short row is refused */
    struct hk_stmt *st;
    assert_int_equal(hk_db_stmt(db, "bulk_count", "SELECT count(*) FROM order_history", &st, &err),
                     HK_E(INVAL));
    assert_int_equal(hk_db_savepoint(db, "during_copy", &err), HK_E(INVAL));
    assert_int_equal(hk_copy_int64(c, 1), 0);
    assert_int_equal(hk_copy_row(c, &err), HK_E(INVAL));
    int rc = hk_db_copy_end(c, &err);
    assert_true(rc < 0);
    assert_true(hk_db_commit(db, &err) < 0); /* the transaction was aborted */

    /* a unique violation: reported by the row or at the end, and the rows before it go too */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t id;
    assert_int_equal(hk_db_next_ids(db, "shops", 1, &id, &err), 0);
    assert_int_equal(hk_db_copy_begin(db, "shops", "id, channel, name, created_at", 4, &c, &err),
                     0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(hk_copy_int64(c, id + i), 0);
        assert_int_equal(hk_copy_text(c, "pos", 3), 0);
        assert_int_equal(hk_copy_text(c, "同名店", strlen("同名店")), 0);
        assert_int_equal(hk_copy_int64(c, 0), 0);
        rc = hk_copy_row(c, &err);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        rc = hk_db_copy_end(c, &err);
    else
        (void)hk_db_copy_end(c, &err);
    assert_int_equal(rc, HK_E(CONFLICT));
    assert_true(hk_db_commit(db, &err) < 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops"), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_history"), 0);

    /* outside a transaction both are refused */
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_next_ids(db, "shops", 1, &id, &err), HK_E(INVAL));
    assert_int_equal(hk_db_copy_begin(db, "shops", "id", 1, &c, &err), HK_E(INVAL));
    /* and a rollback with a copy open leaves the connection usable */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(hk_db_copy_begin(db, "order_history", "order_id, at, change", 3, &c, &err), 0);
    hk_db_rollback(db);
    assert_true(hk_db_copy_end(c, &err) < 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_history"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tdb_setup, tdb_teardown)
        T(bulk__text_null_and_blob_values_round_trip),
        T(bulk__a_duplicate_aborts_the_transaction_and_nothing_stays),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
