#!/usr/bin/env bash
# deploy/local/pg.sh — throwaway PostgreSQL 15 cluster for local runs and CI.
#
#   deploy/local/pg.sh start|stop|status [DIR]
#
# DIR defaults to <repo>/build/local/pg and holds data/ (PGDATA), run/ (unix
# socket) and postgres.log.  The cluster listens on 127.0.0.1 only, trust
# auth, superuser "postgres", database "loyalty":
#   postgresql://postgres@127.0.0.1:${LY_PG_PORT:-55432}/loyalty
# `start` is idempotent and prints that conninfo as its last line.
#
# Environment:
#   LY_PG_PORT  TCP port (default 55432)
#   LY_PG_BIN   PostgreSQL bin dir (default /usr/lib/postgresql/15/bin)
#   LY_PG_USER  OS user running the server when invoked as root
#               (default loyaltyd-pg, created with useradd --system if missing;
#               PostgreSQL refuses to run as root).  Ignored when not root.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

PORT=${LY_PG_PORT:-55432}
PGBIN=${LY_PG_BIN:-/usr/lib/postgresql/15/bin}
DBNAME=loyalty
SUPERUSER=postgres
START_TIMEOUT=60

usage() {
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
}

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
CMD=$1
DIR=$(realpath -m -- "${2:-$REPO_ROOT/build/local/pg}")
PGDATA_DIR=$DIR/data
SOCK_DIR=$DIR/run
LOG=$DIR/postgres.log

[ -x "$PGBIN/pg_ctl" ] || die "no PostgreSQL binaries in $PGBIN (install postgresql-15 or set LY_PG_BIN)"

# Server messages in a locale that certainly exists.
export LC_ALL=C
unset PGDATA PGHOST PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS || true

if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=${LY_PG_USER:-loyaltyd-pg}
else
    RUN_USER=$(id -un)
fi

# Run a command as the server's OS user, from a directory that user can read
# (postgres complains when it cannot access the current directory).
as_pg() {
    [ -d "$DIR" ] || return 1
    if [ "$(id -u)" -eq 0 ] && [ "$RUN_USER" != root ]; then
        (cd "$DIR" && runuser -u "$RUN_USER" -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

ensure_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    [ "$RUN_USER" != root ] || die "LY_PG_USER must not be root"
    if ! id -u "$RUN_USER" >/dev/null 2>&1; then
        echo "pg.sh: creating system user $RUN_USER"
        useradd --system --user-group --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
    fi
    # Every ancestor of DIR must be traversable by the server user.
    local d=$DIR
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        if ! runuser -u "$RUN_USER" -- test -x "$d"; then
            echo "pg.sh: chmod o+x $d (so $RUN_USER can reach $DIR)"
            chmod o+x "$d"
        fi
    done
    chown -R "$RUN_USER:" "$DIR"
    chmod 755 "$DIR"
}

# Prints the port of the running postmaster (line 4 of postmaster.pid).
running_port() {
    sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true
}

# True if the process exists and is not a zombie (a postmaster killed with
# SIGKILL stays a zombie in containers whose init does not reap promptly,
# and pg_ctl would take it for a live server).
pid_alive() {
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

is_running() {
    [ -f "$PGDATA_DIR/PG_VERSION" ] || return 1
    as_pg "$PGBIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1 || return 1
    local pid
    pid=$(sed -n 1p "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || return 1
    pid_alive "$pid"
}

# A postmaster that died by SIGKILL but is still a zombie looks alive to
# postgres' own lock-file check, so a new one would refuse to start.  Once no
# process is attached to its shared memory any more, its lock file is stale.
clear_zombie_lock() {
    local lock=$PGDATA_DIR/postmaster.pid pid shmid n
    pid=$(sed -n 1p "$lock" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [ -e "/proc/$pid" ] || return 0 # gone entirely: postgres copes itself
    pid_alive "$pid" && return 0
    shmid=$(sed -n 7p "$lock" | awk '{print $2}')
    for _ in $(seq 1 60); do
        n=$(ipcs -m 2>/dev/null | awk -v id="$shmid" '$2 == id {print $6}')
        if [ -z "$shmid" ] || [ -z "$n" ] || [ "$n" = 0 ]; then
            echo "pg.sh: removing stale lock files of dead server (pid $pid)"
            local f
            for f in "$SOCK_DIR"/.s.PGSQL.*.lock; do
                [ -f "$f" ] && [ "$(sed -n 1p "$f")" = "$pid" ] && rm -f "$f"
            done
            rm -f "$lock"
            return 0
        fi
        sleep 0.5
    done
    die "previous server (pid $pid) is dead but its shared memory is still in use"
}

conninfo() {
    echo "postgres: postgresql://$SUPERUSER@127.0.0.1:$1/$DBNAME"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

log_tail() {
    echo "---- last lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2 2>/dev/null || true
    echo "----" >&2
}

write_conf() {
    # unix socket path must fit in sun_path (107 bytes); fall back to TCP only.
    local sockdirs="'$SOCK_DIR'"
    if [ $(( ${#SOCK_DIR} + ${#PORT} + 10 )) -gt 100 ]; then
        echo "pg.sh: socket path under $SOCK_DIR too long, unix socket disabled" >&2
        sockdirs="''"
    fi
    cat >"$PGDATA_DIR/loyaltyd.conf" <<EOF
# Generated by deploy/local/pg.sh at every start; do not edit.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $sockdirs
max_connections = 100
# Memory and WAL for a write-heavy load (docs/performance.md): the working
# set of a large backlog stays in shared buffers, and checkpoints are far
# enough apart that full-page images do not double the WAL.
shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
wal_compression = lz4
# Durability as shipped: tests must see the same commit semantics as prod.
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    chown "$RUN_USER:" "$PGDATA_DIR/loyaltyd.conf" 2>/dev/null || true
}

do_init() {
    [ -f "$PGDATA_DIR/PG_VERSION" ] && return 0
    echo "pg.sh: initdb $PGDATA_DIR"
    rm -rf "$PGDATA_DIR"
    as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U "$SUPERUSER" --auth=trust \
        -E UTF8 --locale=C --no-instructions >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    echo "include 'loyaltyd.conf'" >>"$PGDATA_DIR/postgresql.conf"
}

do_start() {
    mkdir -p "$DIR"
    ensure_user
    if is_running; then
        echo "pg.sh: already running (data $PGDATA_DIR)"
        conninfo "$(running_port)"
        return 0
    fi
    do_init
    clear_zombie_lock
    mkdir -p "$SOCK_DIR"
    chown "$RUN_USER:" "$SOCK_DIR" 2>/dev/null || true
    write_conf
    : >"$LOG"
    chown "$RUN_USER:" "$LOG" 2>/dev/null || true

    if port_in_use "$PORT"; then
        die "127.0.0.1:$PORT is already in use by another process (set LY_PG_PORT)"
    fi
    echo "pg.sh: starting on 127.0.0.1:$PORT (data $PGDATA_DIR, log $LOG)"
    as_pg "$PGBIN/pg_ctl" start -D "$PGDATA_DIR" -l "$LOG" -W >/dev/null ||
        { log_tail; die "pg_ctl start failed"; }

    # Ready = our own postmaster reports "ready" in postmaster.pid (so a
    # different server on the same port cannot fool us) and accepts connections.
    local deadline=$((SECONDS + START_TIMEOUT)) grace=$((SECONDS + 3))
    until [ "$(sed -n 8p "$PGDATA_DIR/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ] &&
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -t 2; do
        if [ $SECONDS -ge $deadline ]; then
            log_tail
            die "server did not accept connections within ${START_TIMEOUT}s"
        fi
        # Give up early if the postmaster already died (bad config, ...).
        if [ $SECONDS -ge $grace ] && ! is_running; then
            log_tail
            die "server exited during startup"
        fi
        sleep 0.5
    done

    local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER")
    if [ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")" ]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE $DBNAME" >/dev/null
    fi
    conninfo "$PORT"
}

do_stop() {
    if ! is_running; then
        echo "pg.sh: not running"
        return 0
    fi
    as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null ||
        { log_tail; die "pg_ctl stop failed"; }
    echo "pg.sh: stopped"
}

do_status() {
    if is_running; then
        echo "pg.sh: running (data $PGDATA_DIR)"
        conninfo "$(running_port)"
        return 0
    fi
    echo "pg.sh: not running"
    return 1
}

case $CMD in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
