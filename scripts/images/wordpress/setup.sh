#!/usr/bin/env bash
# Runs inside the chroot after the packages are installed: WordPress unpacked into
# /var/www/html (real files, like the official image), configured from the environment.
set -euo pipefail
rm -rf /var/www/html
mkdir -p /var/www/html
cp -aL /usr/share/wordpress/. /var/www/html/
rm -f /var/www/html/wp-config.php /var/www/html/wp-config-sample.php /var/www/html/readme.html
install -m 644 /tmp/recipe/wp-config.php /var/www/html/wp-config.php
dpkg --purge --force-depends wordpress wordpress-theme-twentytwentyone >/dev/null
mkdir -p /var/www/html/wp-content/uploads
chown -R www-data:www-data /var/www/html/wp-content
install -m 755 /tmp/recipe/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
cat >/etc/apache2/conf-available/understudy.conf <<'CONF'
ServerName localhost
ServerTokens Prod
<Directory /var/www/>
    AllowOverride All
</Directory>
CONF
a2enconf understudy >/dev/null
a2enmod rewrite >/dev/null
# WordPress's own rewrite rules (what its permalink screen and the official image write; Debian
# ships them commented out): pretty permalinks and /wp-json/ are routed to index.php. Owned by
# www-data so WordPress keeps its section up to date (the import's rewrite flush does).
cat >/var/www/html/.htaccess <<'HTACCESS'
# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
HTACCESS
chown www-data:www-data /var/www/html/.htaccess
# Logs to the container's output.
ln -sfT /dev/stderr /var/log/apache2/error.log
ln -sfT /dev/stdout /var/log/apache2/access.log
ln -sfT /dev/stdout /var/log/apache2/other_vhosts_access.log
