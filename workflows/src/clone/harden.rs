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

/// What the staging copy's options are after hardening, for the job result: counted from the
/// copy, not from what one run changed, so a step re-run after a crash reports the same.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Hardening {
    /// `blog_public` rows that are `0` (not indexed).
    pub blog_public_off: u64,
    /// `blogname` rows that start with `[staging]`.
    pub title_marked: u64,
    /// `cron` rows emptied of events.
    pub cron_emptied: u64,
    /// Secret options (API keys, tokens) that are empty: cleared, or empty in production too.
    pub secret_options_cleared: u64,
    pub mu_plugin: Option<String>,
    pub notes: Vec<String>,
}

/// Cron with no events.
const EMPTY_CRON: &str = "a:1:{s:7:\"version\";i:2;}";

/// Per item: its name, the (idempotent) UPDATE, and the count of rows in the hardened state;
/// for an options table already validated and quoted by the caller.
pub fn statements(options_table: &str) -> Vec<(&'static str, String, String)> {
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
    let secret = format!("(option_name IN ({names}) OR {patterns})");
    let count = |condition: &str| format!("SELECT COUNT(*) FROM {options_table} WHERE {condition}");
    vec![
        (
            "blog_public_off",
            format!(
                "UPDATE {options_table} SET option_value = '0' WHERE option_name = 'blog_public'"
            ),
            count("option_name = 'blog_public' AND option_value = '0'"),
        ),
        (
            "title_marked",
            format!(
                "UPDATE {options_table} SET option_value = CONCAT('[staging] ', option_value) \
                 WHERE option_name = 'blogname' AND option_value NOT LIKE '[staging]%'"
            ),
            count("option_name = 'blogname' AND option_value LIKE '[staging]%'"),
        ),
        (
            "cron_emptied",
            format!(
                "UPDATE {options_table} SET option_value = '{EMPTY_CRON}' WHERE option_name = 'cron'"
            ),
            count(&format!("option_name = 'cron' AND option_value = '{EMPTY_CRON}'")),
        ),
        (
            "secret_options_cleared",
            format!(
                "UPDATE {options_table} SET option_value = '' \
                 WHERE option_value <> '' AND {secret}"
            ),
            count(&format!("option_value = '' AND {secret}")),
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
