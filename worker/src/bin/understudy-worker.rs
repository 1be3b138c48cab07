//! `understudy-worker`: consumes jobs from RabbitMQ and runs them, checkpointing in PostgreSQL.

use clap::Parser;
use std::path::PathBuf;
use understudy_worker::telemetry::Telemetry;

#[derive(Parser)]
#[command(
    version,
    about = "Runs Understudy jobs: RabbitMQ in, PostgreSQL checkpoints"
)]
struct Args {
    /// Settings file (default: ./understudy.toml when present). Env UNDERSTUDY_* overrides it.
    #[arg(long, env = "UNDERSTUDY_CONFIG")]
    config: Option<PathBuf>,
    /// Jobs run at once (overrides worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut settings = match understudy_worker::Settings::load(args.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("understudy-worker: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(concurrency) = args.concurrency {
        settings.worker.concurrency = concurrency.max(1);
    }
    let telemetry = match Telemetry::start(&settings.observability, "understudy-worker") {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("understudy-worker: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    understudy_worker::logging::init(&settings.log, telemetry.as_ref().map(Telemetry::tracer));
    if telemetry.is_some() {
        tracing::info!(
            endpoint = %Telemetry::describe(&settings.observability),
            sampling_ratio = settings.observability.sampling_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
    let shutdown = match understudy_worker::shutdown::on_signal() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("understudy-worker: cannot install signal handlers: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let registry = understudy_workflows::builtin_with(settings.provision.clone());
    let ran = understudy_worker::worker::run(settings, registry, shutdown).await;
    if let Some(telemetry) = telemetry {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "worker failed");
            eprintln!("understudy-worker: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
