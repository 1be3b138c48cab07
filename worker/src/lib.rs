//! Understudy's durable job engine.
//!
//! Producers publish job messages to RabbitMQ ([`contract`], [`topology`]); workers take them in
//! ([`intake`]), store them in PostgreSQL, the source of truth, and ack at once. Jobs are then
//! [`claim`]ed under a [`lease`] with a fencing token, run by the [`runner`] as named steps whose
//! outputs the [`ledger`] checkpoints before the next step starts, and [`rescue`]d when a worker
//! dies. The engine knows nothing of WordPress: job kinds live in `understudy-workflows`.

pub mod amqp;
pub mod broker;
pub mod claim;
pub mod config;
pub mod contract;
pub mod db;
pub mod events;
pub mod faults;
pub mod headers;
pub mod health;
pub mod intake;
pub mod lease;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod otlp_client;
pub mod overview;
pub mod producer;
pub mod queries;
pub mod rescue;
pub mod runner;
pub mod scheduler;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod topology;
pub mod worker;

pub use config::Settings;
