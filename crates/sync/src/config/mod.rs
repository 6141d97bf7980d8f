//! The upstream file, TOML:
//!
//! ```toml
//! kind = "tryton"
//! url = "http://127.0.0.1:8000/"
//! database = "hq"
//! user = "admin"
//! password = "admin"          # or password_file = "/etc/outpost/hq.pass"
//! # ca_file = "hq-ca.pem"     # https:// behind the head office's own CA
//! # allow_plain_http = true   # http:// beyond the office's network
//! [doctypes.Party]
//! model = "party.party"
//! [doctypes.Product]
//! model = "product.product"
//! ```
//!
//! A doctype without `fields` uses the built-in mapping for its model.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use outpost_store::Policy;

use crate::connector::{ErrorClass, SyncError};
use serde::Deserialize;

mod builtin;
use builtin::builtin;
pub use builtin::BUILTIN_MODELS;

/// Which ERP the head office runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Tryton,
    Erpnext,
}

/// How one Outpost doctype maps to a remote model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctypeMap {
    pub model: String,
    /// Outpost field → remote field. Empty: the built-in mapping.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The Outpost field whose value identifies a record on both sides
    /// (unique on the remote too), so a push whose answer was lost is found
    /// by lookup instead of being made twice. Default: `code`.
    #[serde(default)]
    pub key: Option<String>,
    /// When the office and the head office both changed a record:
    /// `keep_remote`, `keep_local` or `ask` (the default: a person chooses).
    #[serde(default)]
    pub conflict: Policy,
    /// Values sent with every new record (remote field names), e.g. the
    /// group a new ERPNext Customer goes in.
    #[serde(default)]
    pub defaults: serde_json::Map<String, serde_json::Value>,
    /// Outpost field → remote field, set by the head office only (a sale's
    /// number and state there): read on every pull, never sent; the
    /// Outpost field should be `read_only`.
    #[serde(default)]
    pub from_remote: BTreeMap<String, String>,
    /// Child tables: Outpost table field → how its rows map (a sale's
    /// `lines`).
    #[serde(default)]
    pub tables: BTreeMap<String, TableMap>,
    /// The office field whose value runs the head office's workflow.
    #[serde(default)]
    pub workflow: Option<Workflow>,
    /// Link fields (here and in the tables' rows) → the doctype they link
    /// to, filled from the office's schema when the sync starts: their
    /// values travel as the linked record's remote id.
    #[serde(skip)]
    pub links: BTreeMap<String, String>,
}

/// How the rows of a child table map to the remote's lines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMap {
    /// The remote model of a row (`sale.line`).
    pub model: String,
    /// The remote record's field holding the rows (default: the same name).
    #[serde(default)]
    pub field: Option<String>,
    /// Outpost row field → remote row field.
    pub fields: BTreeMap<String, String>,
    /// Link fields of a row → the doctype they link to (from the schema).
    #[serde(skip)]
    pub links: BTreeMap<String, String>,
}

impl TableMap {
    pub fn remote_field<'a>(&'a self, ours: &'a str) -> &'a str {
        self.field.as_deref().unwrap_or(ours)
    }
}

/// Which office values run the head office's workflow (Tryton: `quote`
/// and `confirm`, or `cancel`; ERPNext: submit or cancel).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The office field (`state`).
    pub field: String,
    /// The value that confirms the document at the head office.
    #[serde(default)]
    pub confirm: Option<String>,
    /// The value that cancels it there.
    #[serde(default)]
    pub cancel: Option<String>,
}

/// A step of the head office's workflow the office asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Confirm,
    Cancel,
}

impl Workflow {
    /// What the office's record asks of the head office, if anything.
    pub fn wanted(
        &self,
        values: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Transition> {
        let v = values.get(&self.field)?.as_str()?;
        if self.confirm.as_deref() == Some(v) {
            Some(Transition::Confirm)
        } else if self.cancel.as_deref() == Some(v) {
            Some(Transition::Cancel)
        } else {
            None
        }
    }
}

impl DoctypeMap {
    pub fn key_field(&self) -> &str {
        self.key.as_deref().unwrap_or("code")
    }

    /// The remote field an Outpost field is synced with.
    pub fn remote_field(&self, ours: &str) -> Result<&str, SyncError> {
        self.fields.get(ours).map(String::as_str).ok_or_else(|| {
            SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "{ours} is not among the fields synced with {} ({})",
                    self.model,
                    self.fields.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub kind: Kind,
    pub url: String,
    /// Tryton's database name (ERPNext: none, the site is in the URL).
    #[serde(default)]
    pub database: String,
    /// Tryton: the user; ERPNext: the API key.
    pub user: String,
    /// Tryton: the password; ERPNext: the API secret.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default)]
    pub doctypes: BTreeMap<String, DoctypeMap>,
    /// Seconds between syncs while nothing asks for one sooner (a local
    /// change asks for one after a few seconds).
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// Seconds of remote changes read again at the next pull, for
    /// transactions that started before the last record seen but committed
    /// after it (Tryton stamps a change when its transaction starts).
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Minutes between comparisons of the remote id sets, which is how
    /// records deleted upstream are noticed.
    #[serde(default = "default_reconcile")]
    pub reconcile_minutes: u64,
    /// Records per push call (and, for ERPNext, per pulled page).
    #[serde(default = "default_batch")]
    pub batch_size: u32,
    /// Records per pulled page: [`UpstreamConfig::page_size`].
    #[serde(default)]
    page_size: Option<u32>,
    /// Tryton: the company prices are read and written for (default: the
    /// user's current company in Tryton, if it has one).
    #[serde(default)]
    pub company: Option<i64>,
    /// A private CA (PEM, relative to this file like `password_file`)
    /// trusted for this head office instead of the public roots.
    #[serde(default)]
    ca_file: Option<String>,
    /// Plain http:// to a host off the office's network is refused unless
    /// this says true (see [`on_office_network`]).
    #[serde(default)]
    allow_plain_http: bool,
    /// The certificates read from `ca_file`.
    #[serde(skip)]
    pub(crate) ca: Vec<rustls::pki_types::CertificateDer<'static>>,
}

fn default_interval() -> u64 {
    60
}
fn default_overlap() -> u64 {
    60
}
fn default_reconcile() -> u64 {
    60
}
fn default_batch() -> u32 {
    500
}

/// Tryton's pulled page when the file names none: on a 700 ms link every
/// page is a round trip, and 2000 records are still a small answer
/// (gzipped, a few hundred KB even for Sales with their lines).
const TRYTON_PAGE: u32 = 2000;

impl UpstreamConfig {
    /// Records per pulled page: `page_size` from the file, else 2000 for
    /// Tryton and `batch_size` for ERPNext.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(match self.kind {
            Kind::Tryton => TRYTON_PAGE,
            Kind::Erpnext => self.batch_size,
        })
    }
}

/// The password never appears in logs or debug output.
impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"(hidden)")
            .field("doctypes", &self.doctypes)
            .field("interval_seconds", &self.interval_seconds)
            .field("batch_size", &self.batch_size)
            .field("page_size", &self.page_size)
            .field("company", &self.company)
            .field("ca_file", &self.ca_file)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the upstream file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the upstream file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl UpstreamConfig {
    pub fn load(path: &Path) -> Result<UpstreamConfig, ConfigError> {
        crate::file_mode::warn_if_exposed(path);
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        UpstreamConfig::parse(&text, path)
    }

    /// Parses the file's text; `path` names it in errors and anchors a
    /// relative `password_file`.
    pub fn parse(text: &str, path: &Path) -> Result<UpstreamConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        };
        // Only the message and the line: toml's own text quotes the source
        // line, which may be the password's.
        let mut cfg: UpstreamConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            invalid(format!("{}{line}", e.message()))
        })?;
        match (&cfg.password, &cfg.password_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give `password` or `password_file`, not both".into(),
                ))
            }
            (None, None) => return Err(invalid("`password` or `password_file` is missing".into())),
            _ => {}
        }
        if !cfg.url.starts_with("http://") && !cfg.url.starts_with("https://") {
            return Err(invalid(format!(
                "`url` must start with http:// or https://, not {:?}",
                cfg.url
            )));
        }
        cfg.check_transport(path).map_err(invalid)?;
        if cfg.batch_size == 0 || cfg.batch_size > 5000 {
            return Err(invalid("`batch_size` must be between 1 and 5000".into()));
        }
        if cfg.page_size.is_some_and(|p| p == 0 || p > 5000) {
            return Err(invalid("`page_size` must be between 1 and 5000".into()));
        }
        if cfg.doctypes.is_empty() {
            return Err(invalid(
                "no [doctypes.NAME] section: name at least one doctype to sync".into(),
            ));
        }
        if cfg.kind == Kind::Tryton && cfg.database.is_empty() {
            return Err(invalid(
                "`database` is missing (Tryton's database name)".into(),
            ));
        }
        let kind = cfg.kind;
        for (doctype, map) in cfg.doctypes.iter_mut() {
            if map.fields.is_empty() {
                let Some(b) = builtin(kind, doctype, &map.model) else {
                    return Err(invalid(format!(
                        "[doctypes.{doctype}] maps to {} and there is no built-in mapping for it: add a `fields` table (outpost_field = \"remote_field\")",
                        map.model
                    )));
                };
                b.fill(map);
            }
        }
        if let Some(file) = &cfg.password_file {
            let p = path.parent().unwrap_or(Path::new(".")).join(file);
            crate::file_mode::warn_if_exposed(&p);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| invalid(format!("cannot read password_file {}: {e}", p.display())))?;
            cfg.password = Some(text.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(cfg)
    }

    /// How `doctype` maps to the remote.
    pub fn map(&self, doctype: &str) -> Result<&DoctypeMap, SyncError> {
        self.doctypes.get(doctype).ok_or_else(|| {
            SyncError::new(
                ErrorClass::Rejected,
                format!("{doctype} is not synced with the head office (not in the upstream file's [doctypes])"),
            )
        })
    }

    pub fn password(&self) -> &str {
        self.password.as_deref().unwrap_or_default()
    }

    /// Whether a password (or API secret) was given, in the file or in
    /// its `password_file`.
    pub fn has_password(&self) -> bool {
        self.password.as_deref().is_some_and(|p| !p.is_empty())
    }

    /// The private CA file as the upstream file names it.
    pub fn ca_file(&self) -> Option<&str> {
        self.ca_file.as_deref()
    }

    /// The plain-http rule and `ca_file` (docs/sync.md, "HTTPS").
    fn check_transport(&mut self, path: &Path) -> Result<(), String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("`url` {:?} is not a valid URL: {e}", self.url))?;
        if url.scheme() == "http" && !self.allow_plain_http && !on_office_network(&url) {
            return Err(format!(
                "`url` is plain http:// to {}, which is not on the office's own network: the password and the office's data would cross the internet in clear. Use https://, or, if the way there is private anyway (a VPN), say so with `allow_plain_http = true`",
                url.host_str().unwrap_or_default()
            ));
        }
        if let Some(file) = &self.ca_file {
            if url.scheme() != "https" {
                return Err("`ca_file` is for an https:// url; this url is plain http://".into());
            }
            let p = path.parent().unwrap_or(Path::new(".")).join(file);
            self.ca = crate::http::read_ca_file(&p)?;
        }
        Ok(())
    }
}

/// Whether plain http:// to `url` stays on the office's own network. The
/// rule, exactly: the host is an IP literal that is loopback (127.0.0.0/8,
/// ::1), private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, IPv6 unique
/// local fc00::/7) or link-local (169.254.0.0/16, fe80::/10); or a name
/// that is `localhost`, ends in `.local` or `.lan`, or has no dot at all
/// (names the LAN resolves, not the internet's DNS). Anything else may
/// cross the internet. Names are taken as written: what they resolve to is
/// not looked up.
fn on_office_network(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
        }
        Some(url::Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            name == "localhost"
                || name.ends_with(".local")
                || name.ends_with(".lan")
                || !name.contains('.')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
