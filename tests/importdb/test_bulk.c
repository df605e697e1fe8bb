/*
 * test_bulk.c — the store's bulk loader (hk_db_copy_*) and id reservation (hk_db_next_ids),
 * which the importer writes its new rows with, on both backends (COPY on PostgreSQL, INSERTs of
 * 32 rows on SQLite): values round-trip exactly (escapes, NULL, empty text and blobs, binary
 * blobs; in full groups and in the last, short one), ids are unique and ascending, and failures
 * abort the transaction like a failed statement, wherever in a group the failing row is.
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
#define NROWS   (3 * 32 + 5) /* three full groups of SQLite's multi-row INSERT and a short one */

static void bulk__text_null_and_blob_values_round_trip(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t ids[NROWS];
    assert_int_equal(hk_db_next_ids(db, "customers", NROWS, ids, &err), 0);
    for (size_t i = 1; i < NROWS; i++)
        assert_true(ids[i] > ids[i - 1]);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "customers",
                                      "id, nick, name_enc, phone_masked, created_at, updated_at", 6,
                                      &c, &err),
                     0);
    static const unsigned char bin[] = {0, 1, '\\', '\t', '\n', 0xff, 'x', 0};
    for (size_t i = 0; i < NROWS; i++) {
        const char *tricky = TRICKY[i % NTRICKY];
        char masked[16];
        snprintf(masked, sizeof masked, "138****%04zu", i); /* gone when hk_copy_row returns */
        assert_int_equal(hk_copy_int64(c, ids[i]), 0);
        assert_int_equal(hk_copy_text(c, tricky, strlen(tricky)), 0);
        if (i % NTRICKY == 0)
            assert_int_equal(hk_copy_blob(c, bin, sizeof bin), 0);
        else if (i % NTRICKY == 1)
            assert_int_equal(hk_copy_blob(c, bin, 0), 0); /* empty, not NULL */
        else
            assert_int_equal(hk_copy_blob(c, NULL, 0), 0);
        const char *phone = i % NTRICKY == 2 ? NULL : masked; /* C strings every other row */
        assert_int_equal(i % 2 ? hk_copy_cstr(c, phone) : hk_copy_text(c, phone, strlen(masked)),
                         0);
        memset(masked, 'x', sizeof masked - 1);
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
    for (size_t i = 0; i < NROWS; i++) {
        const char *tricky = TRICKY[i % NTRICKY];
        assert_int_equal(hk_stmt_step(st, &err), HK_ROW);
        assert_int_equal(hk_stmt_int64(st, 0), ids[i]);
        size_t len = 0;
        const char *nick = hk_stmt_text(st, 1, &len);
        assert_false(hk_stmt_is_null(st, 1)); /* empty text stays text */
        assert_int_equal(len, strlen(tricky));
        assert_memory_equal(nick, tricky, len);
        const void *blob = hk_stmt_blob(st, 2, &len);
        if (i % NTRICKY == 0) {
            assert_int_equal(len, sizeof bin);
            assert_memory_equal(blob, bin, sizeof bin);
        } else if (i % NTRICKY == 1) {
            assert_false(hk_stmt_is_null(st, 2));
            assert_int_equal(len, 0);
        } else {
            assert_true(hk_stmt_is_null(st, 2));
        }
        assert_int_equal(hk_stmt_is_null(st, 3), i % NTRICKY == 2);
        if (i % NTRICKY != 2) {
            char masked[16];
            snprintf(masked, sizeof masked, "138****%04zu", i);
            assert_string_equal(hk_stmt_text(st, 3, NULL), masked);
        }
        assert_int_equal(hk_stmt_int64(st, 4), -(int64_t)i);
        assert_int_equal(hk_stmt_int64(st, 5), INT64_MAX - (int64_t)i);
    }
    assert_int_equal(hk_stmt_step(st, &err), HK_DONE);
    hk_stmt_reset(st);

    /* later reservations never hand out an id again, also before the rows are written */
    int64_t more[3], again[2];
    assert_int_equal(hk_db_next_ids(db, "customers", 3, more, &err), 0);
    assert_int_equal(hk_db_next_ids(db, "customers", 2, again, &err), 0);
    assert_true(more[0] > ids[NROWS - 1]);
    assert_true(again[0] > more[2]);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), (int64_t)NROWS);

    /* a plain INSERT afterwards gets an id of its own (the sequence / rowid moved on) */
    q_exec(t->store, "INSERT INTO customers (nick, created_at, updated_at) VALUES ('x', 0, 0)");
    assert_true(q_int(t->store, "SELECT max(id) FROM customers") > ids[NROWS - 1]);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT id) FROM customers"),
                     (int64_t)NROWS + 1);
}

/* A copy whose text values are all empty (no byte of text at all) still writes '' (NOT NULL
   columns), in full groups and the short last one. */
static void bulk__only_empty_text_is_still_text(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "order_history", "order_id, at, change", 3, &c, &err), 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(hk_copy_int64(c, i + 1), 0);
        assert_int_equal(hk_copy_int64(c, 0), 0);
        assert_int_equal(hk_copy_text(c, "", 0), 0);
        assert_int_equal(hk_copy_row(c, &err), 0);
    }
    assert_int_equal(hk_db_copy_end(c, &err), 0);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_history WHERE change = ''"), 40);
}

/* Copies n shops (ids[i], channel pos, named 店<i>; row dup named as row dup_of, a repeat of
   the unique (channel, name)) in one copy: its outcome, and in *at the row whose hk_copy_row
   reported it (n: reported by hk_db_copy_end, or none). */
static int copy_shops(struct hk_db *db, const int64_t *ids, int n, int dup, int dup_of, int *at,
                      struct hk_err *err)
{
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "shops", "id, channel, name, created_at", 4, &c, err), 0);
    int rc = 0, i;
    for (i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "店%d", i == dup ? dup_of : i);
        assert_int_equal(hk_copy_int64(c, ids[i]), 0);
        assert_int_equal(hk_copy_text(c, "pos", 3), 0);
        assert_int_equal(hk_copy_text(c, name, strlen(name)), 0);
        assert_int_equal(hk_copy_int64(c, 0), 0);
        if ((rc = hk_copy_row(c, err)) < 0)
            break;
    }
    if (rc == 0)
        rc = hk_db_copy_end(c, err);
    else
        (void)hk_db_copy_end(c, err);
    *at = i;
    return rc;
}

/* A unique violation inside a FULL group of 32 (reported by hk_copy_row, sq_copy_row's flush),
   under a savepoint, as run_batch's per-order fallback does: with INSERT OR FAIL the group's rows
   before the failing one were written; ROLLBACK TO must take them away, and the outer
   transaction must still commit what it wrote before the savepoint. */
static void bulk__full_group_failure_under_savepoint_leaves_nothing(void **state)
{
    struct tdb *t = *state;
    struct hk_err err;
    hk_err_clear(&err);
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t keep;
    assert_int_equal(hk_db_next_ids(db, "shops", 1, &keep, &err), 0);
    struct hk_copy *c;
    assert_int_equal(hk_db_copy_begin(db, "shops", "id, channel, name, created_at", 4, &c, &err),
                     0);
    assert_int_equal(hk_copy_int64(c, keep), 0);
    assert_int_equal(hk_copy_text(c, "pos", 3), 0);
    assert_int_equal(hk_copy_text(c, "keep", 4), 0);
    assert_int_equal(hk_copy_int64(c, 0), 0);
    assert_int_equal(hk_copy_row(c, &err), 0);
    assert_int_equal(hk_db_copy_end(c, &err), 0);

    assert_int_equal(hk_db_savepoint(db, "sp", &err), 0);
    int64_t ids[64];
    assert_int_equal(hk_db_next_ids(db, "shops", 64, ids, &err), 0);
    int i;
    assert_int_equal(copy_shops(db, ids, 64, 20, 3, &i, &err), HK_E(CONFLICT)); /* row 20: 3's */
    if (!t->pg)
        assert_int_equal(i, 31); /* SQLite: reported by the row that completed the first group */
    assert_int_equal(hk_db_savepoint_rollback(db, "sp", &err), 0);
    assert_int_equal(hk_db_savepoint_release(db, "sp", &err), 0);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM shops WHERE name = 'keep'"), 1);
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
    int64_t two[2] = {id, id + 1};
    int at;
    assert_int_equal(copy_shops(db, two, 2, 1, 0, &at, &err), HK_E(CONFLICT));
    assert_true(hk_db_commit(db, &err) < 0);

    /* the same with the duplicate in the short last group, after a full first one */
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    int64_t many[40];
    assert_int_equal(hk_db_next_ids(db, "shops", 40, many, &err), 0);
    assert_int_equal(copy_shops(db, many, 40, 37, 3, &at, &err), HK_E(CONFLICT));
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
        T(bulk__only_empty_text_is_still_text),
        T(bulk__a_duplicate_aborts_the_transaction_and_nothing_stays),
        T(bulk__full_group_failure_under_savepoint_leaves_nothing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
