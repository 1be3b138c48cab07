//! The anonymization's [`RowMap`] for the dump adapters: each row of a table with personal
//! locations ([`super::locations`]) gets its fakes, except what the kept administrator keeps
//! (their login and password hash, so someone can still log into staging).

use std::borrow::Cow;
use std::sync::Arc;

use super::fake::{Fake, Faker};
use super::locations::TableKind;
use crate::rewrite::{Replacement, RowMap, TableMap};

/// The administrator whose login and password hash survive, so someone can log into staging.
#[derive(Clone, Debug)]
pub struct KeptAdmin {
    pub id: i64,
    pub login: String,
}

/// The anonymization's row map: every location of [`super::locations`], with its fake.
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
