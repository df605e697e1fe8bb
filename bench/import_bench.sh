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
# there; each import is followed by a re-import (which must change nothing). Beside them, the
# peers load the same file in the same run: the SQLite CLI (`.import --csv` into a fresh WAL
# file, one TEXT table, no indexes) and, with PG_URL, PostgreSQL `COPY ... FROM STDIN (FORMAT
# csv, HEADER)` into a plain table of 20 text columns (psql \copy). Prints wall time, lines/s
# and peak RSS per run, and our import time as a multiple of each peer's.
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

timed() { # label cmd... — prints one line, sets $secs
    local t0 t1 rss
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$work/rss" "${@:2}" >/dev/null 2>&1
    t1=$(date +%s.%N)
    rss=$(cat "$work/rss")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    awk -v l="$1" -v s="$secs" -v n="$lines" -v r="$rss" \
        'BEGIN { printf "%-22s %8.2f s %10.0f lines/s %8.0f MiB peak\n", l, s, n / s, r / 1024 }'
}
ratio() { awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { printf "    huike / %s: %.1fx\n", l, a / b }'; }

run() { # label db — sets $secs
    local t0 t1 rss out
    t0=$(date +%s.%N)
    out=$(/usr/bin/time -f '%M' -o "$work/rss" "$huike" --db "$2" import --json "$csv" 2>/dev/null)
    t1=$(date +%s.%N)
    rss=$(cat "$work/rss")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    awk -v l="$1" -v a="$t0" -v b="$t1" -v n="$lines" -v r="$rss" \
        'BEGIN { s = b - a; printf "%-22s %8.2f s %10.0f lines/s %8.0f MiB peak\n", l, s, n / s, r / 1024 }'
    echo "    $out"
}

echo "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$lines lines ($(du -m "$csv" | cut -f1) MB), $(sqlite3 --version | cut -d' ' -f1-2)"
rm -f "$work"/bench.db* "$work"/peer.db*
sqlite3 "$work/peer.db" "PRAGMA journal_mode = WAL" >/dev/null
timed "sqlite3 .import --csv" sqlite3 "$work/peer.db" ".import --csv $csv t"
peer_sqlite=$secs
rm -f "$work"/peer.db*
run "sqlite import" "$work/bench.db"
ratio "$secs" "$peer_sqlite" "sqlite3 .import"
run "sqlite re-import" "$work/bench.db"

if [ -n "$pg" ]; then
    admin=$pg
    base=${pg%/*}
    psql -q "$admin" -c "DROP DATABASE IF EXISTS hk_import_bench" -c "CREATE DATABASE hk_import_bench"
    cols=$(head -1 "$csv" | tr -d '\r' | sed 's/,/ text, /g; s/$/ text/')
    psql -q "$base/hk_import_bench" -c "CREATE TABLE peer_copy ($cols)"
    timed "postgresql COPY" psql -q "$base/hk_import_bench" \
        -c "\\copy peer_copy FROM '$csv' WITH (FORMAT csv, HEADER)"
    peer_pg=$secs
    psql -q "$base/hk_import_bench" -c "DROP TABLE peer_copy"
    run "postgresql import" "$base/hk_import_bench"
    ratio "$secs" "$peer_pg" "PostgreSQL COPY"
    run "postgresql re-import" "$base/hk_import_bench"
    psql -q "$admin" -c "DROP DATABASE hk_import_bench WITH (FORCE)"
fi
