//! `spawn`: checks the config, opens the sockets, and runs the node task;
//! `NodeHandle`: the speaker's end of it.
//!
//! The task waits on (in one `select!`, every branch cancel-safe): the
//! stop signal, a new desired set, a new member list, a link event, a membership datagram, a
//! frame from a port task, and the earliest timer (membership's, the
//! announcer's, the status flush). Nothing in it blocks: frame sockets are
//! driven by their own tasks through bounded queues, and the only await
//! in a handler is the UDP send of membership datagrams.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{error, warn};

use crate::announcer::Announcer;
use crate::linux::{LinkWatcher, MemberSocket};
use crate::membership::{self, Membership, MembershipConfig};
use crate::responder::{RateLimit, Responder};

use super::ports::Inbound;
use super::reconcile::Plan;
use super::state::{Node, RuntimeCounters};
use super::types::{Desired, NodeConfig, NodeError, NodeStatus};

/// Frames queued from all port tasks to the node task.
const INBOUND_QUEUE: usize = 4096;
/// Counters change with every frame; the status is republished at most
/// this often for them (plan changes publish at once).
const STATUS_EVERY: Duration = Duration::from_millis(100);

/// The running node: set what to announce, read its status, stop it.
/// Dropping it without `shutdown` stops the node the same way, without
/// waiting.
pub struct NodeHandle {
    desired: watch::Sender<Arc<Desired>>,
    members: watch::Sender<Arc<Vec<membership::Member>>>,
    status: watch::Receiver<Arc<NodeStatus>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl NodeHandle {
    /// Replaces the whole desired set; hitless: an unchanged winner
    /// sends nothing.
    pub fn set_desired(&self, d: Desired) {
        self.desired.send_replace(Arc::new(d));
    }

    /// Replaces the member list (this node must stay in it; a list the
    /// membership core refuses is logged and the old one kept). Peers
    /// whose name and address are unchanged keep their state, so a new
    /// or removed member does not fence the node or move other VIPs.
    pub fn set_members(&self, members: Vec<membership::Member>) {
        self.members.send_replace(Arc::new(members));
    }

    /// A snapshot of the node's state (at most `STATUS_EVERY` old for
    /// counters).
    pub fn status(&self) -> NodeStatus {
        (**self.status.borrow()).clone()
    }

    /// SIGTERM: stop answering, send the signed leave, return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                error!(%e, "L2 node task ended abnormally");
            }
        }
    }
}

fn config_error(e: membership::ConfigError) -> NodeError {
    // Membership names its own fields; map them to ours.
    let field = match e.field.as_str() {
        "me" => "node_name".to_string(),
        f if f.starts_with("timing") => format!("profile ({f})"),
        f => f.to_string(),
    };
    NodeError::Config {
        field,
        problem: e.problem,
    }
}

fn check(cfg: &NodeConfig) -> Result<(), NodeError> {
    let me = cfg.members.iter().find(|m| m.name == cfg.node_name);
    if let Some(me) = me {
        let ip = cfg.bind.ip();
        if !ip.is_unspecified() && ip != me.addr {
            return Err(NodeError::Config {
                field: "bind".into(),
                problem: format!(
                    "address {ip} is not the configured address {} of member {:?} (peers accept datagrams only from it)",
                    me.addr, me.name
                ),
            });
        }
    }
    if cfg.bind.port() == 0 {
        return Err(NodeError::Config {
            field: "bind".into(),
            problem: "port is 0; every member must use the same known port (7946)".into(),
        });
    }
    Ok(())
}

fn epoch() -> u64 {
    // Wall-clock milliseconds: larger than any earlier run's unless the
    // clock stepped back, which membership tolerates (its module doc).
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
}

/// Starts the node (needs CAP_NET_RAW and a tokio runtime): checks the
/// config, binds the membership socket, reads the links, opens a port per
/// eligible interface, and runs the node task.
pub async fn spawn(cfg: NodeConfig) -> Result<NodeHandle, NodeError> {
    check(&cfg)?;
    let membership = Membership::new(MembershipConfig {
        me: cfg.node_name.clone(),
        members: cfg.members.clone(),
        secret: cfg.secret.clone(),
        epoch: epoch(),
        port: cfg.bind.port(),
        timing: cfg.profile.timing(),
        fencing: cfg.fencing,
    })
    .map_err(config_error)?;
    let socket = MemberSocket::bind(cfg.bind).map_err(|error| NodeError::Io {
        what: format!("field `bind`: membership socket {}", cfg.bind),
        error,
    })?;
    let watcher = LinkWatcher::start().await.map_err(|e| NodeError::Io {
        what: "rtnetlink link watcher".into(),
        error: std::io::Error::other(e.to_string()),
    })?;
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let now = Instant::now().into_std();
    let mut node = Node {
        me: cfg.node_name.clone(),
        members: cfg.members.iter().map(|m| m.name.clone()).collect(),
        membership,
        announcer: Announcer::new(),
        responder: Responder::new(RateLimit::default()),
        desired: Arc::new(Desired::default()),
        plan: Plan::default(),
        links: BTreeMap::new(),
        no_carrier: BTreeSet::new(),
        answering: BTreeMap::new(),
        gratuitous: HashMap::new(),
        takeover_since: HashMap::new(),
        failover: VecDeque::new(),
        member_wake: None,
        announcer_wake: None,
        outbox: Vec::new(),
        counters: RuntimeCounters::default(),
        inbound: inbound_tx,
        dirty: true,
        plan_changes: 0,
        inbound_dropped: Default::default(),
    };
    // Nothing is answered before membership says we may (fencing).
    let acts = node
        .announcer
        .handle(now, crate::announcer::Event::Fenced(true));
    node.announce(acts);
    node.sync_links(now, watcher.table());
    let failed: Vec<String> = watcher
        .table()
        .links()
        .filter(|l| l.arp_eligible().is_ok() && !node.links.contains_key(&l.ifindex))
        .map(|l| l.name.clone())
        .collect();
    if !failed.is_empty() {
        // The ports log why; the usual cause is a missing CAP_NET_RAW.
        return Err(NodeError::Io {
            what: format!("ARP port on eligible interface(s) {failed:?}"),
            error: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "cannot open AF_PACKET socket (needs CAP_NET_RAW)",
            ),
        });
    }
    node.membership_event(now, membership::Event::Start);
    let (desired_tx, desired_rx) = watch::channel(Arc::new(Desired::default()));
    let (members_tx, members_rx) = watch::channel(Arc::new(cfg.members.clone()));
    let (status_tx, status_rx) = watch::channel(Arc::new(node.snapshot()));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(
        node,
        Io {
            socket,
            watcher,
            desired: desired_rx,
            members: members_rx,
            stop: stop_rx,
            inbound: inbound_rx,
            status: status_tx,
        },
    ));
    Ok(NodeHandle {
        desired: desired_tx,
        members: members_tx,
        status: status_rx,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

struct Io {
    socket: MemberSocket,
    watcher: LinkWatcher,
    desired: watch::Receiver<Arc<Desired>>,
    members: watch::Receiver<Arc<Vec<membership::Member>>>,
    stop: oneshot::Receiver<()>,
    inbound: mpsc::Receiver<Inbound>,
    status: watch::Sender<Arc<NodeStatus>>,
}

async fn flush(node: &mut Node, socket: &MemberSocket) {
    for (to, bytes) in std::mem::take(&mut node.outbox) {
        if let Err(e) = socket.send_to(&bytes, to).await {
            node.counters.membership_send_failed += 1;
            warn!(%e, "membership send");
        }
    }
}

fn earliest(a: Option<std::time::Instant>, b: Option<std::time::Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .map(Instant::from_std)
}

async fn run(mut node: Node, mut io: Io) {
    let mut buf = vec![0u8; membership::wire::MAX_LEN];
    let mut links_open = true;
    let mut last_publish = Instant::now();
    flush(&mut node, &io.socket).await;
    loop {
        let wake = earliest(node.member_wake, node.announcer_wake);
        let publish_at = node.dirty.then_some(last_publish + STATUS_EVERY);
        let plan_before = node.plan_changes;
        tokio::select! {
            _ = &mut io.stop => break,
            changed = io.desired.changed() => {
                if changed.is_err() {
                    break;
                }
                let d = io.desired.borrow_and_update().clone();
                node.set_desired(Instant::now().into_std(), d);
            }
            changed = io.members.changed() => {
                if changed.is_err() {
                    break;
                }
                let m = io.members.borrow_and_update().clone();
                node.set_members(Instant::now().into_std(), &m);
            }
            ev = io.watcher.next_event(), if links_open => match ev {
                Ok(_) => node.sync_links(Instant::now().into_std(), io.watcher.table()),
                Err(e) => {
                    // Without link events the ports stay as they are.
                    error!(%e, "rtnetlink link watcher stopped");
                    links_open = false;
                }
            },
            got = io.socket.recv_from(&mut buf) => match got {
                Ok((n, from)) => {
                    let bytes = &buf[..n.min(buf.len())];
                    let from: IpAddr = from.ip().to_canonical();
                    node.membership_event(
                        Instant::now().into_std(),
                        membership::Event::Datagram { from, bytes },
                    );
                }
                Err(e) => {
                    node.counters.socket_errors += 1;
                    warn!(%e, "membership receive");
                }
            },
            Some(msg) = io.inbound.recv() => node.inbound(Instant::now().into_std(), msg),
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                let now = Instant::now().into_std();
                if node.member_wake.is_some_and(|t| t <= now) {
                    node.member_wake = None;
                    node.membership_event(now, membership::Event::Timer);
                }
                if node.announcer_wake.is_some_and(|t| t <= now) {
                    let acts = node.announcer.handle(now, crate::announcer::Event::Timer);
                    node.announce(acts);
                }
            }
            _ = tokio::time::sleep_until(publish_at.unwrap_or_else(Instant::now)), if publish_at.is_some() => {}
        }
        flush(&mut node, &io.socket).await;
        let now = Instant::now();
        if node.dirty && (node.plan_changes != plan_before || now >= last_publish + STATUS_EVERY) {
            io.status.send_replace(Arc::new(node.snapshot()));
            node.dirty = false;
            last_publish = now;
        }
    }
    node.shutdown(Instant::now().into_std());
    flush(&mut node, &io.socket).await;
    io.status.send_replace(Arc::new(node.snapshot()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{Fencing, Member};
    use crate::node::Profile;

    fn cfg() -> NodeConfig {
        NodeConfig {
            node_name: "a".into(),
            members: vec![
                Member {
                    name: "a".into(),
                    addr: "192.0.2.1".parse().unwrap(),
                },
                Member {
                    name: "b".into(),
                    addr: "192.0.2.2".parse().unwrap(),
                },
            ],
            bind: "192.0.2.1:7946".parse().unwrap(),
            secret: b"s".to_vec(),
            fencing: Fencing::Majority,
            profile: Profile::Default,
        }
    }

    async fn field_of(c: NodeConfig) -> String {
        match spawn(c).await {
            Err(NodeError::Config { field, .. }) => field,
            Err(e) => panic!("not a config error: {e}"),
            Ok(_) => panic!("spawn accepted a bad config"),
        }
    }

    #[tokio::test]
    async fn a_node_name_that_is_no_member_is_refused_naming_node_name() {
        let mut c = cfg();
        c.node_name = "z".into();
        assert_eq!(field_of(c).await, "node_name");
    }

    #[tokio::test]
    async fn a_bind_address_other_than_our_member_address_is_refused_naming_bind() {
        let mut c = cfg();
        c.bind = "192.0.2.9:7946".parse().unwrap();
        let err = spawn(c).await.err().expect("refused");
        assert!(err.to_string().contains("field `bind`"), "{err}");
        assert!(err.to_string().contains("192.0.2.1"), "{err}");
    }

    #[tokio::test]
    async fn an_empty_secret_is_refused_naming_secret() {
        let mut c = cfg();
        c.secret.clear();
        assert_eq!(field_of(c).await, "secret");
    }

    #[tokio::test]
    async fn port_zero_is_refused_naming_bind() {
        let mut c = cfg();
        c.bind.set_port(0);
        assert_eq!(field_of(c).await, "bind");
    }
}
