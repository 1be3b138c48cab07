//! The first check of every clone job (and of `site add`): by what the servers and the
//! filesystem say, the site's staging is not production — its own or another site's — nor
//! another site's staging, and production is not itself a copy Understudy made.

use sqlx::PgPool;
use std::path::{Path, PathBuf};

use super::ownership::{self, Presence};
use super::{mysql, postgres};
use crate::sites::identity::{self, DbKey};
use crate::sites::registry::{self, SiteInput};
use crate::sites::{DbEngine, DbUrl, Site};
use crate::StepError;

/// The server's identity: PostgreSQL `pg:<system_identifier>`, MariaDB/MySQL
/// `mysql:<@@hostname>:<@@port>:<@@datadir>` (and whether database names are case-folded).
async fn server(url: &DbUrl) -> Result<(String, bool), StepError> {
    match url.engine {
        DbEngine::Postgres => {
            let admin = postgres::admin(url).await?;
            let id: Result<String, _> =
                sqlx::query_scalar("SELECT system_identifier::text FROM pg_control_system()")
                    .fetch_one(&admin)
                    .await;
            admin.close().await;
            Ok((
                format!(
                    "pg:{}",
                    id.map_err(|e| postgres::classify(&url.display(), e))?
                ),
                false,
            ))
        }
        DbEngine::Mysql => {
            let admin = mysql::admin(url).await?;
            let row: Result<(String, i64, String, i64), _> = sqlx::query_as(
                "SELECT CAST(@@hostname AS CHAR), CAST(@@port AS SIGNED), CAST(@@datadir AS CHAR), \
                        CAST(@@lower_case_table_names AS SIGNED)",
            )
            .fetch_one(&admin)
            .await;
            admin.close().await;
            let (host, port, datadir, folded) =
                row.map_err(|e| mysql::classify(&url.display(), e))?;
            Ok((format!("mysql:{host}:{port}:{datadir}"), folded != 0))
        }
    }
}

/// `<server identity>/<database>` of the database `url` names (which need not exist yet).
pub async fn database_identity(url: &DbUrl) -> Result<String, StepError> {
    let (server, folded) = server(url).await.map_err(|e| {
        let say = |m: &str| format!("asking the server of {} who it is: {m}", url.display());
        match e {
            StepError::Retryable(m) => StepError::Retryable(say(&m)),
            StepError::Permanent(m) => StepError::Permanent(say(&m)),
            other => other,
        }
    })?;
    let name = if folded {
        url.database.to_ascii_lowercase()
    } else {
        url.database.clone()
    };
    Ok(format!("{server}/{name}"))
}

/// The identities of a production and a staging database.
pub async fn probe(production: &DbUrl, staging: &DbUrl) -> Result<(String, String), StepError> {
    Ok((
        database_identity(production).await?,
        database_identity(staging).await?,
    ))
}

/// Resolves a site definition and asks its servers who its databases are (for the registry's
/// conflict checks). The error is the resolution's or the servers'.
pub async fn identify(input: SiteInput) -> Result<SiteInput, StepError> {
    let mut input = input
        .resolve()
        .map_err(|e| StepError::Permanent(e.to_string()))?;
    let staging = input.staging_db_url.clone().expect("resolved");
    input.identities = Some(probe(&input.db_url, &staging).await?);
    Ok(input)
}

/// Verifies a registered site before a job touches anything; records the identities found.
pub async fn verify(
    pool: &PgPool,
    site: &Site,
    production: &DbUrl,
    staging: &DbUrl,
) -> Result<(), StepError> {
    let (db, staging_db) = probe(production, staging).await?;
    let mut keys = site.keys();
    keys.db = DbKey::new(production, Some(db.clone()));
    keys.staging_db = DbKey::new(staging, Some(staging_db.clone()));
    let others: Vec<_> = registry::list(pool, None)
        .await
        .map_err(super::environment::registry_error)?
        .iter()
        .filter(|o| o.name != site.name)
        .map(Site::keys)
        .collect();
    let found = identity::conflicts(&keys, &others);
    if !found.is_empty() {
        return Err(StepError::Permanent(format!(
            "refusing to touch site {}'s staging: {}; fix the site's staging settings \
             (`understudy site remove {}` and add it again)",
            site.name,
            found.join("; "),
            site.name
        )));
    }
    if let Presence::Marked(mark) = ownership::database(pool, production).await? {
        return Err(StepError::Permanent(format!(
            "the production database {} is marked as Understudy's {:?} copy of site {} (job {}): \
             a staging copy cannot be a site's production",
            production.display(),
            mark.role,
            mark.site,
            mark.job
        )));
    }
    if let Ok(Presence::Marked(mark)) = ownership::directory(Path::new(&site.uploads_dir)) {
        return Err(StepError::Permanent(format!(
            "the production uploads directory {} is marked as Understudy's {:?} copy of site {}: \
             a staging copy cannot be a site's production",
            site.uploads_dir, mark.role, mark.site
        )));
    }
    registry::set_identities(pool, site, &db, &staging_db)
        .await
        .map_err(StepError::retryable)
}

/// The staging must-use plugins folder (`<staging wp-content>/mu-plugins`, when the staging
/// uploads are `<wp-content>/uploads`), once it is shown not to be any registered site's
/// production `wp-content` (by canonical path, so a symbolic link to production's folder is
/// refused too): the plugins written there stop mail and cron and can answer 401, and must never
/// run on production.
pub async fn mu_plugins_dir(pool: &PgPool, site: &Site) -> Result<Option<PathBuf>, StepError> {
    let Some(dir) = super::basic_auth::mu_plugins_dir(Path::new(&site.staging_uploads_dir)) else {
        return Ok(None);
    };
    let real = identity::canonical(&dir);
    let sites = registry::list(pool, None)
        .await
        .map_err(super::environment::registry_error)?;
    for other in &sites {
        let Some(wp_content) = Path::new(&other.uploads_dir).parent() else {
            continue;
        };
        let wp_content = identity::canonical(wp_content);
        if real.parent() == Some(wp_content.as_path()) || real.starts_with(&wp_content) {
            return Err(StepError::Permanent(format!(
                "the staging must-use plugins folder {} is (or leads into) {}, the production \
                 wp-content of site {}: Understudy's staging plugins (no mail, no cron, basic \
                 auth) must never run there. Give site {} a staging wp-content of its own \
                 (--staging-uploads <staging wp-content>/uploads)",
                dir.display(),
                wp_content.display(),
                other.name,
                site.name
            )));
        }
    }
    Ok(Some(dir))
}
