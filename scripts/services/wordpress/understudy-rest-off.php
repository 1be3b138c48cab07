<?php
/**
 * Plugin Name: Understudy REST off
 * Description: Turns the REST API off, for tests of exports from sites that block it.
 *              Installed by `scripts/services/wordpress.sh rest-off [forbidden|notfound]`,
 *              removed by `rest-on`. Modes:
 *              forbidden - every /wp-json/ request answers 403 JSON {"code":"rest_disabled"}
 *                          (what "disable REST" security plugins do), credentials or not;
 *              notfound  - /wp-json/ and ?rest_route= answer a plain HTML 404 and the
 *                          REST discovery Link header is gone (REST looks absent).
 */

const UNDERSTUDY_REST_OFF_MODE = '__MODE__';

if ( 'notfound' === UNDERSTUDY_REST_OFF_MODE ) {
	remove_action( 'wp_head', 'rest_output_link_wp_head', 10 );
	remove_action( 'template_redirect', 'rest_output_link_header', 11 );
	add_action(
		'parse_request',
		static function ( $wp ) {
			if ( empty( $wp->query_vars['rest_route'] ) ) {
				return;
			}
			status_header( 404 );
			nocache_headers();
			header( 'Content-Type: text/html; charset=UTF-8' );
			echo "<!doctype html>\n<title>Not Found</title>\n<h1>Not Found</h1>\n";
			exit;
		},
		0
	);
} else {
	add_filter(
		'rest_authentication_errors',
		static function () {
			return new WP_Error( 'rest_disabled', 'The REST API is disabled on this site.', array( 'status' => 403 ) );
		},
		5
	);
}
