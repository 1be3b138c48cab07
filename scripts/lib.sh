# shellcheck shell=bash
# Shared helpers for Understudy's scripts. Source it; do not run it.
#
#   log MSG...                 one line to stderr, prefixed with the script's name
#   die MSG...                 log "error: MSG" and exit 1
#   wait_until SECS DESC CMD.. poll CMD (quietly) until it succeeds; die after SECS
#   as_root CMD...             run CMD as root (directly, or through `sudo -n`)
#   as_user USER CMD...        run CMD as USER (runuser when root, else sudo -n)
#   ensure_packages PKG...     apt-get install the packages that are not installed yet
#   tcp_open HOST PORT         true when HOST:PORT accepts a TCP connection
#
# Everything reads no stdin, so it works under CI=true with stdin closed.

if [[ -n "${_UNDERSTUDY_LIB_SH:-}" ]]; then
    return 0
fi
_UNDERSTUDY_LIB_SH=1

UNDERSTUDY_LOG_PREFIX="${UNDERSTUDY_LOG_PREFIX:-$(basename "${0%.sh}")}"
# Seconds between two polls of wait_until.
UNDERSTUDY_POLL_INTERVAL="${UNDERSTUDY_POLL_INTERVAL:-0.2}"

log() {
    printf '%s: %s\n' "$UNDERSTUDY_LOG_PREFIX" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# wait_until SECONDS DESCRIPTION COMMAND [ARG...]
# Runs COMMAND (stdout/stderr discarded) every UNDERSTUDY_POLL_INTERVAL seconds
# until it succeeds. Dies with DESCRIPTION once SECONDS have passed.
wait_until() {
    local seconds=$1 description=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" </dev/null >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "timed out after ${seconds}s waiting for ${description}"
        fi
        sleep "$UNDERSTUDY_POLL_INTERVAL"
    done
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n -- "$@"
    else
        die "need root to run '$1'; run this script as root or give this user passwordless sudo"
    fi
}

as_user() {
    local user=$1
    shift
    if [[ "$(id -un)" == "$user" ]]; then
        "$@"
    elif [[ $EUID -eq 0 ]]; then
        runuser -u "$user" -- "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n -u "$user" -- "$@"
    else
        die "need to run '$1' as user '$user'; run this script as root or give this user passwordless sudo"
    fi
}

package_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

package_known() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

_apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o DPkg::Lock::Timeout=900 "$@" </dev/null
}

# ensure_packages PKG...
# Installs the missing packages in one apt-get call. Runs `apt-get update` first
# only when one of them is unknown to the local package cache. apt's output goes
# to a temporary file that is shown only when apt fails.
ensure_packages() {
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found; install these packages by hand: $*"
    local pkg missing=() unknown=0
    for pkg in "$@"; do
        if ! package_installed "$pkg"; then
            missing+=("$pkg")
            package_known "$pkg" || unknown=1
        fi
    done
    ((${#missing[@]} > 0)) || return 0

    local out
    out=$(mktemp)
    if ((unknown)); then
        if ! _apt_get update >"$out" 2>&1; then
            tail -n 20 "$out" >&2
            rm -f "$out"
            die "apt-get update failed (output above); check the Debian mirrors in /etc/apt/sources.list*"
        fi
        for pkg in "${missing[@]}"; do
            if ! package_known "$pkg"; then
                rm -f "$out"
                die "package '$pkg' is not available from the configured apt sources"
            fi
        done
    fi
    log "installing ${missing[*]}"
    if ! _apt_get install --no-install-recommends "${missing[@]}" >"$out" 2>&1; then
        tail -n 30 "$out" >&2
        rm -f "$out"
        die "apt-get install ${missing[*]} failed (output above)"
    fi
    rm -f "$out"
}

# tcp_open HOST PORT: true when something accepts a TCP connection there.
tcp_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}
