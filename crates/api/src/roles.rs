//! Roles (issue 14): what a signed-in person may do. A role gives rights
//! per doctype (read, create, write, delete, and "own records only") and
//! administration rights apart (devices, master settings, upstream, users,
//! backups). Three are built in (Manager, Clerk, Viewer); a site adds its
//! own in `roles.json` in the data folder. The master checks every op
//! against the caller's role ([`Role::check`]); the UI only hides what a
//! role cannot do.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::protocol::{ApiError, ErrorCode, Op};

/// The key of a role's rights for every doctype it does not name.
pub const ANY_DOCTYPE: &str = "*";

/// What a role may do with one doctype's records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default, deny_unknown_fields)]
pub struct Rights {
    pub read: bool,
    pub create: bool,
    pub write: bool,
    pub delete: bool,
    /// Write and delete only records this person created (reads are not
    /// narrowed).
    pub own_only: bool,
}

impl Rights {
    const ALL: Rights = Rights {
        read: true,
        create: true,
        write: true,
        delete: true,
        own_only: false,
    };
    const READ: Rights = Rights {
        read: true,
        create: false,
        write: false,
        delete: false,
        own_only: false,
    };
    const EDIT: Rights = Rights {
        read: true,
        create: true,
        write: true,
        delete: false,
        own_only: false,
    };
}

/// Administration, apart from records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AdminRight {
    /// Pair, revoke, and choose the standby.
    Devices,
    /// The master's settings (name, port, durability).
    Master,
    /// The head-office link: its settings, conflicts, parked entries.
    Upstream,
    /// People: add, disable, passwords, roles.
    Users,
    /// Take, schedule and restore backups.
    Backups,
}

impl AdminRight {
    pub const ALL: [AdminRight; 5] = [
        AdminRight::Devices,
        AdminRight::Master,
        AdminRight::Upstream,
        AdminRight::Users,
        AdminRight::Backups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRight::Devices => "devices",
            AdminRight::Master => "master",
            AdminRight::Upstream => "upstream",
            AdminRight::Users => "users",
            AdminRight::Backups => "backups",
        }
    }
}

/// A role: rights per doctype ([`ANY_DOCTYPE`] for the rest),
/// administration rights, and how many queries a day it may send to head
/// office over the uplink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "AccessRole"))]
#[serde(deny_unknown_fields)]
pub struct Role {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub doctypes: BTreeMap<String, Rights>,
    #[serde(default)]
    pub admin: BTreeSet<AdminRight>,
    /// `upstream: true` queries a day per user (0: none).
    #[serde(default)]
    pub upstream_queries_per_day: u32,
}

/// What `auth.sign_in` and `auth.resume` answer: who, the role's rights
/// (for a UI to hide what it cannot do; the master checks anyway), and the
/// token that resumes the sign-in from this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInAnswer {
    pub user: String,
    pub role: String,
    pub rights: Role,
    /// Resumes the sign-in from this device (`auth.resume`) until `expires`.
    pub token: String,
    /// Unix seconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires: u64,
    /// The site's idle lock: a window left alone this many minutes signs
    /// its person out (0: never). Set with `site.idle_lock`.
    #[serde(default)]
    pub idle_lock_minutes: u32,
}

/// What an op needs (borrowing the doctype's name from the op: the check
/// runs on every call and allocates nothing unless it refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// Anyone signed in.
    SignedIn,
    Read(&'a str),
    Create(&'a str),
    Write(&'a str),
    Delete(&'a str),
    /// A query sent on to head office.
    Upstream(&'a str),
    Admin(AdminRight),
}

impl<'a> Need<'a> {
    /// What `op` needs; `None`: nothing (it is answered before sign-in, or
    /// it is a device's call such as the standby's).
    pub fn of(op: &'a Op) -> Option<Need<'a>> {
        Some(match op {
            Op::Hello(_) | Op::SignIn(_) | Op::Resume(_) | Op::SignOut => return None,
            Op::StandbyBegin | Op::StandbyChunk(_) | Op::StandbyChanges(_) => return None,
            Op::Doctypes
            | Op::Subscribe(_)
            | Op::Unsubscribe
            | Op::SyncStatus
            | Op::RolesList
            | Op::ReportBuiltins
            | Op::UsersPasswd(_) => Need::SignedIn,
            Op::Get(a) => Need::Read(&a.doctype),
            Op::Query(a) | Op::Count(a) if a.upstream == Some(true) => Need::Upstream(&a.doctype),
            Op::Query(a) | Op::Count(a) => Need::Read(&a.doctype),
            Op::SyncRecords(a) => Need::Read(&a.doctype),
            Op::History(a) => Need::Read(&a.doctype),
            // And the parent it joins and the doctype whose titles it
            // shows: see `report_doctypes`, checked by the master's gate.
            Op::Report(a) => Need::Read(&a.doctype),
            Op::Print(a) => Need::Read(&a.doctype),
            Op::Insert(a) => Need::Create(&a.doctype),
            Op::InsertMany(a) => Need::Create(&a.doctype),
            // Lines joined to records that exist edit those records.
            Op::Import(a) if a.table.is_some() => Need::Write(&a.doctype),
            Op::Import(a) => Need::Create(&a.doctype),
            Op::Export(a) => Need::Read(&a.doctype),
            // The export is handed only to the device and person that made it.
            Op::ExportChunk(_) => Need::SignedIn,
            Op::Update(a) => Need::Write(&a.doctype),
            Op::Delete(a) => Need::Delete(&a.doctype),
            Op::UsersList
            | Op::UsersAdd(_)
            | Op::UsersDisable(_)
            | Op::UsersEnable(_)
            | Op::UsersRole(_) => Need::Admin(AdminRight::Users),
            Op::IdleLock(_) => Need::Admin(AdminRight::Master),
        })
    }
}

impl Role {
    /// The rights on `doctype`.
    pub fn rights(&self, doctype: &str) -> Rights {
        self.doctypes
            .get(doctype)
            .or_else(|| self.doctypes.get(ANY_DOCTYPE))
            .copied()
            .unwrap_or_default()
    }

    /// Whether `need` (a write or a delete) is limited to the records the
    /// person made: the doctype to look the record up in.
    pub fn owns_only<'a>(&self, need: &Need<'a>) -> Option<&'a str> {
        match *need {
            Need::Write(d) | Need::Delete(d) if self.rights(d).own_only => Some(d),
            _ => None,
        }
    }

    pub fn can_read(&self, doctype: &str) -> bool {
        self.rights(doctype).read
    }

    /// Whether `need` is met; if not, a `forbidden` error naming the right
    /// that is missing. (`own_only` is checked on the record, by
    /// [`Role::owns_only`] and the caller.)
    pub fn check(&self, role_name: &str, need: &Need) -> Result<(), ApiError> {
        let ok = match *need {
            Need::SignedIn => true,
            Need::Read(d) => self.rights(d).read,
            Need::Create(d) => self.rights(d).create,
            Need::Write(d) => self.rights(d).write,
            Need::Delete(d) => self.rights(d).delete,
            Need::Upstream(d) => self.rights(d).read && self.upstream_queries_per_day > 0,
            Need::Admin(a) => self.admin.contains(&a),
        };
        if ok {
            return Ok(());
        }
        let missing = match *need {
            Need::SignedIn => "sign in".to_string(),
            Need::Read(d) => format!("read {d}"),
            Need::Create(d) => format!("create {d}"),
            Need::Write(d) => format!("write {d}"),
            Need::Delete(d) => format!("delete {d}"),
            Need::Upstream(d) => format!("query head office for {d}"),
            Need::Admin(a) => format!("administer {}", a.as_str()),
        };
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("the role {role_name} may not {missing}; ask a manager"),
        )
        .with_details(
            serde_json::json!({"reason": "forbidden", "missing": missing, "role": role_name}),
        ))
    }
}

/// The built-in roles: Manager (everything), Clerk (reads everything,
/// creates and edits Parties, Products and Sales, deletes nothing,
/// administers nothing), Viewer (reads only).
pub fn built_in() -> BTreeMap<String, Role> {
    let mut all = BTreeMap::new();
    all.insert(
        "Manager".to_string(),
        Role {
            description: "Everything, administration included".into(),
            doctypes: [(ANY_DOCTYPE.to_string(), Rights::ALL)].into(),
            admin: AdminRight::ALL.into_iter().collect(),
            upstream_queries_per_day: 1000,
        },
    );
    all.insert(
        "Clerk".to_string(),
        Role {
            description: "Reads everything; creates and edits Parties, Products and Sales; deletes nothing; no administration".into(),
            doctypes: [
                (ANY_DOCTYPE.to_string(), Rights::READ),
                ("Party".to_string(), Rights::EDIT),
                ("Product".to_string(), Rights::EDIT),
                ("Sale".to_string(), Rights::EDIT),
            ]
            .into(),
            admin: BTreeSet::new(),
            upstream_queries_per_day: 50,
        },
    );
    all.insert(
        "Viewer".to_string(),
        Role {
            description: "Reads only".into(),
            doctypes: [(ANY_DOCTYPE.to_string(), Rights::READ)].into(),
            admin: BTreeSet::new(),
            upstream_queries_per_day: 0,
        },
    );
    all
}

/// The site's roles file (`roles.json`): `{"roles": {"Name": {...}}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    #[serde(default)]
    roles: BTreeMap<String, Role>,
}

/// The built-in roles with the site's from `text` (a `roles.json`); a site
/// role may not take a built-in's name.
pub fn with_site_roles(text: &str) -> Result<BTreeMap<String, Role>, String> {
    let file: RolesFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "roles.json is not valid: {e} (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let mut all = built_in();
    for (name, role) in file.roles {
        if name.trim().is_empty() {
            return Err("roles.json: a role has an empty name".into());
        }
        if all.contains_key(&name) {
            return Err(format!(
                "roles.json: \"{name}\" is a built-in role; give the site's role another name"
            ));
        }
        all.insert(name, role);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DeleteArgs, InsertArgs, QueryArgs};

    fn insert(d: &str) -> Op {
        Op::Insert(InsertArgs {
            doctype: d.into(),
            record: Default::default(),
        })
    }

    #[test]
    fn a_clerk_creates_a_sale_but_deletes_no_party_and_administers_nothing() {
        let roles = built_in();
        let clerk = &roles["Clerk"];
        fn need(op: &Op) -> Need<'_> {
            Need::of(op).unwrap()
        }
        assert!(clerk.check("Clerk", &need(&insert("Sale"))).is_ok());
        let del = Op::Delete(DeleteArgs {
            doctype: "Party".into(),
            name: "p".into(),
            rev: None,
        });
        let e = clerk.check("Clerk", &need(&del)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert!(e.message.contains("may not delete Party"), "{e}");
        let e = clerk.check("Clerk", &need(&Op::UsersList)).unwrap_err();
        assert!(e.message.contains("administer users"), "{e}");
        assert!(clerk.check("Clerk", &need(&insert("Warehouse"))).is_err());
        let viewer = &roles["Viewer"];
        assert!(viewer.check("Viewer", &need(&insert("Sale"))).is_err());
        let up = Op::Query(QueryArgs {
            doctype: "Party".into(),
            upstream: Some(true),
            ..Default::default()
        });
        assert!(viewer.check("Viewer", &need(&up)).is_err());
        assert!(clerk.check("Clerk", &need(&up)).is_ok());
        assert!(roles["Manager"]
            .check("Manager", &need(&Op::UsersList))
            .is_ok());
        assert_eq!(Need::of(&Op::SignOut), None);
    }

    #[test]
    fn an_import_needs_create_a_line_import_writes_the_parent_and_an_export_reads() {
        use crate::protocol::{ExportArgs, ImportArgs, ImportMode, SheetFormat};
        let roles = built_in();
        let import = |doctype: &str, table: Option<&str>| {
            Op::Import(ImportArgs {
                doctype: doctype.into(),
                table: table.map(String::from),
                format: SheetFormat::Csv,
                file: String::new(),
                columns: None,
                mode: ImportMode::AllOrNothing,
                dry_run: false,
            })
        };
        let party = import("Party", None);
        assert_eq!(Need::of(&party), Some(Need::Create("Party")));
        let lines = import("Sale", Some("lines"));
        assert_eq!(Need::of(&lines), Some(Need::Write("Sale")));
        let e = roles["Viewer"]
            .check("Viewer", &Need::of(&party).unwrap())
            .unwrap_err();
        assert!(e.message.contains("may not create Party"), "{e}");
        assert!(roles["Clerk"]
            .check("Clerk", &Need::of(&lines).unwrap())
            .is_ok());
        let export = Op::Export(ExportArgs {
            doctype: "Party".into(),
            format: SheetFormat::Xlsx,
            query: None,
            filters: None,
            sort: None,
            fields: None,
            table: None,
        });
        assert!(roles["Viewer"]
            .check("Viewer", &Need::of(&export).unwrap())
            .is_ok());
    }

    #[test]
    fn site_roles_join_the_built_ins_and_bad_files_say_where() {
        let all = with_site_roles(
            r#"{"roles": {"Storekeeper": {"doctypes": {"*": {"read": true}, "Product": {"read": true, "write": true}}, "admin": ["backups"]}}}"#,
        )
        .unwrap();
        assert_eq!(all.len(), 4);
        let sk = &all["Storekeeper"];
        assert!(sk.rights("Product").write && !sk.rights("Party").write);
        assert!(sk.admin.contains(&AdminRight::Backups));
        let e = with_site_roles(r#"{"roles": {"Manager": {}}}"#).unwrap_err();
        assert!(e.contains("built-in"), "{e}");
        let own = with_site_roles(
            r#"{"roles": {"Own": {"doctypes": {"Sale": {"read": true, "write": true, "own_only": true}}}}}"#,
        )
        .unwrap();
        assert!(own["Own"].rights("Sale").own_only);
        let e =
            with_site_roles("{\n \"roles\": {\"X\": {\"doctypes\": {\"*\": {\"reed\": true}}}}}")
                .unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn printing_needs_the_read_right_on_the_doctype() {
        let op = Op::Print(crate::protocol::PrintArgs {
            doctype: "Sale".into(),
            name: "x".into(),
            format: "invoice".into(),
        });
        assert_eq!(Need::of(&op), Some(Need::Read("Sale")));
        let none = with_site_roles(
            r#"{"roles": {"Stock only": {"doctypes": {"Product": {"read": true}}}}}"#,
        )
        .unwrap();
        let e = none["Stock only"]
            .check("Stock only", &Need::of(&op).unwrap())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    }
}
