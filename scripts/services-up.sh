#!/usr/bin/env bash
# Starts the services Understudy's tests need, and prints how to reach them.
#
# usage: scripts/services-up.sh [-q] [service...]
#   service  a name from scripts/services/<name>.sh (default: postgres rabbitmq)
#   -q       quiet: do not print the connection URLs at the end
#
# Each scripts/services/<name>.sh takes a subcommand: up (default), restart,
# stop, kill, status, url. Already-running services cost a fraction of a second
# and print nothing.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

services_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/services" && pwd)"

known_services() {
    local f names=()
    for f in "$services_dir"/*.sh; do
        [[ -e "$f" ]] && names+=("$(basename "$f" .sh)")
    done
    echo "${names[*]}"
}

usage() {
    echo "usage: $0 [-q] [service...]   (services: $(known_services); default: postgres rabbitmq)"
}

quiet=0
services=()
for arg in "$@"; do
    case "$arg" in
        -q | --quiet) quiet=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option '$arg'; $(usage)" ;;
        *) services+=("$arg") ;;
    esac
done
((${#services[@]} > 0)) || services=(postgres rabbitmq)

for s in "${services[@]}"; do
    [[ "$s" =~ ^[A-Za-z0-9_-]+$ && -f "$services_dir/$s.sh" ]] \
        || die "unknown service '$s'; known services: $(known_services)"
done

for s in "${services[@]}"; do
    bash "$services_dir/$s.sh" up
done

if ((!quiet)); then
    for s in "${services[@]}"; do
        # A service script without a `url` subcommand prints nothing here.
        if urls=$(bash "$services_dir/$s.sh" url </dev/null 2>/dev/null); then
            printf '%s\n' "$urls"
        fi
    done
fi
