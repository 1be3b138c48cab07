//! `understudy export URL --user U --app-password-file F`: seals the Application Password with the
//! workers' secrets key, enqueues an `export` job and, with `--wait`, follows it.

use base64::Engine;
use clap::{Args as ClapArgs, ValueEnum};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use understudy_worker::contract::JobMessage;
use understudy_worker::producer::Producer;
use understudy_worker::Settings;
use uuid::Uuid;

use crate::cli::PriorityArg;
use crate::commands::{pool, Failure, Outcome};
use crate::watch;

/// Arguments of `understudy export`.
#[derive(ClapArgs)]
pub struct ExportArgs {
    /// The site's address, e.g. https://example.com (http works for local sites).
    pub url: String,
    /// WordPress user name of the Application Password.
    #[arg(long)]
    pub user: String,
    /// File holding the Application Password (Users → Profile → Application Passwords).
    #[arg(long)]
    pub app_password_file: PathBuf,
    /// Which media files to download.
    #[arg(long, value_enum, default_value_t = MediaArg::Referenced)]
    pub media: MediaArg,
    /// Bundle directory (default: <data_dir>/exports/<job id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Files larger than this are recorded, not downloaded (default 100 MiB).
    #[arg(long)]
    pub max_media_bytes: Option<u64>,
    /// MIME types not to download, e.g. video/* (repeatable).
    #[arg(long = "skip-mime", value_name = "TYPE")]
    pub skip_mime: Vec<String>,
    /// Parallel media downloads (default 5).
    #[arg(long)]
    pub media_concurrency: Option<usize>,
    #[arg(long, value_enum, default_value_t = PriorityArg::Interactive)]
    pub priority: PriorityArg,
    /// Enqueueing the same key again yields the same job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Watch the job until it ends (exit code 1 if it does not succeed).
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

/// `--media`.
#[derive(Clone, Copy, ValueEnum)]
pub enum MediaArg {
    Referenced,
    All,
    None,
}

impl MediaArg {
    fn as_str(self) -> &'static str {
        match self {
            MediaArg::Referenced => "referenced",
            MediaArg::All => "all",
            MediaArg::None => "none",
        }
    }
}

/// Reads an Application Password file (surrounding whitespace ignored).
pub fn read_password(path: &Path) -> Result<SecretString, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(format!(
            "cannot read the Application Password file {}: {e}",
            path.display()
        ))
    })?;
    let password = text.trim();
    if password.is_empty() {
        return Err(Failure::Input(format!(
            "the Application Password file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(password.to_string()))
}

/// Seals the password with the workers' key: base64 of `1 || nonce || ciphertext+tag`.
pub fn seal(settings: &Settings, password: &SecretString) -> Result<String, Failure> {
    let sbox = settings
        .secret_box()
        .map_err(|e| Failure::Input(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sbox.seal(password)))
}

/// Builds the job spec (the sealed password, never the password).
pub fn spec(
    settings: &Settings,
    args: &ExportArgs,
    job_id: Uuid,
) -> Result<(Value, PathBuf), Failure> {
    let password = read_password(&args.app_password_file)?;
    let out = match &args.out {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => std::env::current_dir()
            .map_err(|e| Failure::Input(format!("cannot resolve --out {}: {e}", dir.display())))?
            .join(dir),
        None => settings.data_dir.join("exports").join(job_id.to_string()),
    };
    let mut spec = json!({
        "url": args.url,
        "user": args.user,
        "app_password_sealed": seal(settings, &password)?,
        "media": args.media.as_str(),
        "out_dir": out,
    });
    if let Some(n) = args.max_media_bytes {
        spec["max_media_bytes"] = json!(n);
    }
    if !args.skip_mime.is_empty() {
        spec["skip_mime"] = json!(args.skip_mime);
    }
    if let Some(n) = args.media_concurrency {
        spec["media_concurrency"] = json!(n);
    }
    Ok((spec, out))
}

/// `understudy export`.
pub async fn export(settings: &Settings, args: ExportArgs) -> Outcome {
    // With an idempotency key the id comes from the key, so a repeat names the same job and
    // (by default) the same bundle directory.
    let mut message = JobMessage::new("export", Value::Null);
    message.idempotency_key = args.idempotency_key.clone();
    let job_id = message.resolved_id().unwrap_or_else(Uuid::now_v7);
    message.job_id = Some(job_id);
    let (spec, out) = spec(settings, &args, job_id)?;
    message.spec = spec;
    crate::commands::check(&message)?;
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    let published = producer.publish_job(message, args.priority.into()).await?;
    let id = watch::settled_id(&pool, args.idempotency_key.as_deref(), published).await?;
    let out = earlier_out_dir(&pool, args.idempotency_key.as_deref(), id, out).await?;
    if !args.json {
        eprintln!("export of {} enqueued; bundle: {}", args.url, out.display());
    }
    let enqueued = watch::Enqueued::new(id).with("out_dir", out.display().to_string());
    watch::finish(&pool, enqueued, args.wait, args.json).await
}

/// The bundle directory of the job that stands: a repeat with the same idempotency key but
/// another `--out` did not change the earlier job, whose directory is the one written.
pub async fn earlier_out_dir(
    pool: &sqlx::PgPool,
    key: Option<&str>,
    id: Uuid,
    asked: PathBuf,
) -> Result<PathBuf, Failure> {
    if key.is_none() {
        return Ok(asked);
    }
    let spec = understudy_worker::queries::job_spec(pool, id).await?;
    let earlier = spec
        .as_ref()
        .and_then(|s| s.get("out_dir"))
        .and_then(Value::as_str)
        .map(PathBuf::from);
    match earlier {
        Some(dir) if dir != asked => {
            eprintln!(
                "understudy: job {id} was enqueued earlier with this idempotency key; its bundle directory {} stands (not {})",
                dir.display(),
                asked.display()
            );
            Ok(dir)
        }
        _ => Ok(asked),
    }
}
