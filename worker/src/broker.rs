//! The worker's RabbitMQ side: one connection, re-established on its own after any failure.
//!
//! Each connection declares the topology, then consumes the interactive, bulk and dead-letter
//! queues (a channel each, so a bulk backlog never delays an interactive delivery) and hands the
//! events publisher a channel. When the connection drops, everything is rebuilt after a backoff.

use lapin::Channel;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::amqp;
use crate::config::Settings;
use crate::contract::Priority;
use crate::health::Readiness;
use crate::intake::Intake;
use crate::topology::Topology;
use std::sync::atomic::Ordering;

/// Keeps consuming until `stop`, reconnecting as needed.
pub async fn run(
    settings: Arc<Settings>,
    worker_id: String,
    intake: Intake,
    events_channel: watch::Sender<Option<Channel>>,
    readiness: Readiness,
    stop: CancellationToken,
) {
    let topology = Topology::new(&settings.amqp.namespace, settings.amqp.delivery_limit);
    let mut delay = Duration::from_millis(100);
    while !stop.is_cancelled() {
        let began = std::time::Instant::now();
        let ended = session(
            &settings,
            &worker_id,
            &topology,
            &intake,
            &events_channel,
            &readiness,
            &stop,
        )
        .await;
        readiness.amqp_connected.store(false, Ordering::Relaxed);
        if began.elapsed() > Duration::from_secs(30) {
            delay = Duration::from_millis(100);
        }
        match ended {
            Ok(()) => return,
            Err(e) => {
                events_channel.send_replace(None);
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ connection lost; reconnecting");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    settings: &Settings,
    worker_id: &str,
    topology: &Topology,
    intake: &Intake,
    events_channel: &watch::Sender<Option<Channel>>,
    readiness: &Readiness,
    stop: &CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let connection = amqp::connect(settings, worker_id).await?;
    let setup = connection.create_channel().await?;
    topology.declare(&setup).await?;
    events_channel.send_replace(Some(setup));
    readiness.amqp_connected.store(true, Ordering::Relaxed);
    tracing::info!(target = %amqp::describe(secrecy::ExposeSecret::expose_secret(&settings.amqp_url)), "connected to RabbitMQ");

    let session_stop = stop.child_token();
    let mut consumers = tokio::task::JoinSet::new();
    let queues = [
        (topology.queue(Priority::Interactive), false),
        (topology.queue(Priority::Bulk), false),
        (topology.dead_queue(), true),
    ];
    for (queue, dead) in queues {
        let channel = connection.create_channel().await?;
        let intake = intake.clone();
        let prefetch = settings.amqp.prefetch;
        let session_stop = session_stop.clone();
        consumers.spawn(async move {
            intake
                .consume(channel, queue, prefetch, dead, session_stop)
                .await
        });
    }
    // The first consumer to end (error or stop) ends the session.
    let ended = consumers.join_next().await;
    session_stop.cancel();
    while consumers.join_next().await.is_some() {}
    let _ = connection.close(200, "worker stopping".into()).await;
    if stop.is_cancelled() {
        return Ok(());
    }
    match ended {
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Err(e)) => Err(e.into()),
        _ => Err("a consumer ended unexpectedly".into()),
    }
}
