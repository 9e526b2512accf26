//! One BFD session in asynchronous mode (RFC 5880 §6.2, §6.8): a sans-IO
//! machine. The driver feeds it [`Event`]s with the current time and carries
//! out the [`Action`]s in order; timers are actions, so the machine never
//! reads a clock.
//!
//! Not implemented (documented): demand mode (we never set D and keep
//! sending periodically if the peer sets it), the echo function, and
//! authentication (see [`crate::packet`]).

use std::time::{Duration, Instant};

use crate::packet::{ControlPacket, Diag, State};

/// The slow rate while the session is not Up (RFC 5880 §6.8.3: at least
/// one second), in microseconds.
const SLOW_TX_US: u32 = 1_000_000;

/// What one session is configured with (a BFDProfile's timing fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdConfig {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult (1-255; 0 is sent as 1).
    pub detect_mult: u8,
    /// Passive role (RFC 5880 §6.1): send nothing until the peer has.
    pub passive: bool,
}

impl Default for BfdConfig {
    /// MetalLB's BFDProfile defaults: 300 ms / 300 ms / ×3, active.
    fn default() -> Self {
        BfdConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The two timers a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Next periodic Control packet.
    Transmit,
    /// Detection time since the last valid packet.
    Detect,
    /// End of a retired session's AdminDown period (see [`Event::Retire`]).
    Retire,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Begin (arms the transmit timer unless passive).
    Start,
    /// A decoded packet already demultiplexed to this session.
    Received(ControlPacket),
    TimerExpired(Timer),
    /// Operator shutdown: AdminDown (RFC 5880 §6.8.16).
    AdminDown,
    /// The session is being removed: AdminDown as above, then
    /// [`Action::Retired`] once the peer has had a detection time to hear
    /// it. `AdminUp` before then keeps the session.
    Retire,
    /// Leave AdminDown for Down.
    AdminUp,
    /// New timing (a profile changed on reload), applied with a poll
    /// sequence when a peer is there (RFC 5880 §6.8.3).
    Reconfigure(BfdConfig),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Send(ControlPacket),
    /// (Re)arm the timer to fire at this instant, replacing any earlier one.
    ArmTimer(Timer, Instant),
    StopTimer(Timer),
    StateChanged {
        from: State,
        to: State,
        diag: Diag,
    },
    /// A retired session's AdminDown period is over: the driver may drop
    /// it now.
    Retired,
}

/// Counters kept per session (the `metallb_bfd_*` metrics read them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub control_input: u64,
    pub control_output: u64,
    pub up_events: u64,
    pub down_events: u64,
    /// Packets for another discriminator or received in AdminDown.
    pub discarded: u64,
}

/// What `/status` shows for one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdStatus {
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    pub remote_diag: Diag,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// Negotiated transmit interval (before jitter); `None` while nothing
    /// may be sent periodically.
    pub tx_interval: Option<Duration>,
    /// Detection time in force; `None` before the first packet.
    pub detection_time: Option<Duration>,
    pub remote_desired_min_tx: Duration,
    pub remote_required_min_rx: Duration,
    pub remote_detect_mult: u8,
    pub polling: bool,
    pub counters: Counters,
}

/// The poll sequence in flight: the values to put in force on Final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Poll;

#[derive(Clone, Debug)]
pub struct BfdSession {
    cfg: BfdConfig,
    state: State,
    local_discr: u32,
    local_diag: Diag,
    /// bfd.DesiredMinTxInterval as advertised (µs).
    desired_tx: u32,
    /// bfd.RequiredMinRxInterval as advertised (µs).
    required_rx: u32,
    /// The desired TX used for our transmit interval (lags an increase
    /// while a poll runs, §6.8.3).
    tx_in_force: u32,
    /// The required RX used for the detection time (lags a decrease while
    /// a poll runs, §6.8.3).
    rx_in_force: u32,
    remote_discr: u32,
    remote_state: State,
    remote_diag: Diag,
    remote_min_rx: u32,
    remote_desired_tx: u32,
    remote_detect_mult: u8,
    poll: Option<Poll>,
    tx_deadline: Option<Instant>,
    detect_deadline: Option<Instant>,
    /// Set while a retired session sends its last AdminDown packets.
    retire_deadline: Option<Instant>,
    /// A retired session's first AdminDown packets go at the rate the
    /// peer last knew (see [`BfdSession::retire`]): how many are left,
    /// and that interval.
    retire_fast: (u8, Duration),
    detection_time: Option<Duration>,
    rng: u64,
    counters: Counters,
}

impl BfdSession {
    /// A session in Down with `local_discriminator` (nonzero, unique in
    /// the process) and a jitter seed (any value; the driver passes a
    /// random one, tests a fixed one).
    pub fn new(cfg: BfdConfig, local_discriminator: u32, seed: u64) -> BfdSession {
        // §6.8.1: initial values; DesiredMinTx at least 1 s until Up.
        let desired_tx = micros(cfg.desired_min_tx).max(SLOW_TX_US);
        let required_rx = micros(cfg.required_min_rx);
        BfdSession {
            cfg,
            state: State::Down,
            local_discr: local_discriminator.max(1),
            local_diag: Diag::None,
            desired_tx,
            required_rx,
            tx_in_force: desired_tx,
            rx_in_force: required_rx,
            remote_discr: 0,
            remote_state: State::Down,
            remote_diag: Diag::None,
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_detect_mult: 0,
            poll: None,
            tx_deadline: None,
            detect_deadline: None,
            retire_deadline: None,
            retire_fast: (0, Duration::ZERO),
            detection_time: None,
            rng: seed | 1,
            counters: Counters::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    pub fn config(&self) -> BfdConfig {
        self.cfg
    }

    pub fn status(&self) -> BfdStatus {
        BfdStatus {
            state: self.state,
            remote_state: self.remote_state,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            tx_interval: self.may_send_periodic().then(|| self.tx_interval()),
            detection_time: self.detection_time,
            remote_desired_min_tx: Duration::from_micros(self.remote_desired_tx.into()),
            remote_required_min_rx: Duration::from_micros(self.remote_min_rx.into()),
            remote_detect_mult: self.remote_detect_mult,
            polling: self.poll.is_some(),
            counters: self.counters,
        }
    }

    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.arm_tx(now, now, &mut out),
            Event::Received(p) => self.receive(now, p, &mut out),
            Event::TimerExpired(Timer::Transmit) => self.transmit_timer(now, &mut out),
            Event::TimerExpired(Timer::Detect) => self.detect_timer(now, &mut out),
            Event::TimerExpired(Timer::Retire) => self.retire_timer(now, &mut out),
            Event::AdminDown => self.admin_down(now, &mut out),
            Event::Retire => self.retire(now, &mut out),
            Event::AdminUp => self.admin_up(now, &mut out),
            Event::Reconfigure(cfg) => self.reconfigure(now, cfg, &mut out),
        }
        out
    }

    /// Negotiated interval (§6.8.7): the slower of what we want to send
    /// and what the peer can take.
    fn tx_interval(&self) -> Duration {
        Duration::from_micros(self.tx_in_force.max(self.remote_min_rx).into())
    }

    /// §6.8.7: a passive system sends nothing before it knows the peer;
    /// nobody sends periodically to a peer asking for RemoteMinRx 0.
    fn may_send_periodic(&self) -> bool {
        !(self.cfg.passive && self.remote_discr == 0) && self.remote_min_rx != 0
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: jitter only, not security.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// §6.8.7: each interval is reduced by 0-25 % at random, by 10-25 %
    /// when DetectMult is 1.
    fn jittered(&mut self, interval: Duration) -> Duration {
        let (lo, hi) = if self.cfg.detect_mult <= 1 {
            (75, 90)
        } else {
            (75, 100)
        };
        let pct = lo + self.next_random() % (hi - lo + 1);
        interval * pct as u32 / 100
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult.max(1),
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: self.desired_tx,
            required_min_rx: self.required_rx,
            required_min_echo_rx: 0,
        }
    }

    fn send(&mut self, p: ControlPacket, out: &mut Vec<Action>) {
        self.counters.control_output += 1;
        out.push(Action::Send(p));
    }

    /// Arms the transmit timer at `at` if sending is allowed, stops it
    /// otherwise.
    fn arm_tx(&mut self, _now: Instant, at: Instant, out: &mut Vec<Action>) {
        if self.may_send_periodic() {
            self.tx_deadline = Some(at);
            out.push(Action::ArmTimer(Timer::Transmit, at));
        } else if self.tx_deadline.take().is_some() {
            out.push(Action::StopTimer(Timer::Transmit));
        }
    }

    fn transmit_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(due) = self.tx_deadline else { return };
        if now < due {
            // Early or stale wake-up: keep the deadline.
            out.push(Action::ArmTimer(Timer::Transmit, due));
            return;
        }
        if !self.may_send_periodic() {
            self.tx_deadline = None;
            return;
        }
        let p = self.packet(self.poll.is_some(), false);
        self.send(p, out);
        let interval = self.next_interval();
        let next = now + self.jittered(interval);
        self.arm_tx(now, next, out);
    }

    /// The interval to the next periodic packet: the negotiated one, but
    /// the old one for a retired session's first packets.
    fn next_interval(&mut self) -> Duration {
        let (left, fast) = self.retire_fast;
        if left > 0 && self.state == State::AdminDown {
            self.retire_fast.0 = left - 1;
            return fast.min(self.tx_interval());
        }
        self.tx_interval()
    }

    fn detect_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(due) = self.detect_deadline else {
            return;
        };
        if now < due {
            out.push(Action::ArmTimer(Timer::Detect, due));
            return;
        }
        self.detect_deadline = None;
        // §6.8.4: the detection time passed without a valid packet.
        if matches!(self.state, State::Init | State::Up) {
            self.change_state(now, State::Down, Diag::ControlDetectionTimeExpired, out);
        }
        // §6.8.1: in Down, forget the peer once the detection time passes
        // (a new peer instance learns us again from scratch).
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_min_rx = 1;
        self.poll = None;
        self.detection_time = None;
        self.tx_in_force = self.desired_tx;
        self.rx_in_force = self.required_rx;
        if self.tx_deadline.is_none() || !self.may_send_periodic() {
            self.arm_tx(now, now, out);
        }
    }

    fn receive(&mut self, now: Instant, p: ControlPacket, out: &mut Vec<Action>) {
        self.counters.control_input += 1;
        // §6.8.6: a nonzero Your Discriminator must be ours.
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            self.counters.discarded += 1;
            return;
        }
        // §6.8.6: in AdminDown every received packet is discarded.
        if self.state == State::AdminDown {
            self.counters.discarded += 1;
            return;
        }
        let first = self.remote_discr == 0;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        // §6.8.6: a Final answers our Poll: the new values take effect.
        if p.final_ && self.poll.is_some() {
            self.poll = None;
            self.tx_in_force = self.desired_tx;
            self.rx_in_force = self.required_rx;
        }
        // §6.8.4 (asynchronous mode): the peer's multiplier times the
        // slower of what we require and what it wants to send.
        let detect_us =
            u64::from(p.detect_mult) * u64::from(self.rx_in_force.max(p.desired_min_tx));
        let detect = Duration::from_micros(detect_us);
        self.detection_time = Some(detect);
        let due = now + detect;
        self.detect_deadline = Some(due);
        out.push(Action::ArmTimer(Timer::Detect, due));

        let before = self.state;
        match (self.state, p.state) {
            // §6.8.6: the peer went AdminDown: we go Down, diag 3.
            (State::Init | State::Up, State::AdminDown) => {
                self.change_state(now, State::Down, Diag::NeighborSignaledSessionDown, out)
            }
            // §6.2 table, from Down: Down -> Init, Init -> Up.
            (State::Down, State::Down) => self.change_state(now, State::Init, Diag::None, out),
            (State::Down, State::Init) => self.change_state(now, State::Up, Diag::None, out),
            // §6.2 table, from Init: Init or Up -> Up.
            (State::Init, State::Init | State::Up) => {
                self.change_state(now, State::Up, Diag::None, out)
            }
            // §6.2 table, from Up: a Down peer takes us Down, diag 3.
            (State::Up, State::Down) => {
                self.change_state(now, State::Down, Diag::NeighborSignaledSessionDown, out)
            }
            _ => {}
        }
        // §6.8.6: a Poll is answered with a Final at once, outside the
        // transmit schedule; a state change is announced at once as well.
        if p.poll {
            let f = self.packet(false, true);
            self.send(f, out);
        } else if before != self.state {
            let q = self.packet(self.poll.is_some(), false);
            self.send(q, out);
        }
        // §6.8.7: the interval follows the peer's RequiredMinRx; pull an
        // over-long wait in, and start sending once a passive peer heard.
        let interval = self.tx_interval();
        match self.tx_deadline {
            None => {
                let at = now + self.jittered_or_now(first, interval);
                self.arm_tx(now, at, out)
            }
            Some(d) if d > now + interval => {
                let at = now + self.jittered(interval);
                self.arm_tx(now, at, out)
            }
            Some(_) if !self.may_send_periodic() => self.arm_tx(now, now, out),
            Some(_) => {}
        }
    }

    fn jittered_or_now(&mut self, first: bool, interval: Duration) -> Duration {
        if first {
            Duration::ZERO
        } else {
            self.jittered(interval)
        }
    }

    fn change_state(&mut self, now: Instant, to: State, diag: Diag, out: &mut Vec<Action>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if diag != Diag::None || to == State::Up {
            self.local_diag = diag;
        }
        if to == State::Up {
            self.counters.up_events += 1;
        } else if from == State::Up {
            self.counters.down_events += 1;
        }
        out.push(Action::StateChanged { from, to, diag });
        // §6.8.3: DesiredMinTx is the configured value only while Up, at
        // least 1 s otherwise.
        let desired = if to == State::Up {
            micros(self.cfg.desired_min_tx)
        } else {
            micros(self.cfg.desired_min_tx).max(SLOW_TX_US)
        };
        self.set_local(now, desired, self.required_rx, out);
    }

    /// Changes the advertised intervals. §6.8.3: with a peer present this
    /// starts a poll sequence; while Up an increased TX and a reduced RX
    /// only take effect once the peer's Final arrives.
    fn set_local(&mut self, _now: Instant, desired: u32, required: u32, out: &mut Vec<Action>) {
        if desired == self.desired_tx && required == self.required_rx {
            return;
        }
        let up = self.state == State::Up;
        self.desired_tx = desired;
        self.required_rx = required;
        if !up || desired < self.tx_in_force {
            self.tx_in_force = desired;
        }
        if !up || required > self.rx_in_force {
            self.rx_in_force = required;
        }
        if self.remote_discr != 0 && self.state != State::AdminDown {
            self.poll = Some(Poll);
        } else {
            self.tx_in_force = desired;
            self.rx_in_force = required;
        }
        let _ = out;
    }

    fn reconfigure(&mut self, now: Instant, cfg: BfdConfig, out: &mut Vec<Action>) {
        let old = self.cfg;
        self.cfg = cfg;
        let desired = if self.state == State::Up {
            micros(cfg.desired_min_tx)
        } else {
            micros(cfg.desired_min_tx).max(SLOW_TX_US)
        };
        self.set_local(now, desired, micros(cfg.required_min_rx), out);
        if old.detect_mult != cfg.detect_mult && self.remote_discr != 0 {
            self.poll = Some(Poll);
        }
        if self.poll.is_some() {
            // Start the poll now rather than at the next periodic packet.
            let p = self.packet(true, false);
            self.send(p, out);
        }
        if self.tx_deadline.is_none() || !self.may_send_periodic() {
            self.arm_tx(now, now, out);
        }
    }

    fn admin_down(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::AdminDown {
            return;
        }
        // §6.8.16: AdminDown, diag 7, no detection; the peer is told.
        self.change_state(now, State::AdminDown, Diag::AdministrativelyDown, out);
        self.poll = None;
        if self.detect_deadline.take().is_some() {
            out.push(Action::StopTimer(Timer::Detect));
        }
        self.detection_time = None;
        if self.may_send_periodic() {
            let p = self.packet(false, false);
            self.send(p, out);
        }
        if self.tx_deadline.is_none() {
            let at = now + self.jittered(self.tx_interval());
            self.arm_tx(now, at, out);
        }
    }

    /// RFC 5880 §6.8.16: a session taken down administratively keeps
    /// sending AdminDown for at least a detection time before it goes, so
    /// a peer does not read one lost packet as a path failure (diag 1)
    /// and drop its client session. The period is the peer's detection
    /// time of our packets at the slow rate (our multiplier times the
    /// slower of 1 s and its RequiredMinRx), or the detection time we ran
    /// with, whichever is longer. Until the peer has heard one, it still
    /// expects packets at the old rate, so the first DetectMult packets
    /// after the first go at that rate (we may send faster than we
    /// advertise): one lost packet then costs no false detection there.
    fn retire(&mut self, now: Instant, out: &mut Vec<Action>) {
        let slow = Duration::from_micros(u64::from(SLOW_TX_US.max(self.remote_min_rx)));
        let mult = self.cfg.detect_mult.max(1);
        let mut period = slow * u32::from(mult);
        if let Some(d) = self.detection_time {
            period = period.max(d);
        }
        let old = self.tx_interval();
        self.admin_down(now, out);
        self.retire_fast = (mult, old);
        if self.may_send_periodic() {
            let interval = self.next_interval();
            let at = now + self.jittered(interval);
            self.arm_tx(now, at, out);
        }
        if !self.may_send_periodic() {
            // Nothing goes to this peer (passive and unheard, or it asks
            // for no packets): there is nobody to tell.
            self.retire_deadline = None;
            out.push(Action::Retired);
            return;
        }
        let due = now + period;
        self.retire_deadline = Some(due);
        out.push(Action::ArmTimer(Timer::Retire, due));
    }

    fn retire_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(due) = self.retire_deadline else {
            return;
        };
        if now < due {
            out.push(Action::ArmTimer(Timer::Retire, due));
            return;
        }
        self.retire_deadline = None;
        out.push(Action::Retired);
    }

    fn admin_up(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::AdminDown {
            return;
        }
        if self.retire_deadline.take().is_some() {
            out.push(Action::StopTimer(Timer::Retire));
        }
        self.retire_fast = (0, Duration::ZERO);
        self.change_state(now, State::Down, Diag::None, out);
        self.local_diag = Diag::None;
        self.arm_tx(now, now, out);
    }
}
