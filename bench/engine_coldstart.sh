#!/usr/bin/env bash
# engine_coldstart.sh — the engine's cold start from a huike SQLite store (issue 4, item 7:
# ≤ 10 s at 10M orders), then RFM rescoring and segment preview over HTTP on that store.
#
#   bench/engine_coldstart.sh BUILD_DIR [S|L]        (default L = 10M orders)
#
# BUILD_DIR is a Release build with `huike`, tests/engine/bench_coldstart and
# tests/engine/bench_preview_http. The data is the peers' (gen_orders.c, seed 20250101: L = 10M
# orders of one line, 1,954,615 customers), turned into huike's generic import format (one row
# per order; buyer_id c<id> on the order's channel and a phone 139<8 digits of the id>, so the
# identities of one customer on several channels merge as they would in real life; refunded
# orders carry refund_amount = paid_amount) and imported with `huike import` — the real write
# path — into $WORK/store/orders_SIZE.db once; later runs reuse that file (delete it to rebuild).
# Then:
#   1. bench_coldstart: hk_engine_load_from_store (what `huike serve` does at start) REPS times,
#      with the time of each phase, engine memory and peak RSS;
#   2. `huike rfm --json` end to end (process start, cold start, report);
#   3. bench_preview_http: `huike serve` on the store, N previews of a few expressions with
#      libcurl, p50/p95 per expression;
#   4. the engine snapshot (docs/architecture.md, "Engine snapshot"), on a copy of the store
#      ($WORK/snap/orders_SIZE.db: the snapshot writes the store id and change rows, and a newer
#      huike migrates the schema): bench_coldstart's snapshot mode (full start, snapshot write
#      with a reader thread timing the read lock, CHANGED customers marked changed, start from
#      the snapshot), then `huike serve` time-to-listen with the snapshot and without
#      (HUIKE_ENGINE_SNAPSHOT=off), and its shutdown (which writes the snapshot).
# env: WORK (/tmp/hk-engine-bench), REPS (3), PREVIEWS (200), PEERS (/work/shared/bench-peers),
#      SNAPSHOT (1; 0 skips step 4), CHANGED (10000).
set -euo pipefail
build=$(cd "${1:?usage: bench/engine_coldstart.sh BUILD_DIR [S|L]}" && pwd)
size=${2:-L}
WORK=${WORK:-/tmp/hk-engine-bench}
REPS=${REPS:-3}
PREVIEWS=${PREVIEWS:-200}
PEERS=${PEERS:-/work/shared/bench-peers}
export HUIKE_KEY=${HUIKE_KEY:-$(printf '%064d' 1)}
declare -A NORD=([S]=1000000 [L]=10000000)
huike=$build/huike
mkdir -p "$WORK/bin" "$WORK/data" "$WORK/store"
csv=$WORK/data/orders_$size.csv
gen=$WORK/data/generic_$size.csv
db=$WORK/store/orders_$size.db
[ -x "$WORK/bin/gen_orders" ] || gcc -O2 -o "$WORK/bin/gen_orders" "$PEERS/gen_orders.c" -lm
[ -s "$csv" ] || "$WORK/bin/gen_orders" "${NORD[$size]}" "$csv" 20250101
if [ ! -s "$gen" ]; then
    # order_id,customer_id,channel,paid_at,amount,category,product_id,coupon_used,status
    awk -F, 'BEGIN { OFS = ","; print "order_no,buyer_id,phone,channel,status,created_at,paid_at," \
                 "product_id,product_title,category,quantity,unit_price,paid_amount,refund_amount,coupon_code" }
        NR > 1 { t = $4 "Z"; refund = $9 == "refunded" ? $5 : ""
                 print $1, "c" $2, sprintf("139%08d", $2), $3, $9, t, t, "p" $7, "p" $7, $6, 1,
                       $5, $5, refund, $8 == "1" ? "C" $7 : "" }' "$csv" >"$gen.tmp"
    mv "$gen.tmp" "$gen"
fi
if [ ! -s "$db" ]; then
    echo "== building the store: huike import $gen (once; kept in $db)"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$WORK/store/import.rss" "$huike" --db "$db.tmp" import --json "$gen" \
        >"$WORK/store/import_$size.json"
    mv "$db.tmp" "$db"
    awk -v a="$t0" -v b="$(date +%s.%N)" -v r="$(cat "$WORK/store/import.rss")" \
        'BEGIN { printf "import: %.1f s, peak RSS %.0f MiB\n", b - a, r / 1024 }' |
        tee "$WORK/store/import_$size.txt"
fi
echo "store: $db ($(du -h "$db" | cut -f1)); $(cat "$WORK/store/import_$size.txt" 2>/dev/null)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cold start (bench_coldstart, $REPS runs)"
"$build/tests/engine/bench_coldstart" "$db" "$REPS"
echo "== huike rfm --json (process start + cold start + report)"
t0=$(date +%s.%N)
/usr/bin/time -f 'peak RSS %M kB' "$huike" --db "$db" --now 2025-01-01T00:00:00Z rfm --json |
    cut -c1-200
awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "huike rfm wall: %.2f s\n", b - a }'
echo "== segment and RFM preview over HTTP ($PREVIEWS requests per expression)"
"$build/tests/engine/bench_preview_http" "$huike" "$db" "$PREVIEWS"

[ "${SNAPSHOT:-1}" = 1 ] || exit 0
CHANGED=${CHANGED:-10000}
snapdb=$WORK/snap/orders_$size.db
mkdir -p "$WORK/snap"
if [ ! -s "$snapdb" ]; then
    echo "== copying the store to $snapdb (the snapshot steps write to it)"
    cp "$db" "$snapdb.tmp" && mv "$snapdb.tmp" "$snapdb"
    [ -f "$WORK/store/huike.key" ] && cp "$WORK/store/huike.key" "$WORK/snap/"
    "$huike" --db "$snapdb" migrate
fi
echo "== engine snapshot (bench_coldstart snapshot, $CHANGED changed customers)"
"$build/tests/engine/bench_coldstart" "$snapdb" 1 snapshot "$CHANGED"
# time from exec to "huike: listening on", then SIGTERM to exit (the shutdown writes the
# snapshot when the engine changed since the last one)
serve_listen() {
    local out=$WORK/snap/serve.out t0 t1 t2 pid
    : >"$out"
    t0=$(date +%s.%N)
    "$huike" --db "$snapdb" --data-dir "$WORK/snap/data" --port 0 --log-level info serve \
        >"$out" 2>&1 &
    pid=$!
    until grep -q 'listening on' "$out"; do
        kill -0 $pid 2>/dev/null || { cat "$out"; return 1; }
        sleep 0.05
    done
    t1=$(date +%s.%N)
    local cpu
    cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' /proc/$pid/stat)
    kill -TERM $pid
    wait $pid || true
    t2=$(date +%s.%N)
    grep -o 'event=engine\.snapshot_[a-z]*[^"]*' "$out" | head -3
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v u="$cpu" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { printf "time to listen %.2f s (CPU %s s), shutdown %.2f s, load average %s\n",
                 b - a, u, c - b, l }'
}
mkdir -p "$WORK/snap/data"
echo "== huike serve with the snapshot"
serve_listen
echo "== huike serve without it (HUIKE_ENGINE_SNAPSHOT=off)"
HUIKE_ENGINE_SNAPSHOT=off serve_listen
ls -l "$snapdb.engine"

