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

use bytes::{BufMut, BytesMut};

use crate::error::LinkError;

/// Largest frame we send: 64 KiB, which every WebRTC peer accepts.
pub const MAX_FRAME: usize = 64 * 1024;

const WHOLE: u8 = 0;
const MORE: u8 = 1;
const LAST: u8 = 2;
const BATCH: u8 = 3;
/// What a message adds to a batch frame besides its own bytes: its length.
pub const BATCH_ENTRY: usize = 4;

/// Joins whole-message frames (each the one frame of [`split`]) into one batch frame,
/// or gives the one frame back alone. The caller keeps the total within
/// the peer's frame limit: [`batch_size`].
pub fn batch(frames: Vec<BytesMut>) -> BytesMut {
    if frames.len() == 1 {
        return frames.into_iter().next().unwrap_or_default();
    }
    let size = 1 + frames.iter().map(|f| batch_size(f)).sum::<usize>();
    let mut b = BytesMut::with_capacity(size);
    b.put_u8(BATCH);
    for f in &frames {
        let msg = &f[1..];
        b.put_u32(msg.len() as u32);
        b.extend_from_slice(msg);
    }
    b
}

/// What a whole-message frame takes in a batch frame.
pub fn batch_size(whole: &[u8]) -> usize {
    whole.len() - 1 + BATCH_ENTRY
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

    /// Feeds one frame; returns the messages it completes (none, one, or a
    /// batch's).
    pub fn push(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, LinkError> {
        let (&kind, body) = frame
            .split_first()
            .ok_or_else(|| LinkError::Frame("an empty frame".into()))?;
        let idle = self.buf.is_empty() && !self.skipping;
        match kind {
            WHOLE if idle => {
                if body.len() > self.limit {
                    return Err(self.too_large(body.len()));
                }
                Ok(vec![body.to_vec()])
            }
            BATCH if idle => unbatch(body),
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
                        return Ok(vec![msg]);
                    }
                }
                Ok(Vec::new())
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

/// The messages of a batch frame's body; a body cut short, or with no
/// message at all, is refused whole.
fn unbatch(mut body: &[u8]) -> Result<Vec<Vec<u8>>, LinkError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let cut = || LinkError::Frame("a batch frame cut short".into());
        let (len, rest) = body.split_first_chunk::<BATCH_ENTRY>().ok_or_else(cut)?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > rest.len() {
            return Err(cut());
        }
        let (msg, rest) = rest.split_at(len);
        out.push(msg.to_vec());
        body = rest;
    }
    if out.is_empty() {
        return Err(LinkError::Frame("an empty batch frame".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(r.push(&f[0]).unwrap(), vec![b"hello".to_vec()]);
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
            out.extend(r.push(f).unwrap());
        }
        assert_eq!(out, vec![msg]);
    }

    #[test]
    fn an_oversized_message_is_refused_and_the_next_one_still_arrives() {
        let big = vec![7u8; 5000];
        let mut r = Reassembler::new(1000);
        let mut errors = 0;
        for f in split(&big, 600) {
            if r.push(&f).is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 1, "one error for the message, not one per chunk");
        assert_eq!(r.push(&split(b"ok", 600)[0]).unwrap(), vec![b"ok".to_vec()]);
    }

    #[test]
    fn garbage_frames_are_errors_not_panics() {
        let mut r = Reassembler::new(100);
        assert!(r.push(&[]).is_err());
        assert!(r.push(&[9, 1, 2]).is_err());
        r.push(&[1, 1]).unwrap();
        assert!(r.push(&[0, 1]).is_err());
        assert_eq!(r.push(&[0, 5]).unwrap(), vec![vec![5]]);
        // Batches: cut short, empty, or inside a chunked message.
        assert!(r.push(&[3, 0, 0, 0, 2, 9]).is_err());
        assert!(r.push(&[3, 0, 0]).is_err());
        assert!(r.push(&[3]).is_err());
        r.push(&[1, 1]).unwrap();
        assert!(r.push(&[3, 0, 0, 0, 1, 9]).is_err());
        assert_eq!(r.push(&[3, 0, 0, 0, 1, 9]).unwrap(), vec![vec![9]]);
    }

    #[test]
    fn a_batch_carries_whole_messages_in_order_and_one_alone_stays_whole() {
        let frames: Vec<BytesMut> = [&b"get 1"[..], b"", b"get three"]
            .iter()
            .flat_map(|m| split(m, MAX_FRAME))
            .collect();
        assert_eq!(frames.len(), 3);
        let size = 1 + frames.iter().map(|f| batch_size(f)).sum::<usize>();
        let b = batch(frames);
        assert_eq!(b.len(), size);
        assert_eq!(&b[..10], &[3, 0, 0, 0, 5, b'g', b'e', b't', b' ', b'1']);
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(&b).unwrap(),
            vec![b"get 1".to_vec(), vec![], b"get three".to_vec()]
        );
        let one = batch(split(b"alone", MAX_FRAME));
        assert_eq!(&one[..], b"\0alone");
    }
}
