//! Framing on the `db` data channel: every message travels as one or more
//! binary frames no larger than the peer's maximum message size.
//!
//! Each frame starts with one byte: `0` a whole message, `1` a chunk with
//! more to follow, `2` the last chunk, `3` a batch of whole messages. The
//! channel is reliable and ordered and each side sends one message's frames
//! back to back, so chunks need no ids.
//!
//! A batch carries each message as its length (4 bytes, big-endian) and its
//! bytes. A side sends batches only to a peer that said it reads them
//! (`batches` in the hello and in the offer): when several messages wait to
//! go at once (pipelined calls, their answers), one SCTP message carries
//! them all, where each would cost the same again in webrtc-rs (issue 16).

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::LinkError;

/// Largest frame we send: 64 KiB, which every WebRTC peer accepts.
pub const MAX_FRAME: usize = 64 * 1024;

const WHOLE: u8 = 0;
const MORE: u8 = 1;
const LAST: u8 = 2;
const BATCH: u8 = 3;
/// What a message adds to a batch frame besides its own bytes: its length.
pub const BATCH_ENTRY: usize = 4;

/// Whether a message of `len` bytes goes whole, in one frame of at most
/// `max_frame` bytes (its kind byte included), rather than in chunks.
pub fn fits_whole(len: usize, max_frame: usize) -> bool {
    len < max_frame.max(2)
}

/// Joins whole messages (each one that [`fits_whole`]) into one batch
/// frame, or makes the one message's whole frame. The caller keeps the
/// total within the peer's frame limit: [`batch_size`].
pub fn batch(msgs: &[Bytes]) -> BytesMut {
    if let [one] = msgs {
        return frame(WHOLE, one);
    }
    let size = 1 + msgs.iter().map(|m| batch_size(m)).sum::<usize>();
    let mut b = BytesMut::with_capacity(size);
    b.put_u8(BATCH);
    for msg in msgs {
        b.put_u32(msg.len() as u32);
        b.extend_from_slice(msg);
    }
    b
}

/// What a whole message takes in a batch frame.
pub fn batch_size(msg: &[u8]) -> usize {
    msg.len() + BATCH_ENTRY
}

/// Splits `msg` into frames of at most `max_frame` bytes (header included):
/// one whole-message frame when it fits, else its chunks.
pub fn split(msg: &[u8], max_frame: usize) -> Vec<BytesMut> {
    let room = max_frame.max(2) - 1;
    if msg.len() <= room {
        return vec![frame(WHOLE, msg)];
    }
    let chunks: Vec<&[u8]> = msg.chunks(room).collect();
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| frame(if i == last { LAST } else { MORE }, c))
        .collect()
}

fn frame(kind: u8, body: &[u8]) -> BytesMut {
    let mut f = BytesMut::with_capacity(body.len() + 1);
    f.put_u8(kind);
    f.extend_from_slice(body);
    f
}

/// Joins frames back into messages, refusing any message over `limit`.
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    limit: usize,
    /// Set after an oversized message: drop its remaining chunks.
    skipping: bool,
}

impl Reassembler {
    pub fn new(limit: usize) -> Reassembler {
        Reassembler {
            buf: Vec::new(),
            limit,
            skipping: false,
        }
    }

    /// Feeds one frame; adds the messages it completes (none, one, or a
    /// batch's) to `out`. A whole message or a batch's are slices of
    /// `frame`, not copies.
    pub fn push(&mut self, frame: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), LinkError> {
        let Some(&kind) = frame.first() else {
            return Err(LinkError::Frame("an empty frame".into()));
        };
        let body = &frame[1..];
        let idle = self.buf.is_empty() && !self.skipping;
        match kind {
            WHOLE if idle => {
                if body.len() > self.limit {
                    return Err(self.too_large(body.len()));
                }
                out.push_back(frame.slice(1..));
                Ok(())
            }
            BATCH if idle => unbatch(&frame, out),
            MORE | LAST => {
                if !self.skipping {
                    if self.buf.len() + body.len() > self.limit {
                        let size = self.buf.len() + body.len();
                        self.buf = Vec::new();
                        self.skipping = kind == MORE;
                        return Err(self.too_large(size));
                    }
                    self.buf.extend_from_slice(body);
                }
                if kind == LAST {
                    let skipped = std::mem::replace(&mut self.skipping, false);
                    let msg = std::mem::take(&mut self.buf);
                    if !skipped {
                        out.push_back(msg.into());
                    }
                }
                Ok(())
            }
            WHOLE | BATCH => {
                self.buf.clear();
                self.skipping = false;
                Err(LinkError::Frame(
                    "a new message started before the previous one ended".into(),
                ))
            }
            other => Err(LinkError::Frame(format!("unknown frame kind {other}"))),
        }
    }

    fn too_large(&self, size: usize) -> LinkError {
        LinkError::TooLarge {
            size,
            limit: self.limit,
        }
    }
}

/// The messages of a batch frame, as slices of it; a batch cut short, or
/// with no message at all, is refused whole (none of it stays in `out`).
fn unbatch(frame: &Bytes, out: &mut VecDeque<Bytes>) -> Result<(), LinkError> {
    let start = out.len();
    let mut rest = &frame[1..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<BATCH_ENTRY>() else {
            out.truncate(start);
            return Err(LinkError::Frame("a batch frame cut short".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            out.truncate(start);
            return Err(LinkError::Frame("a batch frame cut short".into()));
        }
        let at = frame.len() - tail.len();
        out.push_back(frame.slice(at..at + len));
        rest = &tail[len..];
    }
    if out.len() == start {
        return Err(LinkError::Frame("an empty batch frame".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `frame` completes, or its error.
    fn push(r: &mut Reassembler, frame: &[u8]) -> Result<Vec<Vec<u8>>, LinkError> {
        let mut out = VecDeque::new();
        r.push(Bytes::copy_from_slice(frame), &mut out)?;
        Ok(out.into_iter().map(|m| m.to_vec()).collect())
    }

    /// The same vector is pinned in the browser's framing
    /// (`ui/src/lib/rtc/rtc.test.ts`).
    #[test]
    fn frames_match_the_browser_byte_for_byte() {
        let frames = split(b"hello world", 5);
        assert_eq!(
            frames,
            vec![
                vec![1, b'h', b'e', b'l', b'l'],
                vec![1, b'o', b' ', b'w', b'o'],
                vec![2, b'r', b'l', b'd'],
            ]
        );
    }

    #[test]
    fn small_messages_are_one_frame() {
        let f = split(b"hello", MAX_FRAME);
        assert_eq!(f, vec![b"\0hello".to_vec()]);
        // A frame is the message and its kind.
        assert_eq!(split(&[0; 9], 10).len(), 1);
        assert_eq!(split(&[0; 10], 10).len(), 2);
        let mut r = Reassembler::new(1 << 20);
        assert_eq!(push(&mut r, &f[0]).unwrap(), vec![b"hello".to_vec()]);
    }

    #[test]
    fn large_messages_are_chunked_within_the_limit_and_reassembled() {
        let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let frames = split(&msg, 16 * 1024);
        assert!(frames.len() > 18);
        assert!(frames.iter().all(|f| f.len() <= 16 * 1024));
        let mut r = Reassembler::new(1 << 20);
        let mut out = Vec::new();
        for f in &frames {
            out.extend(push(&mut r, f).unwrap());
        }
        assert_eq!(out, vec![msg]);
    }

    #[test]
    fn an_oversized_message_is_refused_and_the_next_one_still_arrives() {
        let big = vec![7u8; 5000];
        let mut r = Reassembler::new(1000);
        let mut errors = 0;
        for f in split(&big, 600) {
            if push(&mut r, &f).is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 1, "one error for the message, not one per chunk");
        assert_eq!(
            push(&mut r, &split(b"ok", 600)[0]).unwrap(),
            vec![b"ok".to_vec()]
        );
    }

    #[test]
    fn garbage_frames_are_errors_not_panics() {
        let mut r = Reassembler::new(100);
        assert!(push(&mut r, &[]).is_err());
        assert!(push(&mut r, &[9, 1, 2]).is_err());
        push(&mut r, &[1, 1]).unwrap();
        assert!(push(&mut r, &[0, 1]).is_err());
        assert_eq!(push(&mut r, &[0, 5]).unwrap(), vec![vec![5]]);
        // Batches: cut short, empty, or inside a chunked message.
        assert!(push(&mut r, &[3, 0, 0, 0, 2, 9]).is_err());
        // A whole message, then a cut one: neither is handed out.
        let mut out = VecDeque::new();
        let cut = Bytes::from_static(&[3, 0, 0, 0, 1, 9, 0, 0]);
        assert!(r.push(cut, &mut out).is_err());
        assert!(out.is_empty(), "a cut batch gave {out:?}");
        assert!(push(&mut r, &[3, 0, 0]).is_err());
        assert!(push(&mut r, &[3]).is_err());
        push(&mut r, &[1, 1]).unwrap();
        assert!(push(&mut r, &[3, 0, 0, 0, 1, 9]).is_err());
        assert_eq!(push(&mut r, &[3, 0, 0, 0, 1, 9]).unwrap(), vec![vec![9]]);
    }

    #[test]
    fn a_batch_carries_whole_messages_in_order_and_one_alone_stays_whole() {
        let msgs: Vec<Bytes> = [&b"get 1"[..], b"", b"get three"]
            .iter()
            .map(|m| Bytes::copy_from_slice(m))
            .collect();
        assert!(msgs.iter().all(|m| fits_whole(m.len(), MAX_FRAME)));
        let size = 1 + msgs.iter().map(|m| batch_size(m)).sum::<usize>();
        let b = batch(&msgs);
        assert_eq!(b.len(), size);
        assert_eq!(&b[..10], &[3, 0, 0, 0, 5, b'g', b'e', b't', b' ', b'1']);
        let mut r = Reassembler::new(100);
        assert_eq!(
            push(&mut r, &b).unwrap(),
            vec![b"get 1".to_vec(), vec![], b"get three".to_vec()]
        );
        let one = batch(&[Bytes::from_static(b"alone")]);
        assert_eq!(&one[..], b"\0alone");
        assert_eq!(&split(b"alone", MAX_FRAME)[0][..], &one[..]);
    }

    #[test]
    fn a_message_fits_whole_when_it_and_its_kind_fit_the_frame() {
        assert!(fits_whole(9, 10));
        assert!(!fits_whole(10, 10));
        assert_eq!(split(&[0; 9], 10).len(), 1);
        assert_eq!(split(&[0; 10], 10).len(), 2);
    }
}
