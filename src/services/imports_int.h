/*
 * imports_int.h — what imports.c (uploads, queries) and import_worker.c (the job runner) share:
 * where a job's files live and how they are removed. Internal to src/services/.
 *
 * Threads: stateless.
 */
#ifndef HK_SERVICES_IMPORTS_INT_H
#define HK_SERVICES_IMPORTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_app;
struct hk_err;

#define HK_IMPORT_PATH_MAX 1024

/**
 * "<data_dir>/uploads/<id>" into buf. HK_E(INVAL) when it does not fit. With create, makes the
 * directories (mode 0700); a leftover directory of the same id is emptied first.
 */
int hk_imports_dir(struct hk_app *app, int64_t id, bool create, char *buf, size_t size,
                   struct hk_err *err);

/**
 * Removes the regular files in dir and then dir itself; a missing dir is fine. Failures are
 * logged (event import.cleanup), never returned: the job's outcome does not depend on them.
 */
void hk_imports_remove_dir(struct hk_app *app, const char *dir);

#endif
