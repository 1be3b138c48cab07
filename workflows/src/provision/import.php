<?php
// Understudy: imports an export bundle (format 1) into a sandbox's WordPress. Run as www-data
// with US_URL and US_ADMIN_USER in the environment, after /tmp/understudy/import.json (the
// bundle's collections, URLs already rewritten to the sandbox) and the media files under
// wp-content/uploads/ were copied in. Posts, pages and attachments keep their ids (import_id)
// when free, so featured images, wp-image-N classes, parents and page_on_front need no
// remapping; terms, users and comments are mapped. Every imported object is marked with the
// meta `_understudy_import` = its source id, so a re-run updates instead of duplicating.
// Prints one JSON line: counts per kind.
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
wp_defer_term_counting(true);
$report = ['users' => 0, 'terms' => 0, 'attachments' => 0, 'posts' => 0, 'pages' => 0,
           'comments' => 0, 'settings' => 0, 'skipped' => [], 'renumbered' => 0];
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
        continue;
    }
    $id = wp_insert_user([
        'user_login' => $login, 'user_pass' => wp_generate_password(32), 'user_email' => $email,
        'display_name' => $u['name'] ?? $login, 'first_name' => $u['first_name'] ?? '',
        'last_name' => $u['last_name'] ?? '', 'description' => $u['description'] ?? '',
        'user_url' => $u['url'] ?? '', 'user_nicename' => $u['slug'] ?? '',
        'role' => ($u['roles'][0] ?? 'author'),
    ]);
    if (is_wp_error($id)) { skip('user: ' . $id->get_error_code()); continue; }
    update_user_meta($id, MARK, $u['id']);
    $user_map[$u['id']] = $id;
    $report['users']++;
}
$author = function ($id) use (&$user_map, $admin) { return $user_map[$id] ?? $admin->ID; };

// Terms, parents before children.
$term_map = ['category' => [], 'post_tag' => []];
foreach (['categories' => 'category', 'tags' => 'post_tag'] as $collection => $taxonomy) {
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
                $term_map[$taxonomy][$t['id']] = (int) $exists['term_id'];
                continue;
            }
            $made = wp_insert_term($t['name'], $taxonomy, ['slug' => $t['slug'],
                'description' => $t['description'] ?? '', 'parent' => $parent ? $term_map[$taxonomy][$parent] : 0]);
            if (is_wp_error($made)) { skip("$taxonomy: " . $made->get_error_code()); continue; }
            $term_map[$taxonomy][$t['id']] = $made['term_id'];
            $report['terms']++;
        }
        if (count($left) === count($pending)) {
            foreach ($left as $t) { skip("$taxonomy with a missing parent"); }
            break;
        }
        $pending = $left;
    }
}

// Posts, pages and attachments keep their source ids when free.
$post_map = [];
function upsert_post($item, $fields) {
    global $post_map, $report;
    $source = $item['id'];
    $existing = get_post($source);
    if ($existing && (int) get_post_meta($source, MARK, true) === $source) {
        $fields['ID'] = $source;
        $id = wp_update_post(wp_slash($fields), true);
    } else {
        $marked = get_posts(['post_type' => 'any', 'post_status' => 'any', 'meta_key' => MARK,
            'meta_value' => $source, 'fields' => 'ids', 'posts_per_page' => 1]);
        if ($marked) {
            $fields['ID'] = $marked[0];
            $id = wp_update_post(wp_slash($fields), true);
        } else {
            if (!$existing) { $fields['import_id'] = $source; }
            $id = wp_insert_post(wp_slash($fields), true);
        }
    }
    if (is_wp_error($id)) { return $id; }
    update_post_meta($id, MARK, $source);
    if ($id !== $source) { $report['renumbered']++; }
    $post_map[$source] = $id;
    return $id;
}

$files = [];
foreach ($data['media'] as $m) {
    if (isset($m['id'])) { $files[$m['id']] = $m['file']; }
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
        wp_update_attachment_metadata($id, wp_generate_attachment_metadata($id, $path));
    }
    $report['attachments']++;
}

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

$parents = [];
foreach (['pages' => 'page', 'posts' => 'post'] as $collection => $type) {
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
        if (!empty($p['parent'])) { $parents[$id] = $p['parent']; }
        if (!empty($p['template'])) { update_post_meta($id, '_wp_page_template', $p['template']); }
        $report[$collection]++;
    }
}
foreach ($c['media'] ?? [] as $m) {
    if (!empty($m['post']) && isset($post_map[$m['id']])) { $parents[$post_map[$m['id']]] = $m['post']; }
}
foreach ($parents as $id => $parent) {
    if (isset($post_map[$parent])) { wp_update_post(['ID' => $id, 'post_parent' => $post_map[$parent]]); }
}
foreach (array_merge($c['posts'] ?? [], $c['pages'] ?? []) as $p) {
    $featured = $p['featured_media'] ?? 0;
    if ($featured && isset($post_map[$p['id']])) {
        if (isset($post_map[$featured])) { set_post_thumbnail($post_map[$p['id']], $post_map[$featured]); }
        else { skip('featured image not in the bundle'); }
    }
}

// Comments, parents first (ids ascending).
$comments = $c['comments'] ?? [];
usort($comments, function ($a, $b) { return $a['id'] <=> $b['id']; });
$comment_map = [];
foreach ($comments as $cm) {
    $found = get_comments(['meta_key' => MARK, 'meta_value' => $cm['id'], 'fields' => 'ids', 'number' => 1, 'status' => 'all']);
    if ($found) { $comment_map[$cm['id']] = $found[0]; continue; }
    if (!isset($post_map[$cm['post']])) { skip('comment on a post not in the bundle'); continue; }
    $id = wp_insert_comment(wp_slash([
        'comment_post_ID' => $post_map[$cm['post']], 'comment_author' => $cm['author_name'] ?? '',
        'comment_author_email' => $cm['author_email'] ?? '', 'comment_author_url' => $cm['author_url'] ?? '',
        'comment_content' => raw($cm['content'] ?? ''), 'comment_date' => $cm['date'] ?? '',
        'comment_date_gmt' => $cm['date_gmt'] ?? '', 'comment_approved' => ($cm['status'] ?? '') === 'approved' ? 1 : 0,
        'comment_parent' => $comment_map[$cm['parent'] ?? 0] ?? 0,
        'user_id' => isset($cm['author']) && $cm['author'] ? $author($cm['author']) : 0,
    ]));
    if (!$id) { skip('comment refused'); continue; }
    add_comment_meta($id, MARK, $cm['id']);
    $comment_map[$cm['id']] = $id;
    $report['comments']++;
}

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
wp_defer_term_counting(false);
echo json_encode($report), "\n";
