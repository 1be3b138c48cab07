<?php
// Understudy sandbox image: configured by the same environment variables as the
// official `wordpress` image (WORDPRESS_DB_HOST, WORDPRESS_DB_USER, WORDPRESS_DB_PASSWORD,
// WORDPRESS_DB_NAME, WORDPRESS_TABLE_PREFIX, WORDPRESS_DEBUG, WORDPRESS_CONFIG_EXTRA and
// the _FILE variants), read at every request.
function understudy_env($name, $default) {
    $value = getenv($name);
    if ($value !== false && $value !== '') {
        return $value;
    }
    $file = getenv($name . '_FILE');
    if ($file !== false && is_readable($file)) {
        return rtrim(file_get_contents($file), "\r\n");
    }
    return $default;
}

define('DB_NAME', understudy_env('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', understudy_env('WORDPRESS_DB_USER', 'example username'));
define('DB_PASSWORD', understudy_env('WORDPRESS_DB_PASSWORD', 'example password'));
define('DB_HOST', understudy_env('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', understudy_env('WORDPRESS_DB_CHARSET', 'utf8mb4'));
define('DB_COLLATE', understudy_env('WORDPRESS_DB_COLLATE', ''));

// Per-container keys, written by the entrypoint at first start.
if (is_readable('/etc/wordpress-keys.php')) {
    require '/etc/wordpress-keys.php';
}
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT',
          'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $key) {
    if (!defined($key)) {
        define($key, understudy_env('WORDPRESS_' . $key, hash('sha256', $key . DB_PASSWORD)));
    }
}

$table_prefix = understudy_env('WORDPRESS_TABLE_PREFIX', 'wp_');
define('WP_DEBUG', (bool) understudy_env('WORDPRESS_DEBUG', ''));

if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
    $_SERVER['HTTPS'] = 'on';
}

$understudy_extra = understudy_env('WORDPRESS_CONFIG_EXTRA', '');
if ($understudy_extra !== '') {
    eval($understudy_extra);
}

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
