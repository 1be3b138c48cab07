//! AMQP headers as the engine reads them: trace context, and a JSON copy for the dead-letter table.

use lapin::types::{AMQPValue, FieldTable};
use serde_json::{json, Map, Value};

/// A header's value as text, when it is a string.
pub fn text(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    let value = headers?.inner().get(name)?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// All headers as JSON (byte strings decoded lossily), for display and replay.
pub fn to_json(headers: Option<&FieldTable>) -> Value {
    let mut map = Map::new();
    if let Some(headers) = headers {
        for (name, value) in headers.inner() {
            map.insert(name.as_str().to_string(), value_to_json(value));
        }
    }
    Value::Object(map)
}

fn value_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::ByteArray(b) => json!(format!("<{} bytes>", b.as_slice().len())),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(value_to_json).collect())
        }
        AMQPValue::FieldTable(table) => to_json(Some(table)),
        AMQPValue::DecimalValue(d) => json!(format!("{d:?}")),
        AMQPValue::Void => Value::Null,
    }
}

/// Why RabbitMQ dead-lettered a message, from its `x-death` / `x-first-death-*` headers.
pub fn broker_death_reason(headers: Option<&FieldTable>) -> String {
    let reason = text(headers, "x-first-death-reason").unwrap_or_else(|| "unknown".into());
    let queue = text(headers, "x-first-death-queue").unwrap_or_else(|| "?".into());
    match reason.as_str() {
        "delivery_limit" => format!(
            "RabbitMQ dead-lettered it from {queue}: delivered too many times (x-delivery-limit) \
             without being acknowledged; workers crashed or stalled on it"
        ),
        "rejected" => format!("RabbitMQ dead-lettered it from {queue}: a consumer rejected it"),
        "expired" => format!("RabbitMQ dead-lettered it from {queue}: its TTL expired"),
        "maxlen" => format!("RabbitMQ dead-lettered it from {queue}: the queue was full"),
        other => format!("RabbitMQ dead-lettered it from {queue} ({other})"),
    }
}
