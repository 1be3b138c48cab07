//! OpenTelemetry traces across the real RabbitMQ queue, recorded by an in-memory exporter.
//!
//! The producer and two workers run in this process (the worker library's `worker::run`, the
//! same entry point the binary calls) so that one exporter sees every span: a worker process
//! would need an OTLP collector to be observed. Everything between them is real: the message
//! goes through RabbitMQ with its `traceparent` header, the job row through PostgreSQL, and the
//! second attempt happens because the first worker really shut down mid-job and handed it back.
//! All of it runs on one current-thread runtime, on which the test's subscriber is the default.

use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use understudy_tests::{wait_for, TestEnv};
use understudy_worker::contract::Priority;
use understudy_worker::state::JobState;
use understudy_worker::{telemetry, Settings};
use understudy_workflows::Registry;

/// Keeps every exported span in memory.
#[derive(Debug, Clone, Default)]
struct Recorded(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Recorded {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

impl Recorded {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The attributes a job or step span may carry: ids, names and outcomes, nothing else.
const ALLOWED: &[&str] = &[
    "job_id",
    "kind",
    "attempt",
    "concurrency_key",
    "site",
    "outcome",
    "step",
    "priority",
];

fn start_worker(settings: &Settings, stop: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let registry = Registry::default().with(understudy_workflows::noop::Noop);
    let run = understudy_worker::worker::run(settings.clone(), registry, stop.clone());
    tokio::spawn(async move { run.await.expect("in-process worker") })
}

#[test]
fn the_producer_span_is_the_parent_of_the_first_attempt_and_a_link_of_the_next() {
    let recorded = Recorded::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(recorded.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(telemetry::layer(provider.tracer("test")));
    telemetry::set_enabled(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(subscriber, || runtime.block_on(scenario(recorded.clone())));
}

async fn scenario(recorded: Recorded) {
    let env = TestEnv::new("traces").await;
    let mut settings = env.settings.clone();
    settings.observability.listen = String::new();
    settings.data_dir = env.dir.join("data");

    // A web app handling a request enqueues the job: the producer span is a child of it.
    let request = tracing::info_span!(target: "understudy", "handle request");
    let id = env
        .enqueue(
            "noop",
            json!({"steps": 3, "step_ms": 300}),
            Priority::Interactive,
        )
        .instrument(request.clone())
        .await;
    drop(request);

    // First attempt: a worker runs step-1, then shuts down and hands the job back.
    let first_stop = CancellationToken::new();
    let first = start_worker(&settings, &first_stop);
    let pool = env.pool.clone();
    wait_for("step-1's checkpoint", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_steps WHERE job_id = $1 AND state = 'completed'",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .ok()?;
            (done >= 1).then_some(())
        }
    })
    .await;
    first_stop.cancel();
    first.await.expect("first worker");
    assert_eq!(env.state(id).await, Some(JobState::Queued), "handed back");

    // Second attempt on another worker: it finishes the job.
    let second_stop = CancellationToken::new();
    let second = start_worker(&settings, &second_stop);
    assert_eq!(
        env.wait_terminal(id, Duration::from_secs(30)).await,
        JobState::Succeeded
    );
    let job_spans = wait_for("both job spans", Duration::from_secs(10), || {
        let spans = recorded.spans();
        async move {
            let jobs: Vec<SpanData> = spans.into_iter().filter(|s| s.name == "job noop").collect();
            (jobs.len() == 2).then_some(jobs)
        }
    })
    .await;
    second_stop.cancel();
    second.await.expect("second worker");

    let spans = recorded.spans();
    let one = |name: &str| -> SpanData {
        let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one {name:?} span in {:#?}", names(&spans));
        found[0].clone()
    };
    let request = one("handle request");
    let producer = one("enqueue noop");
    assert_eq!(producer.span_kind, SpanKind::Producer);
    assert_eq!(producer.parent_span_id, request.span_context.span_id());
    assert_eq!(attr(&producer, "job_id"), Some(id.to_string()));

    // What travelled through RabbitMQ into the job row is the producer span's context.
    let traceparent: String = sqlx::query_scalar("SELECT traceparent FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .expect("traceparent");
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            producer.span_context.trace_id(),
            producer.span_context.span_id()
        )
    );

    let attempt = |n: &str| {
        job_spans
            .iter()
            .find(|s| attr(s, "attempt").as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no job span of attempt {n}"))
            .clone()
    };
    let (first_job, second_job) = (attempt("1"), attempt("2"));
    // First attempt: same trace, the producer span is its (remote) parent.
    assert_eq!(first_job.span_kind, SpanKind::Consumer);
    assert_eq!(
        first_job.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(first_job.parent_span_id, producer.span_context.span_id());
    assert!(first_job.parent_span_is_remote);
    assert!(first_job.links.links.is_empty());
    assert_eq!(attr(&first_job, "outcome").as_deref(), Some("interrupted"));
    // Second attempt: a new trace whose root links to the producer span.
    assert_ne!(
        second_job.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    assert_eq!(second_job.parent_span_id, SpanId::INVALID);
    let links: Vec<_> = second_job
        .links
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(
        links,
        [(
            producer.span_context.trace_id(),
            producer.span_context.span_id()
        )]
    );
    assert_eq!(attr(&second_job, "outcome").as_deref(), Some("succeeded"));
    for job in [&first_job, &second_job] {
        assert_eq!(attr(job, "job_id"), Some(id.to_string()));
        assert_eq!(attr(job, "kind").as_deref(), Some("noop"));
    }

    // Steps: children of their attempt's span, each step run exactly once across attempts.
    let mut steps = Vec::new();
    for step in spans.iter().filter(|s| s.name.starts_with("step ")) {
        let parent = [&first_job, &second_job]
            .into_iter()
            .find(|j| j.span_context.span_id() == step.parent_span_id)
            .unwrap_or_else(|| panic!("step span {:?} has no job parent", step.name));
        assert_eq!(step.span_context.trace_id(), parent.span_context.trace_id());
        assert_eq!(attr(step, "attempt"), attr(parent, "attempt"));
        assert_eq!(attr(step, "outcome").as_deref(), Some("succeeded"));
        steps.push((
            attr(step, "step").unwrap_or_default(),
            attr(parent, "attempt"),
        ));
    }
    steps.sort();
    assert_eq!(
        steps.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["step-1", "step-2", "step-3"],
        "{steps:?}"
    );
    assert_eq!(steps[0].1.as_deref(), Some("1"), "step-1 ran in attempt 1");
    assert_eq!(steps[2].1.as_deref(), Some("2"), "step-3 ran in attempt 2");

    // Nothing but ids, names and outcomes in span attributes (never a URL or a secret).
    for span in &spans {
        let keys: BTreeSet<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        for key in keys {
            assert!(
                ALLOWED.contains(&key),
                "span {:?} has attribute {key:?}",
                span.name
            );
        }
    }
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| s.name.to_string()).collect()
}
