#!/usr/bin/env bash
# The export benchmark (BENCHMARKS.md "Export"): a second local WordPress beside the test
# site — http://localhost:8082, database wp_understudy_bench, state in
# /var/lib/understudy-dev/bench — seeded once with 1,000 posts and 200 images (seed 2), then
# one `understudy bench export` of it with a real worker, printed as JSON.
#
# usage: scripts/bench-export.sh [--debug] [understudy bench export args...]
#   --debug  use the debug build (default: release, built if needed)
#   e.g. scripts/bench-export.sh --media all
#
# The test site (127.0.0.1:8081, seed 1) is left alone: the bench site has its own host name
# (Debian's WordPress picks its config by host name), port, database, uploads and credentials.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
if [[ "${1:-}" == --debug ]]; then
    profile=debug
    shift
fi

export UNDERSTUDY_WP_HOST=localhost UNDERSTUDY_WP_PORT=8082 UNDERSTUDY_WP_DB=wp_understudy_bench
export UNDERSTUDY_DEV_STATE=/var/lib/understudy-dev/bench
state="${UNDERSTUDY_DEV_STATE}/wordpress"

bash scripts/services-up.sh -q postgres rabbitmq mariadb
bash scripts/services/wordpress.sh -q up
# Idempotent: the seed's marker tag makes a second run a no-op.
log "seeding the bench site (1,000 posts, 200 images; minutes the first time, instant after)"
bash scripts/services/wordpress.sh seed --posts 1000 --images 200 --seed 2 >"${TMPDIR:-/tmp}/understudy-bench-seed.log"

target="${CARGO_TARGET_DIR:-target}"
if [[ "$profile" == release ]]; then
    cargo build --release --bins -q
else
    cargo build --bins -q
fi
exec "$target/$profile/understudy" bench export --url "http://localhost:8082" --user admin \
    --app-password-file "${state}/app-password" --json "$@"
