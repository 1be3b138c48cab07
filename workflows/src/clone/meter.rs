//! Bytes read from a stream by a blocking filter, reported as step progress while it runs.

use std::future::Future;
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A shared count of bytes read.
#[derive(Clone, Default)]
pub struct Meter(Arc<AtomicU64>);

impl Meter {
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// `input`, counting what is consumed from it into this meter.
    pub fn reader<'a>(&self, input: &'a mut dyn BufRead) -> Metered<'a> {
        Metered {
            input,
            meter: self.clone(),
        }
    }

    /// Runs `work`, calling `report` with the bytes read so far every `every` until it ends.
    pub async fn while_running<T>(
        &self,
        work: impl Future<Output = T>,
        every: Duration,
        mut report: impl FnMut(u64),
    ) -> T {
        tokio::pin!(work);
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tick.tick() => report(self.bytes()),
            }
        }
    }
}

/// A reader counting its bytes into a [`Meter`].
pub struct Metered<'a> {
    input: &'a mut dyn BufRead,
    meter: Meter,
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.meter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl BufRead for Metered<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.input.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.input.consume(amt);
        self.meter.0.fetch_add(amt as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_reads() {
        let meter = Meter::default();
        let mut data: &[u8] = b"one\ntwo\nthree";
        let mut reader = meter.reader(&mut data);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!(meter.bytes(), 4);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(meter.bytes(), 13);
    }

    #[tokio::test]
    async fn reports_while_the_work_runs() {
        let meter = Meter::default();
        // The work ends only once a report has been made.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let out = meter
            .while_running(
                async { rx.await.expect("reported") },
                Duration::from_millis(5),
                |bytes| {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(bytes + 7);
                    }
                },
            )
            .await;
        assert_eq!(out, 7);
    }
}
