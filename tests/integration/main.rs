//! Integration tests against the real services. One test binary (one link) with a module per
//! area; every test has its own database and RabbitMQ namespace, so they run in parallel.

mod cli;
mod clone_anonymize;
mod clone_anonymize_resume;
mod clone_fast;
mod clone_mysql;
mod clone_pg;
mod clone_snapshot;
mod clone_values;
mod engine_basics;
mod engine_control;
mod engine_crash;
mod engine_fencing;
mod engine_input;
mod export;
mod export_faults;
mod export_support;
mod fault_matrix;
mod hostile_clone;
mod hostile_export;
mod hostile_operations;
mod hostile_provision;
mod import_fidelity;
mod observability;
mod onboard;
mod provision;
mod secrets;
mod traces;
