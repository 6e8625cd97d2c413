//! Limits on failed key verifications: a token bucket per key (client address, key prefix).
//! Each failure takes a token; the bucket refills at `per_minute` tokens a minute up to
//! `per_minute`. An empty bucket refuses further attempts (429) until a token is back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked keys, full (idle) buckets are forgotten.
const MAX_TRACKED: usize = 50_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Failure budgets, one per key.
pub(crate) struct Throttle<K> {
    per_minute: u32,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// At most `per_minute` failures a minute per key (0: no limit).
    pub(crate) fn new(per_minute: u32) -> Throttle<K> {
        Throttle {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate_per_sec(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed * self.rate_per_sec()).min(f64::from(self.per_minute));
        bucket.updated = now;
    }

    /// Takes one failure from `key`'s budget before the attempt is made: `Err(wait)` when none
    /// is left. Taking first (and giving back on success, [`Throttle::refund`]) means attempts
    /// in flight together cannot all pass a check made before any of them failed.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            let full = f64::from(self.per_minute);
            let rate = self.rate_per_sec();
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < full
            });
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(self.per_minute),
            updated: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.rate_per_sec(),
            ))
        }
    }

    /// Gives back a failure taken for an attempt that succeeded.
    pub(crate) fn refund(&self, key: &K) {
        if self.per_minute == 0 {
            return;
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        if let Some(bucket) = buckets.get_mut(key) {
            self.refill(bucket, Instant::now());
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(self.per_minute));
        }
    }
}
