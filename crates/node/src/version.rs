//! Which Outpost this is, said in the signaling hello both ways: the app
//! version (the package's) and the DB protocol versions it speaks. A master
//! refuses a slave whose protocol it does not speak, in words that say
//! which versions and where the right package is (the master's install
//! page); a slave older than its master but compatible hears that an
//! update is available there.

use outpost_api::PROTOCOL_VERSION;
use outpost_link::{SlaveHello, Versions};
use serde::Serialize;

/// The oldest DB protocol this build still speaks.
pub const PROTOCOL_MIN: u32 = 1;

/// Where a master lists the packages it carries.
pub const INSTALL_PATH: &str = "/install/";

/// The refusal code of a slave whose protocol the master does not speak.
pub const REFUSED_VERSION: &str = "version";

/// This build's app version: the package's (`CARGO_PKG_VERSION`), unless
/// `OUTPOST_APP_VERSION` says otherwise. That variable is for tests that
/// play an older or newer build next to this one (and for a packager
/// trying an update); nothing else reads it.
pub fn app_version() -> String {
    std::env::var("OUTPOST_APP_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty() && v.len() <= 40)
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

/// What this build says it is.
pub fn ours() -> Versions {
    Versions {
        app: app_version(),
        protocol: PROTOCOL_VERSION,
    }
}

/// Whether this build speaks DB protocol `p`.
pub fn speaks(p: u32) -> bool {
    (PROTOCOL_MIN..=PROTOCOL_VERSION).contains(&p)
}

/// The install page of the master at `addr` (`host:port`).
pub fn install_url(addr: &str) -> String {
    format!("http://{addr}{INSTALL_PATH}")
}

/// Whether app version `a` is newer than `b`, compared as dotted numbers
/// ("0.10.0" is newer than "0.9.2"); a part that is not a number compares
/// as 0.
pub fn newer(a: &str, b: &str) -> bool {
    fn parts(v: &str) -> Vec<u64> {
        v.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    }
    let (a, b) = (parts(a), parts(b));
    for i in 0..3 {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x > y;
        }
    }
    false
}

/// The master's answer to a slave's hello, as far as versions go: `None`
/// when it may go on, else the refusal's words. A slave that says no
/// protocol is older than this field and speaks protocol 1.
pub fn refusal(hello: &SlaveHello, office: &str) -> Option<String> {
    let theirs = hello.protocol.unwrap_or(1);
    if speaks(theirs) {
        return None;
    }
    let me = ours();
    let app = hello
        .app
        .as_deref()
        .map(|a| format!("Outpost {a}"))
        .unwrap_or_else(|| "an older Outpost".into());
    let page = hello
        .reached
        .map(|a| install_url(&a.to_string()))
        .unwrap_or_else(|| format!("the master's {INSTALL_PATH} page"));
    let speaks = if PROTOCOL_MIN == PROTOCOL_VERSION {
        format!("protocol {PROTOCOL_VERSION}")
    } else {
        format!("protocols {PROTOCOL_MIN} to {PROTOCOL_VERSION}")
    };
    Some(if theirs < PROTOCOL_MIN {
        format!(
            "this PC runs {app}, which speaks protocol {theirs}; the master \"{office}\" runs Outpost {} and speaks {speaks}. Install Outpost {} on this PC from the master's install page: {page}",
            me.app, me.app
        )
    } else {
        format!(
            "this PC runs {app}, which speaks protocol {theirs}, newer than the master \"{office}\" (Outpost {}, {speaks}). Update the master first; its install page is {page}",
            me.app
        )
    })
}

/// A newer Outpost that the master this slave is connected to carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Update {
    /// The master's version.
    pub version: String,
    /// This PC's.
    pub current: String,
    /// The master's install page.
    pub url: String,
}

/// What a slave makes of the versions in the master's offer: an update,
/// when the master runs a newer Outpost.
pub fn update_from(master_app: Option<&str>, addr: &str) -> Option<Update> {
    let theirs = master_app?;
    let mine = app_version();
    newer(theirs, &mine).then(|| Update {
        version: theirs.to_string(),
        current: mine,
        url: install_url(addr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(newer("0.10.0", "0.9.2"));
        assert!(newer("1.0.0", "0.99.99"));
        assert!(newer("0.2.0", "0.1.9"));
        assert!(!newer("0.1.0", "0.1.0"));
        assert!(!newer("0.1.0", "0.2.0"));
        assert!(newer("0.1.1", "0.1"));
    }

    fn hello(app: Option<&str>, protocol: Option<u32>) -> SlaveHello {
        SlaveHello {
            device: "ab".repeat(32),
            name: "Desk".into(),
            proof: None,
            app: app.map(str::to_string),
            protocol,
            keepalive: None,
            batches: false,
            reached: Some("192.168.1.10:7355".parse().unwrap()),
        }
    }

    #[test]
    fn a_slave_is_refused_only_for_a_protocol_the_master_does_not_speak() {
        assert_eq!(refusal(&hello(None, None), "Depot"), None);
        assert_eq!(
            refusal(&hello(Some("0.0.1"), Some(PROTOCOL_VERSION)), "Depot"),
            None
        );
        let old = refusal(&hello(Some("0.0.9"), Some(0)), "Depot").unwrap();
        assert!(
            old.contains("Outpost 0.0.9, which speaks protocol 0"),
            "{old}"
        );
        assert!(
            old.contains(&format!("runs Outpost {}", app_version())),
            "{old}"
        );
        assert!(old.contains("http://192.168.1.10:7355/install/"), "{old}");
        let new = refusal(&hello(Some("9.0.0"), Some(PROTOCOL_VERSION + 1)), "Depot").unwrap();
        assert!(new.contains("Update the master first"), "{new}");
    }
}
