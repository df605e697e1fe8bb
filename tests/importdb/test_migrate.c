/*
 * test_migrate.c — migration 0006 on a database that was in use before it (both backends):
 * a store built up to 0005 with customers whose provinces were stored in short forms (before
 * src/ingest/region.c normalised them) is migrated to the newest schema; the short forms become
 * the official full names, full names and values that name no province stay as they are, the
 * change log asks every engine to reload, and import jobs gain items_waiting (0 for old jobs).
 *
 * The old schema is made by running the embedded migrations 1–5 (generated/migrations.c) the way
 * migrate.c does, then hk_store_migrate takes it from there: the real upgrade path.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_int.h"

#define OLD_VERSION 5

/* Runs migrations 1..OLD_VERSION on an empty database and records them. */
static void build_old_schema(struct hk_store *s)
{
    struct hk_err err = {0};
    struct hk_db *db = NULL;
    assert_int_equal(hk_db_acquire(s, &db, &err), 0);
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    if (hk_db_exec_script(db, "schema_version",
                          "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                          " name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                          &err) != 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < hk_migrations_count && hk_migrations[i].version <= OLD_VERSION; i++) {
        const struct hk_migration *m = &hk_migrations[i];
        struct hk_strbuf sql;
        hk_strbuf_init(&sql, 0);
        for (const char *p = m->sql; *p;) {
            if (strncmp(p, "@ID@", 4) == 0) {
                hk_strbuf_adds(&sql, s->ops->id_type);
                p += 4;
            } else if (strncmp(p, "@BLOB@", 6) == 0) {
                hk_strbuf_adds(&sql, s->ops->blob_type);
                p += 6;
            } else {
                hk_strbuf_addch(&sql, *p++);
            }
        }
        if (hk_db_exec_script(db, m->name, sql.buf, &err) != 0)
            fail_msg("migration %d: %s", m->version, err.msg);
        hk_strbuf_release(&sql);
        char ins[128];
        snprintf(ins, sizeof ins,
                 "INSERT INTO schema_version (version, name, applied_at) VALUES (%d, 'm', 1)",
                 m->version);
        if (hk_db_exec_script(db, "version", ins, &err) != 0)
            fail_msg("%s", err.msg);
    }
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
}

static void migration_0006__normalises_stored_provinces_and_adds_items_waiting(void **state)
{
    struct tdb *t = *state;
    char target[700];
    tdb_fresh_target(t, target, sizeof target);
    struct hk_err err = {0};
    struct hk_store *s = NULL;
    if (hk_store_open(target, NULL, &s, &err) != 0)
        fail_msg("open: %s", err.msg);
    build_old_schema(s);

    /* stored before the rule: short forms, full forms, spaces, and values that are no province */
    static const char *const cases[][2] = {
        {"广东", "广东省"},
        {"上海", "上海市"},
        {"内蒙古", "内蒙古自治区"},
        {"广西壮族", "广西壮族自治区"},
        {"广西", "广西壮族自治区"},
        {"宁夏回族", "宁夏回族自治区"},
        {"新疆", "新疆维吾尔自治区"},
        {"香港特区", "香港特别行政区"},
        {" 浙江 ", "浙江省"},
        {"广东省", "广东省"},
        {"新疆维吾尔自治区", "新疆维吾尔自治区"},
        {" 北京市", "北京市"},
        {"海外", "海外"},
        {"吉林市", "吉林市"},
        {"", ""},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO customers (id, nick, province, created_at, updated_at) "
                 "VALUES (%zu, 'c%zu', '%s', 1, 1)",
                 i + 1, i, cases[i][0]);
        q_exec(s, sql);
    }
    q_exec(s, "INSERT INTO imports (status, created_at) VALUES ('done', 1)");
    q_exec(s, "INSERT INTO changes (customer_id, kind, at) VALUES (7, 'customer', 1700000000)");

    int from = 0, to = 0;
    if (hk_store_migrate(s, TEST_NOW, &from, &to, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    assert_int_equal(from, OLD_VERSION);
    assert_true(to >= 6);

    for (size_t i = 0; i < n; i++) {
        char sql[128], got[128];
        snprintf(sql, sizeof sql, "SELECT province FROM customers WHERE id = %zu", i + 1);
        q_text(s, sql, got, sizeof got);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("'%s' became '%s', want '%s'", cases[i][0], got, cases[i][1]);
    }
    /* one 'all' row: every engine (and a saved snapshot) reloads the rewritten customers */
    assert_int_equal(q_int(s, "SELECT COUNT(*) FROM changes WHERE kind = 'all'"), 1);
    assert_int_equal(q_int(s, "SELECT MAX(at) FROM changes WHERE kind = 'all'"), 1700000000);
    assert_int_equal(q_int(s, "SELECT items_waiting FROM imports"), 0);
    hk_store_close(s);
}

/* A database whose provinces are all full (or empty) is left alone: no change-log row. */
static void migration_0006__leaves_full_provinces_alone(void **state)
{
    struct tdb *t = *state;
    char target[700];
    tdb_fresh_target(t, target, sizeof target);
    struct hk_err err = {0};
    struct hk_store *s = NULL;
    if (hk_store_open(target, NULL, &s, &err) != 0)
        fail_msg("open: %s", err.msg);
    build_old_schema(s);
    q_exec(s, "INSERT INTO customers (id, nick, province, created_at, updated_at) "
              "VALUES (1, 'a', '广东省', 1, 1), (2, 'b', '', 1, 1), (3, 'c', '海外', 1, 1)");
    if (hk_store_migrate(s, TEST_NOW, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    char got[64];
    assert_string_equal(q_text(s, "SELECT province FROM customers WHERE id = 1", got, sizeof got),
                        "广东省");
    assert_string_equal(q_text(s, "SELECT province FROM customers WHERE id = 3", got, sizeof got),
                        "海外");
    assert_int_equal(q_int(s, "SELECT COUNT(*) FROM changes WHERE kind = 'all'"), 0);
    hk_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            migration_0006__normalises_stored_provinces_and_adds_items_waiting, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(migration_0006__leaves_full_provinces_alone, tdb_setup,
                                        tdb_teardown),
    };
    return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
