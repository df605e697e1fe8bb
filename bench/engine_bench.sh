#!/usr/bin/env bash
# engine_bench.sh — huike's engine side by side with DuckDB, pandas, SQLite and PostgreSQL, in
# one run, on the same generated data and the same three questions (issue 4, item 7).
#
#   bench/engine_bench.sh BUILD_DIR [SIZES...]        SIZES: S (1M orders), L (10M); default S L
#
# BUILD_DIR is a Release build that has built tests/engine/bench_engine. The data comes from the
# peers' generator (/work/shared/bench-peers/gen_orders.c, seed 20250101) and the peers run the
# peers' own runners and SQL (duckdb_bench.js, pandas_bench.py, sqlite_bench.sh, pg_bench.sh)
# by path; everything they and we write goes under $WORK (default /tmp/hk-engine-bench), never
# beside the peers' scripts. Engines run one after another, never at once.
#   agg_rfm = huike's full recompute (aggregates + RFM scores, segments and tiers) vs the peers'
#             agg_rfm.sql (GROUP BY + NTILE); seg1 = `recency_days > 90 and aov > 500`;
#   seg2    = `bought(category="phones", within=31d) and not bought(category="phone_accessories")`
#             (within=31d: days_ago < 31, i.e. paid on or after 2024-12-02 as in seg2.sql).
# env: WORK, REPS (3), ENGINES ("huike duckdb pandas sqlite postgres"), TIMEOUT_S (900 per engine
#      and size), SETUP (1: install the peers' packages when missing — apt: sqlite3, postgresql,
#      python3-pandas, time; npm: @duckdb/node-api under $WORK/duckdb), PEERS (the harness dir),
#      PGB_PORT (55433: the throw-away PostgreSQL cluster's port, under $WORK/pg).
# The 10M size takes about 15 minutes: run it with nohup in the background.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench/engine_bench.sh BUILD_DIR [S] [L]}
shift
build=$(cd "$build" && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(S L)
WORK=${WORK:-/tmp/hk-engine-bench}
REPS=${REPS:-3}
ENGINES=${ENGINES:-"huike duckdb pandas sqlite postgres"}
TIMEOUT_S=${TIMEOUT_S:-900}
PEERS=${PEERS:-/work/shared/bench-peers}
DUCK_VER=${DUCK_VER:-1.5.6-r.1}
export PGB_PORT=${PGB_PORT:-55433} PGB_DIR=$WORK/pg
export DUCKDB_NODE_API=$WORK/duckdb/node_modules/@duckdb/node-api
bench=$build/tests/engine/bench_engine
[ -x "$bench" ] || { echo "no $bench (cmake --build $build --target bench_engine)" >&2; exit 1; }
mkdir -p "$WORK/bin" "$WORK/data" "$WORK/results"
chmod 755 "$WORK" "$WORK/data"

if [ "${SETUP:-1}" = 1 ]; then
    need=()
    command -v sqlite3 >/dev/null || need+=(sqlite3)
    [ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
    /usr/bin/python3 -c 'import pandas' 2>/dev/null || need+=(python3-pandas)
    [ -x /usr/bin/time ] || need+=(time)
    command -v node >/dev/null || need+=(nodejs npm)
    if [ ${#need[@]} -gt 0 ]; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >"$WORK/setup.log" 2>&1 || { echo "apt-get failed: $WORK/setup.log" >&2; exit 1; }
    fi
    if [ ! -d "$DUCKDB_NODE_API" ]; then
        mkdir -p "$WORK/duckdb"
        (cd "$WORK/duckdb" && { [ -f package.json ] || npm init -y >/dev/null; } &&
            npm install --no-audit --no-fund "@duckdb/node-api@$DUCK_VER") || exit 1
    fi
fi

gcc -O2 -o "$WORK/bin/gen_orders" "$PEERS/gen_orders.c" -lm || exit 1
res=$WORK/results
{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2; exit}'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "huike: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null) + working tree, $build"
    echo "duckdb: @duckdb/node-api $(node -p "require('$DUCKDB_NODE_API/package.json').version" 2>/dev/null)"
    echo "sqlite3: $(sqlite3 --version | cut -d' ' -f1)"
    echo "postgres: $(/usr/lib/postgresql/15/bin/postgres --version)"
    echo "pandas: $(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)' 2>/dev/null)"
    echo "command: bench/engine_bench.sh $build ${SIZES[*]} (REPS=$REPS)"
} | tee "$res/versions.txt"

declare -A NORD=([S]=1000000 [L]=10000000)
for size in "${SIZES[@]}"; do
    csv=$WORK/data/orders_$size.csv
    [ -s "$csv" ] || "$WORK/bin/gen_orders" "${NORD[$size]}" "$csv" 20250101 || exit 1
    chmod 644 "$csv"
    for eng in $ENGINES; do
        log=$res/${eng}_$size.log
        cat "$csv" >/dev/null # every engine starts with the CSV in the page cache
        echo "== $eng $size (load average $(cut -d' ' -f1-3 /proc/loadavg); log $log)"
        echo "LOADAVG $eng $size $(cut -d' ' -f1 /proc/loadavg)" >"$log"
        t0=$(date +%s.%N)
        case $eng in
        huike) timeout -k 10 "$TIMEOUT_S" /usr/bin/time -f "RSS huike $size %M" "$bench" "$csv" "$REPS" "$size" ;;
        duckdb) timeout -k 10 "$TIMEOUT_S" /usr/bin/time -f "RSS duckdb $size %M" node "$PEERS/duckdb_bench.js" "$csv" "$size" "$REPS" ;;
        pandas) timeout -k 10 "$TIMEOUT_S" /usr/bin/time -f "RSS pandas $size %M" /usr/bin/python3 "$PEERS/pandas_bench.py" "$csv" "$size" "$REPS" ;;
        sqlite) timeout -k 10 "$TIMEOUT_S" "$PEERS/sqlite_bench.sh" "$csv" "$size" "$REPS" "$WORK/sqlite" ;;
        postgres) timeout -k 10 "$TIMEOUT_S" "$PEERS/pg_bench.sh" "$csv" "$size" "$REPS" ;;
        *) echo "unknown engine $eng" ;;
        esac >>"$log" 2>&1
        rc=$?
        echo "WALL $eng $size $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') rc=$rc" >>"$log"
        if [ "$eng" = postgres ] && [ -f "$PGB_DIR/data/postmaster.pid" ]; then
            runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PGB_DIR/data" -m fast -w stop >/dev/null 2>&1 ||
                kill -TERM "$(head -1 "$PGB_DIR/data/postmaster.pid")" 2>/dev/null
        fi
        grep -E '^(RESULT|CHECK)' "$log" | awk '{printf "%s %s %s; ", $4, $5, $6} END {print ""}' | cut -c1-300
    done
    rm -rf "$WORK/sqlite"
done
echo "== summary"
/usr/bin/python3 "$here/engine_bench_table.py" "$res" | tee "$res/summary.md"
