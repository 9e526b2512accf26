//! Change tracking: what a caller that diffs reloads reads instead of
//! keeping its own copy of every assignment.

mod common;
use allocator::*;
use common::*;

#[test]
fn tracked_changes_list_each_touched_service_once_with_its_assignment_before() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/29"])]);
    for n in ["a", "b", "c"] {
        a.converge(&v4("ns", n), &[]);
    }
    assert_eq!(a.take_changes(), None, "not tracking yet");
    a.track_changes();
    let before_b = a.assignment(&key("ns", "b")).cloned();
    a.release(&key("ns", "b"));
    a.converge(&v4("ns", "d"), &[]);
    a.converge(&v4("ns", "d"), &[]);
    // Unchanged (converged again with the same request): not listed.
    a.converge(&v4("ns", "a"), &[]);
    let changes = a.take_changes().unwrap();
    let keys: Vec<&ServiceKey> = changes.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![&key("ns", "b"), &key("ns", "d")]);
    assert_eq!(changes[0].1, before_b);
    assert_eq!(changes[1].1, None);
    assert_eq!(
        a.assignment(&key("ns", "d")).unwrap().addresses(),
        ips(&["10.0.0.1"])
    );
    // Taken: the next period starts empty.
    assert_eq!(a.take_changes(), Some(vec![]));
}

#[test]
fn a_service_released_and_allocated_again_to_the_same_address_is_no_change() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
    a.converge(&v4("ns", "a"), &[]);
    a.track_changes();
    a.release(&key("ns", "a"));
    a.converge(&v4("ns", "a"), &[]);
    assert_eq!(a.take_changes(), Some(vec![]));
}

#[test]
fn a_pool_change_lists_the_services_it_moved_and_only_those() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/31"])]);
    a.converge(&v4("ns", "a"), &[]);
    a.converge(&v4("ns", "b"), &[]);
    a.track_changes();
    let before = a.assignment(&key("ns", "b")).cloned();
    a.set_pools(&[pool("p", &["10.0.0.0/32", "10.0.1.0/32"])])
        .unwrap();
    let changes = a.take_changes().unwrap();
    assert_eq!(changes, vec![(key("ns", "b"), before)]);
    assert_eq!(
        a.assignment(&key("ns", "b")).unwrap().addresses(),
        ips(&["10.0.1.0"])
    );
}
