//! The worker's small HTTP listener (127.0.0.1 by default): `/healthz` (the process answers),
//! `/readyz` (PostgreSQL and RabbitMQ reachable, migrations current) and `/metrics` (Prometheus).
//! Plain HTTP/1.1, GET only, one request per connection: enough for probes and scrapers.

use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What `/readyz` checks besides PostgreSQL.
#[derive(Clone, Default)]
pub struct Readiness {
    /// Set by the broker session while it is connected.
    pub amqp_connected: Arc<AtomicBool>,
}

/// Serves until `stop`. Returns the bound address (useful with port 0).
pub async fn serve(
    listen: &str,
    pool: PgPool,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    stop: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
                _ = stop.cancelled() => return,
            };
            let (pool, metrics, readiness) = (pool.clone(), metrics.clone(), readiness.clone());
            tokio::spawn(async move {
                // Read the request head (it may arrive in pieces), at most 8 KiB.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    let read =
                        tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
                    match read {
                        Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let request = String::from_utf8_lossy(&head);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, content_type, body) = match path {
                    "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                    "/readyz" => ready(&pool, &readiness).await,
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "try /healthz, /readyz or /metrics\n".into(),
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(address)
}

async fn ready(pool: &PgPool, readiness: &Readiness) -> (&'static str, &'static str, String) {
    let mut problems = Vec::new();
    match tokio::time::timeout(Duration::from_secs(2), crate::db::migrations_current(pool)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => problems.push("migrations pending (run `understudy migrate`)".to_string()),
        Ok(Err(e)) => problems.push(format!("PostgreSQL: {e}")),
        Err(_) => problems.push("PostgreSQL: no answer within 2 s".to_string()),
    }
    if !readiness.amqp_connected.load(Ordering::Relaxed) {
        problems.push("RabbitMQ: not connected".to_string());
    }
    if problems.is_empty() {
        ("200 OK", "text/plain", "ready\n".into())
    } else {
        (
            "503 Service Unavailable",
            "text/plain",
            format!("{}\n", problems.join("\n")),
        )
    }
}
