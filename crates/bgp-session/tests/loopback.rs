//! Two speakers in one process, over loopback: the library API end to end
//! (no root, no namespaces; the interop tests in e2e/ use real daemons).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp_proto::adj_rib_out::RouteSpec;
use bgp_proto::fsm::{GracefulRestartConfig, RemoteAs, SessionConfig, SessionState};
use bgp_session::{Endpoint, PeerSettings, PeerStatus, Speaker};
use ipnet::IpNet;

#[allow(clippy::too_many_arguments)]
fn settings(
    name: &str,
    local_as: u32,
    remote_as: u32,
    id: [u8; 4],
    address: IpAddr,
    port: u16,
    source: Option<IpAddr>,
    passive: bool,
) -> PeerSettings {
    let mut fsm = SessionConfig::new(local_as, RemoteAs::Fixed(remote_as), Ipv4Addr::from(id));
    fsm.passive = passive;
    fsm.hold_time = 9;
    fsm.connect_retry_max = Duration::from_secs(2);
    PeerSettings {
        name: name.into(),
        endpoint: Endpoint {
            address,
            port,
            source,
            password: None,
            ttl: 1,
        },
        fsm,
        link_local_next_hop: true,
    }
}

fn routes(n: u32) -> Arc<Vec<RouteSpec>> {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    Arc::new(
        (0..n)
            .map(|i| RouteSpec::new(IpNet::new(IpAddr::V4(Ipv4Addr::from(base + i)), 32).unwrap()))
            .collect(),
    )
}

async fn wait_for(speaker: &Speaker, what: &str, f: impl Fn(&PeerStatus) -> bool) -> PeerStatus {
    for _ in 0..200 {
        if let Some(s) = speaker.status().into_iter().next() {
            if f(&s) {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {:?}", speaker.status());
}

/// Speaker A (AS 64512) listens on 127.0.0.1; B (AS 64513) dials it from
/// 127.0.0.2.
async fn pair() -> (Speaker, Speaker) {
    pair_with(None).await
}

/// [`pair`] with graceful restart offered by both sides.
async fn pair_with(gr: Option<GracefulRestartConfig>) -> (Speaker, Speaker) {
    let with_gr = |mut p: PeerSettings| {
        p.fsm.graceful_restart = gr;
        p
    };
    let a = Speaker::bind(&[SocketAddr::from(([127, 0, 0, 1], 0))])
        .await
        .unwrap();
    let port = a.local_addrs()[0].port();
    let b = Speaker::bind(&[]).await.unwrap();
    let lo2: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let lo1: IpAddr = Ipv4Addr::new(127, 0, 0, 1).into();
    a.upsert_peer(with_gr(settings(
        "b",
        64512,
        64513,
        [192, 0, 2, 1],
        lo2,
        179,
        None,
        true,
    )))
    .await
    .unwrap();
    b.upsert_peer(with_gr(settings(
        "a",
        64513,
        64512,
        [192, 0, 2, 2],
        lo1,
        port,
        Some(lo2),
        false,
    )))
    .await
    .unwrap();
    (a, b)
}

#[tokio::test]
async fn routes_set_on_one_speaker_reach_the_other_and_only_the_difference_follows() {
    let (a, b) = pair().await;
    wait_for(&a, "A established", |s| {
        s.state == SessionState::Established
    })
    .await;
    a.set_routes("b", routes(2000)).await;
    let s = wait_for(&b, "2000 prefixes at B", |s| s.prefixes_received >= 2000).await;
    assert_eq!(s.prefixes_received, 2000);
    // End-of-RIB for IPv4 and IPv6 when the (empty) session came up, then
    // 2000 /32s in 3 UPDATEs (810 + 810 + 380).
    assert_eq!(s.updates_received, 5);
    let sa = wait_for(&a, "A announced 2000", |s| s.prefixes_announced == 2000).await;
    assert_eq!(sa.messages_out.update, s.updates_received);

    a.set_routes("b", routes(1500)).await;
    let s = wait_for(&b, "500 withdrawals at B", |s| {
        s.withdrawals_received >= 500
    })
    .await;
    assert_eq!(s.withdrawals_received, 500);
    assert_eq!(s.prefixes_received, 2000, "nothing re-announced");
    assert_eq!(s.established_count, 1, "no session reset");
}

#[tokio::test]
async fn a_table_larger_than_the_bulk_queue_goes_out_in_full_updates_as_the_writer_drains() {
    let (a, b) = pair().await;
    wait_for(&a, "A established", |s| {
        s.state == SessionState::Established
    })
    .await;
    // 100,000 /32s are 124 full UPDATEs: the 64-message queue is refilled
    // when the writer signals Room, twice or more.
    a.set_routes("b", routes(100_000)).await;
    let s = wait_for(&b, "100000 prefixes at B", |s| {
        s.prefixes_received >= 100_000
    })
    .await;
    assert_eq!(s.prefixes_received, 100_000);
    assert_eq!(s.updates_received, 2 + 100_000usize.div_ceil(810) as u64);
    let sa = wait_for(&a, "A announced 100000", |s| {
        s.prefixes_announced == 100_000
    })
    .await;
    assert_eq!(sa.messages_out.update, s.updates_received);
    assert_eq!(s.established_count, 1);
}

#[tokio::test]
async fn an_unchanged_peer_config_does_not_reset_the_session() {
    let (a, _b) = pair().await;
    wait_for(&a, "A established", |s| {
        s.state == SessionState::Established
    })
    .await;
    let lo2: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let same = settings("b", 64512, 64513, [192, 0, 2, 1], lo2, 179, None, true);
    assert!(!a.upsert_peer(same).await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = a.status().remove(0);
    assert_eq!(
        (s.state, s.established_count),
        (SessionState::Established, 1)
    );
}

#[tokio::test]
async fn removing_a_peer_sends_an_administrative_shutdown_with_the_reason() {
    let (a, b) = pair().await;
    wait_for(&b, "B established", |s| {
        s.state == SessionState::Established
    })
    .await;
    a.remove_peer("b", "node drained").await;
    let s = wait_for(&b, "B sees the shutdown", |s| {
        s.last_error_received.is_some()
    })
    .await;
    let text = s.last_error_received.unwrap();
    assert!(
        text.contains("administrative shutdown") && text.contains("node drained"),
        "{text}"
    );
    assert_ne!(s.state, SessionState::Established);
}

/// B's view of the NOTIFICATION A left with.
async fn received_on_leaving(b: &Speaker) -> String {
    let s = wait_for(b, "B sees A leave", |s| s.last_error_received.is_some()).await;
    s.last_error_received.unwrap_or_default()
}

#[tokio::test]
async fn shutdown_with_graceful_restart_on_both_sides_sends_a_hard_reset() {
    let (a, b) = pair_with(Some(GracefulRestartConfig::default())).await;
    let s = wait_for(&b, "B established", |s| {
        s.state == SessionState::Established
    })
    .await;
    assert_eq!(
        s.graceful_restart,
        Some(bgp_session::GracefulRestartStatus {
            restart_time: 120,
            notification: true
        })
    );
    a.shutdown("node drained").await;
    let text = received_on_leaving(&b).await;
    assert!(
        text.contains("hard reset") && text.contains("administrative shutdown"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_for_restart_with_graceful_restart_sends_an_administrative_reset() {
    let (a, b) = pair_with(Some(GracefulRestartConfig::default())).await;
    wait_for(&b, "B established", |s| {
        s.state == SessionState::Established
    })
    .await;
    a.shutdown_for_restart("restarting").await;
    let text = received_on_leaving(&b).await;
    assert!(
        text.contains("administrative reset") && !text.contains("hard reset"),
        "{text}"
    );
}

#[tokio::test]
async fn a_second_peer_on_the_same_address_is_refused() {
    let a = Speaker::bind(&[]).await.unwrap();
    let ip: IpAddr = Ipv4Addr::new(127, 0, 0, 9).into();
    a.upsert_peer(settings(
        "x",
        64512,
        64513,
        [192, 0, 2, 1],
        ip,
        179,
        None,
        true,
    ))
    .await
    .unwrap();
    let err = a
        .upsert_peer(settings(
            "y",
            64512,
            64513,
            [192, 0, 2, 1],
            ip,
            179,
            None,
            true,
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already uses address 127.0.0.9"),
        "{err}"
    );
}

/// A dialling-only speaker with one active peer toward 127.0.0.1:`port`.
async fn dialer(port: u16, source: Option<IpAddr>, password: Option<String>) -> Speaker {
    let s = Speaker::bind(&[]).await.unwrap();
    let lo1: IpAddr = Ipv4Addr::new(127, 0, 0, 1).into();
    let mut p = settings("r", 64512, 64513, [192, 0, 2, 1], lo1, port, source, false);
    p.endpoint.password = password;
    s.upsert_peer(p).await.unwrap();
    s
}

#[tokio::test]
async fn a_source_address_that_is_not_ours_is_named_in_the_status_and_counted() {
    // 192.0.2.123 is on no interface: bind fails with EADDRNOTAVAIL before
    // any packet is sent.
    let src: IpAddr = Ipv4Addr::new(192, 0, 2, 123).into();
    let s = dialer(179, Some(src), None).await;
    let st = wait_for(&s, "a connect error", |s| s.last_connect_error.is_some()).await;
    let text = st.last_connect_error.unwrap();
    assert!(
        text.contains("source address 192.0.2.123") && text.contains("os error 99"),
        "{text}"
    );
    assert!(
        st.connect_failures.get("source_address") >= Some(&1),
        "{:?}",
        st.connect_failures
    );
    assert_ne!(st.state, SessionState::Established);
}

#[tokio::test]
async fn an_md5_key_the_kernel_cannot_take_is_named_in_the_status() {
    let s = dialer(179, None, Some("k".repeat(81))).await;
    let st = wait_for(&s, "a connect error", |s| s.last_connect_error.is_some()).await;
    let text = st.last_connect_error.unwrap();
    assert!(text.contains("TCP-MD5 key is 81 bytes"), "{text}");
    assert!(
        st.connect_failures.get("md5") >= Some(&1),
        "{:?}",
        st.connect_failures
    );
}

#[tokio::test]
async fn a_refused_connection_is_counted_by_reason_and_cleared_by_a_good_dial() {
    // A port nobody listens on: take one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = dialer(port, None, None).await;
    let st = wait_for(&s, "two refused dials", |s| {
        s.connect_failures.get("refused") >= Some(&2)
    })
    .await;
    let text = st.last_connect_error.unwrap();
    assert!(
        text.contains(&format!("connect to 127.0.0.1:{port}")),
        "{text}"
    );
    // Now something listens there: the next dial succeeds and clears it.
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_for(&s, "the error cleared", |s| s.last_connect_error.is_none()).await;
    drop(l);
}

#[tokio::test]
async fn bfd_down_tears_the_session_down_with_cease_bfd_down_until_bfd_is_up() {
    let (a, b) = pair().await;
    wait_for(&b, "B established", |s| {
        s.state == SessionState::Established
    })
    .await;
    b.set_bfd_up("a", false).await;
    let s = wait_for(&a, "A sees the Cease", |s| s.last_error_received.is_some()).await;
    let text = s.last_error_received.unwrap();
    assert!(text.contains("BFD down"), "{text}");
    // Held down: the dialler's retry (at most 2 s here) does not redial.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = b.status().remove(0);
    assert!(s.bfd_held);
    assert_eq!((s.state, s.established_count), (SessionState::Idle, 1));
    b.set_bfd_up("a", true).await;
    let s = wait_for(&b, "B established again", |s| s.established_count == 2).await;
    assert!(!s.bfd_held);
}
