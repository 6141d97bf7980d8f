//! The data folder's instance lock: one master (or one restore, or one
//! standby) at a time.

use std::io::Write as _;
use std::path::Path;

use super::INSTANCE_LOCK;
use crate::error::{Result, StoreError};
use crate::values::now_utc;

/// The data folder's instance lock: held by the one master serving it, and
/// by a restore. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(data: &Path) -> Result<InstanceLock> {
        std::fs::create_dir_all(data)?;
        let path = data.join(INSTANCE_LOCK);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match f.try_lock() {
            Ok(()) => {
                f.set_len(0)?;
                let _ = writeln!(f, "pid {} since {}", std::process::id(), now_utc());
                Ok(InstanceLock { _file: f })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                Err(StoreError::FolderInUse {
                    dir: data.to_path_buf(),
                    holder: holder.trim().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Whether a master (or a restore) holds the folder now.
    pub fn held(data: &Path) -> bool {
        matches!(
            InstanceLock::acquire(data),
            Err(StoreError::FolderInUse { .. })
        )
    }
}
