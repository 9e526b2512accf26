//! The driver's bookkeeping (no packets sent to a real peer).

use super::*;

fn driver() -> Driver {
    let (datagrams, _) = mpsc::channel(1);
    Driver {
        sessions: HashMap::new(),
        by_discr: HashMap::new(),
        readers: HashMap::new(),
        next_discr: 1,
        events: broadcast::channel(16).0,
        status: Arc::default(),
        errors: Errors::default(),
        datagrams,
    }
}

fn spec(peer: &str) -> SessionSpec {
    SessionSpec {
        key: PeerKey {
            peer: peer.parse().unwrap(),
            local: None,
            multihop: false,
        },
        config: BfdConfig::default(),
        minimum_ttl: 254,
    }
}

/// Fires `key`'s retire timer at its deadline.
fn end_retire_period(d: &mut Driver, key: PeerKey) {
    let e = d
        .sessions
        .get_mut(&key)
        .expect("session kept while retiring");
    let at = *e.timers.get(&Timer::Retire).expect("retire timer armed");
    let actions = e.session.handle(at, Event::TimerExpired(Timer::Retire));
    d.apply(key, actions);
}

#[tokio::test]
async fn removed_session_stays_until_its_admin_down_period_ends_then_its_socket_closes() {
    let mut d = driver();
    let (a, b) = (spec("127.0.0.1"), spec("127.0.0.2"));
    d.upsert(a);
    d.upsert(b);
    assert_eq!(d.readers.len(), 1);
    d.remove(a.key);
    assert!(
        d.sessions.contains_key(&a.key),
        "dropped before the peer heard AdminDown"
    );
    assert!(
        !d.status.lock().unwrap().contains_key(&a.key),
        "a removed session in status"
    );
    end_retire_period(&mut d, a.key);
    assert!(!d.sessions.contains_key(&a.key));
    assert_eq!(d.readers.len(), 1, "socket closed while b uses it");
    d.remove(b.key);
    end_retire_period(&mut d, b.key);
    assert!(d.sessions.is_empty() && d.by_discr.is_empty());
    assert!(
        d.readers.is_empty(),
        "receive socket left open after the last session"
    );
}

#[tokio::test]
async fn session_wanted_again_while_retiring_is_kept() {
    let mut d = driver();
    let a = spec("127.0.0.1");
    d.upsert(a);
    d.remove(a.key);
    d.upsert(a);
    let e = &d.sessions[&a.key];
    assert!(!e.retiring && e.session.state() == State::Down);
    assert!(!e.timers.contains_key(&Timer::Retire));
    assert!(d.status.lock().unwrap().contains_key(&a.key));
}

#[test]
fn multihop_packet_without_ttl_information_is_rejected() {
    assert!(!multihop_ttl_ok(None, 254));
    assert!(!multihop_ttl_ok(None, 0));
}

#[test]
fn multihop_packet_at_or_above_the_minimum_ttl_is_accepted() {
    assert!(multihop_ttl_ok(Some(254), 254));
    assert!(multihop_ttl_ok(Some(255), 254));
    assert!(!multihop_ttl_ok(Some(253), 254));
}
