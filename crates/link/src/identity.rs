//! A device's persistent identity: a DTLS certificate made on first run and
//! kept in the data folder. Its SHA-256 fingerprint is the device id (as in
//! Syncthing), and it is what the other side pins.

use std::path::Path;

use rtc::crypto::SignatureScheme;
use rtc::peer_connection::certificate::CertificateParams;
use webrtc::peer_connection::{crypto, RTCCertificate};

use crate::error::{LinkError, Result};

/// File name of the identity (certificate and private key) in the data folder.
pub const IDENTITY_FILE: &str = "identity.pem";

#[derive(Clone)]
pub struct Identity {
    cert: RTCCertificate,
    fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: only the public fingerprint.
        write!(f, "Identity({})", self.fingerprint)
    }
}

impl Identity {
    /// Loads `dir/identity.pem`, or makes and saves a new identity (the file
    /// is readable by its owner only: it holds the private key).
    pub fn load_or_create(dir: &Path) -> Result<Identity> {
        let path = dir.join(IDENTITY_FILE);
        let provider =
            crypto::default_provider().map_err(|e| LinkError::Identity(e.to_string()))?;
        private_dir(dir)?;
        if !path.exists() {
            let params = CertificateParams::new(vec!["outpost".to_owned()])
                .map_err(|e| LinkError::Identity(e.to_string()))?;
            let cert = RTCCertificate::generate(
                provider.crypto(),
                SignatureScheme::EcdsaP256Sha256,
                params,
            )
            .map_err(|e| LinkError::Identity(e.to_string()))?;
            let pem = cert
                .serialize_pem()
                .map_err(|e| LinkError::Identity(e.to_string()))?;
            let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
            write_private(&tmp, pem.as_bytes())?;
            std::fs::rename(&tmp, &path)?;
            tracing::info!(path = %path.display(), "made a new device identity");
        }
        let pem = std::fs::read_to_string(&path)?;
        let cert = RTCCertificate::from_pem(&pem, provider.crypto())
            .map_err(|e| LinkError::Identity(format!("{} is damaged: {e}", path.display())))?;
        let fps = cert
            .get_fingerprints(provider.crypto())
            .map_err(|e| LinkError::Identity(e.to_string()))?;
        let fingerprint = fps
            .iter()
            .find(|f| f.algorithm.eq_ignore_ascii_case("sha-256"))
            .and_then(|f| normalize_fingerprint(&f.value))
            .ok_or_else(|| {
                LinkError::Identity("the certificate has no SHA-256 fingerprint".into())
            })?;
        Ok(Identity { cert, fingerprint })
    }

    /// The device id: 64 lowercase hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn certificate(&self) -> RTCCertificate {
        self.cert.clone()
    }
}

/// Makes the data folder `dir` if needed and keeps it its owner's only
/// (mode 700): it holds this PC's private key and, on a master, the office
/// database, its backups and the pairing code. A folder that cannot be
/// made private is warned about, not refused (it may be on a file system
/// without Unix permissions).
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::info!(
                    dir = %dir.display(),
                    "the data folder was readable by other users; it is now its owner's only"
                ),
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "the data folder is readable by other users of this PC and cannot be made private: run chmod 700 on it"
                ),
            }
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// 64 lowercase hex digits, from any common spelling (colons, uppercase).
pub fn normalize_fingerprint(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// The short form people compare by eye: the first 4 groups of 4.
pub fn short_fingerprint(fp: &str) -> String {
    fp.as_bytes()
        .chunks(4)
        .take(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Every `a=fingerprint:sha-256` value in an SDP, normalised.
pub fn sdp_fingerprints(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .filter_map(|v| {
            let (alg, val) = v.split_once(' ')?;
            if alg.eq_ignore_ascii_case("sha-256") {
                normalize_fingerprint(val)
            } else {
                None
            }
        })
        .collect()
}

/// Refuses an SDP unless every SHA-256 fingerprint in it is `expected`
/// (checked before the description is applied, so an impostor gets nothing).
pub fn check_sdp_fingerprint(who: &str, sdp: &str, expected: &str) -> Result<()> {
    let expected = normalize_fingerprint(expected).unwrap_or_else(|| expected.to_string());
    let expected = expected.as_str();
    let fps = sdp_fingerprints(sdp);
    let got = match fps.iter().find(|f| f.as_str() != expected) {
        Some(bad) => bad.clone(),
        None if fps.is_empty() => "none".into(),
        None => return Ok(()),
    };
    Err(LinkError::FingerprintMismatch {
        who: who.to_string(),
        got,
        expected: expected.to_string(),
    })
}

/// Like [`check_sdp_fingerprint`], for a peer that may be any of
/// `expected` (the office's roster: its master and its standby); returns
/// the one it is.
pub fn check_sdp_fingerprint_in(who: &str, sdp: &str, expected: &[String]) -> Result<String> {
    let mut last = None;
    for e in expected {
        match check_sdp_fingerprint(who, sdp, e) {
            Ok(()) => {
                return Ok(normalize_fingerprint(e).unwrap_or_else(|| e.to_string()));
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| LinkError::FingerprintMismatch {
        who: who.to_string(),
        got: sdp_fingerprints(sdp).join(", "),
        expected: "a known master".into(),
    }))
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_data_folder_is_made_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Identity::load_or_create(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let fresh = parent.path().join("new");
        private_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    use super::*;

    #[test]
    fn an_identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let other = tempfile::tempdir().unwrap();
        let c = Identity::load_or_create(other.path()).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the private key is readable by others");
        }
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }

    #[test]
    fn sdp_fingerprints_are_checked_ignoring_case_and_colons() {
        let fp = "ab".repeat(32);
        let upper: Vec<String> = (0..32).map(|_| "AB".to_string()).collect();
        let sdp = format!("v=0\r\na=fingerprint:sha-256 {}\r\n", upper.join(":"));
        check_sdp_fingerprint("the master", &sdp, &fp).unwrap();
        let e = check_sdp_fingerprint("the master", &sdp, &"cd".repeat(32)).unwrap_err();
        assert!(matches!(e, LinkError::FingerprintMismatch { .. }), "{e}");
        assert!(
            check_sdp_fingerprint("x", "v=0\r\n", &fp).is_err(),
            "no fingerprint at all is refused"
        );
    }

    #[test]
    fn short_fingerprints_are_readable() {
        assert_eq!(
            short_fingerprint(&"0123456789abcdef".repeat(4)),
            "0123-4567-89ab-cdef"
        );
    }
}
