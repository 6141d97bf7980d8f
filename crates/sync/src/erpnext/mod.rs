//! The ERPNext (Frappe) connector: the REST API at `URL/api/...` with
//! `Authorization: token KEY:SECRET` (the upstream file's `user` is the API
//! key, its `password` the API secret).
//!
//! - pulls list `/api/resource/<DocType>` in `(modified, name)` order, the
//!   cursor given as `filters` (modified ≥ T) and `or_filters` (modified > T
//!   or name > N);
//! - new records go in batches through `frappe.client.insert_many` (at most
//!   200 per call, Frappe's own limit; one call is one transaction);
//! - a change is a `PUT /api/resource/<DocType>/<name>` carrying the
//!   `modified` read with the record: Frappe refuses a stale one with
//!   `TimestampMismatchError`, which is a conflict here;
//! - `disabled` is the inverse of Outpost's `active`;
//! - documents (a Sales Order with its `items`) travel whole: a new one with
//!   its rows inside it, a change as one PUT with the full row list (kept
//!   rows keep their `name`, rows left out are deleted), submit and cancel
//!   as a PUT of `docstatus` (see [`Erpnext::transition`]).
//!
//! No Frappe server can run on the build machine: this connector is tested
//! against HTTP exchanges written from Frappe's documented API and its
//! source (`crates/sync/tests/erpnext.rs`), not against a live ERPNext.

//!
//! Modules: [`wire`] (Frappe's answers and errors classified) and
//! [`documents`] (a Sales Order's docstatus and its writes).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::config::{DoctypeMap, TableMap, Transition, UpstreamConfig};
use crate::connector::{
    query_op, Connector, Cursor, ErrorClass, Page, RemoteRecord, RemoteWrite, SyncError, Traffic,
};
use crate::http::Http;
use crate::probe::{ModelProbe, Probe};

mod documents;
mod wire;

pub use wire::answer;
use wire::{encode, text};

/// Frappe refuses more in one `insert_many`.
pub const MAX_INSERT: usize = 200;
/// Operators a forwarded query may use.
const QUERY_OPS: &[&str] = &[
    "=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in",
];
/// DocTypes with a `disabled` check (so `active` can be read and written).
const WITH_DISABLED: &[&str] = &["Customer", "Supplier", "Item", "Employee", "Warehouse"];
/// Parent names per child-row list call: the names travel in the URL,
/// which proxies in front of Frappe cap (nginx: 8 KB a header line).
const PARENTS_PER_CALL: usize = 100;
/// Keys looked up per call (they travel in the URL).
const KEYS_PER_LOOKUP: usize = 100;

/// A document (a Sales Order): records with rows or a workflow. They have
/// no `disabled`; a cancelled one is still there (its status says so).
fn is_document(map: &DoctypeMap) -> bool {
    !map.tables.is_empty() || map.workflow.is_some()
}

/// A Sales Order's `status` as the office's words (the options of Sale's
/// `hq_state`). ERPNext's statuses (erpnext/selling/doctype/sales_order,
/// `status` options, set by `set_status` from docstatus, per_delivered and
/// per_billed): a draft is Draft; submitted and nothing delivered or billed
/// yet (`To Deliver and Bill`, also when partly done), held (`On Hold`) or
/// waiting for an advance (`To Pay`) is Confirmed; delivered but not billed
/// (`To Bill`) or billed but not delivered (`To Deliver`) is Processing;
/// `Completed` and `Closed` (closed by hand: nothing more will happen) are
/// Done; `Cancelled` is Cancelled. A Sales Order is never a quotation
/// (ERPNext keeps those apart, as the Quotation doctype). Other words pass
/// as they are.
pub fn sales_order_state(status: &str) -> &str {
    match status {
        "Draft" => "Draft",
        "To Deliver and Bill" | "On Hold" | "To Pay" => "Confirmed",
        "To Bill" | "To Deliver" => "Processing",
        "Completed" | "Closed" => "Done",
        "Cancelled" => "Cancelled",
        other => other,
    }
}

pub struct Erpnext {
    config: UpstreamConfig,
    base: String,
    auth: String,
    http: Http,
}

impl Erpnext {
    pub fn new(config: UpstreamConfig) -> Result<Erpnext, SyncError> {
        let base = config.url.trim_end_matches('/').to_string();
        let auth = format!("token {}:{}", config.user, config.password());
        let http = Http::new("ERPNext", &config)?;
        Ok(Erpnext {
            config,
            base,
            auth,
            http,
        })
    }

    fn has_disabled(map: &DoctypeMap) -> bool {
        WITH_DISABLED.contains(&map.model.as_str())
    }

    /// Remote fields to read: the mapped ones and the bookkeeping.
    fn fields(map: &DoctypeMap) -> Vec<String> {
        let mut f: Vec<String> = map
            .fields
            .values()
            .chain(map.from_remote.values())
            .filter(|f| f.as_str() != "active")
            .cloned()
            .collect();
        let mut extra = vec!["name", "modified"];
        if Erpnext::has_disabled(map) {
            extra.push("disabled");
        }
        for e in extra {
            if !f.iter().any(|x| x == e) {
                f.push(e.to_string());
            }
        }
        f
    }

    /// A listed row as a record; a document's rows from `rows` (by table,
    /// then parent name) as `{"id", "sequence", <Outpost row fields>}`.
    fn to_record(map: &DoctypeMap, row: &Value, rows: &Rows) -> RemoteRecord {
        let disabled = row["disabled"].as_i64().unwrap_or(0) != 0
            || row["disabled"].as_bool().unwrap_or(false);
        let mut values = Map::new();
        for (ours, theirs) in &map.fields {
            if theirs == "active" {
                values.insert(ours.clone(), json!(!disabled));
            } else if let Some(v) = row.get(theirs) {
                values.insert(ours.clone(), v.clone());
            }
        }
        for (ours, theirs) in &map.from_remote {
            let v = match (map.model.as_str(), theirs.as_str(), row.get(theirs)) {
                ("Sales Order", "status", Some(Value::String(s))) => json!(sales_order_state(s)),
                (_, _, Some(v)) => v.clone(),
                (_, _, None) => continue,
            };
            values.insert(ours.clone(), v);
        }
        let name = row["name"].as_str().unwrap_or_default().to_string();
        for (table, tm) in &map.tables {
            let lines = rows
                .get(table)
                .and_then(|by| by.get(&name))
                .map(|l| {
                    l.iter()
                        .map(|line| {
                            let mut r = Map::new();
                            r.insert(
                                "id".into(),
                                json!(line["name"].as_str().unwrap_or_default()),
                            );
                            r.insert("sequence".into(), line["idx"].clone());
                            for (ours, theirs) in &tm.fields {
                                r.insert(
                                    ours.clone(),
                                    line.get(theirs).cloned().unwrap_or(Value::Null),
                                );
                            }
                            Value::Object(r)
                        })
                        .collect()
                })
                .unwrap_or_default();
            values.insert(table.clone(), Value::Array(lines));
        }
        let modified = row["modified"].as_str().unwrap_or_default().to_string();
        RemoteRecord {
            id: name,
            stamp: modified.clone(),
            version: Some(modified).filter(|m| !m.is_empty()),
            active: is_document(map) || !disabled,
            values,
        }
    }

    /// A row as sent (Outpost row fields; links already remote names) in
    /// the remote's row field names.
    fn row_to_remote(tm: &TableMap, row: &Map<String, Value>) -> Map<String, Value> {
        tm.fields
            .iter()
            .filter_map(|(ours, theirs)| Some((theirs.clone(), row.get(ours)?.clone())))
            .collect()
    }

    fn to_remote(map: &DoctypeMap, values: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in values {
            match map.fields.get(k).map(String::as_str) {
                Some("active") => {
                    let active = v.as_bool().unwrap_or(true);
                    out.insert("disabled".into(), json!(i64::from(!active)));
                }
                Some(theirs) => {
                    out.insert(theirs.to_string(), v.clone());
                }
                None => {}
            }
        }
        out
    }

    fn resource(&self, model: &str) -> String {
        format!("{}/api/resource/{}", self.base, encode(model))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, SyncError> {
        let mut headers = vec![
            ("Authorization", self.auth.as_str()),
            ("Accept", "application/json"),
        ];
        let body = match body {
            Some(b) => {
                headers.push(("Content-Type", "application/json"));
                Some(
                    serde_json::to_vec(&b)
                        .map_err(|e| SyncError::new(ErrorClass::Rejected, e.to_string()))?,
                )
            }
            None => None,
        };
        // Frappe does not take gzipped request bodies.
        let (status, bytes) = self.http.send(method, url, &headers, body, false).await?;
        answer(status, &bytes)
    }

    /// `GET /api/method/<name>?<query>` (`query` already encoded).
    async fn method(&self, name: &str, query: &str) -> Result<Value, SyncError> {
        let mut url = format!("{}/api/method/{name}", self.base);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        self.call(reqwest::Method::GET, &url, None).await
    }

    /// A list call: `GET /api/resource/<DocType>?...`; the rows.
    async fn list(
        &self,
        map: &DoctypeMap,
        fields: &[String],
        filters: Value,
        or_filters: Option<Value>,
        order_by: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Value>, SyncError> {
        self.list_of(
            &map.model, None, fields, filters, or_filters, order_by, limit,
        )
        .await
    }

    /// A list call on any DocType; a child DocType (`Sales Order Item`)
    /// names its `parent` DocType, which Frappe's `frappe.client.get_list`
    /// (behind `/api/resource`) needs to check the permission on it.
    #[allow(clippy::too_many_arguments)]
    async fn list_of(
        &self,
        model: &str,
        parent: Option<&str>,
        fields: &[String],
        filters: Value,
        or_filters: Option<Value>,
        order_by: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Value>, SyncError> {
        let mut q = vec![
            ("fields", json!(fields).to_string()),
            ("filters", filters.to_string()),
            ("order_by", order_by.to_string()),
            // 0: no limit.
            ("limit_page_length", limit.unwrap_or(0).to_string()),
        ];
        if let Some(o) = or_filters {
            q.push(("or_filters", o.to_string()));
        }
        if let Some(p) = parent {
            q.push(("parent", p.to_string()));
        }
        let query: String = q
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!("{}?{query}", self.resource(model));
        let v = self.call(reqwest::Method::GET, &url, None).await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    async fn records(
        &self,
        map: &DoctypeMap,
        filters: Value,
        limit: Option<u32>,
    ) -> Result<Vec<RemoteRecord>, SyncError> {
        let rows = self
            .list(map, &Erpnext::fields(map), filters, None, "name asc", limit)
            .await?;
        self.with_rows(map, rows).await
    }

    /// Listed documents as records, their rows read in one call per table
    /// (per [`PARENTS_PER_CALL`] documents).
    async fn with_rows(
        &self,
        map: &DoctypeMap,
        list: Vec<Value>,
    ) -> Result<Vec<RemoteRecord>, SyncError> {
        let mut rows: Rows = HashMap::new();
        let names: Vec<&str> = list.iter().filter_map(|r| r["name"].as_str()).collect();
        for (table, tm) in &map.tables {
            let by = rows.entry(table.clone()).or_default();
            let mut fields: Vec<String> = vec!["name".into(), "parent".into(), "idx".into()];
            fields.extend(tm.fields.values().cloned());
            for chunk in names.chunks(PARENTS_PER_CALL) {
                let lines = self
                    .list_of(
                        &tm.model,
                        Some(&map.model),
                        &fields,
                        json!([["parent", "in", chunk]]),
                        None,
                        "parent asc, idx asc",
                        None,
                    )
                    .await?;
                for l in lines {
                    let parent = l["parent"].as_str().unwrap_or_default().to_string();
                    by.entry(parent).or_default().push(l);
                }
            }
        }
        Ok(list
            .iter()
            .map(|r| Erpnext::to_record(map, r, &rows))
            .collect())
    }

    /// `names` (as `insert_many` answered them) in the order of `sent`:
    /// Frappe's `insert_many` collects them in a Python set in recent
    /// versions (a list in older ones), so their order is not the order
    /// sent. Each is matched by its key.
    async fn in_sent_order(
        &self,
        map: &DoctypeMap,
        sent: &[Map<String, Value>],
        names: Vec<String>,
    ) -> Result<Vec<String>, SyncError> {
        let key = map.key_field();
        let remote_key = map.remote_field(key)?.to_string();
        let rows = self
            .list(
                map,
                &["name".into(), remote_key.clone()],
                json!([["name", "in", names]]),
                None,
                "name asc",
                None,
            )
            .await?;
        let by_key: HashMap<String, String> = rows
            .iter()
            .filter_map(|r| {
                let k = text(&r[remote_key.as_str()])?;
                Some((k, r["name"].as_str()?.to_string()))
            })
            .collect();
        sent.iter()
            .map(|r| {
                r.get(key)
                    .and_then(text)
                    .and_then(|k| by_key.get(&k).cloned())
                    .ok_or_else(|| {
                        // The next run finds them by key before making any.
                        SyncError::new(
                            ErrorClass::Retryable,
                            format!(
                                "ERPNext made the new {} records but their names could not be matched to them by {remote_key}",
                                map.model
                            ),
                        )
                    })
            })
            .collect()
    }
}

/// A document's rows as listed: table → parent name → rows in order.
type Rows = HashMap<String, HashMap<String, Vec<Value>>>;

#[async_trait]
impl Connector for Erpnext {
    async fn pull(&self, doctype: &str, after: &Cursor, limit: u32) -> Result<Page, SyncError> {
        let map = self.config.map(doctype)?;
        let (filters, or_filters) = match &after.stamp {
            None => (json!([]), None),
            Some(t) => (
                json!([["modified", ">=", t]]),
                Some(json!([["modified", ">", t], ["name", ">", after.id]])),
            ),
        };
        let rows = self
            .list(
                map,
                &Erpnext::fields(map),
                filters,
                or_filters,
                "modified asc, name asc",
                Some(limit),
            )
            .await?;
        let records = self.with_rows(map, rows).await?;
        Ok(Page::after(records, after))
    }

    async fn create(
        &self,
        doctype: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<String>, SyncError> {
        let map = self.config.map(doctype)?;
        let mut names = Vec::with_capacity(records.len());
        for chunk in records.chunks(MAX_INSERT) {
            let docs: Vec<Value> = chunk
                .iter()
                .map(|r| {
                    let mut d = Erpnext::to_remote(map, r);
                    for (k, v) in &map.defaults {
                        d.entry(k.clone()).or_insert(v.clone());
                    }
                    // Rows inside the document, as Frappe takes child
                    // tables: a list of dicts under the table field.
                    for (table, tm) in &map.tables {
                        let rows: Vec<Value> = r
                            .get(table)
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_object)
                            .filter(|row| row.get("_delete") != Some(&json!(true)))
                            .map(|row| Value::Object(Erpnext::row_to_remote(tm, row)))
                            .collect();
                        d.insert(tm.remote_field(table).to_string(), Value::Array(rows));
                    }
                    // ERPNext refuses a Sales Order without a delivery date
                    // ("Please enter Delivery Date"): the office has none,
                    // so it is the order's own date (ERPNext allows the
                    // same day, and copies it to rows without one).
                    if map.model == "Sales Order" && !d.contains_key("delivery_date") {
                        if let Some(t) = d.get("transaction_date").cloned() {
                            d.insert("delivery_date".into(), t);
                        }
                    }
                    d.insert("doctype".into(), json!(map.model));
                    Value::Object(d)
                })
                .collect();
            let v = self
                .call(
                    reqwest::Method::POST,
                    &format!("{}/api/method/frappe.client.insert_many", self.base),
                    Some(json!({ "docs": docs })),
                )
                .await?;
            let made: Vec<String> = v["message"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if made.len() != chunk.len() {
                return Err(SyncError::new(
                    ErrorClass::Rejected,
                    format!(
                        "ERPNext answered {} names for {} new records",
                        made.len(),
                        chunk.len()
                    ),
                ));
            }
            let made = if made.len() > 1 {
                self.in_sent_order(map, chunk, made).await?
            } else {
                made
            };
            names.extend(made);
        }
        Ok(names)
    }

    async fn write(&self, doctype: &str, writes: &[RemoteWrite]) -> Result<(), SyncError> {
        let map = self.config.map(doctype)?;
        if is_document(map) {
            return self.write_documents(map, writes).await;
        }
        // One document per PUT: Frappe checks `modified` per document.
        for w in writes {
            let mut body = if w.deactivate {
                let mut m = Map::new();
                m.insert("disabled".into(), json!(1));
                m
            } else {
                Erpnext::to_remote(map, &w.values)
            };
            if w.reactivate {
                body.insert("disabled".into(), json!(0));
            }
            if let Some(v) = &w.version {
                body.insert("modified".into(), json!(v));
            }
            self.call(
                reqwest::Method::PUT,
                &format!("{}/{}", self.resource(&map.model), encode(&w.id)),
                Some(Value::Object(body)),
            )
            .await?;
        }
        Ok(())
    }

    async fn read(&self, doctype: &str, ids: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        self.records(map, json!([["name", "in", ids]]), None).await
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
        let rows = self
            .list(
                map,
                &["name".into(), "modified".into()],
                json!([["name", "in", ids]]),
                None,
                "name asc",
                None,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["modified"].as_str().map(str::to_string),
                )
            })
            .collect())
    }

    async fn lookup(&self, doctype: &str, keys: &[String]) -> Result<Vec<RemoteRecord>, SyncError> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let map = self.config.map(doctype)?;
        let key = map.remote_field(map.key_field())?;
        // The keys go in a GET's URL: a few at a time keeps it under a
        // proxy's limit (nginx's is 8 KB by default).
        let mut found = Vec::new();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            found.extend(self.records(map, json!([[key, "in", chunk]]), None).await?);
        }
        Ok(found)
    }

    async fn ids(&self, doctype: &str) -> Result<Vec<String>, SyncError> {
        let map = self.config.map(doctype)?;
        let rows = self
            .list(map, &["name".into()], json!([]), None, "name asc", None)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect())
    }

    async fn query(
        &self,
        doctype: &str,
        filters: &[(String, String, Value)],
        limit: u32,
    ) -> Result<Vec<RemoteRecord>, SyncError> {
        let map = self.config.map(doctype)?;
        let mut list = Vec::with_capacity(filters.len());
        for (field, op, value) in filters {
            // Frappe's `like` is already case-insensitive.
            let op = if op.eq_ignore_ascii_case("ilike") {
                "like"
            } else {
                op.as_str()
            };
            let op = query_op(op, QUERY_OPS)?;
            list.push(json!([map.remote_field(field)?, op, value]));
        }
        self.records(map, Value::Array(list), Some(limit)).await
    }

    /// Submits (docstatus 0 → 1) or cancels (1 → 2) documents with a PUT
    /// of `docstatus`: Frappe's REST update (`PUT /api/resource/<DocType>/
    /// <name>`) loads the document and saves it, and `Document.save` runs
    /// a docstatus change as the submit or cancel it is
    /// (`check_docstatus_transition`, with the submit or cancel permission
    /// and the doctype's own checks), the way `frappe.client.submit` and
    /// `frappe.client.cancel` do, without sending the whole document.
    /// Documents already there (or deleted there) are left alone. A draft
    /// cannot be cancelled in Frappe (0 → 2 is refused): that is a refusal
    /// saying what to do.
    async fn transition(
        &self,
        doctype: &str,
        ids: &[String],
        to: Transition,
    ) -> Result<(), SyncError> {
        let map = self.config.map(doctype)?;
        if ids.is_empty() {
            return Ok(());
        }
        for (name, status) in self.docstatus(map, ids).await? {
            let next = match (to, status) {
                (Transition::Confirm, 0) => 1,
                (Transition::Cancel, 1) => 2,
                (Transition::Cancel, 0) => {
                    return Err(SyncError::new(
                        ErrorClass::Rejected,
                        format!(
                            "ERPNext cannot cancel {} {name}: it is a draft there (only a submitted one can be cancelled); delete the sale here to delete it there, or submit it there first",
                            map.model
                        ),
                    ))
                }
                _ => continue,
            };
            self.call(
                reqwest::Method::PUT,
                &self.document_url(map, &name),
                Some(json!({ "docstatus": next })),
            )
            .await?;
        }
        Ok(())
    }

    /// Signs in with `frappe.auth.get_logged_user` (Frappe's documented
    /// check of a token), then reads the versions
    /// (`frappe.utils.change_log.get_versions`), the site's default
    /// company (`Global Defaults`) and one row of each mapped DocType.
    async fn probe(&self) -> Result<Probe, SyncError> {
        let user = match self.method("frappe.auth.get_logged_user", "").await {
            Ok(v) => v["message"].as_str().unwrap_or(&self.config.user).to_string(),
            Err(e) if e.class == ErrorClass::Auth => {
                return Err(SyncError::new(
                    ErrorClass::Auth,
                    format!(
                        "ERPNext refused the API key {:?}: wrong key or secret (ERPNext makes them in the user's settings, API Access, Generate Keys)",
                        self.config.user
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        let version = self
            .method("frappe.utils.change_log.get_versions", "")
            .await
            .ok()
            .and_then(|v| {
                let m = &v["message"];
                ["erpnext", "frappe"]
                    .iter()
                    .find_map(|app| m[app]["version"].as_str().map(str::to_string))
            });
        let company = self
            .method(
                "frappe.client.get_single_value",
                "doctype=Global%20Defaults&field=default_company",
            )
            .await
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .filter(|c| !c.is_empty());
        let mut models = Vec::new();
        for (doctype, map) in &self.config.doctypes {
            let problem = match self
                .list(map, &["name".to_string()], json!([]), None, "name asc", Some(1))
                .await
            {
                Ok(_) => None,
                Err(e) if e.class == ErrorClass::Retryable => return Err(e),
                Err(e) if e.class == ErrorClass::Auth => Some(format!(
                    "the API key's user may not read {} at the head office: give that user a role that can",
                    map.model
                )),
                Err(e) => Some(format!(
                    "{} does not exist at the head office (is ERPNext installed on that site?): {}",
                    map.model, e.message
                )),
            };
            models.push(ModelProbe {
                doctype: doctype.clone(),
                model: map.model.clone(),
                present: problem.is_none(),
                problem,
            });
        }
        Ok(Probe::new("ERPNext", version, user, company, models))
    }

    fn traffic(&self) -> Traffic {
        self.http.traffic()
    }

    fn max_batch(&self) -> usize {
        MAX_INSERT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_order_statuses_become_the_offices_words() {
        for (frappe, office) in [
            ("Draft", "Draft"),
            ("On Hold", "Confirmed"),
            ("To Pay", "Confirmed"),
            ("To Deliver and Bill", "Confirmed"),
            ("To Bill", "Processing"),
            ("To Deliver", "Processing"),
            ("Completed", "Done"),
            ("Closed", "Done"),
            ("Cancelled", "Cancelled"),
            ("Something New", "Something New"),
        ] {
            assert_eq!(sales_order_state(frappe), office, "{frappe}");
        }
    }
}
