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
mod records;
mod rest;
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
