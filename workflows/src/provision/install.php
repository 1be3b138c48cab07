<?php
// Understudy: installs WordPress in a sandbox container, idempotently. Run as www-data with
// US_URL, US_TITLE, US_ADMIN_USER, US_ADMIN_EMAIL, US_ADMIN_PASSWORD in the environment.
// Prints one JSON line: {"installed": bool, "admin_id": N, "app_password": "..."}.
// The Application Password named "understudy" is replaced on every run (its clear text is only
// known at creation).
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
$url = getenv('US_URL');
$_SERVER['HTTP_HOST'] = parse_url($url, PHP_URL_HOST) . ':' . parse_url($url, PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
define('WP_INSTALLING', true);
require '/var/www/html/wp-load.php';
// No e-mail to the (fake) administrator.
function wp_new_blog_notification($title, $url, $user_id, $password) {}
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$login = getenv('US_ADMIN_USER');
$password = getenv('US_ADMIN_PASSWORD');
$installed = false;
if (!is_blog_installed()) {
    $result = wp_install(getenv('US_TITLE'), $login, getenv('US_ADMIN_EMAIL'), false, '', wp_slash($password));
    if (is_wp_error($result)) {
        fwrite(STDERR, 'wp_install: ' . $result->get_error_message());
        exit(2);
    }
    $installed = true;
}
$user = get_user_by('login', $login);
if (!$user) {
    $id = wp_create_user($login, $password, getenv('US_ADMIN_EMAIL'));
    if (is_wp_error($id)) {
        fwrite(STDERR, 'wp_create_user: ' . $id->get_error_message());
        exit(2);
    }
    $user = get_user_by('id', $id);
}
$user->set_role('administrator');
wp_set_password($password, $user->ID);
update_option('siteurl', $url);
update_option('home', $url);
update_option('blog_public', '0');
// The default theme of this WordPress version may not be in the image: use one that is.
if (!wp_get_theme()->exists()) {
    $themes = array_keys(wp_get_themes());
    $pick = in_array('twentytwentyone', $themes, true) ? 'twentytwentyone' : ($themes[0] ?? null);
    if ($pick) { switch_theme($pick); }
}

foreach (WP_Application_Passwords::get_user_application_passwords($user->ID) as $item) {
    if ($item['name'] === 'understudy') {
        WP_Application_Passwords::delete_application_password($user->ID, $item['uuid']);
    }
}
$created = WP_Application_Passwords::create_new_application_password($user->ID, ['name' => 'understudy']);
if (is_wp_error($created)) {
    fwrite(STDERR, 'application password: ' . $created->get_error_message());
    exit(2);
}
echo json_encode(['installed' => $installed, 'admin_id' => $user->ID, 'app_password' => $created[0]]), "\n";
