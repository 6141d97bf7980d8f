//! Pushing: the outbox in batches, one record's entries as its latest
//! state; creates marked `sending` before they leave and looked up by key
//! after a lost answer; writes checked against the version last seen;
//! refused batches split until the refused record is alone, and parked.

use super::documents::Outgoing;
use super::*;
use crate::config::Transition;

mod send;
use send::CREATES_IN_FLIGHT;

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
    /// `values` as they go upstream (links as remote ids, rows with their
    /// remote ids): set when the group is planned.
    send: Map<String, Value>,
    hash: String,
    key: String,
    /// The head office's workflow step the record asks for.
    wants: Option<Transition>,
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

impl Worker {
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
            let sent = list
                .iter()
                .rev()
                .find(|e| e.state == OutboxState::Sending)
                .cloned();
            let deleted = latest.op == ChangeOp::Delete || latest.payload["deleted"] == json!(true);
            let mut values = normalize(
                &self.schema,
                dt,
                map,
                latest.payload.as_object().unwrap_or(&Map::new()),
            );
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
            let wants = match (&map.workflow, latest.payload.as_object()) {
                (Some(w), Some(p)) if !deleted => w.wanted(p),
                _ => None,
            };
            out.push(Group {
                doctype: k.0,
                name: k.1,
                upto: latest.seq,
                seqs: list.iter().map(|e| e.seq).collect(),
                hash: hash(&values, gone_here),
                sent,
                deleted,
                send: Map::new(),
                values,
                key,
                wants,
            });
        }
        Ok(out)
    }

    /// Each doctype in turn, what others link to first (a sale's party and
    /// products), each in full batches of its own. A round takes as many
    /// entries as the create batches sent at once can carry.
    pub(super) async fn push(&mut self) -> Result<(), SyncError> {
        let round = self
            .config
            .batch_size
            .saturating_mul(CREATES_IN_FLIGHT as u32);
        for doctype in self.order.clone() {
            let one = std::slice::from_ref(&doctype);
            for _ in 0..MAX_ROUNDS {
                let (wanted, size) = (one.to_vec(), round);
                let entries = self
                    .on_store(move |s| s.outbox_batch(&wanted, size))
                    .await?;
                if entries.is_empty() {
                    break;
                }
                let before: Vec<i64> = entries.iter().map(|e| e.seq).collect();
                let groups = self.group(entries)?;
                self.push_doctype(&doctype, groups).await?;
                // A round that settled nothing (all entries wait on a
                // conflict, or on what they link to) must not spin.
                let (wanted, size) = (one.to_vec(), round);
                let after = self
                    .on_store(move |s| s.outbox_batch(&wanted, size))
                    .await?;
                if after.iter().map(|e| e.seq).collect::<Vec<_>>() == before {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn push_doctype(&mut self, doctype: &str, groups: Vec<Group>) -> Result<(), SyncError> {
        let mut creates = Vec::new();
        let mut writes: Vec<Planned> = Vec::new();
        let mut lookups = Vec::new();
        let mut done = Vec::new();
        // Workflow steps asked for: (step, remote id, entries, name).
        let mut wanted: Vec<(Transition, String, Vec<i64>, String)> = Vec::new();
        for mut g in groups {
            let link = self.store.sync_link(doctype, &g.name).map_err(store_err)?;
            if !g.deleted {
                match self.outgoing(doctype, &g.values, link.as_ref())? {
                    Outgoing::Ready(send) => g.send = send,
                    Outgoing::Wait => {
                        tracing::debug!(doctype, name = %g.name, "waits for what it links to");
                        continue;
                    }
                    Outgoing::Park(message) => {
                        tracing::warn!(doctype, name = %g.name, "{message}");
                        self.park(g.seqs.clone(), message).await?;
                        continue;
                    }
                }
            }
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
                    // The remote already has exactly this (but the office
                    // may have confirmed it since).
                    if let Some(t) = g.wants {
                        wanted.push((t, l.remote_id.clone(), g.seqs.clone(), g.name.clone()));
                    }
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
                    self.park_ambiguous(doctype, &g, hits.len()).await?;
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
                    let mut v = normalize(&self.schema, dt, map, s.payload.as_object()?);
                    if !matches!(v.get(map.key_field()), Some(Value::String(_))) {
                        v.insert(map.key_field().to_string(), json!(g.name));
                    }
                    Some(hash(&v, s.op == ChangeOp::Delete))
                });
                if pulled.hash == g.hash {
                    tracing::info!(doctype, name = %g.name, remote_id = r.id, "found upstream after a lost answer; not sent again");
                    if let Some(t) = g.wants {
                        wanted.push((t, r.id.clone(), g.seqs.clone(), g.name.clone()));
                    }
                    done.push(Synced {
                        doctype: g.doctype.clone(),
                        name: g.name.clone(),
                        upto: g.upto,
                        link: Some(Link {
                            remote_id: r.id.clone(),
                            hash: g.hash.clone(),
                            version: r.version.clone(),
                            inactive: false,
                            children: pulled.children.clone(),
                        }),
                    });
                } else if sent_hash.as_deref() == Some(pulled.hash.as_str()) {
                    // Ours, changed here since: link it and send the change
                    // (rows matched to the lines it already has).
                    let mut g = g;
                    if !pulled.children.is_empty() {
                        let link = Link {
                            remote_id: r.id.clone(),
                            hash: pulled.hash.clone(),
                            version: r.version.clone(),
                            inactive: false,
                            children: pulled.children.clone(),
                        };
                        if let Outgoing::Ready(send) =
                            self.outgoing(doctype, &g.values, Some(&link))?
                        {
                            g.send = send;
                        }
                    }
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
        let refused = self
            .run_workflow(doctype, std::mem::take(&mut wanted))
            .await?;
        for d in done.iter_mut().filter(|d| refused.contains(&d.name)) {
            d.upto = 0; // linked, but its entries stay parked
        }
        self.on_store(move |s| s.sync_done(&done)).await?;
        let sending: Vec<i64> = creates
            .iter()
            .chain(writes.iter().map(|p| &p.group))
            .flat_map(|g| g.seqs.iter().copied())
            .collect();
        if sending.is_empty() {
            return Ok(());
        }
        self.on_store(move |s| s.outbox_mark_sending(&sending))
            .await?;
        self.standby_barrier().await;
        self.pause("before_send").await;
        let mut settled: Vec<(Group, String)> = Vec::new();
        self.create_split(doctype, creates, &mut settled).await?;
        self.write_split(doctype, writes, &mut settled).await?;
        self.pause("after_answer").await;
        // Documents are read back whole, now: their lines' new ids are
        // needed to match the rows of a later edit (their versions come
        // with them). If that read fails, nothing is recorded and the
        // entries stay `sending`, so the next run finds the records by
        // lookup (new ones) or by the stale write's check (changed ones).
        //
        // Plain records are not read back (issue 16: one round trip per
        // batch saved). What a push made or changed is newer than the pull's
        // cursor, so the pull that follows in this cycle brings it back with
        // its version: the store keeps the version when the values are the
        // ones pushed, or applies what the head office changed in between.
        // Until then the link has no version, and a write to it reads the
        // remote first and judges it as a stale write (`write_split`).
        let has_rows = !self.parts(doctype)?.0.tables.is_empty();
        let mut records: HashMap<String, RemoteRecord> = HashMap::new();
        if has_rows {
            let ids: Vec<String> = settled.iter().map(|(_, id)| id.clone()).collect();
            for r in self.connector.rows(doctype, &ids).await? {
                records.insert(r.id.clone(), r);
            }
        }
        let wanted: Vec<(Transition, String, Vec<i64>, String)> = settled
            .iter()
            .filter_map(|(g, id)| Some((g.wants?, id.clone(), g.seqs.clone(), g.name.clone())))
            .collect();
        let refused = self.run_workflow(doctype, wanted).await?;
        let done: Vec<Synced> = settled
            .into_iter()
            .map(|(g, id)| Synced {
                doctype: g.doctype,
                upto: if refused.contains(&g.name) { 0 } else { g.upto },
                link: Some(Link {
                    version: records.get(&id).and_then(|r| r.version.clone()),
                    children: self.children_after(doctype, &g.values, records.get(&id)),
                    remote_id: id,
                    hash: g.hash,
                    inactive: false,
                }),
                name: g.name,
            })
            .collect();
        tracing::info!(doctype, records = done.len(), "pushed");
        self.on_store(move |s| s.sync_done(&done)).await
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
    async fn park_ambiguous(&self, doctype: &str, g: &Group, n: usize) -> Result<(), SyncError> {
        let (map, _) = self.parts(doctype)?;
        let message = format!(
            "the head office has {n} {} records whose {} is {:?}; make it unique there or here",
            map.model,
            map.key_field(),
            g.key
        );
        tracing::warn!(doctype, name = %g.name, "{message}");
        self.park(g.seqs.clone(), message).await
    }

    /// Parks outbox entries the head office refused, with its words.
    pub(super) async fn park(&self, seqs: Vec<i64>, message: String) -> Result<(), SyncError> {
        self.on_store(move |s| s.outbox_park(&seqs, &message)).await
    }
}
