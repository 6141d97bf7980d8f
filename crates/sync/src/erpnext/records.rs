//! Records between Outpost and Frappe: which fields to read, a listed row
//! (and its document's rows) as a remote record, and local values as
//! Frappe's.

use super::*;

impl Erpnext {
    pub(super) fn has_disabled(map: &DoctypeMap) -> bool {
        WITH_DISABLED.contains(&map.model.as_str())
    }

    /// Remote fields to read: the mapped ones and the bookkeeping.
    pub(super) fn fields(map: &DoctypeMap) -> Vec<String> {
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
    pub(super) fn to_record(map: &DoctypeMap, row: &Value, rows: &Rows) -> RemoteRecord {
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
    pub(super) fn row_to_remote(tm: &TableMap, row: &Map<String, Value>) -> Map<String, Value> {
        tm.fields
            .iter()
            .filter_map(|(ours, theirs)| Some((theirs.clone(), row.get(ours)?.clone())))
            .collect()
    }

    pub(super) fn to_remote(map: &DoctypeMap, values: &Map<String, Value>) -> Map<String, Value> {
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
}
