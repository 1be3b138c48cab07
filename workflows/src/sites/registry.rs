//! The `sites` and `staging_environments` tables. Database URLs are sealed before they are
//! stored and opened only by the code that connects.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::database::{DbEngine, DbUrl};
use super::identity::{self, DbKey, DirKey, SiteKeys};
use super::{default_staging_url, normalize_dir, normalize_site_url, validate_name, SiteError};
use crate::secrets::{SecretBox, SecretsError};
use std::path::Path;

/// What `understudy site add` collects; staging fields default by convention.
#[derive(Debug, Clone)]
pub struct SiteInput {
    pub name: String,
    pub production_url: String,
    pub db_url: DbUrl,
    pub uploads_dir: String,
    pub table_prefix: String,
    pub staging_url: Option<String>,
    pub staging_db_url: Option<DbUrl>,
    pub staging_uploads_dir: Option<String>,
    pub tags: Vec<String>,
    /// Allow the staging URL to equal the production URL (a staging server reached through a
    /// hosts file or VPN). The staging database and uploads must still differ.
    pub allow_same_url: bool,
    /// What the servers said the production and staging databases are
    /// (`clone::guard::probe`); `None` when they could not be asked.
    pub identities: Option<(String, String)>,
}

/// A registered site, as stored (URLs still sealed).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Site {
    /// This registration: a site removed and added again under its name is another one.
    pub id: Uuid,
    pub name: String,
    pub production_url: String,
    pub db_engine: DbEngine,
    #[serde(skip)]
    pub db_url_sealed: Vec<u8>,
    pub db_display: String,
    pub table_prefix: String,
    pub uploads_dir: String,
    pub staging_url: String,
    #[serde(skip)]
    pub staging_db_url_sealed: Vec<u8>,
    pub staging_db_display: String,
    pub staging_uploads_dir: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// `<server identity>/<database>` as last verified (see [`super::identity`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging_db_identity: Option<String>,
}

/// A staging environment that exists.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Environment {
    pub site: String,
    pub url: String,
    pub db_display: String,
    pub uploads_dir: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub last_job: Uuid,
    pub last_report: Value,
    /// Made with `--anonymize`: the copy holds fake personal data.
    pub anonymized: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the site registry in PostgreSQL failed: {0}")]
    Database(#[from] sqlx::Error),
}

impl SiteInput {
    /// Validates every field and fills the staging defaults; refuses staging = production.
    pub fn resolve(mut self) -> Result<SiteInput, SiteError> {
        validate_name(&self.name)?;
        self.production_url = normalize_site_url("production URL", &self.production_url)?;
        let staging_url = match &self.staging_url {
            Some(url) => normalize_site_url("staging URL", url)?,
            None => default_staging_url(&self.production_url)?,
        };
        self.uploads_dir = normalize_dir("uploads directory", &self.uploads_dir)?;
        let staging_uploads = match &self.staging_uploads_dir {
            Some(dir) => normalize_dir("staging uploads directory", dir)?,
            None => format!("{}-staging", self.uploads_dir),
        };
        if !super::database::valid_identifier(&self.table_prefix) || self.table_prefix.contains('-')
        {
            return Err(SiteError::Invalid {
                what: "table prefix",
                value: self.table_prefix.clone(),
                reason: "use letters, digits and '_' only".into(),
            });
        }
        let staging_db = match &self.staging_db_url {
            Some(url) => url.clone(),
            None => {
                let name = format!("{}_staging", self.db_url.database);
                if name.len() > 63 {
                    return Err(SiteError::Invalid {
                        what: "database name",
                        value: self.db_url.database.clone(),
                        reason: "too long to derive <name>_staging; pass --staging-db".into(),
                    });
                }
                self.db_url.with_database(&name)
            }
        };
        if staging_db.engine != self.db_url.engine {
            return Err(SiteError::Invalid {
                what: "staging database",
                value: staging_db.display(),
                reason: "must use the same engine as production".into(),
            });
        }
        if staging_db.same_database(&self.db_url) {
            return Err(SiteError::StagingIsProduction {
                what: "database",
                value: staging_db.display(),
            });
        }
        if staging_url == self.production_url && !self.allow_same_url {
            return Err(SiteError::StagingIsProduction {
                what: "URL",
                value: staging_url,
            });
        }
        if staging_uploads == self.uploads_dir
            || staging_uploads.starts_with(&format!("{}/", self.uploads_dir))
            || self.uploads_dir.starts_with(&format!("{staging_uploads}/"))
        {
            return Err(SiteError::Invalid {
                what: "staging uploads directory",
                value: staging_uploads,
                reason: format!(
                    "it is, lies inside or contains the production uploads directory {}; choose \
                     a directory of its own",
                    self.uploads_dir
                ),
            });
        }
        for tag in &self.tags {
            validate_name(tag).map_err(|_| SiteError::Invalid {
                what: "tag",
                value: tag.clone(),
                reason: "use lowercase letters, digits and '-'".into(),
            })?;
        }
        self.staging_url = Some(staging_url);
        self.staging_db_url = Some(staging_db);
        self.staging_uploads_dir = Some(staging_uploads);
        Ok(self)
    }
}

/// Stores a resolved site; refuses a name that exists.
pub async fn add(
    pool: &PgPool,
    secrets: &SecretBox,
    input: SiteInput,
) -> Result<Site, RegistryError> {
    let input = input.resolve()?;
    refuse_conflicts(pool, &input).await?;
    let staging_db = input.staging_db_url.clone().expect("resolved");
    let inserted: Option<Site> = sqlx::query_as(
        "INSERT INTO sites (name, production_url, db_engine, db_url_sealed, db_display, table_prefix, \
             uploads_dir, staging_url, staging_db_url_sealed, staging_db_display, staging_uploads_dir, tags, \
             db_identity, staging_db_identity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (name) DO NOTHING \
         RETURNING *",
    )
    .bind(&input.name)
    .bind(&input.production_url)
    .bind(input.db_url.engine)
    .bind(secrets.seal(&input.db_url.expose()))
    .bind(input.db_url.display())
    .bind(&input.table_prefix)
    .bind(&input.uploads_dir)
    .bind(input.staging_url.as_deref())
    .bind(secrets.seal(&staging_db.expose()))
    .bind(staging_db.display())
    .bind(input.staging_uploads_dir.as_deref())
    .bind(&input.tags)
    .bind(input.identities.as_ref().map(|i| &i.0))
    .bind(input.identities.as_ref().map(|i| &i.1))
    .fetch_optional(pool)
    .await?;
    inserted.ok_or_else(|| SiteError::Exists(input.name).into())
}

/// Stores a resolved site, replacing the settings of a site of that name (an inline site spec
/// from a producer: the producer owns the site's settings).
pub async fn upsert(
    pool: &PgPool,
    secrets: &SecretBox,
    input: SiteInput,
) -> Result<Site, RegistryError> {
    let input = input.resolve()?;
    refuse_conflicts(pool, &input).await?;
    let staging_db = input.staging_db_url.clone().expect("resolved");
    let stored: Site = sqlx::query_as(
        "INSERT INTO sites (name, production_url, db_engine, db_url_sealed, db_display, table_prefix, \
             uploads_dir, staging_url, staging_db_url_sealed, staging_db_display, staging_uploads_dir, tags, \
             db_identity, staging_db_identity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (name) DO UPDATE SET production_url = EXCLUDED.production_url, \
             db_engine = EXCLUDED.db_engine, db_url_sealed = EXCLUDED.db_url_sealed, \
             db_display = EXCLUDED.db_display, table_prefix = EXCLUDED.table_prefix, \
             uploads_dir = EXCLUDED.uploads_dir, staging_url = EXCLUDED.staging_url, \
             staging_db_url_sealed = EXCLUDED.staging_db_url_sealed, \
             staging_db_display = EXCLUDED.staging_db_display, \
             staging_uploads_dir = EXCLUDED.staging_uploads_dir, tags = EXCLUDED.tags, \
             db_identity = EXCLUDED.db_identity, staging_db_identity = EXCLUDED.staging_db_identity, updated_at = now() \
         RETURNING *",
    )
    .bind(&input.name)
    .bind(&input.production_url)
    .bind(input.db_url.engine)
    .bind(secrets.seal(&input.db_url.expose()))
    .bind(input.db_url.display())
    .bind(&input.table_prefix)
    .bind(&input.uploads_dir)
    .bind(input.staging_url.as_deref())
    .bind(secrets.seal(&staging_db.expose()))
    .bind(staging_db.display())
    .bind(input.staging_uploads_dir.as_deref())
    .bind(&input.tags)
    .bind(input.identities.as_ref().map(|i| &i.0))
    .bind(input.identities.as_ref().map(|i| &i.1))
    .fetch_one(pool)
    .await?;
    Ok(stored)
}

/// Refuses a site whose staging could touch production or another site's staging (by
/// identity, see [`super::identity`]).
async fn refuse_conflicts(pool: &PgPool, input: &SiteInput) -> Result<(), RegistryError> {
    let others = list(pool, None).await?;
    let found = identity::conflicts(
        &input.keys(),
        &others.iter().map(Site::keys).collect::<Vec<_>>(),
    );
    if found.is_empty() {
        Ok(())
    } else {
        Err(SiteError::Conflict {
            site: input.name.clone(),
            reasons: found,
        }
        .into())
    }
}

impl SiteInput {
    /// The keys [`identity::conflicts`] compares (a resolved input).
    pub fn keys(&self) -> SiteKeys {
        let staging = self.staging_db_url.as_ref().expect("resolved");
        let (db, staging_db) = match &self.identities {
            Some((a, b)) => (Some(a.clone()), Some(b.clone())),
            None => (None, None),
        };
        SiteKeys {
            name: self.name.clone(),
            table_prefix: self.table_prefix.clone(),
            db: DbKey::new(&self.db_url, db),
            staging_db: DbKey::new(staging, staging_db),
            uploads: DirKey::new(Path::new(&self.uploads_dir)),
            staging_uploads: DirKey::new(Path::new(
                self.staging_uploads_dir.as_deref().expect("resolved"),
            )),
        }
    }
}

impl Site {
    /// The keys [`identity::conflicts`] compares, from what is stored.
    pub fn keys(&self) -> SiteKeys {
        SiteKeys {
            name: self.name.clone(),
            table_prefix: self.table_prefix.clone(),
            db: DbKey::stored(&self.db_display, self.db_identity.clone()),
            staging_db: DbKey::stored(&self.staging_db_display, self.staging_db_identity.clone()),
            uploads: DirKey::new(Path::new(&self.uploads_dir)),
            staging_uploads: DirKey::new(Path::new(&self.staging_uploads_dir)),
        }
    }
}

/// Stores the identities a job verified for this registration of the site.
pub async fn set_identities(
    pool: &PgPool,
    site: &Site,
    db: &str,
    staging_db: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sites SET db_identity = $3, staging_db_identity = $4 WHERE name = $1 AND id = $2",
    )
    .bind(&site.name)
    .bind(site.id)
    .bind(db)
    .bind(staging_db)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, name: &str) -> Result<Site, RegistryError> {
    sqlx::query_as("SELECT * FROM sites WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| SiteError::Unknown(name.to_string()).into())
}

/// Sites, optionally only those with `tag`.
pub async fn list(pool: &PgPool, tag: Option<&str>) -> Result<Vec<Site>, RegistryError> {
    Ok(
        sqlx::query_as(
            "SELECT * FROM sites WHERE $1::text IS NULL OR $1 = ANY(tags) ORDER BY name",
        )
        .bind(tag)
        .fetch_all(pool)
        .await?,
    )
}

/// Removes a site from the registry (its staging copy, if any, must be destroyed first).
pub async fn remove(pool: &PgPool, name: &str) -> Result<(), RegistryError> {
    let removed = sqlx::query("DELETE FROM sites WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(SiteError::Unknown(name.to_string()).into());
    }
    Ok(())
}

impl Site {
    pub fn db_url(&self, secrets: &SecretBox) -> Result<DbUrl, RegistryError> {
        open_url(secrets, &self.db_url_sealed)
    }

    pub fn staging_db_url(&self, secrets: &SecretBox) -> Result<DbUrl, RegistryError> {
        open_url(secrets, &self.staging_db_url_sealed)
    }
}

fn open_url(secrets: &SecretBox, sealed: &[u8]) -> Result<DbUrl, RegistryError> {
    use secrecy::ExposeSecret;
    let url = secrets.open(sealed)?;
    Ok(DbUrl::parse("stored database URL", url.expose_secret())?)
}

pub async fn environment(pool: &PgPool, site: &str) -> Result<Option<Environment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT site, url, db_display, uploads_dir, state::text AS state, created_at, refreshed_at, \
                last_job, last_report, anonymized FROM staging_environments WHERE site = $1",
    )
    .bind(site)
    .fetch_optional(pool)
    .await
}

pub async fn environments(pool: &PgPool) -> Result<Vec<Environment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT site, url, db_display, uploads_dir, state::text AS state, created_at, refreshed_at, \
                last_job, last_report, anonymized FROM staging_environments ORDER BY site",
    )
    .fetch_all(pool)
    .await
}

/// Records a created or refreshed staging environment.
pub async fn record_environment(
    pool: &PgPool,
    site: &Site,
    job: Uuid,
    report: &Value,
    anonymized: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staging_environments (site, url, db_display, uploads_dir, state, last_job, last_report, anonymized) \
         VALUES ($1, $2, $3, $4, 'ready', $5, $6, $7) \
         ON CONFLICT (site) DO UPDATE SET url = EXCLUDED.url, db_display = EXCLUDED.db_display, \
             uploads_dir = EXCLUDED.uploads_dir, state = 'ready', refreshed_at = now(), \
             last_job = EXCLUDED.last_job, last_report = EXCLUDED.last_report, anonymized = EXCLUDED.anonymized",
    )
    .bind(&site.name)
    .bind(&site.staging_url)
    .bind(&site.staging_db_display)
    .bind(&site.staging_uploads_dir)
    .bind(job)
    .bind(report)
    .bind(anonymized)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn forget_environment(pool: &PgPool, site: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staging_environments WHERE site = $1")
        .bind(site)
        .execute(pool)
        .await?;
    Ok(())
}

/// The staging environment's basic-auth login and sealed password, when set.
pub async fn basic_auth(
    pool: &PgPool,
    site: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT basic_auth_user, basic_auth_sealed FROM staging_environments WHERE site = $1",
    )
    .bind(site)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((Some(user), Some(sealed))) => Some((user, sealed)),
        _ => None,
    })
}

/// Stores (or clears) the basic-auth credentials of a recorded staging environment.
pub async fn set_basic_auth(
    pool: &PgPool,
    site: &str,
    credentials: Option<(&str, &[u8])>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE staging_environments SET basic_auth_user = $2, basic_auth_sealed = $3 WHERE site = $1",
    )
    .bind(site)
    .bind(credentials.map(|c| c.0))
    .bind(credentials.map(|c| c.1))
    .execute(pool)
    .await?;
    Ok(())
}
