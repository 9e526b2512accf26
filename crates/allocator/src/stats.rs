//! Per-pool statistics for metrics (`metallb_allocator_*`).

/// Address counts of one pool. Counts are exact `u128`s: a /64 or /48
/// IPv6 pool is counted exactly, and `avoidBuggyIPs` addresses are
/// subtracted exactly (not with MetalLB's per-/24 approximation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Pool name.
    pub pool: String,
    /// Usable IPv4 addresses.
    pub ipv4_total: u128,
    /// IPv4 addresses in use (a shared address counts once).
    pub ipv4_in_use: u128,
    /// Usable IPv6 addresses.
    pub ipv6_total: u128,
    /// IPv6 addresses in use (a shared address counts once).
    pub ipv6_in_use: u128,
    /// Services with at least one address from this pool.
    pub services: usize,
}

impl PoolStats {
    /// Usable addresses of both families, or `None` if the sum does not fit
    /// in a `u128` (only possible for an IPv6 part of almost 2^128).
    pub fn total(&self) -> Option<u128> {
        self.ipv4_total.checked_add(self.ipv6_total)
    }

    /// Addresses in use, both families (cannot overflow: in-use addresses
    /// are tracked individually).
    pub fn in_use(&self) -> u128 {
        self.ipv4_in_use.saturating_add(self.ipv6_in_use)
    }

    /// Free IPv4 addresses (never negative).
    pub fn ipv4_available(&self) -> u128 {
        self.ipv4_total.saturating_sub(self.ipv4_in_use)
    }

    /// Free IPv6 addresses (never negative).
    pub fn ipv6_available(&self) -> u128 {
        self.ipv6_total.saturating_sub(self.ipv6_in_use)
    }

    /// A count as the `int64` of `IPAddressPool.status` / a Prometheus gauge
    /// needs it: clamped to `i64::MAX` (the only lossy step, and only for
    /// counts above 2^63).
    pub fn clamp_i64(count: u128) -> i64 {
        i64::try_from(count).unwrap_or(i64::MAX)
    }
}
