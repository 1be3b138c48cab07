#!/usr/bin/env bash
# Understudy end to end on this machine: starts PostgreSQL and RabbitMQ (installing them when
# missing), builds, migrates, starts a worker, enqueues a demo job, shows its progress live and
# prints the result. The worker is stopped (gracefully) when the script ends.
#
# usage: scripts/quickstart.sh [understudy enqueue args...]
#   default job: noop --set steps=5 --set step_ms=400
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) and put ~/.cargo/bin on PATH"

log "starting PostgreSQL and RabbitMQ"
bash scripts/services-up.sh -q postgres rabbitmq

log "building (first time: a few minutes)"
cargo build --quiet --bins
bin=target/debug

"$bin/understudy" migrate

logfile=$(mktemp -t understudy-worker.XXXXXX.log)
"$bin/understudy-worker" 2>"$logfile" &
worker=$!
stop_worker() {
    kill -TERM "$worker" 2>/dev/null || true
    wait "$worker" 2>/dev/null || true
}
trap stop_worker EXIT
log "worker started (pid $worker, log $logfile)"

if (($# == 0)); then
    set -- noop --set steps=5 --set step_ms=400
fi
log "enqueueing: understudy enqueue $* --wait"
"$bin/understudy" enqueue "$@" --wait
