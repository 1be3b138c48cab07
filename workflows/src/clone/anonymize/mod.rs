//! Anonymization of a staging copy (opt-in: `"anonymize": true`, `--anonymize`), done **in the
//! copy stream**, so no personal value from production is ever written to the staging database.
//!
//! ```text
//! collect-personal-data ─► e-mails, IPs, phones, names (memory only) ─► in-text dictionary
//!                          administrators ─► the kept admin (ID checkpointed)
//! copy:<table>  pg_dump/mysqldump ─► RowMap (personal columns and meta rows → fakes)
//!                                 ─► Rewriter (URLs, then the dictionary; serialized lengths fixed)
//!                                 ─► psql/mysql
//! ```
//!
//! Files: [`locations`] (where WordPress/WooCommerce keep personal data, what each becomes),
//! [`map`] (the row map applying them),
//! [`fake`] (the keyed mapping), [`collect`] (reading production), [`dictionary`] (the literal
//! pairs for the rewriter).
//!
//! Decisions:
//! - **Mapping key**: derived from the installation's secrets key (HMAC-SHA256 of
//!   [`KEY_PURPOSE`]), so mappings are stable across jobs and sites of one installation and
//!   change when the secrets key does. The key is never logged, checkpointed or reported; the
//!   result shows a key id (an HMAC of a constant) to tell installations apart.
//! - **Checkpoint**: the `collect-personal-data` step stores counts, a keyed fingerprint and the
//!   kept admin's ID, never a clear value. A resumed job collects again (inside the table step
//!   that needs it, so errors are retried like any step) and keeps the checkpointed admin.
//! - **Kept admin**: `keep_admin` (a login) or the administrator with the lowest ID. Their login
//!   and password hash stay; their e-mail, names and sessions are anonymized like everyone's.
//!   Every other user gets a random, unusable password hash and a `user-<hash>` login.
//! - **Protected values**: the row map applies even to rows the URL policy protects
//!   (`keep_options`); the in-text dictionary does not reach `guid` or `keep_options` rows.

pub mod collect;
pub mod dictionary;
pub mod fake;
pub mod locations;
pub mod map;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::OnceCell;

use super::plan::{self, Plan, TableReport};
use super::spec::CloneSpec;
use crate::rewrite::Rewriter;
use crate::sites::{DbUrl, Site};
use crate::{Job, StepError};
use collect::{Collected, Reader};
use fake::Faker;
use map::{Anonymizer, KeptAdmin};

/// What the mapping key is derived for (changing it changes every fake).
pub const KEY_PURPOSE: &str = "understudy/clone/anonymize/v1";

/// The checkpointed output of `collect-personal-data`: counts and keyed hashes only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectReport {
    /// Identifies the mapping key (not the key).
    pub key_id: String,
    /// Distinct values found, by kind (they are replaced inside any value too).
    pub emails: usize,
    pub ips: usize,
    pub phones: usize,
    pub names: usize,
    /// Literal pairs in the in-text dictionary (values and their other spellings).
    pub in_text_pairs: usize,
    /// Keyed hash of everything collected (changes when production's personal data does).
    pub fingerprint: String,
    pub administrators: usize,
    /// The user ID whose login and password hash are kept (`None`: no administrator found).
    pub kept_admin_id: Option<i64>,
}

/// What the table steps use when anonymizing.
pub struct Prepared {
    /// URL rules plus the in-text dictionary.
    pub rewriter: Arc<Rewriter>,
    /// The personal columns and meta rows.
    pub map: Arc<Anonymizer>,
}

/// The anonymization of one clone job.
pub struct Anonymization {
    site: Site,
    plan: Plan,
    source: DbUrl,
    keep_admin: Option<String>,
    faker: Arc<Faker>,
    report: OnceLock<CollectReport>,
    ready: OnceCell<Arc<Prepared>>,
}

impl Anonymization {
    pub fn new(job: &Job, site: &Site, plan: &Plan, spec: &CloneSpec, source: &DbUrl) -> Self {
        let key = job.resources().secrets.derive_key(KEY_PURPOSE);
        Anonymization {
            site: site.clone(),
            plan: plan.clone(),
            source: source.clone(),
            keep_admin: spec.keep_admin.clone(),
            faker: Arc::new(Faker::new(&key)),
            report: OnceLock::new(),
            ready: OnceCell::new(),
        }
    }

    /// The step `collect-personal-data`: reads production (inside `snapshot` on PostgreSQL),
    /// chooses the kept admin, prepares the map and dictionary. Call it before any table step.
    pub async fn collect_step(
        &self,
        job: &Job,
        snapshot: Option<&str>,
    ) -> Result<CollectReport, StepError> {
        let report = job
            .step("collect-personal-data", |run| async move {
                let (collected, kept) = self.gather(snapshot, None).await?;
                let mut report = CollectReport {
                    key_id: self.faker.key_id(),
                    emails: collected.emails.len(),
                    ips: collected.ips.len(),
                    phones: collected.phones.len(),
                    names: collected.names.len(),
                    in_text_pairs: 0,
                    fingerprint: self.faker.fingerprint(
                        [
                            &collected.emails,
                            &collected.ips,
                            &collected.phones,
                            &collected.names,
                        ]
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                    ),
                    administrators: collected.administrators.len(),
                    kept_admin_id: kept.as_ref().map(|k| k.id),
                };
                // The collected values are freed while the dictionary is built.
                let prepared = self.prepare(collected, kept)?;
                report.in_text_pairs = prepared.1;
                let _ = self.ready.set(Arc::new(prepared.0));
                run.progress(
                    6.0,
                    &format!(
                        "personal data collected: {} e-mails, {} IPs, {} phones, {} names",
                        report.emails, report.ips, report.phones, report.names
                    ),
                );
                Ok(report)
            })
            .await?;
        let _ = self.report.set(report.clone());
        Ok(report)
    }

    /// The map and rewriter; after a resume, collected again (inside `snapshot`) on first use.
    pub async fn prepared(&self, snapshot: Option<&str>) -> Result<Arc<Prepared>, StepError> {
        let report = self.report.get().ok_or_else(|| {
            StepError::Permanent("collect-personal-data must run before the table copies".into())
        })?;
        self.ready
            .get_or_try_init(|| async {
                let (collected, kept) = self.gather(snapshot, Some(report.kept_admin_id)).await?;
                Ok(Arc::new(self.prepare(collected, kept)?.0))
            })
            .await
            .cloned()
    }

    /// The job result's `anonymization` section (present only when anonymizing).
    pub fn summary(&self, tables: &[TableReport]) -> Value {
        let mut replaced: BTreeMap<&str, u64> = BTreeMap::new();
        let mut in_text: BTreeMap<&str, u64> = BTreeMap::new();
        for t in tables {
            for (location, n) in &t.anonymized {
                *replaced.entry(location.as_str()).or_default() += n;
            }
            if t.literal_replacements > 0 {
                in_text.insert(t.table.as_str(), t.literal_replacements);
            }
        }
        json!({
            "collected": self.report.get(),
            "replaced": replaced,
            "replaced_in_text": in_text,
            "passwords_made_unusable": replaced.get("users.user_pass").copied().unwrap_or(0),
            "not_covered": "custom plugin tables and columns, single names in free text, \
                            names/addresses inside serialized plugin data",
        })
    }

    /// Reads production; `pinned` is the checkpointed kept admin (`Some(None)`: none was kept).
    async fn gather(
        &self,
        snapshot: Option<&str>,
        pinned: Option<Option<i64>>,
    ) -> Result<(Collected, Option<KeptAdmin>), StepError> {
        let tables: Vec<(String, String)> = self
            .plan
            .tables
            .iter()
            .map(|(schema, table, _)| (schema.clone(), table.clone()))
            .collect();
        let mut reader = Reader::open(&self.source, snapshot).await?;
        let collected = collect::collect(&mut reader, &tables, &self.site.table_prefix).await;
        reader.close().await;
        let collected = collected?;
        let kept = match pinned {
            Some(None) => None,
            Some(Some(id)) => collect::choose_admin(&collected.administrators, None, Some(id))?,
            None => {
                collect::choose_admin(&collected.administrators, self.keep_admin.as_deref(), None)?
            }
        };
        Ok((collected, kept))
    }

    /// Compiles the dictionary; returns the prepared parts and the number of literal pairs.
    fn prepare(
        &self,
        collected: Collected,
        kept: Option<KeptAdmin>,
    ) -> Result<(Prepared, usize), StepError> {
        let literals = dictionary::build(collected, &self.faker)
            .map_err(|e| StepError::Permanent(format!("anonymization: {e}")))?;
        let pairs = literals.len();
        let rewriter = plan::rewriter(&self.site, &self.plan)?.with_literals(Arc::new(literals));
        Ok((
            Prepared {
                rewriter: Arc::new(rewriter),
                map: Arc::new(Anonymizer::new(self.faker.clone(), kept)),
            },
            pairs,
        ))
    }
}
