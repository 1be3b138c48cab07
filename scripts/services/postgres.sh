#!/usr/bin/env bash
# PostgreSQL for Understudy's tests and local runs: the Debian cluster 15/main on
# 127.0.0.1:5432 with role (CREATEDB, CREATEROLE: tests make their own) and database `understudy` (password `understudy`),
# password (scram) auth over TCP, and max_connections >= 300.
#
# usage: postgres.sh [up|restart|stop|kill|status|url]     (default: up)
#   up       install, configure and start as needed; silent when already up
#   restart  stop the cluster, then `up` (waits until it accepts connections)
#   stop     stop the cluster (fast shutdown)
#   kill     immediate shutdown (crash simulation; next start does crash recovery)
#   status   print "up" or "down"; exit 1 when down
#   url      print UNDERSTUDY_DATABASE_URL=...
set -euo pipefail

# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PG_VERSION="${UNDERSTUDY_PG_VERSION:-15}"
PG_CLUSTER=main
PG_HOST=127.0.0.1
PG_PORT=5432
PG_MIN_CONNECTIONS=300
DB_USER=understudy
DB_PASSWORD=understudy
DB_NAME=understudy
DATABASE_URL="postgres://${DB_USER}:${DB_PASSWORD}@${PG_HOST}:${PG_PORT}/${DB_NAME}"

PG_BIN="/usr/lib/postgresql/${PG_VERSION}/bin"
PG_ETC="/etc/postgresql/${PG_VERSION}/${PG_CLUSTER}"
PG_LOG="/var/log/postgresql/postgresql-${PG_VERSION}-${PG_CLUSTER}.log"
CONF_DROPIN="${PG_ETC}/conf.d/understudy.conf"
HBA_MARKER="# understudy: password login over TCP (scripts/services/postgres.sh)"

# Things done on this run; reported in one line at the end of `up`.
did=()

lock() {
    exec 9>"${TMPDIR:-/tmp}/understudy-postgres.lock"
    flock -w 900 9 || die "another postgres.sh has held its lock for 15 minutes; is it stuck?"
}

# Fields of `pg_lsclusters -h` for our cluster: version cluster port status owner datadir log
cluster_line() {
    pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c'
}

cluster_online() {
    [[ "$(cluster_line | awk '{print $4}')" == online* ]]
}

ctl() {
    local out
    # 9>&-: the server must not inherit (and keep holding) our lock.
    if ! out=$(as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" "$@" </dev/null 2>&1 9>&-); then
        printf '%s\n' "$out" >&2
        [[ -r "$PG_LOG" ]] && tail -n 15 "$PG_LOG" >&2
        die "pg_ctlcluster $PG_VERSION $PG_CLUSTER $* failed (output above; log: $PG_LOG)"
    fi
}

psql_admin() {
    as_user postgres psql -X -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"
}

tcp_login() {
    PGCONNECT_TIMEOUT=5 psql -X -w -At "$DATABASE_URL" -c 'select 1' </dev/null
}

ensure_installed() {
    if [[ ! -x "${PG_BIN}/postgres" ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        ensure_packages "postgresql-${PG_VERSION}" "postgresql-client-${PG_VERSION}"
        did+=("installed PostgreSQL ${PG_VERSION}")
    fi
}

ensure_cluster() {
    if [[ -z "$(cluster_line)" ]]; then
        as_root pg_createcluster --port "$PG_PORT" "$PG_VERSION" "$PG_CLUSTER" </dev/null >/dev/null \
            || die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
        did+=("created cluster ${PG_VERSION}/${PG_CLUSTER}")
    fi
    local port
    port=$(cluster_line | awk '{print $3}')
    [[ "$port" == "$PG_PORT" ]] \
        || die "cluster ${PG_VERSION}/${PG_CLUSTER} uses port $port, not $PG_PORT; set 'port = $PG_PORT' in ${PG_ETC}/postgresql.conf"
}

configured_max_connections() {
    as_user postgres "${PG_BIN}/postgres" -C max_connections -D "$PG_ETC" </dev/null
}

# Raises max_connections in the config files; returns 0 when it changed them.
raise_max_connections() {
    local current
    current=$(configured_max_connections) || die "cannot read max_connections from ${PG_ETC}"
    ((current < PG_MIN_CONNECTIONS)) || return 1
    printf '# Written by scripts/services/postgres.sh: the tests open many pools.\nmax_connections = %s\n' \
        "$PG_MIN_CONNECTIONS" | as_root tee "$CONF_DROPIN" >/dev/null
    as_root chown postgres:postgres "$CONF_DROPIN"
    current=$(configured_max_connections)
    ((current >= PG_MIN_CONNECTIONS)) \
        || die "max_connections is still $current after writing $CONF_DROPIN; something overrides it (ALTER SYSTEM? see postgresql.auto.conf)"
    did+=("max_connections ${PG_MIN_CONNECTIONS}")
    return 0
}

start_or_restart() {
    local config_changed=$1
    if cluster_online; then
        if ((config_changed)); then
            ctl restart
            did+=("restarted")
        fi
    else
        if tcp_open "$PG_HOST" "$PG_PORT"; then
            die "cluster ${PG_VERSION}/${PG_CLUSTER} is down but ${PG_HOST}:${PG_PORT} is taken by another process (docker-compose postgres?); stop that process and rerun"
        fi
        ctl start
        did+=("started")
    fi
    wait_until 60 "PostgreSQL to accept connections on ${PG_HOST}:${PG_PORT} (log: $PG_LOG)" \
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

role_and_database_ok() {
    [[ "$(psql_admin <<SQL
SELECT coalesce((SELECT rolcanlogin AND rolcreatedb AND rolcreaterole FROM pg_roles WHERE rolname = '${DB_USER}'), false)
   AND EXISTS (SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
               WHERE d.datname = '${DB_NAME}' AND r.rolname = '${DB_USER}');
SQL
    )" == t ]]
}

set_role_and_database() {
    psql_admin -v user="$DB_USER" -v password="$DB_PASSWORD" -v db="$DB_NAME" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'user', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SQL
}

# Puts a scram line for our role on 127.0.0.1 at the top of pg_hba.conf (moving it
# there if an earlier run put it lower) and reloads.
allow_tcp_password_login() {
    local hba current wanted
    hba=$(psql_admin -c 'SHOW hba_file')
    current=$(as_root cat "$hba")
    wanted=$(
        printf '%s\n' "$HBA_MARKER"
        printf 'host    %s    %s    %s/32    scram-sha-256\n' "$DB_NAME" "$DB_USER" "$PG_HOST"
        # Drop an earlier copy: the marker and the line after it.
        awk -v m="$HBA_MARKER" '$0 == m { skip = 2 } skip > 0 { skip--; next } { print }' <<<"$current"
    )
    if [[ "$wanted" != "$current" ]]; then
        printf '%s\n' "$wanted" | as_root tee "$hba" >/dev/null
        did+=("pg_hba: scram for ${DB_USER} on ${PG_HOST}")
    fi
    ctl reload
}

ensure_role_and_database() {
    if ! role_and_database_ok; then
        set_role_and_database
        did+=("role and database ${DB_NAME}")
    fi
    tcp_login >/dev/null 2>&1 && return 0

    # Wrong password, or pg_hba does not allow password login from 127.0.0.1.
    set_role_and_database
    did+=("password reset")
    tcp_login >/dev/null 2>&1 && return 0
    allow_tcp_password_login
    local err
    if ! err=$(tcp_login 2>&1 >/dev/null); then
        err=$(grep -o 'FATAL: .*' <<<"$err" | head -n 1 || true)
        die "cannot log in as ${DB_USER} over TCP (${err:-unknown error}); check ${PG_ETC}/pg_hba.conf"
    fi
}

cmd_up() {
    lock
    ensure_installed
    ensure_cluster
    local changed=0
    raise_max_connections && changed=1
    start_or_restart "$changed"
    ensure_role_and_database
    if ((${#did[@]} > 0)); then
        local IFS=','
        log "ready on ${PG_HOST}:${PG_PORT} (${did[*]})"
    fi
}

cmd_stop() {
    lock
    [[ -n "$(cluster_line)" ]] || return 0
    if cluster_online; then
        ctl stop
    fi
}

# Simulated crash: immediate shutdown (SIGQUIT to all processes, no checkpoint;
# the next start runs crash recovery).
cmd_kill() {
    lock
    [[ -n "$(cluster_line)" ]] || return 0
    if cluster_online; then
        ctl stop -m immediate
    fi
}

case "${1:-up}" in
    up) cmd_up ;;
    kill) cmd_kill ;;
    restart)
        cmd_stop
        exec 9>&-
        cmd_up
        ;;
    stop) cmd_stop ;;
    status)
        if cluster_online && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then echo up; else echo down; exit 1; fi
        ;;
    url) echo "UNDERSTUDY_DATABASE_URL=${DATABASE_URL}" ;;
    *) die "unknown subcommand '$1'; use one of: up restart stop kill status url" ;;
esac
