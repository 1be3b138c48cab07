//! `understudy onboard URL --user U --app-password-file F`: one `onboard` job that exports the
//! site and makes a sandbox of it. The Application Password is sealed with the workers' key, as
//! for `understudy export`.

use clap::Args as ClapArgs;
use serde_json::json;
use std::path::PathBuf;
use understudy_worker::contract::JobMessage;
use understudy_worker::producer::Producer;
use understudy_worker::Settings;
use uuid::Uuid;

use crate::cli::PriorityArg;
use crate::commands::{check, pool, Failure, Outcome};
use crate::export::{read_password, seal};
use crate::watch;

/// Arguments of `understudy onboard`.
#[derive(ClapArgs)]
pub struct OnboardArgs {
    /// The site's address, e.g. https://example.com (http works for local sites).
    pub url: String,
    /// WordPress user name of the Application Password.
    #[arg(long)]
    pub user: String,
    /// File holding the Application Password (Users → Profile → Application Passwords).
    #[arg(long)]
    pub app_password_file: PathBuf,
    /// Sandbox lifetime: hours, or a number with h or d (48h, 7d); default 7 days.
    #[arg(long)]
    pub ttl: Option<String>,
    /// A label for the sandbox (default: the site's host).
    #[arg(long)]
    pub site: Option<String>,
    /// Login of the sandbox administrator (default: understudy).
    #[arg(long)]
    pub admin_user: Option<String>,
    /// Bundle directory (default: <data_dir>/exports/<job id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
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

/// `--ttl`: `48`, `48h` or `7d`, in hours.
pub fn parse_ttl(text: &str) -> Result<u64, Failure> {
    let bad = || {
        Failure::Input(format!(
            "--ttl {text:?}: use hours, or a number with h or d (48h, 7d), between 1h and 365d"
        ))
    };
    let text = text.trim();
    let (number, factor) = match text.strip_suffix('d') {
        Some(n) => (n, 24),
        None => (text.strip_suffix('h').unwrap_or(text), 1),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let hours = n.checked_mul(factor).ok_or_else(bad)?;
    if !(1..=24 * 365).contains(&hours) {
        return Err(bad());
    }
    Ok(hours)
}

/// `understudy onboard`.
pub async fn onboard(settings: &Settings, args: OnboardArgs) -> Outcome {
    let password = read_password(&args.app_password_file)?;
    let mut spec = json!({
        "url": args.url,
        "user": args.user,
        "app_password_sealed": seal(settings, &password)?,
    });
    if let Some(ttl) = &args.ttl {
        spec["ttl_hours"] = json!(parse_ttl(ttl)?);
    }
    if let Some(site) = &args.site {
        spec["site"] = json!(site);
    }
    if let Some(user) = &args.admin_user {
        spec["admin_user"] = json!(user);
    }
    if let Some(dir) = &args.out {
        let dir = if dir.is_absolute() {
            dir.clone()
        } else {
            std::env::current_dir()
                .map_err(|e| {
                    Failure::Input(format!("cannot resolve --out {}: {e}", dir.display()))
                })?
                .join(dir)
        };
        spec["out_dir"] = json!(dir);
    }
    let mut message = JobMessage::new("onboard", spec);
    message.idempotency_key = args.idempotency_key.clone();
    // With an idempotency key the id comes from the key: a repeat names the same job.
    message.job_id = Some(message.resolved_id().unwrap_or_else(Uuid::now_v7));
    check(&message)?;
    let pool = pool(settings).await?;
    understudy_worker::db::migrate(&pool).await?;
    let producer = Producer::connect(settings, "understudy-cli").await?;
    let published = producer.publish_job(message, args.priority.into()).await?;
    let id = watch::settled_id(&pool, args.idempotency_key.as_deref(), published).await?;
    if !args.json {
        eprintln!(
            "onboarding of {} enqueued: export, then a sandbox (understudy watch {id})",
            args.url
        );
    }
    watch::finish(&pool, watch::Enqueued::new(id), args.wait, args.json).await
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttl_takes_hours_or_days() {
        assert_eq!(parse_ttl("48").ok(), Some(48));
        assert_eq!(parse_ttl("48h").ok(), Some(48));
        assert_eq!(parse_ttl("7d").ok(), Some(168));
        for bad in ["0", "0h", "x", "1w", "-1", "366d", ""] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
