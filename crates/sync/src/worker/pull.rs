//! Pulling: pages of remote changes after the stored cursor, each applied
//! through the store's writer together with the cursor after it.

use super::*;

/// `YYYY-MM-DD HH:MM:SS.ffffff` minus `secs`.
pub(super) fn stamp_minus(stamp: &str, secs: u64) -> Option<String> {
    use time::macros::format_description;
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let t = time::PrimitiveDateTime::parse(stamp, &fmt).ok()? - Duration::from_secs(secs);
    let out =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");
    t.format(&out).ok()
}

impl Worker {
    pub(super) async fn pull(&mut self, doctype: &str) -> Result<(), SyncError> {
        let batch = self.config.page_size();
        let started = time::OffsetDateTime::now_utc();
        let stored = {
            let doctype = doctype.to_string();
            self.on_store(move |s| s.sync_cursor(&doctype)).await?
        };
        let rewound_key = format!("rewound:{doctype}");
        let mut rewound = false;
        let mut cur = match &stored {
            None => Cursor::default(),
            Some((stamp, id, moved_at)) => {
                // A transaction that began before the last record seen may
                // have committed after the pull that saw it: the overlap is
                // read again until a pull has run (to its end) at least
                // `overlap_seconds` after the cursor last moved.
                let rfc = &time::format_description::well_known::Rfc3339;
                let moved = time::OffsetDateTime::parse(moved_at, rfc).ok();
                let key = rewound_key.clone();
                let reread = self
                    .on_store(move |s| s.sync_state(&key))
                    .await?
                    .and_then(|t| time::OffsetDateTime::parse(&t, rfc).ok());
                let settled = match (moved, reread) {
                    (Some(m), Some(r)) => r >= m + Duration::from_secs(self.config.overlap_seconds),
                    _ => false,
                };
                match stamp_minus(stamp, self.config.overlap_seconds).filter(|_| !settled) {
                    Some(earlier) => {
                        rewound = true;
                        Cursor {
                            stamp: Some(earlier),
                            id: String::new(),
                        }
                    }
                    None => Cursor {
                        stamp: Some(stamp.clone()),
                        id: id.clone(),
                    },
                }
            }
        };
        loop {
            let page = self.connector.pull(doctype, &cur, batch).await?;
            let n = page.records.len();
            if n == 0 {
                break;
            }
            let records = page
                .records
                .iter()
                .map(|r| self.pulled(doctype, r))
                .collect::<Result<Vec<_>, _>>()?;
            let summary = self.apply(doctype, records, Some(&page.next)).await?;
            tracing::info!(doctype, records = n, summary = %summary, "pulled a page");
            if (n as u32) < batch {
                break;
            }
            cur = page.next;
        }
        if rewound {
            let at = started
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            self.on_store(move |s| s.set_sync_state(&[(&rewound_key, &at)]))
                .await?;
        }
        Ok(())
    }
}
