//! `LocalDb`: runs DB calls on the store in this process. The master gives
//! each connected device its own handle (`for_device`), so writes are logged
//! with the device and request ids are remembered per device.
//!
//! No SQLite work that can be slow runs on the async runtime: the runtime's
//! few workers also drive every slave's WebRTC peer (ICE keepalives, DTLS,
//! the data channels), and two slow queries on them would drop every
//! slave. Writes go to the store's writer thread; reads run on tokio's
//! blocking threads, at most [`READERS`] at once (the others wait their
//! turn, they are not refused), each under the store's read deadline. The
//! one exception is the commonest call, the get of a record without child
//! tables: one row by its key, read in place, in less time than the hand-off
//! to a blocking thread and back would take.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use outpost_store::query::{parse_json, parse_text, Expr};
use outpost_store::{QuerySpec, SortKey, Store, StoreError, Write, WriteCtx, READERS};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot, Semaphore};
use tracing::Instrument;

use crate::db::{Db, EventStream, SubscriptionFilter, Upstream};
use crate::error::from_store;
use crate::print::Render;
use crate::protocol::{
    ApiError, DoctypeView, ErrorCode, Event, Op, QueryArgs, Request, Response, SortArg, OPS,
    PROTOCOL_VERSION,
};

tokio::task_local! {
    /// The write group of the last write made in a [`LocalDb::call_seq`].
    static WRITE_SEQ: std::cell::Cell<u64>;
}

/// Most records one `insert_many` takes (one transaction holds the writer).
pub const MAX_INSERT_MANY: usize = 10_000;
/// Events kept for slow subscribers before they are told they lagged.
const EVENT_BUFFER: usize = 4096;

/// What every handle of one store shares.
struct Shared {
    store: Store,
    events: broadcast::Sender<Event>,
    upstream: RwLock<Option<Arc<dyn Upstream>>>,
    /// The document engine of `print` (`None`: this process cannot print).
    printer: RwLock<Option<Arc<dyn Render>>>,
    /// One permit per reader: reads beyond it wait here, off any thread.
    reads: Arc<Semaphore>,
    /// Exported files waiting to be fetched.
    exports: crate::sheets::exports::Exports,
}

#[derive(Clone)]
pub struct LocalDb {
    shared: Arc<Shared>,
    /// Shared, not copied, by the handle each call makes (`as_user`).
    device: Arc<str>,
    /// The signed-in user this handle acts for (`None`: nobody).
    user: Option<Arc<str>>,
    subscription: SubscriptionFilter,
}

impl LocalDb {
    /// Serves calls on `store` as `device` (a fingerprint, or a local label
    /// like `cli`).
    pub fn new(store: Store, device: impl Into<String>) -> LocalDb {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let tx = events.clone();
        store.on_change(move |changes| {
            for c in changes {
                let _ = tx.send(Event::Changed {
                    doctype: c.doctype.clone(),
                    name: c.name.clone(),
                    rev: c.rev,
                    op: c.op.clone(),
                    seq: c.seq,
                    device: c.device.clone(),
                });
            }
        });
        LocalDb {
            shared: Arc::new(Shared {
                store,
                events,
                upstream: RwLock::new(None),
                printer: RwLock::new(None),
                reads: Arc::new(Semaphore::new(READERS)),
                exports: Default::default(),
            }),
            device: Arc::from(device.into()),
            user: None,
            subscription: Arc::new(RwLock::new(None)),
        }
    }

    /// Another handle on the same store, acting for `device`, with its own
    /// subscription.
    pub fn for_device(&self, device: impl Into<String>) -> LocalDb {
        LocalDb {
            shared: self.shared.clone(),
            device: Arc::from(device.into()),
            user: None,
            subscription: Arc::new(RwLock::new(None)),
        }
    }

    /// This handle (its device and subscription) acting for `user`: its
    /// writes are in each record's history under that name.
    pub fn as_user(&self, user: Option<String>) -> LocalDb {
        LocalDb {
            user: user.map(Arc::from),
            ..self.clone()
        }
    }

    /// Runs `req` like [`Db::call`], and says which write group (its
    /// `repl_seq`) holds it when it is a write (0 otherwise): what a
    /// synchronous master waits for its standby to hold.
    pub async fn call_seq(&self, req: Request) -> (Response, u64) {
        WRITE_SEQ
            .scope(std::cell::Cell::new(0), async {
                let resp = self.call(req).await;
                (resp, WRITE_SEQ.with(|c| c.get()))
            })
            .await
    }

    /// The signed-in user this handle acts for.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Sets (or removes) the head-office ERP that `upstream: true` queries
    /// go to; every handle of this store sees it.
    pub fn set_upstream(&self, upstream: Option<Arc<dyn Upstream>>) {
        *self
            .shared
            .upstream
            .write()
            .unwrap_or_else(|e| e.into_inner()) = upstream;
    }

    /// Sets the document engine `print` uses; every handle of this store
    /// sees it.
    pub fn set_printer(&self, printer: Arc<dyn Render>) {
        *self
            .shared
            .printer
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(printer);
    }

    fn printer(&self) -> Option<Arc<dyn Render>> {
        self.shared
            .printer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Whether `op` is answered in place, on the caller's task, in a few
    /// microseconds: the get of a record without child tables.
    pub fn answers_in_place(&self, op: &Op) -> bool {
        matches!(op, Op::Get(a) if self.shared.store.get_reads_one_row(&a.doctype))
    }

    pub(crate) fn exports(&self) -> &crate::sheets::exports::Exports {
        &self.shared.exports
    }

    async fn write(&self, id: &Request, write: Write) -> Result<Value, ApiError> {
        self.write_store(id, write).await.map_err(from_store)
    }

    /// As `write`, with the store's own error (an import reads its report
    /// out of it).
    pub(crate) async fn write_store(
        &self,
        id: &Request,
        write: Write,
    ) -> Result<Value, StoreError> {
        let ctx = WriteCtx {
            device: self.device.to_string(),
            user: self.user.as_deref().map(str::to_string),
            request_id: Some(id.id.to_string()),
            from_upstream: false,
        };
        let (tx, rx) = oneshot::channel();
        self.shared.store.submit(
            ctx,
            write,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        match rx.await {
            Ok(Ok(outcome)) => {
                let _ = WRITE_SEQ.try_with(|c| c.set(outcome.seq));
                if outcome.replayed {
                    tracing::info!("repeated request id: answered from the stored result");
                }
                Ok(outcome.value)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Runs `f` on the store on a blocking thread, once one of the
    /// [`READERS`] permits is free; the permit goes with the thread, so a
    /// caller that gives up does not let more reads run than readers.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .shared
            .reads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| from_store(StoreError::Closed))?;
        let store = self.shared.store.clone();
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _span = span.enter();
            f(&store)
        });
        match task.await {
            Ok(r) => r.map_err(from_store),
            Err(e) => Err(ApiError::new(
                ErrorCode::Internal,
                format!("the read of the office database stopped unexpectedly: {e}"),
            )),
        }
    }

    async fn run_op(&self, req: &Request) -> Result<Value, ApiError> {
        let store = &self.shared.store;
        match &req.op {
            Op::Hello(_) => Ok(json!({
                "protocol": PROTOCOL_VERSION,
                "server": concat!("outpost ", env!("CARGO_PKG_VERSION")),
                "ops": OPS,
                "site_id": self.read(|s| s.site_id()).await?,
                "device": &*self.device,
            })),
            Op::Doctypes => {
                let schema = store.schema();
                let printer = self.printer();
                let list: Vec<DoctypeView> = schema
                    .doctypes
                    .values()
                    .map(|dt| DoctypeView {
                        list_fields: dt.list_fields().into_iter().map(str::to_string).collect(),
                        print_formats: match (&printer, dt.child) {
                            (Some(p), false) => p.formats(&dt.name),
                            _ => vec![],
                        },
                        doctype: dt.clone(),
                    })
                    .collect();
                Ok(json!(list))
            }
            Op::Get(a) => {
                if store.get_reads_one_row(&a.doctype) {
                    // One row by its key: a few microseconds of SQLite,
                    // less than the two thread hand-offs of a blocking
                    // read (BENCHMARKS.md, 2026-12-06 (night)).
                    store.get(&a.doctype, &a.name).map_err(from_store)
                } else {
                    let (doctype, name) = (a.doctype.clone(), a.name.clone());
                    self.read(move |s| s.get(&doctype, &name)).await
                }
            }
            Op::Insert(a) => {
                self.write(
                    req,
                    Write::Insert {
                        doctype: a.doctype.clone(),
                        record: a.record.clone(),
                    },
                )
                .await
            }
            Op::Update(a) => {
                let rev = a
                    .rev
                    .or_else(|| a.record.get("rev").and_then(Value::as_i64))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "update needs the revision you edited (\"rev\"); get {} {} to see it",
                            a.doctype, a.name
                        ))
                    })?;
                self.write(
                    req,
                    Write::Update {
                        doctype: a.doctype.clone(),
                        name: a.name.clone(),
                        rev,
                        record: a.record.clone(),
                    },
                )
                .await
            }
            Op::Delete(a) => {
                self.write(
                    req,
                    Write::Delete {
                        doctype: a.doctype.clone(),
                        name: a.name.clone(),
                        rev: a.rev,
                    },
                )
                .await
            }
            Op::InsertMany(a) if a.records.len() > MAX_INSERT_MANY => Err(ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "{} records in one call is too many; send at most {MAX_INSERT_MANY} per call",
                    a.records.len()
                ),
            )),
            Op::InsertMany(a) => {
                self.write(
                    req,
                    Write::InsertMany {
                        doctype: a.doctype.clone(),
                        records: a.records.clone(),
                    },
                )
                .await
            }
            Op::Query(a) if a.upstream == Some(true) => {
                let upstream = self
                    .shared
                    .upstream
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let Some(upstream) = upstream else {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "this master has no head-office ERP configured (outpost master --upstream FILE), so an upstream query cannot run",
                    ));
                };
                store.schema().get(&a.doctype).map_err(from_store)?;
                let filter = filter_of(a)?;
                let rows = upstream
                    .query(&a.doctype, &filter, a.limit.unwrap_or(100).min(1000))
                    .await?;
                Ok(json!({"rows": rows, "upstream": true}))
            }
            Op::Query(a) => {
                let spec = query_spec(a)?;
                let doctype = a.doctype.clone();
                let rows = self.read(move |s| s.query(&doctype, &spec)).await?;
                // Moved, not copied: a page can be large.
                let mut out = serde_json::Map::new();
                out.insert("rows".into(), Value::Array(rows));
                Ok(Value::Object(out))
            }
            Op::Count(a) => {
                let filter = filter_of(a)?;
                let doctype = a.doctype.clone();
                Ok(json!(self.read(move |s| s.count(&doctype, &filter)).await?))
            }
            Op::Subscribe(a) => {
                if let Some(list) = &a.doctypes {
                    let schema = store.schema();
                    for d in list {
                        schema.get(d).map_err(from_store)?;
                    }
                }
                *self.subscription.write().unwrap_or_else(|e| e.into_inner()) =
                    Some(a.doctypes.clone());
                Ok(json!({"subscribed": a.doctypes.clone().map_or(json!("all"), |d| json!(d))}))
            }
            Op::Unsubscribe => {
                *self.subscription.write().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(json!({"subscribed": false}))
            }
            Op::SyncStatus => Ok(json!(self.read(|s| s.sync_status()).await?)),
            Op::SyncRecords(a) => {
                store.schema().get(&a.doctype).map_err(from_store)?;
                let (doctype, names) = (a.doctype.clone(), a.names.clone());
                let records = self.read(move |s| s.sync_records(&doctype, &names)).await?;
                Ok(json!({ "records": records }))
            }
            Op::Report(a) => {
                let spec = a.clone();
                let today = outpost_store::report::today_utc();
                Ok(json!(self.read(move |s| s.report(&spec, today)).await?))
            }
            Op::ReportBuiltins => Ok(json!(outpost_store::report::builtin_reports())),
            Op::History(a) => {
                let (doctype, name) = (a.doctype.clone(), a.name.clone());
                Ok(json!(self.read(move |s| s.history(&doctype, &name)).await?))
            }
            Op::Import(a) => self.import(req, a).await,
            Op::Export(a) => self.export(a).await,
            Op::ExportChunk(a) => self.export_chunk(a).await,
            Op::Print(a) => {
                let printer = self.printer().ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::Unavailable,
                            "this Outpost cannot print: it has no document engine (print through the master)",
                        )
                    })?;
                let args = a.clone();
                // Reading and rendering both run on a read thread.
                self.read(move |s| Ok(crate::print::print(s, &*printer, &args)))
                    .await?
            }
            Op::StandbyBegin | Op::StandbyChunk(_) | Op::StandbyChanges(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "'{}' is a standby's call to the master over the LAN; it is not served here",
                    req.op.name()
                ),
            )),
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
            | Op::IdleLock(_) => Err(ApiError::bad_request(format!(
                "'{}' is answered by the master's sign-in service, not by the office database itself",
                req.op.name()
            ))),
        }
    }
}

/// The filter of a query: text and JSON forms ANDed.
pub fn filter_of(a: &QueryArgs) -> Result<Expr, ApiError> {
    let mut parts = Vec::new();
    if let Some(q) = &a.query {
        parts.push(parse_text(q).map_err(|e| from_store(StoreError::Query(e.into())))?);
    }
    if let Some(f) = &a.filters {
        parts.push(parse_json(f).map_err(|e| from_store(StoreError::Query(e.into())))?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    })
}

/// Reads `QueryArgs` into the store's `QuerySpec`.
pub fn query_spec(a: &QueryArgs) -> Result<QuerySpec, ApiError> {
    let sort_keys: Vec<String> = match &a.sort {
        None => vec![],
        Some(SortArg::Text(t)) => t
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(String::from)
            .collect(),
        Some(SortArg::List(l)) => l.clone(),
    };
    let sort = sort_keys
        .iter()
        .map(|s| SortKey::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| from_store(StoreError::Query(e)))?;
    Ok(QuerySpec {
        filter: filter_of(a)?,
        fields: a.fields.clone().unwrap_or_default(),
        sort,
        limit: a.limit,
        offset: a.offset.unwrap_or(0),
        group_by: a.group_by.clone(),
        sums: a.sum.clone().unwrap_or_default(),
    })
}

#[async_trait]
impl Db for LocalDb {
    async fn call(&self, req: Request) -> Response {
        let span = tracing::info_span!(
            "db",
            device = %self.device,
            user = self.user.as_deref().unwrap_or("-"),
            req = %req.id,
            op = req.op.name()
        );
        async {
            let result = self.run_op(&req).await;
            match &result {
                Ok(_) => tracing::debug!("ok"),
                Err(e) if e.code == ErrorCode::Internal => tracing::error!(error = %e, "failed"),
                Err(e) => tracing::debug!(code = e.code.as_str(), error = %e, "refused"),
            }
            Response {
                id: Some(req.id.clone()),
                result,
            }
        }
        .instrument(span)
        .await
    }

    fn events(&self) -> EventStream {
        EventStream::new(self.shared.events.subscribe(), self.subscription.clone())
    }
}
