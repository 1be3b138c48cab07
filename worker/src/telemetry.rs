//! OpenTelemetry traces across the queue.
//!
//! Off unless `observability.otlp_endpoint` is set. Then `tracing` spans of the producer, of each
//! job attempt and of each step are exported over OTLP/HTTP (protobuf), and the W3C trace context
//! travels in the message's `traceparent` / `tracestate` AMQP headers and the job row:
//!
//! * the producer's span (`enqueue <kind>`, kind `producer`) is injected into the headers;
//! * a job's first attempt continues that trace: its span's parent is the producer's span;
//! * a later attempt (after a crash, a hand-back or `understudy retry`) starts a new trace whose
//!   root span *links* to the producer's span, so one trace never spans hours of retries.
//!
//! When off, [`enabled`] is one relaxed atomic load and callers build no extra spans, fields or
//! maps on the hot path. Span attributes are ids, kinds, names and outcomes: never a secret.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::level_filters::LevelFilter;
use tracing::{Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::ObservabilitySettings;
use crate::otlp_client::TokioHttpClient;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// How long one OTLP export may take before it is given up (spans are dropped, jobs go on).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process waits at exit for its last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// True when this process exports traces: only then are spans for OpenTelemetry built.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns span building on or off for this process. [`Telemetry::start`] turns it on; a program
/// (or a test) that installs its own [`layer`] with another exporter calls this itself.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "observability.otlp_endpoint {endpoint} is not usable: {reason} \
         (give the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318, or leave it empty)"
    )]
    Endpoint { endpoint: String, reason: String },
}

/// The trace pipeline of one process; [`Telemetry::shutdown`] flushes what is buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Builds the OTLP exporter and batch pipeline when `otlp_endpoint` is set (`Ok(None)` when
    /// it is empty) and turns span building on. Must be called inside a Tokio runtime: exports
    /// run on it.
    pub fn start(
        settings: &ObservabilitySettings,
        default_service: &str,
    ) -> Result<Option<Telemetry>, TelemetryError> {
        if settings.otlp_endpoint.is_empty() {
            return Ok(None);
        }
        let endpoint = traces_url(&settings.otlp_endpoint)?;
        let bad = |reason: String| TelemetryError::Endpoint {
            endpoint: redact(&settings.otlp_endpoint),
            reason,
        };
        let client = TokioHttpClient::new(EXPORT_TIMEOUT).map_err(|e| bad(e.to_string()))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(client)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let service = if settings.service_name.is_empty() {
            default_service.to_string()
        } else {
            settings.service_name.clone()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sampling_ratio,
            ))))
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        set_enabled(true);
        Ok(Some(Telemetry { provider }))
    }

    /// The tracer to hand to [`layer`].
    pub fn tracer(&self) -> Tracer {
        self.provider.tracer("understudy")
    }

    /// Where spans go, without credentials, for the startup log line.
    pub fn describe(settings: &ObservabilitySettings) -> String {
        redact(&settings.otlp_endpoint)
    }

    /// Exports what is still buffered (waiting at most 3 s) and stops the pipeline. Blocks: call it from
    /// `spawn_blocking` (the export itself runs on the Tokio runtime, which must still run).
    pub fn shutdown(self) {
        set_enabled(false);
        if let Err(e) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %e, "flushing the last spans to the OTLP collector failed");
        }
    }
}

/// `BASE/v1/traces`, unless `base` already names the traces path.
fn traces_url(base: &str) -> Result<String, TelemetryError> {
    let url = reqwest::Url::parse(base).map_err(|e| TelemetryError::Endpoint {
        endpoint: redact(base),
        reason: e.to_string(),
    })?;
    if url.path().ends_with("/v1/traces") {
        return Ok(url.to_string());
    }
    Ok(format!("{}/v1/traces", url.as_str().trim_end_matches('/')))
}

/// A URL without user name, password or query (they may hold credentials).
fn redact(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// The `tracing` layer that turns Understudy's spans into OpenTelemetry spans. It only sees
/// Understudy's own spans and events (not sqlx, lapin or HTTP internals) at `info` and above.
pub fn layer<S>(tracer: Tracer) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let ours = Targets::new()
        .with_target("understudy_worker", LevelFilter::INFO)
        .with_target("understudy_workflows", LevelFilter::INFO)
        .with_target("understudy", LevelFilter::INFO)
        .with_default(LevelFilter::OFF);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(ours)
}

/// The W3C `traceparent` and `tracestate` of `span`, for a message's headers; `None` when the
/// span is not exported (traces off, or not sampled and not recorded).
pub fn inject(span: &Span) -> Option<(String, Option<String>)> {
    if span.is_none() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    Some((carrier.traceparent?, carrier.tracestate))
}

/// Ties a job attempt's span to the producer's trace context: its parent on the first attempt,
/// a link from a new root on later ones. Call before the span is first entered.
pub fn adopt(span: &Span, attempt: i32, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = Carrier {
        traceparent: Some(traceparent.to_string()),
        tracestate: tracestate.map(str::to_string),
    };
    let remote = TraceContextPropagator::new().extract(&carrier);
    let remote_span = remote.span().span_context().clone();
    if !remote_span.is_valid() {
        return;
    }
    if attempt <= 1 {
        if let Err(e) = span.set_parent(remote) {
            tracing::debug!(error = %e, "could not continue the producer's trace");
        }
    } else {
        span.add_link(remote_span);
    }
}

/// The two W3C headers, as a propagator's carrier.
#[derive(Default)]
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once_and_credentials_are_never_shown() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/v1/traces").unwrap(),
            "https://otel.example/v1/traces"
        );
        let shown = redact("https://user:hunter2@otel.example/v1/traces?api_key=s3cret");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("user"));
        assert!(traces_url("not a url").is_err());
    }

    #[test]
    fn a_span_outside_a_pipeline_injects_nothing_and_adopts_nothing() {
        let span = tracing::info_span!("job");
        assert!(inject(&span).is_none());
        adopt(
            &span,
            1,
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            None,
        );
    }
}
