//! Whether a file that may hold the head office's password (the upstream
//! file, its `password_file`) can be read by other users of this PC.

use std::path::Path;

/// Words for the log when `path` is readable (or writable) by users other
/// than its owner; `None` when it is private (or permissions cannot tell,
/// as on a non-Unix file system).
pub fn exposed(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} can be read by other users of this PC (mode {:o}) and may hold the head office's password: make it private with chmod 600",
                path.display(),
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

/// Logs a warning when `path` is not private (see [`exposed`]).
pub fn warn_if_exposed(path: &Path) {
    if let Some(words) = exposed(path) {
        tracing::warn!("{words}");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_others_can_read_is_told_and_a_private_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("upstream.toml");
        std::fs::write(&f, "password = \"x\"").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let words = exposed(&f).expect("readable by others");
        assert!(
            words.contains("mode 644") && words.contains("chmod 600"),
            "{words}"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(exposed(&f), None);
        assert_eq!(exposed(&dir.path().join("missing")), None);
    }
}
