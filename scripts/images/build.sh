#!/usr/bin/env bash
# Builds Understudy's sandbox images from Debian packages, without pulling anything:
# debootstrap a minimal bookworm rootfs (cached as a tarball), install each recipe's
# packages in a chroot, run its setup.sh, then `docker import` the tree.
#
#   understudy/wordpress:<hash>  Apache + mod_php + WordPress (Debian's package) in /var/www/html
#   understudy/mariadb:<hash>    MariaDB server
#
# Each is also tagged `:local`. <hash> is a hash of the recipe (this script, lib and the
# image's directory), so a rebuild happens only when the recipe changes; an existing tag is
# skipped. Both images read the official images' environment variables (WORDPRESS_DB_HOST,
# MARIADB_DATABASE, ...), so `wordpress:6-apache` / `mariadb:11` can replace them.
#
# usage: scripts/images/build.sh [-q] [wordpress|mariadb|tags|hash NAME]...   (default: both)
#   tags      print NAME=IMAGE lines for the current recipes (builds nothing)
#   hash NAME print the recipe hash of one image
# env: UNDERSTUDY_IMAGE_CACHE (default /var/cache/understudy-images) keeps the base rootfs;
#      UNDERSTUDY_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"

SUITE=bookworm
MIRROR="${UNDERSTUDY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${UNDERSTUDY_IMAGE_CACHE:-/var/cache/understudy-images}"
REPO=understudy
quiet=0

# recipe_hash NAME: 12 hex digits over everything that shapes the image.
recipe_hash() {
    local name=$1
    (
        cd "$HERE"
        printf '%s %s\n' "$SUITE" "$MIRROR"
        cat build.sh base.sh
        find "$name" -type f -print0 | sort -z | xargs -0 sha256sum
    ) | sha256sum | cut -c1-12
}

image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

# base_tarball: debootstrap once per base recipe; prints the tarball path.
base_tarball() {
    local hash tarball root
    hash=$( (printf '%s %s\n' "$SUITE" "$MIRROR"; cat "$HERE/base.sh") | sha256sum | cut -c1-12)
    tarball="$CACHE/base-$SUITE-$hash.tar"
    if [[ ! -f "$tarball" ]]; then
        ensure_packages debootstrap
        root=$(mktemp -d "$CACHE/base.XXXXXX")
        log "debootstrap $SUITE from $MIRROR (a few minutes, once)"
        debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
            || { tail -n 20 "$root.log" >&2; die "debootstrap failed (output above)"; }
        SUITE=$SUITE MIRROR=$MIRROR bash "$HERE/base.sh" "$root"
        tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
        mv -f "$tarball.tmp" "$tarball"
        rm -rf "$root" "$root.log"
    fi
    printf '%s\n' "$tarball"
}

# build NAME: builds understudy/NAME:<hash> unless it exists; tags it :local.
build() {
    local name=$1 hash image root base
    hash=$(recipe_hash "$name")
    image="$REPO/$name:$hash"
    if image_exists "$image"; then
        docker tag "$image" "$REPO/$name:local"
        ((quiet)) || log "$image is up to date"
        return 0
    fi
    local t0=$SECONDS
    base=$(base_tarball)
    root=$(mktemp -d "$CACHE/$name.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the trap must clean this build's root
    trap "umount -l '$root/proc' 2>/dev/null || true; rm -rf '$root'" EXIT
    tar -C "$root" -xf "$base"
    mount -t proc proc "$root/proc"
    cp -r "$HERE/$name" "$root/tmp/recipe"
    local packages
    packages=$(grep -v '^\s*#' "$HERE/$name/packages" | xargs)
    log "building $image: apt-get install $packages"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        install --no-install-recommends $packages >"$root.log" 2>&1 \
        || { tail -n 30 "$root.log" >&2; die "apt-get install in the $name rootfs failed (output above)"; }
    chroot "$root" env DEBIAN_FRONTEND=noninteractive bash /tmp/recipe/setup.sh >>"$root.log" 2>&1 \
        || { tail -n 30 "$root.log" >&2; die "$name/setup.sh failed (output above)"; }
    chroot "$root" apt-get clean
    umount -l "$root/proc"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/recipe "$root"/usr/sbin/policy-rc.d \
        "$root"/var/cache/debconf/*-old "$root"/var/log/*.log "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/*
    local changes=()
    while IFS= read -r line; do
        [[ -z "$line" || "$line" == \#* ]] || changes+=(--change "$line")
    done <"$HERE/$name/image.conf"
    tar -C "$root" --numeric-owner -c . \
        | docker import "${changes[@]}" --change "LABEL understudy.recipe=$hash" \
            --message "understudy $name recipe $hash" - "$image" >/dev/null
    docker tag "$image" "$REPO/$name:local"
    rm -rf "$root" "$root.log"
    trap - EXIT
    log "built $image in $((SECONDS - t0))s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

main() {
    if [[ "${1:-}" == -q ]]; then
        quiet=1
        shift
    fi
    if [[ "${1:-}" == hash ]]; then
        recipe_hash "${2:?usage: build.sh hash NAME}"
        return
    fi
    if [[ "${1:-}" == tags ]]; then
        for name in wordpress mariadb; do
            printf '%s=%s/%s:%s\n' "$name" "$REPO" "$name" "$(recipe_hash "$name")"
        done
        return
    fi
    command -v docker >/dev/null 2>&1 || die "docker not found; install docker.io and start the engine"
    docker info >/dev/null 2>&1 || die "the Docker engine does not answer; start it (systemctl start docker)"
    [[ $EUID -eq 0 ]] || die "building images needs root (debootstrap, chroot); run as root"
    mkdir -p "$CACHE"
    exec 8>"$CACHE/build.lock"
    flock -w 1800 8 || die "another build.sh has held $CACHE/build.lock for 30 minutes"
    local names=("$@")
    ((${#names[@]} > 0)) || names=(wordpress mariadb)
    for name in "${names[@]}"; do
        [[ -f "$HERE/$name/packages" ]] || die "unknown image '$name' (wordpress or mariadb)"
        build "$name"
    done
}

main "$@"
