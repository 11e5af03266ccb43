//! Clock readings for the request path where a few milliseconds do not matter: the
//! `Date` header (whole seconds) and the age of parked upstream connections
//! (`keepalive_timeout`, seconds). The kernel's coarse clocks are read from the vDSO
//! without touching the TSC, a fraction of a full `clock_gettime()`; they lag real time
//! by at most one tick (4 ms here), as nginx's cached time lags by one event-loop turn.

use rustix::time::{clock_gettime, ClockId};

/// Seconds since the Unix epoch (`CLOCK_REALTIME_COARSE`).
pub fn unix_secs() -> u64 {
    u64::try_from(clock_gettime(ClockId::RealtimeCoarse).tv_sec).unwrap_or(0)
}

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (since boot).
pub fn mono_ms() -> u64 {
    let t = clock_gettime(ClockId::MonotonicCoarse);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clocks_track_the_precise_ones() {
        let precise = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        assert!(unix_secs().abs_diff(precise) <= 1);
        let a = mono_ms();
        let t = clock_gettime(ClockId::Monotonic);
        let precise_ms = t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000;
        // One tick (1-10 ms by the kernel's HZ) behind at most.
        assert!(precise_ms >= a && precise_ms - a <= 20, "{a} {precise_ms}");
        assert!(mono_ms() >= a);
    }
}
