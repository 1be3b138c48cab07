//! RabbitMQ connections: connecting with a clear error, and describing a URL without secrets.

use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error(
        "cannot reach RabbitMQ at {target}: {source} (start it with scripts/services-up.sh, or set \
         UNDERSTUDY_AMQP_URL)"
    )]
    Unreachable {
        target: String,
        #[source]
        source: lapin::Error,
    },
    /// The broker answered and refused the login or the virtual host.
    #[error(
        "RabbitMQ at {target} refused the connection: {reason} (the broker is up; fix the user, \
         password or vhost in amqp_url / UNDERSTUDY_AMQP_URL)"
    )]
    Refused { target: String, reason: String },
    #[error("RabbitMQ refused {what}: {source}")]
    Broker {
        what: String,
        #[source]
        source: lapin::Error,
    },
    #[error("RabbitMQ did not confirm the message (publisher confirm was a nack); publish again")]
    NotConfirmed,
    #[error("RabbitMQ could not route the message to any queue ({0}); run `understudy migrate` or start a worker so the queues exist")]
    Unroutable(String),
}

/// `host:port/vhost` of an AMQP URL, without user or password.
pub fn describe(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// Connects once, naming the connection so operators see who is who in the management UI.
pub async fn connect(settings: &Settings, name: &str) -> Result<Connection, AmqpError> {
    let url = settings.amqp_url.expose_secret();
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, properties)
        .await
        .map_err(|source| classify(describe(url), source))
}

/// ACCESS_REFUSED (bad login) and NOT_ALLOWED (no such vhost, no permission) come from a broker
/// that is up: they are not "unreachable".
fn classify(target: String, source: lapin::Error) -> AmqpError {
    let text = source.to_string();
    if text.contains("ACCESS_REFUSED") || text.contains("NOT_ALLOWED") {
        return AmqpError::Refused {
            target,
            reason: text,
        };
    }
    AmqpError::Unreachable { target, source }
}

#[cfg(test)]
mod tests {
    #[test]
    fn describe_hides_credentials() {
        assert_eq!(
            super::describe("amqp://user:s3cret@rabbit:5672/%2f?heartbeat=10"),
            "rabbit:5672/%2f"
        );
        assert_eq!(super::describe("amqp://localhost"), "localhost");
    }
}
