//! The Tryton connector: JSON-RPC at `URL/DATABASE/rpc/` with a session
//! from `common.db.login`. Facts it relies on were measured against a real
//! `trytond` 8.2 and are written down in `docs/tryton-rpc.md`:
//!
//! - every call carries an `id`, so errors come back inside a 200 answer;
//! - pages are read in `(last_modified_at, id)` order with `active_test`
//!   off, so deactivations are pulled too;
//! - a write sends back the `_timestamp` read with the record, so a stale
//!   write fails with `ConcurrencyException` (a conflict);
//! - answers are asked for gzip (they shrink about 13 times, and without it
//!   the server sends one HTTP chunk per JSON token).

//!
//! Modules: [`wire`] (answers and errors classified, ids and Tryton's
//! datetime and Decimal objects) and [`documents`] (a sale and its lines as
//! one2many commands, their writes).

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::config::{DoctypeMap, Transition, UpstreamConfig};
use crate::connector::{
    query_op, Connector, Cursor, ErrorClass, Page, RemoteRecord, RemoteWrite, SyncError, Traffic,
};
use crate::http::Http;

mod documents;
mod wire;

use crate::probe::{ModelProbe, Probe};
use documents::is_document;
use wire::{datetime_text, datetime_value, envelope, from_tryton, int_id, int_ids, text_ids};

/// Operators a forwarded query may use.
const QUERY_OPS: &[&str] = &[
    "=", "!=", "<", ">", "<=", ">=", "like", "ilike", "not like", "in", "not in",
];

pub struct Tryton {
    config: UpstreamConfig,
    endpoint: String,
    http: Http,
    session: Mutex<Option<Session>>,
    next_id: AtomicU64,
}

#[derive(Clone)]
struct Session {
    header: String,
    /// The company prices are read and written for (`company` in the
    /// context of every call): from the upstream file, else the user's
    /// current company.
    company: Option<i64>,
}

/// Product names and prices live on the template in Tryton, and a change
/// of them does not touch the variant: `product.product` is synced through
/// its template (one template, one variant, made together).
fn remote_model(map: &DoctypeMap) -> &str {
    match map.model.as_str() {
        "product.product" => "product.template",
        m => m,
    }
}

impl Tryton {
    pub fn new(config: UpstreamConfig) -> Result<Tryton, SyncError> {
        let base = config.url.trim_end_matches('/');
        let endpoint = format!("{base}/{}/rpc/", config.database);
        let http = Http::new("Tryton", &config)?;
        Ok(Tryton {
            config,
            endpoint,
            http,
            session: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    /// Logs in; the session is kept until the server refuses it.
    async fn login(&self) -> Result<Session, SyncError> {
        let params = json!([self.config.user, {"password": self.config.password()}, "en"]);
        let (status, body) = self.post("common.db.login", params, None).await?;
        if status == 401 || status == 403 {
            return Err(SyncError::new(
                ErrorClass::Auth,
                format!(
                    "Tryton refused the user {:?}: wrong user or password",
                    self.config.user
                ),
            ));
        }
        // An unknown database is a 404 at its endpoint.
        if status == 404 {
            return Err(SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "the head office at {} has no database {:?}: check the database name",
                    self.config.url, self.config.database
                ),
            ));
        }
        let result = envelope(status, body)?;
        let uid = result.get(0).and_then(Value::as_i64);
        let token = result.get(1).and_then(Value::as_str);
        let (Some(uid), Some(token)) = (uid, token) else {
            // (The answer is not quoted: it may hold a session token.)
            return Err(SyncError::new(
                ErrorClass::Rejected,
                "Tryton's login answer has no user id and session",
            ));
        };
        let raw = format!("{}:{uid}:{token}", self.config.user);
        let header = format!(
            "Session {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let company = match self.config.company {
            Some(c) => Some(c),
            // The user's current company, as the Tryton client reads it
            // (none without the company module, or for a user without one).
            // A link that fails here fails the login: a session without its
            // company would read every price as empty.
            None => match self
                .post(
                    "model.res.user.get_preferences",
                    json!([true, {}]),
                    Some(&header),
                )
                .await
                .and_then(|(status, body)| envelope(status, body))
            {
                Ok(p) => p.get("company").and_then(Value::as_i64),
                Err(e) if e.class == ErrorClass::Retryable => return Err(e),
                Err(_) => None,
            },
        };
        tracing::info!(user = %self.config.user, company = ?company, "logged in to Tryton");
        Ok(Session { header, company })
    }

    async fn post(
        &self,
        method: &str,
        params: Value,
        auth: Option<&str>,
    ) -> Result<(u16, Vec<u8>), SyncError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&json!({"id": id, "method": method, "params": params}))
            .map_err(|e| SyncError::new(ErrorClass::Rejected, e.to_string()))?;
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        // Gzipped bodies are taken once a session exists (not at login).
        self.http
            .send(
                reqwest::Method::POST,
                &self.endpoint,
                &headers,
                Some(body),
                auth.is_some(),
            )
            .await
    }

    /// Calls `model.<model>.<method>` with the session, logging in first or
    /// again once if the session was refused.
    async fn call(&self, model: &str, method: &str, params: Value) -> Result<Value, SyncError> {
        let name = format!("model.{model}.{method}");
        for attempt in 0..2 {
            let session = {
                let mut s = self.session.lock().await;
                if s.is_none() {
                    *s = Some(self.login().await?);
                }
                s.clone()
                    .ok_or_else(|| SyncError::new(ErrorClass::Auth, "no session"))?
            };
            // The context is the last parameter of every model method.
            let mut params = params.clone();
            if let (Some(company), Some(Value::Object(ctx))) = (
                session.company,
                params.as_array_mut().and_then(|a| a.last_mut()),
            ) {
                ctx.entry("company").or_insert(json!(company));
            }
            let (status, body) = self.post(&name, params, Some(&session.header)).await?;
            if status == 401 && attempt == 0 {
                tracing::info!("the Tryton session expired; logging in again");
                let mut s = self.session.lock().await;
                // Another call may have logged in again meanwhile.
                if s.as_ref().map(|x| x.header.as_str()) == Some(session.header.as_str()) {
                    *s = None;
                }
                continue;
            }
            return envelope(status, body);
        }
        Err(SyncError::new(
            ErrorClass::Auth,
            "Tryton refused a fresh session; check the user's rights",
        ))
    }

    /// Remote field names to read for `map`, plus the bookkeeping fields;
    /// a document's lines in the same call (`lines.product` ...).
    fn fields(&self, map: &DoctypeMap) -> Vec<String> {
        let mut f: Vec<String> = map.fields.values().cloned().collect();
        f.extend(map.from_remote.values().cloned());
        let mut extras = vec!["id", "_timestamp", "last_modified_at"];
        if !is_document(map) {
            extras.push("active");
        }
        for extra in extras {
            if !f.iter().any(|x| x == extra) {
                f.push(extra.to_string());
            }
        }
        for (table, tm) in &map.tables {
            let field = tm.remote_field(table);
            f.push(format!("{field}.id"));
            f.push(format!("{field}.sequence"));
            for (ours, theirs) in &tm.fields {
                if self.via_template(tm.links.get(ours)) {
                    f.push(format!("{field}.{theirs}.template"));
                } else {
                    f.push(format!("{field}.{theirs}"));
                }
            }
        }
        f
    }

    /// Whether a link to `target` points at a Product synced through its
    /// template (its remote id is the template's; a line needs the
    /// variant).
    fn via_template(&self, target: Option<&String>) -> bool {
        target
            .and_then(|t| self.config.doctypes.get(t))
            .is_some_and(|m| m.model == "product.product")
    }

    fn to_record(&self, map: &DoctypeMap, row: &Value) -> RemoteRecord {
        let mut values = Map::new();
        for (ours, theirs) in map.fields.iter().chain(&map.from_remote) {
            if let Some(v) = row.get(theirs) {
                values.insert(ours.clone(), from_tryton(v));
            }
        }
        for (table, tm) in &map.tables {
            let field = tm.remote_field(table);
            let lines = row
                .get(format!("{field}.").as_str())
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let rows: Vec<Value> = lines
                .iter()
                .map(|line| {
                    let mut r = Map::new();
                    r.insert(
                        "id".into(),
                        json!(line["id"].as_i64().unwrap_or_default().to_string()),
                    );
                    r.insert("sequence".into(), line["sequence"].clone());
                    for (ours, theirs) in &tm.fields {
                        let v = if self.via_template(tm.links.get(ours)) {
                            line.get(format!("{theirs}.").as_str())
                                .and_then(|p| p.get("template"))
                                .cloned()
                                .unwrap_or(Value::Null)
                        } else {
                            line.get(theirs).map(from_tryton).unwrap_or(Value::Null)
                        };
                        r.insert(ours.clone(), v);
                    }
                    Value::Object(r)
                })
                .collect();
            values.insert(table.clone(), Value::Array(rows));
        }
        RemoteRecord {
            id: row["id"]
                .as_i64()
                .map(|i| i.to_string())
                .unwrap_or_default(),
            stamp: row
                .get("last_modified_at")
                .and_then(datetime_text)
                .unwrap_or_default(),
            version: row["_timestamp"].as_str().map(str::to_string),
            active: match &row["active"] {
                Value::Null if is_document(map) => true,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_i64() != Some(0),
                _ => true,
            },
            values,
        }
    }

    fn to_remote(map: &DoctypeMap, values: &Map<String, Value>) -> Map<String, Value> {
        values
            .iter()
            .filter_map(|(k, v)| {
                let theirs = map.fields.get(k)?;
                // Links travel as the linked record's (integer) id.
                let v = match (map.links.contains_key(k), v) {
                    (true, Value::String(id)) => id.parse::<i64>().map_or(v.clone(), |i| json!(i)),
                    _ => v.clone(),
                };
                Some((theirs.clone(), v))
            })
            .collect()
    }
}

/// The module that brings a Tryton model: its name's first part
/// (`sale.sale`, `sale.line` → `sale`), as every Tryton module names its
/// models.
fn module_of(model: &str) -> &str {
    model.split('.').next().unwrap_or(model)
}

impl Tryton {
    /// `common.server.version`, asked at the server's root (`URL/rpc/`,
    /// no database, no session): the first sign the server is there.
    async fn server_version(&self) -> Result<Option<String>, SyncError> {
        let base = self.config.url.trim_end_matches('/');
        let body =
            serde_json::to_vec(&json!({"id": 0, "method": "common.server.version", "params": []}))
                .map_err(|e| SyncError::new(ErrorClass::Rejected, e.to_string()))?;
        let (status, body) = self
            .http
            .send(
                reqwest::Method::POST,
                &format!("{base}/rpc/"),
                &[("Content-Type", "application/json")],
                Some(body),
                false,
            )
            .await?;
        // A proxy that passes only the database's path answers otherwise:
        // the version is then not known, and the login says the rest.
        Ok(envelope(status, body)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)))
    }

    /// Which of `models` the head office has (`ir.model`, whose model
    /// name field is `name` since Tryton 7.6 and `model` before).
    async fn present_models(&self, models: &[String]) -> Result<Vec<String>, SyncError> {
        let mut last = None;
        for field in ["name", "model"] {
            match self
                .call(
                    "ir.model",
                    "search_read",
                    json!([[[field, "in", models]], 0, null, null, [field], {}]),
                )
                .await
            {
                Ok(rows) => {
                    return Ok(rows
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r[field].as_str().map(str::to_string))
                        .collect())
                }
                Err(e) if e.class == ErrorClass::Rejected => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| SyncError::new(ErrorClass::Rejected, "ir.model")))
    }

    /// What to do about a missing model: activate its module, or install
    /// it on the server first (`ir.module` lists the modules installed
    /// there, activated or not; a user who may not read it gets the first
    /// advice).
    async fn missing_advice(&self, model: &str) -> String {
        let module = module_of(model);
        let state = self
            .call(
                "ir.module",
                "search_read",
                json!([[["name", "=", module]], 0, null, null, ["state"], {}]),
            )
            .await
            .ok()
            .map(|rows| {
                rows.as_array()
                    .and_then(|a| a.first())
                    .and_then(|r| r["state"].as_str().map(str::to_string))
            });
        match state {
            Some(None) => format!(
                "{model} is not installed at the head office: the {module} module is not on its server (install the trytond-{module} package there), then activate it"
            ),
            _ => format!(
                "{model} is not installed at the head office: activate the {module} module"
            ),
        }
    }

    async fn search_read(
        &self,
        map: &DoctypeMap,
        domain: Value,
        limit: Option<u32>,
        order: Value,
    ) -> Result<Vec<RemoteRecord>, SyncError> {
        let rows = self
            .call(
                remote_model(map),
                "search_read",
                json!([domain, 0, limit, order, self.fields(map), {"active_test": false}]),
            )
            .await?;
        Ok(rows
            .as_array()
            .map(|a| a.iter().map(|r| self.to_record(map, r)).collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl Connector for Tryton {
    async fn pull(&self, doctype: &str, after: &Cursor, limit: u32) -> Result<Page, SyncError> {
        let map = self.config.map(doctype)?;
        let domain = match after.stamp.as_deref().and_then(datetime_value) {
            None => json!([]),
            Some(t) => json!([
                "OR",
                ["last_modified_at", ">", t],
                [
                    ["last_modified_at", "=", t],
                    ["id", ">", after.id.parse::<i64>().unwrap_or(0)]
                ]
            ]),
        };
        let records = self
            .search_read(
                map,
                domain,
                Some(limit),
                json!([["last_modified_at", "ASC"], ["id", "ASC"]]),
            )
            .await?;
        // Without a stamp the cursor could not move and every pull would
        // start again from the beginning.
        if records.iter().any(|r| r.stamp.is_empty()) {
            return Err(SyncError::new(
                ErrorClass::Rejected,
                format!("{} records came back without last_modified_at; this Tryton is too old for Outpost's sync", map.model),
            ));
        }
        Ok(Page::after(records, after))
    }

    async fn create(
        &self,
        doctype: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<String>, SyncError> {
        let map = self.config.map(doctype)?;
        let model = remote_model(map);
        let remote: Vec<Value> = if is_document(map) {
            let refs: Vec<&Map<String, Value>> = records.iter().collect();
            self.document_values(map, &refs, true)
                .await?
                .into_iter()
                .map(Value::Object)
                .collect()
        } else {
            records
                .iter()
                .map(|r| {
                    let mut v = Tryton::to_remote(map, r);
                    for (k, d) in &map.defaults {
                        v.entry(k.clone()).or_insert(d.clone());
                    }
                    if model == "product.template" {
                        // A template needs a unit (1 is "Unit" in every fresh
                        // database), and gets its one variant in the same call.
                        v.entry("default_uom").or_insert(json!(1));
                        v.entry("products").or_insert(json!([["create", [{}]]]));
                        if self
                            .config
                            .doctypes
                            .values()
                            .any(|m| m.model == "sale.sale")
                        {
                            // A product a sale can name must be salable.
                            v.entry("salable").or_insert(json!(true));
                            v.entry("sale_uom").or_insert(json!(1));
                        }
                    }
                    if model == "party.party"
                        && self
                            .config
                            .doctypes
                            .values()
                            .any(|m| m.model == "sale.sale")
                    {
                        // A quote needs an invoice address: one, empty.
                        v.entry("addresses").or_insert(json!([["create", [{}]]]));
                    }
                    Value::Object(v)
                })
                .collect()
        };
        let ids = text_ids(&self.call(model, "create", json!([remote, {}])).await?);
        if ids.len() != records.len() {
            return Err(SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "Tryton answered {} ids for {} new records",
                    ids.len(),
                    records.len()
                ),
            ));
        }
        Ok(ids)
    }

    async fn write(&self, doctype: &str, writes: &[RemoteWrite]) -> Result<(), SyncError> {
        if writes.is_empty() {
            return Ok(());
        }
        let map = self.config.map(doctype)?;
        let model = remote_model(map);
        if is_document(map) {
            return self.write_documents(map, writes).await;
        }
        // An inactive record is read-only in Tryton, even with `active` in
        // the same values: activate first (checked against the version
        // read), then write with the version that gives.
        let revive: Vec<&RemoteWrite> = writes.iter().filter(|w| w.reactivate).collect();
        let mut fresh: std::collections::HashMap<String, Option<String>> = Default::default();
        if !revive.is_empty() {
            let mut params = Vec::new();
            let mut stamps = Map::new();
            for w in &revive {
                params.push(json!([int_id(&w.id)?]));
                params.push(json!({"active": true}));
                if let Some(v) = &w.version {
                    stamps.insert(format!("{model},{}", w.id), json!(v));
                }
            }
            params.push(json!({"_timestamp": stamps}));
            self.call(model, "write", Value::Array(params)).await?;
            let ids: Vec<String> = revive.iter().map(|w| w.id.clone()).collect();
            fresh = self.versions(doctype, &ids).await?.into_iter().collect();
        }
        let mut params = Vec::with_capacity(writes.len() * 2 + 1);
        let mut stamps = Map::new();
        for w in writes {
            let values = if w.deactivate {
                json!({"active": false})
            } else {
                Value::Object(Tryton::to_remote(map, &w.values))
            };
            params.push(json!([int_id(&w.id)?]));
            params.push(values);
            let version = if w.reactivate {
                fresh.get(&w.id).cloned().flatten()
            } else {
                w.version.clone()
            };
            if let Some(v) = version {
                stamps.insert(format!("{model},{}", w.id), json!(v));
            }
        }
        params.push(json!({"_timestamp": stamps}));
        self.call(model, "write", Value::Array(params)).await?;
        Ok(())
    }

    async fn read(&self, doctype: &str, ids: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        let ids = int_ids(ids)?;
        self.search_read(
            map,
            json!([["id", "in", ids]]),
            None,
            json!([["id", "ASC"]]),
        )
        .await
    }

    async fn versions(
        &self,
        doctype: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Option<String>)>, SyncError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        let ids = int_ids(ids)?;
        let rows = self
            .call(
                remote_model(map),
                "search_read",
                json!([[["id", "in", ids]], 0, null, null, ["_timestamp"], {"active_test": false}]),
            )
            .await?;
        Ok(rows
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["id"].as_i64().unwrap_or_default().to_string(),
                            r["_timestamp"].as_str().map(str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn rows(&self, doctype: &str, ids: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        let mut fields = vec!["_timestamp".to_string()];
        for (table, tm) in &map.tables {
            let field = tm.remote_field(table);
            fields.push(format!("{field}.id"));
            fields.push(format!("{field}.sequence"));
        }
        let rows = self
            .call(
                remote_model(map),
                "search_read",
                json!([[["id", "in", int_ids(ids)?]], 0, null, null, fields, {}]),
            )
            .await?;
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                let mut values = Map::new();
                for (table, tm) in &map.tables {
                    let lines: Vec<Value> = row
                        .get(format!("{}.", tm.remote_field(table)).as_str())
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|l| {
                            json!({"id": l["id"].as_i64().unwrap_or_default().to_string(),
                                   "sequence": l["sequence"]})
                        })
                        .collect();
                    values.insert(table.clone(), Value::Array(lines));
                }
                RemoteRecord {
                    id: row["id"].as_i64().unwrap_or_default().to_string(),
                    stamp: String::new(),
                    version: row["_timestamp"].as_str().map(str::to_string),
                    active: true,
                    values,
                }
            })
            .collect())
    }

    async fn lookup(&self, doctype: &str, keys: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        let key_field = map.remote_field(map.key_field())?;
        self.search_read(
            map,
            json!([[key_field, "in", keys]]),
            None,
            json!([["id", "ASC"]]),
        )
        .await
    }

    async fn ids(&self, doctype: &str) -> Result<Vec<String>, SyncError> {
        let map = self.config.map(doctype)?;
        let ids = self
            .call(
                remote_model(map),
                "search",
                json!([[], 0, null, [["id", "ASC"]], {"active_test": false}]),
            )
            .await?;
        Ok(text_ids(&ids))
    }

    async fn query(
        &self,
        doctype: &str,
        filters: &[(String, String, Value)],
        limit: u32,
    ) -> Result<Vec<RemoteRecord>, SyncError> {
        let map = self.config.map(doctype)?;
        let mut domain = Vec::with_capacity(filters.len());
        for (field, op, value) in filters {
            let op = query_op(op, QUERY_OPS)?;
            domain.push(json!([map.remote_field(field)?, op, value]));
        }
        // Active records only, as a person browsing expects.
        let rows = self
            .call(
                remote_model(map),
                "search_read",
                json!([domain, 0, limit, [["id", "ASC"]], self.fields(map), {}]),
            )
            .await?;
        Ok(rows
            .as_array()
            .map(|a| a.iter().map(|r| self.to_record(map, r)).collect())
            .unwrap_or_default())
    }

    async fn transition(
        &self,
        doctype: &str,
        ids: &[String],
        to: Transition,
    ) -> Result<(), SyncError> {
        let map = self.config.map(doctype)?;
        let model = remote_model(map);
        let ids = int_ids(ids)?;
        let rows = self
            .call(
                model,
                "search_read",
                json!([[["id", "in", ids]], 0, null, null, ["state"], {}]),
            )
            .await?;
        let state_of = |want: &[&str]| -> Vec<i64> {
            rows.as_array()
                .into_iter()
                .flatten()
                .filter(|r| want.contains(&r["state"].as_str().unwrap_or_default()))
                .filter_map(|r| r["id"].as_i64())
                .collect()
        };
        match to {
            Transition::Confirm => {
                let draft = state_of(&["draft"]);
                if !draft.is_empty() {
                    self.call(model, "quote", json!([draft, {}])).await?;
                }
                let quoted = state_of(&["draft", "quotation"]);
                if !quoted.is_empty() {
                    self.call(model, "confirm", json!([quoted, {}])).await?;
                }
            }
            Transition::Cancel => {
                let past: Vec<String> = rows
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        !matches!(
                            r["state"].as_str(),
                            Some("draft" | "quotation" | "cancelled")
                        )
                    })
                    .map(|r| format!("{} is {}", r["id"], r["state"].as_str().unwrap_or("?")))
                    .collect();
                if !past.is_empty() {
                    return Err(SyncError::new(
                        ErrorClass::Rejected,
                        format!(
                            "the head office can no longer cancel it ({}); cancel it there",
                            past.join(", ")
                        ),
                    ));
                }
                let open = state_of(&["draft", "quotation"]);
                if !open.is_empty() {
                    self.call(model, "cancel", json!([open, {}])).await?;
                }
            }
        }
        Ok(())
    }

    /// Version (at the root, before signing in, so a wrong address or
    /// certificate is told apart from wrong credentials), then the login,
    /// the company, and every remote model the mapping uses in one
    /// `ir.model` call.
    async fn probe(&self) -> Result<Probe, SyncError> {
        let version = self.server_version().await?;
        let session = {
            let mut s = self.session.lock().await;
            let fresh = self.login().await?;
            *s = Some(fresh.clone());
            fresh
        };
        let company = match session.company {
            None => None,
            Some(id) => self
                .call("company.company", "read", json!([[id], ["rec_name"], {}]))
                .await
                .ok()
                .and_then(|rows| rows[0]["rec_name"].as_str().map(str::to_string)),
        };
        // Each doctype's models: its own (a product's template and
        // variant) and its lines'.
        let mut wanted: Vec<(String, String, Vec<String>)> = Vec::new();
        for (doctype, map) in &self.config.doctypes {
            let mut models = vec![map.model.clone()];
            if remote_model(map) != map.model {
                models.push(remote_model(map).to_string());
            }
            models.extend(map.tables.values().map(|t| t.model.clone()));
            wanted.push((doctype.clone(), map.model.clone(), models));
        }
        let mut all: Vec<String> = wanted.iter().flat_map(|w| w.2.clone()).collect();
        all.sort();
        all.dedup();
        let present = self.present_models(&all).await?;
        let mut models = Vec::new();
        for (doctype, model, needed) in wanted {
            let missing = needed.iter().find(|m| !present.contains(m));
            let problem = match missing {
                Some(m) => Some(self.missing_advice(m).await),
                None => None,
            };
            models.push(ModelProbe {
                doctype,
                model,
                present: problem.is_none(),
                problem,
            });
        }
        Ok(Probe::new(
            "Tryton",
            version,
            self.config.user.clone(),
            company,
            models,
        ))
    }

    fn traffic(&self) -> Traffic {
        self.http.traffic()
    }
}
