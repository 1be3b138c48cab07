#!/bin/bash
# Understudy MariaDB image entrypoint. Reads the official image's variables:
# MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD, MARIADB_ROOT_PASSWORD (or
# MARIADB_RANDOM_ROOT_PASSWORD / MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: root then logs in
# through the socket only), each also as MYSQL_* and *_FILE. Initialises an empty
# /var/lib/mysql once, then runs the server in the foreground.
set -euo pipefail

env_value() {
    local name=$1 file_var value=""
    for var in "MARIADB_$name" "MYSQL_$name"; do
        file_var="${var}_FILE"
        if [[ -n "${!var:-}" ]]; then
            value=${!var}
            break
        elif [[ -n "${!file_var:-}" && -r "${!file_var}" ]]; then
            value=$(<"${!file_var}")
            break
        fi
    done
    printf '%s' "$value"
}

sql_string() { # a quoted SQL string literal
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}

sql_ident() { # a quoted identifier
    printf '`%s`' "${1//\`/\`\`}"
}

datadir=/var/lib/mysql
mkdir -p /run/mysqld "$datadir"
chown mysql:mysql /run/mysqld "$datadir"

if [[ "${1:-}" == mariadbd && ! -d "$datadir/mysql" ]]; then
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=socket >/dev/null
    socket=/run/mysqld/init.sock
    mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
    pid=$!
    for _ in $(seq 600); do
        mariadb --socket="$socket" -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    database=$(env_value DATABASE)
    user=$(env_value USER)
    password=$(env_value PASSWORD)
    root_password=$(env_value ROOT_PASSWORD)
    {
        if [[ -n "$root_password" ]]; then
            echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$root_password"));"
        fi
        if [[ -n "$database" ]]; then
            echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$database") CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        fi
        if [[ -n "$user" && -n "$password" ]]; then
            echo "CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
            if [[ -n "$database" ]]; then
                echo "GRANT ALL ON $(sql_ident "$database").* TO $(sql_string "$user")@'%';"
            fi
        fi
    } | mariadb --socket="$socket"
    kill "$pid"
    wait "$pid" || true
fi

if [[ "${1:-}" == mariadbd ]]; then
    exec mariadbd --user=mysql --datadir="$datadir" "${@:2}"
fi
exec "$@"
