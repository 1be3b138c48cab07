//! Understudy's job kinds and the step API they are written against.
//!
//! A workflow is a list of named, idempotent steps run through a [`Job`]: the engine (the
//! `understudy-worker` crate) implements [`Backend`] to checkpoint each step's output, and knows
//! nothing about what a workflow does. Workflows know nothing about AMQP or the job tables.

pub mod backend;
pub mod clone;
pub mod error;
pub mod export;
pub mod job;
pub mod noop;
pub mod onboard;
pub mod provision;
pub mod registry;
pub mod resources;
pub mod retry;
pub mod rewrite;
pub mod secrets;
pub mod sites;
pub mod workflow;

pub use backend::Backend;
pub use error::{SpecError, StepError};
pub use job::{Job, JobInfo, StepRun};
pub use registry::Registry;
pub use resources::Resources;
pub use retry::RetryPolicy;
pub use workflow::Workflow;

/// Every job kind this build of Understudy knows how to run, with default provision settings.
pub fn builtin() -> Registry {
    builtin_with(provision::config::ProvisionConfig::default())
}

/// Every job kind, the sandbox kinds configured by `provision` (the worker's `[provision]`).
pub fn builtin_with(provision: provision::config::ProvisionConfig) -> Registry {
    Registry::default()
        .with(noop::Noop)
        .with(clone::CloneSite)
        .with(export::Export)
        .with(provision::Provision::new(provision.clone()))
        .with(onboard::Onboard::new(provision.clone()))
        .with(provision::SandboxLifecycle::new(provision))
}
