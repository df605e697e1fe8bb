/*
 * gen_generic.c — a deterministic generic-format order export (docs/import.md) for the import
 * benchmark and the crash test.
 *
 *   gen_generic LINES OUT.csv [SEED] [VARIANT]
 *
 * Writes exactly LINES data lines (plus the header): orders of 1-3 lines each, numbered
 * G000000001…, from a customer base that grows as it goes (about 40 % of orders come from a
 * returning customer), 70 % of customers with a mobile number, 6 channels, 200 products in 20
 * categories, two years of order times, a status mix of completed/paid/shipped/refunded/
 * cancelled/created and a 20 % coupon rate. The same LINES/SEED give byte-identical output.
 *
 * VARIANT 1 is "a later export" of the same orders: every 7th paid or shipped order is now
 * completed, every 11th completed order is refunded in full — the rest is identical.
 *
 * No floating point: amounts are integers in fen formatted as yuan.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    /* splitmix64: small, fast, good enough for test data */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)((next(r) >> 32) * (uint64_t)n >> 32);
}

static uint64_t mix(uint64_t x)
{
    struct rng r = {x};
    return next(&r);
}

static const char *const CHANNELS[] = {"taobao", "jd", "pdd", "douyin", "wechat", "pos"};
static const char *const PROVINCES[][2] = {
    {"浙江省", "杭州市"}, {"广东省", "深圳市"}, {"上海市", "上海市"}, {"北京市", "北京市"},
    {"江苏省", "南京市"}, {"四川省", "成都市"}, {"湖北省", "武汉市"}, {"福建省", "厦门市"},
};
static const char *const CATEGORIES[] = {"连衣裙", "外套", "配饰", "包袋", "礼盒", "零食", "护肤",
                                         "彩妆",   "鞋靴", "家居", "母婴", "数码", "茶饮", "宠物",
                                         "运动",   "文具", "厨具", "床品", "内衣", "童装"};

static void yuan(char *buf, size_t size, int64_t fen)
{
    snprintf(buf, size, "%" PRId64 ".%02d", fen / 100, (int)(fen % 100));
}

/* "YYYY-MM-DD HH:MM:SS" of an instant (UTC+8, the shop's zone; no DST in Shanghai). */
static void local_time(char *buf, size_t size, int64_t t)
{
    int64_t s = t + 8 * 3600;
    int64_t days = s / 86400, rem = s % 86400;
    /* civil from days (Howard Hinnant) */
    int64_t z = days + 719468, era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d", (int)y, (int)m, (int)d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_generic LINES OUT.csv [SEED] [VARIANT]\n");
        return 2;
    }
    char *end;
    long long lines = strtoll(argv[1], &end, 10);
    if (*end || lines < 1) {
        fprintf(stderr, "gen_generic: LINES must be a positive number\n");
        return 2;
    }
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 20260301;
    int variant = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 0;
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(out, iobuf, _IOFBF, sizeof iobuf);
    fputs("order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,"
          "paid_at,received_at,product_id,product_title,category,quantity,unit_price,"
          "paid_amount,refund_amount,coupon_code\n",
          out);

    struct rng r = {seed};
    const int64_t t0 = 1704038400; /* 2024-01-01T00:00:00+08:00 */
    const int64_t span = 2 * 365 * 86400;
    long long written = 0, order = 0, customers = 0;
    while (written < lines) {
        order++;
        long long cust = customers == 0 || below(&r, 100) < 60 ? ++customers
                                                               : 1 + below(&r, (uint32_t)customers);
        uint64_t ch = mix((uint64_t)cust);
        const char *channel = CHANNELS[ch % 6];
        const char *const *place = PROVINCES[(ch >> 8) % 8];
        char phone[16] = "";
        if ((ch >> 16) % 10 < 7)
            snprintf(phone, sizeof phone, "13%09llu", (unsigned long long)(cust % 1000000000));
        int64_t created =
            t0 + (int64_t)((uint64_t)order * (uint64_t)span / 6000000ULL) % span + below(&r, 3600);
        uint32_t st = below(&r, 100);
        const char *status = st < 60   ? "completed"
                             : st < 70 ? "paid"
                             : st < 80 ? "shipped"
                             : st < 85 ? "refunded"
                             : st < 90 ? "cancelled"
                                       : "created";
        if (variant == 1) {
            if ((!strcmp(status, "paid") || !strcmp(status, "shipped")) && order % 7 == 0)
                status = "completed";
            else if (!strcmp(status, "completed") && order % 11 == 0)
                status = "refunded";
        }
        bool paid = strcmp(status, "created") != 0 && strcmp(status, "cancelled") != 0;
        bool refunded = !strcmp(status, "refunded");
        char created_s[32], paid_s[32] = "", recv_s[32] = "";
        local_time(created_s, sizeof created_s, created);
        if (paid)
            local_time(paid_s, sizeof paid_s, created + 60 + below(&r, 600));
        if (!strcmp(status, "completed"))
            local_time(recv_s, sizeof recv_s, created + 3 * 86400 + below(&r, 86400));
        bool coupon = below(&r, 100) < 20;
        int nlines = 1 + (int)below(&r, 3);
        if (nlines > lines - written)
            nlines = (int)(lines - written);
        for (int l = 0; l < nlines; l++) {
            uint32_t p = below(&r, 200) + l * 7 % 200; /* distinct products in one order */
            p %= 200;
            int64_t price = 990 + (int64_t)(mix(p + 77) % 50000);
            int qty = 1 + (int)below(&r, 3);
            int64_t line_total = price * qty;
            int64_t paid_fen = !paid ? 0 : coupon ? line_total - line_total / 10 : line_total;
            char price_s[24], paid_amt[24], refund_s[24] = "";
            yuan(price_s, sizeof price_s, price);
            yuan(paid_amt, sizeof paid_amt, paid_fen);
            if (refunded)
                yuan(refund_s, sizeof refund_s, paid_fen);
            fprintf(out,
                    "G%09lld,u%08lld,买家%lld,%s,%s,%s,%s,回客小铺,%s,%s,%s,%s,P%04u,商品%u号,%s,"
                    "%d,%s,%s,%s,%s\n",
                    order, cust, cust, phone, place[0], place[1], channel, status, created_s,
                    paid_s, recv_s, p, p, CATEGORIES[p % 20], qty, price_s, paid_amt, refund_s,
                    coupon ? "SPRING10" : "");
        }
        written += nlines;
    }
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
