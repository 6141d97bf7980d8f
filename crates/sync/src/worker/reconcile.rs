//! Deletions at the head office leave no trace in a pull: now and then the
//! remote id set is compared with the linked records.

use super::*;

impl Worker {
    /// Pulls `doctype` and compares its remote id set with the records
    /// linked before the pull, reading that set while the pull runs.
    ///
    /// Linked before the pull is what makes the overlap safe: a record the
    /// head office made after the id set was read, and this pull brought,
    /// is not among them, so it is never taken for deleted. One linked
    /// before and missing from the set was deleted there before the set was
    /// read: no pull can bring it back.
    ///
    /// A pull that fails is the error; an id set that could not be read is
    /// the `Some` answer, so the caller can pull the other doctypes first.
    pub(super) async fn pull_and_reconcile(
        &mut self,
        doctype: &str,
    ) -> Result<Option<SyncError>, SyncError> {
        let linked = {
            let doctype = doctype.to_string();
            self.on_store(move |s| s.sync_remote_ids(&doctype)).await?
        };
        if linked.is_empty() {
            return self.pull(doctype).await.map(|()| None);
        }
        // Its own handle: the pull borrows the worker meanwhile.
        let connector = self.connector.clone();
        let (pulled, remote) = tokio::join!(self.pull(doctype), connector.ids(doctype));
        pulled?;
        let remote: HashSet<String> = match remote {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => return Ok(Some(e)),
        };
        let vanished: Vec<PulledRecord> = linked
            .iter()
            .filter(|id| !remote.contains(*id))
            .map(|id| gone(id))
            .collect();
        if !vanished.is_empty() {
            tracing::info!(
                doctype,
                records = vanished.len(),
                "records deleted at the head office"
            );
            self.apply(doctype, vanished, None).await?;
        }
        Ok(None)
    }
}
