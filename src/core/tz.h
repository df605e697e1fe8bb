/*
 * tz.h — shop time zones, local dates and the time formats sellers' files use.
 *
 * Zones come from the system's IANA tz database (/usr/share/zoneinfo, TZif files) read by our
 * own parser, so conversions are pure functions of (zone, instant): thread-safe, no TZ
 * environment juggling, and any zone works, including ones with daylight saving time.
 *
 * A "local day" is the number of days since 1970-01-01 of the shop-local calendar date; day
 * arithmetic ("days_ago") subtracts local days, never divides seconds by 86400.
 *
 * Wherever a `const struct hk_tz *` is taken, NULL means UTC. Instants are clamped to the years
 * 1..9999 before they are turned into civil time; civil times outside 1..9999 are rejected.
 */
#ifndef HK_CORE_TZ_H
#define HK_CORE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_tz; /* opaque, immutable once loaded; share freely between threads */

#define HK_TZ_DEFAULT "Asia/Shanghai"

/**
 * Loads an IANA zone by name ("Asia/Shanghai", "America/New_York", "UTC").
 * Returns 0 and a new zone in *out (free with hk_tz_free); HK_E(INVAL) for an unknown name.
 */
int hk_tz_load(const char *name, struct hk_tz **out, struct hk_err *err);
/**
 * Builds a zone from the bytes of a TZif file (versions 1-3; the footer rule of v2+ files is
 * used beyond the transition table). name is copied. For fuzzing and tests; hk_tz_load calls it.
 * Returns 0 and a new zone in *out; HK_E(INVAL) when the data is not valid TZif.
 */
int hk_tz_parse_tzif(const char *name, const unsigned char *data, size_t len, struct hk_tz **out,
                     struct hk_err *err);
/** Frees a zone; NULL is fine. */
void hk_tz_free(struct hk_tz *tz);
/** The zone's name as loaded (borrowed). */
const char *hk_tz_name(const struct hk_tz *tz);

/** UTC offset in seconds in effect at instant t (e.g. 28800 for Asia/Shanghai). */
int32_t hk_tz_offset_at(const struct hk_tz *tz, int64_t t);

/** Broken-down civil time (proleptic Gregorian). */
struct hk_civil {
    int year, month, day; /* month 1–12, day 1–31 */
    int hour, minute, second;
};

/** Instant -> shop-local civil time. */
void hk_tz_to_local(const struct hk_tz *tz, int64_t t, struct hk_civil *out);

/**
 * Shop-local civil time -> instant. A time that does not exist (skipped by a DST jump) is moved
 * forward by the gap; a time that exists twice (DST fall-back) takes the earlier instant.
 * Returns 0, or HK_E(INVAL) when fields are out of range (month 13, 2023-02-29, hour 24 ...).
 */
int hk_tz_from_local(const struct hk_tz *tz, const struct hk_civil *c, int64_t *out,
                     struct hk_err *err);

/** The shop-local day number (days since 1970-01-01 in local calendar) of instant t. */
int32_t hk_tz_local_day(const struct hk_tz *tz, int64_t t);
/** The instant at which local day `day` begins (local midnight, or the first instant after). */
int64_t hk_tz_day_start(const struct hk_tz *tz, int32_t day);
/** Days from civil date (no zone involved) and back. */
int32_t hk_days_from_civil(int year, int month, int day);
void hk_civil_from_days(int32_t day, int *year, int *month, int *day_of_month);

/**
 * Parses a time as sellers' files and API clients write it, into an instant:
 *   - ISO 8601 with an offset: "2026-03-01T08:00:00+08:00", "...Z", "...+0800", fractional
 *     seconds allowed and dropped;
 *   - "YYYY-MM-DD HH:MM:SS", "YYYY/MM/DD HH:MM:SS", "YYYY-MM-DD HH:MM", "YYYY-MM-DD", or
 *     "YYYY-MM-DDTHH:MM:SS" without an offset: local time in tz (a time skipped by DST moves
 *     forward by the gap, a repeated one takes the earlier instant, as hk_tz_from_local).
 * Also accepted, as spreadsheets re-save them: 1-digit month, day and hour ("2026/3/1 8:05"),
 * "+08", "+0800" and "+08:00" offsets, surrounding white space.
 * Returns 0; 1 when s is empty or white space (*out untouched); HK_E(INVAL) with the reason
 * ("'2026-02-30 10:00:00' is not a date: February 2026 has 28 days") otherwise.
 */
int hk_time_parse(const char *s, size_t len, const struct hk_tz *tz, int64_t *out,
                  struct hk_err *err);

/** Formats t as ISO 8601 with the zone's offset ("2026-03-01T08:00:00+08:00"). Returns length. */
size_t hk_time_format_iso(const struct hk_tz *tz, int64_t t, char *buf, size_t size);
/** Formats t as ISO 8601 UTC ("2026-03-01T00:00:00Z"). Returns length. */
size_t hk_time_format_utc(int64_t t, char *buf, size_t size);
/** Formats t as shop-local "YYYY-MM-DD HH:MM:SS". Returns length. */
size_t hk_time_format_local(const struct hk_tz *tz, int64_t t, char *buf, size_t size);

#endif
