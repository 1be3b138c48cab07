//! Log output: `tracing` as JSON (one object per line, for log shippers) or human-readable when
//! attached to a terminal. Fields carry job id, kind, attempt and step; never secrets. With a
//! trace pipeline ([`crate::telemetry`]), the same spans are also exported as OpenTelemetry spans.

use opentelemetry_sdk::trace::Tracer;
use std::io::IsTerminal;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogSettings;
use crate::telemetry;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`. `tracer`, when
/// given, exports Understudy's spans whatever the log level.
pub fn init(settings: &LogSettings, tracer: Option<Tracer>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let json = match settings.format.as_str() {
        "json" => true,
        "human" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let Some(tracer) = tracer else {
        // Without traces, as before: one global filter, so disabled spans cost nothing.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = if json {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .try_init()
        } else {
            builder.compact().try_init()
        };
        return;
    };
    let output: Box<dyn Layer<Registry> + Send + Sync> = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        fmt::layer().compact().with_writer(std::io::stderr).boxed()
    };
    // Per-layer filters: the log level does not hide spans from the trace exporter.
    let _ = tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .with(telemetry::layer(tracer))
        .try_init();
}
