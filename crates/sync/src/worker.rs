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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_store::{
    Doctype, FieldType, Link, LinkState, OutboxEntry, PulledPage, PulledRecord, Schema, Store,
    StoreError, Synced, Write, WriteCtx,
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
pub struct Sync {
    store: Store,
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
        for (doctype, map) in &config.doctypes {
            let dt = schema.get(doctype).map_err(|_| {
                SyncError::new(
                    ErrorClass::Rejected,
                    format!("the upstream file names the doctype {doctype}, which this office does not have"),
                )
            })?;
            for ours in map.fields.keys() {
                if dt.field(ours).is_none() {
                    return Err(SyncError::new(
                        ErrorClass::Rejected,
                        format!("the upstream file maps {doctype}.{ours}, which is not a field of {doctype}"),
                    ));
                }
            }
        }
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
        let worker = Worker {
            store: store.clone(),
            connector: connector.clone(),
            config: config.clone(),
            schema: schema.clone(),
            traffic: Traffic::default(),
            last_reconcile: None,
            pause_at: std::env::var("OUTPOST_SYNC_PAUSE").ok(),
        };
        let task = tokio::spawn(worker.run(now.clone(), asked.clone(), stop_rx, lock));
        Ok(Sync {
            store,
            asked,
            stop,
            task,
            connector,
            config,
            schema,
        })
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
                let mut v = normalize(dt, map, &r.values);
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

/// A record's outbox entries taken together: only its latest state goes.
struct Group {
    doctype: String,
    name: String,
    /// The latest entry whose push started and never finished.
    sent: Option<OutboxEntry>,
    upto: i64,
    seqs: Vec<i64>,
    deleted: bool,
    values: Map<String, Value>,
    hash: String,
    key: String,
}

struct Planned {
    group: Group,
    remote_id: String,
    version: Option<String>,
    /// The hash both sides agreed on last (to tell a real conflict from a
    /// version that only moved).
    old_hash: String,
    /// Activate the remote record again first.
    reactivate: bool,
}

/// The remote's side of a write that could not go as it was.
enum Remote {
    /// Deleted there.
    Gone,
    /// It already holds what the write carries (its id).
    There(String),
    /// Its values are the ones both sides last agreed on: only its version
    /// moved.
    Moved(PulledRecord),
    /// Changed there too.
    Changed(PulledRecord),
}

/// `items` in batches of `size`, as a stack: the first batch pops first.
fn batches<T>(mut items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(size.max(1)));
        out.push(std::mem::replace(&mut items, rest));
    }
    out.reverse();
    out
}

struct Worker {
    store: Store,
    connector: Arc<dyn Connector>,
    config: Arc<UpstreamConfig>,
    schema: Arc<Schema>,
    traffic: Traffic,
    last_reconcile: Option<Instant>,
    pause_at: Option<String>,
}

/// Outpost values as the remote will hold them: the mapped fields only,
/// typed as the local doctype types them, so both sides hash alike.
fn normalize(dt: &Doctype, map: &DoctypeMap, values: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (ours, theirs) in &map.fields {
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
            (_, v) => v,
        };
        out.insert(ours.clone(), v);
    }
    out
}

/// What both sides compare: the values and whether the record is gone.
fn hash(values: &Map<String, Value>, deleted: bool) -> String {
    let sorted: BTreeMap<&String, &Value> = values.iter().collect();
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
        hash: String::new(),
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` minus `secs`.
fn stamp_minus(stamp: &str, secs: u64) -> Option<String> {
    use time::macros::format_description;
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let t = time::PrimitiveDateTime::parse(stamp, &fmt).ok()? - Duration::from_secs(secs);
    let out =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");
    t.format(&out).ok()
}

fn jitter(base: Duration) -> Duration {
    // Half to all of `base`: offices that lost the uplink together do not
    // all call back at the same second.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    base.mul_f64(frac)
}

impl Worker {
    async fn run(
        mut self,
        now: Arc<Notify>,
        asked: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
        _lock: std::fs::File,
    ) {
        let mut failures: u32 = 0;
        let mut last_now: String;
        tracing::info!(kind = ?self.config.kind, url = %self.config.url, "upstream sync started");
        loop {
            let started = outpost_store::values::now_utc();
            let _ = self.store.set_sync_state(&[("last_attempt", &started)]);
            // Every request made before this cycle began is served by it.
            let serving = self
                .store
                .sync_state("now_requested")
                .ok()
                .flatten()
                .unwrap_or_default();
            last_now = serving.clone();
            let result = tokio::select! {
                r = self.cycle() => r,
                _ = stop.changed() => break,
            };
            self.count_traffic();
            let wait = match result {
                Ok(()) => {
                    failures = 0;
                    let done = outpost_store::values::now_utc();
                    let _ = self.store.set_sync_state(&[
                        ("link", LinkState::Up.word()),
                        ("last_success", &done),
                        ("last_error", ""),
                        ("next_attempt", ""),
                        ("served", &serving),
                    ]);
                    Duration::from_secs(self.config.interval_seconds.max(1))
                }
                Err(e) => {
                    failures += 1;
                    let (state, wait) = match e.class {
                        ErrorClass::Auth => (LinkState::Refused, AUTH_BACKOFF),
                        ErrorClass::Rejected => (LinkState::Error, MAX_BACKOFF),
                        _ => (
                            LinkState::Down,
                            jitter(Duration::from_secs(5 << failures.min(6)).min(MAX_BACKOFF)),
                        ),
                    };
                    tracing::warn!(error = %e, retry_in = ?wait, "upstream sync failed");
                    let next = time::OffsetDateTime::now_utc() + wait;
                    let next = next
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    let _ = self.store.set_sync_state(&[
                        ("link", state.word()),
                        ("last_error", &e.message),
                        ("next_attempt", &next),
                        ("served", &serving),
                    ]);
                    wait
                }
            };
            // Wait for the timer, a local change, `sync now`, or the stop.
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = now.notified() => {
                        // Let a burst of changes gather into one push.
                        tokio::time::sleep(DEBOUNCE).await;
                        break;
                    }
                    _ = asked.notified() => break,
                    _ = tokio::time::sleep(NOW_POLL) => {
                        let asked = self.store.sync_state("now_requested").ok().flatten().unwrap_or_default();
                        if asked != last_now {
                            break;
                        }
                    }
                    _ = stop.changed() => {
                        let _ = self.store.set_sync_state(&[("link", LinkState::Stopped.word())]);
                        tracing::info!("upstream sync stopped");
                        return;
                    }
                }
            }
        }
        let _ = self
            .store
            .set_sync_state(&[("link", LinkState::Stopped.word())]);
        tracing::info!("upstream sync stopped");
    }

    fn count_traffic(&mut self) {
        let t = self.connector.traffic();
        let sent = t.sent.saturating_sub(self.traffic.sent);
        let received = t.received.saturating_sub(self.traffic.received);
        if self.store.sync_add_bytes(sent, received).is_ok() {
            self.traffic = t;
        }
    }

    /// A test hook: `OUTPOST_SYNC_PAUSE=before_send|after_answer` stops the
    /// worker there for good, so a test can kill the process at that point.
    async fn pause(&self, point: &str) {
        if self.pause_at.as_deref() == Some(point) {
            tracing::warn!(point, "sync paused here (OUTPOST_SYNC_PAUSE)");
            eprintln!("outpost-sync: paused at {point}");
            std::future::pending::<()>().await;
        }
    }

    async fn cycle(&mut self) -> Result<(), SyncError> {
        let push = self.push().await;
        self.count_traffic();
        push?;
        for doctype in self.config.doctypes.keys().cloned().collect::<Vec<_>>() {
            self.pull(&doctype).await?;
            self.count_traffic();
        }
        let due = Duration::from_secs(self.config.reconcile_minutes * 60);
        if self.last_reconcile.is_none_or(|t| t.elapsed() >= due) {
            for doctype in self.config.doctypes.keys().cloned().collect::<Vec<_>>() {
                self.reconcile(&doctype).await?;
            }
            self.last_reconcile = Some(Instant::now());
        }
        Ok(())
    }

    fn parts(&self, doctype: &str) -> Result<(&DoctypeMap, &Doctype), SyncError> {
        parts(&self.config, &self.schema, doctype)
    }

    fn active_field(map: &DoctypeMap) -> bool {
        map.fields.values().any(|f| f == "active")
    }

    /// A remote record as the store takes it.
    fn pulled(&self, doctype: &str, r: &RemoteRecord) -> Result<PulledRecord, SyncError> {
        let (map, dt) = self.parts(doctype)?;
        let values = normalize(dt, map, &r.values);
        let deleted = !r.active && !Worker::active_field(map);
        Ok(PulledRecord {
            remote_id: r.id.clone(),
            version: r.version.clone(),
            active: r.active,
            gone: false,
            hash: hash(&values, deleted),
            values,
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
            records,
            cursor: cursor.and_then(|c| c.stamp.clone().map(|s| (s, c.id.clone()))),
        };
        let (tx, rx) = oneshot::channel();
        self.store.submit(
            WriteCtx {
                device: UPSTREAM_DEVICE.into(),
                request_id: None,
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

    async fn pull(&mut self, doctype: &str) -> Result<(), SyncError> {
        let batch = self.config.batch_size;
        let started = time::OffsetDateTime::now_utc();
        let stored = self.store.sync_cursor(doctype).map_err(store_err)?;
        let rewound_key = format!("rewound:{doctype}");
        let mut rewound = false;
        let mut cur = match &stored {
            None => Cursor::default(),
            Some((stamp, id, moved_at)) => {
                // A transaction that began before the last record seen may
                // have committed after the pull that saw it: the overlap is
                // read again until a pull has run (to its end) at least
                // `overlap_seconds` after the cursor last moved.
                let rfc = &time::format_description::well_known::Rfc3339;
                let moved = time::OffsetDateTime::parse(moved_at, rfc).ok();
                let reread = self
                    .store
                    .sync_state(&rewound_key)
                    .map_err(store_err)?
                    .and_then(|t| time::OffsetDateTime::parse(&t, rfc).ok());
                let settled = match (moved, reread) {
                    (Some(m), Some(r)) => r >= m + Duration::from_secs(self.config.overlap_seconds),
                    _ => false,
                };
                match stamp_minus(stamp, self.config.overlap_seconds).filter(|_| !settled) {
                    Some(earlier) => {
                        rewound = true;
                        Cursor {
                            stamp: Some(earlier),
                            id: String::new(),
                        }
                    }
                    None => Cursor {
                        stamp: Some(stamp.clone()),
                        id: id.clone(),
                    },
                }
            }
        };
        loop {
            let page = self.connector.pull(doctype, &cur, batch).await?;
            let n = page.records.len();
            if n == 0 {
                break;
            }
            let records = page
                .records
                .iter()
                .map(|r| self.pulled(doctype, r))
                .collect::<Result<Vec<_>, _>>()?;
            let summary = self.apply(doctype, records, Some(&page.next)).await?;
            tracing::info!(doctype, records = n, summary = %summary, "pulled a page");
            if (n as u32) < batch {
                break;
            }
            cur = page.next;
        }
        if rewound {
            let at = started
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            self.store
                .set_sync_state(&[(&rewound_key, &at)])
                .map_err(store_err)?;
        }
        Ok(())
    }

    /// Linked records whose remote twin no longer exists.
    async fn reconcile(&mut self, doctype: &str) -> Result<(), SyncError> {
        let linked = self.store.sync_remote_ids(doctype).map_err(store_err)?;
        if linked.is_empty() {
            return Ok(());
        }
        let remote: HashSet<String> = self.connector.ids(doctype).await?.into_iter().collect();
        let vanished: Vec<PulledRecord> = linked
            .iter()
            .filter(|id| !remote.contains(*id))
            .map(|id| gone(id))
            .collect();
        if !vanished.is_empty() {
            tracing::info!(
                doctype,
                records = vanished.len(),
                "records deleted at the head office"
            );
            self.apply(doctype, vanished, None).await?;
        }
        Ok(())
    }

    fn group(&self, entries: Vec<OutboxEntry>) -> Result<Vec<Group>, SyncError> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut by: HashMap<(String, String), Vec<OutboxEntry>> = HashMap::new();
        for e in entries {
            let k = (e.doctype.clone(), e.name.clone());
            if !by.contains_key(&k) {
                order.push(k.clone());
            }
            by.entry(k).or_default().push(e);
        }
        let mut out = Vec::with_capacity(order.len());
        for k in order {
            let list = by.remove(&k).unwrap_or_default();
            let (map, dt) = self.parts(&k.0)?;
            let Some(latest) = list.last().cloned() else {
                continue;
            };
            let sent = list.iter().rev().find(|e| e.state == "sending").cloned();
            let deleted = latest.op == "delete" || latest.payload["deleted"] == json!(true);
            let mut values = normalize(dt, map, latest.payload.as_object().unwrap_or(&Map::new()));
            // The key makes a lost answer findable: a record without one
            // goes with its Outpost name as its key.
            let key_field = map.key_field().to_string();
            let key = match values.get(&key_field) {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    values.insert(key_field, json!(k.1));
                    k.1.clone()
                }
            };
            // Where `active` is a field of the record, a deletion here is
            // the remote's deactivation: hashed as the pull will see it, so
            // it does not come back as a change to apply.
            let mut gone_here = deleted;
            if deleted {
                if let Some((ours, _)) = map.fields.iter().find(|(_, t)| *t == "active") {
                    values.insert(ours.clone(), json!(false));
                    gone_here = false;
                }
            }
            out.push(Group {
                doctype: k.0,
                name: k.1,
                upto: latest.seq,
                seqs: list.iter().map(|e| e.seq).collect(),
                hash: hash(&values, gone_here),
                sent,
                deleted,
                values,
                key,
            });
        }
        Ok(out)
    }

    async fn push(&mut self) -> Result<(), SyncError> {
        let doctypes: Vec<String> = self.config.doctypes.keys().cloned().collect();
        for _ in 0..MAX_ROUNDS {
            let entries = self
                .store
                .outbox_batch(&doctypes, self.config.batch_size)
                .map_err(store_err)?;
            if entries.is_empty() {
                return Ok(());
            }
            let before: Vec<i64> = entries.iter().map(|e| e.seq).collect();
            let mut groups: BTreeMap<String, Vec<Group>> = BTreeMap::new();
            for g in self.group(entries)? {
                groups.entry(g.doctype.clone()).or_default().push(g);
            }
            for (doctype, list) in groups {
                self.push_doctype(&doctype, list).await?;
            }
            // A round that settled nothing (all entries wait on a conflict
            // resolved by policy, say) must not spin.
            let after = self
                .store
                .outbox_batch(&doctypes, self.config.batch_size)
                .map_err(store_err)?;
            if after.iter().map(|e| e.seq).collect::<Vec<_>>() == before {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn push_doctype(&mut self, doctype: &str, groups: Vec<Group>) -> Result<(), SyncError> {
        let mut creates = Vec::new();
        let mut writes: Vec<Planned> = Vec::new();
        let mut lookups = Vec::new();
        let mut done = Vec::new();
        for g in groups {
            let link = self.store.sync_link(doctype, &g.name).map_err(store_err)?;
            match link {
                None if g.sent.is_some() => lookups.push(g),
                None if g.deleted => done.push(Synced {
                    doctype: g.doctype.clone(),
                    name: g.name.clone(),
                    upto: g.upto,
                    link: None,
                }),
                None => creates.push(g),
                Some(l) if l.hash == g.hash => {
                    // The remote already has exactly this.
                    done.push(Synced {
                        doctype: g.doctype.clone(),
                        name: g.name.clone(),
                        upto: g.upto,
                        link: Some(l),
                    })
                }
                Some(l) => writes.push(Planned {
                    group: g,
                    remote_id: l.remote_id,
                    version: l.version,
                    old_hash: l.hash,
                    reactivate: l.inactive,
                }),
            }
        }
        // Pushes whose answer never came: did they arrive?
        if !lookups.is_empty() {
            let keys: Vec<String> = lookups.iter().map(|g| g.key.clone()).collect();
            let found = self.connector.lookup(doctype, &keys).await?;
            let (map, _) = self.parts(doctype)?;
            let key_field = map.key_field().to_string();
            for g in lookups {
                let hits: Vec<&RemoteRecord> = found
                    .iter()
                    .filter(|r| r.values.get(&key_field).and_then(Value::as_str) == Some(&g.key))
                    .collect();
                if hits.len() > 1 {
                    self.park_ambiguous(doctype, &g, hits.len())?;
                    continue;
                }
                let Some(r) = hits.first().copied() else {
                    if g.deleted {
                        done.push(Synced {
                            doctype: g.doctype.clone(),
                            name: g.name.clone(),
                            upto: g.upto,
                            link: None,
                        });
                    } else {
                        creates.push(g);
                    }
                    continue;
                };
                let pulled = self.pulled(doctype, r)?;
                // What was sent before the answer was lost.
                let sent_hash = g.sent.as_ref().and_then(|s| {
                    let (map, dt) = self.parts(doctype).ok()?;
                    let mut v = normalize(dt, map, s.payload.as_object()?);
                    if !matches!(v.get(map.key_field()), Some(Value::String(_))) {
                        v.insert(map.key_field().to_string(), json!(g.name));
                    }
                    Some(hash(&v, s.op == "delete"))
                });
                if pulled.hash == g.hash {
                    tracing::info!(doctype, name = %g.name, remote_id = r.id, "found upstream after a lost answer; not sent again");
                    done.push(Synced {
                        doctype: g.doctype.clone(),
                        name: g.name.clone(),
                        upto: g.upto,
                        link: Some(Link {
                            remote_id: r.id.clone(),
                            hash: g.hash.clone(),
                            version: r.version.clone(),
                            inactive: false,
                        }),
                    });
                } else if sent_hash.as_deref() == Some(pulled.hash.as_str()) {
                    // Ours, changed here since: link it and send the change.
                    writes.push(Planned {
                        remote_id: r.id.clone(),
                        version: r.version.clone(),
                        old_hash: pulled.hash.clone(),
                        reactivate: !r.active && !Worker::active_field(self.parts(doctype)?.0),
                        group: g,
                    });
                } else {
                    // Someone else's record with the same key.
                    self.apply(doctype, vec![pulled], None).await?;
                }
            }
        }
        self.store.sync_done(&done).map_err(store_err)?;
        let sending: Vec<i64> = creates
            .iter()
            .chain(writes.iter().map(|p| &p.group))
            .flat_map(|g| g.seqs.iter().copied())
            .collect();
        if sending.is_empty() {
            return Ok(());
        }
        self.store
            .outbox_mark_sending(&sending)
            .map_err(store_err)?;
        self.pause("before_send").await;
        let mut settled: Vec<(Group, String)> = Vec::new();
        self.create_split(doctype, creates, &mut settled).await?;
        self.write_split(doctype, writes, &mut settled).await?;
        self.pause("after_answer").await;
        // The versions the remote gave the records (for the next write).
        let ids: Vec<String> = settled.iter().map(|(_, id)| id.clone()).collect();
        // Without them the next write could not be checked for staleness:
        // if the read fails, nothing is recorded and the entries stay
        // `sending`, so the next run finds the records by lookup (new ones)
        // or by the stale write's check (changed ones) and records them then.
        let versions: HashMap<String, Option<String>> = self
            .connector
            .versions(doctype, &ids)
            .await?
            .into_iter()
            .collect();
        let done: Vec<Synced> = settled
            .into_iter()
            .map(|(g, id)| Synced {
                doctype: g.doctype,
                name: g.name,
                upto: g.upto,
                link: Some(Link {
                    version: versions.get(&id).cloned().flatten(),
                    remote_id: id,
                    hash: g.hash,
                    inactive: false,
                }),
            })
            .collect();
        tracing::info!(doctype, records = done.len(), "pushed");
        self.store.sync_done(&done).map_err(store_err)
    }

    async fn read_one(
        &self,
        doctype: &str,
        remote_id: &str,
    ) -> Result<Option<RemoteRecord>, SyncError> {
        let mut found = self
            .connector
            .read(doctype, &[remote_id.to_string()])
            .await?;
        Ok(found.pop())
    }

    /// What the remote holds (`now`) for a write that could not be sent as
    /// it was (stale, refused, or without a version), against what the
    /// write carries and what both sides last agreed on.
    fn judge(
        &self,
        doctype: &str,
        p: &Planned,
        now: Option<&RemoteRecord>,
    ) -> Result<Remote, SyncError> {
        let Some(r) = now else {
            return Ok(Remote::Gone);
        };
        let pulled = self.pulled(doctype, r)?;
        Ok(if pulled.hash == p.group.hash {
            Remote::There(r.id.clone())
        } else if pulled.hash == p.old_hash {
            Remote::Moved(pulled)
        } else {
            Remote::Changed(pulled)
        })
    }

    /// Parks a record whose key names several head-office records: which
    /// one it is must be settled by a person (linking it to the first could
    /// overwrite someone else's record).
    fn park_ambiguous(&self, doctype: &str, g: &Group, n: usize) -> Result<(), SyncError> {
        let (map, _) = self.parts(doctype)?;
        let message = format!(
            "the head office has {n} {} records whose {} is {:?}; make it unique there or here",
            map.model,
            map.key_field(),
            g.key
        );
        tracing::warn!(doctype, name = %g.name, "{message}");
        self.store.outbox_park(&g.seqs, &message).map_err(store_err)
    }

    /// Creates in batches; a refused batch is split until the refused
    /// record is alone, and that one is parked (or, when the remote already
    /// has its key, handled as a conflict).
    async fn create_split(
        &mut self,
        doctype: &str,
        groups: Vec<Group>,
        settled: &mut Vec<(Group, String)>,
    ) -> Result<(), SyncError> {
        let size = (self.config.batch_size as usize).min(self.connector.max_batch());
        let mut queue = batches(groups, size);
        while let Some(mut chunk) = queue.pop() {
            let values: Vec<Map<String, Value>> = chunk.iter().map(|g| g.values.clone()).collect();
            match self.connector.create(doctype, &values).await {
                Ok(ids) => settled.extend(chunk.into_iter().zip(ids)),
                Err(e) if e.class == ErrorClass::Rejected && chunk.len() > 1 => {
                    let second = chunk.split_off(chunk.len() / 2);
                    queue.push(second);
                    queue.push(chunk);
                }
                Err(e) if e.class == ErrorClass::Rejected => {
                    let g = chunk.remove(0);
                    let found = self
                        .connector
                        .lookup(doctype, std::slice::from_ref(&g.key))
                        .await?;
                    if found.len() > 1 {
                        self.park_ambiguous(doctype, &g, found.len())?;
                    } else if let Some(r) = found.first() {
                        // Made at the head office too: a create/create
                        // conflict, settled by the doctype's policy.
                        let pulled = self.pulled(doctype, r)?;
                        self.apply(doctype, vec![pulled], None).await?;
                    } else {
                        tracing::warn!(doctype, name = %g.name, error = %e, "refused upstream; parked");
                        self.store
                            .outbox_park(&g.seqs, &e.message)
                            .map_err(store_err)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes in batches; a stale or refused batch is split down to the
    /// record. A stale record whose remote values are still the ones both
    /// sides agreed on is written again with the new version; otherwise it
    /// is a conflict for the policy.
    async fn write_split(
        &mut self,
        doctype: &str,
        planned: Vec<Planned>,
        settled: &mut Vec<(Group, String)>,
    ) -> Result<(), SyncError> {
        // A write without the version it was read with could not be refused
        // as stale: read the remote first and judge as for a stale write.
        let mut checked = Vec::with_capacity(planned.len());
        for mut p in planned {
            if p.version.is_some() {
                checked.push(p);
                continue;
            }
            let now = self.read_one(doctype, &p.remote_id).await?;
            match self.judge(doctype, &p, now.as_ref())? {
                Remote::Gone => {
                    self.apply(doctype, vec![gone(&p.remote_id)], None).await?;
                }
                Remote::There(id) => settled.push((p.group, id)),
                Remote::Moved(r) => {
                    p.version = r.version;
                    checked.push(p);
                }
                Remote::Changed(r) => {
                    self.apply(doctype, vec![r], None).await?;
                }
            }
        }
        let mut queue = batches(checked, self.config.batch_size as usize);
        let mut retried: HashSet<String> = HashSet::new();
        // The key names the record on both sides and is not rewritten
        // (Tryton refuses to change a party's code once set).
        let key_field = self.parts(doctype)?.0.key_field().to_string();
        while let Some(mut chunk) = queue.pop() {
            let writes: Vec<RemoteWrite> = chunk
                .iter()
                .map(|p| {
                    let mut values = p.group.values.clone();
                    values.remove(&key_field);
                    RemoteWrite {
                        id: p.remote_id.clone(),
                        version: p.version.clone(),
                        values,
                        deactivate: p.group.deleted,
                        reactivate: p.reactivate && !p.group.deleted,
                    }
                })
                .collect();
            let err = match self.connector.write(doctype, &writes).await {
                Ok(()) => {
                    settled.extend(chunk.into_iter().map(|p| (p.group, p.remote_id)));
                    continue;
                }
                Err(e) => e,
            };
            match err.class {
                ErrorClass::Rejected | ErrorClass::Conflict if chunk.len() > 1 => {
                    let second = chunk.split_off(chunk.len() / 2);
                    queue.push(second);
                    queue.push(chunk);
                }
                ErrorClass::Rejected | ErrorClass::Conflict => {
                    let mut p = chunk.remove(0);
                    let now = self.read_one(doctype, &p.remote_id).await?;
                    // Refused because the record was deleted or deactivated
                    // at the head office: that is a conflict, not bad data.
                    let removed = match &now {
                        None => true,
                        Some(r) => !r.active && !Worker::active_field(self.parts(doctype)?.0),
                    };
                    if err.class == ErrorClass::Rejected && !removed {
                        tracing::warn!(doctype, name = %p.group.name, error = %err, "refused upstream; parked");
                        self.store
                            .outbox_park(&p.group.seqs, &err.message)
                            .map_err(store_err)?;
                        continue;
                    }
                    match self.judge(doctype, &p, now.as_ref())? {
                        // Deleted at the head office meanwhile.
                        Remote::Gone => {
                            self.apply(doctype, vec![gone(&p.remote_id)], None).await?;
                        }
                        Remote::There(id) => settled.push((p.group, id)),
                        // Only the version moved (our own earlier write).
                        Remote::Moved(r) if retried.insert(p.remote_id.clone()) => {
                            p.version = r.version;
                            queue.push(vec![p]);
                        }
                        Remote::Moved(r) | Remote::Changed(r) => {
                            tracing::info!(doctype, name = %p.group.name, "changed on both sides");
                            self.apply(doctype, vec![r], None).await?;
                        }
                    }
                }
                _ => return Err(err),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        let a = normalize(dt, map, local.as_object().unwrap());
        let b = normalize(dt, map, remote.as_object().unwrap());
        assert_eq!(a, b);
        assert_eq!(hash(&a, false), hash(&b, false));
        assert_ne!(hash(&a, false), hash(&a, true));
        // Deactivated upstream is a field change for Product.
        let off = json!({"product_name": "Tea", "code": "T-1", "list_price": 12.5, "active": 0});
        assert_eq!(
            normalize(dt, map, off.as_object().unwrap())["active"],
            json!(false)
        );
    }
}
