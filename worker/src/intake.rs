//! Intake: deliveries from RabbitMQ become job rows (or dead letters), then are acknowledged.
//!
//! A delivery is acked as soon as its row is committed, so no delivery is held while a job runs
//! (RabbitMQ's `consumer_timeout` never fires, a delivery slot is never occupied for hours).
//! Inserting is an idempotent upsert keyed by job id and idempotency key: a redelivered or
//! duplicated message is a no-op. Deliveries are written in batches (one transaction for all that
//! arrived while the previous batch committed).

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Acker;
use lapin::Channel;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use understudy_workflows::Registry;
use uuid::Uuid;

use crate::contract::{self, Incoming, NewJob};
use crate::events::{Events, JobEvent};
use crate::headers;
use crate::ledger::is_transient;
use crate::metrics::Metrics;

/// Bodies larger than this are stored truncated in the dead-letter table.
const MAX_STORED_BODY: usize = 16 * 1024 * 1024;
const BATCH: usize = 512;

/// A message that cannot become a job, with the reason.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub routing_key: String,
    pub reason: String,
    pub message_id: Option<String>,
    pub headers: Value,
    pub body: Vec<u8>,
    pub body_size: usize,
}

impl DeadLetter {
    fn new(delivery: &lapin::message::Delivery, reason: String) -> DeadLetter {
        let headers_table = delivery.properties.headers().as_ref();
        let mut reason = reason;
        let mut body = delivery.data.clone();
        if body.len() > MAX_STORED_BODY {
            body.truncate(MAX_STORED_BODY);
            reason.push_str(" (body stored truncated to 16 MiB; it cannot be replayed)");
        }
        DeadLetter {
            routing_key: delivery.routing_key.as_str().to_string(),
            reason,
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str().to_string()),
            headers: headers::to_json(headers_table),
            body,
            body_size: delivery.data.len(),
        }
    }
}

/// What a delivery turned into.
pub enum Arrival {
    Job(NewJob),
    Dead(DeadLetter),
}

struct Delivered {
    arrival: Arrival,
    acker: Acker,
}

/// Feeds deliveries to the intake writer.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Delivered>,
    registry: Arc<Registry>,
    max_body_bytes: usize,
}

impl Intake {
    /// Starts the writer task. `wake` is notified when new jobs were committed.
    pub fn spawn(
        pool: PgPool,
        registry: Arc<Registry>,
        max_body_bytes: usize,
        events: Events,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
        stop: CancellationToken,
    ) -> (Intake, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(BATCH * 2);
        let task = tokio::spawn(write_loop(pool, rx, events, metrics, wake, stop));
        (
            Intake {
                tx,
                registry,
                max_body_bytes,
            },
            task,
        )
    }

    /// Consumes `queue` until `stop` or a channel error. `dead_queue` deliveries are recorded as
    /// dead letters with the broker's reason; others are parsed as job messages.
    pub async fn consume(
        &self,
        channel: Channel,
        queue: String,
        prefetch: u16,
        dead_queue: bool,
        stop: CancellationToken,
    ) -> Result<(), lapin::Error> {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        loop {
            let delivery = tokio::select! {
                next = consumer.next() => next,
                _ = stop.cancelled() => return Ok(()),
            };
            let delivery = match delivery {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            };
            let arrival = if dead_queue {
                let reason = headers::broker_death_reason(delivery.properties.headers().as_ref());
                Arrival::Dead(DeadLetter::new(&delivery, reason))
            } else {
                self.parse(&delivery)
            };
            let delivered = Delivered {
                arrival,
                acker: delivery.acker.clone(),
            };
            if self.tx.send(delivered).await.is_err() {
                return Ok(());
            }
        }
    }

    fn parse(&self, delivery: &lapin::message::Delivery) -> Arrival {
        let header_table = delivery.properties.headers().as_ref();
        let traceparent = headers::text(header_table, "traceparent");
        let tracestate = headers::text(header_table, "tracestate");
        let incoming = Incoming {
            body: &delivery.data,
            routing_key: delivery.routing_key.as_str(),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str()),
            traceparent: traceparent.as_deref(),
            tracestate: tracestate.as_deref(),
            max_body_bytes: self.max_body_bytes,
        };
        match contract::parse(&incoming, &self.registry) {
            Ok(job) => Arrival::Job(job),
            Err(rejection) => {
                tracing::warn!(reason = %rejection, "message dead-lettered");
                Arrival::Dead(DeadLetter::new(delivery, rejection.0))
            }
        }
    }
}

async fn write_loop(
    pool: PgPool,
    mut rx: mpsc::Receiver<Delivered>,
    events: Events,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let delivered = std::mem::take(&mut batch);
        let mut delay = Duration::from_millis(50);
        let inserted = loop {
            match store(&pool, &delivered).await {
                Ok(inserted) => break Some(inserted),
                Err(e) if is_transient(&e) && !stop.is_cancelled() => {
                    tracing::warn!(error = %e, "storing deliveries failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.cancelled() => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    // Not acked: RabbitMQ redelivers (and dead-letters after the delivery limit).
                    tracing::error!(error = %e, "storing deliveries failed; they will be redelivered");
                    break None;
                }
            }
        };
        let Some(inserted) = inserted else { continue };
        let dead = delivered
            .iter()
            .filter(|d| matches!(d.arrival, Arrival::Dead(_)))
            .count();
        metrics
            .dead_lettered
            .fetch_add(dead as u64, std::sync::atomic::Ordering::Relaxed);
        for d in &delivered {
            if let Err(e) = d.acker.ack(BasicAckOptions::default()).await {
                tracing::debug!(error = %e, "ack failed; the redelivery will be a no-op");
            }
        }
        if !inserted.is_empty() {
            wake.notify_one();
            for d in &delivered {
                if let Arrival::Job(job) = &d.arrival {
                    if inserted.contains(&job.id) {
                        events.emit(JobEvent::new(job.id, &job.kind, "queued"));
                    }
                }
            }
        }
    }
}

/// One transaction: new jobs (duplicates ignored) and dead letters. Returns the new job ids.
async fn store(pool: &PgPool, delivered: &[Delivered]) -> Result<Vec<Uuid>, sqlx::Error> {
    let jobs: Vec<&NewJob> = delivered
        .iter()
        .filter_map(|d| match &d.arrival {
            Arrival::Job(job) => Some(job),
            Arrival::Dead(_) => None,
        })
        .collect();
    let dead: Vec<&DeadLetter> = delivered
        .iter()
        .filter_map(|d| match &d.arrival {
            Arrival::Dead(dead) => Some(dead),
            Arrival::Job(_) => None,
        })
        .collect();
    let mut tx = pool.begin().await?;
    let mut inserted = Vec::new();
    if !jobs.is_empty() {
        inserted = sqlx::query_scalar(
            "WITH input AS ( \
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::job_priority[], \
                    $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[]) \
                AS i(id, kind, spec, priority, idempotency_key, concurrency_key, enqueued_at, \
                     traceparent, tracestate) \
             ) \
             INSERT INTO jobs (id, kind, spec, priority, idempotency_key, concurrency_key, \
                               enqueued_at, traceparent, tracestate) \
             SELECT * FROM input \
             ON CONFLICT DO NOTHING \
             RETURNING id",
        )
        .bind(jobs.iter().map(|j| j.id).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.spec.clone()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>())
        .bind(
            jobs.iter()
                .map(|j| j.idempotency_key.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.concurrency_key.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(jobs.iter().map(|j| j.enqueued_at).collect::<Vec<_>>())
        .bind(
            jobs.iter()
                .map(|j| j.traceparent.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.tracestate.as_deref())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await?;
    }
    if !dead.is_empty() {
        sqlx::query(
            "INSERT INTO dead_letters (routing_key, reason, message_id, headers, body, body_size) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[], $6::int[])",
        )
        .bind(dead.iter().map(|d| d.routing_key.as_str()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.message_id.as_deref()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.headers.clone()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.body.as_slice()).collect::<Vec<_>>())
        .bind(dead.iter().map(|d| d.body_size as i32).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}
