/*
 * demo.c — the demo shop generator and its import (see demo.h for what the data looks like).
 *
 * Design
 *   One pass, one customer at a time: draw the person (region, phone, main category, channel or
 *   two, number of orders), draw the days of their orders from the seasonal day distribution,
 *   then write each order's lines, and (when asked) the events around them to a second file;
 *   after the buyers, the browsers who never order. Nothing is kept between customers except a
 *   few counters, so memory is flat in the number of customers and 20,000 customers take a
 *   fraction of a second to write; the import and the event ingest are what take the time.
 *   hk_demo_run reads the events back in batches of 1,000 for hk_ingest_events once the orders
 *   are imported, so every event finds its customer by the (channel, buyer_id) account the
 *   orders created.
 *
 *   Randomness: xoshiro256** seeded through splitmix64 from the seed — no libc rand(), no
 *   global state, the same stream on every platform. Identifiers that must be unique (order
 *   numbers, buyer ids, nicknames, phone numbers) are not random: they come from the customer
 *   or order counter through a bijection (multiplication by a number prime to the modulus), so
 *   they look scattered but never collide.
 *
 *   Time: the seller is in China (UTC+8, no daylight saving), so the generator works in local
 *   days of a fixed +08:00 offset and writes every time with "+08:00". Day d of the history
 *   (0 = 729 days before today, 729 = today) has a weight (growth, weekday, festivals); orders
 *   are placed on days drawn by those weights and at hours drawn by an evening-heavy profile,
 *   never after now.
 *
 * Invariants: the output is a pure function of (customers, seed, now); each order's lines are
 * consecutive; an order's paid amount is the sum of its lines' and never negative; unique keys
 * are unique (see above).
 *
 * Threads: no shared state; hk_demo_run uses the store like any importer.
 */
#include "services/demo.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/jsontext.h"
#include "core/strbuf.h"
#include "core/tz.h"
#include "core/util.h"
#include "ingest/events.h"
#include "ingest/import.h"
#include "services/app.h"
#include "store/store.h"

#define N_OF(a)      (sizeof(a) / sizeof((a)[0]))
#define LOCAL_OFFSET (8 * 3600) /* China Standard Time; no daylight saving */
#define DAY_S        86400

/* ---- random numbers ----------------------------------------------------------------------- */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n > 0. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(rng_unit(r) * (double)n) % n;
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

static bool rng_chance(struct rng *r, double p)
{
    return rng_unit(r) < p;
}

/* An index drawn by integer weights. */
static size_t rng_weighted(struct rng *r, const int *w, size_t n)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    int64_t x = (int64_t)rng_below(r, (uint64_t)total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

/* a * b mod m without overflow, for m < 2^63. */
static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m)
{
    uint64_t r = 0;
    a %= m;
    for (; b > 0; b >>= 1) {
        if (b & 1)
            r = r >= m - a ? r - (m - a) : r + a;
        a = a >= m - a ? a - (m - a) : a + a;
    }
    return r;
}

/*
 * A bijection of [0, mod) that scatters consecutive k over the whole range: (k + salt) times a
 * multiplier near mod / golden ratio, prime to mod (mod is a power of ten or a prime), mod mod.
 */
static uint64_t scatter(uint64_t k, uint64_t salt, uint64_t mod)
{
    uint64_t a = (uint64_t)((double)mod * 0.6180339887498949) | 1u;
    while (a % 5 == 0 || a >= mod)
        a = a >= mod ? 1 : a + 2;
    return mulmod((k + salt) % mod, a, mod);
}

/* ---- the shop ----------------------------------------------------------------------------- */

enum channel { CH_TAOBAO, CH_TMALL, CH_JD, CH_PDD, CH_DOUYIN, CH_WECHAT, CH_POS, CH_COUNT };

static const struct {
    const char *name;
    int weight;         /* share of customers whose first channel it is */
    int price_pct;      /* price level against the list price */
    double repeat_tail; /* Pareto exponent of the order count: larger = fewer repeats */
} CHANNELS[CH_COUNT] = {
    [CH_TAOBAO] = {"taobao", 24, 100, 1.5}, [CH_TMALL] = {"tmall", 16, 100, 1.5},
    [CH_JD] = {"jd", 13, 98, 1.55},         [CH_PDD] = {"pdd", 16, 85, 1.9},
    [CH_DOUYIN] = {"douyin", 16, 92, 1.7},  [CH_WECHAT] = {"wechat", 10, 95, 1.25},
    [CH_POS] = {"pos", 4, 100, 1.45},
};

static const struct {
    enum channel channel;
    const char *name;
    const char *code;   /* in order numbers (pos) */
    int province, city; /* stores: where their customers live; -1 elsewhere */
    int weight;         /* among the shops of its channel */
} SHOPS[] = {
    {CH_TAOBAO, "暖阳小铺", "", -1, -1, 1},
    {CH_TMALL, "暖阳旗舰店", "", -1, -1, 1},
    {CH_JD, "暖阳京东旗舰店", "", -1, -1, 1},
    {CH_PDD, "暖阳优选", "", -1, -1, 1},
    {CH_DOUYIN, "暖阳抖音小店", "", -1, -1, 1},
    {CH_WECHAT, "暖阳微信商城", "", -1, -1, 1},
    {CH_POS, "暖阳杭州湖滨银泰店", "HZ01", 1, 0, 3},   /* 浙江省 杭州市 */
    {CH_POS, "暖阳上海静安大悦城店", "SH01", 6, 0, 2}, /* 上海市 */
};

/* Provinces weighted (per mille) as online shoppers are; up to four cities each. */
static const struct {
    const char *name;
    int weight;
    const char *cities[4];
    int city_w[4];
} REGIONS[] = {
    {"广东省", 118, {"广州市", "深圳市", "东莞市", "佛山市"}, {30, 32, 14, 12}},
    {"浙江省", 92, {"杭州市", "宁波市", "温州市", "金华市"}, {40, 20, 18, 12}},
    {"江苏省", 90, {"苏州市", "南京市", "无锡市", "常州市"}, {30, 25, 15, 10}},
    {"山东省", 65, {"青岛市", "济南市", "烟台市", "潍坊市"}, {35, 25, 15, 15}},
    {"河南省", 52, {"郑州市", "洛阳市", "南阳市", "新乡市"}, {50, 15, 10, 10}},
    {"四川省", 50, {"成都市", "绵阳市", "德阳市", "宜宾市"}, {70, 10, 8, 7}},
    {"上海市", 55, {"上海市"}, {1}},
    {"北京市", 50, {"北京市"}, {1}},
    {"湖北省", 40, {"武汉市", "宜昌市", "襄阳市", "荆州市"}, {60, 12, 12, 8}},
    {"福建省", 40, {"厦门市", "福州市", "泉州市", "漳州市"}, {30, 30, 25, 10}},
    {"湖南省", 38, {"长沙市", "株洲市", "衡阳市", "岳阳市"}, {50, 12, 12, 10}},
    {"河北省", 38, {"石家庄市", "保定市", "唐山市", "廊坊市"}, {30, 20, 20, 15}},
    {"安徽省", 34, {"合肥市", "芜湖市", "阜阳市", "蚌埠市"}, {50, 15, 12, 10}},
    {"陕西省", 25, {"西安市", "咸阳市", "宝鸡市"}, {75, 10, 8}},
    {"辽宁省", 25, {"沈阳市", "大连市", "鞍山市"}, {40, 40, 10}},
    {"重庆市", 25, {"重庆市"}, {1}},
    {"江西省", 20, {"南昌市", "赣州市", "九江市"}, {45, 20, 15}},
    {"广西壮族自治区", 20, {"南宁市", "柳州市", "桂林市"}, {40, 20, 20}},
    {"云南省", 20, {"昆明市", "曲靖市", "大理白族自治州"}, {60, 12, 10}},
    {"天津市", 15, {"天津市"}, {1}},
    {"山西省", 15, {"太原市", "大同市", "运城市"}, {50, 15, 12}},
    {"黑龙江省", 14, {"哈尔滨市", "大庆市", "齐齐哈尔市"}, {60, 15, 12}},
    {"贵州省", 14, {"贵阳市", "遵义市"}, {55, 25}},
    {"吉林省", 10, {"长春市", "吉林市"}, {55, 25}},
    {"内蒙古自治区", 9, {"呼和浩特市", "包头市", "鄂尔多斯市"}, {40, 35, 20}},
    {"新疆维吾尔自治区", 9, {"乌鲁木齐市", "昌吉回族自治州"}, {70, 10}},
    {"甘肃省", 8, {"兰州市", "天水市"}, {70, 10}},
    {"海南省", 8, {"海口市", "三亚市"}, {60, 35}},
    {"宁夏回族自治区", 4, {"银川市"}, {1}},
    {"青海省", 3, {"西宁市"}, {1}},
    {"西藏自治区", 2, {"拉萨市"}, {1}},
};

enum category { CAT_WOMEN, CAT_BEAUTY, CAT_BABY, CAT_FOOD, CAT_DIGITAL, CAT_HOME, CAT_CARE, CAT_N };

static const int CATEGORY_WEIGHT[CAT_N] = {22, 22, 14, 18, 9, 8, 7};
static const bool CATEGORY_CONSUMABLE[CAT_N] = {false, false, true, true, false, false, true};

static const struct {
    enum category cat;
    const char *id;
    const char *title;
    const char *category;
    int64_t price_fen;
} PRODUCTS[] = {
    {CAT_WOMEN, "P1001", "暖阳 法式碎花连衣裙 夏季收腰显瘦中长裙", "女装/连衣裙", 25900},
    {CAT_WOMEN, "P1002", "暖阳 赫本风小黑裙 气质通勤连衣裙", "女装/连衣裙", 32900},
    {CAT_WOMEN, "P1003", "暖阳 针织吊带连衣裙两件套 温柔风", "女装/连衣裙", 19900},
    {CAT_WOMEN, "P1011", "暖阳 纯棉圆领短袖T恤 宽松百搭", "女装/T恤", 6900},
    {CAT_WOMEN, "P1012", "暖阳 长绒棉基础款T恤 三件装", "女装/T恤", 12900},
    {CAT_WOMEN, "P1021", "暖阳 羊毛混纺开衫 秋冬软糯针织外套", "女装/针织衫", 45900},
    {CAT_BEAUTY, "P2001", "暖阳 玻尿酸保湿面霜 50g 补水修护", "美妆/面霜", 18900},
    {CAT_BEAUTY, "P2002", "暖阳 视黄醇紧致晚霜 50g", "美妆/面霜", 39900},
    {CAT_BEAUTY, "P2011", "暖阳 丝绒哑光口红 豆沙色", "美妆/口红", 13900},
    {CAT_BEAUTY, "P2012", "暖阳 水光唇釉 三支装礼盒", "美妆/口红", 29900},
    {CAT_BEAUTY, "P2021", "暖阳 烟酰胺焕亮精华液 30ml", "美妆/精华", 25900},
    {CAT_BEAUTY, "P2031", "暖阳 氨基酸洁面乳 120g", "美妆/洁面", 7900},
    {CAT_BABY, "P3001", "暖阳 婴儿纸尿裤 L码 58片 超薄透气", "母婴/纸尿裤", 11900},
    {CAT_BABY, "P3002", "暖阳 拉拉裤 XL码 42片", "母婴/纸尿裤", 10900},
    {CAT_BABY, "P3011", "暖阳 婴幼儿配方奶粉 3段 800g", "母婴/奶粉", 29800},
    {CAT_BABY, "P3021", "暖阳 婴儿手口湿巾 80抽×6包", "母婴/湿巾", 4990},
    {CAT_FOOD, "P4001", "暖阳 每日坚果 750g/30袋 混合果仁", "食品/坚果", 8990},
    {CAT_FOOD, "P4002", "暖阳 坚果大礼包 1.5kg 年货送礼", "食品/坚果", 16800},
    {CAT_FOOD, "P4003", "暖阳 奶油碧根果 500g", "食品/坚果", 4580},
    {CAT_FOOD, "P4011", "暖阳 明前龙井 特级 250g 礼盒", "食品/茶叶", 36800},
    {CAT_FOOD, "P4021", "暖阳 手撕风干牛肉干 500g", "食品/零食", 7900},
    {CAT_DIGITAL, "P5001", "暖阳 主动降噪真无线蓝牙耳机", "数码/耳机", 39900},
    {CAT_DIGITAL, "P5002", "暖阳 运动挂耳式蓝牙耳机", "数码/耳机", 15900},
    {CAT_DIGITAL, "P5011", "暖阳 20000mAh 快充移动电源", "数码/充电宝", 12900},
    {CAT_DIGITAL, "P5021", "暖阳 65W 氮化镓充电器 三口", "数码/充电器", 9900},
    {CAT_HOME, "P6001", "暖阳 全棉四件套 1.8m床 简约纯色", "家居/四件套", 45900},
    {CAT_HOME, "P6002", "暖阳 60支长绒棉四件套 1.5m床", "家居/四件套", 69900},
    {CAT_HOME, "P6011", "暖阳 可折叠收纳箱 三只装", "家居/收纳", 5990},
    {CAT_CARE, "P7001", "暖阳 氨基酸无硅油洗发水 500ml", "个护/洗发水", 6900},
    {CAT_CARE, "P7002", "暖阳 香氛沐浴露 750ml 持久留香", "个护/沐浴露", 5900},
    {CAT_CARE, "P7011", "暖阳 软毛护龈牙刷 6支装", "个护/口腔", 3990},
};

static const char *const NICK_HEAD[] = {
    "小",     "阿",   "大",   "爱吃", "快乐的", "懒懒的", "晴天", "微笑", "追风的", "温柔的",
    "安静的", "星星", "月亮", "甜甜", "可乐",   "奶茶",   "柠檬", "橘子", "桃子",   "向日葵",
    "Coco",   "Lily", "Amy",  "Tina", "夏天的", "南风",   "北北", "一只", "超级",   "迷糊的"};
static const char *const NICK_CORE[] = {
    "鱼",   "猫",   "兔",   "熊",   "鹿",   "羊",   "喵",   "叮当", "豆豆", "糖糖",
    "乐乐", "贝贝", "佳佳", "婷婷", "莉莉", "晓燕", "丽娜", "小米", "芒果", "西瓜",
    "奶盖", "布丁", "团子", "饺子", "包子", "丸子", "果冻", "栗子", "云朵", "少女"};
static const char *const NICK_TAIL[] = {"", "", "", "妈妈", "宝贝", "酱", "呀", "同学", "本人"};
static const char *const SURNAMES[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴",
                                       "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林"};
static const char *const PHONE_PREFIX[] = {"130", "131", "132", "133", "135", "136", "137", "138",
                                           "139", "150", "151", "152", "155", "156", "157", "158",
                                           "159", "166", "176", "177", "178", "180", "181", "182",
                                           "183", "185", "186", "187", "188", "189", "198", "199"};

/* Lunar New Year's Day (local), for the Spring Festival lull: {year, month, day}. */
static const int SPRING_FESTIVAL[][3] = {
    {2019, 2, 5},  {2020, 1, 25}, {2021, 2, 12}, {2022, 2, 1},  {2023, 1, 22}, {2024, 2, 10},
    {2025, 1, 29}, {2026, 2, 17}, {2027, 2, 6},  {2028, 1, 26}, {2029, 2, 13}, {2030, 2, 3},
    {2031, 1, 23}, {2032, 2, 11}, {2033, 1, 31}, {2034, 2, 19}, {2035, 2, 8},
};

/* Hour-of-day profile (local): quiet nights, evening peak. */
static const int HOUR_WEIGHT[24] = {3, 2, 1, 1, 1, 1, 2, 3, 5,  6,  7,  7,
                                    6, 7, 7, 6, 6, 6, 7, 8, 10, 12, 12, 8};

/* ---- the calendar ------------------------------------------------------------------------- */

struct calendar {
    int32_t first_day; /* local day number of day 0 */
    int64_t now;
    double cum[HK_DEMO_DAYS];         /* cumulative day weights */
    bool peak_midnight[HK_DEMO_DAYS]; /* 11.11 and 6.18: the rush starts at midnight */
};

static int32_t local_day(int64_t t)
{
    int64_t l = t + LOCAL_OFFSET;
    return (int32_t)(l >= 0 ? l / DAY_S : -((-l + DAY_S - 1) / DAY_S));
}

static double day_weight(int32_t day, double growth, bool *midnight)
{
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    double w = 0.7 + growth;
    int weekday = (int)(((int64_t)day % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday; 0 = Sun */
    if (weekday == 0 || weekday == 6)
        w *= 1.12;
    *midnight = (m == 11 && d == 11) || (m == 6 && d == 18);
    if (m == 11 && d == 11)
        w *= 14.0;
    else if (m == 11 && d <= 3)
        w *= 2.2; /* the first wave of 双11 */
    else if (m == 11 && d <= 10)
        w *= 1.6;
    else if (m == 11 && d <= 13)
        w *= 1.4;
    else if (m == 10 && d >= 20)
        w *= 1.3; /* pre-sales */
    else if (m == 6 && d == 18)
        w *= 6.0;
    else if (m == 6 && d <= 17)
        w *= 1.5;
    else if (m == 6 && d <= 20)
        w *= 1.2;
    else if (m == 12 && d == 12)
        w *= 3.0;
    else if (m == 3 && d == 8)
        w *= 2.2;
    else if (m == 3 && d == 7)
        w *= 1.5;
    else if (m == 7 || m == 8)
        w *= 0.9;
    for (size_t i = 0; i < N_OF(SPRING_FESTIVAL); i++) {
        int32_t sf =
            hk_days_from_civil(SPRING_FESTIVAL[i][0], SPRING_FESTIVAL[i][1], SPRING_FESTIVAL[i][2]);
        if (day >= sf - 7 && day <= sf + 7)
            w *= 0.45; /* couriers stop; people travel home */
        else if (day >= sf - 25 && day < sf - 7)
            w *= 1.25; /* 年货节: buying for the holiday */
    }
    return w;
}

static void calendar_init(struct calendar *c, int64_t now)
{
    c->now = now;
    c->first_day = local_day(now) - (HK_DEMO_DAYS - 1);
    double sum = 0;
    for (int i = 0; i < HK_DEMO_DAYS; i++) {
        double w = day_weight(c->first_day + i, 0.6 * i / HK_DEMO_DAYS, &c->peak_midnight[i]);
        if (i == HK_DEMO_DAYS - 1) /* today: only the part of it that has passed */
            w *= (double)(now - ((int64_t)c->first_day + i) * DAY_S + LOCAL_OFFSET) / DAY_S;
        sum += w;
        c->cum[i] = sum;
    }
}

/* A day index in [lo, hi) drawn by the day weights. */
static int calendar_day(const struct calendar *c, struct rng *r, int lo, int hi)
{
    double a = lo > 0 ? c->cum[lo - 1] : 0, b = c->cum[hi - 1];
    double x = a + rng_unit(r) * (b - a);
    int l = lo, h = hi - 1;
    while (l < h) {
        int mid = (l + h) / 2;
        if (c->cum[mid] > x)
            h = mid;
        else
            l = mid + 1;
    }
    return l;
}

/* A moment on day index i, at an hour drawn by the profile, never after now. */
static int64_t calendar_time(const struct calendar *c, struct rng *r, int i)
{
    int w[24];
    memcpy(w, HOUR_WEIGHT, sizeof w);
    if (c->peak_midnight[i]) {
        w[0] *= 12;
        w[1] *= 4;
    }
    int64_t start = (int64_t)(c->first_day + i) * DAY_S - LOCAL_OFFSET;
    int64_t t = start + (int64_t)rng_weighted(r, w, 24) * 3600 + rng_range(r, 0, 3599);
    if (t > c->now)
        t = start + rng_range(r, 0, c->now - start);
    return t;
}

static void format_time(int64_t t, char *buf, size_t size)
{
    if (t <= 0) {
        buf[0] = '\0';
        return;
    }
    int64_t l = t + LOCAL_OFFSET;
    int32_t day = local_day(t);
    int64_t sec = l - (int64_t)day * DAY_S;
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d+08:00", y, m, d, (int)(sec / 3600),
             (int)(sec / 60 % 60), (int)(sec % 60));
}

static void format_yuan(int64_t fen, char *buf, size_t size)
{
    snprintf(buf, size, "%lld.%02lld", (long long)(fen / 100), (long long)(fen % 100));
}

/* ---- people ------------------------------------------------------------------------------- */

struct person {
    int64_t idx;
    int shop, second_shop; /* SHOPS indexes; second_shop -1 when one channel */
    int province, city;
    enum category main_cat;
    int orders;
    char phone[16]; /* "" when the buyer left none */
    bool phone_masked_on_marketplaces;
    char nick[96]; /* Chinese nickname (unique: it is the Taobao account name) */
    char name[16]; /* surname + 先生/女士, for the stores */
};

struct gen {
    FILE *out;
    struct rng rng;
    uint64_t salt;
    uint64_t nick_mod; /* a prime >= 10 x customers, for unique nick tails */
    struct calendar cal;
    int64_t order_seq;
    struct hk_demo_stats *st;
    int io_error;
    /* events (see "events" below); ev NULL when none are written */
    FILE *ev;
    struct rng erng; /* the events' own stream: the orders do not depend on the events */
    uint64_t seed;
    int64_t ev_seq;
    struct hk_strbuf props; /* the properties of the event being written */
};

static int channel_of_shop(int shop)
{
    return (int)SHOPS[shop].channel;
}

static int pick_shop(struct rng *r, int exclude_channel)
{
    int w[CH_COUNT];
    for (int c = 0; c < CH_COUNT; c++)
        w[c] = c == exclude_channel ? 0 : CHANNELS[c].weight;
    int ch = (int)rng_weighted(r, w, CH_COUNT);
    int sw[N_OF(SHOPS)];
    for (size_t s = 0; s < N_OF(SHOPS); s++)
        sw[s] = (int)SHOPS[s].channel == ch ? SHOPS[s].weight : 0;
    return (int)rng_weighted(r, sw, N_OF(SHOPS));
}

static void make_person(struct gen *g, int64_t idx, struct person *p)
{
    struct rng *r = &g->rng;
    memset(p, 0, sizeof *p);
    p->idx = idx;
    p->shop = pick_shop(r, -1);
    p->second_shop = -1;
    int ch = channel_of_shop(p->shop);

    if (SHOPS[p->shop].province >= 0) { /* store customers live near the store */
        p->province = SHOPS[p->shop].province;
        p->city = SHOPS[p->shop].city;
    } else {
        int pw[N_OF(REGIONS)];
        for (size_t i = 0; i < N_OF(REGIONS); i++)
            pw[i] = REGIONS[i].weight;
        p->province = (int)rng_weighted(r, pw, N_OF(REGIONS));
        p->city = (int)rng_weighted(r, REGIONS[p->province].city_w, 4);
    }
    p->main_cat = (enum category)rng_weighted(r, CATEGORY_WEIGHT, CAT_N);

    /* Order count: Pareto tail, P(n >= k) = k^-alpha, at most 60. */
    double u = 1.0 - rng_unit(r); /* (0, 1] */
    double n = floor(pow(u, -1.0 / CHANNELS[ch].repeat_tail));
    p->orders = n > 60 ? (int)rng_range(r, 30, 60) : (int)n; /* the very few beyond: spread */
    if (p->orders >= 2 && rng_chance(r, 0.12))
        p->second_shop = pick_shop(r, ch);

    /* Phone: most buyers leave one; pdd and douyin exports mask some. */
    double ph = rng_unit(r);
    if (ph < 0.88 || p->second_shop >= 0) {
        snprintf(p->phone, sizeof p->phone, "%s%08llu",
                 PHONE_PREFIX[rng_below(r, N_OF(PHONE_PREFIX))],
                 (unsigned long long)scatter((uint64_t)idx, g->salt, 100000000u));
        p->phone_masked_on_marketplaces = rng_chance(r, 0.35);
    }
    snprintf(p->nick, sizeof p->nick, "%s%s%s%llu", NICK_HEAD[rng_below(r, N_OF(NICK_HEAD))],
             NICK_CORE[rng_below(r, N_OF(NICK_CORE))], NICK_TAIL[rng_below(r, N_OF(NICK_TAIL))],
             (unsigned long long)scatter((uint64_t)idx, g->salt >> 8, g->nick_mod));
    snprintf(p->name, sizeof p->name, "%s%s", SURNAMES[rng_below(r, N_OF(SURNAMES))],
             rng_chance(r, 0.7) ? "女士" : "先生");
}

/* The buyer's account id and nickname on a channel. */
static void buyer_on(const struct gen *g, const struct person *p, int ch, char *id, size_t id_size,
                     char *nick, size_t nick_size)
{
    uint64_t k = (uint64_t)p->idx;
    switch ((enum channel)ch) {
    case CH_TAOBAO:
    case CH_TMALL: /* one Taobao account serves both */
        snprintf(id, id_size, "%s", p->nick);
        snprintf(nick, nick_size, "%s", p->nick);
        return;
    case CH_JD:
        snprintf(id, id_size, "jd_%010llx",
                 (unsigned long long)((k * 0x9E3779B1u + g->salt) & 0xFFFFFFFFFFull));
        break;
    case CH_PDD:
        snprintf(id, id_size, "pdd%011llu",
                 (unsigned long long)scatter(k, g->salt, 100000000000ull));
        break;
    case CH_DOUYIN:
        snprintf(id, id_size, "1%015llu",
                 (unsigned long long)scatter(k, g->salt, 1000000000000000ull));
        break;
    case CH_WECHAT: {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint64_t a = k * 0x9E3779B97F4A7C15ull + g->salt; /* a bijection of k */
        uint64_t b = a ^ (a >> 29);
        char s[29];
        s[0] = 'o';
        for (int i = 1; i < 12; i++)
            s[i] = b64[(a >> ((i - 1) * 6)) & 63];
        for (int i = 12; i < 28; i++)
            s[i] = b64[(b * 0xBF58476D1CE4E5B9ull >> ((i - 12) * 4)) & 63];
        s[28] = '\0';
        snprintf(id, id_size, "%s", s);
        break;
    }
    case CH_POS:
        snprintf(id, id_size, "VIP%08llu", (unsigned long long)scatter(k, g->salt, 100000000u));
        snprintf(nick, nick_size, "%s", p->name);
        return;
    case CH_COUNT:
        break;
    }
    /* Marketplace nicknames are not unique; the account id is the identity. */
    snprintf(nick, nick_size, "%s", p->nick);
    size_t n = strlen(nick);
    while (n > 0 && nick[n - 1] >= '0' && nick[n - 1] <= '9')
        nick[--n] = '\0';
    if (ch == CH_DOUYIN && (k & 3) == 0)
        snprintf(nick, nick_size, "抖音用户%08llu",
                 (unsigned long long)scatter(k, g->salt >> 4, 100000000u));
}

/* An order number in the channel's style, unique per shop (from the order sequence). */
static void order_no(const struct gen *g, int shop, int64_t created, char *buf, size_t size)
{
    uint64_t k = (uint64_t)g->order_seq;
    char date[16];
    format_time(created, date, sizeof date); /* "YYYY-MM-DDT..." */
    char ymd[9] = {date[0], date[1], date[2], date[3], date[5], date[6], date[8], date[9], '\0'};
    switch (SHOPS[shop].channel) {
    case CH_TAOBAO:
    case CH_TMALL:
        snprintf(buf, size, "2456%014llu",
                 (unsigned long long)scatter(k, g->salt, 100000000000000ull));
        break;
    case CH_JD:
        snprintf(buf, size, "3%011llu", (unsigned long long)scatter(k, g->salt, 100000000000ull));
        break;
    case CH_PDD:
        snprintf(buf, size, "%s-%015llu", ymd + 2,
                 (unsigned long long)scatter(k, g->salt, 1000000000000000ull));
        break;
    case CH_DOUYIN:
        snprintf(buf, size, "69%017llu",
                 (unsigned long long)scatter(k, g->salt, 100000000000000000ull));
        break;
    case CH_WECHAT:
        snprintf(buf, size, "WX%s%08llu", ymd, (unsigned long long)scatter(k, g->salt, 100000000u));
        break;
    case CH_POS:
        snprintf(buf, size, "POS%s%s%08llu", SHOPS[shop].code, ymd,
                 (unsigned long long)scatter(k, g->salt, 100000000u));
        break;
    case CH_COUNT:
        break;
    }
}

/* ---- orders ------------------------------------------------------------------------------- */

struct line {
    int product;
    int quantity;
    int64_t unit_fen, paid_fen, refund_fen;
};

/* A product's price on a channel (the channel's price level, whole jiao). */
static int64_t unit_price(int prod, int ch)
{
    return PRODUCTS[prod].price_fen * CHANNELS[ch].price_pct / 100 / 10 * 10;
}

static int pick_product(struct rng *r, enum category main_cat)
{
    enum category cat =
        rng_chance(r, 0.7) ? main_cat : (enum category)rng_weighted(r, CATEGORY_WEIGHT, CAT_N);
    int w[N_OF(PRODUCTS)];
    for (size_t i = 0; i < N_OF(PRODUCTS); i++)
        w[i] = PRODUCTS[i].cat == cat ? 1 : 0;
    return (int)rng_weighted(r, w, N_OF(PRODUCTS));
}

/* The coupon of an order (code, discount) or none; total_fen is the goods total. */
static int64_t coupon_for(struct rng *r, int32_t day, int ch, bool first_order, int64_t total_fen,
                          char *code, size_t size)
{
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    code[0] = '\0';
    const char *season = NULL;
    if (m == 11 && d <= 11)
        season = "SHUANG11";
    else if (m == 6 && d <= 18)
        season = "618";
    else if (m == 12 && d == 12)
        season = "SHUANG12";
    int64_t off = 0;
    if (season && rng_chance(r, 0.6)) {
        if (total_fen >= 30000)
            off = 5000;
        else if (total_fen >= 10000)
            off = 1500;
        if (off)
            snprintf(code, size, "%s-%lld-%lld", season,
                     (long long)(total_fen >= 30000 ? 300 : 100), (long long)(off / 100));
    } else if (!season && rng_chance(r, 0.21)) {
        if (first_order && total_fen >= 5900) {
            off = 1000;
            snprintf(code, size, "NEW10");
        } else if (ch == CH_DOUYIN && total_fen >= 19900) {
            off = 2000;
            snprintf(code, size, "LIVE20");
        } else if ((ch == CH_WECHAT || ch == CH_POS) && total_fen >= 2000) {
            off = total_fen * 5 / 100;
            snprintf(code, size, "VIP95");
        } else if (total_fen >= 19900) {
            off = 2000;
            snprintf(code, size, "MAN199-20");
        } else if (total_fen >= 9900) {
            off = 1000;
            snprintf(code, size, "MAN99-10");
        }
    }
    if (off > total_fen * 4 / 10) { /* never more than 40% off */
        off = 0;
        code[0] = '\0';
    }
    return off;
}

static void put_row(struct gen *g, const char *no, const char *buyer_id, const char *nick,
                    const char *phone, const struct person *p, int shop, const char *status,
                    const int64_t times[4], const struct line *ln, const char *coupon)
{
    char t[4][32], unit[24], paid[24], refund[24];
    for (int i = 0; i < 4; i++)
        format_time(times[i], t[i], sizeof t[i]);
    format_yuan(ln->unit_fen, unit, sizeof unit);
    format_yuan(ln->paid_fen, paid, sizeof paid);
    if (ln->refund_fen > 0)
        format_yuan(ln->refund_fen, refund, sizeof refund);
    else
        refund[0] = '\0';
    const char *province = REGIONS[p->province].name;
    const char *city = REGIONS[p->province].cities[p->city];
    if (fprintf(g->out, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s\n", no,
                buyer_id, nick, phone, province, city, CHANNELS[SHOPS[shop].channel].name,
                SHOPS[shop].name, status, t[0], t[1], t[2], t[3], PRODUCTS[ln->product].id,
                PRODUCTS[ln->product].title, PRODUCTS[ln->product].category, ln->quantity, unit,
                paid, refund, coupon) < 0)
        g->io_error = errno ? errno : EIO;
    g->st->lines++;
}

/* ---- events ------------------------------------------------------------------------------- */

/*
 * Events are written while the orders are, one a line to g->ev, from their own random stream
 * (g->erng): type, time, shop index, buyer id, external id, properties, tab-separated (no field
 * holds a tab or a line break: ids and JSON text never do). Events later than now are dropped
 * (after their random draws, so the stream stays the same).
 */

enum ev_type {
    EV_BROWSE,
    EV_CART,
    EV_FAVOURITE,
    EV_COUPON_CLAIM,
    EV_REVIEW,
    EV_CHECK_IN,
    EV_SHARE,
    EV_LOGISTICS,
    EV_N
};

const char *const hk_demo_event_types[HK_DEMO_EVENT_TYPES] = {
    "browse", "cart",     "favourite", "coupon_claim",
    "review", "check_in", "share",     "logistics_update",
};

_Static_assert(EV_N == HK_DEMO_EVENT_TYPES, "hk_demo_event_types names every event type");

static const char *const CARRIERS[] = {"中通快递", "圆通速递", "韵达快递", "申通快递",
                                       "顺丰速运", "京东物流", "极兔速递", "邮政EMS"};

static void props_check(struct gen *g, int rc)
{
    if (rc < 0 && !g->io_error)
        g->io_error = ENOMEM;
}

static void props_begin(struct gen *g)
{
    hk_strbuf_reset(&g->props);
    props_check(g, hk_strbuf_addch(&g->props, '{'));
}

static void props_key(struct gen *g, const char *key)
{
    if (g->props.len > 1)
        props_check(g, hk_strbuf_addch(&g->props, ','));
    props_check(g, hk_json_text_key(&g->props, key));
}

static void props_str(struct gen *g, const char *key, const char *value)
{
    props_key(g, key);
    props_check(g, hk_json_text_string(&g->props, value, (size_t)-1));
}

static void props_int(struct gen *g, const char *key, int64_t value)
{
    props_key(g, key);
    props_check(g, hk_json_text_int(&g->props, value));
}

/* {"product_id", "title", "price"} of a product at the channel's price. */
static void props_product(struct gen *g, int prod, int ch)
{
    char price[24];
    format_yuan(unit_price(prod, ch), price, sizeof price);
    props_str(g, "product_id", PRODUCTS[prod].id);
    props_str(g, "title", PRODUCTS[prod].title);
    props_str(g, "price", price);
}

/* Writes the event whose properties are in g->props (closing them); dropped when after now. */
static void put_event(struct gen *g, enum ev_type type, int64_t at, int shop, const char *buyer_id)
{
    props_check(g, hk_strbuf_addch(&g->props, '}'));
    if (at > g->cal.now || at <= 0 || g->io_error)
        return;
    if (fprintf(g->ev, "%s\t%lld\t%d\t%s\tdemo-%llu-%lld\t%s\n", hk_demo_event_types[type],
                (long long)at, shop, buyer_id, (unsigned long long)g->seed, (long long)g->ev_seq,
                g->props.buf) < 0)
        g->io_error = errno ? errno : EIO;
    g->ev_seq++;
    g->st->events++;
    g->st->event_types[type]++;
}

/* A product event (browse, cart, favourite) at t. */
static void product_event(struct gen *g, enum ev_type type, int64_t t, int shop,
                          const char *buyer_id, int prod, int quantity)
{
    props_begin(g);
    props_product(g, prod, channel_of_shop(shop));
    if (quantity > 0)
        props_int(g, "quantity", quantity);
    put_event(g, type, t, shop, buyer_id);
}

static void coupon_claim(struct gen *g, int64_t t, int shop, const char *buyer_id, const char *code,
                         const char *campaign)
{
    props_begin(g);
    props_str(g, "coupon_code", code);
    if (campaign)
        props_str(g, "campaign", campaign);
    put_event(g, EV_COUPON_CLAIM, t, shop, buyer_id);
}

/* The festival whose warm-up a local day falls in (the 618 and 双11 coupons), or NULL. */
static const char *warm_up_of(int32_t day, const char **code, struct rng *r)
{
    int y, m, d;
    hk_civil_from_days(day, &y, &m, &d);
    bool big = rng_chance(r, 0.4);
    if ((m == 10 && d >= 20) || (m == 11 && d <= 11)) {
        *code = big ? "SHUANG11-300-50" : "SHUANG11-100-15";
        return "双11";
    }
    if (m == 6 && d <= 18) {
        *code = big ? "618-300-50" : "618-100-15";
        return "618";
    }
    return NULL;
}

/*
 * A visit that ends without an order: views of a product of the person's category (and
 * perhaps of another), sometimes an add-to-cart (abandoned) or a favourite, and in the 618 /
 * 双11 warm-ups often a coupon claim.
 */
static void session_events(struct gen *g, const struct person *p, int shop, const char *buyer_id,
                           int day, double cart_p, double fav_p)
{
    struct rng *r = &g->erng;
    int64_t t = calendar_time(&g->cal, r, day);
    int prod = pick_product(r, p->main_cat);
    const char *code = NULL;
    const char *campaign = warm_up_of(g->cal.first_day + day, &code, r);
    if (campaign && rng_chance(r, 0.5))
        coupon_claim(g, t - rng_range(r, 10, 1800), shop, buyer_id, code, campaign);
    static const int views_w[] = {40, 30, 18, 8, 4};
    int views = (int)rng_weighted(r, views_w, N_OF(views_w)) + 1;
    for (int v = 0; v < views; v++) {
        int seen = v > 0 && rng_chance(r, 0.3) ? pick_product(r, p->main_cat) : prod;
        product_event(g, EV_BROWSE, t, shop, buyer_id, seen, 0);
        t += rng_range(r, 20, 900);
    }
    if (rng_chance(r, cart_p))
        product_event(g, EV_CART, t + rng_range(r, 5, 300), shop, buyer_id, prod, 1);
    if (rng_chance(r, fav_p))
        product_event(g, EV_FAVOURITE, t + rng_range(r, 5, 300), shop, buyer_id, prod, 0);
}

/*
 * What goes with an order: the views of the days before it (the ordered products, others of
 * the category), the add-to-cart, a favourite, the claim of its coupon; afterwards the
 * logistics updates, a review after receipt, a share. Store orders: a member check-in at the
 * till.
 */
static void order_events(struct gen *g, int shop, const char *buyer_id, const char *no,
                         const int64_t times[4], const struct line *lines, int have,
                         const char *coupon)
{
    struct rng *r = &g->erng;
    int ch = channel_of_shop(shop);
    int64_t created = times[0];
    if (ch == CH_POS) {
        if (rng_chance(r, 0.35)) {
            props_begin(g);
            props_str(g, "store", SHOPS[shop].name);
            props_int(g, "points", 10);
            put_event(g, EV_CHECK_IN, created - rng_range(r, 30, 1800), shop, buyer_id);
        }
        return;
    }

    /* Before: the first view this long before the order (minutes for an impulse buy, up to
       four days of looking around). */
    int64_t lead = rng_chance(r, 0.3) ? rng_range(r, 300, 3 * 3600)
                                      : rng_range(r, 3 * 3600, 4 * (int64_t)DAY_S);
    static const int first_views_w[] = {70, 22, 8};
    for (int i = 0; i < have; i++) {
        int views = i == 0 ? (int)rng_weighted(r, first_views_w, N_OF(first_views_w)) + 1 : 1;
        for (int v = 0; v < views; v++)
            product_event(g, EV_BROWSE, created - rng_range(r, 60, lead), shop, buyer_id,
                          lines[i].product, 0);
    }
    static const int other_w[] = {85, 15};
    int others = (int)rng_weighted(r, other_w, N_OF(other_w));
    for (int v = 0; v < others; v++)
        product_event(g, EV_BROWSE, created - rng_range(r, 60, lead), shop, buyer_id,
                      pick_product(r, PRODUCTS[lines[0].product].cat), 0);
    int64_t cart_lead = lead < 2 * DAY_S ? lead : 2 * DAY_S;
    for (int i = 0; i < have; i++)
        if (rng_chance(r, 0.72))
            product_event(g, EV_CART, created - rng_range(r, 30, cart_lead / 2 + 30), shop,
                          buyer_id, lines[i].product, lines[i].quantity);
    if (rng_chance(r, 0.12))
        product_event(g, EV_FAVOURITE, created - rng_range(r, 60, lead), shop, buyer_id,
                      lines[0].product, 0);
    if (coupon[0]) {
        const char *campaign = strncmp(coupon, "SHUANG11", 8) == 0   ? "双11"
                               : strncmp(coupon, "SHUANG12", 8) == 0 ? "双12"
                               : strncmp(coupon, "618", 3) == 0      ? "618"
                                                                     : NULL;
        coupon_claim(g, created - rng_range(r, 120, campaign ? 5 * (int64_t)DAY_S : lead + 60),
                     shop, buyer_id, coupon, campaign);
    }

    /* After: logistics, a review once received, a share. */
    if (times[2] > 0 && rng_chance(r, 0.12)) {
        const char *carrier = ch == CH_JD ? "京东物流" : CARRIERS[rng_below(r, N_OF(CARRIERS))];
        props_begin(g);
        props_str(g, "order_no", no);
        props_str(g, "status", "shipped");
        props_str(g, "carrier", carrier);
        put_event(g, EV_LOGISTICS, times[2], shop, buyer_id);
        if (times[3] > 0) {
            props_begin(g);
            props_str(g, "order_no", no);
            props_str(g, "status", "signed");
            props_str(g, "carrier", carrier);
            put_event(g, EV_LOGISTICS, times[3], shop, buyer_id);
        }
    }
    if (times[3] > 0 && rng_chance(r, 0.3)) {
        static const int rating_w[] = {2, 2, 5, 16, 75}; /* 1 to 5 stars */
        props_begin(g);
        props_str(g, "order_no", no);
        props_str(g, "product_id", PRODUCTS[lines[0].product].id);
        props_str(g, "title", PRODUCTS[lines[0].product].title);
        props_int(g, "rating", (int64_t)rng_weighted(r, rating_w, N_OF(rating_w)) + 1);
        put_event(g, EV_REVIEW, times[3] + rng_range(r, DAY_S / 2, 6 * (int64_t)DAY_S), shop,
                  buyer_id);
    }
    if ((ch == CH_DOUYIN || ch == CH_WECHAT) && times[1] > 0 && rng_chance(r, 0.08)) {
        props_begin(g);
        props_product(g, lines[0].product, ch);
        props_str(g, "to", rng_chance(r, 0.6) ? "微信好友" : "朋友圈");
        put_event(g, EV_SHARE, created + rng_range(r, 60, 3 * (int64_t)DAY_S), shop, buyer_id);
    }
}

/*
 * A buyer's events beyond their orders (first_day: the day index of their first order):
 * visits that end without an order, from a month before the first order on, and check-ins in
 * the WeChat mini-shop.
 */
static void person_events(struct gen *g, const struct person *p, int first_day)
{
    struct rng *r = &g->erng;
    int ch = channel_of_shop(p->shop);
    char buyer_id[96], nick[96];
    buyer_on(g, p, ch, buyer_id, sizeof buyer_id, nick, sizeof nick);
    int lo = first_day > 30 ? first_day - 30 : 0;
    if (ch != CH_POS) {
        static const int sessions_w[] = {60, 28, 8, 4};
        int sessions = (int)rng_weighted(r, sessions_w, N_OF(sessions_w));
        for (int i = 0; i < sessions; i++)
            session_events(g, p, p->shop, buyer_id, calendar_day(&g->cal, r, lo, HK_DEMO_DAYS),
                           0.45, 0.15);
    }
    if (ch == CH_WECHAT) {
        static const int checkins_w[] = {40, 20, 15, 10, 8, 7};
        int checkins = (int)rng_weighted(r, checkins_w, N_OF(checkins_w));
        for (int i = 0; i < checkins; i++) {
            props_begin(g);
            props_str(g, "place", "小程序签到");
            props_int(g, "points", 5);
            put_event(
                g, EV_CHECK_IN,
                calendar_time(&g->cal, r, (int)calendar_day(&g->cal, r, first_day, HK_DEMO_DAYS)),
                p->shop, buyer_id);
        }
    }
}

/*
 * Someone who only looks: an online account (index idx, after the buyers', so their ids never
 * meet a buyer's) with a few visits, some carts and favourites, coupon claims in the warm-ups,
 * and no order.
 */
static void write_browser(struct gen *g, int64_t idx)
{
    struct rng *r = &g->erng;
    struct person p;
    memset(&p, 0, sizeof p);
    p.idx = idx;
    p.second_shop = -1;
    p.shop = pick_shop(r, CH_POS);
    p.main_cat = (enum category)rng_weighted(r, CATEGORY_WEIGHT, CAT_N);
    snprintf(p.nick, sizeof p.nick, "%s%s%s%llu", NICK_HEAD[rng_below(r, N_OF(NICK_HEAD))],
             NICK_CORE[rng_below(r, N_OF(NICK_CORE))], NICK_TAIL[rng_below(r, N_OF(NICK_TAIL))],
             (unsigned long long)scatter((uint64_t)idx, g->salt >> 8, g->nick_mod));
    char buyer_id[96], nick[96];
    buyer_on(g, &p, channel_of_shop(p.shop), buyer_id, sizeof buyer_id, nick, sizeof nick);
    static const int sessions_w[] = {35, 30, 18, 10, 7};
    int sessions = (int)rng_weighted(r, sessions_w, N_OF(sessions_w)) + 1;
    int64_t before = g->st->events;
    for (int i = 0; i < sessions; i++)
        session_events(g, &p, p.shop, buyer_id, calendar_day(&g->cal, r, 0, HK_DEMO_DAYS), 0.3,
                       0.12);
    g->st->browsers++;
    g->st->browser_events += g->st->events - before;
}

static void write_order(struct gen *g, const struct person *p, int shop, int day_index,
                        bool first_order)
{
    struct rng *r = &g->rng;
    const struct calendar *cal = &g->cal;
    int ch = channel_of_shop(shop);
    int64_t created = calendar_time(cal, r, day_index);
    int32_t day = cal->first_day + day_index;

    /* Lines: distinct products, consumables by the several. */
    static const int nlines_w[] = {72, 20, 6, 2};
    struct line lines[4];
    int nl = (int)rng_weighted(r, nlines_w, N_OF(nlines_w)) + 1, have = 0;
    int64_t total = 0;
    for (int i = 0; i < nl; i++) {
        int prod = pick_product(r, p->main_cat);
        bool dup = false;
        for (int k = 0; k < have; k++)
            dup = dup || lines[k].product == prod;
        if (dup)
            continue;
        struct line *ln = &lines[have++];
        memset(ln, 0, sizeof *ln);
        ln->product = prod;
        if (CATEGORY_CONSUMABLE[PRODUCTS[prod].cat]) {
            static const int qw[] = {60, 25, 10, 5};
            ln->quantity = (int)rng_weighted(r, qw, N_OF(qw)) + 1;
        } else {
            ln->quantity = rng_chance(r, 0.1) ? 2 : 1;
        }
        ln->unit_fen = unit_price(prod, ch);
        total += ln->unit_fen * ln->quantity;
    }

    char coupon[32];
    int64_t off = coupon_for(r, day, ch, first_order, total, coupon, sizeof coupon);
    int64_t left = off;
    for (int i = 0; i < have; i++) { /* the discount shared by line value, the rest on the last */
        int64_t value = lines[i].unit_fen * lines[i].quantity;
        int64_t share = i == have - 1 ? left : off * value / (total > 0 ? total : 1);
        if (share > value)
            share = value;
        left -= share;
        lines[i].paid_fen = value - share;
    }

    /* Status, from what has happened by now. */
    const char *status;
    int64_t times[4] = {created, 0, 0, 0}; /* created, paid, shipped, received */
    int64_t now = cal->now;
    bool paid = true, refunded = false;
    if (rng_chance(r, 0.025)) {
        status = "cancelled";
        paid = false;
        g->st->cancelled++;
    } else if (ch == CH_POS) {
        times[1] = created + rng_range(r, 5, 90);
        times[3] = times[1];
        status = "completed";
        refunded = rng_chance(r, 0.01);
    } else {
        times[1] = created + rng_range(r, 20, 1200);
        refunded = rng_chance(r, 0.045);
        if (times[1] > now) {
            times[1] = 0;
            paid = false;
            status = "created";
        } else {
            times[2] = times[1] + rng_range(r, 4 * 3600, 48 * 3600);
            times[3] = times[2] + rng_range(r, 2 * DAY_S, 6 * DAY_S);
            if (times[2] > now) {
                times[2] = times[3] = 0;
                status = "paid";
            } else if (times[3] > now) {
                times[3] = 0;
                status = "shipped";
            } else {
                status = "completed";
            }
        }
    }
    if (paid && refunded) {
        status = "refunded";
        times[3] = 0; /* refunded before or instead of receipt */
        g->st->refunded++;
    }
    if (!paid) {
        coupon[0] = '\0';
        for (int i = 0; i < have; i++)
            lines[i].paid_fen = 0;
    } else if (refunded) {
        for (int i = 0; i < have; i++)
            lines[i].refund_fen = lines[i].paid_fen;
    } else if (strcmp(status, "completed") == 0 && rng_chance(r, 0.012)) {
        lines[0].refund_fen = lines[0].paid_fen / 2; /* one line partly refunded */
    }
    if (coupon[0])
        g->st->with_coupon++;

    char no[48], buyer_id[96], nick[96];
    order_no(g, shop, created, no, sizeof no);
    buyer_on(g, p, ch, buyer_id, sizeof buyer_id, nick, sizeof nick);
    char phone[16] = "";
    if (p->phone[0]) {
        bool masked = p->phone_masked_on_marketplaces && (ch == CH_PDD || ch == CH_DOUYIN) &&
                      p->second_shop < 0;
        if (masked)
            snprintf(phone, sizeof phone, "%.3s****%.4s", p->phone, p->phone + 7);
        else
            snprintf(phone, sizeof phone, "%s", p->phone);
    }
    for (int i = 0; i < have; i++)
        put_row(g, no, buyer_id, nick, phone, p, shop, status, times, &lines[i], coupon);
    if (g->ev)
        order_events(g, shop, buyer_id, no, times, lines, have, coupon);
    g->order_seq++;
    g->st->orders++;
    if (g->st->first_at == 0 || created < g->st->first_at)
        g->st->first_at = created;
    if (created > g->st->last_at)
        g->st->last_at = created;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void write_person(struct gen *g, int64_t idx)
{
    struct person p;
    make_person(g, idx, &p);
    g->st->people++;
    if (p.second_shop >= 0)
        g->st->cross_channel++;
    /* Days: the first early enough to leave room for the rest; the rest after it. */
    int days[60];
    int room = (p.orders - 1) * 20;
    int hi = HK_DEMO_DAYS - (room < HK_DEMO_DAYS - 1 ? room : HK_DEMO_DAYS - 1);
    days[0] = calendar_day(&g->cal, &g->rng, 0, hi);
    for (int i = 1; i < p.orders; i++)
        days[i] = calendar_day(&g->cal, &g->rng, days[0], HK_DEMO_DAYS);
    qsort(days, (size_t)p.orders, sizeof days[0], cmp_int);
    for (int i = 0; i < p.orders; i++) {
        int shop =
            p.second_shop >= 0 && i > 0 && rng_chance(&g->rng, 0.35) ? p.second_shop : p.shop;
        write_order(g, &p, shop, days[i], i == 0);
    }
    if (g->ev)
        person_events(g, &p, days[0]);
}

static const char CSV_HEADER[] =
    "order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,paid_at,"
    "shipped_at,received_at,product_id,product_title,category,quantity,unit_price,paid_amount,"
    "refund_amount,coupon_code\n";

int hk_demo_write_csv(FILE *out, FILE *events, int64_t customers, uint64_t seed, int64_t now,
                      struct hk_demo_stats *stats, struct hk_err *err)
{
    if (customers < 1 || customers > HK_DEMO_CUSTOMERS_MAX)
        return hk_err_setf(err, HK_E(INVAL), "customers", "customers: 1 to %d, not %lld",
                           HK_DEMO_CUSTOMERS_MAX, (long long)customers);
    struct gen *g = calloc(1, sizeof *g); /* the calendar is ~10 KiB: not on the stack */
    if (!g)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    struct hk_demo_stats st;
    memset(&st, 0, sizeof st);
    g->out = out;
    g->st = &st;
    rng_seed(&g->rng, seed);
    g->ev = events;
    g->seed = seed;
    rng_seed(&g->erng, seed ^ 0xE7E75EED0DDBA11ULL);
    hk_strbuf_init(&g->props, 0);
    uint64_t s = seed ^ 0x5DEECE66DULL;
    g->salt = splitmix64(&s) % 1000000007u;
    static const uint64_t primes[] = {1009, 10007, 100003, 1000003, 10000019, 100000007};
    g->nick_mod = primes[N_OF(primes) - 1];
    for (size_t i = 0; i < N_OF(primes); i++) {
        if (primes[i] >= (uint64_t)customers * 10) {
            g->nick_mod = primes[i];
            break;
        }
    }
    calendar_init(&g->cal, now);
    errno = 0;
    if (fputs(CSV_HEADER, out) < 0)
        g->io_error = errno ? errno : EIO;
    for (int64_t i = 0; i < customers && !g->io_error; i++)
        write_person(g, i);
    int64_t browsers = events ? customers / 5 : 0; /* one who only looks per five buyers */
    for (int64_t i = 0; i < browsers && !g->io_error; i++)
        write_browser(g, customers + i);
    int io = g->io_error;
    hk_strbuf_release(&g->props);
    free(g);
    if (io)
        return hk_err_set(err, HK_E(IO), "cannot write the demo file: %s", strerror(io));
    st.channels = CH_COUNT;
    st.shops = (int64_t)N_OF(SHOPS);
    *stats = st;
    return 0;
}

/* ---- running the demo --------------------------------------------------------------------- */

static int database_is_empty(struct hk_app *app, struct hk_err *err)
{
    struct hk_db *db = NULL;
    bool exist = false;
    int rc = hk_db_acquire(app->store, &db, err);
    if (rc == 0)
        rc = hk_imports_repo_orders_exist(db, &exist, err);
    hk_db_release(db);
    if (rc == 0 && exist)
        rc = hk_err_set(err, HK_E(CONFLICT),
                        "the database already has orders; the demo fills empty databases only "
                        "(--force to add the demo shop anyway)");
    return rc;
}

/* Creates a temporary file in dir (path filled), open for reading and writing, in *out. */
static int temp_file(const char *dir, char *path, size_t size, FILE **out, struct hk_err *err)
{
    snprintf(path, size, "%s/demo-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return hk_err_set(err, HK_E(IO), "cannot create a file in %s: %s", dir, strerror(errno));
    FILE *f = fdopen(fd, "w+");
    if (!f) {
        int rc = hk_err_set(err, HK_E(IO), "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return rc;
    }
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 16);
    *out = f;
    return 0;
}

enum { EV_BATCH = 1000, EV_LINE_MAX = 2048 };

/* Splits an event line (as put_event writes it) into ev and its identity; false when bad. */
static bool parse_event_line(char *line, struct hk_event_in *ev, struct hk_identity_in *id)
{
    char *f[6];
    size_t n = 0;
    char *p = line;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n')
        return false;
    line[len - 1] = '\0';
    while (n < 6) {
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    int64_t at, shop;
    if (n != 6 || hk_parse_int64(f[1], strlen(f[1]), &at) != 0 ||
        hk_parse_int64(f[2], strlen(f[2]), &shop) != 0 || shop < 0 || shop >= (int64_t)N_OF(SHOPS))
        return false;
    const char *channel = CHANNELS[SHOPS[shop].channel].name;
    *id = (struct hk_identity_in){channel, "buyer_id", f[3]};
    *ev = (struct hk_event_in){
        .type = f[0],
        .at = at,
        .shop = SHOPS[shop].name,
        .channel = channel,
        .external_id = f[4],
        .properties_json = f[5],
        .ids = id,
        .nids = 1,
    };
    return true;
}

/* Reads the event file from its start and applies it in batches of EV_BATCH; counts in res. */
static int apply_events(const struct hk_ingest_ctx *ctx, FILE *f, struct hk_demo_result *res,
                        struct hk_err *err)
{
    char *arena = malloc((size_t)EV_BATCH * EV_LINE_MAX);
    struct hk_event_in *evs = calloc(EV_BATCH, sizeof *evs);
    struct hk_identity_in *ids = calloc(EV_BATCH, sizeof *ids);
    struct hk_ingest_item_result *results = calloc(EV_BATCH, sizeof *results);
    struct hk_err *errors = calloc(EV_BATCH, sizeof *errors);
    int rc = 0;
    if (!arena || !evs || !ids || !results || !errors) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto done;
    }
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = hk_err_set(err, HK_E(IO), "cannot read the demo events back: %s", strerror(errno));
        goto done;
    }
    size_t n = 0;
    for (;;) {
        char *line = arena + n * EV_LINE_MAX;
        bool eof = fgets(line, EV_LINE_MAX, f) == NULL;
        if (!eof) {
            if (!parse_event_line(line, &evs[n], &ids[n])) {
                rc = hk_err_set(err, HK_E(INTERNAL), "the demo event file has a bad line");
                goto done;
            }
            n++;
        }
        if (n == EV_BATCH || (eof && n > 0)) {
            if ((rc = hk_ingest_events(ctx, evs, n, results, errors, err)) < 0)
                goto done;
            for (size_t i = 0; i < n; i++) {
                if (errors[i].code)
                    res->events_rejected++;
                else if (results[i].outcome == HK_APPLY_CREATED)
                    res->events_created++;
                else
                    res->events_unchanged++;
            }
            n = 0;
        }
        if (eof)
            break;
    }
    if (ferror(f))
        rc = hk_err_set(err, HK_E(IO), "cannot read the demo events back");
done:
    free(arena);
    free(evs);
    free(ids);
    free(results);
    free(errors);
    return rc;
}

int hk_demo_run(struct hk_app *app, const struct hk_demo_opts *opts, struct hk_demo_result *out,
                struct hk_err *err)
{
    int rc;
    if (!opts->force && (rc = database_is_empty(app, err)) != 0)
        return rc;
    struct hk_demo_result res;
    memset(&res, 0, sizeof res);
    const char *base = app->cfg.data_dir[0] ? app->cfg.data_dir : ".";
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        return hk_err_set(err, HK_E(IO), "cannot create directory %s: %s", base, strerror(errno));
    char path[HK_CONFIG_STR_MAX + 32], ev_path[HK_CONFIG_STR_MAX + 32];
    FILE *f = NULL, *ev = NULL;
    if ((rc = temp_file(base, path, sizeof path, &f, err)) != 0)
        return rc;
    if ((rc = temp_file(base, ev_path, sizeof ev_path, &ev, err)) != 0) {
        fclose(f);
        unlink(path);
        return rc;
    }
    unlink(ev_path); /* read back through ev; gone when closed */

    int64_t t0 = hk_monotonic_ms();
    int64_t now = hk_clock_now(&app->clock);
    rc = hk_demo_write_csv(f, ev, opts->customers, opts->seed, now, &res.gen, err);
    if (fclose(f) != 0 && rc == 0)
        rc = hk_err_set(err, HK_E(IO), "cannot write %s: %s", path, strerror(errno));
    if (rc == 0 && fflush(ev) != 0)
        rc = hk_err_set(err, HK_E(IO), "cannot write the demo events: %s", strerror(errno));
    res.generate_ms = hk_monotonic_ms() - t0;
    if (rc != 0) {
        fclose(ev);
        unlink(path);
        return rc;
    }

    t0 = hk_monotonic_ms();
    const struct hk_ingest_ctx ctx = {
        .store = app->store, .keys = &app->keys, .tz = app->tz, .now = now};
    const struct hk_import_opts iopts = {
        .format = HK_FMT_GENERIC,
        .progress = opts->progress,
        .progress_arg = opts->progress_arg,
    };
    const char *paths[1] = {path};
    const char *names[1] = {"demo.csv"};
    struct hk_import_result ir;
    memset(&ir, 0, sizeof ir);
    rc = hk_import_files(&ctx, paths, names, 1, &iopts, &ir, err);
    unlink(path);
    res.import_ms = hk_monotonic_ms() - t0;
    res.imported.rows = ir.rows;
    res.imported.orders_created = ir.orders_created;
    res.imported.orders_updated = ir.orders_updated;
    res.imported.orders_unchanged = ir.orders_unchanged;
    res.imported.items_created = ir.items_created;
    res.imported.customers_created = ir.customers_created;
    res.imported.rejected = ir.rejected;
    hk_import_result_release(&ir);
    if (rc == 0) { /* the events, once their customers exist */
        t0 = hk_monotonic_ms();
        rc = apply_events(&ctx, ev, &res, err);
        res.events_ms = hk_monotonic_ms() - t0;
    }
    fclose(ev);
    if (rc != 0)
        return rc;
    *out = res;
    return 0;
}
