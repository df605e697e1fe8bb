/*
 * test_tz.c — time zones from the system tz database, local days and time parsing.
 *
 * Expected instants were computed independently (Python's zoneinfo) and are written out as
 * numbers so the tests do not share any logic with the code under test.
 */
#include "unit.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/tz.h"

#define H 3600

/* 2026-03-08 07:00:00Z: New York springs forward (02:00 EST -> 03:00 EDT). */
#define NY_SPRING_2026 1772953200LL
/* 2026-11-01 06:00:00Z: New York falls back (02:00 EDT -> 01:00 EST). */
#define NY_FALL_2026 1793512800LL
/* 2080-03-10 07:00:00Z and 2080-11-03 06:00:00Z: far beyond any transition table. */
#define NY_SPRING_2080 3477279600LL
#define NY_FALL_2080   3497839200LL
/* 2026-03-29 01:00:00Z and 2026-10-25 01:00:00Z: London's BST begins and ends. */
#define LONDON_BST_2026     1774746000LL
#define LONDON_GMT_2026     1792890000LL
#define SHANGHAI_2026_03_01 1772294400LL /* 2026-03-01T00:00:00+08:00 */

static struct hk_tz *load(const char *name)
{
    struct hk_tz *tz = NULL;
    struct hk_err err;
    hk_err_clear(&err);
    int rc = hk_tz_load(name, &tz, &err);
    if (rc != 0)
        print_error("loading %s: %s\n", name, hk_err_message(&err));
    assert_int_equal(rc, 0);
    assert_non_null(tz);
    return tz;
}

static int64_t from_local(const struct hk_tz *tz, int y, int mo, int d, int h, int mi, int s)
{
    struct hk_civil c = {y, mo, d, h, mi, s};
    struct hk_err err;
    int64_t t = 0;
    assert_int_equal(hk_tz_from_local(tz, &c, &t, &err), 0);
    return t;
}

static int64_t parse_ok(const char *s, const struct hk_tz *tz)
{
    struct hk_err err;
    hk_err_clear(&err);
    int64_t t = -1;
    int rc = hk_time_parse(s, strlen(s), tz, &t, &err);
    if (rc != 0)
        print_error("parsing '%s': %s\n", s, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return t;
}

static const char *parse_fails(const char *s, const struct hk_tz *tz)
{
    static struct hk_err err;
    hk_err_clear(&err);
    int64_t t = 12345;
    assert_int_equal(hk_time_parse(s, strlen(s), tz, &t, &err), HK_E(INVAL));
    assert_int_equal(t, 12345);
    return err.msg;
}

static void civil_days__convert_both_ways(void **state)
{
    (void)state;
    assert_int_equal(hk_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(hk_days_from_civil(2026, 3, 1), 20513);
    assert_int_equal(hk_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(hk_days_from_civil(2000, 3, 1), 11017);
    for (int32_t d = -800000; d <= 800000; d += 997) {
        int y, m, dd;
        hk_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(hk_days_from_civil(y, m, dd), d);
    }
    int y, m, dd;
    hk_civil_from_days(20513 - 1, &y, &m, &dd);
    assert_int_equal(y * 10000 + m * 100 + dd, 20260228);
}

static void tz_load__shanghai_is_plus_eight(void **state)
{
    (void)state;
    struct hk_tz *tz = load("Asia/Shanghai");
    assert_string_equal(hk_tz_name(tz), "Asia/Shanghai");
    assert_int_equal(hk_tz_offset_at(tz, SHANGHAI_2026_03_01), 8 * H);
    assert_int_equal(hk_tz_offset_at(tz, 4102444800LL /* 2100 */), 8 * H);
    assert_int_equal(from_local(tz, 2026, 3, 1, 0, 0, 0), SHANGHAI_2026_03_01);
    struct hk_civil c;
    hk_tz_to_local(tz, SHANGHAI_2026_03_01 - 1, &c);
    assert_int_equal(c.year, 2026);
    assert_int_equal(c.month, 2);
    assert_int_equal(c.day, 28);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.minute, 59);
    assert_int_equal(c.second, 59);
    hk_tz_free(tz);
}

static void tz_load__utc_works(void **state)
{
    (void)state;
    struct hk_tz *tz = load("UTC");
    assert_string_equal(hk_tz_name(tz), "UTC");
    assert_int_equal(hk_tz_offset_at(tz, 0), 0);
    assert_int_equal(hk_tz_offset_at(tz, NY_SPRING_2080), 0);
    assert_int_equal(from_local(tz, 2026, 3, 1, 0, 0, 0), 1772323200LL);
    assert_int_equal(hk_tz_local_day(tz, 1772323200LL), 20513);
    hk_tz_free(tz);
    hk_tz_free(load("Etc/UTC"));
}

static void tz_load__rejects_unknown_and_unsafe_names(void **state)
{
    (void)state;
    const char *bad[] = {"Asia/Shangai", "",        "/etc/passwd",    "../../etc/passwd",
                         "Asia/../UTC",  "America", "Asia//Shanghai", "Asia/Shanghai/",
                         ".hidden",      "a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hk_tz *tz = NULL;
        struct hk_err err;
        hk_err_clear(&err);
        assert_int_equal(hk_tz_load(bad[i], &tz, &err), HK_E(INVAL));
        assert_null(tz);
        assert_contains(err.msg, "time zone");
    }
    struct hk_tz *tz = NULL;
    struct hk_err err;
    hk_tz_load("Asia/Shangai", &tz, &err);
    assert_contains(err.msg, "'Asia/Shangai' is not a known time zone");
}

static void tz_parse_tzif__rejects_malformed_data(void **state)
{
    (void)state;
    struct hk_tz *tz = NULL;
    struct hk_err err;
    const unsigned char junk[] = "TZif2 this is not a zone file at all, not even close......";
    assert_int_equal(hk_tz_parse_tzif("X", junk, sizeof(junk), &tz, &err), HK_E(INVAL));
    assert_contains(err.msg, "not valid TZif");
    assert_int_equal(hk_tz_parse_tzif("X", junk, 10, &tz, &err), HK_E(INVAL));
    assert_null(tz);
}

static void tz_parse_tzif__reads_a_version_1_file(void **state)
{
    (void)state;
    /* One transition at t=1000 from type 0 (+01:00) to type 1 (+02:00). */
    unsigned char f[44 + 4 + 1 + 12 + 4] = {'T', 'Z', 'i', 'f', 0};
    f[35] = 1; /* timecnt */
    f[39] = 2; /* typecnt */
    f[43] = 4; /* charcnt */
    unsigned char *p = f + 44;
    p[0] = 0, p[1] = 0, p[2] = 0x03, p[3] = 0xE8; /* 1000 */
    p[4] = 1;
    p += 5;
    p[2] = 0x0E, p[3] = 0x10; /* 3600 */
    p[8] = 0x1C, p[9] = 0x20; /* 7200 */
    memcpy(p + 12, "AB\0", 3);
    struct hk_tz *tz = NULL;
    struct hk_err err;
    assert_int_equal(hk_tz_parse_tzif("Test/V1", f, sizeof(f), &tz, &err), 0);
    assert_int_equal(hk_tz_offset_at(tz, 999), 3600);
    assert_int_equal(hk_tz_offset_at(tz, 1000), 7200);
    assert_int_equal(hk_tz_offset_at(tz, 4000000000LL), 7200);
    assert_int_equal(hk_tz_offset_at(tz, -4000000000LL), 3600);
    hk_tz_free(tz);
}

static void tz_new_york__springs_forward_on_2026_03_08(void **state)
{
    (void)state;
    struct hk_tz *tz = load("America/New_York");
    assert_int_equal(hk_tz_offset_at(tz, NY_SPRING_2026 - 1), -5 * H);
    assert_int_equal(hk_tz_offset_at(tz, NY_SPRING_2026), -4 * H);
    /* 01:59:59 EST exists; 02:30 does not and moves forward by the gap to 03:30 EDT. */
    assert_int_equal(from_local(tz, 2026, 3, 8, 1, 59, 59), NY_SPRING_2026 - 1);
    assert_int_equal(from_local(tz, 2026, 3, 8, 2, 30, 0), NY_SPRING_2026 + 30 * 60);
    assert_int_equal(from_local(tz, 2026, 3, 8, 3, 0, 0), NY_SPRING_2026);
    char buf[40];
    hk_time_format_iso(tz, from_local(tz, 2026, 3, 8, 2, 30, 0), buf, sizeof(buf));
    assert_string_equal(buf, "2026-03-08T03:30:00-04:00");
    hk_tz_free(tz);
}

static void tz_new_york__falls_back_on_2026_11_01_taking_the_earlier_instant(void **state)
{
    (void)state;
    struct hk_tz *tz = load("America/New_York");
    assert_int_equal(hk_tz_offset_at(tz, NY_FALL_2026 - 1), -4 * H);
    assert_int_equal(hk_tz_offset_at(tz, NY_FALL_2026), -5 * H);
    /* 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST); the earlier wins. */
    assert_int_equal(from_local(tz, 2026, 11, 1, 1, 30, 0), NY_FALL_2026 - 30 * 60);
    assert_int_equal(from_local(tz, 2026, 11, 1, 2, 0, 0), NY_FALL_2026 + H);
    struct hk_civil c;
    hk_tz_to_local(tz, NY_FALL_2026 + 30 * 60, &c);
    assert_int_equal(c.hour, 1);
    assert_int_equal(c.minute, 30);
    hk_tz_free(tz);
}

static void tz_new_york__uses_the_footer_rule_in_2080(void **state)
{
    (void)state;
    struct hk_tz *tz = load("America/New_York");
    assert_int_equal(hk_tz_offset_at(tz, NY_SPRING_2080 - 1), -5 * H);
    assert_int_equal(hk_tz_offset_at(tz, NY_SPRING_2080), -4 * H);
    assert_int_equal(hk_tz_offset_at(tz, NY_FALL_2080 - 1), -4 * H);
    assert_int_equal(hk_tz_offset_at(tz, NY_FALL_2080), -5 * H);
    assert_int_equal(from_local(tz, 2080, 7, 4, 12, 0, 0), 3487334400LL);
    assert_int_equal(from_local(tz, 2080, 3, 10, 2, 15, 0), NY_SPRING_2080 + 15 * 60);
    hk_tz_free(tz);
}

static void tz_london__switches_to_bst_and_back(void **state)
{
    (void)state;
    struct hk_tz *tz = load("Europe/London");
    assert_int_equal(hk_tz_offset_at(tz, LONDON_BST_2026 - 1), 0);
    assert_int_equal(hk_tz_offset_at(tz, LONDON_BST_2026), H);
    assert_int_equal(hk_tz_offset_at(tz, LONDON_GMT_2026 - 1), H);
    assert_int_equal(hk_tz_offset_at(tz, LONDON_GMT_2026), 0);
    assert_int_equal(hk_tz_offset_at(tz, 3488270400LL /* 2080-07-15 */), H);
    assert_int_equal(hk_tz_offset_at(tz, 3472545600LL /* 2080-01-15 */), 0);
    hk_tz_free(tz);
}

static void tz_footer__handles_southern_and_negative_dst_zones(void **state)
{
    (void)state;
    const int64_t jan_2080 = 3472545600LL, jul_2080 = 3488270400LL;
    struct {
        const char *zone;
        int32_t jan, jul;
    } cases[] = {
        {"Australia/Sydney", 11 * H, 10 * H},
        {"Europe/Dublin", 0, H}, /* "IST-1GMT0,M10.5.0,M3.5.0/1": DST in winter */
        {"America/Santiago", -3 * H, -4 * H},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hk_tz *tz = load(cases[i].zone);
        assert_int_equal(hk_tz_offset_at(tz, jan_2080), cases[i].jan);
        assert_int_equal(hk_tz_offset_at(tz, jul_2080), cases[i].jul);
        hk_tz_free(tz);
    }
}

static void local_day__one_second_apart_can_be_different_days(void **state)
{
    (void)state;
    struct hk_tz *tz = load("Asia/Shanghai");
    int64_t late = parse_ok("2026-03-01T23:59:59+08:00", tz);
    int64_t early = parse_ok("2026-03-02T00:00:00+08:00", tz);
    assert_int_equal(early - late, 1);
    assert_int_equal(hk_tz_local_day(tz, late), 20513);
    assert_int_equal(hk_tz_local_day(tz, early), 20514);
    /* The same instants are one UTC day (2026-03-01 15:59:59Z / 16:00:00Z). */
    assert_int_equal(hk_tz_local_day(NULL, late), hk_tz_local_day(NULL, early));
    hk_tz_free(tz);
}

static void local_day__a_23_hour_dst_day_is_still_one_day(void **state)
{
    (void)state;
    struct hk_tz *tz = load("America/New_York");
    int32_t mar8 = hk_days_from_civil(2026, 3, 8);
    int64_t start = hk_tz_day_start(tz, mar8), next = hk_tz_day_start(tz, mar8 + 1);
    assert_int_equal(start, 1772946000LL);
    assert_int_equal(next - start, 23 * H);
    assert_int_equal(hk_tz_local_day(tz, start), mar8);
    assert_int_equal(hk_tz_local_day(tz, next - 1), mar8);
    assert_int_equal(hk_tz_local_day(tz, next), mar8 + 1);
    /* And the fall-back day has 25 hours. */
    int32_t nov1 = hk_days_from_civil(2026, 11, 1);
    assert_int_equal(hk_tz_day_start(tz, nov1 + 1) - hk_tz_day_start(tz, nov1), 25 * H);
    hk_tz_free(tz);
}

static void local_day__day_start_is_the_first_instant_when_midnight_is_skipped(void **state)
{
    (void)state;
    /* America/Havana springs forward at 00:00 -> 01:00 (2026-03-08, 05:00Z). */
    struct hk_tz *tz = load("America/Havana");
    int32_t day = hk_days_from_civil(2026, 3, 8);
    int64_t start = hk_tz_day_start(tz, day);
    assert_int_equal(start, 1772946000LL); /* the transition itself, shown as 01:00 -04:00 */
    assert_int_equal(hk_tz_local_day(tz, start), day);
    assert_int_equal(hk_tz_local_day(tz, start - 1), day - 1);
    hk_tz_free(tz);
}

static void tz_from_local__rejects_impossible_fields(void **state)
{
    (void)state;
    struct hk_err err;
    int64_t t = 7;
    struct hk_civil feb29 = {2023, 2, 29, 0, 0, 0};
    assert_int_equal(hk_tz_from_local(NULL, &feb29, &t, &err), HK_E(INVAL));
    assert_contains(err.msg, "2023-02-29 is not a date: February 2023 has 28 days");
    struct hk_civil m13 = {2026, 13, 1, 0, 0, 0};
    assert_int_equal(hk_tz_from_local(NULL, &m13, &t, &err), HK_E(INVAL));
    assert_contains(err.msg, "there is no month 13");
    struct hk_civil h24 = {2026, 3, 1, 24, 0, 0};
    assert_int_equal(hk_tz_from_local(NULL, &h24, &t, &err), HK_E(INVAL));
    assert_contains(err.msg, "hour 24 is out of range");
    assert_int_equal(t, 7);
    struct hk_civil leap = {2024, 2, 29, 12, 0, 0};
    assert_int_equal(hk_tz_from_local(NULL, &leap, &t, &err), 0);
}

static void time_parse__reads_iso_with_offsets(void **state)
{
    (void)state;
    struct hk_tz *ny = load("America/New_York");
    const int64_t t = SHANGHAI_2026_03_01 + 8 * H; /* 2026-03-01T08:00:00+08:00 */
    assert_int_equal(parse_ok("2026-03-01T08:00:00+08:00", ny), t);
    assert_int_equal(parse_ok("2026-03-01T08:00:00+0800", ny), t);
    assert_int_equal(parse_ok("2026-03-01T08:00:00+08", ny), t);
    assert_int_equal(parse_ok("2026-03-01T00:00:00Z", ny), t);
    assert_int_equal(parse_ok("2026-03-01T00:00:00.999Z", ny), t);
    assert_int_equal(parse_ok("2026-03-01T00:00:00,5z", ny), t);
    assert_int_equal(parse_ok("2026-02-28T19:00:00-05:00", ny), t);
    assert_int_equal(parse_ok("2026-03-01 08:00:00 +08:00", ny), t);
    hk_tz_free(ny);
}

static void time_parse__reads_local_formats_in_the_shop_zone(void **state)
{
    (void)state;
    struct hk_tz *tz = load("Asia/Shanghai");
    const int64_t t = SHANGHAI_2026_03_01 + 8 * H + 5 * 60; /* 08:05:00 local */
    assert_int_equal(parse_ok("2026-03-01 08:05:00", tz), t);
    assert_int_equal(parse_ok("2026/03/01 08:05:00", tz), t);
    assert_int_equal(parse_ok("2026-03-01 08:05", tz), t);
    assert_int_equal(parse_ok("2026-03-01T08:05:00", tz), t);
    assert_int_equal(parse_ok("2026/3/1 8:05", tz), t);
    assert_int_equal(parse_ok("  2026-03-01 08:05:00\r\n", tz), t);
    assert_int_equal(parse_ok("2026-03-01", tz), SHANGHAI_2026_03_01);
    assert_int_equal(parse_ok("2026-03-01 08:05:00", NULL), t + 8 * H); /* NULL zone: UTC */
    hk_tz_free(tz);
}

static void time_parse__local_time_in_a_dst_gap_moves_forward(void **state)
{
    (void)state;
    struct hk_tz *tz = load("America/New_York");
    assert_int_equal(parse_ok("2026-03-08 02:30:00", tz), NY_SPRING_2026 + 30 * 60);
    assert_int_equal(parse_ok("2026-11-01 01:30:00", tz), NY_FALL_2026 - 30 * 60);
    hk_tz_free(tz);
}

static void time_parse__empty_returns_one(void **state)
{
    (void)state;
    int64_t t = 5;
    struct hk_err err;
    assert_int_equal(hk_time_parse("", 0, NULL, &t, &err), 1);
    assert_int_equal(hk_time_parse("  ", 2, NULL, &t, &err), 1);
    assert_int_equal(t, 5);
}

static void time_parse__rejects_impossible_dates_with_the_reason(void **state)
{
    (void)state;
    assert_string_equal(parse_fails("2026-02-30 10:00:00", NULL),
                        "'2026-02-30 10:00:00' is not a date: February 2026 has 28 days");
    assert_contains(parse_fails("2024-02-30", NULL), "February 2024 has 29 days");
    assert_contains(parse_fails("2026-04-31", NULL), "April 2026 has 30 days");
    assert_contains(parse_fails("2026-13-01", NULL),
                    "'2026-13-01' is not a date: there is no month 13");
    assert_contains(parse_fails("2026-00-10", NULL), "there is no month 0");
    assert_contains(parse_fails("2026-03-00", NULL), "March 2026 has 31 days");
    assert_contains(parse_fails("2026-03-01 24:00:00", NULL), "is not a time: hour 24");
    assert_contains(parse_fails("2026-03-01 23:60:00", NULL), "minute 60");
    assert_contains(parse_fails("2026-03-01 23:59:60", NULL), "second 60");
    assert_contains(parse_fails("0000-01-01", NULL), "year 0 is out of range");
}

static void time_parse__rejects_malformed_text_naming_the_problem(void **state)
{
    (void)state;
    assert_contains(parse_fails("yesterday", NULL),
                    "'yesterday' is not a time: expected a 4-digit year");
    assert_contains(parse_fails("26-03-01", NULL), "expected a 4-digit year");
    assert_contains(parse_fails("2026.03.01", NULL), "expected '-' or '/'");
    assert_contains(parse_fails("2026-03/01", NULL), "same separator");
    assert_contains(parse_fails("2026-03-01 08", NULL), "minutes");
    assert_contains(parse_fails("2026-03-01 08:00:00 PM", NULL), "unexpected text");
    assert_contains(parse_fails("2026-03-01T08:00:00+8", NULL), "offset hours");
    assert_contains(parse_fails("2026-03-01T08:00:00+24:00", NULL), "offset is out of range");
    assert_contains(parse_fails("2026-03-01x", NULL), "after the date");
    assert_contains(parse_fails("2026-03-01 08:00:00.", NULL), "digits after the decimal mark");
}

static void time_format__writes_iso_utc_and_local(void **state)
{
    (void)state;
    struct hk_tz *tz = load("Asia/Shanghai");
    const int64_t t = SHANGHAI_2026_03_01 + 8 * H;
    char buf[64];
    assert_int_equal(hk_time_format_iso(tz, t, buf, sizeof(buf)), 25);
    assert_string_equal(buf, "2026-03-01T08:00:00+08:00");
    hk_time_format_utc(t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-03-01T00:00:00Z");
    hk_time_format_local(tz, t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-03-01 08:00:00");
    hk_time_format_utc(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    struct hk_tz *ny = load("America/New_York");
    hk_time_format_iso(ny, NY_FALL_2026, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-01T01:00:00-05:00");
    hk_tz_free(ny);
    hk_tz_free(tz);
}

static void time_format__iso_output_parses_back_to_the_same_instant(void **state)
{
    (void)state;
    const char *zones[] = {"Asia/Shanghai", "America/New_York", "Europe/London", "UTC",
                           "Asia/Kolkata"};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        struct hk_tz *tz = load(zones[z]);
        for (int64_t t = 1700000000LL; t < 1800000000LL; t += 1234567) {
            char buf[64];
            hk_time_format_iso(tz, t, buf, sizeof(buf));
            assert_int_equal(parse_ok(buf, NULL), t);
        }
        hk_tz_free(tz);
    }
}

static void tz_to_local__clamps_extreme_instants(void **state)
{
    (void)state;
    struct hk_civil c;
    hk_tz_to_local(NULL, INT64_MAX, &c);
    assert_int_equal(c.year, 9999);
    hk_tz_to_local(NULL, INT64_MIN, &c);
    assert_int_equal(c.year, 1);
    char buf[64];
    hk_time_format_utc(INT64_MIN, buf, sizeof(buf));
    assert_string_equal(buf, "0001-01-02T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(civil_days__convert_both_ways),
        cmocka_unit_test(tz_load__shanghai_is_plus_eight),
        cmocka_unit_test(tz_load__utc_works),
        cmocka_unit_test(tz_load__rejects_unknown_and_unsafe_names),
        cmocka_unit_test(tz_parse_tzif__rejects_malformed_data),
        cmocka_unit_test(tz_parse_tzif__reads_a_version_1_file),
        cmocka_unit_test(tz_new_york__springs_forward_on_2026_03_08),
        cmocka_unit_test(tz_new_york__falls_back_on_2026_11_01_taking_the_earlier_instant),
        cmocka_unit_test(tz_new_york__uses_the_footer_rule_in_2080),
        cmocka_unit_test(tz_london__switches_to_bst_and_back),
        cmocka_unit_test(tz_footer__handles_southern_and_negative_dst_zones),
        cmocka_unit_test(local_day__one_second_apart_can_be_different_days),
        cmocka_unit_test(local_day__a_23_hour_dst_day_is_still_one_day),
        cmocka_unit_test(local_day__day_start_is_the_first_instant_when_midnight_is_skipped),
        cmocka_unit_test(tz_from_local__rejects_impossible_fields),
        cmocka_unit_test(time_parse__reads_iso_with_offsets),
        cmocka_unit_test(time_parse__reads_local_formats_in_the_shop_zone),
        cmocka_unit_test(time_parse__local_time_in_a_dst_gap_moves_forward),
        cmocka_unit_test(time_parse__empty_returns_one),
        cmocka_unit_test(time_parse__rejects_impossible_dates_with_the_reason),
        cmocka_unit_test(time_parse__rejects_malformed_text_naming_the_problem),
        cmocka_unit_test(time_format__writes_iso_utc_and_local),
        cmocka_unit_test(time_format__iso_output_parses_back_to_the_same_instant),
        cmocka_unit_test(tz_to_local__clamps_extreme_instants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
