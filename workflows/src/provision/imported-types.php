<?php
/**
 * Plugin Name: Understudy imported types
 * Description: Registers the custom post types and taxonomies of the site this sandbox was
 *              made from (definitions from the export bundle's /wp/v2/types and
 *              /wp/v2/taxonomies, in understudy-imported-types.json beside this file), so
 *              their content shows here without the source site's plugin code.
 */

add_action(
	'init',
	static function () {
		$file = __DIR__ . '/understudy-imported-types.json';
		$defs = is_readable( $file ) ? json_decode( (string) file_get_contents( $file ), true ) : null;
		if ( ! is_array( $defs ) ) {
			return;
		}
		$labels = static function ( $def ) {
			return array_filter( (array) ( $def['labels'] ?? array() ), 'is_string' );
		};
		foreach ( $defs['taxonomies'] ?? array() as $t ) {
			if ( empty( $t['slug'] ) || taxonomy_exists( $t['slug'] ) ) {
				continue;
			}
			$visibility = (array) ( $t['visibility'] ?? array() );
			register_taxonomy(
				$t['slug'],
				(array) ( $t['types'] ?? array() ),
				array(
					'label'             => $t['name'] ?? $t['slug'],
					'labels'            => $labels( $t ),
					'hierarchical'      => ! empty( $t['hierarchical'] ),
					'public'            => $visibility['public'] ?? true,
					'show_ui'           => $visibility['show_ui'] ?? true,
					'show_in_nav_menus' => $visibility['show_in_nav_menus'] ?? true,
					'show_in_rest'      => true,
					'rest_base'         => $t['rest_base'],
					'description'       => $t['description'] ?? '',
				)
			);
		}
		foreach ( $defs['types'] ?? array() as $t ) {
			if ( empty( $t['slug'] ) || post_type_exists( $t['slug'] ) ) {
				continue;
			}
			$visibility = (array) ( $t['visibility'] ?? array() );
			register_post_type(
				$t['slug'],
				array(
					'label'             => $t['name'] ?? $t['slug'],
					'labels'            => $labels( $t ),
					'description'       => $t['description'] ?? '',
					'public'            => $t['viewable'] ?? true,
					'show_ui'           => $visibility['show_ui'] ?? true,
					'show_in_nav_menus' => $visibility['show_in_nav_menus'] ?? true,
					'hierarchical'      => ! empty( $t['hierarchical'] ),
					'has_archive'       => $t['has_archive'] ?? false,
					'show_in_rest'      => true,
					'rest_base'         => $t['rest_base'],
					'menu_icon'         => $t['icon'] ?? null,
					'supports'          => array_keys( array_filter( (array) ( $t['supports'] ?? array() ) ) ),
					'taxonomies'        => (array) ( $t['taxonomies'] ?? array() ),
				)
			);
		}
	},
	5
);
