//! The typed arguments of each op, as they travel in a request's `args`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `get`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    pub doctype: String,
    pub name: String,
}

/// `insert`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct InsertArgs {
    pub doctype: String,
    pub record: Map<String, Value>,
}

/// `update`: the revision edited goes in `rev` or inside `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    pub doctype: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i64>,
    pub record: Map<String, Value>,
}

/// `delete`: `rev`, when given, must be current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    pub doctype: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i64>,
}

/// Sort keys: `"modified:desc,party_name"` or `["modified:desc", "party_name"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum SortArg {
    Text(String),
    List(Vec<String>),
}

/// `query` and `count`: a text query, JSON filters, or both (ANDed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    pub doctype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<SortArg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    /// With `group_by`: numeric fields to sum per group (`sum_<field>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Vec<String>>,
    /// Run on the head-office ERP instead of the office database (a master
    /// with an upstream; `unavailable` when the uplink is down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<bool>,
}

/// `insert_many`: all records in one transaction, all or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct InsertManyArgs {
    pub doctype: String,
    pub records: Vec<Map<String, Value>>,
}

/// `subscribe`: change events for these doctypes (all when absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SubscribeArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctypes: Option<Vec<String>>,
}

/// `hello`: who calls, and which protocol version it speaks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct HelloArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The office's epoch as the caller knows it: a master that meets a
    /// higher one than its own was replaced by a promoted standby, and
    /// stops taking writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub epoch: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// One doctype as the `doctypes` op gives it: its definition and the
/// fields a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoctypeView {
    #[serde(flatten)]
    pub doctype: outpost_store::Doctype,
    pub list_fields: Vec<String>,
    /// The formats its records print in (`print`); empty: none.
    #[serde(default)]
    pub print_formats: Vec<String>,
}

/// `sync.records`: where these records of `doctype` stand with the head
/// office (waiting, sent, parked with the reason, conflict); at most 1,000.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SyncRecordsArgs {
    pub doctype: String,
    pub names: Vec<String>,
}

/// `standby.chunk`: a piece of the snapshot `standby.begin` made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct StandbyChunkArgs {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub offset: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub len: u64,
}

/// `standby.changes`: the changesets after `after` (which also says the
/// standby holds everything up to `after` on disk), waiting up to
/// `wait_ms` for one when there is none yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct StandbyChangesArgs {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub after: u64,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub wait_ms: u64,
}

/// A password as it travels in a request: never shown by `Debug` (nor so
/// in any log of a request).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `auth.sign_in`: a person signs in on this channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SignInArgs {
    pub user: String,
    pub password: Secret,
}

/// `auth.resume`: the sign-in a token stands for, on a new channel of the
/// same device (a reconnect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ResumeArgs {
    pub token: Secret,
}

/// `history`: a record's changes, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    pub doctype: String,
    pub name: String,
}

/// `users.add`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserAddArgs {
    pub name: String,
    pub role: String,
    pub password: Secret,
}

/// `users.passwd`: a manager sets anyone's password; anyone may set their
/// own, giving the current one in `current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserPasswdArgs {
    pub name: String,
    pub password: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Secret>,
}

/// `users.disable`, `users.enable`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserNameArgs {
    pub name: String,
}

/// `users.role`: gives a user another role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserRoleArgs {
    pub name: String,
    pub role: String,
}

/// `site.idle_lock`: after how many idle minutes a window signs its person
/// out (a site setting kept by the master; 0: never). Needs the `master`
/// administration right; everyone learns it when signing in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct IdleLockArgs {
    pub minutes: u32,
}
