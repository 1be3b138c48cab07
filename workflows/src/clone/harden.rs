//! Staging hardening: a staging copy must not act on the world. Applied to the copied database
//! before it goes live, and as a must-use plugin when the staging `wp-content` is known.
//!
//! In the database: `blog_public = 0` (not indexed), `[staging] ` before the site title, WP-Cron's
//! schedule emptied (no renewals or payments fire), and options holding payment/API secrets
//! cleared. The must-use plugin blocks all outgoing mail, disables WP-Cron, sends
//! `X-Robots-Tag: noindex` and shows a STAGING notice. `WP_ENVIRONMENT_TYPE` is a `wp-config.php`
//! constant: set it there (`define('WP_ENVIRONMENT_TYPE', 'staging');`), a plugin loads too late.

use serde::Serialize;
use std::path::Path;

/// Options cleared on staging (payment gateways, mail and marketing APIs).
pub const SECRET_OPTIONS: &[&str] = &[
    "mailserver_login",
    "mailserver_pass",
    "woocommerce_stripe_settings",
    "woocommerce_stripe_api_settings",
    "woocommerce_paypal_settings",
    "woocommerce-ppcp-settings",
    "woocommerce_ppcp-gateway_settings",
    "woocommerce_square_settings",
    "woocommerce_braintree_credit_card_settings",
    "mailchimp_woocommerce_settings",
    "mc4wp",
    "klaviyo_settings",
    "wp_mail_smtp",
    "sendgrid_api_key",
    "postman_options",
];

/// Option-name patterns (SQL LIKE) whose values are cleared too.
pub const SECRET_OPTION_PATTERNS: &[&str] = &[
    "%api\\_key%",
    "%apikey%",
    "%secret\\_key%",
    "%access\\_token%",
];

/// What hardening did, for the job result.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Hardening {
    pub blog_public_off: u64,
    pub title_marked: u64,
    pub cron_emptied: u64,
    pub secret_options_cleared: u64,
    pub mu_plugin: Option<String>,
    pub notes: Vec<String>,
}

/// The UPDATE statements, for an options table already validated and quoted by the caller.
pub fn statements(options_table: &str) -> Vec<(&'static str, String)> {
    let names = SECRET_OPTIONS
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let patterns = SECRET_OPTION_PATTERNS
        .iter()
        .map(|p| format!("option_name LIKE '{p}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    vec![
        (
            "blog_public_off",
            format!(
                "UPDATE {options_table} SET option_value = '0' WHERE option_name = 'blog_public'"
            ),
        ),
        (
            "title_marked",
            format!(
                "UPDATE {options_table} SET option_value = CONCAT('[staging] ', option_value) \
                 WHERE option_name = 'blogname' AND option_value NOT LIKE '[staging]%'"
            ),
        ),
        (
            "cron_emptied",
            format!(
                "UPDATE {options_table} SET option_value = 'a:1:{{s:7:\"version\";i:2;}}' \
                 WHERE option_name = 'cron'"
            ),
        ),
        (
            "secret_options_cleared",
            format!(
                "UPDATE {options_table} SET option_value = '' \
                 WHERE option_value <> '' AND (option_name IN ({names}) OR {patterns})"
            ),
        ),
    ]
}

const MU_PLUGIN: &str = r#"<?php
/**
 * Plugin Name: Understudy staging guard
 * Description: Written by Understudy on staging copies: no mail, no WP-Cron, not indexed, marked.
 */
if (!defined('DISABLE_WP_CRON')) {
    define('DISABLE_WP_CRON', true);
}
add_filter('pre_wp_mail', '__return_false', PHP_INT_MAX);
add_filter('wp_robots', 'wp_robots_no_robots');
add_action('send_headers', function () {
    header('X-Robots-Tag: noindex, nofollow', true);
});
add_action('admin_notices', function () {
    echo '<div class="notice notice-warning"><p><strong>STAGING</strong> copy made by Understudy: mail and cron are off.</p></div>';
});
"#;

/// Writes the must-use plugin into `dir` (a staging `mu-plugins` folder vetted by
/// `guard::mu_plugins_dir`); returns its path.
pub fn write_mu_plugin(dir: &Path) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("understudy-staging.php");
    let tmp = dir.join(".understudy-staging.php.tmp");
    std::fs::write(&tmp, MU_PLUGIN)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path.display().to_string())
}
