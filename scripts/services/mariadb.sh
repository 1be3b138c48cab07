#!/usr/bin/env bash
# MariaDB for Understudy's tests and the local WordPress: Debian's mariadb-server
# on 127.0.0.1:3306, started with mysqld_safe (no systemd needed), and a user
# `understudy` (password `understudy`) with all privileges on *.* from
# 127.0.0.1 and localhost, because the tests create and drop their own databases.
#
# usage: mariadb.sh [up|restart|stop|status|url]     (default: up)
#   up       install, configure and start as needed; silent when already up
#   restart  stop the server, then `up` (waits until it answers)
#   stop     shut the server down and wait until it is gone
#   status   print "up" or "down"; exit 1 when down
#   url      print UNDERSTUDY_MARIADB_URL=...
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DB_HOST=127.0.0.1
DB_PORT=3306
DB_USER=understudy
DB_PASSWORD=understudy
MARIADB_URL="mysql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:${DB_PORT}"

CONF_DROPIN=/etc/mysql/mariadb.conf.d/60-understudy.cnf
SOCKET=/run/mysqld/mysqld.sock
ERROR_LOG=/var/log/mysql/error.log

# Things done on this run; reported in one line at the end of `up`.
did=()

lock() {
    exec 9>"${TMPDIR:-/tmp}/understudy-mariadb.lock"
    flock -w 900 9 || die "another mariadb.sh has held its lock for 15 minutes; is it stuck?"
}

# Root talks to the server over the unix socket (Debian's unix_socket auth for root).
admin_ping() {
    as_root mariadb-admin --no-defaults --protocol=socket --socket="$SOCKET" -uroot \
        --connect-timeout=2 ping </dev/null >/dev/null 2>&1
}

sql_root() {
    as_root mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot -N -B "$@"
}

server_pids() {
    pgrep -x mariadbd 2>/dev/null || true
    pgrep -x mysqld_safe 2>/dev/null || true
}

server_gone() {
    [[ -z "$(server_pids)" ]]
}

tcp_login() {
    mariadb --no-defaults --protocol=tcp -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" \
        -p"$DB_PASSWORD" --connect-timeout=5 -N -B -e 'SELECT 1' </dev/null
}

ensure_installed() {
    if [[ ! -x /usr/sbin/mariadbd || ! -x /usr/bin/mysqld_safe ]] || ! command -v mariadb >/dev/null 2>&1; then
        ensure_packages mariadb-server mariadb-client
        did+=("installed mariadb-server")
    fi
    [[ -d /var/lib/mysql/mysql ]] \
        || die "/var/lib/mysql has no system tables; reinstall with 'apt-get install --reinstall mariadb-server'"
}

# Writes our drop-in config; returns 0 when it changed.
write_config() {
    local want
    want=$(cat <<EOF
# Written by scripts/services/mariadb.sh (Understudy dev/test server).
[mysqld]
bind-address = ${DB_HOST}
port = ${DB_PORT}
socket = ${SOCKET}
# Tests run in parallel, each with its own pools.
max_connections = 300
# A dev/test server: flush the redo log to the OS at each commit, fsync once a second.
# Survives a killed mariadbd (only an OS crash loses the last second); WordPress issues
# dozens of autocommitted writes per post, so this makes seeding several times faster.
innodb_flush_log_at_trx_commit = 2

[mysqld_safe]
skip-syslog
log-error = ${ERROR_LOG}
EOF
    )
    if [[ -f "$CONF_DROPIN" && "$(cat "$CONF_DROPIN")" == "$want" ]]; then
        return 1
    fi
    printf '%s\n' "$want" | as_root tee "$CONF_DROPIN" >/dev/null
    as_root chmod 644 "$CONF_DROPIN"
    did+=("wrote $CONF_DROPIN")
    return 0
}

start_server() {
    if tcp_open "$DB_HOST" "$DB_PORT"; then
        die "MariaDB is not answering on $SOCKET but ${DB_HOST}:${DB_PORT} is taken by another process (docker-compose mariadb?); stop that process and rerun"
    fi
    as_root install -d -o mysql -g mysql -m 755 /run/mysqld
    as_root install -d -o mysql -g adm -m 2750 /var/log/mysql
    # A new session with no inherited fds (not even our lock): the server outlives
    # this script and the terminal or CI step that ran it.
    as_root setsid --fork /usr/bin/mysqld_safe </dev/null >/dev/null 2>&1 9>&-
    wait_until 60 "MariaDB to answer on $SOCKET (log: $ERROR_LOG)" admin_ping
    wait_until 30 "MariaDB to accept TCP connections on ${DB_HOST}:${DB_PORT} (log: $ERROR_LOG)" \
        tcp_open "$DB_HOST" "$DB_PORT"
    did+=("started")
}

stop_server() {
    server_gone && return 0
    if admin_ping; then
        as_root mariadb-admin --no-defaults --protocol=socket --socket="$SOCKET" -uroot \
            shutdown </dev/null >/dev/null 2>&1 || true
    else
        # A server that does not answer: ask mysqld_safe and mariadbd to end.
        local pid
        for pid in $(server_pids); do as_root kill -TERM "$pid" 2>/dev/null || true; done
    fi
    wait_until 120 "MariaDB to shut down (log: $ERROR_LOG)" server_gone
}

user_ok() {
    tcp_login >/dev/null 2>&1 || return 1
    local host
    for host in 127.0.0.1 localhost; do
        sql_root -e "SHOW GRANTS FOR '${DB_USER}'@'${host}'" 2>/dev/null \
            | grep -q "^GRANT ALL PRIVILEGES ON \*\.\* TO .* WITH GRANT OPTION" || return 1
    done
}

ensure_user() {
    user_ok && return 0
    local host
    for host in 127.0.0.1 localhost; do
        sql_root <<SQL >/dev/null
CREATE USER IF NOT EXISTS '${DB_USER}'@'${host}' IDENTIFIED BY '${DB_PASSWORD}';
ALTER USER '${DB_USER}'@'${host}' IDENTIFIED BY '${DB_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '${DB_USER}'@'${host}' WITH GRANT OPTION;
SQL
    done
    local err
    if ! err=$(tcp_login 2>&1 >/dev/null); then
        die "cannot log in as ${DB_USER} over TCP after creating the user: ${err//$'\n'/ }"
    fi
    did+=("user ${DB_USER}")
}

cmd_up() {
    lock
    ensure_installed
    local changed=0
    write_config && changed=1
    if admin_ping; then
        if ((changed)); then
            stop_server
            start_server
        fi
    else
        # A leftover mysqld_safe/mariadbd that does not answer would fight a new one.
        server_gone || stop_server
        start_server
    fi
    ensure_user
    if ((${#did[@]} > 0)); then
        local IFS=','
        log "ready on ${DB_HOST}:${DB_PORT} (${did[*]})"
    fi
}

cmd_stop() {
    lock
    stop_server
}

case "${1:-up}" in
    up) cmd_up ;;
    restart)
        cmd_stop
        exec 9>&-
        cmd_up
        ;;
    stop) cmd_stop ;;
    status)
        if admin_ping && tcp_open "$DB_HOST" "$DB_PORT"; then echo up; else echo down; exit 1; fi
        ;;
    url) echo "UNDERSTUDY_MARIADB_URL=${MARIADB_URL}" ;;
    *) die "unknown subcommand '$1'; use one of: up restart stop status url" ;;
esac
