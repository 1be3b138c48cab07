//! What workflows may use beyond the step API: their own tables in the Understudy database,
//! the secrets box, and a local data directory. The engine passes this through untouched.

use sqlx::PgPool;
use std::path::PathBuf;

use crate::secrets::SecretBox;

/// Shared by every job of a worker process.
#[derive(Debug, Clone)]
pub struct Resources {
    /// The Understudy database, for workflow-owned tables (sites, environments, sandboxes).
    pub db: PgPool,
    /// Encrypts and decrypts stored credentials.
    pub secrets: SecretBox,
    /// Default place for bundles, backups and other files jobs produce.
    pub data_dir: PathBuf,
}
