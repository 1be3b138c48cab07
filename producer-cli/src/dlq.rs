//! `understudy dlq list|replay`: messages that could not become jobs, and sending them again.

use std::process::ExitCode;
use understudy_worker::producer::{Outgoing, Producer};
use understudy_worker::queries::{self, DeadLetterView};
use understudy_worker::Settings;

use crate::cli::DlqCommand;
use crate::commands::{pool, Failure, Outcome};
use crate::output;

pub async fn run(settings: &Settings, command: DlqCommand) -> Outcome {
    let pool = pool(settings).await?;
    match command {
        DlqCommand::List { all, limit, json } => {
            let letters = queries::dead_letters(&pool, all, limit.clamp(1, 10_000)).await?;
            if json {
                let rows: Vec<_> = letters
                    .iter()
                    .map(|d| {
                        let mut row = serde_json::to_value(d).expect("serializes");
                        row["body_preview"] = d.preview(2_000).into();
                        row
                    })
                    .collect();
                output::json(&rows);
            } else if letters.is_empty() {
                out!("no dead letters");
            } else {
                for d in &letters {
                    out!(
                        "#{:<5} {}  {:<11} {} bytes{}\n       reason: {}\n       body:   {}",
                        d.id,
                        d.received_at.format("%Y-%m-%d %H:%M:%S"),
                        d.routing_key,
                        d.body_size,
                        if d.replay_count > 0 {
                            format!(", replayed {}×", d.replay_count)
                        } else {
                            String::new()
                        },
                        d.reason,
                        d.preview(160).replace('\n', " ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay { ids, all, json } => {
            let letters: Vec<DeadLetterView> = if all {
                queries::dead_letters(&pool, false, 100_000).await?
            } else if ids.is_empty() {
                return Err(Failure::Input(
                    "name the dead letters to replay (ids from `understudy dlq list`) or pass --all".into(),
                ));
            } else {
                let mut letters = Vec::new();
                for id in ids {
                    match queries::dead_letter(&pool, id).await? {
                        Some(d) => letters.push(d),
                        None => {
                            return Err(Failure::NotFound(format!(
                                "dead letter #{id} not found (see `understudy dlq list --all`)"
                            )))
                        }
                    }
                }
                letters
            };
            let producer = Producer::connect(settings, "understudy-cli").await?;
            let mut replayed = Vec::new();
            for d in &letters {
                if d.body.len() < d.body_size as usize {
                    eprintln!(
                        "understudy: skipping #{}: its body was stored truncated",
                        d.id
                    );
                    continue;
                }
                let text = |name: &str| {
                    d.headers
                        .get(name)
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                };
                let routing_key = if d.routing_key == "interactive" || d.routing_key == "bulk" {
                    d.routing_key.clone()
                } else {
                    "bulk".to_string()
                };
                let outgoing = Outgoing {
                    message_id: d.message_id.clone(),
                    traceparent: text("traceparent"),
                    tracestate: text("tracestate"),
                    ..Outgoing::raw(&routing_key, d.body.clone())
                };
                producer.publish(&[outgoing]).await?;
                queries::mark_replayed(&pool, d.id).await?;
                replayed.push(d.id);
            }
            if json {
                output::json(&serde_json::json!({ "replayed": replayed }));
            } else {
                out!("replayed {} message(s)", replayed.len());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
