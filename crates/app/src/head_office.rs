//! Settings → Head office as a form: which ERP, where, who, the password,
//! a private CA, and which records go up. The form is checked field by
//! field (a refusal names its field), then written for the user as an
//! upstream file (docs/sync.md) in the data folder, readable by this
//! user only because it holds the password the master signs in with.
//! The sync then starts from that file exactly as from one written by
//! hand (`upstream_set`, the "advanced" path, stays for those).

use std::path::{Path, PathBuf};

use outpost_sync::{Kind, UpstreamConfig, BUILTIN_MODELS};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The upstream file the form writes, in the data folder.
pub const FORM_FILE: &str = "head-office.toml";

/// The head office as Settings shows and sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpstreamForm {
    pub kind: Kind,
    /// The head office's address (`https://erp.example.com/`).
    pub url: String,
    /// Tryton's database name (ERPNext: empty, the site is the address).
    #[serde(default)]
    pub database: String,
    /// Tryton: the user; ERPNext: the API key.
    pub user: String,
    /// Sent by the window only, never read back: the password (ERPNext:
    /// the API secret) typed now; `null` or empty keeps the saved one.
    #[serde(default)]
    #[cfg_attr(test, ts(optional = nullable))]
    pub password: Option<String>,
    /// Read back only: a password is saved (the window shows "saved,
    /// leave blank to keep it").
    #[serde(default)]
    pub password_set: bool,
    /// Full path of the head office's own CA certificate (PEM), for an
    /// https:// address behind a private CA.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The Outpost doctypes that go up (`Party`, `Product`, `Sale`), each
    /// with the built-in model of [`UpstreamFormView::choices`].
    pub doctypes: Vec<String>,
}

/// A doctype the form can send up, and the model it becomes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DoctypeChoice {
    pub kind: Kind,
    pub doctype: String,
    pub model: String,
}

/// Settings → Head office: the form as saved, what it can offer, and the
/// upstream file in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UpstreamFormView {
    /// The saved head office, or a blank form (Tryton, Party and Product
    /// ticked) when there is none.
    pub form: UpstreamForm,
    /// Every doctype the form can send up, per ERP, with its model.
    pub choices: Vec<DoctypeChoice>,
    /// The upstream file in use (the form's own, or one given by path).
    pub file: Option<String>,
    /// The file in use was not written by this form (given by path under
    /// "Advanced"): it may hold more than the form shows, and saving the
    /// form replaces it.
    pub advanced: bool,
    /// Why the file in use cannot be read, if it cannot.
    pub problem: Option<String>,
}

/// The form's fields, as named in a refusal's `details.field`.
pub mod field {
    pub const URL: &str = "url";
    pub const DATABASE: &str = "database";
    pub const USER: &str = "user";
    pub const PASSWORD: &str = "password";
    pub const CA_FILE: &str = "ca_file";
    pub const DOCTYPES: &str = "doctypes";
}

/// Every doctype the form offers.
pub fn choices() -> Vec<DoctypeChoice> {
    BUILTIN_MODELS
        .iter()
        .map(|(kind, doctype, model)| DoctypeChoice {
            kind: *kind,
            doctype: doctype.to_string(),
            model: model.to_string(),
        })
        .collect()
}

fn model_for(kind: Kind, doctype: &str) -> Option<&'static str> {
    BUILTIN_MODELS
        .iter()
        .find(|(k, d, _)| *k == kind && *d == doctype)
        .map(|(_, _, m)| *m)
}

/// The form of a new head office.
pub fn blank() -> UpstreamForm {
    UpstreamForm {
        kind: Kind::Tryton,
        url: String::new(),
        database: String::new(),
        user: String::new(),
        password: None,
        password_set: false,
        ca_file: None,
        doctypes: vec!["Party".into(), "Product".into()],
    }
}

/// The form of an upstream file (the password left out).
pub fn from_config(config: &UpstreamConfig) -> UpstreamForm {
    UpstreamForm {
        kind: config.kind,
        url: config.url.clone(),
        database: config.database.clone(),
        user: config.user.clone(),
        password: None,
        password_set: config.has_password(),
        ca_file: config.ca_file().map(str::to_string),
        doctypes: config.doctypes.keys().cloned().collect(),
    }
}

/// The form's upstream file and its configuration, checked; `saved` is
/// the password in use, kept when the form leaves it blank. `path` is
/// where the file goes.
pub fn to_config(
    form: &UpstreamForm,
    saved: Option<&str>,
    path: &Path,
) -> Result<(String, UpstreamConfig), AppError> {
    let bad = |field: &'static str, message: String| AppError::Field { field, message };
    let erp = match form.kind {
        Kind::Tryton => "Tryton",
        Kind::Erpnext => "ERPNext",
    };
    let url = form.url.trim();
    if url.is_empty() {
        return Err(bad(
            field::URL,
            "Give the head office’s address, e.g. https://erp.example.com/".into(),
        ));
    }
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(bad(
            field::URL,
            format!("The address must start with https:// (or http:// on the office’s own network), not “{url}”"),
        ));
    }
    let database = form.database.trim();
    if form.kind == Kind::Tryton && database.is_empty() {
        return Err(bad(
            field::DATABASE,
            "Give the name of the head office’s Tryton database".into(),
        ));
    }
    let user = form.user.trim();
    if user.is_empty() {
        return Err(bad(
            field::USER,
            match form.kind {
                Kind::Tryton => "Give the Tryton user the office signs in as".into(),
                Kind::Erpnext => {
                    "Give the API key of the ERPNext user the office signs in as".into()
                }
            },
        ));
    }
    let password = match form.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => saved.filter(|p| !p.is_empty()).ok_or_else(|| {
            bad(
                field::PASSWORD,
                match form.kind {
                    Kind::Tryton => "Give the user’s password".into(),
                    Kind::Erpnext => "Give the API secret that goes with the key".into(),
                },
            )
        })?,
    };
    let ca_file = form
        .ca_file
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(ca) = ca_file {
        if !Path::new(ca).is_absolute() {
            return Err(bad(
                field::CA_FILE,
                format!("Give the CA file’s full path (starting with /), not “{ca}”"),
            ));
        }
    }
    if form.doctypes.is_empty() {
        return Err(bad(
            field::DOCTYPES,
            "Tick at least one kind of record to send to the head office".into(),
        ));
    }
    let mut doctypes = toml::Table::new();
    for d in &form.doctypes {
        let Some(model) = model_for(form.kind, d) else {
            return Err(bad(
                field::DOCTYPES,
                format!("{d} records cannot go to {erp} yet: untick {d}"),
            ));
        };
        let mut t = toml::Table::new();
        t.insert("model".into(), model.into());
        doctypes.insert(d.clone(), t.into());
    }
    // A sale names its customer and products by their id at the head
    // office: they must go up too (the sync refuses to start otherwise).
    if form.doctypes.iter().any(|d| d == "Sale") {
        for needed in ["Party", "Product"] {
            if !form.doctypes.iter().any(|d| d == needed) {
                return Err(bad(
                    field::DOCTYPES,
                    "Sales go up with their customer and products: tick Party and Product too"
                        .into(),
                ));
            }
        }
    }
    let mut t = toml::Table::new();
    t.insert(
        "kind".into(),
        match form.kind {
            Kind::Tryton => "tryton",
            Kind::Erpnext => "erpnext",
        }
        .into(),
    );
    t.insert("url".into(), url.into());
    if form.kind == Kind::Tryton {
        t.insert("database".into(), database.into());
    }
    t.insert("user".into(), user.into());
    t.insert("password".into(), password.into());
    if let Some(ca) = ca_file {
        t.insert("ca_file".into(), ca.into());
    }
    t.insert("doctypes".into(), doctypes.into());
    let text = format!(
        "# The head office, as saved in Outpost's Settings (Head office).\n\
         # Saving the form there writes this file again; see docs/sync.md.\n\
         # It holds the password: keep it readable by this user only.\n{}",
        toml::to_string(&t).map_err(|e| AppError::BadInput(e.to_string()))?
    );
    let config = UpstreamConfig::parse(&text, path).map_err(|e| match e {
        outpost_sync::config::ConfigError::Invalid { message, .. } => {
            let field = if message.contains("ca_file") {
                field::CA_FILE
            } else if message.contains("url") {
                field::URL
            } else if message.contains("database") {
                field::DATABASE
            } else if message.contains("password") {
                field::PASSWORD
            } else {
                field::DOCTYPES
            };
            bad(field, message.replace('`', ""))
        }
        other => AppError::BadInput(other.to_string()),
    })?;
    Ok((text, config))
}

/// Writes `text` to `path` for this user only (mode 0600 on Unix), in one
/// step: a crash leaves the old file or the new one, never half of it,
/// and the password is never readable by others, not even for a moment.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp: PathBuf = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut f = open.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> UpstreamForm {
        UpstreamForm {
            url: "https://erp.example.com/".into(),
            database: "hq".into(),
            user: "admin".into(),
            password: Some("pa\"ss = 1".into()),
            ..blank()
        }
    }

    fn refused(f: &UpstreamForm, saved: Option<&str>) -> (&'static str, String) {
        match to_config(f, saved, Path::new("/tmp/head-office.toml")) {
            Err(AppError::Field { field, message }) => (field, message),
            other => panic!("not refused by a field: {other:?}"),
        }
    }

    #[test]
    fn a_good_form_becomes_an_upstream_file_with_the_built_in_models() {
        let (text, c) = to_config(&form(), None, Path::new("/tmp/head-office.toml")).unwrap();
        assert_eq!(c.kind, Kind::Tryton);
        assert_eq!(c.doctypes["Party"].model, "party.party");
        assert_eq!(c.doctypes["Product"].model, "product.product");
        // The password survives quoting.
        assert_eq!(c.password(), "pa\"ss = 1");
        assert!(text.starts_with("# The head office"), "{text}");
        assert_eq!(from_config(&c).doctypes, ["Party", "Product"]);
        assert!(from_config(&c).password_set);
        assert_eq!(from_config(&c).password, None);
    }

    #[test]
    fn a_blank_password_keeps_the_saved_one_and_without_one_is_refused() {
        let f = UpstreamForm {
            password: Some(String::new()),
            ..form()
        };
        let (_, c) = to_config(&f, Some("kept"), Path::new("/tmp/x.toml")).unwrap();
        assert_eq!(c.password(), "kept");
        assert_eq!(refused(&f, None).0, field::PASSWORD);
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_field() {
        let cases: Vec<(UpstreamForm, &str, &str)> = vec![
            (
                UpstreamForm {
                    url: " ".into(),
                    ..form()
                },
                field::URL,
                "address",
            ),
            (
                UpstreamForm {
                    url: "erp.example.com".into(),
                    ..form()
                },
                field::URL,
                "https://",
            ),
            (
                UpstreamForm {
                    url: "http://203.0.113.7/".into(),
                    ..form()
                },
                field::URL,
                "in clear",
            ),
            (
                UpstreamForm {
                    database: "".into(),
                    ..form()
                },
                field::DATABASE,
                "database",
            ),
            (
                UpstreamForm {
                    user: "".into(),
                    ..form()
                },
                field::USER,
                "user",
            ),
            (
                UpstreamForm {
                    ca_file: Some("ca.pem".into()),
                    ..form()
                },
                field::CA_FILE,
                "full path",
            ),
            (
                UpstreamForm {
                    ca_file: Some("/nonexistent/ca.pem".into()),
                    ..form()
                },
                field::CA_FILE,
                "cannot read ca_file",
            ),
            (
                UpstreamForm {
                    doctypes: vec![],
                    ..form()
                },
                field::DOCTYPES,
                "Tick at least one",
            ),
            (
                UpstreamForm {
                    doctypes: vec!["Sale".into()],
                    ..form()
                },
                field::DOCTYPES,
                "tick Party and Product",
            ),
            (
                UpstreamForm {
                    kind: Kind::Erpnext,
                    doctypes: vec!["Sale".into()],
                    ..form()
                },
                field::DOCTYPES,
                "cannot go to ERPNext",
            ),
        ];
        for (f, want_field, want) in cases {
            let (field, message) = refused(&f, None);
            assert_eq!(field, want_field, "{message}");
            assert!(message.contains(want), "{want}: {message}");
        }
    }

    #[test]
    fn the_file_is_written_for_this_user_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FORM_FILE);
        write_private(&p, "a").unwrap();
        write_private(&p, "b").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
