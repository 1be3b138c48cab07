#!/usr/bin/env bash
# RabbitMQ for Understudy's tests and local runs: Debian's rabbitmq-server, node
# rabbit@localhost, AMQP on 127.0.0.1:5672, management on 127.0.0.1:15672, user
# guest/guest (loopback only). Started without systemd: the server runs in its
# own session as user rabbitmq, logs in /var/log/rabbitmq/.
#
# usage: rabbitmq.sh [up|restart|stop|kill|status|url]     (default: up)
#   up       install, configure and start as needed; silent when already up
#   restart  stop the node, then `up` (waits until AMQP answers)
#   stop     stop the node (rabbitmqctl shutdown, ~8 s; SIGTERM/SIGKILL if it hangs)
#   kill     SIGKILL the broker's Erlang VM (crash simulation); `up` brings it back
#   status   print "up" or "down"; exit 1 when down
#   url      print UNDERSTUDY_AMQP_URL=... and UNDERSTUDY_RABBITMQ_MANAGEMENT_URL=...
set -euo pipefail

# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

AMQP_HOST=127.0.0.1
AMQP_PORT=5672
MGMT_PORT=15672
AMQP_URL="amqp://guest:guest@${AMQP_HOST}:${AMQP_PORT}/%2f"
MGMT_URL="http://guest:guest@${AMQP_HOST}:${MGMT_PORT}"

RMQ_USER=rabbitmq
RMQ_HOME=/var/lib/rabbitmq
RMQ_ETC=/etc/rabbitmq
RMQ_LOG_DIR=/var/log/rabbitmq
RMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
PID_FILE="${RMQ_HOME}/rabbit.pid"
# pid of the rabbitmq-server shell script, which lives as long as the Erlang VM.
LAUNCHER_PID_FILE="${RMQ_HOME}/launcher.pid"
POLICY_RC_D="${POLICY_RC_D:-/usr/sbin/policy-rc.d}"
START_TIMEOUT=180

did=()

lock() {
    exec 9>"${TMPDIR:-/tmp}/understudy-rabbitmq.lock"
    flock -w 900 9 || die "another rabbitmq.sh has held its lock for 15 minutes; is it stuck?"
}

# True when something on 5672 answers the AMQP 0-9-1 protocol header with a
# method frame (Connection.Start), i.e. the broker is booted and accepting clients.
amqp_ready() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "AMQP\x00\x00\x09\x01" >&3
        IFS= read -r -N 1 -u 3 frame_type || exit 1
        [[ "$frame_type" == $'"'"'\x01'"'"' ]]
    ' _ "$AMQP_HOST" "$AMQP_PORT" 2>/dev/null
}

port_closed() {
    ! tcp_open "$AMQP_HOST" "$AMQP_PORT"
}

process_gone() {
    [[ ! -d "/proc/$1" ]]
}

server_pid() {
    local pid
    pid=$(as_root cat "$PID_FILE" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]] || return 1
    echo "$pid"
}

installed() {
    [[ -x "$RMQ_SERVER" ]] && command -v rabbitmqctl >/dev/null 2>&1
}

# apt-get install rabbitmq-server without letting its postinst try to start the
# service (no systemd here): an existing policy-rc.d already forbids that (Docker
# images ship one that exits 101); otherwise put a temporary one in place.
install_server() {
    local temp_policy=0
    if [[ ! -d /run/systemd/system && ! -e "$POLICY_RC_D" ]]; then
        printf '#!/bin/sh\n# temporary, from scripts/services/rabbitmq.sh\nexit 101\n' \
            | as_root tee "$POLICY_RC_D" >/dev/null
        as_root chmod 755 "$POLICY_RC_D"
        temp_policy=1
        trap 'as_root rm -f "$POLICY_RC_D"' EXIT
    fi
    ensure_packages rabbitmq-server
    if ((temp_policy)); then
        as_root rm -f "$POLICY_RC_D"
        trap - EXIT
    fi
    installed || die "rabbitmq-server installed but $RMQ_SERVER or rabbitmqctl is missing; reinstall the package"
    did+=("installed $(dpkg-query -W -f='${Version}' rabbitmq-server)")
}

# write_if_changed FILE CONTENT: returns 0 when the file was (re)written.
write_if_changed() {
    local file=$1 content=$2
    if [[ "$(as_root cat "$file" 2>/dev/null)" == "$content" ]]; then
        return 1
    fi
    printf '%s\n' "$content" | as_root tee "$file" >/dev/null
    as_root chown "$RMQ_USER:$RMQ_USER" "$file"
    as_root chmod 644 "$file"
}

# Returns 0 when a configuration file changed.
configure() {
    local changed=1
    # Node name fixed to rabbit@localhost so a changed hostname (container
    # snapshots) does not orphan the node's data directory; Erlang distribution
    # and epmd listen on loopback only.
    write_if_changed "${RMQ_ETC}/rabbitmq-env.conf" "# Managed by scripts/services/rabbitmq.sh (Understudy).
NODENAME=rabbit@localhost
PID_FILE=${PID_FILE}
SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"
export ERL_EPMD_ADDRESS=127.0.0.1" && changed=0

    write_if_changed "${RMQ_ETC}/rabbitmq.conf" "# Managed by scripts/services/rabbitmq.sh (Understudy).
listeners.tcp.default = ${AMQP_HOST}:${AMQP_PORT}
management.tcp.ip = ${AMQP_HOST}
management.tcp.port = ${MGMT_PORT}
# guest/guest works from loopback only (the default, stated here on purpose).
loopback_users.guest = true" && changed=0

    if ! as_root grep -qs 'rabbitmq_management' "${RMQ_ETC}/enabled_plugins"; then
        as_root rabbitmq-plugins -q enable --offline rabbitmq_management </dev/null >/dev/null 9>&- \
            || die "rabbitmq-plugins enable --offline rabbitmq_management failed"
        did+=("management plugin")
        changed=0
    fi
    return "$changed"
}

start_server() {
    if tcp_open "$AMQP_HOST" "$AMQP_PORT"; then
        die "${AMQP_HOST}:${AMQP_PORT} is taken but does not answer AMQP; stop whatever listens there and rerun"
    fi
    as_root install -d -o "$RMQ_USER" -g "$RMQ_USER" -m 755 "$RMQ_LOG_DIR"
    as_root rm -f "$PID_FILE" "$LAUNCHER_PID_FILE"
    # The server runs in its own session (survives this shell and its process
    # group), as user rabbitmq with HOME set so Erlang finds the cookie in
    # /var/lib/rabbitmq, without our lock fd. runuser's pam_limits resets the
    # soft open-files limit to 1024 (~830 sockets), so raise it after runuser.
    # shellcheck disable=SC2016 # expanded by the inner sh
    as_root setsid -f runuser -u "$RMQ_USER" -- sh -c '
        ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
        echo $$ >"$3"
        cd "$1" && HOME="$1" exec "$2"
    ' _ "$RMQ_HOME" "$RMQ_SERVER" "$LAUNCHER_PID_FILE" \
        </dev/null >"${RMQ_LOG_DIR}/startup_log" 2>"${RMQ_LOG_DIR}/startup_err" 9>&-

    local deadline=$((SECONDS + START_TIMEOUT)) launcher=
    until amqp_ready; do
        [[ -n "$launcher" ]] || launcher=$(as_root cat "$LAUNCHER_PID_FILE" 2>/dev/null) || true
        if [[ -n "$launcher" ]] && process_gone "$launcher"; then
            tail -n 15 "${RMQ_LOG_DIR}/startup_err" "${RMQ_LOG_DIR}/startup_log" >&2 2>/dev/null || true
            die "rabbitmq-server exited during startup (output above; logs in ${RMQ_LOG_DIR})"
        fi
        ((SECONDS < deadline)) \
            || die "RabbitMQ did not accept AMQP on ${AMQP_HOST}:${AMQP_PORT} within ${START_TIMEOUT}s (logs in ${RMQ_LOG_DIR})"
        sleep "$UNDERSTUDY_POLL_INTERVAL"
    done
    wait_until 30 "the management listener on ${AMQP_HOST}:${MGMT_PORT}" tcp_open "$AMQP_HOST" "$MGMT_PORT"
    # The CLI tools talk to the node over Erlang distribution with the cookie in
    # /var/lib/rabbitmq; check that path now rather than in the middle of a test.
    local err
    if ! err=$(rabbitmqctl -q await_startup --timeout 60 </dev/null 2>&1 9>&-); then
        die "broker is up but rabbitmqctl cannot reach it (Erlang cookie or node name?): ${err//$'\n'/ }"
    fi
    did+=("started")
}

cmd_up() {
    lock
    if amqp_ready; then
        if installed && configure; then
            log "configuration changed; run 'scripts/services/rabbitmq.sh restart' to apply it"
        fi
        return 0
    fi
    installed || install_server
    configure || true
    start_server
    local IFS=','
    log "ready on ${AMQP_HOST}:${AMQP_PORT} (${did[*]})"
}

cmd_stop() {
    lock
    installed || return 0
    if ! tcp_open "$AMQP_HOST" "$AMQP_PORT" && ! server_pid >/dev/null; then
        return 0
    fi
    local pid
    pid=$(server_pid) || pid=
    if ! rabbitmqctl -q shutdown --timeout 60 </dev/null >/dev/null 2>&1 9>&-; then
        [[ -n "$pid" ]] || die "rabbitmqctl shutdown failed and there is no pid in $PID_FILE; stop the broker by hand"
        log "rabbitmqctl shutdown failed; sending SIGTERM to $pid"
        as_root kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while [[ -d "/proc/$pid" ]] && ((SECONDS < deadline)); do sleep "$UNDERSTUDY_POLL_INTERVAL"; done
        if [[ -d "/proc/$pid" ]]; then
            log "still running; sending SIGKILL to $pid"
            as_root kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait_until 30 "RabbitMQ to release ${AMQP_HOST}:${AMQP_PORT}" port_closed
}

# Simulated crash: SIGKILL the Erlang VM, no clean shutdown.
cmd_kill() {
    lock
    local pid
    pid=$(server_pid) || return 0
    as_root kill -KILL "$pid"
    wait_until 30 "RabbitMQ (pid $pid) to die" process_gone "$pid"
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
    status) if amqp_ready; then echo up; else echo down; exit 1; fi ;;
    url)
        echo "UNDERSTUDY_AMQP_URL=${AMQP_URL}"
        echo "UNDERSTUDY_RABBITMQ_MANAGEMENT_URL=${MGMT_URL}"
        ;;
    *) die "unknown subcommand '$1'; use one of: up restart stop kill status url" ;;
esac
