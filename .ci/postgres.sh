#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the tests; print its URL as the only line on stdout.
#
#   export SLIPSTREAM_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"   # a fresh temp folder
#   bash .ci/postgres.sh --dir DIR                                  # in DIR (made if missing)
#   bash .ci/postgres.sh --stop DIR                                 # stop it, remove DIR
#
# Installs PostgreSQL with apt-get when no initdb is found and this user may install packages
# (root, unless SLIPSTREAM_TEST_INSTALL=0; else exits 3 saying so), initialises a cluster in
# the folder (trust auth, loopback only), starts it on a free port and creates the database
# "slipstream". The server is left running until --stop. Safe to call more than once: every
# call gets its own folder and port. Everything but the URL goes to stderr.
# `python3 dev.py test` uses --dir and --stop, so a test run leaves no server or folder behind.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin_dir() {
    local found
    if found="$(command -v initdb 2>/dev/null)"; then
        dirname "$(readlink -f "$found")"
        return 0
    fi
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then
        echo "$found"
        return 0
    fi
    return 1
}

if [ "${1:-}" = "--stop" ]; then
    DIR="${2:?usage: postgres.sh --stop DIR}"
    if [ -f "$DIR/data/postmaster.pid" ] && BIN="$(find_bin_dir)"; then
        OWNER="$(stat -c %U "$DIR/data")"
        if [ "$(id -u)" = "0" ]; then
            runuser -u "$OWNER" -- "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >&2
        else
            "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >&2
        fi
    fi
    rm -rf "$DIR"
    exit 0
fi

may_install() {
    [ "$(id -u)" = "0" ] && [ "${SLIPSTREAM_TEST_INSTALL:-1}" != "0" ] \
        && command -v apt-get >/dev/null 2>&1
}

if ! BIN="$(find_bin_dir)"; then
    if ! may_install; then
        log "no PostgreSQL binaries (initdb) found, and this user may not install them" \
            "(install PostgreSQL, or run as root without SLIPSTREAM_TEST_INSTALL=0)"
        exit 3
    fi
    log "no initdb found; installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BIN="$(find_bin_dir)" || { log "PostgreSQL installed but initdb still not found"; exit 1; }
fi
log "using PostgreSQL binaries in $BIN"

# initdb and postgres refuse to run as root: run them as an unprivileged user.
if [ "$(id -u)" = "0" ]; then
    if id -u postgres >/dev/null 2>&1; then
        PGUSER_NAME=postgres
    else
        PGUSER_NAME=slipstream-pg
        id -u "$PGUSER_NAME" >/dev/null 2>&1 || useradd -r -m "$PGUSER_NAME"
    fi
    as_user() { runuser -u "$PGUSER_NAME" -- "$@"; }
else
    PGUSER_NAME="$(id -un)"
    as_user() { "$@"; }
fi

if [ "${1:-}" = "--dir" ]; then
    DIR="${2:?usage: postgres.sh --dir DIR}"
    mkdir -p "$DIR"
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/slipstream-pg.XXXXXX")"
fi
chmod 755 "$DIR"
[ "$(id -u)" = "0" ] && chown "$PGUSER_NAME" "$DIR"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 30000))
    if ! port_in_use "$candidate"; then
        PORT="$candidate"
        break
    fi
done
[ -n "$PORT" ] || { log "no free port found"; exit 1; }

log "initialising a cluster in $DIR/data"
as_user "$BIN/initdb" -D "$DIR/data" -U "$PGUSER_NAME" --auth=trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }

# Durability is not wanted for a throwaway test server; speed is.
OPTIONS="-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300"
OPTIONS="$OPTIONS -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
log "starting on 127.0.0.1:$PORT (log: $DIR/server.log)"
as_user "$BIN/pg_ctl" -D "$DIR/data" -o "$OPTIONS" -l "$DIR/server.log" -w -t 60 start >&2 \
    || { cat "$DIR/server.log" >&2; exit 1; }

for _ in $(seq 1 60); do
    if as_user "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$PGUSER_NAME"; then
        break
    fi
    sleep 0.5
done
as_user "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$PGUSER_NAME" slipstream >&2
log "ready"
echo "postgresql+psycopg://$PGUSER_NAME@127.0.0.1:$PORT/slipstream"
