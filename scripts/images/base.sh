#!/usr/bin/env bash
# Shared tail of the base rootfs, run on the host after debootstrap with the rootfs path:
# apt sources (main, updates, security), no daemons started by package scripts, no
# recommends, small apt footprint. Part of every image's recipe hash.
set -euo pipefail
root=$1
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
SOURCES
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/apt/apt.conf.d/90understudy" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
APT
cat >"$root/etc/dpkg/dpkg.cfg.d/90understudy" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
chroot "$root" apt-get -q update >/dev/null
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y upgrade >/dev/null
