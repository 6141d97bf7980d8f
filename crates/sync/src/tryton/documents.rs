//! Documents (a sale with its lines) as Tryton takes them: the header and
//! its lines as one2many commands, a line's product as the variant of its
//! template with its unit and name, a new sale with its party's address;
//! and their writes, checked against each one's `_timestamp`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::wire::int_id;
use super::{remote_model, Tryton};
use crate::config::DoctypeMap;
use crate::connector::{ErrorClass, RemoteWrite, SyncError};

impl Tryton {
    /// A document's header and lines as Tryton takes them: lines as
    /// one2many commands (create the new ones, write the known ones, delete
    /// the removed ones), a product line with its variant, unit and name,
    /// and a new sale with its party's first address.
    pub(super) async fn document_values(
        &self,
        map: &DoctypeMap,
        records: &[&Map<String, Value>],
        new: bool,
    ) -> Result<Vec<Map<String, Value>>, SyncError> {
        // Templates → (variant, unit, name), in one call.
        let mut templates: Vec<i64> = Vec::new();
        for (table, tm) in &map.tables {
            for r in records {
                for row in r.get(table).and_then(Value::as_array).into_iter().flatten() {
                    for ours in tm.fields.keys() {
                        if self.via_template(tm.links.get(ours)) {
                            if let Some(id) = row.get(ours).and_then(id_of) {
                                templates.push(id);
                            }
                        }
                    }
                }
            }
        }
        templates.sort_unstable();
        templates.dedup();
        let mut variants: HashMap<i64, (i64, Value, Value)> = HashMap::new();
        if !templates.is_empty() {
            let rows = self
                .call(
                    "product.product",
                    "search_read",
                    json!([[["template", "in", templates]], 0, null, [["id", "ASC"]],
                           ["template", "default_uom", "rec_name"], {"active_test": false}]),
                )
                .await?;
            for r in rows.as_array().into_iter().flatten() {
                if let Some(t) = r["template"].as_i64() {
                    variants.entry(t).or_insert((
                        r["id"].as_i64().unwrap_or_default(),
                        r["default_uom"].clone(),
                        r["rec_name"].clone(),
                    ));
                }
            }
        }
        // A new sale's addresses: its party's first (Tryton does not fill
        // them in over RPC, and a quote needs them).
        let mut addresses: HashMap<i64, i64> = HashMap::new();
        if new && map.model == "sale.sale" {
            let parties: Vec<i64> = records
                .iter()
                .filter_map(|r| r.get("party").and_then(id_of))
                .collect();
            if !parties.is_empty() {
                let rows = self
                    .call(
                        "party.address",
                        "search_read",
                        json!([
                            [["party", "in", parties]],
                            0,
                            null,
                            [["id", "ASC"]],
                            ["party"],
                            {}
                        ]),
                    )
                    .await?;
                for a in rows.as_array().into_iter().flatten() {
                    if let (Some(p), Some(id)) = (a["party"].as_i64(), a["id"].as_i64()) {
                        addresses.entry(p).or_insert(id);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let mut v = Tryton::to_remote(map, r);
            if new {
                for (k, d) in &map.defaults {
                    v.entry(k.clone()).or_insert(d.clone());
                }
                if let Some(a) = r
                    .get("party")
                    .and_then(id_of)
                    .and_then(|p| addresses.get(&p))
                {
                    v.insert("invoice_address".into(), json!(a));
                    v.insert("shipment_address".into(), json!(a));
                }
            }
            for (table, tm) in &map.tables {
                let Some(rows) = r.get(table).and_then(Value::as_array) else {
                    continue;
                };
                let (mut create, mut commands, mut delete) = (Vec::new(), Vec::new(), Vec::new());
                for row in rows {
                    let id = row.get("id").and_then(id_of);
                    if row.get("_delete") == Some(&json!(true)) {
                        delete.extend(id);
                        continue;
                    }
                    let mut line = Map::new();
                    for (ours, theirs) in &tm.fields {
                        let val = row.get(ours).cloned().unwrap_or(Value::Null);
                        if self.via_template(tm.links.get(ours)) {
                            let Some((variant, unit, name)) =
                                id_of(&val).and_then(|t| variants.get(&t))
                            else {
                                return Err(SyncError::new(
                                    ErrorClass::Rejected,
                                    format!("{table}: the head office has no product variant for template {val}"),
                                ));
                            };
                            line.insert(theirs.clone(), json!(variant));
                            if id.is_none() {
                                line.insert("unit".into(), unit.clone());
                                line.insert("description".into(), name.clone());
                            }
                        } else if tm.links.contains_key(ours) {
                            line.insert(
                                theirs.clone(),
                                id_of(&val).map_or(Value::Null, |i| json!(i)),
                            );
                        } else {
                            line.insert(theirs.clone(), val);
                        }
                    }
                    line.insert(
                        "sequence".into(),
                        row.get("sequence").cloned().unwrap_or(Value::Null),
                    );
                    match id {
                        Some(id) => commands.push(json!(["write", [id], line])),
                        None => create.push(Value::Object(line)),
                    }
                }
                if !create.is_empty() {
                    commands.push(json!(["create", create]));
                }
                if !delete.is_empty() {
                    commands.push(json!(["delete", delete]));
                }
                v.insert(tm.remote_field(table).to_string(), Value::Array(commands));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Writes documents: header and line commands in one call per batch,
    /// checked against each one's `_timestamp`; a deletion here cancels
    /// the document there and deletes it.
    pub(super) async fn write_documents(
        &self,
        map: &DoctypeMap,
        writes: &[RemoteWrite],
    ) -> Result<(), SyncError> {
        let model = remote_model(map);
        let stamps = |ws: &[&RemoteWrite]| -> Map<String, Value> {
            ws.iter()
                .filter_map(|w| Some((format!("{model},{}", w.id), json!(w.version.as_ref()?))))
                .collect()
        };
        let gone: Vec<&RemoteWrite> = writes.iter().filter(|w| w.deactivate).collect();
        if !gone.is_empty() {
            let ids: Vec<i64> = gone
                .iter()
                .map(|w| int_id(&w.id))
                .collect::<Result<_, _>>()?;
            let ctx = json!({"_timestamp": stamps(&gone)});
            self.call(model, "cancel", json!([ids, ctx])).await?;
            self.call(model, "delete", json!([ids, {}])).await?;
        }
        let live: Vec<&RemoteWrite> = writes.iter().filter(|w| !w.deactivate).collect();
        if live.is_empty() {
            return Ok(());
        }
        let values: Vec<&Map<String, Value>> = live.iter().map(|w| &w.values).collect();
        let remote = self.document_values(map, &values, false).await?;
        let mut params = Vec::with_capacity(live.len() * 2 + 1);
        for (w, v) in live.iter().zip(remote) {
            params.push(json!([int_id(&w.id)?]));
            params.push(Value::Object(v));
        }
        params.push(json!({"_timestamp": stamps(&live)}));
        self.call(model, "write", Value::Array(params)).await?;
        Ok(())
    }
}

/// A document (a sale): records with rows or a workflow. Tryton's sales
/// have no `active`; a deletion here cancels and deletes there.
pub(super) fn is_document(map: &DoctypeMap) -> bool {
    !map.tables.is_empty() || map.workflow.is_some()
}

/// An id as Tryton's integer (the worker keeps ids as text).
fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
