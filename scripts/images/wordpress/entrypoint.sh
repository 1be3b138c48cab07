#!/bin/sh
# Understudy WordPress image entrypoint: per-container secret keys, then Apache in the
# foreground (the official image's `apache2-foreground` command name is accepted).
set -eu
if [ ! -f /etc/wordpress-keys.php ]; then
    {
        echo '<?php'
        for key in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
            printf "define('%s', '%s');\n" "$key" "$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
        done
    } >/etc/wordpress-keys.php.tmp
    chmod 640 /etc/wordpress-keys.php.tmp
    chgrp www-data /etc/wordpress-keys.php.tmp
    mv /etc/wordpress-keys.php.tmp /etc/wordpress-keys.php
fi
if [ "$#" -eq 0 ] || [ "$1" = apache2-foreground ]; then
    # envvars reads unset variables on purpose.
    set +u
    # shellcheck disable=SC1091
    . /etc/apache2/envvars
    set -u
    mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
    rm -f "$APACHE_PID_FILE"
    exec apache2 -DFOREGROUND
fi
exec "$@"
