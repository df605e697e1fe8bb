/*
 * test_migrate.c — migrations on a database that was in use before them (both backends):
 *   0006  a store built up to 0005 with customers whose provinces were stored in short forms
 *         (before src/ingest/region.c normalised them) is migrated to the newest schema; the
 *         short forms become the official full names, full names and values that name no
 *         province stay as they are, the change log asks every engine to reload, and import jobs
 *         gain items_waiting (0 for old jobs).
 *   0012  a store built up to 0011 with 64-digit look-up hashes (phone, name, phone and
 *         recipient identities) keeps their first 32 digits — what hk_pii_hash gives now — and
 *         touches no other value; search and identity resolution find the customer afterwards.
 *
 * The old schema is made by running the embedded migrations (generated/migrations.c) up to the
 * old version as migrate.c does (hk_store_migration_text: each backend's sections, macros
 * expanded), then hk_store_migrate takes it from there: the real upgrade path.
 */
#include "harness.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "store/customers_repo.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_int.h"

/* Runs migrations 1..old_version on an empty database and records them. */
static void build_old_schema(struct hk_store *s, int old_version)
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
    int last = 0;
    for (int i = 0; i < hk_migrations_count && hk_migrations[i].version <= old_version; i++) {
        const struct hk_migration *m = &hk_migrations[i];
        struct hk_strbuf sql;
        hk_strbuf_init(&sql, 0);
        assert_int_equal(hk_store_migration_text(s->ops, m->sql, &sql), 0);
        if (hk_db_exec_script(db, m->name, sql.buf, &err) != 0)
            fail_msg("migration %d: %s", m->version, err.msg);
        hk_strbuf_release(&sql);
        char ins[128];
        snprintf(ins, sizeof ins,
                 "INSERT INTO schema_version (version, name, applied_at) VALUES (%d, 'm', 1)",
                 m->version);
        if (hk_db_exec_script(db, "version", ins, &err) != 0)
            fail_msg("%s", err.msg);
        last = m->version;
    }
    assert_int_equal(last, old_version);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_db_release(db);
}

/* A fresh database of t's backend at migration old_version. */
static struct hk_store *old_store(struct tdb *t, int old_version)
{
    char target[700];
    struct hk_err err = {0};
    struct hk_store *s = NULL;
    tdb_fresh_target(t, target, sizeof target);
    if (hk_store_open(target, NULL, &s, &err) != 0)
        fail_msg("open: %s", err.msg);
    build_old_schema(s, old_version);
    return s;
}

static void migration_0006__normalises_stored_provinces_and_adds_items_waiting(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_store *s = old_store(t, 5);

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
    assert_int_equal(from, 5);
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
    struct hk_err err = {0};
    struct hk_store *s = old_store(t, 5);
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

/* A look-up hash as stores before 0012 hold it: the 32-byte keyed BLAKE2b, 64 hex digits. */
static void old_hash(const struct hk_keyring *kr, const char *value, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)value, strlen(value), kr->hash_key,
                       sizeof kr->hash_key);
    hk_hex_encode(h, sizeof h, out);
}

/* The customers hk_cust_search finds for q (ids ascending into ids, at most cap); how many. */
static size_t search(struct hk_store *s, const struct hk_cust_query *q, int64_t *ids, size_t cap)
{
    struct hk_err err = {0};
    struct hk_db *db = NULL;
    struct hk_cust_list_row *rows = calloc(cap, sizeof *rows);
    assert_non_null(rows);
    size_t n = 0;
    assert_int_equal(hk_db_acquire(s, &db, &err), 0);
    if (hk_cust_search(db, q, cap, rows, &n, &err) != 0)
        fail_msg("search: %s", err.msg);
    hk_db_release(db);
    for (size_t i = 0; i < n; i++)
        ids[i] = rows[i].id;
    free(rows);
    return n;
}

static void migration_0012__keeps_the_first_32_digits_of_look_up_hashes(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_store *s = old_store(t, 11);

    /* Customer a: phone and name hashes, a phone identity for that phone and a buyer id that
       happens to be 64 hex digits (an account id as sent: never cut). Customer b: no phone of
       its own, a phone identity for another number, a recipient key; its name was masked. */
    char phone_a[65], name_a[65], phone_b[65], recipient[65], account[65];
    old_hash(&t->keys, "+8613912345678", phone_a);
    old_hash(&t->keys, "张三", name_a);
    old_hash(&t->keys, "+8613700002222", phone_b);
    old_hash(&t->keys, "recipient|139****2222|李*|广东省**", recipient);
    old_hash(&t->keys, "not a hash, an account id", account);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO customers (nick, phone_hash, name_hash, phone_masked, created_at,"
             " updated_at) VALUES ('old_a', '%s', '%s', '139****5678', 1, 1),"
             " ('old_b', NULL, NULL, NULL, 1, 1)",
             phone_a, name_a);
    q_exec(s, sql);
    int64_t a = q_int(s, "SELECT id FROM customers WHERE nick = 'old_a'");
    int64_t b = q_int(s, "SELECT id FROM customers WHERE nick = 'old_b'");
    snprintf(sql, sizeof sql,
             "INSERT INTO identities (customer_id, channel, kind, value, created_at) VALUES"
             " (%lld, '*', 'phone', '%s', 1), (%lld, 'taobao', 'buyer_id', '%s', 1),"
             " (%lld, '*', 'phone', '%s', 1), (%lld, 'pdd', 'recipient', '%s', 1)",
             (long long)a, phone_a, (long long)a, account, (long long)b, phone_b, (long long)b,
             recipient);
    q_exec(s, sql);

    int from = 0, to = 0;
    if (hk_store_migrate(s, TEST_NOW, &from, &to, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    assert_int_equal(from, 11);
    assert_true(to >= 12);

    /* the stored values are the first 32 digits of the old ones, and what hk_pii_hash gives */
    char now_phone_a[HK_PII_HASH_HEX + 1], now_name_a[HK_PII_HASH_HEX + 1],
        now_phone_b[HK_PII_HASH_HEX + 1], got[128];
    hk_pii_hash(&t->keys, "+8613912345678", strlen("+8613912345678"), now_phone_a);
    hk_pii_hash(&t->keys, "张三", strlen("张三"), now_name_a);
    hk_pii_hash(&t->keys, "+8613700002222", strlen("+8613700002222"), now_phone_b);
    assert_int_equal(strncmp(now_phone_a, phone_a, HK_PII_HASH_HEX), 0);
    snprintf(sql, sizeof sql, "SELECT phone_hash FROM customers WHERE id = %lld", (long long)a);
    assert_string_equal(q_text(s, sql, got, sizeof got), now_phone_a);
    snprintf(sql, sizeof sql, "SELECT name_hash FROM customers WHERE id = %lld", (long long)a);
    assert_string_equal(q_text(s, sql, got, sizeof got), now_name_a);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM customers WHERE id = %lld"
             " AND phone_hash IS NULL AND name_hash IS NULL",
             (long long)b);
    assert_int_equal(q_int(s, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT value FROM identities WHERE kind = 'phone' AND customer_id = %lld",
             (long long)a);
    assert_string_equal(q_text(s, sql, got, sizeof got), now_phone_a);
    snprintf(sql, sizeof sql,
             "SELECT value FROM identities WHERE kind = 'phone' AND customer_id = %lld",
             (long long)b);
    assert_string_equal(q_text(s, sql, got, sizeof got), now_phone_b);
    q_text(s, "SELECT value FROM identities WHERE kind = 'recipient'", got, sizeof got);
    assert_int_equal(strlen(got), HK_PII_HASH_HEX);
    assert_int_equal(strncmp(got, recipient, HK_PII_HASH_HEX), 0);
    assert_string_equal(
        q_text(s, "SELECT value FROM identities WHERE kind = 'buyer_id'", got, sizeof got),
        account);
    assert_int_equal(q_int(s, "SELECT count(*) FROM identities WHERE length(value) = 64"), 1);

    /* search by phone (the profile's phone, or a phone identity) and by name finds them */
    int64_t ids[4];
    struct hk_cust_query q = {.match = HK_CUST_MATCH_PHONE, .phone_hash = now_phone_a};
    assert_int_equal(search(s, &q, ids, 4), 1);
    assert_int_equal(ids[0], a);
    q.phone_hash = now_phone_b;
    assert_int_equal(search(s, &q, ids, 4), 1);
    assert_int_equal(ids[0], b);
    q = (struct hk_cust_query){.match = HK_CUST_MATCH_NAME, .name_hash = now_name_a};
    assert_int_equal(search(s, &q, ids, 4), 1);
    assert_int_equal(ids[0], a);

    /* identity resolution: an order from a new account with a's phone joins a */
    struct hk_ingest_ctx ctx = t->ctx;
    ctx.store = s;
    const char *path = tdb_write(
        t, "phone.csv",
        TDB_GENERIC_HEADER "Z1,zz,丙,139 1234 5678,浙江省,杭州市,jd,店,paid,2026-01-01 10:00:00,"
                           "2026-01-01 10:00:00,,P1,商品,零食,1,10.00,10.00,,\n");
    struct hk_import_opts o = {0};
    struct hk_import_result res = {0};
    if (hk_import_files(&ctx, &path, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_int_equal(res.orders_created, 1);
    assert_int_equal(res.customers_created, 0);
    hk_import_result_release(&res);
    assert_int_equal(q_int(s, "SELECT customer_id FROM orders WHERE external_no = 'Z1'"), a);
    assert_int_equal(q_int(s, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 2);
    hk_store_close(s);
}

/* Two keys that would become one after the cut: the migration fails and changes nothing. */
static void migration_0012__refuses_to_join_two_keys_that_share_32_digits(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_store *s = old_store(t, 11);
    char h[65], sql[512];
    old_hash(&t->keys, "+8613912345678", h);
    q_exec(s,
           "INSERT INTO customers (nick, created_at, updated_at) VALUES ('a', 1, 1), ('b', 1, 1)");
    snprintf(sql, sizeof sql,
             "INSERT INTO identities (customer_id, channel, kind, value, created_at)"
             " SELECT id, '*', 'phone', CASE WHEN nick = 'a' THEN '%.32s' || '%s'"
             " ELSE '%.32s' || '%s' END, 1 FROM customers",
             h, "00000000000000000000000000000000", h, "11111111111111111111111111111111");
    q_exec(s, sql);
    assert_int_equal(q_int(s, "SELECT count(DISTINCT value) FROM identities"), 2);

    int rc = hk_store_migrate(s, TEST_NOW, NULL, NULL, &err);
    assert_int_equal(rc, HK_E(CONFLICT));
    assert_non_null(strstr(err.msg, "0012_short_hashes"));
    int v = 0;
    assert_int_equal(hk_store_schema_version(s, &v, &err), 0);
    assert_int_equal(v, 11);
    assert_int_equal(q_int(s, "SELECT count(*) FROM identities WHERE length(value) = 64"), 2);
    hk_store_close(s);
}

/* Upper-case hex of the UTF-8 character ch repeated n times, then of extra (hex already). */
static void repeat_hex(char *out, size_t size, const char *ch, size_t n, const char *extra)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)ch; *p && at + 3 < size; p++)
            at += (size_t)snprintf(out + at, size - at, "%02X", *p);
    snprintf(out + at, size - at, "%s", extra);
}

/* Product ids that a cut in the middle of a character left broken (SQLite stored them; on
   PostgreSQL such an insert failed) lose their incomplete last character, whole ones stay, two
   that mend to one id become one product (lines moved), and the next import of the long id
   finds the mended product. */
static void migration_0013__cuts_broken_product_ids_on_a_character_boundary(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_store *s = old_store(t, 12);
    q_exec(s, "INSERT INTO shops (id, channel, name, created_at) VALUES (1, 'pos', '店', 1),"
              " (2, 'pos', '二店', 1)");
    /* "sku:" + 86 x 码 (E7 A0 81) is what the cut keeps of a 100-character sku now */
    char whole[600], one[700], two[700], other[700], three[700], sql[4096], got[800];
    repeat_hex(whole, sizeof whole, "码", 86, "");
    snprintf(one, sizeof one, "736B753A%sE7", whole); /* a lead byte alone */
    snprintf(two, sizeof two, "%sE7A0", whole);       /* two bytes of three */
    snprintf(other, sizeof other, "%sE8", whole);     /* another id: the same when mended */
    snprintf(three, sizeof three, "%sF0A080", whole); /* three bytes of four (U+20000) */
    if (!t->pg) {
        /* 2 and 7 mend to one id (2 keeps it, with 7's title); 3 mends to 8's id in shop 2 (8
           keeps it, with 3's title and category) */
        snprintf(sql, sizeof sql,
                 "INSERT INTO products (id, shop_id, external_id, title, category, created_at)"
                 " VALUES (1, 1, CAST(X'%s' AS TEXT), '', '', 1),"
                 " (2, 1, CAST(X'%s' AS TEXT), '', '零食', 1),"
                 " (7, 1, CAST(X'%s' AS TEXT), '七号', '彩妆', 1),"
                 " (3, 2, CAST(X'%s' AS TEXT), '三号', '床品', 1),"
                 " (8, 2, CAST(X'%s' AS TEXT), '', '', 1)",
                 one, two, other, three, whole);
        q_exec(s, sql);
        snprintf(sql, sizeof sql,
                 "INSERT INTO staged_items (channel, order_no, item_key, product_ext_id,"
                 " created_at) VALUES ('taobao', 'T1', 'k1', CAST(X'%s' AS TEXT), 1)",
                 two);
        q_exec(s, sql);
        q_exec(s, "INSERT INTO order_items (id, order_id, line_no, item_key, product_id) VALUES"
                  " (1, 101, 1, 'a', 2), (2, 101, 2, 'b', 7), (3, 102, 1, 'a', 3)");
    }
    /* whole ones: ASCII, and Chinese ending in ASCII and in a character */
    q_exec(s, "INSERT INTO products (id, shop_id, external_id, created_at) VALUES"
              " (4, 1, 'P1', 1), (5, 1, '长长长长长A', 1), (6, 1, '长长长长长', 1)");

    if (hk_store_migrate(s, TEST_NOW, NULL, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    assert_string_equal(q_text(s, "SELECT external_id FROM products WHERE id = 4", got, sizeof got),
                        "P1");
    assert_string_equal(q_text(s, "SELECT external_id FROM products WHERE id = 5", got, sizeof got),
                        "长长长长长A");
    assert_string_equal(q_text(s, "SELECT external_id FROM products WHERE id = 6", got, sizeof got),
                        "长长长长长");
    if (t->pg) { /* nothing to mend: the engines need not reload */
        assert_int_equal(q_int(s, "SELECT count(*) FROM changes WHERE kind = 'all'"), 0);
        hk_store_close(s);
        return;
    }
    char want[700];
    snprintf(want, sizeof want, "736B753A%s", whole);
    assert_string_equal(
        q_text(s, "SELECT hex(external_id) FROM products WHERE id = 1", got, sizeof got), want);
    assert_string_equal(
        q_text(s, "SELECT hex(external_id) FROM products WHERE id = 2", got, sizeof got), whole);
    assert_string_equal(
        q_text(s, "SELECT hex(external_id) FROM products WHERE id = 8", got, sizeof got), whole);
    assert_string_equal(q_text(s, "SELECT hex(product_ext_id) FROM staged_items", got, sizeof got),
                        whole);
    /* 7 mended to 2's id: one product, 7's line moved, the title it lacked taken from 7 and
       its own category kept; 3 mended to the id 8 had in shop 2: 8 keeps it and takes what it
       lacked from 3 */
    assert_int_equal(q_int(s, "SELECT count(*) FROM products WHERE id IN (3, 7)"), 0);
    assert_int_equal(q_int(s, "SELECT product_id FROM order_items WHERE id = 2"), 2);
    assert_int_equal(q_int(s, "SELECT product_id FROM order_items WHERE id = 3"), 8);
    assert_string_equal(
        q_text(s, "SELECT title || '/' || category FROM products WHERE id = 2", got, sizeof got),
        "七号/零食");
    assert_string_equal(
        q_text(s, "SELECT title || '/' || category FROM products WHERE id = 8", got, sizeof got),
        "三号/床品");
    assert_int_equal(q_int(s, "SELECT count(*) FROM changes WHERE kind = 'all'"), 1);

    /* the same long sku imported again is product 1 */
    struct hk_ingest_ctx ctx = t->ctx;
    ctx.store = s;
    char sku[400], text[2048];
    tdb_repeat_utf8(sku, sizeof sku, "码", 100);
    snprintf(text, sizeof text,
             TDB_GENERIC_COLUMNS
             ",sku\n"
             "S1,s1,,,,,pos,店,paid,2026-01-01 10:00:00,2026-01-01 10:00:00,,,码,,1,1.00,"
             "1.00,,,%s\n",
             sku);
    const char *path = tdb_write(t, "sku.csv", text);
    struct hk_import_opts o = {0};
    struct hk_import_result res = {0};
    if (hk_import_files(&ctx, &path, NULL, 1, &o, &res, &err) != 0)
        fail_msg("import: %s", err.msg);
    assert_int_equal(res.orders_created, 1);
    hk_import_result_release(&res);
    assert_int_equal(q_int(s, "SELECT count(*) FROM products"), 6);
    assert_int_equal(q_int(s, "SELECT product_id FROM order_items i JOIN orders o ON"
                              " o.id = i.order_id WHERE o.external_no = 'S1'"),
                     1);
    hk_store_close(s);
}

static void migrate__refuses_a_database_of_a_newer_huike(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    char sql[160];
    int v = 0;
    assert_int_equal(hk_store_schema_version(t->store, &v, &err), 0);
    assert_int_equal(v, hk_store_latest_version());
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_version (version, name, applied_at) VALUES (%d, 'later', 1)",
             v + 1);
    q_exec(t->store, sql);
    assert_int_equal(hk_store_migrate(t->store, TEST_NOW, NULL, NULL, &err), HK_E(CONFLICT));
    assert_non_null(strstr(err.msg, "newer than this huike"));
    q_exec(t->store, "DELETE FROM schema_version WHERE name = 'later'");
    assert_int_equal(hk_store_migrate(t->store, TEST_NOW, NULL, NULL, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            migration_0006__normalises_stored_provinces_and_adds_items_waiting, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(migration_0006__leaves_full_provinces_alone, tdb_setup,
                                        tdb_teardown),
        cmocka_unit_test_setup_teardown(migration_0012__keeps_the_first_32_digits_of_look_up_hashes,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(
            migration_0012__refuses_to_join_two_keys_that_share_32_digits, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(
            migration_0013__cuts_broken_product_ids_on_a_character_boundary, tdb_setup,
            tdb_teardown),
        cmocka_unit_test_setup_teardown(migrate__refuses_a_database_of_a_newer_huike, tdb_setup,
                                        tdb_teardown),
    };
    return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
