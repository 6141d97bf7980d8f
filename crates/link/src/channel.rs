//! `Channel`: the `db` data channel as a pipe of whole messages (framed,
//! chunked and batched, see `framing`). A writer task per channel sends
//! what the senders queue, in order; the receiver reads the data channel
//! itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use crate::error::{LinkError, Result};
use crate::framing::{batch, batch_size, fits_whole, split, Reassembler, MAX_FRAME};
use crate::peer::{PcEvent, MAX_MESSAGE};

struct Shared {
    pc: Arc<dyn PeerConnection>,
    dc: Arc<dyn DataChannel>,
    max_frame: usize,
    closed: AtomicBool,
    /// Whole messages sent, and the frames they went in.
    whole_messages: AtomicU64,
    whole_frames: AtomicU64,
}

impl Shared {
    /// Marks the channel closed, then closes it and the connection.
    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.dc.close().await;
        let _ = self.pc.close().await;
    }
}

/// Sending half of a channel; cheap to clone.
#[derive(Clone)]
pub struct ChannelSender {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Outgoing>,
}

/// A message waiting for the channel's writer, and who waits for it.
struct Outgoing {
    frames: Frames,
    sent: Waiter,
    company: Company,
}

/// Whether a message's poster expects others to follow it at once (more
/// calls under way): the writer then gives them one turn to queue theirs,
/// so they share its frame. A message on its own goes at once: that turn
/// would wake the runtime's other worker, and a lone call's round trip
/// would then hop between threads (issue 16, BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Company {
    /// No other call is under way.
    Alone,
    /// Other calls are under way: their messages may be on their way too.
    Expected,
}

impl Company {
    /// Company for a message of one of `under_way` calls (itself counted).
    pub fn among(under_way: usize) -> Company {
        if under_way > 1 {
            Company::Expected
        } else {
            Company::Alone
        }
    }
}

/// Who waits for a queued message.
enum Waiter {
    /// A sender that wants the outcome (`send`).
    Outcome(oneshot::Sender<Result<(), Failed>>),
    /// What a poster holds until the message has left (`post`): a permit
    /// that bounds how much one peer can have queued.
    Hold(Box<dyn Send>),
}

impl Waiter {
    fn done(self, outcome: &Result<(), Failed>) {
        match self {
            Waiter::Outcome(s) => {
                let _ = s.send(outcome.clone());
            }
            Waiter::Hold(hold) => {
                if let Err(e) = outcome {
                    tracing::debug!(error = ?e, "a posted message was not sent");
                }
                drop(hold);
            }
        }
    }
}

enum Frames {
    /// A whole message that fits one frame, as the sender gave it: framed
    /// by the writer, alone or in a batch frame.
    Whole(Bytes),
    /// A message's chunks, or a test's raw frame: sent alone, in order.
    Alone(Vec<BytesMut>),
}

/// Why a send failed, for every message of a frame.
#[derive(Debug, Clone)]
enum Failed {
    Closed,
    Rtc(String),
}

impl From<Failed> for LinkError {
    fn from(f: Failed) -> LinkError {
        match f {
            Failed::Closed => LinkError::Closed,
            Failed::Rtc(why) => LinkError::Rtc(why),
        }
    }
}

/// Receiving half: whole messages, in order. It reads the data channel
/// itself when asked (no task between them: one hand-off less per message),
/// and closes the connection when the channel or the connection ends, or
/// when it is dropped.
pub struct ChannelReceiver {
    shared: Arc<Shared>,
    /// The rest of the peer's events: a failed or closed connection ends
    /// the channel.
    events: mpsc::UnboundedReceiver<PcEvent>,
    reasm: Reassembler,
    /// The messages of a batch frame not yet handed out.
    ready: VecDeque<Bytes>,
    ended: bool,
}

/// An open `db` data channel to one peer.
pub struct Channel {
    pub tx: ChannelSender,
    pub rx: ChannelReceiver,
}

impl Channel {
    /// Wraps an open data channel. `events` are the rest of the peer's
    /// events (connection state); `max_frame` the remote's limit.
    pub(crate) fn start(
        pc: Arc<dyn PeerConnection>,
        dc: Arc<dyn DataChannel>,
        events: mpsc::UnboundedReceiver<PcEvent>,
        max_frame: usize,
        batches: bool,
    ) -> Channel {
        let shared = Arc::new(Shared {
            pc,
            dc,
            max_frame: max_frame.min(MAX_FRAME),
            closed: AtomicBool::new(false),
            whole_messages: AtomicU64::new(0),
            whole_frames: AtomicU64::new(0),
        });
        let (queue, outgoing) = mpsc::unbounded_channel();
        tokio::spawn(write(shared.clone(), outgoing, batches));
        Channel {
            tx: ChannelSender {
                shared: shared.clone(),
                queue,
            },
            rx: ChannelReceiver {
                shared,
                events,
                reasm: Reassembler::new(MAX_MESSAGE),
                ready: VecDeque::new(),
                ended: false,
            },
        }
    }
}

/// Sends the queued messages in order until every sender is gone. With
/// `batches` (the peer reads them), the whole messages waiting together
/// leave as one batch frame, up to the peer's frame limit: a message
/// whose poster expects company waits one turn for it, any other goes as
/// it is with whatever is already queued.
async fn write(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Outgoing>, batches: bool) {
    let mut next = None;
    // Kept from frame to frame, so a batch allocates only its frame.
    let mut waiting = Vec::new();
    let mut together = Vec::new();
    loop {
        let first = match next.take() {
            Some(o) => o,
            None => match queue.recv().await {
                Some(o) => o,
                None => break,
            },
        };
        waiting.push(first.sent);
        let frames = match first.frames {
            Frames::Alone(frames) => frames,
            Frames::Whole(f) => {
                let mut room = shared.max_frame.saturating_sub(1 + batch_size(&f));
                together.push(f);
                if batches && first.company == Company::Expected {
                    // One turn for the tasks already woken (the other
                    // calls of a pipelined burst) to queue theirs: 4.5
                    // messages a frame in the link bench, 1.2 without.
                    tokio::task::yield_now().await;
                }
                while let Some(o) = batches.then(|| queue.try_recv().ok()).flatten() {
                    match o.frames {
                        Frames::Whole(f) if batch_size(&f) <= room => {
                            room -= batch_size(&f);
                            together.push(f);
                            waiting.push(o.sent);
                        }
                        _ => {
                            next = Some(o);
                            break;
                        }
                    }
                }
                shared.whole_frames.fetch_add(1, Ordering::Relaxed);
                shared
                    .whole_messages
                    .fetch_add(together.len() as u64, Ordering::Relaxed);
                let frame = batch(&together);
                together.clear();
                vec![frame]
            }
        };
        let mut outcome = Ok(());
        for f in frames {
            if let Err(e) = shared.dc.send(f).await {
                outcome = Err(if shared.closed.load(Ordering::SeqCst) {
                    Failed::Closed
                } else {
                    Failed::Rtc(e.to_string())
                });
                break;
            }
        }
        for w in waiting.drain(..) {
            w.done(&outcome);
        }
    }
    let (messages, frames) = ChannelSender::counts(&shared);
    tracing::debug!(
        messages,
        frames,
        "channel writer done (whole messages, and the frames they went in)"
    );
}

impl ChannelSender {
    /// Sends one message (chunked as needed). Messages from concurrent
    /// callers never interleave, and a caller that stops waiting half way
    /// does not cut a message short: the frames go out from a task of their
    /// own (a cut message would make the peer drop the next one too).
    pub async fn send(&self, msg: &[u8]) -> Result<()> {
        let frames = self.frames(Bytes::copy_from_slice(msg))?;
        self.enqueue(frames).await
    }

    /// Queues one message and returns at once, where [`send`](Self::send)
    /// waits until it has left: for answers whose sender does nothing with
    /// the outcome, which saves waking it again for each (issue 16). `hold`
    /// is dropped once the message has left (or failed to): a permit there
    /// keeps a peer that stops reading from having more queued. The
    /// message is taken as it is (a `String` or `Bytes` moves in, no copy).
    /// `company` says whether other calls are under way ([`Company`]).
    pub fn post(
        &self,
        msg: impl Into<Bytes>,
        hold: impl Send + 'static,
        company: Company,
    ) -> Result<()> {
        let frames = self.frames(msg.into())?;
        self.queue
            .send(Outgoing {
                frames,
                sent: Waiter::Hold(Box::new(hold)),
                company,
            })
            .map_err(|_| LinkError::Closed)
    }

    /// One message as the frames it goes in; refused when the channel is
    /// closed or the message is over the limit.
    fn frames(&self, msg: Bytes) -> Result<Frames> {
        if self.is_closed() {
            return Err(LinkError::Closed);
        }
        if msg.len() > MAX_MESSAGE {
            return Err(LinkError::TooLarge {
                size: msg.len(),
                limit: MAX_MESSAGE,
            });
        }
        Ok(if fits_whole(msg.len(), self.shared.max_frame) {
            Frames::Whole(msg)
        } else {
            Frames::Alone(split(&msg, self.shared.max_frame))
        })
    }

    /// Hands frames to the channel's writer and waits until they are sent.
    async fn enqueue(&self, frames: Frames) -> Result<()> {
        let (sent, outcome) = oneshot::channel();
        self.queue
            .send(Outgoing {
                frames,
                sent: Waiter::Outcome(sent),
                company: Company::Alone,
            })
            .map_err(|_| LinkError::Closed)?;
        Ok(outcome.await.map_err(|_| LinkError::Closed)??)
    }

    /// Sends one frame as given (header byte included), unchecked: only for
    /// tests that play a broken or hostile peer (bad frame kinds, messages
    /// over the limit), which `send` never produces.
    #[doc(hidden)]
    pub async fn send_raw_frame(&self, frame: &[u8]) -> Result<()> {
        if self.is_closed() {
            return Err(LinkError::Closed);
        }
        self.enqueue(Frames::Alone(vec![BytesMut::from(frame)]))
            .await
    }

    /// The whole messages (not chunked) sent so far, and the frames they
    /// went in: fewer frames than messages when they shared batch frames.
    pub fn sent_whole(&self) -> (u64, u64) {
        Self::counts(&self.shared)
    }

    fn counts(shared: &Shared) -> (u64, u64) {
        (
            shared.whole_messages.load(Ordering::Relaxed),
            shared.whole_frames.load(Ordering::Relaxed),
        )
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Sends a last message, then closes once the peer has acknowledged it
    /// (or `within` has passed): closing at once could tear the connection
    /// down while the message still waits in SCTP's queue.
    pub async fn send_last(&self, msg: &[u8], within: Duration) {
        if self.send(msg).await.is_ok() {
            let deadline = tokio::time::Instant::now() + within;
            while matches!(self.shared.dc.outstanding_bytes().await, Ok(n) if n > 0)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.close().await;
    }

    /// Closes the channel and the connection.
    pub async fn close(&self) {
        self.shared.close().await;
    }
}

impl ChannelReceiver {
    /// The next message; `None` once the channel is closed. A malformed or
    /// oversized message is an `Err` and the channel stays usable.
    pub async fn recv(&mut self) -> Option<Result<Bytes>> {
        loop {
            if let Some(msg) = self.ready.pop_front() {
                return Some(Ok(msg));
            }
            if self.ended {
                return None;
            }
            let ended = tokio::select! {
                ev = self.shared.dc.poll() => match ev {
                    Some(DataChannelEvent::OnMessage(m)) => {
                        if let Err(e) = self.reasm.push(m.data.freeze(), &mut self.ready) {
                            return Some(Err(e));
                        }
                        false
                    }
                    Some(DataChannelEvent::OnClose) | None => true,
                    Some(_) => false,
                },
                ev = self.events.recv() => matches!(
                    ev,
                    Some(PcEvent::State(
                        RTCPeerConnectionState::Failed
                            | RTCPeerConnectionState::Closed
                            | RTCPeerConnectionState::Disconnected,
                    )) | None
                ),
            };
            if ended {
                self.ended = true;
                self.shared.close().await;
            }
        }
    }
}

/// A receiver dropped before its channel ended closes the connection, as
/// a peer that stops reading is done with it.
impl Drop for ChannelReceiver {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            rt.spawn(async move { shared.close().await });
        }
    }
}
