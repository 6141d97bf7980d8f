//! Outpost (vendor/README.md): a data-channel sender sends the packets its message made
//! itself, instead of waking the driver to send them.
//!
//! Upstream, `DataChannel::send` puts the message in the core and wakes the driver, which
//! takes the packets out and sends them: one more turn of the driver task per message, on
//! the path of every call and every answer (on tokio it runs on the sender's own worker,
//! so it costs work, not a wake of another thread). Here the sender takes the packets out
//! under the core's lock it already holds and sends them on the driver's socket itself
//! ([`AsyncUdpSocket::try_send`], which registers no waker). The driver is woken only when
//! it must be:
//!
//! - the core now wants a timer earlier than the one the driver sleeps until (SCTP's
//!   retransmission timer, when none was running);
//! - a packet could not be sent here (no such socket, TCP, mDNS, a socket not known to be
//!   writable, an error such as the `EPERM` of a packet a firewall dropped on the way
//!   out): it and the packets behind it wait in `DirectSend::left`, which the driver sends
//!   first (and logs, as ever, when it cannot send them either);
//! - the message made no packet (the congestion window is full) or many (a large
//!   message: the driver sends those in GSO batches).
//!
//! Events the send raised in the core (buffered-amount ones) are handed over at the
//! driver's next wake, at the latest when the peer acknowledges the message.

use super::PeerConnectionRef;
use crate::runtime::{AsyncUdpSocket, Transmit};
use rtc::mdns::MDNS_PORT;
use rtc::peer_connection::RTCPeerConnection;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportProtocol};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

/// More packets than this from one send go through the driver, which sends a run of
/// equal datagrams in one GSO syscall.
const MAX_DIRECT_PACKETS: usize = 4;

/// No timer: the driver sleeps until something wakes it.
const NO_DEADLINE: u64 = u64::MAX;

pub(crate) struct DirectSend {
    /// The driver's UDP sockets by local address, while the driver runs.
    sockets: RwLock<HashMap<SocketAddr, Arc<dyn AsyncUdpSocket>>>,
    /// Packets a sender did not send itself, in order, for the driver to send first.
    left: Mutex<VecDeque<TaggedBytesMut>>,
    /// The core's next timeout as the driver last read it, under the core's lock, in
    /// nanoseconds since `epoch` ([`NO_DEADLINE`] for none). The driver sleeps no later.
    deadline: AtomicU64,
    epoch: Instant,
}

/// What a sender took out of the core under its lock, to send once it has let go.
pub(crate) struct Taken {
    writes: Vec<TaggedBytesMut>,
    wake: bool,
}

impl DirectSend {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            sockets: RwLock::new(HashMap::new()),
            left: Mutex::new(VecDeque::new()),
            deadline: AtomicU64::new(0),
            epoch,
        }
    }

    /// Driver: the sockets it reads and writes, after each bind (empty to stop).
    pub(crate) fn set_sockets<'a>(
        &self,
        sockets: impl Iterator<Item = (&'a SocketAddr, &'a Arc<dyn AsyncUdpSocket>)>,
    ) {
        let mut map = self.sockets.write().unwrap_or_else(PoisonError::into_inner);
        map.clear();
        map.extend(sockets.map(|(addr, socket)| (*addr, socket.clone())));
    }

    /// Driver, under the core's lock: the core's next timeout, which it sleeps until at most.
    pub(crate) fn note_deadline(&self, at: Option<Instant>) {
        self.deadline
            .store(at.map_or(NO_DEADLINE, |t| self.nanos(t)), Ordering::Release);
    }

    /// Driver: the packets senders left, oldest first, ahead of the core's own.
    pub(crate) fn take_left(&self, writes: &mut Vec<TaggedBytesMut>) {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        writes.extend(left.drain(..));
    }

    /// Sender, under the core's lock, just after putting a message in: the packets the
    /// core made for it, and whether the driver must wake for its timer.
    pub(crate) fn take(&self, core: &mut RTCPeerConnection) -> Taken {
        if self
            .sockets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            return Taken {
                writes: Vec::new(),
                wake: true,
            };
        }
        let mut writes = Vec::new();
        while let Some(w) = core.poll_write() {
            writes.push(w);
        }
        let wake = writes.is_empty()
            || core
                .poll_timeout()
                .is_some_and(|t| self.nanos(t) < self.deadline.load(Ordering::Acquire));
        Taken { writes, wake }
    }

    /// Sender, once it has let go of the core: sends what it took. `true` when the
    /// driver must wake (see the module's doc).
    pub(crate) fn send(&self, taken: Taken) -> bool {
        let Taken { writes, wake } = taken;
        if writes.is_empty() {
            return wake;
        }
        let mut writes = writes.into_iter();
        if writes.len() <= MAX_DIRECT_PACKETS
            && self
                .left
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        {
            let sockets = self.sockets.read().unwrap_or_else(PoisonError::into_inner);
            while let Some(w) = writes.next() {
                if !Self::try_send(&sockets, &w) {
                    let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
                    left.push_back(w);
                    left.extend(writes);
                    return true;
                }
            }
            return wake;
        }
        self.left
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(writes);
        true
    }

    fn try_send(
        sockets: &HashMap<SocketAddr, Arc<dyn AsyncUdpSocket>>,
        w: &TaggedBytesMut,
    ) -> bool {
        let tp = w.transport;
        if tp.transport_protocol != TransportProtocol::UDP || tp.peer_addr.port() == MDNS_PORT {
            return false;
        }
        let Some(socket) = sockets.get(&tp.local_addr) else {
            return false;
        };
        socket
            .try_send(&Transmit {
                destination: tp.peer_addr,
                ecn: None,
                contents: &w.message,
                segment_size: None,
                src_ip: None,
            })
            .is_ok()
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NO_DEADLINE - 1)
    }
}

impl PeerConnectionRef {
    /// After a data-channel send, sends what the sender took out of the core, waking the
    /// driver only when it must.
    pub(crate) async fn send_taken(&self, taken: Taken) {
        if self.direct.send(taken) {
            self.wake_writes().await;
        }
    }
}
