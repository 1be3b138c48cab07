#!/usr/bin/env bash
# Runs inside the chroot: an empty data directory (initialised at first start from the
# environment), listening on all addresses of the container.
set -euo pipefail
rm -rf /var/lib/mysql/*
cat >/etc/mysql/mariadb.conf.d/90-understudy.cnf <<'CNF'
[mariadbd]
bind-address = 0.0.0.0
skip-name-resolve
innodb_buffer_pool_size = 64M
CNF
install -m 755 /tmp/recipe/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
