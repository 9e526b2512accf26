//! Writes only while this replica leads: the writes of one pass are issued
//! up to `in_flight` at a time, none is started once the leadership watch
//! says we no longer lead, and those still in flight are abandoned then
//! (dropping the request). A pass over 10k Services is seconds of writes;
//! a replica that lost its Lease meanwhile must not keep writing beside
//! the new leader.

use crate::engine::Action;
use futures::StreamExt;
use std::future::Future;
use tokio::sync::watch;

/// Applies `todo` through `apply` while `*lead.borrow()` is true and
/// returns the results of the writes that completed, in completion order.
pub async fn while_leading<A, F, E>(
    todo: Vec<Action>,
    lead: &watch::Receiver<bool>,
    in_flight: usize,
    apply: A,
) -> Vec<(Result<(), E>, Action)>
where
    A: FnMut(Action) -> F,
    F: Future<Output = (Result<(), E>, Action)>,
{
    let mut gone = lead.clone();
    let lost = async move {
        // A closed channel: the election ended, so nobody leads.
        let _ = gone.wait_for(|leading| !*leading).await;
    };
    futures::stream::iter(todo)
        // Checked as each write is about to start.
        .take_while(|_| std::future::ready(*lead.borrow()))
        .map(apply)
        .buffer_unordered(in_flight.max(1))
        .take_until(lost)
        .collect()
        .await
}

/// The writes of a pass in the order they are started: Service statuses
/// first (what a user waits for), then pool statuses, then Events, each
/// group in the engine's order. Started together, the first requests take
/// the idle connections and the rest may wait for new ones.
pub fn status_first(mut todo: Vec<Action>) -> Vec<Action> {
    todo.sort_by_key(|a| match a {
        Action::SetStatus { .. } => 0,
        Action::PoolStatus { .. } | Action::ConfigState { .. } => 1,
        Action::Event { .. } | Action::ConfigEvent { .. } => 2,
    });
    todo
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator::ServiceKey;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn actions(n: usize) -> Vec<Action> {
        (0..n)
            .map(|i| Action::SetStatus {
                key: ServiceKey::new("default", format!("s{i}")),
                ips: vec![],
                pool: None,
            })
            .collect()
    }

    #[tokio::test]
    async fn no_write_starts_after_leadership_is_lost() {
        let (tx, rx) = watch::channel(true);
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let done = while_leading(actions(10), &rx, 1, move |a| {
            s.fetch_add(1, Ordering::SeqCst);
            // The Lease is lost while the first write runs.
            tx.send_replace(false);
            async move { (Ok::<(), ()>(()), a) }
        })
        .await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(done.len(), 1);
    }

    #[tokio::test]
    async fn writes_in_flight_are_abandoned_when_leadership_is_lost() {
        let (tx, rx) = watch::channel(true);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send_replace(false);
        });
        // Writes that never answer (a partitioned API server).
        let run = while_leading(actions(4), &rx, 16, |a| async move {
            std::future::pending::<()>().await;
            (Ok::<(), ()>(()), a)
        });
        let done = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the pass stops when leadership is lost");
        assert!(done.is_empty());
    }

    #[tokio::test]
    async fn a_leader_issues_every_write() {
        let (_tx, rx) = watch::channel(true);
        let done = while_leading(
            actions(40),
            &rx,
            16,
            |a| async move { (Ok::<(), ()>(()), a) },
        )
        .await;
        assert_eq!(done.len(), 40);
    }

    #[test]
    fn service_statuses_are_started_before_pool_statuses_and_events() {
        let key = |n: &str| ServiceKey::new("default", n);
        let ev = |n: &str| Action::Event {
            key: key(n),
            warning: false,
            reason: "IPAllocated",
            message: String::new(),
        };
        let st = |n: &str| Action::SetStatus {
            key: key(n),
            ips: vec![],
            pool: None,
        };
        let pool = Action::PoolStatus {
            pool: "p".into(),
            status: Default::default(),
        };
        // The engine's order: each Service's Event before the statuses.
        let got = status_first(vec![ev("a"), ev("b"), pool.clone(), st("a"), st("b")]);
        assert_eq!(got, vec![st("a"), st("b"), pool, ev("a"), ev("b")]);
    }
}
