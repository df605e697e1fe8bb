/*
 * snapshot_probe.h — engine-side helpers of test_engine_snapshot.c (see snapshot_probe.c).
 */
#ifndef HK_TESTS_SNAPSHOT_PROBE_H
#define HK_TESTS_SNAPSHOT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_engine_svc;

/** True when both engines give the same RFM report (counts exact, ratios to 1e-9). */
bool sprobe_rfm_same(struct hk_engine_svc *a, struct hk_engine_svc *b, char *why, size_t size);
/** Rows (live and merged) of the service's engine, and the store id of a row. */
size_t sprobe_rows(struct hk_engine_svc *s);
int64_t sprobe_row_id(struct hk_engine_svc *s, size_t row);
/** Writes the service's engine to path n times in a row (hk_engine_snapshot_write + finish,
 * cursor = the iteration). 0 or -1. */
int sprobe_write_loop(struct hk_engine_svc *s, const char *path, int n);
/** Reads path into an engine (default zone `zone`) and finishes it: 0 with the file's cursor
 * and the engine's rows, or the error with its message in why. */
int sprobe_read(const char *path, const char *zone, int64_t *cursor, size_t *rows, char *why,
                size_t size);

#endif
