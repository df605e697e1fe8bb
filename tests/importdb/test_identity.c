/*
 * test_identity.c — identity resolution against a real store (SQLite and PostgreSQL): strong
 * keys join and merge customers, merges move orders/events/tags and are recorded, unmerge
 * restores exactly and marks the pair never-merge, never-merge is respected by imports, weak and
 * account keys never merge, and profiles are filled (never overwritten).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pii.h"
#include "ingest/events.h"
#include "ingest/identity.h"
#include "ingest/record.h"
#include "store/store.h"

/* Two customers: A (buyer a, phone X) and B (buyer b, no phone), each with an order. */
static const char FIRST[] = TDB_GENERIC_HEADER
    "M1,a,阿甲,13911112222,浙江省,杭州市,taobao,店,paid,2026-03-01 10:00:00,,,P1,甲,,1,10.00,"
    "10.00,,\n"
    "M2,b,阿乙,,,,taobao,店,paid,2026-03-02 10:00:00,,,P1,甲,,1,10.00,10.00,,\n";
/* Buyer b shows phone X: A and B are one person. */
static const char LINK[] = TDB_GENERIC_HEADER
    "M3,b,阿乙,139 1111 2222,,,taobao,店,paid,2026-03-03 10:00:00,,,P2,乙,,1,20.00,20.00,,\n";
/* Later: buyer b again with phone X, a new order. */
static const char AGAIN[] = TDB_GENERIC_HEADER
    "M4,b,阿乙,13911112222,,,taobao,店,paid,2026-03-04 10:00:00,,,P2,乙,,1,20.00,20.00,,\n";

static int64_t cust_of_order(struct tdb *t, const char *no)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT customer_id FROM orders WHERE external_no = '%s'", no);
    return q_int(t->store, sql);
}

static int64_t cust_of_identity(struct tdb *t, const char *value)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT customer_id FROM identities WHERE value = '%s'", value);
    return q_int(t->store, sql);
}

static void import_text(struct tdb *t, const char *name, const char *csv,
                        struct hk_import_result *r)
{
    tdb_import1(t, tdb_write(t, name, csv), r);
}

/* Gives customer B an event and two tags (one A has too), for the merge to move. */
static void add_event_and_tags(struct tdb *t)
{
    q_exec(t->store, "INSERT INTO tags (name, kind, created_at, updated_at) VALUES "
                     "('高价值客户', 'manual', 1, 1)");
    q_exec(t->store, "INSERT INTO tags (name, kind, created_at, updated_at) VALUES "
                     "('活动敏感型', 'manual', 1, 1)");
    q_exec(t->store, "INSERT INTO customer_tags (customer_id, tag_id, source, created_at) SELECT "
                     "i.customer_id, t.id, 'manual', 1 FROM identities i, tags t WHERE "
                     "i.value = 'b'");
    q_exec(t->store, "INSERT INTO customer_tags (customer_id, tag_id, source, created_at) SELECT "
                     "i.customer_id, t.id, 'manual', 1 FROM identities i, tags t WHERE "
                     "i.value = 'a' AND t.name = '高价值客户'");
    q_exec(t->store, "INSERT INTO events (customer_id, type, at, properties, identity_id, "
                     "created_at) SELECT customer_id, 'browse', 5, '{}', id, 5 FROM identities "
                     "WHERE value = 'b'");
}

static void phone_shared__customers_merged_with_moves_recorded(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    import_text(t, "first.csv", FIRST, &r);
    check_counts(&r, 2, 2, 0, 0, 2, 2, 0);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a"), B = cust_of_identity(t, "b");
    assert_true(A > 0 && B > A);
    add_event_and_tags(t);

    import_text(t, "link.csv", LINK, &r);
    check_counts(&r, 1, 1, 0, 0, 1, 0, 0);
    hk_import_result_release(&r);

    /* one merge, B into A (the older), because of the phone */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 1);
    assert_int_equal(q_int(t->store, "SELECT winner_id FROM customer_merges"), A);
    assert_int_equal(q_int(t->store, "SELECT loser_id FROM customer_merges"), B);
    assert_string_equal(q_text(t->store, "SELECT reason FROM customer_merges", buf, sizeof buf),
                        "phone");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT merged_into FROM customers WHERE id = %lld", (long long)B);
    assert_int_equal(q_int(t->store, sql), A);
    /* everything of B is A's now */
    assert_int_equal(cust_of_order(t, "M1"), A);
    assert_int_equal(cust_of_order(t, "M2"), A);
    assert_int_equal(cust_of_order(t, "M3"), A);
    assert_int_equal(cust_of_identity(t, "b"), A);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM events WHERE customer_id <> "
                                     "(SELECT winner_id FROM customer_merges)"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT tag_id) FROM customer_tags WHERE "
                                     "customer_id = (SELECT winner_id FROM customer_merges)"),
                     2);
    /* what moved is recorded: B's identity, order and event, and the one tag A lacked */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM merge_moves WHERE kind = 'identity'"),
                     1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM merge_moves WHERE kind = 'order'"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM merge_moves WHERE kind = 'event'"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM merge_moves WHERE kind = 'tag'"), 1);
    /* M3 came with buyer b's identity */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o JOIN identities i ON i.id = "
                                     "o.identity_id WHERE o.external_no = 'M3' AND i.value = 'b'"),
                     1);
    /* the phone is one identity */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 1);

    /* the same files again: no second merge */
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    import_text(t, "link.csv", LINK, &r);
    check_counts(&r, 1, 0, 0, 1, 0, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 1);
}

static void unmerge__restores_exactly_and_pair_stays_apart(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    struct hk_err err = {0};
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a"), B = cust_of_identity(t, "b");
    add_event_and_tags(t);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer_tags WHERE customer_id = %lld",
             (long long)B);
    int64_t b_tags = q_int(t->store, sql);
    import_text(t, "link.csv", LINK, &r);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 1);

    int64_t mid = 0;
    assert_int_equal(hk_identity_unmerge(t->store, B, "tester", TEST_NOW + 10, &mid, &err), 0);
    assert_true(mid > 0);

    /* B is itself again, with its identity, tags and event, and the order that came through
       its identity while merged (M3); A keeps what was A's */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM customers WHERE id = %lld AND merged_into "
             "IS NULL",
             (long long)B);
    assert_int_equal(q_int(t->store, sql), 1);
    assert_int_equal(cust_of_identity(t, "b"), B);
    assert_int_equal(cust_of_identity(t, "a"), A);
    assert_int_equal(cust_of_order(t, "M1"), A);
    assert_int_equal(cust_of_order(t, "M2"), B);
    assert_int_equal(cust_of_order(t, "M3"), B);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE customer_id = %lld", (long long)B);
    assert_int_equal(q_int(t->store, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer_tags WHERE customer_id = %lld",
             (long long)B);
    assert_int_equal(q_int(t->store, sql), b_tags);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM customer_tags WHERE customer_id = %lld",
             (long long)A);
    assert_int_equal(q_int(t->store, sql), 1);
    /* the phone stays with A: it was A's before the merge */
    assert_int_equal(q_int(t->store, "SELECT customer_id FROM identities WHERE kind = 'phone'"), A);
    /* recorded: undone, by whom, and never again */
    assert_int_equal(q_int(t->store, "SELECT undone_at FROM customer_merges"), TEST_NOW + 10);
    char buf[32];
    assert_string_equal(q_text(t->store, "SELECT undone_by FROM customer_merges", buf, sizeof buf),
                        "tester");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM never_merge WHERE customer_a = %lld AND customer_b = %lld",
             (long long)A, (long long)B);
    assert_int_equal(q_int(t->store, sql), 1);
    /* a second unmerge has nothing to undo */
    assert_int_equal(hk_identity_unmerge(t->store, B, "tester", TEST_NOW + 20, NULL, &err),
                     HK_E(NOTFOUND));

    /* re-importing everything, and a new order linking them again, merges nothing */
    const char *files[] = {tdb_write(t, "first.csv", FIRST), tdb_write(t, "link.csv", LINK)};
    tdb_import(t, files, 2, NULL, &r);
    check_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    hk_import_result_release(&r);
    import_text(t, "again.csv", AGAIN, &r);
    check_counts(&r, 1, 1, 0, 0, 1, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 1);
    assert_int_equal(cust_of_order(t, "M4"), B); /* buyer b's order */
    assert_int_equal(cust_of_order(t, "M3"), B);
    assert_int_equal(cust_of_order(t, "M1"), A);
}

static void never_merge__import_keeps_the_pair_apart(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    struct hk_err err = {0};
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a"), B = cust_of_identity(t, "b");
    assert_int_equal(hk_identity_never_merge(t->store, B, A, "different people", TEST_NOW, &err),
                     0);
    assert_int_equal(hk_identity_never_merge(t->store, A, B, "again", TEST_NOW, &err), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM never_merge"), 1);

    import_text(t, "link.csv", LINK, &r);
    check_counts(&r, 1, 1, 0, 0, 1, 0, 0);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 0);
    assert_int_equal(cust_of_order(t, "M3"), B);
    assert_int_equal(cust_of_identity(t, "b"), B);
    assert_int_equal(cust_of_identity(t, "a"), A);

    /* a manual merge is refused too */
    assert_int_equal(hk_identity_merge(t->store, A, B, "manual", TEST_NOW, NULL, &err),
                     HK_E(CONFLICT));
}

static void manual_merge__then_unmerge(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    struct hk_err err = {0};
    char buf[32];
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a"), B = cust_of_identity(t, "b"), mid = 0;
    assert_int_equal(hk_identity_merge(t->store, B, A, NULL, TEST_NOW, &mid, &err), 0);
    assert_string_equal(q_text(t->store, "SELECT reason FROM customer_merges", buf, sizeof buf),
                        "manual");
    assert_int_equal(cust_of_order(t, "M2"), A);
    assert_int_equal(hk_identity_merge(t->store, A, B, NULL, TEST_NOW, NULL, &err), HK_E(INVAL));
    /* undone through the winner: its latest merge */
    assert_int_equal(hk_identity_unmerge(t->store, A, "cli", TEST_NOW, NULL, &err), 0);
    assert_int_equal(cust_of_order(t, "M2"), B);
    assert_int_equal(cust_of_identity(t, "b"), B);
}

static void strong_key__new_identity_joins_its_customer(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a");
    const char *csv = TDB_GENERIC_HEADER "M5,c,阿丙,+86-139-1111-2222,,,jd,京东店,paid,2026-03-05 "
                                         "10:00:00,,,P9,丙,,1,9.00,9.00,,\n";
    import_text(t, "c.csv", csv, &r);
    check_counts(&r, 1, 1, 0, 0, 1, 0, 0); /* no new customer */
    hk_import_result_release(&r);
    assert_int_equal(cust_of_identity(t, "c"), A);
    assert_int_equal(cust_of_order(t, "M5"), A);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 0);
}

static void account_keys_alone__never_merge(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    import_text(t, "first.csv", FIRST, &r);
    hk_import_result_release(&r);
    int64_t A = cust_of_identity(t, "a"), B = cust_of_identity(t, "b");
    /* M1 (A's order) re-exported naming buyer b and no phone: no strong key, no merge, and the
       order stays with its customer */
    const char *csv = TDB_GENERIC_HEADER
        "M1,b,阿乙,,,,taobao,店,paid,2026-03-01 10:00:00,,,P1,甲,,1,10.00,10.00,,\n";
    import_text(t, "m1.csv", csv, &r);
    hk_import_result_release(&r);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customer_merges"), 0);
    assert_int_equal(cust_of_order(t, "M1"), A);
    assert_int_equal(cust_of_identity(t, "b"), B);
}

/* Orders with everything masked but the recipient: the weak key finds the same recipient again,
   and never merges anything. */
static void weak_recipient_key__joins_same_recipient_only(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_order_rec base = {
        .format = HK_FMT_PDD,
        .channel = "pdd",
        .phone = "138****5678",
        .phone_masked = true,
        .name = "张**",
        .name_masked = true,
        .address = "浙江省杭州市西湖区文三路**号",
        .address_masked = true,
        .status = HK_ORDER_PAID,
        .created_at = 1772294400,
    };
    struct hk_order_rec o1 = base, o2 = base, o3 = base, o4 = base;
    o1.order_no = "P-1";
    o2.order_no = "P-2";
    o3.order_no = "P-3";
    o3.address = "北京市朝阳区**"; /* another recipient */
    o4.order_no = "P-4";
    o4.address = ""; /* too little to go by: a customer of its own */
    const struct hk_order_rec *recs[] = {&o1, &o2, &o3, &o4};
    enum hk_apply_outcome out[4];
    struct hk_err errs[4];
    struct hk_import_result r = {0};
    assert_int_equal(hk_ingest_orders(&t->ctx, recs, 4, NULL, out, errs, &r, &err), 0);
    assert_int_equal(r.orders_created, 4);
    assert_int_equal(r.customers_created, 3);
    assert_int_equal(cust_of_order(t, "P-1"), cust_of_order(t, "P-2"));
    assert_int_not_equal(cust_of_order(t, "P-1"), cust_of_order(t, "P-3"));
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'recipient' "
                                     "AND channel = 'pdd'"),
                     2);
    /* the recipient key's value is a keyed hash, not the masked text */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE value LIKE '%*%'"), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 0);
    char buf[32];
    assert_string_equal(q_text(t->store,
                               "SELECT c.phone_masked FROM customers c JOIN orders o ON "
                               "o.customer_id = c.id WHERE o.external_no = 'P-1'",
                               buf, sizeof buf),
                        "138****5678");
}

static void profile__filled_never_overwritten(void **state)
{
    struct tdb *t = *state;
    struct hk_import_result r;
    char buf[64];
    /* first a masked phone and no province, then the clear phone, a province, another city */
    const char *csv = TDB_GENERIC_HEADER
        "F1,f,阿丁,139****3333,,,taobao,店,paid,2026-03-01 10:00:00,,,P1,甲,,1,10.00,10.00,,\n"
        "F2,f,别名,13944443333,江苏省,南京市,taobao,店,paid,2026-03-02 10:00:00,,,P1,甲,,1,"
        "10.00,10.00,,\n"
        "F3,f,又一个名,13955553333,上海市,上海市,taobao,店,paid,2026-03-03 10:00:00,,,P1,甲,,1,"
        "10.00,10.00,,\n";
    import_text(t, "f.csv", csv, &r);
    check_counts(&r, 3, 3, 0, 0, 3, 1, 0);
    hk_import_result_release(&r);
    assert_string_equal(q_text(t->store,
                               "SELECT nick || '|' || province || '|' || city || '|' || "
                               "phone_masked FROM customers",
                               buf, sizeof buf),
                        "阿丁|江苏省|南京市|139****3333");
    assert_string_equal(q_open(t, "SELECT phone_enc FROM customers", buf, sizeof buf),
                        "+8613944443333");
    /* both clear numbers are this customer's identities */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities WHERE kind = 'phone'"), 2);
    assert_int_equal(q_int(t->store, "SELECT count(DISTINCT customer_id) FROM identities"), 1);
}

/* ---- digests kept in the keys, one phone hash, look-ups grouped by (kind, channel) -------- */

static void keys_of(struct tdb *t, const struct hk_identity_in *in, size_t n,
                    struct hk_identity_keys *keys)
{
    struct hk_err err = {0};
    assert_int_equal(hk_identity_keys_from_input(&t->keys, in, n, keys, &err), 0);
}

/* Prefetches and resolves sets[0..n) in order within one transaction, then flushes; out[i] gets
   the real customer of sets[i]. */
static void resolve_sets(struct hk_resolver *r, struct hk_db *db,
                         const struct hk_identity_keys *const *sets, size_t n,
                         struct hk_resolution *out)
{
    struct hk_err err = {0};
    assert_int_equal(hk_db_begin(db, HK_TX_WRITE, &err), 0);
    assert_int_equal(hk_resolver_prefetch(r, db, sets, n, NULL, 0, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hk_resolver_resolve(r, db, sets[i], 0, NULL, TEST_NOW, &out[i], &err), 0);
    assert_int_equal(hk_resolver_flush(r, db, TEST_NOW, NULL, &err), 0);
    for (size_t i = 0; i < n; i++)
        out[i].customer_id = hk_resolver_real_customer(r, out[i].customer_id);
    assert_int_equal(hk_db_commit(db, &err), 0);
    hk_resolver_flush_done(r);
}

/* Keys digested once resolve as keys hashed where needed, and digests made by one resolver are
   never used by another (each has its own hashing key). */
static void digested_keys__resolve_as_undigested_and_only_in_their_resolver(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    struct hk_resolver *r1 = hk_resolver_new(&t->keys), *r2 = hk_resolver_new(&t->keys);
    assert_non_null(r1);
    assert_non_null(r2);
    const struct hk_identity_in in[] = {{"taobao", "buyer_id", "dk-1"},
                                        {NULL, "phone", "13955556666"}};
    struct hk_identity_keys plain, dig1, dig2;
    keys_of(t, in, 2, &plain);
    keys_of(t, in, 2, &dig1);
    keys_of(t, in, 2, &dig2);
    hk_resolver_digest_keys(r1, &dig1);
    hk_resolver_digest_keys(r2, &dig2);

    /* r2: plain keys make the customer; keys digested by r1 (not r2) must still find it */
    const struct hk_identity_keys *s2[] = {&plain, &dig1, &dig2};
    struct hk_resolution o2[3];
    resolve_sets(r2, db, s2, 3, o2);
    assert_true(o2[0].customer_created);
    assert_false(o2[1].customer_created);
    assert_false(o2[2].customer_created);
    assert_int_equal(o2[1].customer_id, o2[0].customer_id);
    assert_int_equal(o2[2].customer_id, o2[0].customer_id);

    /* r1, a fresh cache: its own digests find the stored customer, as the plain keys do */
    const struct hk_identity_keys *s1[] = {&dig1, &plain};
    struct hk_resolution o1[2];
    resolve_sets(r1, db, s1, 2, o1);
    assert_false(o1[0].customer_created);
    assert_int_equal(o1[0].customer_id, o2[0].customer_id);
    assert_int_equal(o1[1].customer_id, o2[0].customer_id);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), 1);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM identities"), 2);
    hk_db_release(db);
    hk_resolver_free(r1);
    hk_resolver_free(r2);
}

/* The phone key's value is the keyed hash of the normalised number, taken once when the number
   is also the profile's phone; a second, different number gets its own hash and key. */
static void phone_key__hash_of_normalised_number_once_per_number(void **state)
{
    struct tdb *t = *state;
    char want1[HK_PII_HASH_HEX + 1], want2[HK_PII_HASH_HEX + 1];
    hk_pii_hash(&t->keys, "+8613955556666", strlen("+8613955556666"), want1);
    hk_pii_hash(&t->keys, "+8613977778888", strlen("+8613977778888"), want2);

    struct hk_order_rec rec = {.channel = "taobao", .buyer_id = "pk-1", .phone = "139 5555 6666"};
    struct hk_identity_keys k;
    hk_identity_keys_from_order(&t->keys, &rec, &k);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.k[1].kind, "phone");
    assert_string_equal(k.k[1].value, want1);
    assert_string_equal(k.phone_hash, want1);
    assert_string_equal(k.phone_norm, "+8613955556666");

    const struct hk_identity_in two[] = {{NULL, "phone", "13955556666"},
                                         {NULL, "phone", "+86 139-5555-6666"},
                                         {NULL, "phone", "13977778888"}};
    keys_of(t, two, 3, &k);
    assert_int_equal(k.n, 2); /* the same number twice is one key */
    assert_string_equal(k.k[0].value, want1);
    assert_string_equal(k.k[1].value, want2);
    assert_string_equal(k.phone_hash, want1); /* the profile keeps the first */

    /* a landline first, then a mobile: the mobile becomes the profile's phone and a key */
    const struct hk_identity_in land[] = {{NULL, "phone", "13977778888"}};
    keys_of(t, land, 1, &k);
    assert_string_equal(k.k[0].value, want2);
    struct hk_order_rec lrec = {.channel = "taobao", .buyer_id = "pk-2", .phone = "0571-8888888"};
    hk_identity_keys_from_order(&t->keys, &lrec, &k);
    assert_int_equal(k.n, 1); /* a landline is no identity */
    assert_int_equal(k.phone_state, 2);
}

/* Keys of more (kind, channel) groups than the grouping handles inline: every key is still
   looked up in the store and found. */
static void prefetch__many_channels_found_again(void **state)
{
    struct tdb *t = *state;
    struct hk_err err = {0};
    struct hk_db *db;
    assert_int_equal(hk_db_acquire(t->store, &db, &err), 0);
    enum { N = 40 };
    char ch[N][16], id[N][16];
    struct hk_identity_keys keys[N];
    const struct hk_identity_keys *sets[N];
    for (size_t pass = 0; pass < 2; pass++) {
        struct hk_resolver *r = hk_resolver_new(&t->keys);
        assert_non_null(r);
        for (int i = 0; i < N; i++) {
            snprintf(ch[i], sizeof ch[i], "ch%02d", N - i); /* not in sorted order */
            snprintf(id[i], sizeof id[i], "mc-%d", i);
            const struct hk_identity_in in[] = {{ch[i], i % 2 ? "buyer_id" : "nick", id[i]}};
            keys_of(t, in, 1, &keys[i]);
            if (i % 3)
                hk_resolver_digest_keys(r, &keys[i]);
            sets[i] = &keys[i];
        }
        struct hk_resolution out[N];
        resolve_sets(r, db, sets, N, out);
        for (int i = 0; i < N; i++)
            assert_int_equal(out[i].customer_created, pass == 0);
        hk_resolver_free(r);
    }
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM customers"), N);
    hk_db_release(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tdb_setup, tdb_teardown)
        T(phone_shared__customers_merged_with_moves_recorded),
        T(unmerge__restores_exactly_and_pair_stays_apart),
        T(never_merge__import_keeps_the_pair_apart),
        T(manual_merge__then_unmerge),
        T(strong_key__new_identity_joins_its_customer),
        T(account_keys_alone__never_merge),
        T(weak_recipient_key__joins_same_recipient_only),
        T(profile__filled_never_overwritten),
        T(digested_keys__resolve_as_undigested_and_only_in_their_resolver),
        T(phone_key__hash_of_normalised_number_once_per_number),
        T(prefetch__many_channels_found_again),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
