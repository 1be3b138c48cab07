<?php
/**
 * Installs and configures the Understudy dev WordPress site from the command line
 * (Debian bookworm has no WP-CLI). Run by scripts/services/wordpress.sh as root:
 *
 *   php provision.php SITE_URL STATE_DIR
 *
 * Idempotent: installs the site only when its tables are missing, then makes sure
 * of the options, theme and users below, and that each user's Application Password
 * named "understudy-dev" matches the one stored in STATE_DIR (creating a new one
 * when the file is missing or stale). Prints one line per change, nothing when
 * everything was already in place; exits non-zero with a one-line error otherwise.
 */

if ( PHP_SAPI !== 'cli' || $argc !== 3 ) {
	fwrite( STDERR, "usage: php provision.php SITE_URL STATE_DIR\n" );
	exit( 2 );
}
$site_url  = rtrim( $argv[1], '/' );
$state_dir = rtrim( $argv[2], '/' );
$parts     = parse_url( $site_url );
$host      = $parts['host'] . ( isset( $parts['port'] ) ? ':' . $parts['port'] : '' );

// Debian's wp-config.php picks /etc/wordpress/config-<host>.php from the Host header.
$_SERVER['HTTP_HOST']       = $host;
$_SERVER['SERVER_NAME']     = $parts['host'];
$_SERVER['SERVER_PORT']     = isset( $parts['port'] ) ? (string) $parts['port'] : '80';
$_SERVER['SERVER_SOFTWARE'] = 'Apache';
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';

// Lets wp-settings.php load without redirecting to install.php when tables are missing.
define( 'WP_INSTALLING', true );
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/user.php';

// No outgoing HTTP from this script (wp_install probes permalinks over HTTP).
add_filter(
	'pre_http_request',
	static function () {
		return new WP_Error( 'understudy_offline', 'no HTTP during provisioning' );
	}
);
// No e-mail either (there is no MTA; wp_mail would fail anyway).
add_filter( 'pre_wp_mail', '__return_false' );

const APP_PASSWORD_NAME = 'understudy-dev';

function fail( $message ) {
	fwrite( STDERR, "provision.php: error: $message\n" );
	exit( 1 );
}

function changed( $what ) {
	echo $what, "\n";
}

function random_secret( $length = 24 ) {
	return wp_generate_password( $length, false, false );
}

function write_secret( $path, $value ) {
	$tmp = $path . '.tmp';
	if ( false === file_put_contents( $tmp, $value . "\n" ) || ! chmod( $tmp, 0600 ) || ! rename( $tmp, $path ) ) {
		fail( "cannot write $path" );
	}
}

function read_secret( $path ) {
	return is_readable( $path ) ? trim( (string) file_get_contents( $path ) ) : '';
}

function ensure_option( $name, $value ) {
	if ( get_option( $name ) != $value ) { // phpcs:ignore -- loose: options come back as strings.
		update_option( $name, $value );
		changed( "option $name" );
	}
}

// ---- install -----------------------------------------------------------------
$admin_password_file = "$state_dir/admin-password";
if ( ! is_blog_installed() ) {
	$admin_password = read_secret( $admin_password_file );
	if ( '' === $admin_password ) {
		$admin_password = random_secret();
		write_secret( $admin_password_file, $admin_password );
	}
	$result = wp_install( 'Understudy Dev', 'admin', 'admin@understudy.test', 1, '', $admin_password );
	if ( empty( $result['user_id'] ) ) {
		fail( 'wp_install() did not create the admin user' );
	}
	changed( 'installed WordPress ' . get_bloginfo( 'version' ) );
}

// ---- site options ------------------------------------------------------------
ensure_option( 'siteurl', $site_url );
ensure_option( 'home', $site_url );
ensure_option( 'blogdescription', 'A WordPress site for testing Understudy exports and clones' );
// A non-UTC zone, so exporters see `date` and `date_gmt` differ.
ensure_option( 'timezone_string', 'Europe/Berlin' );
ensure_option( 'uploads_use_yearmonth_folders', '1' );
ensure_option( 'thread_comments', '1' );
ensure_option( 'thread_comments_depth', '5' );
ensure_option( 'comment_moderation', '0' );
ensure_option( 'comment_previously_approved', '0' );
// No pingbacks to ourselves or to ping services: keeps seeding deterministic and offline.
ensure_option( 'default_pingback_flag', '0' );
ensure_option( 'default_ping_status', 'closed' );
ensure_option( 'ping_sites', '' );

if ( 'twentytwentyone' !== get_stylesheet() ) {
	$theme = wp_get_theme( 'twentytwentyone' );
	if ( ! $theme->exists() ) {
		fail( 'theme twentytwentyone not found under ' . get_theme_root() . '; install wordpress-theme-twentytwentyone' );
	}
	switch_theme( 'twentytwentyone' );
	changed( 'theme twentytwentyone' );
}

// Pretty permalinks, so /wp-json/ works. Rewrite rules are rebuilt on the next request.
$permalinks = '/%year%/%monthnum%/%postname%/';
if ( get_option( 'permalink_structure' ) !== $permalinks ) {
	update_option( 'permalink_structure', $permalinks );
	delete_option( 'rewrite_rules' );
	changed( "permalinks $permalinks" );
}

// ---- users and application passwords ------------------------------------------
$users = array(
	'admin'      => array( 'role' => 'administrator', 'name' => 'Site Admin' ),
	'editor'     => array( 'role' => 'editor', 'name' => 'Edith Editor' ),
	'subscriber' => array( 'role' => 'subscriber', 'name' => 'Sam Subscriber' ),
);

foreach ( $users as $login => $spec ) {
	$user = get_user_by( 'login', $login );
	if ( ! $user ) {
		$id = wp_insert_user(
			array(
				'user_login'   => $login,
				'user_pass'    => random_secret(),
				'user_email'   => "$login@understudy.test",
				'display_name' => $spec['name'],
				'role'         => $spec['role'],
			)
		);
		if ( is_wp_error( $id ) ) {
			fail( "cannot create user $login: " . $id->get_error_message() );
		}
		$user = get_user_by( 'id', $id );
		changed( "user $login" );
	}
	if ( ! in_array( $spec['role'], (array) $user->roles, true ) ) {
		$user->set_role( $spec['role'] );
		changed( "role {$spec['role']} for $login" );
	}
	if ( 'admin' === $login && ! wp_check_password( read_secret( $admin_password_file ), $user->user_pass, $user->ID ) ) {
		$password = read_secret( $admin_password_file );
		if ( '' === $password ) {
			$password = random_secret();
			write_secret( $admin_password_file, $password );
		}
		wp_set_password( $password, $user->ID );
		changed( 'admin password' );
	}

	if ( ! wp_is_application_passwords_available_for_user( $user ) ) {
		fail( "Application Passwords are not available for $login; is WP_ENVIRONMENT_TYPE 'local' in the site config?" );
	}
	$file   = 'admin' === $login ? "$state_dir/app-password" : "$state_dir/$login-app-password";
	$stored = str_replace( ' ', '', read_secret( $file ) );
	$valid  = false;
	foreach ( WP_Application_Passwords::get_user_application_passwords( $user->ID ) as $item ) {
		if ( APP_PASSWORD_NAME !== $item['name'] ) {
			continue;
		}
		if ( '' !== $stored && wp_check_password( $stored, $item['password'], $user->ID ) ) {
			$valid = true;
		} else {
			WP_Application_Passwords::delete_application_password( $user->ID, $item['uuid'] );
		}
	}
	if ( ! $valid ) {
		$created = WP_Application_Passwords::create_new_application_password( $user->ID, array( 'name' => APP_PASSWORD_NAME ) );
		if ( is_wp_error( $created ) ) {
			fail( "cannot create an Application Password for $login: " . $created->get_error_message() );
		}
		write_secret( $file, $created[0] );
		changed( "application password for $login" );
	}
}
