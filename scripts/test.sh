#!/usr/bin/env bash
# Understudy's test command (CI runs it through .ci/run): starts PostgreSQL and
# RabbitMQ, builds the sandbox images, then format check, clippy, build, tests. Stops at the first failure.
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

stages=8
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

printf '==> all %d stages passed in %ds\n' "$stages" "$((SECONDS - started))"
