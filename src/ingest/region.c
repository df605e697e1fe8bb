/* Province-level names and the province/city at the start of an address (see region.h). */
#include "ingest/region.h"

#include <string.h>

struct province {
    const char *full;                  /* the official full name: the canonical form */
    const char *short_;                /* the short form sellers and marketplaces write */
    unsigned char full_len, short_len; /* bytes, so matching needs no strlen */
    bool municipality;                 /* 直辖市: the city is the province itself */
};

/* The two spellings and their lengths, for an initialiser. */
#define NAMES(full, short_) full, short_, sizeof(full) - 1, sizeof(short_) - 1

/*
 * No short form is a prefix of another province's name, so the order does not matter. Every
 * short form is a prefix of its full name, so both start with the same first character (three
 * bytes of UTF-8): match_province compares those first and skips the other 33 provinces with one
 * comparison each (test_region checks both facts and the answers against the plain scan).
 */
static const struct province PROVINCES[] = {
    {NAMES("北京市", "北京"), true},          {NAMES("天津市", "天津"), true},
    {NAMES("上海市", "上海"), true},          {NAMES("重庆市", "重庆"), true},
    {NAMES("河北省", "河北"), false},         {NAMES("山西省", "山西"), false},
    {NAMES("辽宁省", "辽宁"), false},         {NAMES("吉林省", "吉林"), false},
    {NAMES("黑龙江省", "黑龙江"), false},     {NAMES("江苏省", "江苏"), false},
    {NAMES("浙江省", "浙江"), false},         {NAMES("安徽省", "安徽"), false},
    {NAMES("福建省", "福建"), false},         {NAMES("江西省", "江西"), false},
    {NAMES("山东省", "山东"), false},         {NAMES("河南省", "河南"), false},
    {NAMES("湖北省", "湖北"), false},         {NAMES("湖南省", "湖南"), false},
    {NAMES("广东省", "广东"), false},         {NAMES("海南省", "海南"), false},
    {NAMES("四川省", "四川"), false},         {NAMES("贵州省", "贵州"), false},
    {NAMES("云南省", "云南"), false},         {NAMES("陕西省", "陕西"), false},
    {NAMES("甘肃省", "甘肃"), false},         {NAMES("青海省", "青海"), false},
    {NAMES("台湾省", "台湾"), false},         {NAMES("内蒙古自治区", "内蒙古"), false},
    {NAMES("广西壮族自治区", "广西"), false}, {NAMES("西藏自治区", "西藏"), false},
    {NAMES("宁夏回族自治区", "宁夏"), false}, {NAMES("新疆维吾尔自治区", "新疆"), false},
    {NAMES("香港特别行政区", "香港"), false}, {NAMES("澳门特别行政区", "澳门"), false},
};
#define NPROV (sizeof(PROVINCES) / sizeof(PROVINCES[0]))

/* Other spellings after a short form ("广西自治区", "香港特区", "广西壮族", "宁夏回族",
 * "新疆维吾尔", the full names cut before 自治区); 省 and 市 are in the full forms (and "吉林市" is
 * a city, not the province 吉林 + 市). */
static const char *const SUFFIXES[] = {"自治区", "特别行政区", "特区", "壮族", "回族", "维吾尔"};

static bool starts(const char *s, size_t len, const char *p, size_t *plen)
{
    size_t n = strlen(p);
    if (n > len || memcmp(s, p, n) != 0)
        return false;
    *plen = n;
    return true;
}

/* Spaces: ASCII space and tab, U+3000. */
static size_t skip_spaces(const char *s, size_t len, size_t i)
{
    for (;;) {
        if (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        else if (i + 3 <= len && memcmp(s + i, "\u3000", 3) == 0)
            i += 3;
        else
            return i;
    }
}

/* The province s starts with and its length in s (the longest spelling that matches). */
static const struct province *match_province(const char *s, size_t len, size_t *mlen)
{
    if (len < 3)
        return NULL; /* every name starts with a 3-byte character */
    for (size_t i = 0; i < NPROV; i++) {
        const struct province *p = &PROVINCES[i];
        if (memcmp(s, p->full, 3) != 0) /* the first character, shared by both forms */
            continue;
        size_t n = p->full_len;
        if (n <= len && memcmp(s, p->full, n) == 0) {
            *mlen = n;
            return p;
        }
        n = p->short_len;
        if (n > len || memcmp(s, p->short_, n) != 0)
            continue;
        size_t k;
        if (starts(s + n, len - n, "市", &k)) /* "吉林市…": the city, not the province */
            return NULL;
        size_t best = n;
        for (size_t j = 0; j < sizeof(SUFFIXES) / sizeof(SUFFIXES[0]); j++)
            if (starts(s + n, len - n, SUFFIXES[j], &k) && n + k > best)
                best = n + k;
        *mlen = best;
        return p;
    }
    return NULL;
}

const char *hk_region_province_canonical(const char *s, size_t len)
{
    if (!s)
        return NULL;
    size_t b = skip_spaces(s, len, 0), e = len;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    size_t n;
    const struct province *p = match_province(s + b, e - b, &n);
    return p && n == e - b ? p->full : NULL;
}

const char *hk_region_province_norm(const char *s)
{
    /* The readers store canonical names as the table's own strings: no need to look again. */
    for (size_t i = 0; s && i < NPROV; i++)
        if (s == PROVINCES[i].full)
            return s;
    const char *c = s ? hk_region_province_canonical(s, strlen(s)) : NULL;
    return c ? c : s;
}

/* City suffixes; the city is the shortest run of 2..MAX_CITY characters ending in one. */
static const char *const CITY_SUFFIXES[] = {"市", "自治州", "地区", "盟"};
#define MAX_CITY_BYTES 48 /* 16 CJK characters: "克孜勒苏柯尔克孜自治州" is 11 */

/* Characters that end a search for the city: county-level and street-level words, spaces. */
static bool city_stop(const char *s, size_t len)
{
    static const char *const STOP[] = {"区", "县", "旗", "街", "路", "号", " ", "\t"};
    size_t n;
    for (size_t i = 0; i < sizeof(STOP) / sizeof(STOP[0]); i++)
        if (starts(s, len, STOP[i], &n))
            return true;
    return false;
}

/* Bytes in the UTF-8 character that starts with c (1 for anything malformed). */
static size_t u8len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

bool hk_region_from_address(const char *addr, size_t len, const char **province, const char **city,
                            size_t *city_len)
{
    if (!addr)
        return false;
    size_t i = skip_spaces(addr, len, 0), n;
    const struct province *p = match_province(addr + i, len - i, &n);
    if (!p)
        return false;
    size_t after = i + n;
    i = skip_spaces(addr, len, after);
    *province = p->full;
    if (p->municipality) {
        *city = p->full;
        *city_len = p->full_len;
        return true;
    }
    /* "湖北省 省直辖县级行政区划 仙桃市": with spaces the next part is the city, as written */
    if (i > after) {
        const char *sp = memchr(addr + i, ' ', len - i);
        if (sp && sp > addr + i && (size_t)(sp - (addr + i)) <= MAX_CITY_BYTES) {
            *city = addr + i;
            *city_len = (size_t)(sp - (addr + i));
            return true;
        }
    }
    /* the city: up to and including the first city suffix, not crossing a county or street word */
    size_t chars = 0;
    for (size_t j = i; j < len && j - i <= MAX_CITY_BYTES;) {
        for (size_t k = 0; chars >= 2 && k < sizeof(CITY_SUFFIXES) / sizeof(CITY_SUFFIXES[0]);
             k++) {
            size_t m;
            if (starts(addr + j, len - j, CITY_SUFFIXES[k], &m)) {
                *city = addr + i;
                *city_len = j + m - i;
                return true;
            }
        }
        if (city_stop(addr + j, len - j))
            break;
        j += u8len((unsigned char)addr[j]);
        chars++;
    }
    *city = addr + i;
    *city_len = 0;
    return true;
}
