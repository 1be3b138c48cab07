#!/usr/bin/env bash
# Understudy's test command (CI runs it through .ci/run): starts PostgreSQL,
# RabbitMQ, MariaDB and the local WordPress (seeded with a fixed seed), builds the sandbox
# images (cached by recipe hash), then format check, clippy, build, tests, a small chaos run.
# Stops at the first failure.
#
# usage: scripts/test.sh [cargo test args...]
#   e.g. scripts/test.sh -p understudy-worker lease -- --nocapture
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${CI:-}" == true ]]; then
    export CARGO_TERM_COLOR=never
fi

[[ -f Cargo.toml ]] || die "no Cargo.toml in $(pwd); run this from an Understudy checkout"
command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) and put ~/.cargo/bin on PATH"
cargo fmt --version >/dev/null 2>&1 || die "cargo fmt is missing; run: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "cargo clippy is missing; run: rustup component add clippy"

stages=10
stage_no=0
started=$SECONDS

# stage NAME COMMAND [ARG...]: one header line, run, report a failure by name.
stage() {
    local name=$1
    shift
    stage_no=$((stage_no + 1))
    printf '==> [%d/%d] %s: %s\n' "$stage_no" "$stages" "$name" "$*"
    local t0=$SECONDS rc=0
    "$@" || rc=$?
    if ((rc != 0)); then
        printf '==> FAILED: %s (exit %d after %ds)\n' "$name" "$rc" "$((SECONDS - t0))"
        exit "$rc"
    fi
}

stage services bash scripts/services-up.sh -q postgres rabbitmq mariadb

# The local WordPress the export tests read, seeded with a fixed seed. Idempotent and quiet: a
# running site prints nothing, and a site that already has the seed's marker tag is left as it
# is (the seeder's summary goes to a log, shown only on failure).
wordpress_seeded() {
    local log="${TMPDIR:-/tmp}/understudy-wp-seed.log"
    bash scripts/services/wordpress.sh -q up || return
    bash scripts/services/wordpress.sh seed --seed 1 >"$log" 2>&1 || {
        cat "$log" >&2
        return 1
    }
}
stage wordpress wordpress_seeded
# php-cli is the oracle that unserializes every rewritten value; docker-compose checks the
# compose file users run.
stage tools ensure_packages php-cli docker-compose

# Tests read their connection strings from these; keep values the caller set.
while IFS='=' read -r name value; do
    if [[ -n "$name" && -z "${!name:-}" ]]; then
        export "$name=$value"
    fi
done < <(bash scripts/services/postgres.sh url && bash scripts/services/rabbitmq.sh url)

# Sandbox images for the provision tests (debootstrap + docker import; a no-op when the
# recipe is unchanged: cached by recipe hash).
stage images bash scripts/images/build.sh -q
stage compose docker-compose -f docker-compose.yml config -q
stage format cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets -- -D warnings
stage build cargo build --workspace --bins
stage test cargo test --workspace "$@"
# Alone, after the tests: it restarts PostgreSQL and RabbitMQ under running noop and clone jobs
# (4 small real clones, PostgreSQL and MariaDB, each copy verified). Exit 1 when a
# job is lost, failed or had a checkpointed step's side effect repeated.
stage chaos target/debug/understudy bench chaos --jobs 60 --clones 4 --workers 3 --minutes 1 --fault-every 5 --json

printf '==> all %d stages passed in %ds\n' "$stages" "$((SECONDS - started))"
