//! Reading production's personal data before the copy: every e-mail, IP, phone number and name
//! in the locations of [`super::locations`] (so they can be replaced inside any other value too), and
//! the administrators (to choose the one whose login survives).
//!
//! Read-only. On PostgreSQL it reads inside the copy's exported snapshot, so it sees exactly the
//! rows the table dumps will see; on MySQL/MariaDB the dump reads its own snapshot (one for all
//! tables, or one per table), which a second session cannot join, so a value first written to
//! production between this read and the dump is replaced in its own column but not inside other
//! values. The clear values live in memory only.

use futures::TryStreamExt;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;

use super::fake::{phone_digits, Fake};
use super::locations::TableKind;
use super::map::KeptAdmin;
use crate::clone::{mysql, postgres};
use crate::sites::{DbEngine, DbUrl};
use crate::StepError;

/// What was found, in clear (never checkpointed, never logged).
#[derive(Default)]
pub struct Collected {
    pub emails: BTreeSet<String>,
    pub ips: BTreeSet<String>,
    pub phones: BTreeSet<String>,
    pub names: BTreeSet<String>,
    /// Administrators of the main site, by ID.
    pub administrators: Vec<KeptAdmin>,
}

impl Collected {
    fn add(&mut self, fake: Fake, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let set = match fake {
            Fake::Email if value.contains('@') => &mut self.emails,
            Fake::Ip => &mut self.ips,
            Fake::Phone if phone_digits(value).len() >= 7 => &mut self.phones,
            Fake::Name => &mut self.names,
            _ => return,
        };
        set.insert(value.to_string());
    }
}

/// A read-only session on the production database.
pub enum Reader {
    Pg(PgConnection),
    My(sqlx::MySqlPool),
}

impl Reader {
    /// Opens a session; on PostgreSQL inside `snapshot` when given.
    pub async fn open(source: &DbUrl, snapshot: Option<&str>) -> Result<Reader, StepError> {
        match source.engine {
            DbEngine::Postgres => {
                let fail = |e| postgres::classify(&source.display(), e);
                let mut conn = PgConnection::connect_with(&postgres::options(source))
                    .await
                    .map_err(fail)?;
                sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut conn)
                    .await
                    .map_err(fail)?;
                if let Some(id) = snapshot {
                    // An exported snapshot id is `hex-hex-hex`: checked, so it can be inlined.
                    if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                        return Err(StepError::Permanent(format!("bad snapshot id {id:?}")));
                    }
                    sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{id}'"))
                        .execute(&mut conn)
                        .await
                        .map_err(fail)?;
                }
                Ok(Reader::Pg(conn))
            }
            DbEngine::Mysql => Ok(Reader::My(mysql::connect(source).await?)),
        }
    }

    pub async fn close(self) {
        match self {
            Reader::Pg(conn) => {
                let _ = conn.close().await;
            }
            Reader::My(pool) => pool.close().await,
        }
    }

    fn ident(&self, name: &str) -> String {
        match self {
            Reader::Pg(_) => format!("\"{}\"", name.replace('"', "\"\"")),
            Reader::My(_) => mysql::quote_ident(name),
        }
    }

    fn table(&self, schema: &str, table: &str) -> String {
        match self {
            Reader::Pg(_) => postgres::quote_table(schema, table),
            Reader::My(_) => mysql::quote_ident(table),
        }
    }

    fn text(&self, expr: &str) -> String {
        match self {
            Reader::Pg(_) => format!("CAST({expr} AS text)"),
            Reader::My(_) => format!("CAST({expr} AS CHAR)"),
        }
    }

    /// Rows of two text columns.
    async fn pairs(
        &mut self,
        sql: &str,
    ) -> Result<Vec<(Option<String>, Option<String>)>, StepError> {
        match self {
            Reader::Pg(conn) => sqlx::query_as(sql)
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| postgres::classify("production", e)),
            Reader::My(pool) => sqlx::query_as(sql)
                .fetch_all(&*pool)
                .await
                .map_err(|e| mysql::classify("production", e)),
        }
    }

    /// Rows of two text columns, one at a time (the collect queries return every distinct
    /// personal value of production: streamed, never held as one result set).
    async fn each_pair(
        &mut self,
        sql: &str,
        mut f: impl FnMut(Option<String>, Option<String>),
    ) -> Result<(), StepError> {
        match self {
            Reader::Pg(conn) => {
                let mut rows = sqlx::query_as(sql).fetch(&mut *conn);
                while let Some((a, b)) = rows
                    .try_next()
                    .await
                    .map_err(|e| postgres::classify("production", e))?
                {
                    f(a, b);
                }
            }
            Reader::My(pool) => {
                let mut rows = sqlx::query_as(sql).fetch(&*pool);
                while let Some((a, b)) = rows
                    .try_next()
                    .await
                    .map_err(|e| mysql::classify("production", e))?
                {
                    f(a, b);
                }
            }
        }
        Ok(())
    }

    /// Column names of a table.
    async fn columns(&mut self, schema: &str, table: &str) -> Result<Vec<String>, StepError> {
        match self {
            Reader::Pg(conn) => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2",
            )
            .bind(schema)
            .bind(table)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| postgres::classify("production", e)),
            Reader::My(pool) => sqlx::query_scalar(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(table)
            .fetch_all(&*pool)
            .await
            .map_err(|e| mysql::classify("production", e)),
        }
    }
}

/// A column of `columns` named `name`, ASCII-case-insensitively, as the database spells it.
fn find<'c>(columns: &'c [String], name: &str) -> Option<&'c str> {
    columns
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(String::as_str)
}

/// `'a', 'b'` for names from our own constant lists (letters, digits and `_` only).
fn sql_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            debug_assert!(n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            format!("'{n}'")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads every personal value of `tables` (`(schema, table)`) that is also replaced in text,
/// and the administrators of the site with table prefix `prefix`.
pub async fn collect(
    reader: &mut Reader,
    tables: &[(String, String)],
    prefix: &str,
) -> Result<Collected, StepError> {
    let mut found = Collected::default();
    for (schema, table) in tables {
        let Some(kind) = TableKind::of(table) else {
            continue;
        };
        let columns = reader.columns(schema, table).await?;
        let qualified = reader.table(schema, table);
        for (name, fake, _) in kind.columns() {
            let Some(column) = find(&columns, name).filter(|_| fake.in_text()) else {
                continue;
            };
            let col = reader.ident(column);
            let sql = format!(
                "SELECT DISTINCT '', {} FROM {qualified} WHERE {col} IS NOT NULL",
                reader.text(&col)
            );
            reader
                .each_pair(&sql, |_, value| {
                    found.add(*fake, value.as_deref().unwrap_or(""))
                })
                .await?;
        }
        let Some((key, value)) = kind.meta() else {
            continue;
        };
        let (Some(key), Some(value)) = (find(&columns, key), find(&columns, value)) else {
            continue;
        };
        let (key, value) = (reader.ident(key), reader.ident(value));
        let keys = kind.meta_keys();
        let mut conditions = Vec::new();
        if !keys.exact.is_empty() {
            conditions.push(format!("{key} IN ({})", sql_list(keys.exact)));
        }
        for p in keys.prefixes {
            // `_` is a LIKE wildcard: the match is widened here and made exact in meta_fake.
            conditions.push(format!("{key} LIKE '{p}%'"));
        }
        let sql = format!(
            "SELECT DISTINCT {}, {} FROM {qualified} WHERE {}",
            reader.text(&key),
            reader.text(&value),
            conditions.join(" OR ")
        );
        reader
            .each_pair(&sql, |k, v| {
                if let (Some(k), Some(v)) = (k, v) {
                    if let Some((fake, _)) = kind.meta_fake(&k) {
                        found.add(fake, &v);
                    }
                }
            })
            .await?;
    }
    found.administrators = administrators(reader, tables, prefix).await?;
    Ok(found)
}

/// Users with the `administrator` role on the main site, lowest ID first.
async fn administrators(
    reader: &mut Reader,
    tables: &[(String, String)],
    prefix: &str,
) -> Result<Vec<KeptAdmin>, StepError> {
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(StepError::Permanent(format!(
            "table prefix {prefix:?} is not supported"
        )));
    }
    let table = |name: String| tables.iter().find(|(_, t)| *t == name).cloned();
    let (Some(users), Some(meta)) = (
        table(format!("{prefix}users")),
        table(format!("{prefix}usermeta")),
    ) else {
        return Ok(Vec::new());
    };
    let user_cols = reader.columns(&users.0, &users.1).await?;
    let meta_cols = reader.columns(&meta.0, &meta.1).await?;
    let (Some(id), Some(login), Some(user_id), Some(key), Some(value)) = (
        find(&user_cols, "ID"),
        find(&user_cols, "user_login"),
        find(&meta_cols, "user_id"),
        find(&meta_cols, "meta_key"),
        find(&meta_cols, "meta_value"),
    ) else {
        return Ok(Vec::new());
    };
    let (id, login) = (reader.ident(id), reader.ident(login));
    let (user_id, key, value) = (
        reader.ident(user_id),
        reader.ident(key),
        reader.ident(value),
    );
    let sql = format!(
        "SELECT {}, {} FROM {} u JOIN {} m ON m.{user_id} = u.{id} \
         WHERE m.{key} = '{prefix}capabilities' AND m.{value} LIKE '%\"administrator\"%'",
        reader.text(&format!("u.{id}")),
        reader.text(&format!("u.{login}")),
        reader.table(&users.0, &users.1),
        reader.table(&meta.0, &meta.1),
    );
    let mut admins: Vec<KeptAdmin> = reader
        .pairs(&sql)
        .await?
        .into_iter()
        .filter_map(|(id, login)| {
            Some(KeptAdmin {
                id: id?.trim().parse().ok()?,
                login: login?,
            })
        })
        .collect();
    admins.sort_by_key(|a| a.id);
    admins.dedup_by_key(|a| a.id);
    Ok(admins)
}

/// The administrator to keep: `wanted` (a login) or the lowest ID; `pinned` (an ID checkpointed
/// by an earlier attempt) wins so every table of one job keeps the same user.
pub fn choose_admin(
    admins: &[KeptAdmin],
    wanted: Option<&str>,
    pinned: Option<i64>,
) -> Result<Option<KeptAdmin>, StepError> {
    if let Some(id) = pinned {
        return admins.iter().find(|a| a.id == id).cloned().map(Some).ok_or_else(|| {
            StepError::Permanent(format!(
                "the kept administrator (user ID {id}) is no longer an administrator on production; run the job again"
            ))
        });
    }
    match wanted {
        Some(login) => admins
            .iter()
            .find(|a| a.login == login)
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                StepError::Permanent(format!(
                    "--keep-admin {login:?}: no administrator with that login on production \
                     ({} administrators found)",
                    admins.len()
                ))
            }),
        None => Ok(admins.first().cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_admin_is_the_wanted_one_or_the_lowest_id() {
        let admins = vec![
            KeptAdmin {
                id: 3,
                login: "ops".into(),
            },
            KeptAdmin {
                id: 7,
                login: "dev".into(),
            },
        ];
        assert_eq!(choose_admin(&admins, None, None).unwrap().unwrap().id, 3);
        assert_eq!(
            choose_admin(&admins, Some("dev"), None)
                .unwrap()
                .unwrap()
                .id,
            7
        );
        assert_eq!(
            choose_admin(&admins, Some("ops"), Some(7))
                .unwrap()
                .unwrap()
                .id,
            7
        );
        assert!(matches!(
            choose_admin(&admins, Some("nobody"), None),
            Err(StepError::Permanent(_))
        ));
        assert!(matches!(
            choose_admin(&admins, None, Some(9)),
            Err(StepError::Permanent(_))
        ));
        assert!(choose_admin(&[], None, None).unwrap().is_none());
    }

    #[test]
    fn only_values_replaced_in_text_are_collected() {
        let mut c = Collected::default();
        c.add(Fake::Email, " fan@mail.test ");
        c.add(Fake::Email, "not an e-mail");
        c.add(Fake::Phone, "12 34");
        c.add(Fake::Phone, "+44 20 7946 0958");
        c.add(Fake::Address, "1 Main Street");
        c.add(Fake::Name, "");
        assert_eq!(c.emails.iter().collect::<Vec<_>>(), ["fan@mail.test"]);
        assert_eq!(c.phones.len(), 1);
        assert!(c.names.is_empty());
    }
}
