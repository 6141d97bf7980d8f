//! Frappe's REST calls as the connector makes them: a resource or a
//! method, listed pages, records with their documents' rows.

use super::*;

impl Erpnext {
    pub(super) fn resource(&self, model: &str) -> String {
        format!("{}/api/resource/{}", self.base, encode(model))
    }

    pub(super) async fn call(
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
    pub(super) async fn method(&self, name: &str, query: &str) -> Result<Value, SyncError> {
        let mut url = format!("{}/api/method/{name}", self.base);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        self.call(reqwest::Method::GET, &url, None).await
    }

    /// A list call: `GET /api/resource/<DocType>?...`; the rows.
    pub(super) async fn list(
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
    pub(super) async fn list_of(
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

    pub(super) async fn records(
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
    pub(super) async fn with_rows(
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
    pub(super) async fn in_sent_order(
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
