//! Publishing job messages with publisher confirms: the CLI's (and any Rust producer's) side of
//! the contract. A publish returns only once RabbitMQ confirmed it and routed it to a queue.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tracing::Span;
use uuid::Uuid;

use crate::amqp::{self, AmqpError};
use crate::config::Settings;
use crate::contract::{JobMessage, Priority};
use crate::telemetry;
use crate::topology::Topology;

/// A confirmed-publish channel on the jobs exchange.
pub struct Producer {
    channel: Channel,
    topology: Topology,
    _connection: Connection,
}

/// A message ready to go: body and AMQP properties.
pub struct Outgoing {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub message_id: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// The producer's span (`Span::none()` when traces are off), ended when this is dropped,
    /// that is once the publish was confirmed.
    pub span: Span,
}

impl Outgoing {
    /// A job message, with its id settled (explicit, from the idempotency key, or a new UUIDv7)
    /// and a W3C trace context: the producer span's when traces are on (a child of the current
    /// span), else a fresh random one.
    pub fn job(mut message: JobMessage, priority: Priority) -> (Uuid, Outgoing) {
        let id = message.resolved_id().unwrap_or_else(Uuid::now_v7);
        message.job_id = Some(id);
        if message.enqueued_at.is_none() {
            message.enqueued_at = Some(chrono::Utc::now());
        }
        let body = serde_json::to_vec(&message).expect("job messages serialize");
        let span = producer_span(&message, id, priority);
        let (traceparent, tracestate) = match telemetry::inject(&span) {
            Some((parent, state)) => (parent, state),
            None => (new_traceparent(), None),
        };
        (
            id,
            Outgoing {
                routing_key: priority.routing_key().to_string(),
                body,
                message_id: Some(id.to_string()),
                traceparent: Some(traceparent),
                tracestate,
                span,
            },
        )
    }

    /// A message without trace context (raw bodies, replays that carry their own headers).
    pub fn raw(routing_key: &str, body: Vec<u8>) -> Outgoing {
        Outgoing {
            routing_key: routing_key.to_string(),
            body,
            message_id: None,
            traceparent: None,
            tracestate: None,
            span: Span::none(),
        }
    }

    fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (name, value) in [
            ("traceparent", &self.traceparent),
            ("tracestate", &self.tracestate),
        ] {
            if let Some(value) = value {
                headers.insert(
                    ShortString::from(name),
                    AMQPValue::LongString(LongString::from(value.as_str())),
                );
            }
        }
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers);
        if let Some(id) = &self.message_id {
            properties = properties.with_message_id(id.as_str().into());
        }
        properties
    }
}

/// `enqueue <kind>`, a producer span, when traces are on.
fn producer_span(message: &JobMessage, id: Uuid, priority: Priority) -> Span {
    if !telemetry::enabled() {
        return Span::none();
    }
    let site = message
        .concurrency_key
        .as_deref()
        .and_then(|key| key.strip_prefix("site:"))
        .unwrap_or("");
    tracing::info_span!(
        "enqueue",
        otel.name = format!("enqueue {}", message.kind),
        otel.kind = "producer",
        job_id = %id,
        kind = %message.kind,
        priority = priority.routing_key(),
        site,
    )
}

/// A random W3C `traceparent` for a new trace (sampled).
pub fn new_traceparent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

impl Producer {
    /// Connects, declares the topology (so nothing published is lost before a worker starts) and
    /// enables publisher confirms.
    pub async fn connect(settings: &Settings, name: &str) -> Result<Producer, AmqpError> {
        let connection = amqp::connect(settings, name).await?;
        let broker = |what: &str| {
            let what = what.to_string();
            move |source| AmqpError::Broker { what, source }
        };
        let channel = connection
            .create_channel()
            .await
            .map_err(broker("a channel"))?;
        let topology = Topology::new(&settings.amqp.namespace, settings.amqp.delivery_limit);
        topology.declare(&channel).await.map_err(broker(
            "the queue topology (a queue may exist with other arguments)",
        ))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(broker("publisher confirms"))?;
        Ok(Producer {
            channel,
            topology,
            _connection: connection,
        })
    }

    /// Publishes one job message and waits for its confirm; returns the job id.
    pub async fn publish_job(
        &self,
        message: JobMessage,
        priority: Priority,
    ) -> Result<Uuid, AmqpError> {
        let (id, outgoing) = Outgoing::job(message, priority);
        self.publish(&[outgoing]).await?;
        Ok(id)
    }

    /// Publishes many messages pipelined, then waits for all confirms.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<(), AmqpError> {
        let exchange = self.topology.jobs_exchange();
        let mut confirms = Vec::with_capacity(messages.len());
        for message in messages {
            let confirm = self
                .channel
                .basic_publish(
                    exchange.as_str().into(),
                    message.routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &message.body,
                    message.properties(),
                )
                .await
                .map_err(|source| AmqpError::Broker {
                    what: "the publish".into(),
                    source,
                })?;
            confirms.push((confirm, &message.routing_key));
        }
        for (confirm, routing_key) in confirms {
            let confirmation = confirm.await.map_err(|source| AmqpError::Broker {
                what: "the publish".into(),
                source,
            })?;
            if confirmation.is_nack() {
                return Err(AmqpError::NotConfirmed);
            }
            if confirmation.take_message().is_some() {
                return Err(AmqpError::Unroutable(format!(
                    "exchange {exchange}, routing key {routing_key:?}"
                )));
            }
        }
        Ok(())
    }
}
