#!/usr/bin/env bash
# import_bench.sh — end-to-end `huike import` speed on a generated generic export.
#
#   bench/import_bench.sh BUILD_DIR [LINES] [PG_URL]
#
# BUILD_DIR is a Release build (cmake -DCMAKE_BUILD_TYPE=Release) that has built `huike` and
# `hk_gen_generic` (tests/importdb builds the generator). LINES defaults to 1000000. Generates
# the file once (deterministic: bench/gen_generic.c, seed 20260301) under $WORK (default
# /tmp/hk-import-bench), then imports it into a fresh SQLite file and, when PG_URL names a
# PostgreSQL database the script may drop and create databases beside, into a fresh database
# there; each import is followed by a re-import (which must change nothing). Prints wall time,
# lines/s and peak RSS per run.
set -euo pipefail

build=${1:?usage: bench/import_bench.sh BUILD_DIR [LINES] [PG_URL]}
lines=${2:-1000000}
pg=${3:-}
work=${WORK:-/tmp/hk-import-bench}
huike=$build/huike
gen=$(find "$build" -name hk_gen_generic -type f -perm -u+x | head -1)
[ -x "$huike" ] || { echo "no $huike" >&2; exit 1; }
[ -n "$gen" ] || { echo "no hk_gen_generic under $build" >&2; exit 1; }
mkdir -p "$work"
csv=$work/generic-$lines.csv
[ -s "$csv" ] || "$gen" "$lines" "$csv"
export HUIKE_KEY=${HUIKE_KEY:-$(printf '%064d' 1)}

run() { # label db
    local t0 t1 rss out
    t0=$(date +%s.%N)
    out=$(/usr/bin/time -f '%M' -o "$work/rss" "$huike" --db "$2" import --json "$csv" 2>/dev/null)
    t1=$(date +%s.%N)
    rss=$(cat "$work/rss")
    awk -v l="$1" -v a="$t0" -v b="$t1" -v n="$lines" -v r="$rss" \
        'BEGIN { s = b - a; printf "%-22s %8.2f s %10.0f lines/s %8.0f MiB peak\n", l, s, n / s, r / 1024 }'
    echo "    $out"
}

rm -f "$work"/bench.db*
run "sqlite import" "$work/bench.db"
run "sqlite re-import" "$work/bench.db"

if [ -n "$pg" ]; then
    admin=$pg
    base=${pg%/*}
    psql -q "$admin" -c "DROP DATABASE IF EXISTS hk_import_bench" -c "CREATE DATABASE hk_import_bench"
    run "postgresql import" "$base/hk_import_bench"
    run "postgresql re-import" "$base/hk_import_bench"
    psql -q "$admin" -c "DROP DATABASE hk_import_bench WITH (FORCE)"
fi
