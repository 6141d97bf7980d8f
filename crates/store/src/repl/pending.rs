//! What the standby received and has not applied yet: a file beside its
//! copy (`outpost.sqlite.pending`). Each answer from the master is appended
//! to it, written to the operating system (not flushed), before the standby
//! says it holds those changes: PostgreSQL's `remote_write`, which a
//! synchronous master waits for. The standby applies them to its copy right
//! after, while its next request (the acknowledgement) is already on its
//! way, and empties the file once all are applied.
//!
//! Whoever opens the copy next applies what is left first: the standby
//! after a crash, and every [`crate::Store::open`] (a promotion, a master
//! started on a standby's folder).
//!
//! A record: `seq` (u64 LE), `len` (u32 LE), a CRC-32 of both and of the
//! bytes (u32 LE), then the changeset. A short or damaged record ends the
//! file: it was being written when the process or the PC stopped, so it was
//! never acknowledged (a PC that lost power loses the last moment of
//! unflushed writes anyway, as its copy's own commits do).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Result;

const HEADER: usize = 16;
/// A record longer than this is damage, not a changeset (the master sends
/// at most a few MiB per answer).
const MAX_RECORD: usize = 256 << 20;

/// A received changeset: its number and bytes.
pub type Received = (u64, Vec<u8>);

/// The file of received changesets beside the copy at `db`.
pub fn pending_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".pending");
    db.with_file_name(name)
}

/// Whether changes received by a standby wait beside the copy at `db`.
pub fn left_beside(db: &Path) -> bool {
    std::fs::metadata(pending_path(db)).is_ok_and(|m| m.len() > 0)
}

/// The open file, appended to.
pub(crate) struct Pending {
    file: File,
    /// Bytes in the file (0 when empty).
    len: u64,
}

impl Pending {
    /// Opens (or makes) the file beside `db`; the records it holds, in the
    /// order written, up to the first short or damaged one.
    pub(crate) fn open(db: &Path) -> Result<(Pending, Vec<Received>)> {
        let path = pending_path(db);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let records = parse(&bytes);
        Ok((
            Pending {
                file,
                len: bytes.len() as u64,
            },
            records,
        ))
    }

    /// Appends `batch` with one write (to the OS; not flushed).
    pub(crate) fn append(&mut self, batch: &[Received]) -> Result<()> {
        let mut buf = Vec::with_capacity(batch.iter().map(|(_, b)| HEADER + b.len()).sum());
        for (seq, bytes) in batch {
            let len = bytes.len() as u32;
            let mut crc = crc32fast::Hasher::new();
            crc.update(&seq.to_le_bytes());
            crc.update(&len.to_le_bytes());
            crc.update(bytes);
            buf.extend_from_slice(&seq.to_le_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc.finalize().to_le_bytes());
            buf.extend_from_slice(bytes);
        }
        self.file.write_all(&buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Empties the file (everything in it is applied to the copy).
    pub(crate) fn clear(&mut self) -> Result<()> {
        if self.len > 0 {
            self.file.set_len(0)?;
            self.len = 0;
        }
        Ok(())
    }
}

/// The whole records of `bytes`, in order, up to the first short or
/// damaged one.
fn parse(mut bytes: &[u8]) -> Vec<Received> {
    let mut out = Vec::new();
    while bytes.len() >= HEADER {
        let seq = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        let end = HEADER + len as usize;
        if len as usize > MAX_RECORD || bytes.len() < end {
            break;
        }
        let body = &bytes[HEADER..end];
        let mut check = crc32fast::Hasher::new();
        check.update(&bytes[0..12]);
        check.update(body);
        if check.finalize() != crc {
            break;
        }
        out.push((seq, body.to_vec()));
        bytes = &bytes[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_in_order_up_to_a_torn_or_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outpost.sqlite");
        let (mut p, none) = Pending::open(&db).unwrap();
        assert!(none.is_empty());
        p.append(&[(4, vec![1, 2, 3]), (5, vec![])]).unwrap();
        p.append(&[(6, vec![9; 1000])]).unwrap();
        drop(p);
        let (_, got) = Pending::open(&db).unwrap();
        assert_eq!(
            got,
            vec![(4, vec![1, 2, 3]), (5, vec![]), (6, vec![9; 1000])]
        );

        // A record cut short (the process stopped mid-write) ends the file.
        let path = pending_path(&db);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let (_, got) = Pending::open(&db).unwrap();
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5]);

        // A damaged byte ends it at the damaged record.
        let mut bad = full.clone();
        bad[HEADER + 1] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let (mut p, got) = Pending::open(&db).unwrap();
        assert!(got.is_empty());
        p.clear().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
