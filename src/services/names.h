/*
 * names.h — the names the segment editor can complete: categories, products (external ids),
 * tags, event types, provinces, cities and channels from the engine's dictionaries, shops (for
 * the RFM fields' shop=..., "channel:name" when two channels share a name), the RFM
 * tiers (as configured) and the eight RFM segments, and the saved segments' names from the store.
 *
 * A dictionary holds every name the engine has seen since it was loaded (a tag nobody carries any
 * more stays until the next full load); that is what the segment language accepts, so the
 * suggestions never offer a name the parser would refuse.
 *
 * Threading: thread-safe; the engine is read under its lock only while names are copied.
 */
#ifndef HK_SERVICES_NAMES_H
#define HK_SERVICES_NAMES_H

#include <stddef.h>

struct hk_app;
struct hk_err;

#define HK_NAMES_LIMIT_MAX 1000

/**
 * Names of kind ("category", "product", "tag", "event_type", "province", "city", "channel",
 * "segment", "rfm_tier", "rfm_segment") that start with q (ASCII case-insensitively; NULL or "" =
 * all), in byte order (tiers and RFM segments in their own order), then — when fewer than limit
 * start with q — those that contain it elsewhere; at most limit (1..HK_NAMES_LIMIT_MAX).
 * HK_E(INVAL) naming "kind" for another kind. *out is new: an array of *n new strings
 * (hk_names_free).
 */
int hk_names_list(struct hk_app *app, const char *kind, const char *q, size_t limit, char ***out,
                  size_t *n, struct hk_err *err);
void hk_names_free(char **names, size_t n);

#endif
