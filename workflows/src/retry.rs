//! Per-step retry policy: exponential backoff with jitter, built on `backon`.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// How often and how patiently a step with a retryable error is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in total, the first included (1 = no retry).
    pub max_tries: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub factor: f32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            factor: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The delays before the 2nd, 3rd, ... try (at most `max_tries - 1` of them), with jitter.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_tries.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_in_count_and_size() {
        let policy = RetryPolicy {
            max_tries: 4,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            factor: 2.0,
        };
        let delays: Vec<_> = policy.delays().collect();
        assert_eq!(delays.len(), 3);
        // Jitter adds up to one more min_delay-sized share; never beyond twice the cap.
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(100)));
        assert!(delays[0] >= Duration::from_millis(10));
    }
}
