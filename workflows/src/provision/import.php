<?php
// Understudy: imports an export bundle (format 1) into a sandbox's WordPress. Run as www-data
// with US_URL and US_ADMIN_USER in the environment, after /tmp/understudy/import.json (the
// bundle's collections, URLs already rewritten to the sandbox) and the media files under
// wp-content/uploads/ were copied in. Posts, pages and attachments keep their ids (import_id)
// when free, so featured images, wp-image-N classes, parents and page_on_front need no
// remapping; terms, users, comments, menus and menu items are mapped. Also imported: custom
// post types and taxonomies (registered by the understudy-imported-types must-use plugin, which
// the import uploads first), their registered meta, reusable blocks, block navigation, block
// templates and template parts stored in the database, classic menus (items with their parents
// and targets) and their theme locations, trashed posts, pages and custom post type entries
// (into the trash), comment authors' IP and user agent, user nicknames, and the permalink
// settings the export derived (then WordPress's .htaccess section is rewritten and the rewrite
// rules rebuilt by the next request). Every imported object is marked with the meta
// `_understudy_import` = its source id, so a re-run updates instead of duplicating.
// Prints one JSON line: counts per kind and milliseconds per phase.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
$url = getenv('US_URL');
$_SERVER['HTTP_HOST'] = parse_url($url, PHP_URL_HOST) . ':' . parse_url($url, PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
require '/var/www/html/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/image.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/post.php';

const MARK = '_understudy_import';
$data = json_decode(file_get_contents('/tmp/understudy/import.json'), true);
if (!is_array($data)) {
    fwrite(STDERR, 'import.json is not JSON');
    exit(2);
}
$c = $data['collections'];
$admin = get_user_by('login', getenv('US_ADMIN_USER'));
if (!$admin) {
    fwrite(STDERR, 'the sandbox administrator does not exist; run install first');
    exit(2);
}
wp_set_current_user($admin->ID);
// No side effects of the import itself: no revisions (a re-run updates imported posts, and
// setting a child page's parent is an update too), no pingback/enclosure queueing on publish.
add_filter('wp_revisions_to_keep', '__return_zero', PHP_INT_MAX);
remove_action('post_updated', 'wp_save_post_revision', 10);
remove_action('publish_post', '_publish_post_hook', 5);
// One transaction: one log flush instead of one per row, and a run that dies leaves nothing
// half-imported (the step's retry starts from what the last complete run left).
global $wpdb;
// One import at a time per sandbox: a worker killed mid-import leaves this PHP running in the
// container, and the retried step's import must start after that one ended — then it sees what
// that one committed and updates it (started alongside, its snapshot would not, and it would
// import everything a second time under new ids).
if ((int) $wpdb->get_var("SELECT GET_LOCK('understudy_import', 900)") !== 1) {
    fwrite(STDERR, 'another import has been running in this sandbox for 15 minutes; retry the job once it ended');
    exit(3);
}
$wpdb->query('START TRANSACTION');
wp_defer_term_counting(true);
wp_defer_comment_counting(true);
$report = ['users' => 0, 'terms' => 0, 'attachments' => 0, 'posts' => 0, 'pages' => 0,
           'custom_posts' => [], 'trashed' => 0, 'blocks' => 0, 'navigation' => 0, 'templates' => 0,
           'template_parts' => 0, 'menus' => 0, 'menu_items' => 0, 'menu_locations' => 0,
           'comments' => 0, 'settings' => 0, 'skipped' => [], 'renumbered' => 0, 'ms' => []];
$clock = microtime(true);
function phase($name) {
    global $report, $clock;
    $now = microtime(true);
    $report['ms'][$name] = (int) round(($now - $clock) * 1000);
    $clock = $now;
}
$custom_types = [];
foreach ($data['custom']['types'] ?? [] as $t) {
    if (post_type_exists($t['slug']) && isset($c[$t['rest_base']])) { $custom_types[$t['slug']] = $t; }
}
$custom_taxonomies = [];
foreach ($data['custom']['taxonomies'] ?? [] as $t) {
    if (taxonomy_exists($t['slug']) && isset($c[$t['rest_base']])) { $custom_taxonomies[$t['slug']] = $t; }
}
function skip($what) { global $report; $report['skipped'][$what] = ($report['skipped'][$what] ?? 0) + 1; }
function raw($field) { return is_array($field) ? ($field['raw'] ?? $field['rendered'] ?? '') : (string) $field; }
function fail($what, $error) { fwrite(STDERR, "$what: " . $error->get_error_message() . "\n"); exit(3); }

// WordPress's sample content goes: the bundle is the content.
foreach ([1, 2, 3] as $id) {
    $p = get_post($id);
    if ($p && !get_post_meta($id, MARK, true) && in_array($p->post_name, ['hello-world', 'sample-page', 'privacy-policy'], true)) {
        wp_delete_post($id, true);
    }
}

// Users: the sandbox administrator stands in for a source user with the same login or e-mail.
$user_map = [];
foreach ($c['users'] ?? [] as $u) {
    $login = sanitize_user($u['username'] ?? $u['slug'] ?? '', true);
    $email = $u['email'] ?? '';
    if ($login === '' ) { skip('user without login'); continue; }
    $existing = get_user_by('login', $login) ?: ($email ? get_user_by('email', $email) : false);
    if ($existing) {
        $user_map[$u['id']] = $existing->ID;
        // Imported by an earlier run: counted, as what is there.
        if (get_user_meta($existing->ID, MARK, true) !== '') { $report['users']++; }
        continue;
    }
    $id = wp_insert_user([
        'user_login' => $login, 'user_pass' => wp_generate_password(32), 'user_email' => $email,
        'display_name' => $u['name'] ?? $login, 'first_name' => $u['first_name'] ?? '',
        'last_name' => $u['last_name'] ?? '', 'description' => $u['description'] ?? '',
        'user_url' => $u['url'] ?? '', 'user_nicename' => $u['slug'] ?? '',
        'nickname' => $u['nickname'] ?? '', 'role' => ($u['roles'][0] ?? 'author'),
    ]);
    if (is_wp_error($id)) { skip('user: ' . $id->get_error_code()); continue; }
    update_user_meta($id, MARK, $u['id']);
    $user_map[$u['id']] = $id;
    $report['users']++;
}
$author = function ($id) use (&$user_map, $admin) { return $user_map[$id] ?? $admin->ID; };
phase('users');

// Terms, parents before children: categories, tags, custom taxonomies.
$term_map = ['category' => [], 'post_tag' => []];
$term_collections = ['categories' => 'category', 'tags' => 'post_tag'];
foreach ($custom_taxonomies as $slug => $t) { $term_collections[$t['rest_base']] = $slug; $term_map[$slug] = []; }
foreach ($term_collections as $collection => $taxonomy) {
    $pending = $c[$collection] ?? [];
    while ($pending) {
        $left = [];
        foreach ($pending as $t) {
            $parent = $t['parent'] ?? 0;
            if ($parent && !isset($term_map[$taxonomy][$parent])) {
                $left[] = $t;
                continue;
            }
            $exists = term_exists($t['slug'], $taxonomy);
            if ($exists) {
                // A term an earlier (killed) run of this import created is counted again: the
                // report counts what the sandbox holds from the bundle, not what this run inserted.
                $term_map[$taxonomy][$t['id']] = (int) $exists['term_id'];
                if (get_term_meta((int) $exists['term_id'], MARK, true) !== '') { $report['terms']++; }
                continue;
            }
            $made = wp_insert_term($t['name'], $taxonomy, ['slug' => $t['slug'],
                'description' => $t['description'] ?? '', 'parent' => $parent ? $term_map[$taxonomy][$parent] : 0]);
            if (is_wp_error($made)) { skip("$taxonomy: " . $made->get_error_code()); continue; }
            $term_map[$taxonomy][$t['id']] = $made['term_id'];
            add_term_meta($made['term_id'], MARK, $t['id'], true);
            $report['terms']++;
        }
        if (count($left) === count($pending)) {
            foreach ($left as $t) { skip("$taxonomy with a missing parent"); }
            break;
        }
        $pending = $left;
    }
}
phase('terms');

// Posts, pages and attachments keep their source ids when free. What an earlier run imported
// is looked up once (source id => sandbox id), not per object.
$post_map = [];
$marked_posts = [];
foreach ($wpdb->get_results($wpdb->prepare("SELECT post_id, meta_value FROM {$wpdb->postmeta} WHERE meta_key = %s", MARK)) as $r) {
    $marked_posts[(int) $r->meta_value] = (int) $r->post_id;
}
function upsert_post($item, $fields) {
    global $post_map, $marked_posts, $report;
    $source = (int) $item['id'];
    $earlier = $marked_posts[$source] ?? 0;
    if ($earlier && get_post($earlier)) {
        $fields['ID'] = $earlier;
        $id = wp_update_post(wp_slash($fields), true);
    } else {
        if (!get_post($source)) { $fields['import_id'] = $source; }
        $id = wp_insert_post(wp_slash($fields), true);
        if (!is_wp_error($id)) {
            add_post_meta($id, MARK, $source, true);
            $marked_posts[$source] = $id;
        }
    }
    if (is_wp_error($id)) { return $id; }
    if ($id !== $source) { $report['renumbered']++; }
    $post_map[$source] = $id;
    return $id;
}

// An image's metadata from the source site's REST media_details (dimensions, EXIF, sizes)
// instead of decoding it and resizing it again here: only the sizes whose files the bundle
// carries are listed (by the bundle, not by what the sandbox holds: an earlier killed run's
// thumbnails.php may have made more, and the report must not depend on it); `missing` says
// whether thumbnails.php should make the others after the import (WordPress serves the full image for a size it does not list). Null for non-images.
function rest_image_metadata($m, $file, $path) {
    global $in_bundle;
    $details = $m['media_details'] ?? null;
    if (strpos($m['mime_type'] ?? '', 'image/') !== 0 || !is_array($details) || empty($details['width'])) { return null; }
    $dir = dirname($path);
    $sizes = [];
    $missing = false;
    foreach ((array) ($details['sizes'] ?? []) as $name => $size) {
        if ($name === 'full' || empty($size['file'])) { continue; }
        $carried = dirname($file) === '.' ? $size['file'] : dirname($file) . '/' . $size['file'];
        if (basename($size['file']) !== $size['file'] || !isset($in_bundle[$carried]) || !file_exists("$dir/{$size['file']}")) { $missing = true; continue; }
        $sizes[$name] = ['file' => $size['file'], 'width' => (int) $size['width'], 'height' => (int) $size['height'],
            'mime-type' => $size['mime_type'] ?? $m['mime_type'], 'filesize' => (int) ($size['filesize'] ?? filesize("$dir/{$size['file']}"))];
    }
    $meta = ['width' => (int) $details['width'], 'height' => (int) $details['height'], 'file' => $file,
        'filesize' => filesize($path), 'sizes' => $sizes, 'image_meta' => (array) ($details['image_meta'] ?? [])];
    if (!empty($details['original_image'])) { $meta['original_image'] = $details['original_image']; }
    return ['meta' => $meta, 'missing' => $missing];
}

$thumbnails = [];
$files = [];
$in_bundle = [];
foreach ($data['media'] as $m) {
    if (isset($m['id'])) { $files[$m['id']] = $m['file']; }
    $in_bundle[$m['file']] = true;
}
foreach ($c['media'] ?? [] as $m) {
    if (!isset($files[$m['id']])) { skip('attachment without a file in the bundle'); continue; }
    $file = $files[$m['id']];
    $id = upsert_post($m, [
        'post_type' => 'attachment', 'post_status' => 'inherit', 'post_title' => raw($m['title'] ?? ''),
        'post_content' => raw($m['description'] ?? ''), 'post_excerpt' => raw($m['caption'] ?? ''),
        'post_mime_type' => $m['mime_type'] ?? '', 'post_name' => $m['slug'] ?? '',
        'post_date' => $m['date'] ?? '', 'post_date_gmt' => $m['date_gmt'] ?? '',
        'post_author' => $author($m['author'] ?? 0), 'guid' => $data['uploads_url'] . '/' . $file,
    ]);
    if (is_wp_error($id)) { skip('attachment: ' . $id->get_error_code()); continue; }
    update_attached_file($id, $file);
    if (!empty($m['alt_text'])) { update_post_meta($id, '_wp_attachment_image_alt', $m['alt_text']); }
    $path = wp_upload_dir()['basedir'] . '/' . $file;
    if (file_exists($path)) {
        $meta = rest_image_metadata($m, $file, $path);
        if ($meta === null) {
            wp_update_attachment_metadata($id, wp_generate_attachment_metadata($id, $path));
        } else {
            wp_update_attachment_metadata($id, $meta['meta']);
            if ($meta['missing']) { $thumbnails[] = $id; }
        }
    }
    $report['attachments']++;
}
phase('attachments');

// The source ids of attachments that could not keep theirs, in content.
function remap_content($html) {
    global $post_map;
    $changed = array_filter($post_map, function ($new, $old) { return $new !== $old; }, ARRAY_FILTER_USE_BOTH);
    if (!$changed) { return $html; }
    $html = preg_replace_callback('/wp-image-(\d+)/', function ($m) use ($changed) {
        return 'wp-image-' . ($changed[(int) $m[1]] ?? $m[1]); }, $html);
    return preg_replace_callback('/(<!-- wp:image \{[^}]*"id":)(\d+)/', function ($m) use ($changed) {
        return $m[1] . ($changed[(int) $m[2]] ?? $m[2]); }, $html);
}

// Reusable blocks first: posts refer to them by id (`<!-- wp:block {"ref":N} /-->`).
foreach ($c['blocks'] ?? [] as $b) {
    $id = upsert_post($b, ['post_type' => 'wp_block', 'post_title' => raw($b['title'] ?? ''),
        'post_content' => remap_content(raw($b['content'] ?? '')), 'post_status' => $b['status'] ?? 'publish',
        'post_name' => $b['slug'] ?? '', 'post_date' => $b['date'] ?? '', 'post_date_gmt' => $b['date_gmt'] ?? '']);
    if (is_wp_error($id)) { skip('block: ' . $id->get_error_code()); continue; }
    $report['blocks']++;
}

// Meta the site registered for REST (scalars and arrays, as REST gave them).
function import_meta($id, $item) {
    foreach ((array) ($item['meta'] ?? []) as $key => $value) {
        if (!is_string($key) || $key === '' || $key[0] === '_' || $value === null || $value === '' || $value === []) { continue; }
        update_post_meta($id, $key, wp_slash($value));
    }
}

$parents = [];
// [collection, post type, trashed]: `<name>-trash` holds the entries in the source's trash.
$collections = [['pages', 'page', false], ['posts', 'post', false]];
foreach ($custom_types as $slug => $t) { $collections[] = [$t['rest_base'], $slug, false]; }
foreach ($collections as [$collection, $type]) { $collections[] = ["$collection-trash", $type, true]; }
foreach ($collections as [$collection, $type, $trashed]) {
    foreach ($c[$collection] ?? [] as $p) {
        $fields = [
            'post_type' => $type, 'post_title' => raw($p['title'] ?? ''),
            'post_content' => remap_content(raw($p['content'] ?? '')), 'post_excerpt' => raw($p['excerpt'] ?? ''),
            'post_status' => $p['status'] ?? 'publish', 'post_name' => $p['slug'] ?? '',
            'post_date' => $p['date'] ?? '', 'post_date_gmt' => $p['date_gmt'] ?? '',
            'post_author' => $author($p['author'] ?? 0), 'comment_status' => $p['comment_status'] ?? 'closed',
            'ping_status' => $p['ping_status'] ?? 'closed', 'menu_order' => $p['menu_order'] ?? 0,
            'post_password' => $p['password'] ?? '',
        ];
        if ($type === 'post') {
            $fields['post_category'] = array_values(array_filter(array_map(
                function ($t) use ($term_map) { return $term_map['category'][$t] ?? null; }, $p['categories'] ?? [])));
        }
        $id = upsert_post($p, $fields);
        if (is_wp_error($id)) { skip("$type: " . $id->get_error_code()); continue; }
        if ($type === 'post') {
            $tags = array_values(array_filter(array_map(
                function ($t) use ($term_map) { return $term_map['post_tag'][$t] ?? null; }, $p['tags'] ?? [])));
            wp_set_post_terms($id, $tags, 'post_tag');
            if (!empty($p['sticky'])) { stick_post($id); }
            if (!empty($p['format']) && $p['format'] !== 'standard') { set_post_format($id, $p['format']); }
        }
        foreach ($custom_taxonomies as $taxonomy => $t) {
            if (!isset($p[$t['rest_base']]) || !is_object_in_taxonomy($type, $taxonomy)) { continue; }
            $terms = array_values(array_filter(array_map(
                function ($x) use ($term_map, $taxonomy) { return $term_map[$taxonomy][$x] ?? null; }, (array) $p[$t['rest_base']])));
            wp_set_object_terms($id, $terms, $taxonomy);
        }
        import_meta($id, $p);
        if (!empty($p['parent'])) { $parents[$id] = $p['parent']; }
        if (!empty($p['template'])) { update_post_meta($id, '_wp_page_template', $p['template']); }
        // Trashing renamed it `<slug>__trashed`; WordPress restores the slug from this meta.
        if ($trashed && preg_match('/^(.+)__trashed$/', $p['slug'] ?? '', $desired)) {
            update_post_meta($id, '_wp_desired_post_slug', $desired[1]);
        }
        if ($trashed) { $report['trashed']++; }
        elseif ($type === 'post' || $type === 'page') { $report[$collection]++; }
        else { $report['custom_posts'][$type] = ($report['custom_posts'][$type] ?? 0) + 1; }
    }
}
foreach ($c['media'] ?? [] as $m) {
    if (!empty($m['post']) && isset($post_map[$m['id']])) { $parents[$post_map[$m['id']]] = $m['post']; }
}
foreach ($parents as $id => $parent) {
    if (isset($post_map[$parent])) { wp_update_post(['ID' => $id, 'post_parent' => $post_map[$parent]]); }
}
$featured_items = [];
foreach ($collections as [$collection]) { $featured_items = array_merge($featured_items, $c[$collection] ?? []); }
foreach ($featured_items as $p) {
    $featured = $p['featured_media'] ?? 0;
    if ($featured && isset($post_map[$p['id']])) {
        if (isset($post_map[$featured])) { set_post_thumbnail($post_map[$p['id']], $post_map[$featured]); }
        else { skip('featured image not in the bundle'); }
    }
}

phase('posts');

// Block navigation menus (wp_navigation posts; their links name pages by id, kept).
foreach ($c['navigation'] ?? [] as $n) {
    $id = upsert_post($n, ['post_type' => 'wp_navigation', 'post_title' => raw($n['title'] ?? ''),
        'post_content' => remap_content(raw($n['content'] ?? '')), 'post_status' => $n['status'] ?? 'publish',
        'post_name' => $n['slug'] ?? '', 'post_date' => $n['date'] ?? '', 'post_date_gmt' => $n['date_gmt'] ?? '']);
    if (is_wp_error($id)) { skip('navigation: ' . $id->get_error_code()); continue; }
    $report['navigation']++;
}

// Block templates and template parts the site stores in the database (edited or custom ones:
// those with a wp_id; the theme's own files are not content).
foreach (['templates' => 'wp_template', 'template-parts' => 'wp_template_part'] as $collection => $type) {
    foreach ($c[$collection] ?? [] as $t) {
        if (empty($t['wp_id']) || empty($t['slug'])) { continue; }
        $item = $t;
        $item['id'] = (int) $t['wp_id'];
        $id = upsert_post($item, ['post_type' => $type, 'post_name' => $t['slug'],
            'post_title' => raw($t['title'] ?? $t['slug']), 'post_content' => remap_content(raw($t['content'] ?? '')),
            'post_excerpt' => raw($t['description'] ?? ''), 'post_status' => $t['status'] ?? 'publish']);
        if (is_wp_error($id)) { skip("$type: " . $id->get_error_code()); continue; }
        $theme = $t['theme'] ?? get_stylesheet();
        wp_set_post_terms($id, [$theme], 'wp_theme');
        if ($type === 'wp_template_part' && !empty($t['area'])) { wp_set_post_terms($id, [$t['area']], 'wp_template_part_area'); }
        $report[$type === 'wp_template' ? 'templates' : 'template_parts']++;
    }
}
phase('navigation_templates');

// Comments, parents first (ids ascending); those of trashed posts stay set aside with them.
$comments = array_merge($c['comments'] ?? [], $c['comments-post-trashed'] ?? []);
usort($comments, function ($a, $b) { return $a['id'] <=> $b['id']; });
$comment_map = [];
$marked_comments = [];
foreach ($wpdb->get_results($wpdb->prepare("SELECT comment_id, meta_value FROM {$wpdb->commentmeta} WHERE meta_key = %s", MARK)) as $r) {
    $marked_comments[(int) $r->meta_value] = (int) $r->comment_id;
}
foreach ($comments as $cm) {
    // Imported by an earlier run (whose process outlived a killed worker): counted, as what is there.
    if (isset($marked_comments[$cm['id']])) { $comment_map[$cm['id']] = $marked_comments[$cm['id']]; $report['comments']++; continue; }
    if (!isset($post_map[$cm['post']])) { skip('comment on a post not in the bundle'); continue; }
    $id = wp_insert_comment(wp_slash([
        'comment_post_ID' => $post_map[$cm['post']], 'comment_author' => $cm['author_name'] ?? '',
        'comment_author_email' => $cm['author_email'] ?? '', 'comment_author_url' => $cm['author_url'] ?? '',
        'comment_author_IP' => $cm['author_ip'] ?? '', 'comment_agent' => $cm['author_user_agent'] ?? '',
        'comment_type' => in_array($cm['type'] ?? '', ['pingback', 'trackback'], true) ? $cm['type'] : 'comment',
        'comment_content' => raw($cm['content'] ?? ''), 'comment_date' => $cm['date'] ?? '',
        'comment_date_gmt' => $cm['date_gmt'] ?? '', 'comment_approved' => ['approved' => 1, 'post-trashed' => 'post-trashed'][$cm['status'] ?? ''] ?? 0,
        'comment_parent' => $comment_map[$cm['parent'] ?? 0] ?? 0,
        'user_id' => isset($cm['author']) && $cm['author'] ? $author($cm['author']) : 0,
    ]));
    if (!$id) { skip('comment refused'); continue; }
    add_comment_meta($id, MARK, $cm['id']);
    $comment_map[$cm['id']] = $id;
    $report['comments']++;
}

phase('comments');

// Classic menus: the menus, their items (parents first, objects mapped to the imported posts
// and terms), and the theme locations they are assigned to.
$menu_map = [];
foreach ($c['menus'] ?? [] as $m) {
    $existing = get_terms(['taxonomy' => 'nav_menu', 'hide_empty' => false, 'meta_key' => MARK,
        'meta_value' => $m['id'], 'fields' => 'ids']);
    $menu_id = $existing ? (int) $existing[0] : 0;
    if (!$menu_id) {
        $by_name = wp_get_nav_menu_object($m['name']);
        $menu_id = $by_name ? (int) $by_name->term_id : 0;
    }
    $made = wp_update_nav_menu_object($menu_id, wp_slash(['menu-name' => $m['name'],
        'description' => $m['description'] ?? '']));
    if (is_wp_error($made)) { skip('menu: ' . $made->get_error_code()); continue; }
    update_term_meta($made, MARK, $m['id']);
    if (!empty($m['auto_add'])) {
        $options = (array) get_option('nav_menu_options', []);
        $options['auto_add'] = array_values(array_unique(array_merge((array) ($options['auto_add'] ?? []), [$made])));
        update_option('nav_menu_options', $options);
    }
    $menu_map[$m['id']] = $made;
    $report['menus']++;
}
$item_map = [];
$pending = $c['menu-items'] ?? [];
usort($pending, function ($a, $b) { return ($a['menu_order'] ?? 0) <=> ($b['menu_order'] ?? 0); });
while ($pending) {
    $left = [];
    foreach ($pending as $i) {
        $parent = (int) ($i['parent'] ?? 0);
        if ($parent && !isset($item_map[$parent])) { $left[] = $i; continue; }
        $menu = is_array($i['menus'] ?? null) ? ($i['menus'][0] ?? 0) : ($i['menus'] ?? 0);
        if (!isset($menu_map[$menu])) { skip('menu item of a menu not in the bundle'); continue; }
        $type = $i['type'] ?? 'custom';
        $object_id = 0;
        if ($type === 'post_type') {
            $object_id = $post_map[$i['object_id'] ?? 0] ?? 0;
            if (!$object_id) { skip('menu item to a post not in the bundle'); continue; }
        } elseif ($type === 'taxonomy') {
            $object_id = $term_map[$i['object'] ?? ''][$i['object_id'] ?? 0] ?? 0;
            if (!$object_id) { skip('menu item to a term not in the bundle'); continue; }
        }
        $earlier = $marked_posts[(int) $i['id']] ?? 0;
        $found = $earlier && get_post($earlier) ? [$earlier] : [];
        $classes = implode(' ', array_filter((array) ($i['classes'] ?? [])));
        $xfn = implode(' ', array_filter((array) ($i['xfn'] ?? [])));
        $made = wp_update_nav_menu_item($menu_map[$menu], $found ? $found[0] : 0, wp_slash([
            'menu-item-title' => raw($i['title'] ?? ''), 'menu-item-type' => $type,
            'menu-item-object' => $i['object'] ?? 'custom', 'menu-item-object-id' => $object_id,
            'menu-item-parent-id' => $parent ? $item_map[$parent] : 0,
            'menu-item-position' => $i['menu_order'] ?? 0, 'menu-item-url' => $type === 'custom' ? ($i['url'] ?? '') : '',
            'menu-item-target' => $i['target'] ?? '', 'menu-item-attr-title' => $i['attr_title'] ?? '',
            'menu-item-classes' => $classes, 'menu-item-xfn' => $xfn,
            'menu-item-description' => $i['description'] ?? '', 'menu-item-status' => 'publish',
        ]));
        if (is_wp_error($made)) { skip('menu item: ' . $made->get_error_code()); continue; }
        update_post_meta($made, MARK, $i['id']);
        $marked_posts[(int) $i['id']] = $made;
        $item_map[$i['id']] = $made;
        $report['menu_items']++;
    }
    if (count($left) === count($pending)) {
        foreach ($left as $i) { skip('menu item with a missing parent'); }
        break;
    }
    $pending = $left;
}
$locations = (array) get_theme_mod('nav_menu_locations', []);
foreach ((array) ($c['menu-locations'] ?? []) as $name => $location) {
    $menu = is_array($location) ? ($location['menu'] ?? 0) : 0;
    if ($menu && isset($menu_map[$menu])) {
        $locations[$name] = $menu_map[$menu];
        $report['menu_locations']++;
    }
}
set_theme_mod('nav_menu_locations', $locations);
phase('menus');

// Settings WordPress exposes in REST (the sandbox keeps its own URL and e-mail).
$s = $c['settings'] ?? [];
$options = ['title' => 'blogname', 'description' => 'blogdescription', 'timezone' => 'timezone_string',
    'date_format' => 'date_format', 'time_format' => 'time_format', 'start_of_week' => 'start_of_week',
    'posts_per_page' => 'posts_per_page', 'default_ping_status' => 'default_ping_status',
    'default_comment_status' => 'default_comment_status', 'use_smilies' => 'use_smilies',
    'show_on_front' => 'show_on_front', 'default_post_format' => 'default_post_format'];
foreach ($options as $key => $option) {
    if (array_key_exists($key, $s) && $s[$key] !== null) {
        update_option($option, is_bool($s[$key]) ? ($s[$key] ? '1' : '') : $s[$key]);
        $report['settings']++;
    }
}
foreach (['page_on_front', 'page_for_posts', 'site_logo', 'site_icon'] as $key) {
    if (!empty($s[$key]) && isset($post_map[$s[$key]])) {
        update_option($key, $post_map[$s[$key]]);
        $report['settings']++;
    }
}
if (!empty($s['default_category']) && isset($term_map['category'][$s['default_category']])) {
    update_option('default_category', $term_map['category'][$s['default_category']]);
    $report['settings']++;
}
// Permalinks as the source had them, so its pretty links and /wp-json/ answer here too.
$links = $data['permalinks'] ?? null;
if (is_array($links) && is_string($links['structure'] ?? null)) {
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure(sanitize_option('permalink_structure', $links['structure']));
    foreach (['category_base' => 'set_category_base', 'tag_base' => 'set_tag_base'] as $key => $set) {
        if (is_string($links[$key] ?? null)) { $wp_rewrite->$set(sanitize_option($key, $links[$key])); }
    }
    // WordPress's section of .htaccess, as the permalink screen writes it (the image's Apache
    // reads it; PHP's command line cannot see that mod_rewrite is loaded there).
    require_once ABSPATH . 'wp-admin/includes/misc.php';
    add_filter('got_rewrite', '__return_true');
    save_mod_rewrite_rules();
    $report['permalinks'] = get_option('permalink_structure');
}
wp_defer_term_counting(false);
wp_defer_comment_counting(false);
// Rebuilt by the next request: this process registered the post types and taxonomies (and
// their permalink structures) for the structure it started with.
delete_option('rewrite_rules');
phase('settings');
if (!$report['custom_posts']) { $report['custom_posts'] = new stdClass(); }
// Attachments whose other sizes thumbnails.php makes after the import, in the background.
file_put_contents('/tmp/understudy/thumbnails.json', json_encode($thumbnails));
if ($wpdb->query('COMMIT') === false) {
    fwrite(STDERR, 'committing the import failed: ' . $wpdb->last_error);
    exit(3);
}
$report['thumbnails_deferred'] = count($thumbnails);
echo json_encode($report), "\n";
