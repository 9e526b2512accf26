//! Token buckets for the responder: one per source (bounded table, oldest
//! entry evicted first) and one for the whole responder, so neither one
//! flooding host nor many spoofed sources can make us send without bound.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Rates in answers per second; bursts in answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_source_rate: f64,
    pub per_source_burst: f64,
    pub global_rate: f64,
    pub global_burst: f64,
    /// Most sources tracked at once; a new source beyond it evicts the
    /// one tracked longest.
    pub max_sources: usize,
}

impl Default for RateLimit {
    /// 50 answers/s with bursts of 100 per source; 10,000/s with bursts of
    /// 20,000 in all; 4,096 sources (about 150 KiB).
    fn default() -> Self {
        RateLimit {
            per_source_rate: 50.0,
            per_source_burst: 100.0,
            global_rate: 10_000.0,
            global_burst: 20_000.0,
            max_sources: 4096,
        }
    }
}

impl RateLimit {
    /// No limit (benchmarks, tests of other rules).
    pub fn unlimited() -> Self {
        RateLimit {
            per_source_rate: f64::INFINITY,
            per_source_burst: f64::INFINITY,
            global_rate: f64::INFINITY,
            global_burst: f64::INFINITY,
            max_sources: 1,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(now: Instant, burst: f64) -> Self {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    /// Refills for the time since the last call (none if the clock went
    /// back) and takes one token if there is one.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        if self.tokens < burst {
            self.tokens = (self.tokens + dt * rate).min(burst);
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    sources: HashMap<u64, Bucket>,
    /// Keys of `sources` in insertion order, each once.
    order: VecDeque<u64>,
    global: Option<Bucket>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            sources: HashMap::new(),
            order: VecDeque::new(),
            global: None,
        }
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Whether one more answer to `source` is allowed at `now`; takes a
    /// token from the source's bucket and the global one when it is.
    pub fn allow(&mut self, now: Instant, source: u64) -> bool {
        let l = self.limit;
        if l.per_source_rate.is_infinite() && l.global_rate.is_infinite() {
            return true;
        }
        let bucket = match self.sources.get_mut(&source) {
            Some(b) => b,
            None => {
                if self.sources.len() >= l.max_sources.max(1) {
                    if let Some(old) = self.order.pop_front() {
                        self.sources.remove(&old);
                    }
                }
                self.order.push_back(source);
                self.sources
                    .entry(source)
                    .or_insert(Bucket::full(now, l.per_source_burst))
            }
        };
        // Check the source first: a flooding source must not drain the
        // global bucket that other sources share.
        if !bucket.take(now, l.per_source_rate, l.per_source_burst) {
            return false;
        }
        let global = self.global.get_or_insert(Bucket::full(now, l.global_burst));
        global.take(now, l.global_rate, l.global_burst)
    }
}
