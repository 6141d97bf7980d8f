//! Documents (a Sales Order with its items) at ERPNext: their docstatus
//! (draft, submitted, cancelled) and their writes, a row kept as the head
//! office has it.

use serde_json::{json, Map, Value};

use super::*;

impl Erpnext {
    /// The `docstatus` of these documents (0 draft, 1 submitted, 2
    /// cancelled); missing ones left out.
    pub(super) async fn docstatus(
        &self,
        map: &DoctypeMap,
        ids: &[String],
    ) -> Result<Vec<(String, i64)>, SyncError> {
        let rows = self
            .list(
                map,
                &["name".into(), "docstatus".into()],
                json!([["name", "in", ids]]),
                None,
                "name asc",
                None,
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r["name"].as_str()?.to_string(),
                    r["docstatus"].as_i64().unwrap_or(0),
                ))
            })
            .collect())
    }

    pub(super) fn document_url(&self, map: &DoctypeMap, name: &str) -> String {
        format!("{}/{}", self.resource(&map.model), encode(name))
    }

    /// Changes documents, one PUT each (Frappe checks `modified` per
    /// document). The rows go as the full list the document is to have
    /// (Frappe's `Document.update` replaces a child table with the list
    /// given; on save, rows whose `name` it has are updated, rows without
    /// one are inserted, rows left out are deleted). A row given with its
    /// `name` is rebuilt from what is given, so a kept row is sent whole:
    /// the document is read first and the office's fields are set on the
    /// head office's row, and what the head office set on it (warehouse,
    /// unit, discount ...) stays. A deletion here cancels a submitted
    /// document there and deletes it.
    pub(super) async fn write_documents(
        &self,
        map: &DoctypeMap,
        writes: &[RemoteWrite],
    ) -> Result<(), SyncError> {
        for w in writes {
            let url = self.document_url(map, &w.id);
            if w.deactivate {
                let status = self.docstatus(map, std::slice::from_ref(&w.id)).await?;
                if status.iter().any(|(_, s)| *s == 1) {
                    let mut body = json!({"docstatus": 2});
                    if let Some(v) = &w.version {
                        body["modified"] = json!(v);
                    }
                    self.call(reqwest::Method::PUT, &url, Some(body)).await?;
                }
                if !status.is_empty() {
                    self.call(reqwest::Method::DELETE, &url, None).await?;
                }
                continue;
            }
            let mut body = Erpnext::to_remote(map, &w.values);
            let kept = map.tables.keys().any(|t| {
                w.values
                    .get(t)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|r| r.get("id").is_some() && r.get("_delete") != Some(&json!(true)))
            });
            let current = if kept {
                Some(self.call(reqwest::Method::GET, &url, None).await?)
            } else {
                None
            };
            for (table, tm) in &map.tables {
                let Some(rows) = w.values.get(table).and_then(Value::as_array) else {
                    continue;
                };
                let field = tm.remote_field(table);
                let theirs: HashMap<&str, &Map<String, Value>> = current
                    .as_ref()
                    .and_then(|c| c["data"][field].as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|r| Some((r["name"].as_str()?, r.as_object()?)))
                    .collect();
                let mut out = Vec::with_capacity(rows.len());
                for row in rows.iter().filter_map(Value::as_object) {
                    if row.get("_delete") == Some(&json!(true)) {
                        continue;
                    }
                    let mut line = row
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|id| theirs.get(id))
                        .map(|r| (*r).clone())
                        .unwrap_or_default();
                    line.extend(Erpnext::row_to_remote(tm, row));
                    if let Some(seq) = row.get("sequence") {
                        line.insert("idx".into(), seq.clone());
                    }
                    out.push(Value::Object(line));
                }
                body.insert(field.to_string(), Value::Array(out));
            }
            if let Some(v) = &w.version {
                body.insert("modified".into(), json!(v));
            }
            self.call(reqwest::Method::PUT, &url, Some(Value::Object(body)))
                .await?;
        }
        Ok(())
    }
}
