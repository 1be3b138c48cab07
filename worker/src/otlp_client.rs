//! The HTTP client of the OTLP span exporter: the workspace's `reqwest` (rustls), run on the
//! process's Tokio runtime.
//!
//! The SDK's batch processor exports from a thread of its own, outside Tokio, where `reqwest`
//! cannot run; this client hands each request to the runtime it was created on and waits for
//! the answer. (It also keeps one `reqwest` in the build instead of the exporter's own.)

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};
use std::time::Duration;

/// Largest response body read from the collector (they answer with a few bytes).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// `reqwest` on a captured Tokio runtime handle.
#[derive(Debug)]
pub struct TokioHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl TokioHttpClient {
    /// Must be called inside a Tokio runtime.
    pub fn new(timeout: Duration) -> Result<TokioHttpClient, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(TokioHttpClient {
            client,
            runtime: tokio::runtime::Handle::current(),
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for TokioHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let exchange = async move {
            let response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let mut body = response.bytes().await?;
            body.truncate(MAX_RESPONSE_BYTES);
            Ok::<_, HttpError>(answer.body(body)?)
        };
        self.runtime.spawn(exchange).await?
    }
}
