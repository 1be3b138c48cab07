//! Where WordPress and WooCommerce keep personal data, and what each location's value becomes.
//!
//! Tables are recognised by name suffix (`wp_users`, `wp_2_comments`, custom prefixes); columns
//! by name, ASCII-case-insensitively. Two shapes of location:
//! - **columns** (`users.user_email`, `comments.comment_author_IP`, `wc_orders.billing_email`);
//! - **meta rows** selected by their key (`usermeta` `first_name`, `billing_*`; `postmeta` and
//!   HPOS `wc_orders_meta` `_billing_*`, `_shipping_*`, `_customer_ip_address`; `options`
//!   `admin_email`).
//!
//! Kept as they are: `state` and `country` of addresses (coarse, needed to test tax and
//! shipping). Locations are named `<table kind>.<column or key>` in reports.

use super::fake::Fake;

/// A kind of WordPress table, recognised by its name suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Users,
    Usermeta,
    Comments,
    Postmeta,
    Options,
    WcOrders,
    WcOrdersMeta,
    WcOrderAddresses,
    WcCustomerLookup,
}

const KINDS: [(&str, TableKind); 9] = [
    ("_users", TableKind::Users),
    ("_usermeta", TableKind::Usermeta),
    ("_comments", TableKind::Comments),
    ("_postmeta", TableKind::Postmeta),
    ("_options", TableKind::Options),
    ("_wc_orders", TableKind::WcOrders),
    ("_wc_orders_meta", TableKind::WcOrdersMeta),
    ("_wc_order_addresses", TableKind::WcOrderAddresses),
    ("_wc_customer_lookup", TableKind::WcCustomerLookup),
];

/// `(column, fake, location)`.
type ColumnRule = (&'static str, Fake, &'static str);

const USERS: &[ColumnRule] = &[
    ("user_login", Fake::Login, "users.user_login"),
    ("user_nicename", Fake::Login, "users.user_nicename"),
    ("user_email", Fake::Email, "users.user_email"),
    ("user_url", Fake::Url, "users.user_url"),
    ("display_name", Fake::Name, "users.display_name"),
    (
        "user_activation_key",
        Fake::Clear,
        "users.user_activation_key",
    ),
    ("user_pass", Fake::Password, "users.user_pass"),
];
const COMMENTS: &[ColumnRule] = &[
    ("comment_author", Fake::Name, "comments.comment_author"),
    (
        "comment_author_email",
        Fake::Email,
        "comments.comment_author_email",
    ),
    (
        "comment_author_url",
        Fake::Url,
        "comments.comment_author_url",
    ),
    ("comment_author_IP", Fake::Ip, "comments.comment_author_IP"),
    ("comment_agent", Fake::UserAgent, "comments.comment_agent"),
];
const WC_ORDERS: &[ColumnRule] = &[
    ("billing_email", Fake::Email, "wc_orders.billing_email"),
    ("ip_address", Fake::Ip, "wc_orders.ip_address"),
    ("user_agent", Fake::UserAgent, "wc_orders.user_agent"),
    ("customer_note", Fake::Clear, "wc_orders.customer_note"),
];
const WC_ORDER_ADDRESSES: &[ColumnRule] = &[
    ("first_name", Fake::Name, "wc_order_addresses.first_name"),
    ("last_name", Fake::Name, "wc_order_addresses.last_name"),
    ("company", Fake::Company, "wc_order_addresses.company"),
    ("address_1", Fake::Address, "wc_order_addresses.address_1"),
    ("address_2", Fake::Address, "wc_order_addresses.address_2"),
    ("city", Fake::City, "wc_order_addresses.city"),
    ("postcode", Fake::Postcode, "wc_order_addresses.postcode"),
    ("email", Fake::Email, "wc_order_addresses.email"),
    ("phone", Fake::Phone, "wc_order_addresses.phone"),
];
const WC_CUSTOMER_LOOKUP: &[ColumnRule] = &[
    ("username", Fake::Login, "wc_customer_lookup.username"),
    ("first_name", Fake::Name, "wc_customer_lookup.first_name"),
    ("last_name", Fake::Name, "wc_customer_lookup.last_name"),
    ("email", Fake::Email, "wc_customer_lookup.email"),
    ("city", Fake::City, "wc_customer_lookup.city"),
    ("postcode", Fake::Postcode, "wc_customer_lookup.postcode"),
];

/// Which meta keys a meta table's collection query must read: exact keys and key prefixes
/// (the exact classification is [`TableKind::meta_fake`]).
pub struct MetaKeys {
    pub exact: &'static [&'static str],
    pub prefixes: &'static [&'static str],
}

impl TableKind {
    /// The kind of `table`, by suffix.
    pub fn of(table: &str) -> Option<TableKind> {
        KINDS
            .iter()
            .find(|(suffix, _)| table.ends_with(suffix))
            .map(|(_, kind)| *kind)
    }

    /// Personal columns.
    pub fn columns(self) -> &'static [ColumnRule] {
        match self {
            TableKind::Users => USERS,
            TableKind::Comments => COMMENTS,
            TableKind::WcOrders => WC_ORDERS,
            TableKind::WcOrderAddresses => WC_ORDER_ADDRESSES,
            TableKind::WcCustomerLookup => WC_CUSTOMER_LOOKUP,
            _ => &[],
        }
    }

    /// `(key column, value column)` of a key/value table.
    pub fn meta(self) -> Option<(&'static str, &'static str)> {
        match self {
            TableKind::Usermeta | TableKind::Postmeta | TableKind::WcOrdersMeta => {
                Some(("meta_key", "meta_value"))
            }
            TableKind::Options => Some(("option_name", "option_value")),
            _ => None,
        }
    }

    /// The keys worth reading when collecting.
    pub fn meta_keys(self) -> MetaKeys {
        match self {
            TableKind::Usermeta => MetaKeys {
                exact: &["first_name", "last_name", "nickname"],
                prefixes: &["billing_", "shipping_"],
            },
            TableKind::Postmeta | TableKind::WcOrdersMeta => MetaKeys {
                exact: &["_customer_ip_address"],
                prefixes: &["_billing_", "_shipping_"],
            },
            TableKind::Options => MetaKeys {
                exact: &["admin_email", "new_admin_email", "mailserver_login"],
                prefixes: &[],
            },
            _ => MetaKeys {
                exact: &[],
                prefixes: &[],
            },
        }
    }

    /// What the value of the meta row with `key` becomes, and the location's name.
    pub fn meta_fake(self, key: &str) -> Option<(Fake, &'static str)> {
        match self {
            TableKind::Usermeta => match key {
                "first_name" => Some((Fake::Name, "usermeta.first_name")),
                "last_name" => Some((Fake::Name, "usermeta.last_name")),
                "nickname" => Some((Fake::Name, "usermeta.nickname")),
                "description" => Some((Fake::Clear, "usermeta.description")),
                "session_tokens" => Some((Fake::EmptyArray, "usermeta.session_tokens")),
                _ => address_meta(
                    key,
                    "billing_",
                    "shipping_",
                    "usermeta.billing_*",
                    "usermeta.shipping_*",
                ),
            },
            TableKind::Postmeta | TableKind::WcOrdersMeta => {
                let (ip, agent, billing, shipping) = if self == TableKind::Postmeta {
                    (
                        "postmeta._customer_ip_address",
                        "postmeta._customer_user_agent",
                        "postmeta._billing_*",
                        "postmeta._shipping_*",
                    )
                } else {
                    (
                        "wc_orders_meta._customer_ip_address",
                        "wc_orders_meta._customer_user_agent",
                        "wc_orders_meta._billing_*",
                        "wc_orders_meta._shipping_*",
                    )
                };
                match key {
                    "_customer_ip_address" => Some((Fake::Ip, ip)),
                    "_customer_user_agent" => Some((Fake::UserAgent, agent)),
                    _ => address_meta(key, "_billing_", "_shipping_", billing, shipping),
                }
            }
            TableKind::Options => match key {
                "admin_email" => Some((Fake::Email, "options.admin_email")),
                "new_admin_email" => Some((Fake::Email, "options.new_admin_email")),
                "mailserver_login" => Some((Fake::Email, "options.mailserver_login")),
                "mailserver_pass" => Some((Fake::Clear, "options.mailserver_pass")),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `billing_first_name`, `_shipping_phone`, `_billing_address_index`, ...
fn address_meta(
    key: &str,
    billing: &str,
    shipping: &str,
    billing_label: &'static str,
    shipping_label: &'static str,
) -> Option<(Fake, &'static str)> {
    let (field, label) = if let Some(f) = key.strip_prefix(billing) {
        (f, billing_label)
    } else {
        (key.strip_prefix(shipping)?, shipping_label)
    };
    let fake = match field {
        "first_name" | "last_name" => Fake::Name,
        "company" => Fake::Company,
        "address_1" | "address_2" => Fake::Address,
        "city" => Fake::City,
        "postcode" => Fake::Postcode,
        "email" => Fake::Email,
        "phone" => Fake::Phone,
        "state" | "country" => return None,
        // address_index and anything a plugin adds under the prefix.
        _ => Fake::Redact,
    };
    Some((fake, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_recognised_by_suffix() {
        assert_eq!(TableKind::of("wp_users"), Some(TableKind::Users));
        assert_eq!(TableKind::of("wp_2_comments"), Some(TableKind::Comments));
        assert_eq!(TableKind::of("wp_usermeta"), Some(TableKind::Usermeta));
        assert_eq!(
            TableKind::of("wp_wc_orders_meta"),
            Some(TableKind::WcOrdersMeta)
        );
        assert_eq!(TableKind::of("wp_wc_orders"), Some(TableKind::WcOrders));
        assert_eq!(TableKind::of("wp_commentmeta"), None);
        assert_eq!(TableKind::of("wp_posts"), None);
    }
}
