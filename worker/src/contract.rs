//! The message producers publish: the only thing a web app must know to enqueue a job.
//!
//! Exchange `<namespace>.jobs` (direct), routing key `interactive` or `bulk`, a JSON body
//! (see `worker/schema/job-message.v1.schema.json`) and optional W3C trace context in the
//! `traceparent` / `tracestate` headers. This file turns one delivery into a [`NewJob`] or a
//! [`Rejection`] that says what was wrong; nothing here touches the network or the database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use understudy_workflows::Registry;
use uuid::Uuid;

/// The body schema version this worker understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Namespace for job ids derived from idempotency keys, message ids or bodies (UUID v5).
const JOB_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5d1b_7a3e_9c44_4f0e_a1b2_8e6f_0d3c_2b19);

/// The JSON body of a job message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The job kind (`noop`, `clone`, `export`, ...).
    pub kind: String,
    /// The kind's own parameters.
    pub spec: Value,
    /// Chosen by the producer so it can follow the job at once; derived when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    /// Enqueueing the same key twice yields one job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Jobs with the same key (e.g. a site) never run at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<String>,
    /// When the producer enqueued it (for latency figures); the receive time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_at: Option<DateTime<Utc>>,
}

impl JobMessage {
    pub fn new(kind: impl Into<String>, spec: Value) -> Self {
        JobMessage {
            schema: SCHEMA_VERSION,
            kind: kind.into(),
            spec,
            job_id: None,
            idempotency_key: None,
            concurrency_key: None,
            enqueued_at: None,
        }
    }

    /// The job id this message will get: explicit, or derived from the idempotency key.
    pub fn resolved_id(&self) -> Option<Uuid> {
        self.job_id.or_else(|| {
            self.idempotency_key
                .as_deref()
                .map(|key| Uuid::new_v5(&JOB_ID_NAMESPACE, format!("idem:{key}").as_bytes()))
        })
    }
}

/// Which queue a job goes through; interactive jobs are claimed ahead of bulk ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_priority", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Interactive,
    Bulk,
}

impl Priority {
    pub const ALL: [Priority; 2] = [Priority::Interactive, Priority::Bulk];

    pub fn routing_key(self) -> &'static str {
        match self {
            Priority::Interactive => "interactive",
            Priority::Bulk => "bulk",
        }
    }

    pub fn from_routing_key(key: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.routing_key() == key)
    }
}

/// A validated job, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: String,
    pub spec: Value,
    pub priority: Priority,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// Why a message cannot become a job; recorded with the message in the dead-letter table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// What arrived, as the parser needs it.
pub struct Incoming<'a> {
    pub body: &'a [u8],
    pub routing_key: &'a str,
    pub message_id: Option<&'a str>,
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
    pub max_body_bytes: usize,
}

/// Parses and validates one delivery.
pub fn parse(incoming: &Incoming<'_>, registry: &Registry) -> Result<NewJob, Rejection> {
    fn reject<T>(message: String) -> Result<T, Rejection> {
        Err(Rejection(message))
    }
    if incoming.body.len() > incoming.max_body_bytes {
        return reject(format!(
            "body is {} bytes, more than the {} allowed (amqp.max_body_bytes); put large data \
             elsewhere and pass a reference in the spec",
            incoming.body.len(),
            incoming.max_body_bytes
        ));
    }
    let Some(priority) = Priority::from_routing_key(incoming.routing_key) else {
        return reject(format!(
            "routing key {:?} is neither \"interactive\" nor \"bulk\"",
            incoming.routing_key
        ));
    };
    let value: Value = serde_json::from_slice(incoming.body)
        .map_err(|e| Rejection(format!("body is not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return reject("body must be a JSON object".into());
    };
    match object.get("schema") {
        None => return reject(format!("missing field \"schema\" (use {SCHEMA_VERSION})")),
        Some(v) if v.as_u64() != Some(SCHEMA_VERSION as u64) => {
            return reject(format!(
                "unknown schema version {v} (this worker understands {SCHEMA_VERSION})"
            ))
        }
        Some(_) => {}
    }
    let message: JobMessage = serde_json::from_value(value)
        .map_err(|e| Rejection(format!("body does not match the job message schema: {e}")))?;
    let Some(workflow) = registry.get(&message.kind) else {
        return reject(format!(
            "unknown kind {:?} (this worker runs: {})",
            message.kind,
            registry.kinds().join(", ")
        ));
    };
    for (field, key) in [
        ("idempotency_key", &message.idempotency_key),
        ("concurrency_key", &message.concurrency_key),
    ] {
        if let Some(key) = key {
            if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
                return reject(format!(
                    "{field} must be 1-200 characters without control characters"
                ));
            }
        }
    }
    workflow
        .validate(&message.spec)
        .map_err(|e| Rejection(e.to_string()))?;
    let id = message
        .resolved_id()
        .or_else(|| incoming.message_id.map(derive_from_message_id))
        .unwrap_or_else(|| Uuid::new_v5(&JOB_ID_NAMESPACE, incoming.body));
    Ok(NewJob {
        id,
        kind: message.kind,
        spec: message.spec,
        priority,
        idempotency_key: message.idempotency_key,
        concurrency_key: message.concurrency_key,
        enqueued_at: message.enqueued_at.unwrap_or_else(Utc::now),
        traceparent: incoming
            .traceparent
            .filter(|t| valid_traceparent(t))
            .map(str::to_string),
        tracestate: incoming
            .tracestate
            .filter(|t| t.len() <= 512 && t.is_ascii())
            .map(str::to_string),
    })
}

/// A message id that is a UUID is used as the job id; any other string is hashed into one.
fn derive_from_message_id(message_id: &str) -> Uuid {
    Uuid::parse_str(message_id)
        .unwrap_or_else(|_| Uuid::new_v5(&JOB_ID_NAMESPACE, format!("msg:{message_id}").as_bytes()))
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` (W3C Trace Context, version 00).
pub fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1] != "0".repeat(32)
        && parts[2] != "0".repeat(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incoming(body: &[u8]) -> Incoming<'_> {
        Incoming {
            body,
            routing_key: "bulk",
            message_id: None,
            traceparent: None,
            tracestate: None,
            max_body_bytes: 1024,
        }
    }

    fn reason(body: &[u8]) -> String {
        parse(&incoming(body), &understudy_workflows::builtin())
            .unwrap_err()
            .0
    }

    #[test]
    fn rejections_say_what_is_wrong() {
        assert!(reason(b"{not json").contains("not valid JSON"));
        assert!(reason(b"[1]").contains("JSON object"));
        assert!(
            reason(br#"{"kind":"noop","spec":{"steps":1}}"#).contains("missing field \"schema\"")
        );
        assert!(
            reason(br#"{"schema":2,"kind":"noop","spec":{}}"#).contains("unknown schema version 2")
        );
        assert!(reason(br#"{"schema":1,"kind":7,"spec":{}}"#).contains("does not match"));
        assert!(
            reason(br#"{"schema":1,"kind":"nope","spec":{}}"#).contains("unknown kind \"nope\"")
        );
        assert!(
            reason(br#"{"schema":1,"kind":"noop","spec":{"steps":0}}"#).contains("steps must be")
        );
        assert!(reason(br#"{"schema":1,"kind":"noop"}"#).contains("missing field `spec`"));
        assert!(reason(&[b' '; 2000]).contains("more than the 1024 allowed"));
    }

    #[test]
    fn ids_are_stable_for_redeliveries() {
        let registry = understudy_workflows::builtin();
        let body = br#"{"schema":1,"kind":"noop","spec":{"steps":1}}"#;
        let a = parse(&incoming(body), &registry).unwrap();
        let b = parse(&incoming(body), &registry).unwrap();
        assert_eq!(a.id, b.id, "same body without ids → same job");
        let keyed = json!({"schema":1,"kind":"noop","spec":{"steps":1},"idempotency_key":"k1"});
        let keyed = serde_json::to_vec(&keyed).unwrap();
        let c = parse(&incoming(&keyed), &registry).unwrap();
        let mut message = JobMessage::new("noop", json!({"steps": 1}));
        message.idempotency_key = Some("k1".into());
        assert_eq!(Some(c.id), message.resolved_id());
    }

    #[test]
    fn the_published_json_schema_matches_the_message_type() {
        let schema: Value =
            serde_json::from_str(include_str!("../schema/job-message.v1.schema.json")).unwrap();
        let mut full = JobMessage::new("noop", json!({"steps": 1}));
        full.job_id = Some(Uuid::nil());
        full.idempotency_key = Some("k".into());
        full.concurrency_key = Some("c".into());
        full.enqueued_at = Some(Utc::now());
        let fields: Vec<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let documented: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(fields, documented);
        let example = serde_json::to_vec(&schema["examples"][0]).unwrap();
        assert!(parse(&incoming(&example), &understudy_workflows::builtin()).is_ok());
    }

    #[test]
    fn traceparent_is_checked() {
        assert!(valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent("00-xyz-00f067aa0ba902b7-01"));
        assert!(!valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
    }
}
