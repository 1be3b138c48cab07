#!/usr/bin/env bash
# The local WordPress that Understudy's tests export and clone: Debian's `wordpress`
# package (6.1) served by a dedicated Apache instance on 127.0.0.1:8081 only, with
# its own config file, pid file and logs, so stopping it for "site goes away" tests
# leaves any other Apache on the machine alone. Database `wp_understudy` on the
# MariaDB of scripts/services/mariadb.sh.
#
# usage: wordpress.sh [-q] [COMMAND]                 (default: up)
#   up        install, configure, start and provision as needed (and undo rest-off); then
#             print the URL and where the credentials are (-q: print nothing unless it
#             changed something)
#   restart   stop Apache, then `up`
#   stop      stop this site's Apache instance (the site goes away: connection refused)
#   start     start it again (same as `up`)
#   status    print "up" or "down"; exit 1 when down
#   rest-off [forbidden|notfound]
#             turn the REST API off: 403 {"code":"rest_disabled"} for every /wp-json/
#             request (default), or a plain HTML 404 with no REST discovery
#   rest-on   turn it back on
#   reset     drop the database and the uploads, then `up`: a fresh, empty site
#             (same admin password; new Application Passwords, written to the same files)
#   seed [ARGS]  run scripts/wp-seed.py against this site as admin (ARGS go to it)
#   env       print the site's settings and credentials as KEY=VALUE lines
#
# Credentials live in $STATE_DIR (default /var/lib/understudy-dev/wordpress):
# admin-password, app-password (admin), editor-app-password,
# subscriber-app-password, db-password, and wordpress.env with all of them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

# Another instance (e.g. the export benchmark's bigger site) runs beside this one with
# UNDERSTUDY_WP_HOST (a name other than 127.0.0.1, e.g. localhost: Debian picks the config by
# host name), UNDERSTUDY_WP_PORT, UNDERSTUDY_WP_DB and UNDERSTUDY_DEV_STATE; Apache listens
# on 127.0.0.1 only either way.
WP_HOST="${UNDERSTUDY_WP_HOST:-127.0.0.1}"
WP_PORT="${UNDERSTUDY_WP_PORT:-8081}"
WP_LISTEN=127.0.0.1
# Per-instance names (run dir, logs, lock) for instances on another port.
INSTANCE=""
[[ "$WP_PORT" == 8081 ]] || INSTANCE="-${WP_PORT}"
SITE_URL="http://${WP_HOST}:${WP_PORT}"
STATE_DIR="${UNDERSTUDY_DEV_STATE:-/var/lib/understudy-dev}/wordpress"
# Debian's wp-config.php loads /etc/wordpress/config-<Host header without port>.php.
WP_CONFIG="/etc/wordpress/config-${WP_HOST}.php"
# Per-site wp-content, laid out as Debian's README suggests (/srv/www/wp-content/<host>):
# mu-plugins here affect this site only, and uploads are not shared with other sites.
CONTENT_DIR="/srv/www/wp-content/${WP_HOST}"
UPLOADS_DIR="${CONTENT_DIR}/uploads"
MU_PLUGINS_DIR="${CONTENT_DIR}/mu-plugins"
WP_CORE=/usr/share/wordpress
DB_NAME="${UNDERSTUDY_WP_DB:-wp_understudy}"
DB_USER="${DB_NAME}"
TABLE_PREFIX=wp_

APACHE_CONF="${STATE_DIR}/apache2.conf"
RUN_DIR="/run/understudy-wordpress${INSTANCE}"
PID_FILE="${RUN_DIR}/apache2.pid"
ERROR_LOG="/var/log/apache2/understudy-wordpress${INSTANCE}-error.log"
ACCESS_LOG="/var/log/apache2/understudy-wordpress${INSTANCE}-access.log"
PHP_MODULE=/usr/lib/apache2/modules/libphp8.2.so

PACKAGES=(wordpress wordpress-theme-twentytwentyone apache2 libapache2-mod-php php-mysql
    php-cli php-gd php-mbstring php-xml curl mariadb-client)

quiet=0
did=()

lock() {
    exec 9>"${TMPDIR:-/tmp}/understudy-wordpress${INSTANCE}.lock"
    flock -w 900 9 || die "another wordpress.sh has held its lock for 15 minutes; is it stuck?"
}

# write_if_changed PATH MODE OWNER: writes stdin to PATH when it differs; returns 0 when it wrote.
write_if_changed() {
    local path=$1 mode=$2 owner=$3 want
    want=$(cat)
    if [[ -f "$path" && "$(cat "$path")" == "$want" ]]; then
        return 1
    fi
    local tmp="${path}.tmp.$$"
    printf '%s\n' "$want" >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
    did+=("wrote $path")
    return 0
}

# random_token LENGTH: letters and digits from /dev/urandom (no SIGPIPE under pipefail).
random_token() {
    head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | cut -c "1-$1"
}

# secret NAME: a secret kept in STATE_DIR/NAME, generated once; printed.
secret() {
    local file="${STATE_DIR}/$1"
    [[ -s "$file" ]] || (umask 077 && random_token 24 >"$file")
    cat "$file"
}

sql_root() {
    mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock -uroot -N -B "$@"
}

http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true
}

apache_pid() {
    local pid
    [[ -r "$PID_FILE" ]] || return 1
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

apache_running() {
    apache_pid >/dev/null
}

apache_gone() {
    ! apache_running && ! tcp_open "$WP_LISTEN" "$WP_PORT"
}

apache_ctl() {
    local out
    # 9>&-: the daemon must not inherit (and so hold) our lock.
    if ! out=$(/usr/sbin/apache2 -f "$APACHE_CONF" "$@" </dev/null 2>&1 9>&-); then
        printf '%s\n' "$out" >&2
        [[ -r "$ERROR_LOG" ]] && tail -n 10 "$ERROR_LOG" >&2
        die "apache2 $* failed (output above; config $APACHE_CONF, log $ERROR_LOG)"
    fi
}

rest_answers() {
    [[ "$(http_status "${SITE_URL}/wp-json/")" == 200 ]]
}

ensure_root() {
    [[ $EUID -eq 0 ]] || die "wordpress.sh writes /etc/wordpress, /srv/www and runs Apache as www-data; run it as root"
}

ensure_installed() {
    ensure_packages "${PACKAGES[@]}"
    [[ -r "$PHP_MODULE" ]] || die "$PHP_MODULE is missing; is libapache2-mod-php for PHP 8.2 installed?"
}

ensure_database() {
    local password=$1
    if mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P 3306 -u "$DB_USER" -p"$password" \
        --connect-timeout=5 -N -B -e 'SELECT 1' "$DB_NAME" </dev/null >/dev/null 2>&1; then
        return 0
    fi
    local host
    {
        echo "CREATE DATABASE IF NOT EXISTS \`${DB_NAME}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        for host in 127.0.0.1 localhost; do
            echo "CREATE USER IF NOT EXISTS '${DB_USER}'@'${host}' IDENTIFIED BY '${password}';"
            echo "ALTER USER '${DB_USER}'@'${host}' IDENTIFIED BY '${password}';"
            echo "GRANT ALL PRIVILEGES ON \`${DB_NAME}\`.* TO '${DB_USER}'@'${host}';"
        done
    } | sql_root || die "cannot create database ${DB_NAME} or user ${DB_USER}; check MariaDB (scripts/services/mariadb.sh status)"
    did+=("database ${DB_NAME}")
}

ensure_content_dir() {
    local dir
    for dir in /srv/www /srv/www/wp-content "$CONTENT_DIR" "$CONTENT_DIR/themes" "$CONTENT_DIR/plugins" "$MU_PLUGINS_DIR"; do
        [[ -d "$dir" ]] || { install -d -o root -g root -m 755 "$dir"; did+=("created $dir"); }
    done
    for dir in "$UPLOADS_DIR" "$CONTENT_DIR/upgrade"; do
        [[ -d "$dir" ]] || { install -d -o www-data -g www-data -m 755 "$dir"; did+=("created $dir"); }
    done
    [[ "$(stat -c %U "$UPLOADS_DIR")" == www-data ]] || chown -R www-data:www-data "$UPLOADS_DIR"
    # Debian's packaged themes and plugins, linked in as Debian does for /var/lib/wordpress.
    local src
    for src in "$WP_CORE"/wp-content/themes/* "$WP_CORE"/wp-content/plugins/*; do
        [[ -e "$src" ]] || continue
        local link="${CONTENT_DIR}/${src#"$WP_CORE"/wp-content/}"
        [[ "$(readlink "$link" 2>/dev/null)" == "$src" ]] || ln -sfn "$src" "$link"
    done
    write_if_changed "$MU_PLUGINS_DIR/understudy-seed-cpt.php" 644 root:root \
        <"$HERE/wordpress/understudy-seed-cpt.php" || true
}

write_wp_config() {
    local db_password=$1 salts_file="${STATE_DIR}/wp-salts" names salts=() i
    names=(AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT)
    if [[ ! -s "$salts_file" ]]; then
        (umask 077 && for i in "${names[@]}"; do random_token 64; done >"$salts_file")
        did+=("generated $salts_file")
    fi
    mapfile -t salts <"$salts_file"
    ((${#salts[@]} == ${#names[@]})) || die "$salts_file should have ${#names[@]} lines; delete it and rerun"
    for i in "${!names[@]}"; do
        salts[i]="define( '${names[i]}', '${salts[i]}' );"
    done
    write_if_changed "$WP_CONFIG" 640 root:www-data <<EOF || true
<?php
// Written by scripts/services/wordpress.sh: the Understudy dev site ${SITE_URL}.
// Debian's /usr/share/wordpress/wp-config.php loads this file for Host ${WP_HOST}.
define( 'DB_NAME', '${DB_NAME}' );
define( 'DB_USER', '${DB_USER}' );
define( 'DB_PASSWORD', '${db_password}' );
define( 'DB_HOST', '127.0.0.1:3306' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
\$table_prefix = '${TABLE_PREFIX}';

$(printf '%s\n' "${salts[@]}")

define( 'WP_CONTENT_DIR', '${CONTENT_DIR}' );
// 'local' makes Application Passwords work over plain http.
define( 'WP_ENVIRONMENT_TYPE', 'local' );
// No internet here: fail calls to api.wordpress.org at once instead of timing out.
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_ALLOW_MULTISITE', false );
define( 'FS_METHOD', 'direct' );
define( 'WP_DEBUG', false );
EOF
}

write_apache_conf() {
    write_if_changed "$APACHE_CONF" 644 root:root <<EOF
# Written by scripts/services/wordpress.sh: a dedicated Apache instance serving only the
# Understudy dev WordPress on ${WP_HOST}:${WP_PORT}. Run as: apache2 -f ${APACHE_CONF} -k start|stop
ServerRoot /etc/apache2
DefaultRuntimeDir ${RUN_DIR}
PidFile ${PID_FILE}
Mutex file:${RUN_DIR} default
User www-data
Group www-data
ServerName ${WP_HOST}
ServerTokens Prod
Listen ${WP_LISTEN}:${WP_PORT}
Timeout 60
KeepAlive On
MaxKeepAliveRequests 1000
KeepAliveTimeout 5

LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
LoadModule php_module ${PHP_MODULE}

StartServers 3
MinSpareServers 2
MaxSpareServers 8
MaxRequestWorkers 24
MaxConnectionsPerChild 0

TypesConfig /etc/mime.types
ErrorLog ${ERROR_LOG}
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %O %D \"%{User-Agent}i\"" understudy
DirectoryIndex index.php index.html
<FilesMatch ".+\.ph(?:ar|p|tml)\$">
    SetHandler application/x-httpd-php
</FilesMatch>
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>

<VirtualHost ${WP_LISTEN}:${WP_PORT}>
    ServerName ${WP_HOST}
    DocumentRoot ${WP_CORE}
    Alias /wp-content ${CONTENT_DIR}
    CustomLog ${ACCESS_LOG} understudy
    php_admin_value upload_max_filesize 64M
    php_admin_value post_max_size 64M

    <Directory ${WP_CORE}>
        Options FollowSymLinks
        AllowOverride None
        Require all granted
        # WordPress pretty permalinks (what its .htaccess would say).
        RewriteEngine On
        RewriteBase /
        RewriteRule ^index\.php\$ - [L]
        RewriteCond %{REQUEST_FILENAME} !-f
        RewriteCond %{REQUEST_FILENAME} !-d
        RewriteRule . /index.php [L]
    </Directory>
    <Directory ${CONTENT_DIR}>
        Options FollowSymLinks
        AllowOverride None
        Require all granted
    </Directory>
    <Directory ${UPLOADS_DIR}>
        <FilesMatch "\.ph(?:ar|p|tml)\$">
            Require all denied
        </FilesMatch>
    </Directory>
</VirtualHost>
EOF
}

start_apache() {
    if tcp_open "$WP_LISTEN" "$WP_PORT"; then
        die "${WP_HOST}:${WP_PORT} is taken by another process (not this site's Apache, pid file $PID_FILE); stop it and rerun"
    fi
    install -d -m 755 "$RUN_DIR"
    apache_ctl -t
    apache_ctl -k start
    wait_until 30 "Apache to listen on ${WP_LISTEN}:${WP_PORT} (log: $ERROR_LOG)" tcp_open "$WP_LISTEN" "$WP_PORT"
    did+=("started Apache")
}

stop_apache() {
    if apache_running; then
        apache_ctl -k stop
    fi
    wait_until 30 "this site's Apache to stop (pid file $PID_FILE)" apache_gone
}

ensure_apache() {
    local conf_changed=$1
    if apache_running; then
        if ((conf_changed)); then
            apache_ctl -t
            apache_ctl -k graceful
            did+=("reloaded Apache")
        fi
    else
        start_apache
    fi
}

provision() {
    local out
    if ! out=$(php "$HERE/wordpress/provision.php" "$SITE_URL" "$STATE_DIR" </dev/null 2>&1); then
        printf '%s\n' "$out" >&2
        die "provisioning WordPress failed (output above)"
    fi
    local line
    while IFS= read -r line; do
        if [[ -n "$line" ]]; then did+=("$line"); fi
    done <<<"$out"
}

write_env_file() {
    write_if_changed "${STATE_DIR}/wordpress.env" 600 root:root <<EOF || true
UNDERSTUDY_WP_URL=${SITE_URL}
UNDERSTUDY_WP_ADMIN_USER=admin
UNDERSTUDY_WP_ADMIN_PASSWORD=$(cat "${STATE_DIR}/admin-password")
UNDERSTUDY_WP_ADMIN_APP_PASSWORD=$(cat "${STATE_DIR}/app-password")
UNDERSTUDY_WP_EDITOR_USER=editor
UNDERSTUDY_WP_EDITOR_APP_PASSWORD=$(cat "${STATE_DIR}/editor-app-password")
UNDERSTUDY_WP_SUBSCRIBER_USER=subscriber
UNDERSTUDY_WP_SUBSCRIBER_APP_PASSWORD=$(cat "${STATE_DIR}/subscriber-app-password")
UNDERSTUDY_WP_DB_HOST=127.0.0.1
UNDERSTUDY_WP_DB_PORT=3306
UNDERSTUDY_WP_DB_NAME=${DB_NAME}
UNDERSTUDY_WP_DB_USER=${DB_USER}
UNDERSTUDY_WP_DB_PASSWORD=$(cat "${STATE_DIR}/db-password")
UNDERSTUDY_WP_TABLE_PREFIX=${TABLE_PREFIX}
UNDERSTUDY_WP_CONFIG=${WP_CONFIG}
UNDERSTUDY_WP_CONTENT_DIR=${CONTENT_DIR}
UNDERSTUDY_WP_UPLOADS_DIR=${UPLOADS_DIR}
EOF
}

verify_site() {
    local status
    status=$(http_status "${SITE_URL}/wp-json/")
    [[ "$status" == 200 ]] \
        || die "${SITE_URL}/wp-json/ answers HTTP ${status:-nothing}, not 200; see $ERROR_LOG"
    status=$(http_status -u "admin:$(cat "${STATE_DIR}/app-password")" "${SITE_URL}/wp-json/wp/v2/users/me?context=edit")
    [[ "$status" == 200 ]] \
        || die "the admin Application Password is refused (HTTP $status) at ${SITE_URL}/wp-json/wp/v2/users/me; rerun '$0 restart'"
}

print_summary() {
    ((quiet)) && return 0
    cat <<EOF
WordPress ${SITE_URL}  (REST: ${SITE_URL}/wp-json/, admin: ${SITE_URL}/wp-admin/)
  users admin, editor, subscriber; Application Passwords (HTTP Basic):
    ${STATE_DIR}/app-password  ${STATE_DIR}/editor-app-password  ${STATE_DIR}/subscriber-app-password
  admin login password: ${STATE_DIR}/admin-password;  everything as KEY=VALUE: ${STATE_DIR}/wordpress.env
  config ${WP_CONFIG}; uploads ${UPLOADS_DIR}; database ${DB_NAME} on 127.0.0.1:3306
EOF
}

cmd_up() {
    ensure_root
    lock
    "$HERE/mariadb.sh" up
    ensure_installed
    install -d -m 755 "$(dirname "$STATE_DIR")" "$STATE_DIR"
    local db_password
    db_password=$(secret db-password)
    ensure_database "$db_password"
    ensure_content_dir
    if [[ -f "${MU_PLUGINS_DIR}/understudy-rest-off.php" ]]; then
        # Left over from a "REST disabled" test: `up` means a working site.
        rm -f "${MU_PLUGINS_DIR}/understudy-rest-off.php"
        did+=("turned the REST API back on")
    fi
    write_wp_config "$db_password"
    local conf_changed=0
    write_apache_conf && conf_changed=1
    ensure_apache "$conf_changed"
    provision
    write_env_file
    verify_site
    if ((${#did[@]} > 0)); then
        local IFS=','
        log "ready at ${SITE_URL} (${did[*]})"
    fi
    print_summary
}

cmd_stop() {
    ensure_root
    lock
    [[ -f "$APACHE_CONF" ]] || return 0
    apache_running || return 0
    stop_apache
    log "stopped Apache on ${WP_HOST}:${WP_PORT}"
}

# rest-off MODE / rest-on: the must-use plugin that blocks the REST API.
cmd_rest() {
    ensure_root
    local mode=$1 plugin="${MU_PLUGINS_DIR}/understudy-rest-off.php" want
    [[ -d "$MU_PLUGINS_DIR" ]] || die "the site is not set up yet; run: $0 up"
    if [[ "$mode" == on ]]; then
        rm -f "$plugin"
        want=200
    else
        sed "s/__MODE__/${mode}/" "$HERE/wordpress/understudy-rest-off.php" \
            | write_if_changed "$plugin" 644 root:root || true
        [[ "$mode" == forbidden ]] && want=403 || want=404
    fi
    apache_running || return 0
    local status
    status=$(http_status "${SITE_URL}/wp-json/")
    [[ "$status" == "$want" ]] \
        || die "${SITE_URL}/wp-json/ answers HTTP $status after turning REST ${mode/on/back on}, expected $want; see $ERROR_LOG"
}

cmd_reset() {
    ensure_root
    lock
    if [[ -S /run/mysqld/mysqld.sock ]]; then
        sql_root -e "DROP DATABASE IF EXISTS \`${DB_NAME}\`" \
            || die "cannot drop database ${DB_NAME}; check MariaDB (scripts/services/mariadb.sh status)"
    fi
    [[ -d "$UPLOADS_DIR" ]] && find "$UPLOADS_DIR" -mindepth 1 -delete
    rm -f "${MU_PLUGINS_DIR}/understudy-rest-off.php"
    log "dropped database ${DB_NAME} and emptied ${UPLOADS_DIR}"
}

cmd_env() {
    [[ -r "${STATE_DIR}/wordpress.env" ]] || die "${STATE_DIR}/wordpress.env is missing; run: $0 up"
    cat "${STATE_DIR}/wordpress.env"
}

cmd_seed() {
    [[ -r "${STATE_DIR}/app-password" ]] || die "${STATE_DIR}/app-password is missing; run: $0 up"
    exec python3 "$HERE/../wp-seed.py" --url "$SITE_URL" --user admin \
        --app-password-file "${STATE_DIR}/app-password" "$@"
}

args=()
for arg in "$@"; do
    if [[ "$arg" == -q || "$arg" == --quiet ]]; then quiet=1; else args+=("$arg"); fi
done
set -- "${args[@]+"${args[@]}"}"

command="${1:-up}"
shift || true
case "$command" in
    up | start) cmd_up ;;
    restart)
        cmd_stop
        exec 9>&-
        cmd_up
        ;;
    stop) cmd_stop ;;
    reset)
        cmd_reset
        exec 9>&-
        cmd_up
        ;;
    status)
        if apache_running && rest_answers; then echo up; else echo down; exit 1; fi
        ;;
    rest-off)
        mode="${1:-forbidden}"
        [[ "$mode" == forbidden || "$mode" == notfound ]] \
            || die "unknown rest-off mode '$mode'; use forbidden (403, the default) or notfound (404)"
        cmd_rest "$mode"
        ;;
    rest-on) cmd_rest on ;;
    seed) cmd_seed "$@" ;;
    env) cmd_env ;;
    *) die "unknown command '$command'; use one of: up restart start stop status rest-off rest-on reset seed env" ;;
esac
