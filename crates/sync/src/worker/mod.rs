//! The sync worker: one per data folder (a lock file says so), on the
//! master. Each cycle pushes the outbox, pulls remote changes page by page,
//! and now and then compares id sets to notice remote deletions. A failed
//! cycle waits with backoff and jitter; a local change, `outpost sync now`
//! or [`Sync::sync_now`] starts one early.
//!
//! Exactly one remote copy per record, whatever dies when:
//! - entries are marked `sending` (durably) before a create leaves, so after
//!   a crash the worker looks their keys up before creating them again;
//! - links and the end of the entries are stored in one transaction after
//!   the answer; dying before that only repeats the lookup;
//! - a pulled page and its cursor are stored in one transaction.
//!
//! Modules: [`run`] (the loop: cycles, backoff, waking), [`push`] (the
//! outbox in batches), [`pull`] (remote pages into the store) and
//! [`reconcile`] (remote deletions).

mod documents;
mod links;
mod pull;
mod push;
mod reconcile;
mod run;

use links::resolve_links;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_store::{
    ChangeOp, Doctype, FieldType, Link, LinkState, OutboxEntry, OutboxState, PulledPage,
    PulledRecord, Schema, Store, StoreError, Synced, Write, WriteCtx,
};
use serde_json::{json, Map, Value};
use sha2::Digest;
use tokio::sync::{oneshot, watch, Notify};

use crate::config::{DoctypeMap, Kind, UpstreamConfig};
use crate::connector::{
    Connector, Cursor, ErrorClass, RemoteRecord, RemoteWrite, SyncError, Traffic,
};

/// Device name on the changes a pull applies (slaves see who wrote).
pub const UPSTREAM_DEVICE: &str = "upstream";
/// Push rounds in one cycle (each takes up to a batch of entries).
const MAX_ROUNDS: usize = 200;
/// Longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// After a refused login: a person must fix the upstream file first.
const AUTH_BACKOFF: Duration = Duration::from_secs(900);
/// How long after a local change the push starts (more changes join it).
const DEBOUNCE: Duration = Duration::from_secs(2);
/// How often another process's `outpost sync now` is looked for.
const NOW_POLL: Duration = Duration::from_secs(1);

fn store_err(e: StoreError) -> SyncError {
    SyncError::new(ErrorClass::Retryable, format!("the office database: {e}"))
}

impl Worker {
    /// Runs `f` on the store on a blocking thread. For the store calls
    /// that write (each waits for the disk: `synchronous=FULL`) or read
    /// more than a record: the worker shares the runtime with every
    /// slave's peer, whose keepalives must not wait on SQLite. (The keyed
    /// lookups of one record, microseconds each, stay where they are.)
    async fn on_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| {
                SyncError::new(
                    ErrorClass::Retryable,
                    format!("the office database call stopped: {e}"),
                )
            })?
            .map_err(store_err)
    }

    /// Sets worker settings (link state, last success ...), off the
    /// runtime; a failure is logged, not fatal: the next cycle sets them
    /// again.
    async fn set_state(&self, pairs: Vec<(&'static str, String)>) {
        let r = self
            .on_store(move |s| {
                let pairs: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                s.set_sync_state(&pairs)
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot record the sync state");
        }
    }
}

/// Asks the worker syncing `store`'s data folder (in this process or
/// another) for a cycle; returns the request's token.
pub fn request_now(store: &Store) -> Result<String, SyncError> {
    // Tokens sort in time order; two asks in one millisecond share one.
    let token = outpost_store::values::now_utc();
    store
        .set_sync_state(&[("now_requested", &token)])
        .map_err(store_err)?;
    Ok(token)
}

/// Whether a cycle that began after the request `token` has ended.
pub fn request_served(store: &Store, token: &str) -> bool {
    store
        .sync_state("served")
        .ok()
        .flatten()
        .is_some_and(|served| served.as_str() >= token)
}

/// The running worker. Dropping it does not stop it: call [`Sync::stop`].
/// Waits until the office's standby holds the change numbered `seq`
/// (synchronous mode); set by the master with [`Sync::set_barrier`]. The
/// worker calls it after marking entries `sending` and before sending
/// them, so a promoted standby knows they may have reached head office and
/// looks them up instead of creating them twice.
pub type Barrier = Arc<
    dyn Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
        + Send
        + std::marker::Sync,
>;

pub struct Sync {
    store: Store,
    barrier: Arc<std::sync::RwLock<Option<Barrier>>>,
    asked: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    connector: Arc<dyn Connector>,
    config: Arc<UpstreamConfig>,
    schema: Arc<Schema>,
}

impl Sync {
    /// Starts syncing `store` with the upstream `config` names.
    pub fn start(store: Store, config: UpstreamConfig) -> Result<Sync, SyncError> {
        // The connector needs the link fields too (a line's product travels
        // as a Tryton variant).
        let mut config = config;
        resolve_links(&mut config, &store.schema())?;
        let connector: Arc<dyn Connector> = match config.kind {
            Kind::Tryton => Arc::new(crate::tryton::Tryton::new(config.clone())?),
            Kind::Erpnext => Arc::new(crate::erpnext::Erpnext::new(config.clone())?),
        };
        Sync::start_with(store, config, connector)
    }

    /// Starts with a given connector.
    pub fn start_with(
        store: Store,
        config: UpstreamConfig,
        connector: Arc<dyn Connector>,
    ) -> Result<Sync, SyncError> {
        let schema = store.schema();
        let mut config = config;
        let order = resolve_links(&mut config, &schema)?;
        let lock = store.try_sync_lock().map_err(store_err)?.ok_or_else(|| {
            SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "another Outpost process is already syncing this data folder ({} is locked)",
                    store.sync_lock_path().display()
                ),
            )
        })?;
        let kind = match config.kind {
            Kind::Tryton => "tryton",
            Kind::Erpnext => "erpnext",
        };
        store
            .set_sync_state(&[
                ("kind", kind),
                ("url", &config.url),
                ("link", LinkState::Starting.word()),
                ("doctypes", &order.join(",")),
                ("next_attempt", ""),
            ])
            .map_err(store_err)?;
        let config = Arc::new(config);
        let now = Arc::new(Notify::new());
        {
            let now = now.clone();
            let doctypes: HashSet<String> = config.doctypes.keys().cloned().collect();
            store.on_change(move |changes| {
                if changes
                    .iter()
                    .any(|c| c.device != UPSTREAM_DEVICE && doctypes.contains(&c.doctype))
                {
                    now.notify_one();
                }
            });
        }
        let asked = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        let barrier: Arc<std::sync::RwLock<Option<Barrier>>> = Arc::default();
        let worker = Worker {
            barrier: barrier.clone(),
            store: store.clone(),
            connector: connector.clone(),
            config: config.clone(),
            schema: schema.clone(),
            traffic: Traffic::default(),
            last_reconcile: None,
            pause_at: std::env::var("OUTPOST_SYNC_PAUSE").ok(),
            order,
        };
        let task = tokio::spawn(worker.run(now.clone(), asked.clone(), stop_rx, lock));
        Ok(Sync {
            store,
            barrier,
            asked,
            stop,
            task,
            connector,
            config,
            schema,
        })
    }

    /// Sets (or removes) the wait for the standby before each push (see
    /// [`Barrier`]).
    pub fn set_barrier(&self, barrier: Option<Barrier>) {
        *self.barrier.write().unwrap_or_else(|e| e.into_inner()) = barrier;
    }

    /// Starts a cycle now (or right after the one running); returns the
    /// request's token for [`request_served`].
    pub fn sync_now(&self) -> Result<String, SyncError> {
        let token = request_now(&self.store)?;
        self.asked.notify_one();
        Ok(token)
    }

    /// Stops after the current call; nothing half-done is lost (the
    /// outbox and cursors say where to go on).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Runs a query on the head office for records this office does not
    /// keep; rows in Outpost's field names, plus `remote_id`.
    pub async fn query(
        &self,
        doctype: &str,
        filters: &[(String, String, Value)],
        limit: u32,
    ) -> Result<Vec<Value>, SyncError> {
        let (map, dt) = parts(&self.config, &self.schema, doctype)?;
        let rows = self.connector.query(doctype, filters, limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut v = normalize(&self.schema, dt, map, &r.values);
                v.insert("remote_id".into(), json!(r.id));
                Value::Object(v)
            })
            .collect())
    }
}

/// How `doctype` maps to the remote, and its local definition.
fn parts<'a>(
    config: &'a UpstreamConfig,
    schema: &'a Schema,
    doctype: &str,
) -> Result<(&'a DoctypeMap, &'a Doctype), SyncError> {
    let map = config.map(doctype)?;
    let dt = schema
        .get(doctype)
        .map_err(|e| SyncError::new(ErrorClass::Rejected, e.to_string()))?;
    Ok((map, dt))
}

struct Worker {
    /// The standby's acknowledgement to wait for before sending (see
    /// [`Barrier`]).
    barrier: Arc<std::sync::RwLock<Option<Barrier>>>,
    store: Store,
    connector: Arc<dyn Connector>,
    config: Arc<UpstreamConfig>,
    schema: Arc<Schema>,
    traffic: Traffic,
    last_reconcile: Option<Instant>,
    pause_at: Option<String>,
    /// The synced doctypes, what others link to first.
    order: Vec<String>,
}

/// Outpost values as the remote will hold them: the mapped fields only,
/// typed as the local doctype types them, so both sides hash alike; child
/// tables as their mapped row fields (with each row's name here, which the
/// hash leaves out), in order.
fn normalize(
    schema: &Schema,
    dt: &Doctype,
    map: &DoctypeMap,
    values: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = normalize_fields(dt, &map.fields, values);
    if map.key_field() == "name" {
        if let Some(Value::String(n)) = values.get("name") {
            out.insert("name".into(), json!(n));
        }
    }
    for (table, tm) in &map.tables {
        let Some(child) = dt
            .field(table)
            .and_then(|f| f.table.as_deref())
            .and_then(|c| schema.get(c).ok())
        else {
            continue;
        };
        let rows = values
            .get(table)
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(Value::as_object)
                    .map(|row| {
                        let mut r = normalize_fields(child, &tm.fields, row);
                        if let Some(n) = row.get("name").filter(|n| n.is_string()) {
                            r.insert("name".into(), n.clone());
                        }
                        Value::Object(r)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(table.clone(), Value::Array(rows));
    }
    out
}

/// The values only the head office sets, typed as here.
fn normalize_remote_only(
    dt: &Doctype,
    map: &DoctypeMap,
    values: &Map<String, Value>,
) -> Map<String, Value> {
    normalize_fields(dt, &map.from_remote, values)
}

fn normalize_fields(
    dt: &Doctype,
    fields: &BTreeMap<String, String>,
    values: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (ours, theirs) in fields {
        let Some(f) = dt.field(ours) else { continue };
        let v = values.get(ours).cloned().unwrap_or(Value::Null);
        let v = match (f.ty, v) {
            (_, Value::String(s)) if s.is_empty() => Value::Null,
            // An unset "active" is an active record, not a deactivation.
            (FieldType::Check, Value::Null) if theirs == "active" => Value::Bool(true),
            (FieldType::Check, Value::Null) => Value::Bool(false),
            (FieldType::Check, Value::Number(n)) => Value::Bool(n.as_f64() != Some(0.0)),
            (FieldType::Int, Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|x| x as i64))
                .map_or(Value::Null, |i| json!(i)),
            (FieldType::Float | FieldType::Currency, Value::Number(n)) => {
                n.as_f64().map_or(Value::Null, |x| json!(x))
            }
            (FieldType::Float | FieldType::Currency, Value::String(s)) => {
                s.parse::<f64>().map_or(Value::Null, |x| json!(x))
            }
            (FieldType::Data | FieldType::Text, Value::Number(n)) => json!(n.to_string()),
            // The head office's word in this office's spelling
            // ("processing" is the option "Processing").
            (FieldType::Select, Value::String(s)) => f
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(&s))
                .map_or(Value::String(s), |o| json!(o)),
            (_, v) => v,
        };
        out.insert(ours.clone(), v);
    }
    out
}

/// What both sides compare: the values and whether the record is gone.
fn hash(values: &Map<String, Value>, deleted: bool) -> String {
    // Rows compare by their values in order, not by what each side calls
    // them.
    let plain = |v: &Value| match v {
        Value::Array(rows) => Value::Array(
            rows.iter()
                .map(|r| match r {
                    Value::Object(o) => Value::Object(
                        o.iter()
                            .filter(|(k, _)| *k != "name")
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    let sorted: BTreeMap<&String, Value> = values.iter().map(|(k, v)| (k, plain(v))).collect();
    let text = json!([sorted, deleted]).to_string();
    let d = sha2::Sha256::digest(text.as_bytes());
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// A record that no longer exists upstream.
fn gone(remote_id: &str) -> PulledRecord {
    PulledRecord {
        remote_id: remote_id.to_string(),
        version: None,
        active: false,
        gone: true,
        values: Map::new(),
        remote_only: Map::new(),
        children: BTreeMap::new(),
        hash: String::new(),
    }
}

impl Worker {
    fn parts(&self, doctype: &str) -> Result<(&DoctypeMap, &Doctype), SyncError> {
        parts(&self.config, &self.schema, doctype)
    }

    fn active_field(map: &DoctypeMap) -> bool {
        map.fields.values().any(|f| f == "active")
    }

    /// A remote record as the store takes it: links as the linked local
    /// records' names, rows named as here.
    fn pulled(&self, doctype: &str, r: &RemoteRecord) -> Result<PulledRecord, SyncError> {
        let (map, dt) = self.parts(doctype)?;
        let (values, children) = self.incoming(doctype, r)?;
        let remote_only = normalize_remote_only(dt, map, &values);
        let values = normalize(&self.schema, dt, map, &values);
        let deleted = !r.active && !Worker::active_field(map);
        Ok(PulledRecord {
            remote_id: r.id.clone(),
            version: r.version.clone(),
            active: r.active,
            gone: false,
            hash: hash(&values, deleted),
            values,
            remote_only,
            children,
        })
    }

    /// Applies remote records (a page, or one found while pushing) through
    /// the store's writer, with the cursor when given.
    async fn apply(
        &self,
        doctype: &str,
        records: Vec<PulledRecord>,
        cursor: Option<&Cursor>,
    ) -> Result<Value, SyncError> {
        let (map, _) = self.parts(doctype)?;
        let page = PulledPage {
            doctype: doctype.to_string(),
            key_field: map.key_field().to_string(),
            active_field: Worker::active_field(map),
            policy: map.conflict,
            known_only: map.key_field() == "name",
            records,
            cursor: cursor.and_then(|c| c.stamp.clone().map(|s| (s, c.id.clone()))),
        };
        let (tx, rx) = oneshot::channel();
        self.store.submit(
            WriteCtx {
                device: UPSTREAM_DEVICE.into(),
                request_id: None,
                user: None,
                from_upstream: true,
            },
            Write::Pull(Box::new(page)),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        match rx.await {
            Ok(Ok(o)) => Ok(o.value),
            Ok(Err(e)) => Err(store_err(e)),
            Err(_) => Err(store_err(StoreError::Closed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pull::stamp_minus;
    use super::*;

    #[test]
    fn the_overlap_is_taken_off_the_stamp() {
        assert_eq!(
            stamp_minus("2026-11-21 10:00:30.000500", 60).as_deref(),
            Some("2026-11-21 09:59:30.000500")
        );
        assert_eq!(stamp_minus("garbage", 60), None);
    }

    #[test]
    fn both_sides_hash_alike_whatever_the_number_form() {
        let schema = Schema::starter();
        let dt = schema.get("Product").unwrap();
        let cfg = UpstreamConfig::parse(
            "kind='tryton'\nurl='http://x/'\ndatabase='d'\nuser='u'\npassword='p'\n[doctypes.Product]\nmodel='product.product'\n",
            std::path::Path::new("u.toml"),
        )
        .unwrap();
        let map = &cfg.doctypes["Product"];
        let local =
            json!({"product_name": "Tea", "code": "T-1", "list_price": 12.5, "unit": "box"});
        let remote =
            json!({"product_name": "Tea", "code": "T-1", "list_price": 12.50, "active": 1});
        let a = normalize(&schema, dt, map, local.as_object().unwrap());
        let b = normalize(&schema, dt, map, remote.as_object().unwrap());
        assert_eq!(a, b);
        assert_eq!(hash(&a, false), hash(&b, false));
        assert_ne!(hash(&a, false), hash(&a, true));
        // Deactivated upstream is a field change for Product.
        let off = json!({"product_name": "Tea", "code": "T-1", "list_price": 12.5, "active": 0});
        assert_eq!(
            normalize(&schema, dt, map, off.as_object().unwrap())["active"],
            json!(false)
        );
    }
}
