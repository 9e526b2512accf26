//! Public result types: assignments, events (with lazily rendered text),
//! outcomes.

use super::*;

/// One assigned address and the pool it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssignedIp {
    /// The address.
    pub ip: IpAddr,
    /// The pool it comes from (shared string: no allocation per address).
    pub pool: Arc<str>,
}

/// A service's addresses (one per family), primary family first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The addresses and their pools.
    pub ips: Vec<AssignedIp>,
}

impl Assignment {
    /// The addresses, in order (what goes into `status.loadBalancer.ingress`).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.ips.iter().map(|a| a.ip).collect()
    }

    /// The pool of the first address (what goes into the
    /// `metallb.io/ip-allocated-from-pool` annotation).
    pub fn pool(&self) -> &str {
        self.ips.first().map_or("", |a| &*a.pool)
    }
}

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// What an event says, kept typed; the text is built on first use
/// (`Display`, `as_str`, `Deref<Target = str>`, comparisons with strings)
/// and cached. Converging 100k services builds no text unless it is read.
#[derive(Clone)]
pub struct EventMessage {
    what: Msg,
    text: OnceLock<String>,
}

pub(super) const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Msg {
    /// `Assigned IP [..]` for one or two addresses (no allocation).
    Assigned { ips: [IpAddr; 2], len: u8 },
    /// `Assigned additional IP ".."`.
    AssignedAdditional(IpAddr),
    /// `Failed to allocate IP for ..` and the other failure texts.
    Failed(Box<(ServiceKey, AllocError)>),
    /// `current IP for .. not allowed by config, ..`.
    Cleared(Box<(ServiceKey, AllocError)>),
    /// `cannot assign additional IP in PreferDualStack: ..`.
    AdditionalFailed(Box<AllocError>),
    /// Any other text.
    Text(String),
}

impl Msg {
    pub(super) fn render(&self) -> String {
        match self {
            Msg::Assigned { ips, len } => {
                format!("Assigned IP {}", go_quote_list(&ips[..usize::from(*len)]))
            }
            Msg::AssignedAdditional(ip) => {
                format!("Assigned additional IP {:?}", ip.to_string())
            }
            Msg::Failed(b) => b.1.event_message(&b.0.to_string()),
            Msg::Cleared(b) => format!(
                "current IP for {:?} not allowed by config, will attempt for new IP assignment: {}",
                b.0.to_string(),
                b.1
            ),
            Msg::AdditionalFailed(e) => {
                format!("cannot assign additional IP in PreferDualStack: {e}")
            }
            Msg::Text(s) => s.clone(),
        }
    }
}

impl EventMessage {
    pub(super) fn new(what: Msg) -> Self {
        EventMessage {
            what,
            text: OnceLock::new(),
        }
    }

    /// The message text (built on first call, then cached).
    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.what.render())
    }

    /// The message text, owned.
    pub fn into_string(self) -> String {
        match self.text.into_inner() {
            Some(s) => s,
            None => self.what.render(),
        }
    }
}

impl From<String> for EventMessage {
    fn from(s: String) -> Self {
        EventMessage::new(Msg::Text(s))
    }
}

impl From<&str> for EventMessage {
    fn from(s: &str) -> Self {
        EventMessage::new(Msg::Text(s.to_string()))
    }
}

impl std::ops::Deref for EventMessage {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventMessage {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EventMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EventMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for EventMessage {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what || self.as_str() == other.as_str()
    }
}

impl Eq for EventMessage {}

impl PartialEq<str> for EventMessage {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventMessage {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for EventMessage {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<EventMessage> for &str {
    fn eq(&self, other: &EventMessage) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<EventMessage> for String {
    fn eq(&self, other: &EventMessage) -> bool {
        self.as_str() == other.as_str()
    }
}

/// An event to emit on the Service, with MetalLB's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationEvent {
    /// Normal or Warning.
    pub kind: EventKind,
    /// e.g. `IPAllocated`, `AllocationFailed`, `ClearAssignment`.
    pub reason: &'static str,
    /// The message (typed; the text is built on first use).
    pub message: EventMessage,
}

impl AllocationEvent {
    pub(super) fn normal(reason: &'static str, what: Msg) -> AllocationEvent {
        AllocationEvent {
            kind: EventKind::Normal,
            reason,
            message: EventMessage::new(what),
        }
    }

    /// The `IPAllocated` event for a fresh assignment.
    pub fn ip_allocated(a: &Assignment) -> AllocationEvent {
        let what = match a.ips.as_slice() {
            [x] => Msg::Assigned {
                ips: [x.ip, UNSPECIFIED],
                len: 1,
            },
            [x, y] => Msg::Assigned {
                ips: [x.ip, y.ip],
                len: 2,
            },
            _ => Msg::Text(format!("Assigned IP {}", go_quote_list(&a.addresses()))),
        };
        AllocationEvent::normal(reasons::IP_ALLOCATED, what)
    }

    /// The event for a failure (its reason comes from the error).
    pub fn failed(key: &ServiceKey, e: &AllocError) -> AllocationEvent {
        AllocationEvent {
            kind: EventKind::Warning,
            reason: e.reason(),
            message: EventMessage::new(Msg::Failed(Box::new((key.clone(), e.clone())))),
        }
    }

    pub(super) fn cleared(key: &ServiceKey, e: &AllocError) -> AllocationEvent {
        AllocationEvent::normal(
            reasons::CLEAR_ASSIGNMENT,
            Msg::Cleared(Box::new((key.clone(), e.clone()))),
        )
    }

    pub(super) fn additional(ip: IpAddr) -> AllocationEvent {
        AllocationEvent::normal(reasons::IP_ALLOCATED, Msg::AssignedAdditional(ip))
    }

    pub(super) fn additional_failed(e: &AllocError) -> AllocationEvent {
        AllocationEvent::normal(
            reasons::ADDITIONAL_ASSIGN_FAILED,
            Msg::AdditionalFailed(Box::new(e.clone())),
        )
    }
}

/// The result of converging one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The service's assignment now, or why it has none (it is then pending
    /// and retried whenever capacity frees up or pools change).
    pub result: Result<Assignment, AllocError>,
    /// Events to emit on the service, in order.
    pub events: Vec<AllocationEvent>,
    /// Pending services that got an address because this call freed one.
    pub unblocked: Vec<(ServiceKey, Assignment)>,
}

/// The result of releasing a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Released {
    /// What the service had.
    pub previous: Option<Assignment>,
    /// Pending services that got an address thanks to the release.
    pub unblocked: Vec<(ServiceKey, Assignment)>,
}
