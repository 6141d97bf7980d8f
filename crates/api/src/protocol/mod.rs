//! The DB call protocol: one JSON envelope for requests, responses and
//! events (DESIGN.md section 4), versioned, with typed arguments per op.
//!
//! ```text
//! request   {"v":1, "id":17, "op":"query", "args":{...}}
//! response  {"id":17, "ok":{...}}  or  {"id":17, "err":{"code":"conflict","message":"...","details":{...}}}
//! event     {"ev":"changed", "doctype":"Party", "name":"...", "rev":8}
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest message (after reassembly of chunks) a peer accepts.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Every op, as named on the wire.
pub const OPS: &[&str] = &[
    "hello",
    "doctypes",
    "get",
    "insert",
    "update",
    "delete",
    "query",
    "count",
    "insert_many",
    "subscribe",
    "unsubscribe",
    "sync.status",
    "sync.records",
    "standby.begin",
    "standby.chunk",
    "standby.changes",
    "auth.sign_in",
    "auth.resume",
    "auth.sign_out",
    "history",
    "users.list",
    "users.add",
    "users.passwd",
    "users.disable",
    "users.enable",
    "users.role",
    "roles.list",
    "site.idle_lock",
    "report",
    "report.builtins",
    "import",
    "export",
    "export.chunk",
    "print",
];

/// A request id: a number or a string, chosen by the caller. Write ids must
/// stay unique per device for as long as retries may happen (a week), so
/// callers use random or time-based ids, not a counter restarting at 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum RequestId {
    Num(u64),
    Text(String),
}

/// Read by hand, not as an untagged enum: serde's untagged read buffers
/// the value and builds an error for each variant it tries (4 a call,
/// issue 16). The same ids are accepted: a whole number of at least 0
/// (`Num`), or a string (`Text`).
impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RequestId, D::Error> {
        struct Id;
        impl serde::de::Visitor<'_> for Id {
            type Value = RequestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request id: a whole number of at least 0, or a string")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RequestId, E> {
                Ok(RequestId::Num(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RequestId, E> {
                Ok(RequestId::Text(s.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<RequestId, E> {
                Ok(RequestId::Text(s))
            }
        }
        d.deserialize_any(Id)
    }
}

impl RequestId {
    /// A fresh id, unique across processes and restarts.
    pub fn fresh() -> RequestId {
        RequestId::Text(uuid::Uuid::now_v7().to_string())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Num(n) => write!(f, "{n}"),
            RequestId::Text(s) => f.write_str(s),
        }
    }
}

/// Error codes (DESIGN.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    TooLarge,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error as it crosses the wire: a code, words a clerk can act on, and
/// details for programs (the field, the current record of a conflict ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
}

mod args;
mod decode;
pub use args::*;
pub use decode::{decode_incoming, decode_request, incoming_head, IncomingHead};
mod sheets;
pub use sheets::*;
mod print;
pub use print::*;

/// One op with its typed arguments. On the wire it is the request's `op`
/// (its [`name`](Op::name)) and `args`; the TypeScript type says the same
/// (an op without arguments may leave `args` out).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(tag = "op", content = "args", rename_all = "snake_case")
)]
pub enum Op {
    Hello(HelloArgs),
    Doctypes,
    Get(GetArgs),
    Insert(InsertArgs),
    Update(UpdateArgs),
    Delete(DeleteArgs),
    Query(QueryArgs),
    Count(QueryArgs),
    InsertMany(InsertManyArgs),
    Subscribe(SubscribeArgs),
    Unsubscribe,
    #[cfg_attr(feature = "ts", ts(rename = "sync.status"))]
    SyncStatus,
    #[cfg_attr(feature = "ts", ts(rename = "sync.records"))]
    SyncRecords(SyncRecordsArgs),
    /// The standby's copy: a snapshot of the office database to fetch.
    #[cfg_attr(feature = "ts", ts(rename = "standby.begin"))]
    StandbyBegin,
    #[cfg_attr(feature = "ts", ts(rename = "standby.chunk"))]
    StandbyChunk(StandbyChunkArgs),
    #[cfg_attr(feature = "ts", ts(rename = "standby.changes"))]
    StandbyChanges(StandbyChangesArgs),
    /// A person signs in on this channel (issue 14).
    #[cfg_attr(feature = "ts", ts(rename = "auth.sign_in"))]
    SignIn(SignInArgs),
    #[cfg_attr(feature = "ts", ts(rename = "auth.resume"))]
    Resume(ResumeArgs),
    #[cfg_attr(feature = "ts", ts(rename = "auth.sign_out"))]
    SignOut,
    History(HistoryArgs),
    #[cfg_attr(feature = "ts", ts(rename = "users.list"))]
    UsersList,
    #[cfg_attr(feature = "ts", ts(rename = "users.add"))]
    UsersAdd(UserAddArgs),
    #[cfg_attr(feature = "ts", ts(rename = "users.passwd"))]
    UsersPasswd(UserPasswdArgs),
    #[cfg_attr(feature = "ts", ts(rename = "users.disable"))]
    UsersDisable(UserNameArgs),
    #[cfg_attr(feature = "ts", ts(rename = "users.enable"))]
    UsersEnable(UserNameArgs),
    #[cfg_attr(feature = "ts", ts(rename = "users.role"))]
    UsersRole(UserRoleArgs),
    #[cfg_attr(feature = "ts", ts(rename = "roles.list"))]
    RolesList,
    /// Sets the site's idle lock (minutes; 0: never).
    #[cfg_attr(feature = "ts", ts(rename = "site.idle_lock"))]
    IdleLock(IdleLockArgs),
    /// Records counted and added up on the master, grouped (issue 15).
    Report(outpost_store::report::ReportSpec),
    /// The built-in reports' definitions.
    #[cfg_attr(feature = "ts", ts(rename = "report.builtins"))]
    ReportBuiltins,
    /// Rows of a CSV or XLSX file into a doctype (issue 15).
    Import(ImportArgs),
    /// A query's rows into a CSV or XLSX file on the master.
    Export(ExportArgs),
    #[cfg_attr(feature = "ts", ts(rename = "export.chunk"))]
    ExportChunk(ExportChunkArgs),
    /// A record's document as PDF, made by the master (docs/print.md).
    Print(PrintArgs),
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello(_) => "hello",
            Op::Doctypes => "doctypes",
            Op::Get(_) => "get",
            Op::Insert(_) => "insert",
            Op::Update(_) => "update",
            Op::Delete(_) => "delete",
            Op::Query(_) => "query",
            Op::Count(_) => "count",
            Op::InsertMany(_) => "insert_many",
            Op::Subscribe(_) => "subscribe",
            Op::Unsubscribe => "unsubscribe",
            Op::SyncStatus => "sync.status",
            Op::SyncRecords(_) => "sync.records",
            Op::StandbyBegin => "standby.begin",
            Op::StandbyChunk(_) => "standby.chunk",
            Op::StandbyChanges(_) => "standby.changes",
            Op::SignIn(_) => "auth.sign_in",
            Op::Resume(_) => "auth.resume",
            Op::SignOut => "auth.sign_out",
            Op::History(_) => "history",
            Op::UsersList => "users.list",
            Op::UsersAdd(_) => "users.add",
            Op::UsersPasswd(_) => "users.passwd",
            Op::UsersDisable(_) => "users.disable",
            Op::UsersEnable(_) => "users.enable",
            Op::UsersRole(_) => "users.role",
            Op::RolesList => "roles.list",
            Op::IdleLock(_) => "site.idle_lock",
            Op::Report(_) => "report",
            Op::ReportBuiltins => "report.builtins",
            Op::Import(_) => "import",
            Op::Export(_) => "export",
            Op::ExportChunk(_) => "export.chunk",
            Op::Print(_) => "print",
        }
    }

    /// The standby's calls, answered by the master's session, not the store.
    pub fn is_standby(&self) -> bool {
        matches!(
            self,
            Op::StandbyBegin | Op::StandbyChunk(_) | Op::StandbyChanges(_)
        )
    }

    /// Sign-in and the people's administration: answered by the master
    /// (its sign-in service), not the store.
    pub fn is_people(&self) -> bool {
        matches!(
            self,
            Op::SignIn(_)
                | Op::Resume(_)
                | Op::SignOut
                | Op::UsersList
                | Op::UsersAdd(_)
                | Op::UsersPasswd(_)
                | Op::UsersDisable(_)
                | Op::UsersEnable(_)
                | Op::UsersRole(_)
                | Op::RolesList
                | Op::IdleLock(_)
        )
    }

    /// Writes are the calls whose request id is remembered.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Insert(_) | Op::Update(_) | Op::Delete(_) | Op::InsertMany(_) | Op::Import(_)
        )
    }

    fn args(&self) -> Value {
        let v = match self {
            Op::Hello(a) => serde_json::to_value(a),
            Op::Get(a) => serde_json::to_value(a),
            Op::Insert(a) => serde_json::to_value(a),
            Op::Update(a) => serde_json::to_value(a),
            Op::Delete(a) => serde_json::to_value(a),
            Op::Query(a) | Op::Count(a) => serde_json::to_value(a),
            Op::InsertMany(a) => serde_json::to_value(a),
            Op::Subscribe(a) => serde_json::to_value(a),
            Op::SyncRecords(a) => serde_json::to_value(a),
            Op::StandbyChunk(a) => serde_json::to_value(a),
            Op::StandbyChanges(a) => serde_json::to_value(a),
            Op::SignIn(a) => serde_json::to_value(a),
            Op::Resume(a) => serde_json::to_value(a),
            Op::History(a) => serde_json::to_value(a),
            Op::UsersAdd(a) => serde_json::to_value(a),
            Op::UsersPasswd(a) => serde_json::to_value(a),
            Op::UsersDisable(a) | Op::UsersEnable(a) => serde_json::to_value(a),
            Op::UsersRole(a) => serde_json::to_value(a),
            Op::IdleLock(a) => serde_json::to_value(a),
            Op::Report(a) => serde_json::to_value(a),
            Op::Import(a) => serde_json::to_value(a),
            Op::Export(a) => serde_json::to_value(a),
            Op::ExportChunk(a) => serde_json::to_value(a),
            Op::Print(a) => serde_json::to_value(a),
            Op::Doctypes
            | Op::ReportBuiltins
            | Op::Unsubscribe
            | Op::SyncStatus
            | Op::StandbyBegin
            | Op::SignOut
            | Op::UsersList
            | Op::RolesList => Ok(Value::Object(Map::new())),
        };
        v.unwrap_or(Value::Null)
    }

    /// Reads the typed arguments of op `name`.
    pub fn from_parts(name: &str, args: Value) -> Result<Op, ApiError> {
        fn typed<T: serde::de::DeserializeOwned>(op: &str, args: Value) -> Result<T, ApiError> {
            let args = if args.is_null() {
                Value::Object(Map::new())
            } else {
                args
            };
            serde_json::from_value(args).map_err(|e| {
                ApiError::bad_request(format!("bad arguments for '{op}': {e}"))
                    .with_details(serde_json::json!({"reason": "bad_arguments", "op": op}))
            })
        }
        Ok(match name {
            "hello" => Op::Hello(typed(name, args)?),
            "doctypes" => typed::<NoArgs>(name, args).map(|_| Op::Doctypes)?,
            "get" => Op::Get(typed(name, args)?),
            "insert" => Op::Insert(typed(name, args)?),
            "update" => Op::Update(typed(name, args)?),
            "delete" => Op::Delete(typed(name, args)?),
            "query" => Op::Query(typed(name, args)?),
            "count" => Op::Count(typed(name, args)?),
            "insert_many" => Op::InsertMany(typed(name, args)?),
            "subscribe" => Op::Subscribe(typed(name, args)?),
            "unsubscribe" => typed::<NoArgs>(name, args).map(|_| Op::Unsubscribe)?,
            "sync.status" => typed::<NoArgs>(name, args).map(|_| Op::SyncStatus)?,
            "sync.records" => Op::SyncRecords(typed(name, args)?),
            "standby.begin" => typed::<NoArgs>(name, args).map(|_| Op::StandbyBegin)?,
            "standby.chunk" => Op::StandbyChunk(typed(name, args)?),
            "standby.changes" => Op::StandbyChanges(typed(name, args)?),
            "auth.sign_in" => Op::SignIn(typed(name, args)?),
            "auth.resume" => Op::Resume(typed(name, args)?),
            "auth.sign_out" => typed::<NoArgs>(name, args).map(|_| Op::SignOut)?,
            "history" => Op::History(typed(name, args)?),
            "users.list" => typed::<NoArgs>(name, args).map(|_| Op::UsersList)?,
            "users.add" => Op::UsersAdd(typed(name, args)?),
            "users.passwd" => Op::UsersPasswd(typed(name, args)?),
            "users.disable" => Op::UsersDisable(typed(name, args)?),
            "users.enable" => Op::UsersEnable(typed(name, args)?),
            "users.role" => Op::UsersRole(typed(name, args)?),
            "roles.list" => typed::<NoArgs>(name, args).map(|_| Op::RolesList)?,
            "site.idle_lock" => Op::IdleLock(typed(name, args)?),
            "report" => Op::Report(typed(name, args)?),
            "report.builtins" => typed::<NoArgs>(name, args).map(|_| Op::ReportBuiltins)?,
            "import" => Op::Import(typed(name, args)?),
            "export" => Op::Export(typed(name, args)?),
            "export.chunk" => Op::ExportChunk(typed(name, args)?),
            "print" => Op::Print(typed(name, args)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown op '{}'; known ops: {}",
                    shorten(other),
                    OPS.join(", ")
                ))
                .with_details(serde_json::json!({"reason": "unknown_op"})))
            }
        })
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A request: protocol version, id, op.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Request {
    pub v: u32,
    pub id: RequestId,
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub op: Op,
}

impl Request {
    pub fn new(op: Op) -> Request {
        Request {
            v: PROTOCOL_VERSION,
            id: RequestId::fresh(),
            op,
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({"v": self.v, "id": self.id, "op": self.op.name(), "args": self.op.args()})
    }

    pub fn encode(&self) -> String {
        self.to_json().to_string()
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `None` only when the request was too broken to read its id.
    pub id: Option<RequestId>,
    pub result: Result<Value, ApiError>,
}

impl Response {
    /// The wire form, serialised straight from the result (no copy of it:
    /// an answer can be a page of a thousand records).
    pub fn encode(&self) -> String {
        let wire = ResponseWire {
            id: &self.id,
            ok: self.result.as_ref().ok(),
            err: self.result.as_ref().err(),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

/// A [`Response`] as it travels: `{"id":17,"ok":...}` or
/// `{"id":17,"err":{...}}` (`id` is null only when the request was too
/// broken to read its id). Borrowed: an answer can be a page of a thousand
/// records, and it is serialised without a copy.
#[derive(Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "Response"))]
pub struct ResponseWire<'a> {
    id: &'a Option<RequestId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    ok: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    err: Option<&'a ApiError>,
}

/// A change pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A record was inserted, updated or deleted (`op`).
    Changed {
        doctype: String,
        name: String,
        rev: i64,
        op: String,
        seq: i64,
        #[serde(default)]
        device: String,
    },
    /// The subscriber fell behind and missed events: reload what it shows.
    Lagged { missed: u64 },
    /// Sent by the master on a channel it is about to close because the
    /// same device connected again (one session per device): the slave
    /// that gets it stops reconnecting, so two live connections of one
    /// device (two programs, two tabs) do not take turns closing each
    /// other. Never handed to subscribers.
    Replaced {},
}

/// Whatever arrives from a master: a response or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Response(Response),
    Event(Event),
}
