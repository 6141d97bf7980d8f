//! Deletions at the head office leave no trace in a pull: now and then the
//! remote id set is compared with the linked records.

use super::*;

impl Worker {
    pub(super) async fn reconcile(&mut self, doctype: &str) -> Result<(), SyncError> {
        let linked = {
            let doctype = doctype.to_string();
            self.on_store(move |s| s.sync_remote_ids(&doctype)).await?
        };
        if linked.is_empty() {
            return Ok(());
        }
        let remote: HashSet<String> = self.connector.ids(doctype).await?.into_iter().collect();
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
        Ok(())
    }
}
