//! A site's database URL: `postgres://user:password@host:port/db` or `mysql://…` (MariaDB too).
//!
//! The password never leaves a [`SecretString`]; messages use [`DbUrl::display`]
//! (`engine://user@host:port/db`). Database names are validated so they can be quoted safely in
//! SQL and passed to `pg_dump`/`mysqldump` as plain arguments.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::SiteError;

/// Which kind of server holds a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "db_engine", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    Postgres,
    Mysql,
}

impl DbEngine {
    pub fn default_port(self) -> u16 {
        match self {
            DbEngine::Postgres => 5432,
            DbEngine::Mysql => 3306,
        }
    }
}

/// A parsed database URL.
#[derive(Clone)]
pub struct DbUrl {
    pub engine: DbEngine,
    pub user: String,
    pub password: SecretString,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Database and table-prefix names: letters, digits, `_` (and `-` for databases), at most 63.
pub fn valid_identifier(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.starts_with('-')
}

impl DbUrl {
    pub fn parse(what: &'static str, value: &str) -> Result<DbUrl, SiteError> {
        let bad = |reason: &str| SiteError::BadUrl {
            what,
            value: redact(value),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
        let engine = match url.scheme() {
            "postgres" | "postgresql" => DbEngine::Postgres,
            "mysql" | "mariadb" => DbEngine::Mysql,
            _ => return Err(bad("use postgres://… or mysql://…")),
        };
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_string();
        let database = url.path().trim_start_matches('/').to_string();
        if !valid_identifier(&database) {
            return Err(SiteError::Invalid {
                what,
                value: redact(value),
                reason: format!(
                    "database name {database:?} must be 1-63 letters, digits, '_' or '-'"
                ),
            });
        }
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| bad("bad percent-encoding in the user or password"))
        };
        Ok(DbUrl {
            engine,
            user: decode(url.username())?,
            password: SecretString::from(decode(url.password().unwrap_or(""))?),
            port: url.port().unwrap_or(engine.default_port()),
            host,
            database,
        })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> DbUrl {
        DbUrl {
            database: database.to_string(),
            ..self.clone()
        }
    }

    /// `engine://user@host:port/db`: safe to print.
    pub fn display(&self) -> String {
        let scheme = match self.engine {
            DbEngine::Postgres => "postgres",
            DbEngine::Mysql => "mysql",
        };
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    /// The full URL, password included: only for sealing and for drivers.
    pub fn expose(&self) -> SecretString {
        let scheme = match self.engine {
            DbEngine::Postgres => "postgres",
            DbEngine::Mysql => "mysql",
        };
        SecretString::from(format!(
            "{scheme}://{}:{}@{}:{}/{}",
            percent_encode(&self.user),
            percent_encode(self.password.expose_secret()),
            self.host,
            self.port,
            self.database
        ))
    }

    /// True when both name the same database on the same server.
    pub fn same_database(&self, other: &DbUrl) -> bool {
        self.engine == other.engine
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.database == other.database
    }
}

/// The URL with any password replaced by `***`, for error messages.
pub fn redact(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_the_password() {
        let url = DbUrl::parse("db", "mysql://wp:p%40ss@127.0.0.1/shop_db").unwrap();
        assert_eq!(url.engine, DbEngine::Mysql);
        assert_eq!(url.port, 3306);
        assert_eq!(url.password.expose_secret(), "p@ss");
        assert_eq!(url.display(), "mysql://wp@127.0.0.1:3306/shop_db");
        assert!(!format!("{url:?}").contains("p@ss"));
        let back = DbUrl::parse("db", url.expose().expose_secret()).unwrap();
        assert_eq!(back.password.expose_secret(), "p@ss");
        let err = DbUrl::parse("db", "postgres://u:secret@h/bad;name").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(DbUrl::parse("db", "redis://h/x").is_err());
        assert!(
            url.same_database(&DbUrl::parse("db", "mysql://other@127.0.0.1:3306/shop_db").unwrap())
        );
    }
}
