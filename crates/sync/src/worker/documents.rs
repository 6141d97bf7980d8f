//! Documents: records that link to others (a sale's party) and hold rows
//! (its lines). Links travel as the linked record's remote id, so a record
//! waits until what it links to has reached the head office, and is parked
//! when that was refused; rows are matched to the head office's lines by
//! the ids kept with the link (new ones by their position).

use super::*;
use crate::config::Transition;

/// A record's values as they can go to the head office, or why not yet.
pub(super) enum Outgoing {
    /// Links as remote ids, rows with the remote ids they have there.
    Ready(Map<String, Value>),
    /// Something it links to has not reached the head office yet.
    Wait,
    /// Something it links to was refused there: the message names it.
    Park(String),
}

/// A remote record's values as here, and its rows' remote ids by name.
pub(super) type Incoming = (Map<String, Value>, BTreeMap<String, String>);

/// A linked record's standing at the head office.
enum Dep {
    Linked(String),
    Waiting,
    Refused(String),
}

impl Worker {
    /// Where the local record `name` of `doctype` stands upstream.
    fn dependency(&self, doctype: &str, name: &str) -> Result<Dep, SyncError> {
        if let Some(l) = self.store.sync_link(doctype, name).map_err(store_err)? {
            return Ok(Dep::Linked(l.remote_id));
        }
        if let Some(reason) = self
            .store
            .outbox_parked_reason(doctype, name)
            .map_err(store_err)?
        {
            if !self
                .store
                .outbox_waiting(doctype, name)
                .map_err(store_err)?
            {
                return Ok(Dep::Refused(reason));
            }
        }
        Ok(Dep::Waiting)
    }

    /// The title of a local record for messages ("Acme Trading").
    fn title(&self, doctype: &str, name: &str) -> String {
        let title = self.schema.get(doctype).ok().and_then(|dt| {
            let f = dt.title_field.clone()?;
            let v = self.store.get(doctype, name).ok()?;
            v.get(&f).and_then(Value::as_str).map(str::to_string)
        });
        match title {
            Some(t) => format!("{doctype} {t:?} ({name})"),
            None => format!("{doctype} {name}"),
        }
    }

    /// Translates one link value; `Err` carries the outcome that stops the
    /// record.
    fn link_out(
        &self,
        target: &str,
        value: &mut Value,
        what: &str,
    ) -> Result<Option<Outgoing>, SyncError> {
        let Value::String(name) = value else {
            return Ok(None);
        };
        match self.dependency(target, name)? {
            Dep::Linked(id) => {
                *value = Value::String(id);
                Ok(None)
            }
            Dep::Waiting => Ok(Some(Outgoing::Wait)),
            Dep::Refused(reason) => Ok(Some(Outgoing::Park(format!(
                "{what} links to {}, which the head office refused ({reason}); fix that record first",
                self.title(target, name)
            )))),
        }
    }

    /// `values` (a group's, local names) as they go to the head office.
    pub(super) fn outgoing(
        &self,
        doctype: &str,
        values: &Map<String, Value>,
        link: Option<&Link>,
    ) -> Result<Outgoing, SyncError> {
        let (map, _) = self.parts(doctype)?;
        let mut out = values.clone();
        for (field, target) in &map.links {
            if let Some(v) = out.get_mut(field) {
                if let Some(stop) = self.link_out(target, v, &format!("its {field}"))? {
                    return Ok(stop);
                }
            }
        }
        let empty = BTreeMap::new();
        let known = link.map_or(&empty, |l| &l.children);
        for (table, tm) in &map.tables {
            let rows = out
                .get(table)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut sent = Vec::with_capacity(rows.len());
            let mut here = HashSet::new();
            for (i, row) in rows.into_iter().enumerate() {
                let Value::Object(mut row) = row else {
                    continue;
                };
                for (field, target) in &tm.links {
                    if let Some(v) = row.get_mut(field) {
                        let what = format!("{table} row {} ({field})", i + 1);
                        if let Some(stop) = self.link_out(target, v, &what)? {
                            return Ok(stop);
                        }
                    }
                }
                if let Some(Value::String(n)) = row.remove("name") {
                    if let Some(id) = known.get(&n) {
                        row.insert("id".into(), json!(id));
                    }
                    here.insert(n);
                }
                row.insert("sequence".into(), json!(i + 1));
                sent.push(Value::Object(row));
            }
            // Rows removed here since the head office last had them.
            for (row, id) in known {
                if !here.contains(row) {
                    sent.push(json!({"id": id, "_delete": true}));
                }
            }
            out.insert(table.clone(), Value::Array(sent));
        }
        Ok(Outgoing::Ready(out))
    }

    /// A remote record's values with links as local names and rows named
    /// as here; and the rows' remote ids by those names.
    pub(super) fn incoming(&self, doctype: &str, r: &RemoteRecord) -> Result<Incoming, SyncError> {
        let (map, _) = self.parts(doctype)?;
        let mut values = r.values.clone();
        for (field, target) in &map.links {
            if let Some(v) = values.get_mut(field) {
                *v = self.link_in(target, v)?;
            }
        }
        let mut children = BTreeMap::new();
        if map.tables.is_empty() {
            return Ok((values, children));
        }
        // The local record: linked, else (a push whose answer was lost) the
        // one whose name travelled as the key.
        let local = match self
            .store
            .sync_local_name(doctype, &r.id)
            .map_err(store_err)?
        {
            Some(n) => Some(n),
            None => values
                .get(map.key_field())
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let link = match &local {
            Some(n) => self.store.sync_link(doctype, n).map_err(store_err)?,
            None => None,
        };
        let by_id: HashMap<String, String> = link
            .map(|l| l.children.into_iter().map(|(n, id)| (id, n)).collect())
            .unwrap_or_default();
        let current = local
            .as_deref()
            .and_then(|n| self.store.get(doctype, n).ok());
        for (table, tm) in &map.tables {
            let mut rows: Vec<Map<String, Value>> = values
                .get(table)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).cloned().collect())
                .unwrap_or_default();
            rows.sort_by_key(|row| row.get("sequence").and_then(Value::as_i64).unwrap_or(0));
            let here: Vec<String> = current
                .as_ref()
                .and_then(|c| c.get(table))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let mut out = Vec::with_capacity(rows.len());
            for (i, mut row) in rows.into_iter().enumerate() {
                for (field, target) in &tm.links {
                    if let Some(v) = row.get_mut(field) {
                        *v = self.link_in(target, v)?;
                    }
                }
                let id = row
                    .remove("id")
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                row.remove("sequence");
                // Known by its id; else, before the first link, by position.
                let name = by_id
                    .get(&id)
                    .cloned()
                    .or_else(|| by_id.is_empty().then(|| here.get(i).cloned()).flatten())
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                row.insert("name".into(), json!(name));
                children.insert(name, id);
                out.push(Value::Object(row));
            }
            values.insert(table.clone(), Value::Array(out));
        }
        Ok((values, children))
    }

    /// A remote id as the linked local record's name (null when this
    /// office does not have it).
    fn link_in(&self, target: &str, v: &Value) -> Result<Value, SyncError> {
        let id = match v {
            Value::Null => return Ok(Value::Null),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(self
            .store
            .sync_local_name(target, &id)
            .map_err(store_err)?
            .map_or(Value::Null, Value::String))
    }

    /// The rows' remote ids after a push: the rows as sent (names here, in
    /// order) matched by position to the head office's lines by sequence.
    pub(super) fn children_after(
        &self,
        doctype: &str,
        values: &Map<String, Value>,
        remote: Option<&RemoteRecord>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let (Ok((map, _)), Some(r)) = (self.parts(doctype), remote) else {
            return out;
        };
        for table in map.tables.keys() {
            let mut theirs: Vec<&Map<String, Value>> = r
                .values
                .get(table)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default();
            theirs.sort_by_key(|row| row.get("sequence").and_then(Value::as_i64).unwrap_or(0));
            let ours = values
                .get(table)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (row, remote_row) in ours.iter().zip(theirs) {
                if let (Some(n), Some(id)) = (
                    row.get("name").and_then(Value::as_str),
                    remote_row.get("id"),
                ) {
                    let id = match id {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.insert(n.to_string(), id);
                }
            }
        }
        out
    }

    /// Runs the head office's workflow for records the office confirmed or
    /// cancelled (it does nothing where the head office is already there);
    /// a refusal parks the record with the head office's words, its link
    /// kept. Returns the names of the records refused.
    pub(super) async fn run_workflow(
        &self,
        doctype: &str,
        wanted: Vec<(Transition, String, Vec<i64>, String)>,
    ) -> Result<HashSet<String>, SyncError> {
        let mut refused = HashSet::new();
        for t in [Transition::Confirm, Transition::Cancel] {
            let items: Vec<&(Transition, String, Vec<i64>, String)> =
                wanted.iter().filter(|w| w.0 == t).collect();
            if items.is_empty() {
                continue;
            }
            let mut queue = vec![items];
            while let Some(mut chunk) = queue.pop() {
                let ids: Vec<String> = chunk.iter().map(|w| w.1.clone()).collect();
                match self.connector.transition(doctype, &ids, t).await {
                    Ok(()) => {}
                    Err(e) if e.class == ErrorClass::Rejected && chunk.len() > 1 => {
                        let second = chunk.split_off(chunk.len() / 2);
                        queue.push(second);
                        queue.push(chunk);
                    }
                    Err(e) if e.class == ErrorClass::Rejected => {
                        tracing::warn!(doctype, remote_id = %chunk[0].1, error = %e, "the head office refused its workflow; parked");
                        self.park(chunk[0].2.clone(), e.message.clone()).await?;
                        refused.insert(chunk[0].3.clone());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(refused)
    }
}
