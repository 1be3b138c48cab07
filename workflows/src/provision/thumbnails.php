<?php
// Understudy: makes the image sizes the export bundle did not carry, for the attachments listed
// in /tmp/understudy/thumbnails.json by import.php. Started detached after the import (the
// sandbox already serves the full images meanwhile); each attachment's metadata is replaced by
// WordPress's own once its sizes exist. Safe to run twice. Run as www-data with US_URL.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
$url = getenv('US_URL');
$_SERVER['HTTP_HOST'] = parse_url($url, PHP_URL_HOST) . ':' . parse_url($url, PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
require '/var/www/html/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/image.php';
$ids = json_decode((string) @file_get_contents('/tmp/understudy/thumbnails.json'), true);
foreach (is_array($ids) ? $ids : [] as $id) {
    $path = get_attached_file($id);
    if ($path && file_exists($path)) {
        wp_update_attachment_metadata($id, wp_generate_attachment_metadata($id, $path));
    }
}
