//! Leader election on a `coordination.k8s.io/v1` Lease, sans-IO: the
//! driver (`lease_io`) reads the Lease, asks [`Elector::decide`] what to
//! write, writes it with the read `resourceVersion` (so of two candidates
//! racing, one gets a conflict), and reports the result.
//!
//! The timing follows client-go's leaderelection package (facts: lease
//! duration 15 s, renew deadline 10 s, retry period 2 s by default): a
//! candidate may take the Lease only when its record has not changed for a
//! whole lease duration *as observed locally*, so clocks need not agree
//! across nodes; a leader that could not renew for the renew deadline
//! stops leading (it stops writing before anyone else may take over).
//! The lease duration a candidate waits out is the one the holder wrote in
//! `spec.leaseDurationSeconds` (client-go reads it from the record too), so
//! replicas started with different flags do not overlap.

use std::time::{Duration, Instant};

/// Timing of the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a record stays valid without a renewal.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often a candidate or leader tries.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What the driver read of the Lease (`spec`), compared as a whole to see
/// whether the record changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseView {
    /// `spec.holderIdentity`.
    pub holder: Option<String>,
    /// `spec.renewTime`, as the API server printed it (only compared).
    pub renew_time: Option<String>,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
    /// `spec.leaseDurationSeconds`: how long the holder's record is valid
    /// (None or not positive: our own lease duration applies).
    pub duration_seconds: Option<i32>,
}

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create one held by us.
    Create,
    /// Write ourselves as holder with a fresh renewTime; `taken` when the
    /// Lease changes hands (acquireTime and leaseTransitions + 1).
    Update {
        /// A change of holder.
        taken: bool,
    },
    /// Someone else holds a valid Lease.
    Wait,
}

/// One candidate's view of the election.
#[derive(Debug)]
pub struct Elector {
    id: String,
    timing: Timing,
    /// The record last read and when it was first seen as it is.
    observed: Option<(LeaseView, Instant)>,
    /// When we last wrote ourselves as holder successfully.
    renewed: Option<Instant>,
}

impl Elector {
    /// A candidate named `id`.
    pub fn new(id: impl Into<String>, timing: Timing) -> Self {
        Elector {
            id: id.into(),
            timing,
            observed: None,
            renewed: None,
        }
    }

    /// Our identity (the Lease's holderIdentity when we lead).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The timing.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Whether we lead at `now`: our last successful renewal is younger
    /// than the renew deadline (shorter than the lease duration, so we stop
    /// before a follower may take over).
    pub fn is_leader(&self, now: Instant) -> bool {
        self.renewed
            .is_some_and(|t| now.saturating_duration_since(t) < self.timing.renew_deadline)
    }

    /// Decides what to write, given the Lease as just read (`None`: it does
    /// not exist).
    pub fn decide(&mut self, now: Instant, seen: Option<LeaseView>) -> Decision {
        let Some(seen) = seen else {
            self.observed = None;
            return Decision::Create;
        };
        // Remember when the record last changed, by our own clock.
        match &self.observed {
            Some((v, _)) if *v == seen => {}
            _ => self.observed = Some((seen.clone(), now)),
        }
        let since = self.observed.as_ref().map_or(now, |(_, t)| *t);
        let holder = seen.holder.as_deref().filter(|h| !h.is_empty());
        match holder {
            Some(h) if h == self.id => Decision::Update { taken: false },
            // Unheld (released) Lease: free to take.
            None => Decision::Update { taken: true },
            Some(_) => {
                // The holder's own validity, not ours: a holder started
                // with a longer lease duration renews less often.
                let valid = seen
                    .duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0)
                    .map_or(self.timing.lease_duration, Duration::from_secs);
                if now.saturating_duration_since(since) >= valid {
                    Decision::Update { taken: true }
                } else {
                    self.renewed = None;
                    Decision::Wait
                }
            }
        }
    }

    /// Reports the result of the write [`Elector::decide`] asked for.
    /// `start` is when the attempt began (a slow write must not extend the
    /// lease beyond what the API server recorded).
    pub fn written(&mut self, start: Instant, ok: bool) {
        if ok {
            self.renewed = Some(start);
            // Our write changed the record; the next read shows it.
            self.observed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(h: &str, renew: &str) -> Option<LeaseView> {
        Some(LeaseView {
            holder: Some(h.into()),
            renew_time: Some(renew.into()),
            transitions: 0,
            duration_seconds: Some(15),
        })
    }

    #[test]
    fn a_missing_lease_is_created_and_its_creator_leads() {
        let t0 = Instant::now();
        let mut e = Elector::new("a", Timing::default());
        assert_eq!(e.decide(t0, None), Decision::Create);
        assert!(!e.is_leader(t0), "no leadership before the write succeeds");
        e.written(t0, true);
        assert!(e.is_leader(t0));
    }

    #[test]
    fn follower_waits_while_the_holder_renews_and_takes_over_after_a_lease_duration() {
        let t0 = Instant::now();
        let mut b = Elector::new("b", Timing::default());
        assert_eq!(b.decide(t0, held_by("a", "r1")), Decision::Wait);
        // The holder renews every 2 s: the record changes, b keeps waiting
        // even past 15 s from its first look.
        let mut t = t0;
        for i in 0..10 {
            t += Duration::from_secs(2);
            assert_eq!(
                b.decide(t, held_by("a", &format!("r{}", i + 2))),
                Decision::Wait
            );
        }
        // The holder dies: the record stays as it is.
        let dead = t;
        t += Duration::from_secs(14);
        assert_eq!(b.decide(t, held_by("a", "r11")), Decision::Wait);
        t = dead + Duration::from_secs(15);
        assert_eq!(
            b.decide(t, held_by("a", "r11")),
            Decision::Update { taken: true }
        );
        b.written(t, true);
        assert!(b.is_leader(t));
    }

    #[test]
    fn leader_that_cannot_renew_steps_down_before_the_lease_expires() {
        let t0 = Instant::now();
        let timing = Timing::default();
        let mut a = Elector::new("a", timing);
        assert_eq!(
            a.decide(t0, held_by("a", "r1")),
            Decision::Update { taken: false }
        );
        a.written(t0, true);
        let t = t0 + Duration::from_secs(4);
        a.decide(t, held_by("a", "r1"));
        a.written(t, false);
        assert!(a.is_leader(t0 + Duration::from_secs(9)));
        assert!(!a.is_leader(t0 + timing.renew_deadline));
        assert!(timing.renew_deadline < timing.lease_duration);
    }

    #[test]
    fn an_unheld_lease_is_taken_at_once() {
        let t0 = Instant::now();
        let mut e = Elector::new("b", Timing::default());
        let released = Some(LeaseView {
            holder: Some(String::new()),
            renew_time: None,
            transitions: 3,
            duration_seconds: None,
        });
        assert_eq!(e.decide(t0, released), Decision::Update { taken: true });
    }

    #[test]
    fn a_leader_seeing_another_holder_stops_leading() {
        let t0 = Instant::now();
        let mut a = Elector::new("a", Timing::default());
        a.decide(t0, None);
        a.written(t0, true);
        assert_eq!(a.decide(t0, held_by("b", "r9")), Decision::Wait);
        assert!(!a.is_leader(t0));
    }

    #[test]
    fn a_follower_waits_out_the_holders_lease_duration_not_its_own() {
        let t0 = Instant::now();
        // b runs with 15 s; the holder a wrote 60 s and renews less often.
        let mut b = Elector::new("b", Timing::default());
        let held = |renew: &str| {
            Some(LeaseView {
                holder: Some("a".into()),
                renew_time: Some(renew.into()),
                transitions: 0,
                duration_seconds: Some(60),
            })
        };
        assert_eq!(b.decide(t0, held("r1")), Decision::Wait);
        let t = t0 + Duration::from_secs(30);
        assert_eq!(b.decide(t, held("r1")), Decision::Wait);
        assert!(!b.is_leader(t));
        let t = t0 + Duration::from_secs(59);
        assert_eq!(b.decide(t, held("r1")), Decision::Wait);
        let t = t0 + Duration::from_secs(60);
        assert_eq!(b.decide(t, held("r1")), Decision::Update { taken: true });
    }

    #[test]
    fn a_holder_with_a_shorter_lease_duration_is_taken_over_sooner() {
        let t0 = Instant::now();
        let mut b = Elector::new("b", Timing::default());
        let held = Some(LeaseView {
            holder: Some("a".into()),
            renew_time: Some("r1".into()),
            transitions: 0,
            duration_seconds: Some(5),
        });
        assert_eq!(b.decide(t0, held.clone()), Decision::Wait);
        let t = t0 + Duration::from_secs(5);
        assert_eq!(b.decide(t, held), Decision::Update { taken: true });
    }
}
