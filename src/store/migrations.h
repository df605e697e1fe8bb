/*
 * migrations.h — the schema migrations compiled into the binary from sql/NNNN_name.sql
 * (generated/migrations.c, made by cmake/embed_sql.cmake). Ordered by version, ending with a
 * zeroed entry. Internal to src/store/.
 */
#ifndef HK_STORE_MIGRATIONS_H
#define HK_STORE_MIGRATIONS_H

struct hk_migration {
    int version;
    const char *name;
    const char *sql; /* may contain @ID@ and @BLOB@, expanded by the backend */
};

extern const struct hk_migration hk_migrations[];
extern const int hk_migrations_count;

#endif
