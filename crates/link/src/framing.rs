//! Framing on the `db` data channel: every message travels as one or more
//! binary frames no larger than the peer's maximum message size.
//!
//! Each frame starts with one byte: `0` a whole message, `1` a chunk with
//! more to follow, `2` the last chunk. The channel is reliable and ordered
//! and each side sends one message's frames back to back, so chunks need
//! no ids.

use crate::error::LinkError;

/// Largest frame we send: 64 KiB, which every WebRTC peer accepts.
pub const MAX_FRAME: usize = 64 * 1024;

const WHOLE: u8 = 0;
const MORE: u8 = 1;
const LAST: u8 = 2;

/// Splits `msg` into frames of at most `max_frame` bytes (header included).
pub fn split(msg: &[u8], max_frame: usize) -> Vec<Vec<u8>> {
    let room = max_frame.max(2) - 1;
    if msg.len() <= room {
        let mut f = Vec::with_capacity(msg.len() + 1);
        f.push(WHOLE);
        f.extend_from_slice(msg);
        return vec![f];
    }
    let chunks: Vec<&[u8]> = msg.chunks(room).collect();
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut f = Vec::with_capacity(c.len() + 1);
            f.push(if i == last { LAST } else { MORE });
            f.extend_from_slice(c);
            f
        })
        .collect()
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

    /// Feeds one frame; returns a message when one is complete.
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, LinkError> {
        let (&kind, body) = frame
            .split_first()
            .ok_or_else(|| LinkError::Frame("an empty frame".into()))?;
        match kind {
            WHOLE if self.buf.is_empty() && !self.skipping => {
                if body.len() > self.limit {
                    return Err(self.too_large(body.len()));
                }
                Ok(Some(body.to_vec()))
            }
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
                    return Ok((!skipped).then_some(msg));
                }
                Ok(None)
            }
            WHOLE => {
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
        let mut r = Reassembler::new(1 << 20);
        assert_eq!(r.push(&f[0]).unwrap(), Some(b"hello".to_vec()));
    }

    #[test]
    fn large_messages_are_chunked_within_the_limit_and_reassembled() {
        let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let frames = split(&msg, 16 * 1024);
        assert!(frames.len() > 18);
        assert!(frames.iter().all(|f| f.len() <= 16 * 1024));
        let mut r = Reassembler::new(1 << 20);
        let mut out = None;
        for f in &frames {
            out = r.push(f).unwrap();
        }
        assert_eq!(out, Some(msg));
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
        assert_eq!(r.push(&split(b"ok", 600)[0]).unwrap(), Some(b"ok".to_vec()));
    }

    #[test]
    fn garbage_frames_are_errors_not_panics() {
        let mut r = Reassembler::new(100);
        assert!(r.push(&[]).is_err());
        assert!(r.push(&[9, 1, 2]).is_err());
        r.push(&[1, 1]).unwrap();
        assert!(r.push(&[0, 1]).is_err());
        assert_eq!(r.push(&[0, 5]).unwrap(), Some(vec![5]));
    }
}
