/*
 * test_region.c — province and city from an address with or without spaces, and the canonical
 * full province names (src/ingest/region.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ingest/region.h"

/* Asserts the province and city parsed from addr ("" for no city). */
static void check(const char *addr, const char *province, const char *city)
{
    const char *p = NULL, *c = NULL;
    size_t cl = 99;
    assert_true(hk_region_from_address(addr, strlen(addr), &p, &c, &cl));
    assert_string_equal(p, province);
    char buf[128];
    assert_true(cl < sizeof buf);
    memcpy(buf, c, cl);
    buf[cl] = '\0';
    assert_string_equal(buf, city);
}

static void address__without_spaces(void **state)
{
    (void)state;
    check("北京市海淀区中关村大街1号", "北京市", "北京市");
    check("广东省深圳市南山区科技园路1号", "广东省", "深圳市");
    check("内蒙古自治区呼和浩特市新城区新华大街1号", "内蒙古自治区", "呼和浩特市");
    check("上海市浦东新区世纪大道100号", "上海市", "上海市");
    check("广西壮族自治区南宁市青秀区民族大道1号", "广西壮族自治区", "南宁市");
    check("香港特别行政区九龙城区太子道西1号", "香港特别行政区", "");
    check("吉林省吉林市船营区1号", "吉林省", "吉林市");
    check("江西省萍乡市安源区1号", "江西省", "萍乡市");
    check("江苏省镇江市京口区1号", "江苏省", "镇江市");
    check("吉林省延边朝鲜族自治州延吉市1号", "吉林省", "延边朝鲜族自治州");
    check("黑龙江省大兴安岭地区加格达奇区1号", "黑龙江省", "大兴安岭地区");
    check("内蒙古锡林郭勒盟锡林浩特市1号", "内蒙古自治区", "锡林郭勒盟");
    check("新疆维吾尔自治区乌鲁木齐市天山区1号", "新疆维吾尔自治区", "乌鲁木齐市");
    check("宁夏银川市兴庆区1号", "宁夏回族自治区", "银川市");
    check("西藏拉萨市城关区1号", "西藏自治区", "拉萨市");
    check("台湾省台北市中正区1号", "台湾省", "台北市");
    check("澳门特别行政区花地玛堂区1号", "澳门特别行政区", "");
    /* short forms: the province in full, the city as written */
    check("上海浦东新区世纪大道1号", "上海市", "上海市");
    check("广东深圳市南山区1号", "广东省", "深圳市");
    /* no city before the district: none */
    check("广东省南山区科技园路1号", "广东省", "");
}

static void address__with_spaces(void **state)
{
    (void)state;
    check("浙江省 杭州市 西湖区 文三路 1 号", "浙江省", "杭州市");
    check("上海 上海市 浦东新区 世纪大道1号", "上海市", "上海市");
    check("北京 北京市 海淀区 中关村大街5号", "北京市", "北京市");
    check("内蒙古 呼和浩特市 新城区 1号", "内蒙古自治区", "呼和浩特市");
    check("湖北省 省直辖县级行政区划 仙桃市 1号", "湖北省", "省直辖县级行政区划");
    check("  广西壮族自治区南宁市青秀区1号", "广西壮族自治区", "南宁市");
}

static void address__not_starting_with_a_province(void **state)
{
    (void)state;
    const char *p = "x", *c = "y";
    size_t cl = 7;
    const char *const bad[] = {"", "中关村大街1号", "海外 新加坡 1号", "12 Main St",
                               "吉林市船营区"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hk_region_from_address(bad[i], strlen(bad[i]), &p, &c, &cl));
    assert_string_equal(p, "x"); /* untouched */
    assert_int_equal(cl, 7);
    assert_false(hk_region_from_address(NULL, 0, &p, &c, &cl));
}

static void province__canonical_full_name(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"上海", "上海市"},
        {"上海市", "上海市"},
        {"北京", "北京市"},
        {"广东", "广东省"},
        {"广东省", "广东省"},
        {"内蒙古", "内蒙古自治区"},
        {"广西", "广西壮族自治区"},
        {"广西自治区", "广西壮族自治区"},
        {"新疆", "新疆维吾尔自治区"},
        {"宁夏", "宁夏回族自治区"},
        {"西藏", "西藏自治区"},
        {"香港", "香港特别行政区"},
        {"香港特区", "香港特别行政区"},
        {"澳门", "澳门特别行政区"},
        {"台湾", "台湾省"},
        {" 黑龙江 ", "黑龙江省"},
        /* the full names cut before 自治区, as older address splits stored them */
        {"广西壮族", "广西壮族自治区"},
        {"宁夏回族", "宁夏回族自治区"},
        {"新疆维吾尔", "新疆维吾尔自治区"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = hk_region_province_canonical(cases[i][0], strlen(cases[i][0]));
        assert_non_null(c);
        assert_string_equal(c, cases[i][1]);
        assert_string_equal(hk_region_province_norm(cases[i][0]), cases[i][1]);
    }
    /* not a province: NULL, and norm keeps the text */
    const char *const other[] = {"", "海外", "上海市浦东新区", "吉林市", "Shanghai"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_null(hk_region_province_canonical(other[i], strlen(other[i])));
        assert_ptr_equal(hk_region_province_norm(other[i]), other[i]);
    }
    assert_null(hk_region_province_norm(NULL));
}

/* ---- the table look-up against the plain scan it replaced ---------------------------------- */

/* The province table and matching as they were before match_province compared first characters
 * (and lengths) instead of strlen + memcmp of every name: the reference for the test below. */
static const char *const REF[][2] = {
    {"北京市", "北京"},         {"天津市", "天津"},           {"上海市", "上海"},
    {"重庆市", "重庆"},         {"河北省", "河北"},           {"山西省", "山西"},
    {"辽宁省", "辽宁"},         {"吉林省", "吉林"},           {"黑龙江省", "黑龙江"},
    {"江苏省", "江苏"},         {"浙江省", "浙江"},           {"安徽省", "安徽"},
    {"福建省", "福建"},         {"江西省", "江西"},           {"山东省", "山东"},
    {"河南省", "河南"},         {"湖北省", "湖北"},           {"湖南省", "湖南"},
    {"广东省", "广东"},         {"海南省", "海南"},           {"四川省", "四川"},
    {"贵州省", "贵州"},         {"云南省", "云南"},           {"陕西省", "陕西"},
    {"甘肃省", "甘肃"},         {"青海省", "青海"},           {"台湾省", "台湾"},
    {"内蒙古自治区", "内蒙古"}, {"广西壮族自治区", "广西"},   {"西藏自治区", "西藏"},
    {"宁夏回族自治区", "宁夏"}, {"新疆维吾尔自治区", "新疆"}, {"香港特别行政区", "香港"},
    {"澳门特别行政区", "澳门"},
};
#define NREF (sizeof REF / sizeof REF[0])
static const char *const REF_SUFFIXES[] = {"自治区", "特别行政区", "特区",
                                           "壮族",   "回族",       "维吾尔"};

static bool ref_starts(const char *s, size_t len, const char *p, size_t *plen)
{
    size_t n = strlen(p);
    if (n > len || memcmp(s, p, n) != 0)
        return false;
    *plen = n;
    return true;
}

static const char *ref_canonical(const char *s, size_t len)
{
    size_t b = 0, e = len;
    for (;;) {
        if (b < len && (s[b] == ' ' || s[b] == '\t'))
            b++;
        else if (b + 3 <= len && memcmp(s + b, "\u3000", 3) == 0)
            b += 3;
        else
            break;
    }
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    s += b;
    len = e - b;
    for (size_t i = 0; i < NREF; i++) {
        size_t n, k;
        if (ref_starts(s, len, REF[i][0], &n))
            return n == len ? REF[i][0] : NULL;
        if (!ref_starts(s, len, REF[i][1], &n))
            continue;
        if (ref_starts(s + n, len - n, "市", &k))
            return NULL;
        size_t best = n;
        for (size_t j = 0; j < sizeof REF_SUFFIXES / sizeof REF_SUFFIXES[0]; j++)
            if (ref_starts(s + n, len - n, REF_SUFFIXES[j], &k) && n + k > best)
                best = n + k;
        return best == len ? REF[i][0] : NULL;
    }
    return NULL;
}

/* Every byte prefix of s, and s with each tail, against the reference (same answer, and the
 * same canonical string). */
static void same_as_reference(const char *s)
{
    static const char *const tails[] = {"",     " ",      "\t",         "\u3000", "市",
                                        "省",   "自治区", "特别行政区", "特区",   "壮族",
                                        "回族", "维吾尔", "x",          "南京市", "\xe5"};
    char buf[160];
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        int n = snprintf(buf, sizeof buf, "%s%s", s, tails[t]);
        assert_true(n >= 0 && (size_t)n < sizeof buf);
        for (size_t len = 0; len <= (size_t)n; len++) {
            const char *got = hk_region_province_canonical(buf, len);
            const char *want = ref_canonical(buf, len);
            if (want)
                assert_string_equal(got ? got : "(null)", want);
            else
                assert_null(got);
        }
        const char *want = ref_canonical(buf, (size_t)n);
        assert_string_equal(hk_region_province_norm(buf), want ? want : buf);
    }
}

static void province__table_lookup_answers_as_the_plain_scan(void **state)
{
    (void)state;
    char buf[128];
    for (size_t i = 0; i < NREF; i++) {
        /* what the first-character test relies on */
        assert_true(strncmp(REF[i][0], REF[i][1], strlen(REF[i][1])) == 0);
        assert_true(strlen(REF[i][1]) >= 6);
        same_as_reference(REF[i][0]);
        same_as_reference(REF[i][1]);
        snprintf(buf, sizeof buf, "  %s", REF[i][1]);
        same_as_reference(buf);
        snprintf(buf, sizeof buf, "\u3000%s", REF[i][0]);
        same_as_reference(buf);
        for (size_t j = 0; j < sizeof REF_SUFFIXES / sizeof REF_SUFFIXES[0]; j++) {
            snprintf(buf, sizeof buf, "%s%s", REF[i][1], REF_SUFFIXES[j]);
            same_as_reference(buf);
        }
        /* the first character of one province with the rest of another */
        for (size_t k = 0; k < NREF; k++) {
            snprintf(buf, sizeof buf, "%.3s%s", REF[i][1], REF[k][1] + 3);
            same_as_reference(buf);
        }
    }
    const char *const other[] = {"", "海外", "吉林市", "Shanghai", "山", "江", "\u3000", "  "};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        same_as_reference(other[i]);
    /* the canonical strings themselves come back as they are (the readers store those) */
    for (size_t i = 0; i < NREF; i++) {
        const char *c = hk_region_province_canonical(REF[i][0], strlen(REF[i][0]));
        assert_non_null(c);
        assert_ptr_equal(hk_region_province_norm(c), c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address__without_spaces),
        cmocka_unit_test(address__with_spaces),
        cmocka_unit_test(address__not_starting_with_a_province),
        cmocka_unit_test(province__canonical_full_name),
        cmocka_unit_test(province__table_lookup_answers_as_the_plain_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
