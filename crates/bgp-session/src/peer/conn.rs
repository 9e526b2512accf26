//! The two tasks of one TCP connection, and the queue between the peer
//! task and the writer.
//!
//! Outbound, the peer task builds UPDATEs only when the writer's bulk
//! queue is below [`LOW_WATER`] messages and tops it up to at most
//! [`HIGH_WATER`]; when the writer drains the queue down to the low mark it
//! sends one [`ConnEvent::Room`]. A peer that stops reading therefore holds
//! at most `HIGH_WATER` messages (plus the one being written) in our
//! memory, whatever the table size or the number of changes.
//!
//! Inbound, the reader hands decoded messages over a channel of
//! [`INBOUND_DEPTH`] entries and waits when it is full, so a peer sending
//! faster than we count meets TCP backpressure instead of filling memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bgp_proto::fsm::ConnId;
use bgp_proto::{BgpCodec, CodecError, Message, SessionParams};
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;

use super::{ConnEvent, STALL};

/// The peer task tops the bulk queue up to this many messages...
pub(super) const HIGH_WATER: usize = 64;
/// ...and is asked for more once the writer has drained it to this many.
pub(super) const LOW_WATER: usize = 16;
/// Decoded messages in flight from a reader to its peer task.
pub(super) const INBOUND_DEPTH: usize = 16;

pub(super) enum WriteCmd {
    Data(Bytes),
    Close,
}

/// UPDATEs waiting for the socket. The writer takes from here only when
/// the control channel is empty.
#[derive(Default)]
pub(super) struct BulkQueue {
    q: Mutex<VecDeque<Bytes>>,
    notify: tokio::sync::Notify,
    /// The peer task has more to send and waits for [`ConnEvent::Room`].
    wants_room: AtomicBool,
}

impl BulkQueue {
    pub(super) fn push_all(&self, msgs: impl IntoIterator<Item = Bytes>) {
        self.q
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(msgs);
        self.notify.notify_one();
    }

    pub(super) fn pop(&self) -> Option<Bytes> {
        self.q.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    pub(super) fn len(&self) -> usize {
        self.q.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Asks the writer for a [`ConnEvent::Room`] once the queue is at the
    /// low mark. Returns true if it is there already (the writer may have
    /// passed it before the flag was set), so the caller tops up now.
    pub(super) fn want_room(&self) -> bool {
        self.wants_room.store(true, Ordering::SeqCst);
        if self.len() <= LOW_WATER {
            self.wants_room.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// The writer took a message: tell the peer task if it asked.
    fn taken(&self, id: ConnId, events: &mpsc::UnboundedSender<ConnEvent>) {
        if self.len() <= LOW_WATER && self.wants_room.swap(false, Ordering::SeqCst) {
            let _ = events.send(ConnEvent::Room(id));
        }
    }
}

pub(super) async fn reader(
    rd: OwnedReadHalf,
    id: ConnId,
    events: mpsc::Sender<ConnEvent>,
    mut params: watch::Receiver<Option<SessionParams>>,
) {
    let mut framed = FramedRead::new(rd, BgpCodec::default());
    while let Some(item) = framed.next().await {
        match item {
            Ok(msg) => {
                let is_open = matches!(msg, Message::Open(_));
                // Waits while the peer task is INBOUND_DEPTH messages
                // behind: we stop reading and TCP pushes back on the peer.
                if events.send(ConnEvent::Msg(id, msg)).await.is_err() {
                    return;
                }
                if is_open {
                    // Nothing after an OPEN can be decoded before we know
                    // what was negotiated (4-octet AS, ADD-PATH, sizes).
                    if params.changed().await.is_err() {
                        return;
                    }
                    let p = params.borrow().clone();
                    if let Some(p) = p {
                        framed.decoder_mut().set_params(p);
                    }
                }
            }
            Err(CodecError::Protocol(n)) => {
                let _ = events.send(ConnEvent::DecodeError(id, n)).await;
                return;
            }
            Err(_) => break,
        }
    }
    let _ = events.send(ConnEvent::Closed(id)).await;
}

pub(super) async fn writer(
    mut wr: OwnedWriteHalf,
    id: ConnId,
    mut ctrl: mpsc::UnboundedReceiver<WriteCmd>,
    bulk: Arc<BulkQueue>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    loop {
        // Control messages first, always; then one bulk UPDATE; else wait.
        let data = match ctrl.try_recv() {
            Ok(WriteCmd::Data(b)) => b,
            Ok(WriteCmd::Close) | Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => match bulk.pop() {
                Some(b) => {
                    bulk.taken(id, &events);
                    b
                }
                None => {
                    tokio::select! {
                        biased;
                        c = ctrl.recv() => match c {
                            Some(WriteCmd::Data(b)) => b,
                            Some(WriteCmd::Close) | None => break,
                        },
                        _ = bulk.notify.notified() => continue,
                    }
                }
            },
        };
        let mut write = std::pin::pin!(wr.write_all(&data));
        let mut blocked = false;
        let result = loop {
            tokio::select! {
                r = &mut write => break r,
                _ = tokio::time::sleep(STALL), if !blocked => {
                    blocked = true;
                    let _ = events.send(ConnEvent::Blocked(id));
                }
            }
        };
        if blocked {
            let _ = events.send(ConnEvent::Progress(id));
        }
        if result.is_err() {
            let _ = events.send(ConnEvent::Closed(id));
            return;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}
