//! `understudy top`: running jobs, queue depths and workers, refreshed every second on a
//! terminal; one snapshot (text or `--json`) for scripts.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;
use understudy_worker::overview::{self, Overview, OverviewError};
use understudy_worker::topology::Topology;
use understudy_worker::{amqp, Settings};

use crate::commands::{self, Failure, Outcome};
use crate::output;

#[derive(clap::Args)]
pub struct TopArgs {
    /// Print one snapshot and exit (what happens anyway when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// Print one snapshot as JSON and exit.
    #[arg(long)]
    pub json: bool,
    /// Most running jobs shown (oldest first).
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Seconds between refreshes of the live view.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
}

impl From<OverviewError> for Failure {
    fn from(e: OverviewError) -> Self {
        match e {
            OverviewError::Database(e) => e.into(),
        }
    }
}

/// RabbitMQ's side of `top`: a channel for passive declares, reopened when it broke (a failed
/// declare closes it; RabbitMQ may restart). `top` keeps showing PostgreSQL's side meanwhile.
struct Inspector<'a> {
    settings: &'a Settings,
    connection: Option<lapin::Connection>,
    channel: Option<lapin::Channel>,
}

impl Inspector<'_> {
    async fn channel(&mut self) -> Result<&lapin::Channel, String> {
        if self
            .channel
            .as_ref()
            .is_some_and(|c| c.status().connected())
        {
            return Ok(self.channel.as_ref().expect("checked"));
        }
        self.channel = None;
        if !self
            .connection
            .as_ref()
            .is_some_and(|c| c.status().connected())
        {
            self.connection = Some(
                amqp::connect(self.settings, "understudy-top")
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let connection = self.connection.as_ref().expect("just connected");
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("RabbitMQ refused a channel: {e}; is it healthy?"))?;
        Ok(self.channel.insert(channel))
    }
}

pub async fn top(settings: &Settings, args: TopArgs) -> Outcome {
    if !(0.1..=3600.0).contains(&args.interval) {
        return Err(Failure::Input(
            "--interval must be between 0.1 and 3600 seconds".into(),
        ));
    }
    let pool = commands::pool(settings).await?;
    let mut inspector = Inspector {
        settings,
        connection: None,
        channel: None,
    };
    let topology = Topology::new(&settings.amqp.namespace, settings.amqp.delivery_limit);
    let live = !args.once && !args.json && std::io::stdout().is_terminal();
    if !live {
        let channel = inspector.channel().await;
        let view = overview::read(&pool, channel, &topology, args.limit).await?;
        if args.json {
            output::json(&view);
        } else {
            out_raw!("{}", render(&view, args.limit));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(args.interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
        let channel = inspector.channel().await;
        let screen = match overview::read(&pool, channel, &topology, args.limit).await {
            Ok(view) => render(&view, args.limit),
            Err(e) => format!(
                "understudy top: {e}\n(retrying every {}s; Ctrl-C to quit)\n",
                args.interval
            ),
        };
        // Home, clear, then the frame: one write, so the screen does not flicker.
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "\x1b[H\x1b[2J{screen}");
        let _ = stdout.flush();
    }
}

/// The text view of one snapshot.
pub fn render(view: &Overview, limit: i64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "understudy top · {} · {} running · {} worker{}",
        view.at.format("%Y-%m-%d %H:%M:%S UTC"),
        view.running.len(),
        view.workers.len(),
        if view.workers.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14} {:>8} {:>12} {:>10}",
        "QUEUE", "WAITING", "IN RABBITMQ", "CONSUMERS"
    );
    let known = |n: Option<u32>| n.map_or("?".to_string(), |n| n.to_string());
    for q in &view.queues {
        let _ = writeln!(
            out,
            "{:<14} {:>8} {:>12} {:>10}",
            q.priority.routing_key(),
            q.waiting,
            known(q.in_rabbitmq),
            known(q.consumers)
        );
    }
    let _ = writeln!(
        out,
        "{:<14} {:>8} {:>12}",
        "dead letters",
        view.dead_letters.stored,
        known(view.dead_letters.in_rabbitmq)
    );
    if let Some(error) = &view.rabbitmq_error {
        let _ = writeln!(out, "RabbitMQ not read (?): {error}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<34} {:>9} {:>10}  HTTP",
        "WORKER", "RUNNING", "HEARTBEAT"
    );
    if view.workers.is_empty() {
        let _ = writeln!(out, "(no live worker: start understudy-worker)");
    }
    for w in &view.workers {
        let _ = writeln!(
            out,
            "{:<34} {:>9} {:>10}  {}",
            clip(&w.id, 34),
            format!("{}/{}", w.running, w.concurrency),
            format!("{:.1}s ago", w.heartbeat_age_secs.max(0.0)),
            w.http_address.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<36}  {:<10} {:<16} {:<20} {:>6} {:>8}  MESSAGE",
        "JOB", "KIND", "SITE", "STEP", "PROG", "AGE"
    );
    if view.running.is_empty() {
        let _ = writeln!(out, "(nothing running)");
    }
    for job in &view.running {
        let step = match &job.last_step {
            Some(step) => format!("{} ({} done)", step, job.steps_done),
            None => "starting".to_string(),
        };
        let progress = job
            .progress_percent
            .map_or("-".to_string(), |p| format!("{p:.0}%"));
        let _ = writeln!(
            out,
            "{:<36}  {:<10} {:<16} {:<20} {:>6} {:>8}  {}",
            job.id,
            clip(&job.kind, 10),
            clip(job.site.as_deref().unwrap_or("-"), 16),
            clip(&step, 20),
            progress,
            age(job.age_secs),
            clip(job.progress_message.as_deref().unwrap_or(""), 40)
        );
    }
    if view.running.len() as i64 >= limit {
        let _ = writeln!(out, "(showing the {limit} oldest; --limit N for more)");
    }
    out
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// `42s`, `3m05s`, `2h10m`.
fn age(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}
