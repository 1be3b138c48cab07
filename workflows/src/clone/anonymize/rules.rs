//! Where WordPress and WooCommerce keep personal data, and what each location's value becomes:
//! the anonymization's [`RowMap`] for the dump adapters.
//!
//! Tables are recognised by name suffix (`wp_users`, `wp_2_comments`, custom prefixes); columns
//! by name, ASCII-case-insensitively. Two shapes of location:
//! - **columns** (`users.user_email`, `comments.comment_author_IP`, `wc_orders.billing_email`);
//! - **meta rows** selected by their key (`usermeta` `first_name`, `billing_*`; `postmeta` and
//!   HPOS `wc_orders_meta` `_billing_*`, `_shipping_*`, `_customer_ip_address`; `options`
//!   `admin_email`).
//!
//! Kept as they are: `state` and `country` of addresses (coarse, needed to test tax and
//! shipping), and the kept administrator's login and password hash.

use std::borrow::Cow;
use std::sync::Arc;

use super::fake::{Fake, Faker};
use crate::rewrite::{Replacement, RowMap, TableMap};

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

/// The administrator whose login and password hash survive, so someone can log into staging.
#[derive(Clone, Debug)]
pub struct KeptAdmin {
    pub id: i64,
    pub login: String,
}

/// The anonymization's row map: every location above, with its fake.
#[derive(Debug)]
pub struct Anonymizer {
    faker: Arc<Faker>,
    kept: Option<KeptAdmin>,
}

impl Anonymizer {
    pub fn new(faker: Arc<Faker>, kept: Option<KeptAdmin>) -> Anonymizer {
        Anonymizer { faker, kept }
    }
}

impl RowMap for Anonymizer {
    fn wants(&self, table: &str) -> bool {
        TableKind::of(table).is_some()
    }

    fn table(&self, table: &str, columns: &[String]) -> Option<Box<dyn TableMap>> {
        let kind = TableKind::of(table)?;
        let index = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
        let rules: Vec<(usize, Fake, &'static str)> = kind
            .columns()
            .iter()
            .filter_map(|(column, fake, label)| Some((index(column)?, *fake, *label)))
            .collect();
        let meta = kind.meta().and_then(|(k, v)| Some((index(k)?, index(v)?)));
        if rules.is_empty() && meta.is_none() {
            return None;
        }
        Some(Box::new(WpTableMap {
            kind,
            faker: self.faker.clone(),
            kept: self.kept.clone(),
            id: (kind == TableKind::Users).then(|| index("ID")).flatten(),
            rules,
            meta,
        }))
    }
}

/// The map of one table.
struct WpTableMap {
    kind: TableKind,
    faker: Arc<Faker>,
    kept: Option<KeptAdmin>,
    /// The `ID` column of a users table.
    id: Option<usize>,
    rules: Vec<(usize, Fake, &'static str)>,
    meta: Option<(usize, usize)>,
}

impl WpTableMap {
    /// The fake for a non-empty value, unless it must stay.
    fn fake(&self, fake: Fake, value: &[u8], kept_row: bool) -> Option<Vec<u8>> {
        if value.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(value);
        let keep = match fake {
            Fake::Password => kept_row,
            Fake::Login => {
                kept_row
                    || self
                        .kept
                        .as_ref()
                        .is_some_and(|k| k.login.as_bytes() == value)
            }
            _ => false,
        };
        if keep {
            return None;
        }
        let new = self.faker.fake(fake, &text).into_bytes();
        (new != value).then_some(new)
    }
}

impl TableMap for WpTableMap {
    fn map_row(&self, field: &mut dyn FnMut(usize) -> Option<Vec<u8>>, out: &mut Vec<Replacement>) {
        let kept_row = match (&self.kept, self.id) {
            (Some(kept), Some(id)) => {
                field(id).and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<i64>().ok())
                    == Some(kept.id)
            }
            _ => false,
        };
        for &(column, fake, location) in &self.rules {
            let Some(value) = field(column) else {
                continue;
            };
            if let Some(value) = self.fake(fake, &value, kept_row) {
                out.push(Replacement {
                    column,
                    value,
                    location: Cow::Borrowed(location),
                });
            }
        }
        if let Some((key_column, value_column)) = self.meta {
            let Some(key) = field(key_column) else {
                return;
            };
            let Some((fake, location)) = std::str::from_utf8(&key)
                .ok()
                .and_then(|k| self.kind.meta_fake(k))
            else {
                return;
            };
            let Some(value) = field(value_column) else {
                return;
            };
            if let Some(value) = self.fake(fake, &value, false) {
                out.push(Replacement {
                    column: value_column,
                    value,
                    location: Cow::Borrowed(location),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anonymizer() -> Anonymizer {
        let faker = Faker::new(&secrecy::SecretBox::new(Box::new([9u8; 32])));
        Anonymizer::new(
            Arc::new(faker),
            Some(KeptAdmin {
                id: 1,
                login: "owner".into(),
            }),
        )
    }

    fn map(
        a: &Anonymizer,
        table: &str,
        cols: &[&str],
        row: &[Option<&str>],
    ) -> Vec<(usize, String)> {
        let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
        let Some(m) = a.table(table, &cols) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        m.map_row(&mut |i| row[i].map(|v| v.as_bytes().to_vec()), &mut out);
        out.into_iter()
            .map(|r| (r.column, String::from_utf8(r.value).unwrap()))
            .collect()
    }

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

    #[test]
    fn the_kept_admin_keeps_login_and_password_everyone_else_does_not() {
        let a = anonymizer();
        let cols = ["ID", "user_login", "user_pass", "user_email", "user_status"];
        let admin = map(
            &a,
            "wp_users",
            &cols,
            &[
                Some("1"),
                Some("owner"),
                Some("$P$Badmin"),
                Some("owner@shop.test"),
                Some("0"),
            ],
        );
        assert_eq!(admin.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
        let mut user = map(
            &a,
            "wp_users",
            &cols,
            &[
                Some("2"),
                Some("fan"),
                Some("$P$Bfan"),
                Some("fan@mail.test"),
                Some("0"),
            ],
        );
        user.sort();
        assert_eq!(user.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(user[0].1.starts_with("user-"));
        assert!(user[1].1.starts_with("$P$B") && user[1].1 != "$P$Bfan");
        assert_eq!(user[2].1, a.faker.email("fan@mail.test"));
    }

    #[test]
    fn meta_rows_are_selected_by_key() {
        let a = anonymizer();
        let cols = ["meta_id", "post_id", "meta_key", "meta_value"];
        let email = map(
            &a,
            "wp_postmeta",
            &cols,
            &[
                Some("1"),
                Some("9"),
                Some("_billing_email"),
                Some("Fan@mail.test"),
            ],
        );
        assert_eq!(email, vec![(3, a.faker.email("fan@mail.test"))]);
        for (key, value) in [
            ("_billing_country", "DE"),
            ("_price", "10"),
            ("_billing_phone", ""),
        ] {
            assert!(
                map(
                    &a,
                    "wp_postmeta",
                    &cols,
                    &[Some("1"), Some("9"), Some(key), Some(value)]
                )
                .is_empty(),
                "{key}"
            );
        }
        let index = map(
            &a,
            "wp_postmeta",
            &cols,
            &[
                Some("1"),
                Some("9"),
                Some("_billing_address_index"),
                Some("Fan Example 1 Road"),
            ],
        );
        assert!(index[0].1.starts_with("anonymized-"));
        let opts = ["option_id", "option_name", "option_value", "autoload"];
        let admin = map(
            &a,
            "wp_options",
            &opts,
            &[
                Some("1"),
                Some("admin_email"),
                Some("owner@shop.test"),
                Some("yes"),
            ],
        );
        assert_eq!(admin, vec![(2, a.faker.email("owner@shop.test"))]);
        assert!(map(
            &a,
            "wp_options",
            &opts,
            &[Some("1"), Some("blogname"), Some("Shop"), Some("yes")]
        )
        .is_empty());
        let meta = ["umeta_id", "user_id", "meta_key", "meta_value"];
        let tokens = map(
            &a,
            "wp_usermeta",
            &meta,
            &[
                Some("1"),
                Some("1"),
                Some("session_tokens"),
                Some("a:1:{s:1:\"x\";i:1;}"),
            ],
        );
        assert_eq!(tokens, vec![(3, "a:0:{}".to_string())]);
    }

    #[test]
    fn nulls_and_unknown_tables_are_left_alone() {
        let a = anonymizer();
        assert!(a.table("wp_posts", &["ID".into()]).is_none());
        assert!(a
            .table("wp_users", &["ID".into(), "other".into()])
            .is_none());
        let cols = ["comment_ID", "comment_author_IP", "comment_author_email"];
        let out = map(
            &a,
            "wp_comments",
            &cols,
            &[Some("1"), None, Some("fan@mail.test")],
        );
        assert_eq!(out.len(), 1);
    }
}
