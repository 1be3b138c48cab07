<?php
/**
 * Plugin Name: Understudy seed content types
 * Description: A custom post type `book` (REST base `books`), a hierarchical taxonomy
 *              `genre`, and registered meta, so exports meet content beyond posts and
 *              pages. Installed as a must-use plugin by scripts/services/wordpress.sh.
 */

add_action(
	'init',
	static function () {
		register_post_type(
			'book',
			array(
				'label'        => 'Books',
				'labels'       => array(
					'name'          => 'Books',
					'singular_name' => 'Book',
				),
				'public'       => true,
				'has_archive'  => true,
				'rewrite'      => array( 'slug' => 'books' ),
				'show_in_rest' => true,
				'rest_base'    => 'books',
				'menu_icon'    => 'dashicons-book',
				'supports'     => array( 'title', 'editor', 'excerpt', 'thumbnail', 'author', 'comments', 'custom-fields', 'revisions' ),
				'taxonomies'   => array( 'genre' ),
			)
		);

		register_taxonomy(
			'genre',
			array( 'book' ),
			array(
				'label'        => 'Genres',
				'hierarchical' => true,
				'public'       => true,
				'rewrite'      => array( 'slug' => 'genre' ),
				'show_in_rest' => true,
				'rest_base'    => 'genres',
			)
		);

		register_post_meta(
			'book',
			'isbn',
			array(
				'type'         => 'string',
				'single'       => true,
				'show_in_rest' => true,
			)
		);
		register_post_meta(
			'book',
			'page_count',
			array(
				'type'         => 'integer',
				'single'       => true,
				'show_in_rest' => true,
			)
		);
		// Meta on ordinary posts too: exporters must carry `meta` for every type.
		register_post_meta(
			'post',
			'understudy_source_ref',
			array(
				'type'         => 'string',
				'single'       => true,
				'show_in_rest' => true,
			)
		);
	}
);
