#!/usr/bin/env bash
# import_bench.sh — `huike import` beside the peers, on generated generic exports, in one run.
#
#   bench/import_bench.sh BUILD_DIR ["LINES ..."] [PG_URL]
#
# BUILD_DIR is a Release build (cmake -DCMAKE_BUILD_TYPE=Release) that has built `huike` and
# `hk_gen_generic` (tests/importdb builds the generator). LINES is one or more sizes, default
# "1000000 10000000". For each size the file is generated once (deterministic:
# bench/gen_generic.c, seed 20260301) under $WORK (default /tmp/hk-import-bench), then, one after
# another (never two at once):
#   peers   DuckDB (`CREATE TABLE AS SELECT * FROM read_csv(...)` into a database file, through
#           the npm package @duckdb/node-api, installed by this script into $WORK/duckdb),
#           the SQLite CLI (`.import --csv` into a fresh WAL file, one TEXT table, no index),
#           PostgreSQL `COPY ... FROM STDIN (FORMAT csv, HEADER)` into a plain table of 20 text
#           columns (psql \copy);
#   huike   `huike import` into a fresh SQLite file and into a fresh PostgreSQL database (an
#           initial load: secondary indexes built at the end, src/ingest/import.h), each
#           followed by a re-import of the same file (which must change nothing).
# The peers only load text into one table; huike parses, validates, resolves identities, writes
# 5 tables with their indexes, encrypts PII and writes the change log.
#
# PostgreSQL: PG_URL names a server where the script may create and drop databases beside the
# one named; without it the script starts a throw-away cluster with tests/pg-cluster.sh in
# $WORK/pg, configured for the benchmark (fsync on, synchronous_commit on, full_page_writes on,
# shared_buffers 256MB, max_wal_size 4GB), and stops it at the end.
#
# ROUNDS (default 3) runs every system that many times per size, round after round (never the
# same system twice in a row), because this kind of machine changes speed by a third within an
# hour: one run each compares hours as much as programs. The re-imports run in the first round.
# After the rounds, a summary per size: each system's median and best time, and the ratios of
# the medians.
#
# Prints, per run, wall time, lines/s, the process's CPU time (user + sys), the PostgreSQL
# server's CPU time (its backends', when the script runs the cluster), peak RSS (/usr/bin/time)
# and the 1-minute load average before and after (the machine may be shared: on a busy machine
# the CPU times say more than the wall times), then the ratios of huike's time to each peer's.
# The table also goes to $WORK/results.md.
set -euo pipefail

build=${1:?usage: bench/import_bench.sh BUILD_DIR [\"LINES ...\"] [PG_URL]}
sizes=${2:-1000000 10000000}
pg=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/hk-import-bench}
rounds=${ROUNDS:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number from 1" >&2; exit 2; }
duck_ver=${DUCK_VER:-1.5.6-r.1}
huike=$(cd "$build" && pwd)/huike
gen=$(find "$build" -name hk_gen_generic -type f -perm -u+x | head -1)
[ -x "$huike" ] || { echo "no $huike" >&2; exit 1; }
[ -n "$gen" ] || { echo "no hk_gen_generic under $build" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 (the CLI) is needed" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }
command -v node >/dev/null || { echo "node and npm are needed for DuckDB" >&2; exit 1; }
mkdir -p "$work"
export HUIKE_KEY=${HUIKE_KEY:-$(printf '%064d' 1)}
out=$work/results.md
: >"$out"

# ---- DuckDB through npm, in $WORK/duckdb ----------------------------------------------------
duck=$work/duckdb
if [ ! -d "$duck/node_modules/@duckdb/node-api" ]; then
    mkdir -p "$duck"
    (cd "$duck" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --loglevel=error "@duckdb/node-api@$duck_ver" >/dev/null)
fi
cat >"$duck/load.js" <<'EOF'
// load.js CSV DBFILE — loads CSV into a new table of a DuckDB database file, prints the rows.
const duck = require(__dirname + '/node_modules/@duckdb/node-api');
(async () => {
  const [csv, file] = process.argv.slice(2);
  const inst = await duck.DuckDBInstance.create(file);
  const con = await inst.connect();
  await con.run(`CREATE TABLE orders AS SELECT * FROM read_csv('${csv}', header = true)`);
  const r = await con.runAndReadAll('SELECT count(*) FROM orders');
  console.log(String(r.getRows()[0][0]));
})().catch((e) => { console.error(e); process.exit(1); });
EOF

# ---- PostgreSQL: the given server, or a throw-away cluster ----------------------------------
pg_started=""
stop_pg() { [ -z "$pg_started" ] || "$here/../tests/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1 || true; }
trap stop_pg EXIT
if [ -z "$pg" ]; then
    "$here/../tests/pg-cluster.sh" start "$work/pg" >/dev/null
    pg_started=1
    pg=$(cat "$work/pg/url")
    psql -X -q "$pg" -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
        -c "ALTER SYSTEM SET full_page_writes = on" -c "ALTER SYSTEM SET shared_buffers = '256MB'" \
        -c "ALTER SYSTEM SET max_wal_size = '4GB'"
    root=$(cat "$work/pg/root")
    port=${pg##*:}
    port=${port%%/*}
    bindir=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")
    if [ "$(id -u)" -eq 0 ]; then
        owner=$(stat -c %U "$root/data")
        (cd / && runuser -u "$owner" -- "$bindir/pg_ctl" -D "$root/data" -w -t 60 \
            -o "-p $port" restart >/dev/null)
    else
        "$bindir/pg_ctl" -D "$root/data" -w -t 60 -o "-p $port" restart >/dev/null
    fi
fi
base=${pg%/*}
pgver=$(psql -X -At "$pg" -c "SHOW server_version" | cut -d' ' -f1)
pgconf=$(psql -X -At "$pg" -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size')")

# ---- timing ---------------------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
declare -A times
# CPU seconds the cluster's finished backends used (the postmaster's reaped children), when the
# script runs the cluster itself; "-" otherwise.
server_cpu() {
    local pm
    [ -n "$pg_started" ] && pm=$(head -1 "$(cat "$work/pg/root")/data/postmaster.pid" 2>/dev/null) &&
        awk '{ printf "%.2f", ($16 + $17) / 100 }' "/proc/$pm/stat" 2>/dev/null || echo "-"
}
row() { # key label lines server? cmd... — runs cmd, adds its time to times[key], prints a table row
    local key=$1 label=$2 n=$3 srv=$4 t0 t1 rss cpu la0 la1 s c0 c1 sc
    shift 4
    la0=$(load1)
    c0=$(server_cpu)
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M %U %S' -o "$work/rss" "$@" >"$work/last.out" 2>"$work/last.err" ||
        { echo "FAILED: $label" >&2; tail -5 "$work/last.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    la1=$(load1)
    sleep 0.3 # the backend's exit reaches the postmaster's counters
    c1=$(server_cpu)
    sc="-"
    [ "$srv" = pg ] && [ "$c0" != "-" ] && sc=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f s", b - a }')
    read -r rss cpu < <(tail -1 "$work/rss" | awk '{ print $1, $2 + $3 }')
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    times[$key]="${times[$key]:-} $s"
    awk -v l="$label" -v s="$s" -v n="$n" -v r="$rss" -v c="$cpu" -v sc="$sc" -v a="$la0" -v b="$la1" \
        'BEGIN { printf "| %-36s | %8.2f s | %9.0f | %6.1f s | %8s | %7.0f MiB | %s → %s |\n", l, s, n / s, c, sc, r / 1024, a, b }' |
        tee -a "$out"
}
median() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { tr ' ' '\n' <<<"${times[$1]}" | grep . | sort -g | head -1; }
summary() { # key label lines
    local m b
    m=$(median "$1")
    b=$(best "$1")
    awk -v l="$2" -v m="$m" -v b="$b" -v n="$3" -v all="${times[$1]# }" \
        'BEGIN { printf "| %-36s | %8.2f s | %9.0f | %8.2f s | %9.0f | %s |\n", l, m, n / m, b, n / b, all }' |
        tee -a "$out"
}
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" -v l="$3" \
    'BEGIN { printf "| huike %s | %.1f× |\n", l, a / b }' | tee -a "$out"; }

{
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"
    echo "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; SQLite $(sqlite3 --version | cut -d' ' -f1),"
    echo "PostgreSQL $pgver ($pgconf), DuckDB $duck_ver (node $(node --version)); $(date -u '+%F %H:%M UTC')"
} | tee -a "$out"

for lines in $sizes; do
    csv=$work/generic-$lines.csv
    [ -s "$csv" ] || "$gen" "$lines" "$csv"
    echo | tee -a "$out"
    echo "### $lines lines ($(du -m "$csv" | cut -f1) MB)" | tee -a "$out"
    echo | tee -a "$out"
    echo "| run | time | lines/s | CPU (process) | CPU (server) | peak RSS | load avg before → after |" |
        tee -a "$out"
    echo "|---|---|---|---|---|---|---|" | tee -a "$out"
    cat "$csv" >/dev/null # into the page cache for every run alike
    for k in duck sqlite3 copy hs hp; do times[$k]=""; done

    for round in $(seq "$rounds"); do
        [ "$rounds" -eq 1 ] && r="" || r=" (round $round)"
        rm -f "$work"/peer.duckdb*
        row duck "DuckDB read_csv → table (file)$r" "$lines" - node "$duck/load.js" "$csv" "$work/peer.duckdb"
        rm -f "$work"/peer.duckdb*

        rm -f "$work"/peer.db*
        sqlite3 "$work/peer.db" "PRAGMA journal_mode = WAL" >/dev/null
        row sqlite3 "SQLite CLI .import --csv (WAL)$r" "$lines" - sqlite3 "$work/peer.db" ".import --csv $csv t"
        rm -f "$work"/peer.db*

        psql -X -q "$pg" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS hk_import_bench" \
            -c "CREATE DATABASE hk_import_bench"
        cols=$(head -1 "$csv" | tr -d '\r' | sed 's/,/ text, /g; s/$/ text/')
        psql -X -q "$base/hk_import_bench" -c "CREATE TABLE peer_copy ($cols)"
        row copy "PostgreSQL COPY (20 text columns)$r" "$lines" pg psql -X -q "$base/hk_import_bench" \
            -c "\\copy peer_copy FROM '$csv' WITH (FORMAT csv, HEADER)"
        psql -X -q "$base/hk_import_bench" -c "DROP TABLE peer_copy" -c "CHECKPOINT"

        rm -f "$work"/bench.db*
        row hs "huike import → SQLite$r" "$lines" - "$huike" --db "$work/bench.db" import --json "$csv"
        head -c 200 "$work/last.out" >"$work/import-sqlite-$lines.json"
        if [ "$round" -eq 1 ]; then
            row hs2 "huike re-import → SQLite (no-op)" "$lines" - "$huike" --db "$work/bench.db" import --json "$csv"
            grep -q '"orders_created":0,"orders_updated":0' "$work/last.out" ||
                { echo "re-import changed something: $(head -c 200 "$work/last.out")" >&2; exit 1; }
        fi
        rm -f "$work"/bench.db*

        row hp "huike import → PostgreSQL$r" "$lines" pg "$huike" --db "$base/hk_import_bench" import --json "$csv"
        head -c 200 "$work/last.out" >"$work/import-pg-$lines.json"
        if [ "$round" -eq 1 ]; then
            row hp2 "huike re-import → PostgreSQL (no-op)" "$lines" pg "$huike" --db "$base/hk_import_bench" import --json "$csv"
            grep -q '"orders_created":0,"orders_updated":0' "$work/last.out" ||
                { echo "re-import changed something: $(head -c 200 "$work/last.out")" >&2; exit 1; }
        fi
        psql -X -q "$pg" -c "DROP DATABASE hk_import_bench WITH (FORCE)"
    done

    echo | tee -a "$out"
    echo "| $lines lines, $rounds rounds | median | lines/s | best | lines/s | every run |" | tee -a "$out"
    echo "|---|---|---|---|---|---|" | tee -a "$out"
    summary duck "DuckDB read_csv → table (file)" "$lines"
    summary sqlite3 "SQLite CLI .import --csv (WAL)" "$lines"
    summary copy "PostgreSQL COPY (20 text columns)" "$lines"
    summary hs "huike import → SQLite" "$lines"
    summary hp "huike import → PostgreSQL" "$lines"

    echo | tee -a "$out"
    echo "| ratio (median time ÷ median time) | |" | tee -a "$out"
    echo "|---|---|" | tee -a "$out"
    ratio hs duck "→ SQLite ÷ DuckDB"
    ratio hs sqlite3 "→ SQLite ÷ SQLite CLI .import"
    ratio hp copy "→ PostgreSQL ÷ PostgreSQL COPY"
    ratio hp duck "→ PostgreSQL ÷ DuckDB"
    echo "huike result ($lines, SQLite): $(cat "$work/import-sqlite-$lines.json")" | tee -a "$out"
done
