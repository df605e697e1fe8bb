/*
 * test_crash.c — kill -9 in the middle of a large import, then run it again.
 *
 * A generated generic export (bench/gen_generic.c; HK_CRASH_LINES lines, default 200,000) is
 * imported by `huike import --batch 1000` in a child process. Once some batches are committed
 * (the test polls the orders count) the child gets SIGKILL. Then:
 *   - no partial order: the committed orders are whole batches, and every order has its lines,
 *     a stored customer, and amounts equal to the sums of its lines; no history row (the file
 *     only creates orders, and creation writes none);
 *   - the same import run again completes, and the result equals a clean import of the file into
 *     another fresh database: the same counts, and the same checksum over every order, line and
 *     customer grouping.
 * The file is large beside the empty store, so the import runs as an initial load (import.h):
 * the kill leaves the load indexes missing, and the run after it must leave them built again.
 * HUIKE_BIN names the huike binary, HUIKE_GEN the generator.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/clock.h"
#include "store/ingest_repo.h"
#include "store/store.h"

#define BATCH 1000

static pid_t spawn(const char *const *argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        setenv("HUIKE_KEY", TEST_KEY_HEX, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int run(const char *const *argv)
{
    int status = 0;
    pid_t pid = spawn(argv);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Through a raw connection (not the store's: no presence lock, no migrate, no WAL request):
   the orders committed, and the file's journal mode as a new connection sees it ("wal", or
   "delete" for a file in a rollback journal). */
static int64_t raw_count(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM orders", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static const char *raw_text(sqlite3 *db, const char *sql)
{
    static char out[64];
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static const char *raw_journal_mode(sqlite3 *db)
{
    return raw_text(db, "PRAGMA journal_mode");
}

struct summary {
    int64_t orders, items, customers, identities, history, products;
    uint64_t orders_sum, items_sum, groups_sum;
};

static void summarize(struct hk_store *s, struct summary *out)
{
    out->orders = q_int(s, "SELECT count(*) FROM orders");
    out->items = q_int(s, "SELECT count(*) FROM order_items");
    out->customers = q_int(s, "SELECT count(*) FROM customers WHERE merged_into IS NULL");
    out->identities = q_int(s, "SELECT count(*) FROM identities");
    out->history = q_int(s, "SELECT count(*) FROM order_history");
    out->products = q_int(s, "SELECT count(*) FROM products");
    out->orders_sum =
        q_checksum(s, "SELECT external_no, status, total_fen, discount_fen, "
                      "postage_fen, paid_fen, refund_fen, coupon_code, created_at, "
                      "paid_at, received_at, source FROM orders ORDER BY external_no");
    out->items_sum =
        q_checksum(s, "SELECT o.external_no, i.line_no, i.item_key, i.placeholder, "
                      "i.title, i.quantity, i.unit_price_fen, i.paid_fen, i.refund_fen, "
                      "i.category, p.external_id FROM order_items i JOIN orders o ON "
                      "o.id = i.order_id LEFT JOIN products p ON p.id = i.product_id "
                      "ORDER BY o.external_no, i.line_no");
    /* which orders share a customer, named by the customer's smallest buyer id */
    out->groups_sum = q_checksum(s, "SELECT o.external_no, (SELECT min(v.value) FROM identities v "
                                    "WHERE v.customer_id = o.customer_id AND v.kind = 'buyer_id') "
                                    "FROM orders o ORDER BY o.external_no");
}

/* Imports file into a fresh store with the CLI, as the tests' loads do (batches of 1000), and
   summarizes t's store into *a and the clean one into *b; returns the clean store's count of
   load indexes. */
static int clean_import(struct tdb *t, const char *bin, const char *file, struct summary *a,
                        struct summary *b)
{
    char clean[640];
    tdb_fresh_target(t, clean, sizeof clean);
    const char *clean_argv[] = {bin,    "--db",   clean, "import", "--batch",
                                "1000", "--json", file,  NULL};
    assert_int_equal(run(clean_argv), 0);
    struct hk_store *cs = tdb_open_store(clean);
    summarize(t->store, a);
    summarize(cs, b);
    int indexes = tdb_load_indexes(cs);
    hk_store_close(cs);
    return indexes;
}

static void kill9_mid_import__no_partial_order_and_rerun_completes(void **state)
{
    struct tdb *t = *state;
    const char *bin = getenv("HUIKE_BIN"), *gen = getenv("HUIKE_GEN");
    const char *lines_env = getenv("HK_CRASH_LINES");
    if (!bin || !gen)
        fail_msg("HUIKE_BIN and HUIKE_GEN must name the huike binary and the generator");
    const char *lines = lines_env && *lines_env ? lines_env : "200000";
    char file[600];
    snprintf(file, sizeof file, "%s/big.csv", t->tmpdir);
    const char *gen_argv[] = {gen, lines, file, "7", NULL};
    assert_int_equal(run(gen_argv), 0);

    /* 1. import and kill -9 once a few batches are committed. SQLite: the test's store is
       closed meanwhile, so the load is the file's only connection and writes with a rollback
       journal (hk_db_load_journal); a raw connection watches (no presence lock: it does not
       make the load go back to WAL) and the kill lands while the file is in that journal. */
    const char *imp_argv[] = {bin,    "--db",   t->target, "import", "--batch",
                              "1000", "--json", file,      NULL};
    sqlite3 *raw = NULL;
    if (!t->pg) {
        hk_store_close(t->store);
        t->store = t->ctx.store = NULL;
    }
    pid_t pid = spawn(imp_argv);
    int status = 0;
    bool exited = false;
    if (!t->pg) { /* once the journal is there: a connection reading the file in WAL before the
                     load's switch would keep it in WAL */
        char journal[700];
        snprintf(journal, sizeof journal, "%s-journal", t->target);
        for (int i = 0; i < 3000 && access(journal, F_OK) != 0; i++)
            sleep_ms(10);
        assert_int_equal(access(journal, F_OK), 0);
        assert_int_equal(sqlite3_open_v2(t->target, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_busy_timeout(raw, 5000);
    }
    for (int i = 0; i < 30000 && !exited; i++) {
        if ((raw ? raw_count(raw) : q_int(t->store, "SELECT count(*) FROM orders")) >= 5 * BATCH)
            break;
        exited = waitpid(pid, &status, WNOHANG) == pid;
        sleep_ms(10);
    }
    assert_false(exited); /* the import must not have finished yet */
    if (raw) {            /* the file is in the load's rollback journal */
        assert_string_equal(raw_journal_mode(raw), "delete");
        sqlite3_close(raw);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* the kill caught an initial load: its indexes are missing. SQLite: the first connection
       rolls the journal back (the file is whole), and the store's migrate at open then builds
       the missing indexes (a kill's leftovers, migrate.c) */
    if (!t->pg) {
        assert_int_equal(sqlite3_open_v2(t->target, &raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(raw, 5000);
        assert_string_equal(raw_text(raw, "PRAGMA integrity_check"), "ok");
        assert_string_equal(raw_text(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                          " AND name IN ('identities_key',"
                                          " 'orders_customer', 'identities_customer',"
                                          " 'customers_phone_hash', 'customers_name_hash',"
                                          " 'order_history_order')"),
                            "0");
        sqlite3_close(raw);
        t->store = t->ctx.store = tdb_open_store(t->target);
        assert_int_equal(tdb_load_indexes(t->store), TDB_LOAD_INDEXES(t->pg));
    } else {
        assert_int_equal(tdb_load_indexes(t->store), 0);
    }

    /* 2. only whole batches, only whole orders */
    int64_t committed = q_int(t->store, "SELECT count(*) FROM orders");
    assert_true(committed >= 5 * BATCH);
    assert_int_equal(committed % BATCH, 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 "
                                     "FROM order_items i WHERE i.order_id = o.id)"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o WHERE o.paid_fen <> (SELECT "
                                     "sum(i.paid_fen) FROM order_items i WHERE i.order_id = o.id) "
                                     "OR o.total_fen <> (SELECT sum(i.quantity * "
                                     "i.unit_price_fen) FROM order_items i WHERE i.order_id = "
                                     "o.id)"),
                     0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM order_history"), 0);
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 "
                                     "FROM customers c WHERE c.id = o.customer_id)"),
                     0);
    /* the batches are the file's first orders */
    assert_int_equal(q_int(t->store, "SELECT count(*) FROM orders WHERE external_no > "
                                     "(SELECT max(external_no) FROM orders) OR external_no < "
                                     "'G000000001'"),
                     0);
    char maxno[32], want[32];
    snprintf(want, sizeof want, "G%09lld", (long long)committed);
    assert_string_equal(
        q_text(t->store, "SELECT max(external_no) FROM orders", maxno, sizeof maxno), want);

    /* 3. run it again: it completes, with every index, and in WAL again (SQLite) */
    assert_int_equal(run(imp_argv), 0);
    assert_int_equal(tdb_load_indexes(t->store), TDB_LOAD_INDEXES(t->pg));
    if (!t->pg) {
        assert_int_equal(sqlite3_open_v2(t->target, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_string_equal(raw_journal_mode(raw), "wal");
        sqlite3_close(raw);
    }

    /* 4. the same as a clean import */
    struct summary a, b;
    int clean_indexes = clean_import(t, bin, file, &a, &b);
    assert_int_equal(clean_indexes, TDB_LOAD_INDEXES(t->pg));
    assert_true(a.orders > committed);
    assert_int_equal(a.orders, b.orders);
    assert_int_equal(a.items, b.items);
    assert_int_equal(a.customers, b.customers);
    assert_int_equal(a.identities, b.identities);
    assert_int_equal(a.history, b.history);
    assert_int_equal(a.products, b.products);
    assert_true(a.orders_sum == b.orders_sum);
    assert_true(a.items_sum == b.items_sum);
    assert_true(a.groups_sum == b.groups_sum);
}

/* SQLite: another process (here the test) opening the store while a CLI load holds it in a
   rollback journal gets it back within a batch (presence locks, sqlite.c): its store opens,
   migrates and reads at once, the load goes on in WAL, and the result is a clean import's. */
static void store_opened_mid_load__load_gives_the_file_back(void **state)
{
    struct tdb *t = *state;
    const char *bin = getenv("HUIKE_BIN"), *gen = getenv("HUIKE_GEN");
    if (t->pg)
        skip();
    if (!bin || !gen)
        fail_msg("HUIKE_BIN and HUIKE_GEN must name the huike binary and the generator");
    char file[600], journal[700];
    snprintf(file, sizeof file, "%s/big.csv", t->tmpdir);
    snprintf(journal, sizeof journal, "%s-journal", t->target);
    const char *gen_argv[] = {gen, "400000", file, "7", NULL};
    assert_int_equal(run(gen_argv), 0);
    const char *imp_argv[] = {bin,    "--db",   t->target, "import", "--batch",
                              "1000", "--json", file,      NULL};

    hk_store_close(t->store);
    t->store = t->ctx.store = NULL;
    pid_t pid = spawn(imp_argv);
    for (int i = 0; i < 3000 && access(journal, F_OK) != 0; i++)
        sleep_ms(10);
    assert_int_equal(access(journal, F_OK), 0); /* the load is in its journal */

    /* a store of its own, no migrate (whose write transaction would queue behind the load's):
       its first connection waits until the load gives the file back, then reads */
    struct hk_err err = {0};
    struct hk_store *mid_store = NULL;
    int64_t t0 = hk_monotonic_ms();
    if (hk_store_open(t->target, NULL, &mid_store, &err) != 0)
        fail_msg("store open: %s", err.msg);
    int64_t mid = q_int(mid_store, "SELECT count(*) FROM orders");
    double waited = (double)(hk_monotonic_ms() - t0) / 1000.0;
    int status = 0;
    bool exited = waitpid(pid, &status, WNOHANG) == pid;
    hk_store_close(mid_store);
    assert_false(exited); /* it was given back by the running load, not by its end */
    assert_true(waited < 2.0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    t->store = t->ctx.store = tdb_open_store(t->target);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(tdb_load_indexes(t->store), TDB_LOAD_INDEXES(t->pg));

    struct summary a, b;
    (void)clean_import(t, bin, file, &a, &b);
    assert_int_equal(a.orders, b.orders);
    assert_int_equal(a.items, b.items);
    assert_int_equal(a.customers, b.customers);
    assert_int_equal(a.identities, b.identities);
    assert_true(a.orders_sum == b.orders_sum);
    assert_true(a.items_sum == b.items_sum);
    assert_true(a.groups_sum == b.groups_sum);
    /* given back between two batches, not at the end of the load */
    assert_true(mid < a.orders / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill9_mid_import__no_partial_order_and_rerun_completes,
                                        tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(store_opened_mid_load__load_gives_the_file_back, tdb_setup,
                                        tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
