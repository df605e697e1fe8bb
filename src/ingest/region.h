/*
 * Chinese province-level regions: one canonical full name per province (上海市, 广东省,
 * 内蒙古自治区, 香港特别行政区, …) and the province and city at the start of an address, written
 * with or without spaces ("浙江省 杭州市 西湖区 …", "广东省深圳市南山区…", "上海 上海市 浦东新区
 * …").
 */
#ifndef HK_INGEST_REGION_H
#define HK_INGEST_REGION_H

#include <stdbool.h>
#include <stddef.h>

/**
 * The canonical full name of the province-level region s[0..len) names, in full ("广西壮族自治区")
 * or short ("广西", "上海", "内蒙古") form, surrounding spaces ignored; NULL if it names none.
 * The result is a static string.
 */
const char *hk_region_province_canonical(const char *s, size_t len);

/** s (NUL-terminated) in canonical form if it names a province, else s itself (NULL stays NULL). */
const char *hk_region_province_norm(const char *s);

/**
 * Province and city from the start of addr[0..len). On success *province is the canonical full
 * name (static); *city and *city_len give the city within addr (地级市, 自治州, 地区 or 盟) or, for
 * the four municipalities, the municipality's static name; *city_len is 0 when no city is found.
 * Returns false (outputs untouched) when the address does not start with a province name.
 */
bool hk_region_from_address(const char *addr, size_t len, const char **province, const char **city,
                            size_t *city_len);

#endif
