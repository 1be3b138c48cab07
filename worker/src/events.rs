//! Job events on the `<ns>.events` topic exchange, for web apps that show live progress.
//!
//! Routing key `<kind>.<job id>.<type>`: bind `noop.#`, `*.<job id>.*` or `#.failed`. Events are
//! published without confirms and not persisted by RabbitMQ: PostgreSQL holds the truth
//! (`job_events`, the job row); this is a live feed. When RabbitMQ is away, events are dropped
//! and counted rather than slowing jobs down.

use chrono::{DateTime, Utc};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// One event as published (JSON body, schema `worker/schema/event.v1.schema.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobEvent {
    pub schema: u32,
    pub job_id: Uuid,
    pub kind: String,
    /// `queued`, `started`, `step_completed`, `step_retrying`, `progress`, `compensating`,
    /// `step_compensated`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl JobEvent {
    pub fn new(job_id: Uuid, kind: &str, event_type: &str) -> Self {
        JobEvent {
            schema: 1,
            job_id,
            kind: kind.to_string(),
            event_type: event_type.to_string(),
            at: Utc::now(),
            attempt: None,
            step: None,
            percent: None,
            message: None,
        }
    }

    pub fn routing_key(&self) -> String {
        format!("{}.{}.{}", self.kind, self.job_id, self.event_type)
    }
}

/// Sends events to the publisher task; never blocks.
#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<JobEvent>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// Starts the publisher; it publishes on whatever channel `channel` currently holds.
    pub fn spawn(exchange: String, channel: watch::Receiver<Option<Channel>>) -> Events {
        let (tx, rx) = mpsc::channel(10_000);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(publish_loop(exchange, channel, rx, dropped.clone()));
        Events { tx, dropped }
    }

    pub fn emit(&self, event: JobEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events not published since start (queue full or RabbitMQ away).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn publish_loop(
    exchange: String,
    channel: watch::Receiver<Option<Channel>>,
    mut rx: mpsc::Receiver<JobEvent>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let current = channel.borrow().clone();
        for event in batch.drain(..) {
            let Some(channel) = current.as_ref().filter(|c| c.status().connected()) else {
                dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let body = serde_json::to_vec(&event).expect("events serialize");
            let published = channel
                .basic_publish(
                    exchange.as_str().into(),
                    event.routing_key().into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_delivery_mode(1),
                )
                .await;
            if published.is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
