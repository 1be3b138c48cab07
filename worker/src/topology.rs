//! RabbitMQ names and their declaration: what exists on the broker, and why.
//!
//! ```text
//! <ns>.jobs (direct) ──interactive──▶ <ns>.interactive (quorum) ─┐
//!                    └─────bulk─────▶ <ns>.bulk        (quorum) ─┴─ x-delivery-limit ─▶ <ns>.dead (fanout) ─▶ <ns>.dead (quorum)
//! <ns>.events (topic): <kind>.<job id>.<event type>, for web apps that show live progress
//! ```
//! Declaring is idempotent; workers and the CLI both declare before use, so a message published
//! before any worker ever ran is kept.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::contract::Priority;

/// A namespace becomes part of every name: 1-40 of `[a-z0-9_-]`, starting with a letter.
pub fn valid_namespace(ns: &str) -> bool {
    (1..=40).contains(&ns.len())
        && ns.starts_with(|c: char| c.is_ascii_lowercase())
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The names of one namespace's exchanges and queues.
#[derive(Debug, Clone)]
pub struct Topology {
    pub namespace: String,
    pub delivery_limit: u32,
}

impl Topology {
    pub fn new(namespace: &str, delivery_limit: u32) -> Self {
        Topology {
            namespace: namespace.to_string(),
            delivery_limit,
        }
    }

    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.namespace)
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.namespace)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.namespace)
    }

    pub fn queue(&self, priority: Priority) -> String {
        format!("{}.{}", self.namespace, priority.routing_key())
    }

    /// Declares everything (idempotent). Fails when a queue exists with other arguments.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let none = FieldTable::default();
        channel
            .exchange_declare(
                self.jobs_exchange().into(),
                ExchangeKind::Direct,
                durable,
                none.clone(),
            )
            .await?;
        channel
            .exchange_declare(
                self.events_exchange().into(),
                ExchangeKind::Topic,
                durable,
                none.clone(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_exchange().into(),
                ExchangeKind::Fanout,
                durable,
                none.clone(),
            )
            .await?;
        let queue_options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(self.dead_queue().into(), queue_options, quorum(None))
            .await?;
        channel
            .queue_bind(
                self.dead_queue().into(),
                self.dead_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                none.clone(),
            )
            .await?;
        for priority in Priority::ALL {
            let arguments = quorum(Some((self.dead_exchange(), self.delivery_limit)));
            channel
                .queue_declare(self.queue(priority).into(), queue_options, arguments)
                .await?;
            channel
                .queue_bind(
                    self.queue(priority).into(),
                    self.jobs_exchange().into(),
                    priority.routing_key().into(),
                    QueueBindOptions::default(),
                    none.clone(),
                )
                .await?;
        }
        Ok(())
    }
}

fn quorum(dead_letter: Option<(String, u32)>) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    if let Some((exchange, limit)) = dead_letter {
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from(exchange)),
        );
        args.insert(
            ShortString::from("x-delivery-limit"),
            AMQPValue::LongLongInt(limit as i64),
        );
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_validated() {
        assert!(valid_namespace("understudy"));
        assert!(valid_namespace("t_1a-b"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace("1abc"));
        assert!(!valid_namespace("a.b"));
        assert!(!valid_namespace("a;drop"));
        assert!(!valid_namespace(&"a".repeat(41)));
    }
}
