/*
 * harness.h — a fresh, migrated store per test for the import and identity tests, on the
 * backend named by HUIKE_TEST_BACKEND (sqlite: a file in a private temp directory; postgres: a
 * randomly named database in the throw-away cluster whose URL is in HUIKE_TEST_PG_URL_FILE,
 * dropped at the end), with a fixed PII key and the Asia/Shanghai zone.
 *
 * Like tests/store, these tests read the store with SQL of their own to check exactly what was
 * stored; the SQL is only ever constant text.
 */
#ifndef HK_TESTS_IMPORTDB_HARNESS_H
#define HK_TESTS_IMPORTDB_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/pii.h"
#include "ingest/import.h"

#define TEST_KEY_HEX "6b0c8b1a2f3e4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
#define TEST_NOW     1798761600 /* 2027-01-01T00:00:00Z */

struct tdb {
    bool pg;
    char tmpdir[256];
    char admin_url[512];
    char target[640];
    char pg_name[64];
    struct hk_store *store;
    struct hk_keyring keys;
    struct hk_tz *tz;
    struct hk_ingest_ctx ctx;
};

/** cmocka setup/teardown: *state becomes a struct tdb with a fresh store. */
int tdb_setup(void **state);
int tdb_teardown(void **state);

/** Another fresh database (URL or path into buf); the caller opens it. Dropped at teardown. */
const char *tdb_fresh_target(struct tdb *t, char *buf, size_t size);
/** Opens and migrates a store at target. */
struct hk_store *tdb_open_store(const char *target);

/** The path of a fixture in tests/fixtures/import (static buffer, one at a time per slot). */
const char *fixture(const char *name);
/** Writes text to a file in the test's temp directory; returns its path (static per slot). */
const char *tdb_write(struct tdb *t, const char *name, const char *text);

/** Imports files; fails the test on a negative return. res must be released by the caller. */
void tdb_import(struct tdb *t, const char *const *paths, size_t n, const char *shop,
                struct hk_import_result *res);
/** As tdb_import, for one file. */
void tdb_import1(struct tdb *t, const char *path, struct hk_import_result *res);

/** The one integer a query returns (0 for NULL). */
int64_t q_int(struct hk_store *s, const char *sql);
/** FNV-1a over every column of every row of sql, as text (NULL as "\\N"). */
uint64_t q_checksum(struct hk_store *s, const char *sql);
/** Runs the generator HUIKE_GEN (bench/gen_generic.c): lines into file, seed 11, variant. */
void tdb_generate(const char *lines, const char *file, const char *variant);
/** The one text a query returns, copied into buf ("" for NULL or no row). */
const char *q_text(struct hk_store *s, const char *sql, char *buf, size_t size);
/** Runs a statement. */
void q_exec(struct hk_store *s, const char *sql);
/** Decrypts the blob a query returns (one row, one column) into buf; "" when NULL. */
const char *q_open(struct tdb *t, const char *sql, char *buf, size_t size);

/** Asserts the import counters. */
void check_counts(const struct hk_import_result *r, int64_t rows, int64_t created, int64_t updated,
                  int64_t unchanged, int64_t items, int64_t customers, int64_t rejected);

/** How many of the indexes an initial load drops exist now (hk_irepo_load_indexes_present). */
int tdb_load_indexes(struct hk_store *s);
/** How many that is when all exist: identities_key and 5 more; 2 more on PostgreSQL
    (order_items_pkey, and orders_sales, which SQLite keeps row by row). */
#define TDB_LOAD_INDEXES(pg) ((pg) ? 8 : 6)
/** Drops them all, identities_key and orders_sales too, as a load killed half-way leaves a
    store (orders_sales: one of an older huike, which dropped it on SQLite too). */
void tdb_drop_load_indexes(struct hk_store *s);

/**
 * Another writer between two batches: given as an import's progress callback (with a
 * struct tdb_plant as its argument), runs sql[0] and then sql[1] (may be NULL) on store at
 * the first call, and nothing after.
 */
struct tdb_plant {
    struct hk_store *store;
    const char *sql[2];
    int calls;
};
void tdb_plant_progress(void *arg, int64_t done, int64_t total, int64_t rows);

/** Repeats the UTF-8 character ch n times into out, as far as size allows; NUL-terminated. */
void tdb_repeat_utf8(char *out, size_t size, const char *ch, size_t n);

/** The generic format's columns (docs/import.md), and its header line, newline included. */
#define TDB_GENERIC_COLUMNS                                                                        \
    "order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,paid_at,"     \
    "received_at,product_id,product_title,category,quantity,unit_price,paid_amount,"               \
    "refund_amount,coupon_code"
#define TDB_GENERIC_HEADER TDB_GENERIC_COLUMNS "\n"

/** Three generic orders, M3 sharing M1's phone and M2's buyer: they merge two customers. */
extern const char TDB_MERGE_CSV[];

/** Epoch seconds of a Shanghai local time "YYYY-MM-DD HH:MM:SS". */
int64_t sh_time(struct tdb *t, const char *local);

#endif
