//! Sending a round: creates and writes in batches, the creates two at a
//! time; a refused batch split until the refused record is alone.

use futures_util::future::join_all;

use super::*;

/// Create batches sent at once.
pub(super) const CREATES_IN_FLIGHT: usize = 2;

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

impl Worker {
    /// Creates in batches; a refused batch is split until the refused
    /// record is alone, and that one is parked (or, when the remote already
    /// has its key, handled as a conflict).
    pub(super) async fn create_split(
        &mut self,
        doctype: &str,
        groups: Vec<Group>,
        settled: &mut Vec<(Group, String)>,
    ) -> Result<(), SyncError> {
        let size = (self.config.batch_size as usize).min(self.connector.max_batch());
        let mut queue = batches(groups, size);
        while !queue.is_empty() {
            // Up to CREATES_IN_FLIGHT batches at once: on a slow link the
            // second batch's round trip overlaps the first's. The answers
            // are taken in order, as one at a time would.
            let round: Vec<Vec<Group>> =
                (0..CREATES_IN_FLIGHT).map_while(|_| queue.pop()).collect();
            let values: Vec<Vec<Map<String, Value>>> = round
                .iter()
                .map(|chunk| chunk.iter().map(|g| g.send.clone()).collect())
                .collect();
            let answers = join_all(values.iter().map(|v| self.connector.create(doctype, v))).await;
            let mut failed = None;
            // Split halves go back on the stack in reverse, so the first
            // one sent comes off first.
            let mut again = Vec::new();
            for (chunk, answer) in round.into_iter().zip(answers) {
                if failed.is_some() {
                    break;
                }
                match self.create_answer(doctype, chunk, answer, settled).await {
                    Ok(halves) => again.extend(halves),
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            queue.extend(again.into_iter().rev());
        }
        Ok(())
    }

    /// One batch's answer: its ids, or the halves to send again when it was
    /// refused, or (a single refused record) a conflict or a parked record.
    async fn create_answer(
        &mut self,
        doctype: &str,
        mut chunk: Vec<Group>,
        answer: Result<Vec<String>, SyncError>,
        settled: &mut Vec<(Group, String)>,
    ) -> Result<Vec<Vec<Group>>, SyncError> {
        match answer {
            Ok(ids) => settled.extend(chunk.into_iter().zip(ids)),
            Err(e) if e.class == ErrorClass::Rejected && chunk.len() > 1 => {
                let second = chunk.split_off(chunk.len() / 2);
                return Ok(vec![chunk, second]);
            }
            Err(e) if e.class == ErrorClass::Rejected => {
                let g = chunk.remove(0);
                let found = self
                    .connector
                    .lookup(doctype, std::slice::from_ref(&g.key))
                    .await?;
                if found.len() > 1 {
                    self.park_ambiguous(doctype, &g, found.len()).await?;
                } else if let Some(r) = found.first() {
                    // Made at the head office too: a create/create
                    // conflict, settled by the doctype's policy.
                    let pulled = self.pulled(doctype, r)?;
                    self.apply(doctype, vec![pulled], None).await?;
                } else {
                    tracing::warn!(doctype, name = %g.name, error = %e, "refused upstream; parked");
                    self.park(g.seqs.clone(), e.message.clone()).await?;
                }
            }
            Err(e) => return Err(e),
        }
        Ok(Vec::new())
    }

    /// Writes in batches; a stale or refused batch is split down to the
    /// record. A stale record whose remote values are still the ones both
    /// sides agreed on is written again with the new version; otherwise it
    /// is a conflict for the policy.
    pub(super) async fn write_split(
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
                    let mut values = p.group.send.clone();
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
                        self.park(p.group.seqs.clone(), err.message.clone()).await?;
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
