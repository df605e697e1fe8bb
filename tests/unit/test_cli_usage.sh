#!/usr/bin/env bash
# Every huike command given no, too few or bad arguments prints its usage and exits 2 without
# creating, opening or migrating a database: run in an empty directory where the default
# database (data/huike.db) would be created, and with --db naming a file, nothing may appear.
# Valid commands still reach the database (the check must be able to fail).
# usage: test_cli_usage.sh HUIKE_BIN
set -u
bin=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail=0
usage_error() { # ARGS...: exit 2, a "usage:" line on stderr, no file in the directory
    "$bin" "$@" >out.txt 2>err.txt
    local rc=$?
    if [ "$rc" -ne 2 ]; then
        echo "FAIL: huike $*: exit $rc, want 2"; fail=1
    fi
    if ! grep -q 'usage:' err.txt; then
        echo "FAIL: huike $*: no usage on stderr: $(cat err.txt)"; fail=1
    fi
    rm -f out.txt err.txt
    if [ -n "$(ls -A)" ]; then
        echo "FAIL: huike $*: created $(ls -A | tr '\n' ' ')"; fail=1
        rm -rf ./* ./.[!.]* 2>/dev/null
    fi
}
for db in "" "--db ./given.db"; do
    # shellcheck disable=SC2086  # $db is two words or none
    {
        usage_error $db segment
        usage_error $db segment count
        usage_error $db segment count 'frequency >= 1' extra
        usage_error $db segment bogus
        usage_error $db segment export
        usage_error $db segment export --format pdf 'frequency >= 1'
        usage_error $db segment export --bogus x
        usage_error $db import
        usage_error $db import --format nosuch orders.csv
        usage_error $db import --bogus orders.csv
        usage_error $db import --shop
        usage_error $db import --batch 0 orders.csv
        usage_error $db rfm extra
        usage_error $db rfm --bogus
        usage_error $db rfm --shop
        usage_error $db tag
        usage_error $db tag add notanid 高价值
        usage_error $db tag create
        usage_error $db tag nosuch
        usage_error $db user
        usage_error $db user add
        usage_error $db user add bob
        usage_error $db user add bob --role nosuchrole
        usage_error $db user list extra
        usage_error $db user nosuch
        usage_error $db token
        usage_error $db token create
        usage_error $db token revoke x
        usage_error $db token nosuch
        usage_error $db demo
        usage_error $db demo --customers x
        usage_error $db serve extra
        usage_error $db migrate extra
    }
done
# help is not an error, and needs no database either
for args in "segment --help" "user help" "token help"; do
    # shellcheck disable=SC2086
    if ! "$bin" $args >out.txt 2>&1 || ! grep -q 'usage:' out.txt; then
        echo "FAIL: huike $args: $(cat out.txt)"; fail=1
    fi
    rm -f out.txt
    [ -z "$(ls -A)" ] || { echo "FAIL: huike $args created $(ls -A)"; fail=1; rm -rf ./*; }
done
# the same commands with good arguments do open (and create) the database
"$bin" --db ./good.db user list >/dev/null 2>&1 || { echo "FAIL: user list on a new db"; fail=1; }
[ -f good.db ] || { echo "FAIL: a valid command did not create the database"; fail=1; }
"$bin" --db ./good.db rfm --json >/dev/null 2>&1 || { echo "FAIL: rfm --json"; fail=1; }
# rfm --shop passes the check (the shop is looked up in the database; an unknown one fails there)
"$bin" --db ./good.db rfm --shop nosuch >/dev/null 2>&1; [ $? -ne 2 ] || { echo "FAIL: rfm --shop refused as usage"; fail=1; }
"$bin" --db ./good.db segment count 'frequency >= 1' >/dev/null 2>&1 ||
    { echo "FAIL: segment count"; fail=1; }
# a file with a header and no rows imports nothing, and says so
printf 'order_no,buyer_id,status,created_at,product_title,quantity,unit_price,paid_amount\n' > h.csv
out=$("$bin" --db ./good.db import h.csv 2>&1)
echo "$out" | grep -q 'no data rows' || { echo "FAIL: header-only import: $out"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: usage errors open no database"
exit "$fail"
