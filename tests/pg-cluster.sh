#!/usr/bin/env bash
# pg-cluster.sh — a throw-away PostgreSQL cluster for the tests.
#
#   tests/pg-cluster.sh start DIR   initdb + start a private cluster; its libpq URL goes to DIR/url
#   tests/pg-cluster.sh stop DIR    stop it and remove DIR (and the cluster's files)
#
# The cluster never touches the system one (if any): its own data directory, a free loopback
# port, listen_addresses = 127.0.0.1, a unix socket directory of its own, trust authentication
# for loopback only (initdb's defaults with -A trust: local socket and 127.0.0.1/::1), fsync off.
# The bootstrap superuser "huike" owns a database "huike"; tests create and drop their own
# databases through it (DIR/url = postgresql://huike@127.0.0.1:PORT/huike).
#
# PostgreSQL refuses to run as root. As root the cluster runs as the "postgres" system user
# (created by the postgresql package), or as a dedicated "huike-pg" user made with useradd when
# that does not exist. Because DIR may sit where that user cannot reach (under /root, say), or
# be too deep for a unix socket path (~107 bytes), the cluster's files live in DIR/cluster when
# the user can use it and in a private mktemp directory otherwise; DIR/root names the place.
set -euo pipefail

die() {
    echo "pg-cluster: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
cmd=$1
dir=$2

find_bindir() {
    local best="" d
    # Highest major version first (sort -V), the first one with both tools wins.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            best=$d
            break
        fi
    done
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [ -n "$best" ] || die "initdb/pg_ctl not found (install postgresql: scripts/install-deps.sh)"
    echo "$best"
}

# The user the server runs as, and a way to run a command as that user.
run_user=""
pick_user() {
    if [ "$(id -u)" -ne 0 ]; then
        run_user=$(id -un)
        return
    fi
    if id postgres >/dev/null 2>&1; then
        run_user=postgres
    else
        if ! id huike-pg >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin huike-pg 2>/dev/null ||
                id huike-pg >/dev/null 2>&1 || die "cannot create the huike-pg user"
        fi
        run_user=huike-pg
    fi
}

as_user() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$run_user" -- "$@"
    else
        su -s /bin/sh "$run_user" -c "$(printf '%q ' "$@")"
    fi
}

port_free() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -Eq "[:.]$p\$"; then
            return 1
        fi
    fi
    # Nothing must answer on it either (covers systems without ss).
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        return 1
    fi
    return 0
}

pick_port() {
    local i p
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if port_free "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free loopback port found"
}

stop_cluster() {
    local root="" bindir
    if [ -f "$dir/root" ]; then
        root=$(cat "$dir/root")
    fi
    if [ -n "$root" ] && [ -f "$root/data/postmaster.pid" ]; then
        bindir=$(find_bindir)
        pick_user
        (cd / && as_user "$bindir/pg_ctl" -D "$root/data" -m immediate -w -t 30 stop \
            >/dev/null 2>&1) || true
        # If pg_ctl could not (wrong user, half-made cluster), end the postmaster by its pid.
        if [ -f "$root/data/postmaster.pid" ]; then
            local pid
            pid=$(head -n 1 "$root/data/postmaster.pid" 2>/dev/null || true)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                kill -QUIT "$pid" 2>/dev/null || true
                sleep 1
            fi
        fi
    fi
    if [ -n "$root" ] && [ "$root" != "/" ]; then
        rm -rf "$root"
    fi
    rm -rf "$dir"
}

start_cluster() {
    local bindir root data sock log port attempt ok=0 short
    bindir=$(find_bindir)
    pick_user

    # A cluster left behind by an interrupted run is stopped and removed first.
    if [ -e "$dir" ]; then
        stop_cluster
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)

    root="$dir/cluster"
    mkdir -p "$root"
    chmod 700 "$root"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$run_user" "$root"
    fi
    # Socket path: ROOT/s/.s.PGSQL.NNNNN must fit in sun_path (107 bytes).
    short=$(( ${#root} + 20 < 100 ))
    if [ "$short" -ne 1 ] || ! (cd / && as_user test -w "$root" -a -x "$root"); then
        rm -rf "$root"
        root=$(mktemp -d "${TMPDIR:-/tmp}/hkpg.XXXXXX")
        chmod 700 "$root"
        if [ "$(id -u)" -eq 0 ]; then
            chown "$run_user" "$root"
        fi
        (cd / && as_user test -w "$root") || die "user $run_user cannot write $root"
    fi
    echo "$root" >"$dir/root"
    data="$root/data"
    sock="$root/s"
    log="$root/postgres.log" # written by the server, so where its user can write
    as_user touch "$log"
    as_user mkdir -p "$sock"
    ln -sfn "$log" "$dir/postgres.log"

    (cd / && as_user "$bindir/initdb" -D "$data" -U huike -A trust -E UTF8 --locale=C \
        --no-sync >>"$log" 2>&1) || { cat "$log" >&2; die "initdb failed (log above)"; }

    cat >>"$data/postgresql.conf" <<EOF

# --- huike throw-away test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF

    for attempt in 1 2 3 4 5; do
        port=$(pick_port)
        if (cd / && as_user "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1); then
            ok=1
            break
        fi
        # Lost a race for the port (or a slow start): make sure it is down, then try another.
        (cd / && as_user "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1) || true
    done
    [ "$ok" -eq 1 ] || { tail -n 30 "$log" >&2; die "the server did not start (log above)"; }

    # A database for the tests' own connections; they create their own databases from it.
    if ! "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U huike -d postgres \
        -c "CREATE DATABASE huike" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "cannot create the test database (log above)"
    fi
    echo "postgresql://huike@127.0.0.1:$port/huike" >"$dir/url"
    echo "pg-cluster: running on 127.0.0.1:$port as $run_user, files in $root"
}

case "$cmd" in
start) start_cluster ;;
stop)
    stop_cluster
    echo "pg-cluster: stopped"
    ;;
*) die "usage: $0 start|stop DIR" ;;
esac
