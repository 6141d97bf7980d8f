//! Which requests the master's port answers, by their `Host` and `Origin`
//! headers: the web UI and the signaling socket are for the LAN.
//!
//! - `Host` must be how a LAN reaches the master: an IP address,
//!   `localhost`, a single-label host name (`frontdesk`) or an mDNS name
//!   (`frontdesk.local`). A name in someone's DNS domain is refused: that is
//!   what a DNS-rebinding page uses to make a browser send it the master's
//!   answers (its own name resolving, a moment later, to the master's
//!   LAN address).
//! - `Origin` (sent by browsers only) must be the master itself
//!   (`http://` + the same `Host`): a page from elsewhere that a browser on
//!   the LAN happens to open cannot use the signaling socket.

/// Whether a request with this `Host` header is for this master; the
/// reason when not.
pub fn check_host(host: Option<&str>) -> Result<(), String> {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        // HTTP/1.0 clients and raw tools may leave it out; a browser never does.
        return Ok(());
    };
    let name = host_name(host);
    let ok = name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || (!name.is_empty() && !name.contains('.') && valid_label(name))
        || name
            .to_ascii_lowercase()
            .strip_suffix(".local")
            .is_some_and(|n| !n.is_empty() && n.split('.').all(valid_label));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "this Outpost master answers on the LAN only: open it by its LAN address (the one in its pairing URL), not as \"{name}\""
        ))
    }
}

/// Whether a WebSocket upgrade with this `Origin` (and `Host`) comes from
/// a page this master served; the reason when not.
pub fn check_origin(origin: Option<&str>, host: Option<&str>) -> Result<(), String> {
    let Some(origin) = origin.map(str::trim) else {
        // Not a browser (the Rust slave sends none).
        return Ok(());
    };
    let host = host.map(str::trim).unwrap_or_default();
    let same = ["http://", "https://"].iter().any(|scheme| {
        origin
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            && origin[scheme.len()..].eq_ignore_ascii_case(host)
    });
    if same && !host.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the signaling socket is for pages this master served; a page from {origin} may not use it"
        ))
    }
}

/// The name of `host[:port]` (an IPv6 address without its brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_hosts_are_answered_and_dns_names_are_not() {
        for ok in [
            "192.168.1.10:7355",
            "192.168.1.10",
            "[fe80::1]:7355",
            "[::1]",
            "localhost:7355",
            "frontdesk:7355",
            "Front-Desk.local:7355",
            "depot.local",
        ] {
            assert!(check_host(Some(ok)).is_ok(), "{ok}");
        }
        assert!(check_host(None).is_ok());
        for bad in [
            "evil.example:7355",
            "evil.example",
            "192.168.1.10.nip.io",
            "a.b.local.evil.com",
            ".local",
            "bad host",
        ] {
            let e = check_host(Some(bad)).unwrap_err();
            assert!(e.contains("LAN address"), "{bad}: {e}");
        }
    }

    #[test]
    fn only_pages_of_this_master_may_open_the_signaling_socket() {
        let host = Some("10.0.0.5:7355");
        assert!(check_origin(None, host).is_ok(), "no Origin: not a browser");
        assert!(check_origin(Some("http://10.0.0.5:7355"), host).is_ok());
        assert!(check_origin(Some("HTTP://10.0.0.5:7355"), host).is_ok());
        for bad in [
            "http://evil.example",
            "http://10.0.0.5:8080",
            "http://10.0.0.5",
            "null",
            "file://",
        ] {
            let e = check_origin(Some(bad), host).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert!(check_origin(Some("http://"), Some("")).is_err());
    }
}
