/*
 * bench_reader.c — how fast the reader turns a generic file into orders.
 *
 * Usage: ingest_bench [LINES] [FILE]
 * Writes LINES (default 1,000,000) generic order lines (1 to 3 lines per order, UTF-8) to FILE
 * (default /tmp/hk_ingest_bench.csv; LINES 0 reads FILE as it is, in any format and encoding
 * the reader knows), then reads it back with hk_reader three times and prints lines per
 * second and MB per second (wall clock; CPU time beside it). Run it from a Release build; the
 * file is left in place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/tz.h"
#include "ingest/reader.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(const char *path, long lines)
{
    static const char *const titles[] = {"碎花连衣裙",  "针织开衫", "真丝围巾",
                                         "帆布包 大号", "纯棉短袜", "樱花礼盒"};
    static const char *const statuses[] = {"paid",      "shipped",  "completed",
                                           "completed", "refunded", "cancelled"};
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,"
          "paid_at,received_at,product_id,product_title,category,quantity,unit_price,paid_amount,"
          "refund_amount,coupon_code\n",
          f);
    long written = 0, order = 0;
    unsigned s = 1;
    while (written < lines) {
        s = s * 1103515245u + 12345u;
        int nlines = (int)(s >> 16) % 3 + 1;
        long cust = (long)((s >> 8) % 200000);
        int day = (int)(order % 28) + 1, hour = (int)(order % 24), min = (int)(order % 60);
        const char *st = statuses[order % 6];
        for (int k = 0; k < nlines && written < lines; k++, written++) {
            int p = (int)((order + k) % 6);
            fprintf(f,
                    "HK%09ld,u%06ld,买家%ld,138%08ld,浙江省,杭州市,taobao,回客小铺,%s,"
                    "2026-03-%02d %02d:%02d:00,2026-03-%02d %02d:%02d:30,,P%04d,%s,服饰,%d,"
                    "%d.%02d,%d.%02d,,%s\n",
                    order, cust, cust, cust, st, day, hour, min, day, hour, min, p, titles[p],
                    k + 1, 10 + p * 7, k * 5, (10 + p * 7) * (k + 1), k * 5,
                    order % 10 == 0 ? "SPRING10" : "");
        }
        order++;
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    long lines = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/hk_ingest_bench.csv";
    struct hk_err err;
    struct hk_tz *tz;
    if ((lines > 0 && generate(path, lines) != 0) || hk_tz_load("Asia/Shanghai", &tz, &err) != 0) {
        fprintf(stderr, "ingest_bench: setup failed\n");
        return 1;
    }
    for (int run = 0; run < 3; run++) {
        struct hk_reader *r;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (hk_reader_open(path, NULL, HK_FMT_AUTO, tz, &r, &err) != 0) {
            fprintf(stderr, "ingest_bench: %s\n", hk_err_message(&err));
            return 1;
        }
        const struct hk_order_rec *o;
        long orders = 0, items = 0;
        int rc;
        while ((rc = hk_reader_next(r, &o, &err)) == 1) {
            orders++;
            items += (long)o->nitems;
            if (orders % 2000 == 0) /* as an importer would, after committing a batch */
                hk_reader_recycle(r);
        }
        double dt = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        size_t ne;
        hk_reader_errors(r, &ne);
        double mb = (double)hk_reader_bytes_total(r) / 1e6;
        printf("run %d: %ld lines, %ld orders, %ld items, %zu errors in %.3f s (%.3f s CPU): "
               "%.0f lines/s, %.0f MB/s\n",
               run + 1, (long)hk_reader_records(r), orders, items, ne, dt, cpu,
               (double)hk_reader_records(r) / dt, mb / dt);
        hk_reader_close(r);
        if (rc < 0)
            return 1;
    }
    hk_tz_free(tz);
    return 0;
}
