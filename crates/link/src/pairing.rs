//! Pairing URLs and pairing codes.
//!
//! `outpost://HOST:PORT/?name=NAME&fp=SHA256HEX&code=PAIRING_CODE` carries
//! everything a slave needs for first contact: where the master listens, its
//! name, the fingerprint to pin, and the short-lived code that proves the
//! person pairing can see the master's screen. The codes themselves and
//! the proofs made of them are in [`crate::code`].

use std::fmt;

pub use crate::code::{
    code_proof, codes_match, constant_time_eq, display_code, new_code, normalize_code, CodeKeys,
    PairingKey,
};
use crate::error::LinkError;
use crate::identity::normalize_fingerprint;

/// The URL scheme registered by the desktop app.
pub const SCHEME: &str = "outpost";
/// Default TCP port of the master's signaling socket.
pub const DEFAULT_PORT: u16 = 7355;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingUrl {
    pub host: String,
    pub port: u16,
    /// The office (master) name.
    pub name: String,
    /// The master's certificate fingerprint (64 lowercase hex digits).
    pub fingerprint: String,
    /// The pairing code; absent once paired.
    pub code: Option<String>,
}

impl PairingUrl {
    pub fn parse(text: &str) -> Result<PairingUrl, LinkError> {
        let bad = |why: &str| {
            LinkError::BadUrl(format!(
                "{why} (expected {SCHEME}://HOST:PORT/?name=NAME&fp=FINGERPRINT&code=CODE)"
            ))
        };
        let url = url::Url::parse(text.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if url.scheme() != SCHEME {
            return Err(bad(&format!(
                "the scheme is '{}', not '{SCHEME}'",
                url.scheme()
            )));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(DEFAULT_PORT);
        let mut name = None;
        let mut fp = None;
        let mut code = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "name" => name = Some(v.into_owned()),
                "fp" => fp = Some(v.into_owned()),
                "code" => code = Some(v.into_owned()),
                _ => {}
            }
        }
        let fingerprint = normalize_fingerprint(&fp.ok_or_else(|| bad("no fp (fingerprint)"))?)
            .ok_or_else(|| bad("fp is not a SHA-256 fingerprint (64 hex digits)"))?;
        Ok(PairingUrl {
            host,
            port,
            name: name.unwrap_or_default(),
            fingerprint,
            code: code.map(|c| normalize_code(&c)).filter(|c| !c.is_empty()),
        })
    }

    /// `host:port` for a socket address (IPv6 hosts bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for PairingUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = url::Url::parse(&format!("{SCHEME}://{}/", self.authority()))
            .map_err(|_| fmt::Error)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("name", &self.name);
            q.append_pair("fp", &self.fingerprint);
            if let Some(code) = &self.code {
                q.append_pair("code", &display_code(code));
            }
        }
        f.write_str(url.as_str())
    }
}

/// The page a phone opens from the master's second QR code: the browser
/// address with the pairing code and the master's fingerprint in the
/// fragment (`#pair=ABCD-2345&fp=...`). A fragment never travels in the
/// HTTP request, so the code stays on the phone; the page fills it in and
/// checks the fingerprint against the master that served it.
pub fn phone_url(browser: &str, code: &str, fingerprint: &str) -> String {
    let mut url = browser.to_string();
    url.push_str("#pair=");
    url.extend(url::form_urlencoded::byte_serialize(
        display_code(code).as_bytes(),
    ));
    url.push_str("&fp=");
    url.push_str(fingerprint);
    url
}

/// The URL as a QR code drawn with Unicode half blocks, for a terminal.
pub fn qr_terminal(text: &str) -> Result<String, LinkError> {
    use qrcode::render::unicode;
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| LinkError::BadUrl(format!("cannot draw a QR code: {e}")))?;
    Ok(code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    #[test]
    fn a_phone_url_carries_the_code_and_fingerprint_in_its_fragment() {
        let u = phone_url("http://192.168.1.10:7355/", "ABCD2345", FP);
        assert_eq!(
            u,
            format!("http://192.168.1.10:7355/#pair=ABCD-2345&fp={FP}")
        );
        let parsed = url::Url::parse(&u).unwrap();
        assert_eq!(parsed.path(), "/");
        assert_eq!(parsed.query(), None);
    }

    #[test]
    fn a_pairing_url_round_trips() {
        let u = PairingUrl {
            host: "192.168.1.10".into(),
            port: 7355,
            name: "Kashgar depot".into(),
            fingerprint: FP.into(),
            code: Some("ABCD2345".into()),
        };
        let text = u.to_string();
        assert!(
            text.starts_with("outpost://192.168.1.10:7355/?name=Kashgar+depot&fp="),
            "{text}"
        );
        assert!(text.ends_with("code=ABCD-2345"), "{text}");
        assert_eq!(PairingUrl::parse(&text).unwrap(), u);
    }

    #[test]
    fn colon_separated_uppercase_fingerprints_are_accepted() {
        let colons: String = FP
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let u = PairingUrl::parse(&format!("outpost://h:1/?name=x&fp={colons}")).unwrap();
        assert_eq!(u.fingerprint, FP);
        assert_eq!(u.code, None);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (text, why) in [
            ("http://h:1/?fp=ab", "scheme"),
            ("outpost://h:1/?name=x", "no fp"),
            ("outpost://h:1/?fp=xyz", "not a SHA-256"),
            ("not a url", "not a URL"),
        ] {
            let e = PairingUrl::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_qr_code_decodes_back_to_the_url() {
        let url = format!("outpost://10.0.0.5:7355/?name=Kashgar+depot&fp={FP}&code=ABCD-2345");
        let art = qr_terminal(&url).unwrap();
        assert!(art.lines().count() > 10);
        // Decode what the terminal shows: each character is two modules
        // (upper and lower half), drawn light-on-dark for dark terminals.
        let rows: Vec<Vec<char>> = art.lines().map(|l| l.chars().collect()).collect();
        let (w, h) = (rows[0].len(), rows.len() * 2);
        let scale = 4;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
            let (cx, cy) = (x / scale, y / scale);
            let ch = rows[cy / 2].get(cx).copied().unwrap_or(' ');
            let upper = cy % 2 == 0;
            // Light cell = the terminal's foreground, which the renderer uses for dark modules.
            let lit = match ch {
                '█' => true,
                '▀' => upper,
                '▄' => !upper,
                _ => false,
            };
            if lit {
                255
            } else {
                0
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, text) = grids[0].decode().unwrap();
        assert_eq!(text, url);
    }
}
