//! Store errors as protocol errors: a code, the store's own words, details.

use outpost_store::query::QueryError;
use outpost_store::StoreError;
use serde_json::json;

use crate::protocol::{ApiError, ErrorCode};

pub fn from_store(e: StoreError) -> ApiError {
    let message = e.to_string();
    match e {
        StoreError::Field {
            doctype,
            field,
            problem,
            ..
        } => ApiError::new(ErrorCode::BadRequest, message).with_details(json!({
            "reason": problem.as_str(), "doctype": doctype, "field": field
        })),
        StoreError::BadRequest(_) | StoreError::RequestIdReused(_) => {
            ApiError::new(ErrorCode::BadRequest, message)
        }
        StoreError::NotFound { doctype, name } => ApiError::new(ErrorCode::NotFound, message)
            .with_details(json!({"doctype": doctype, "name": name})),
        StoreError::Deleted { doctype, name } => ApiError::new(ErrorCode::NotFound, message)
            .with_details(json!({"reason": "deleted", "doctype": doctype, "name": name})),
        StoreError::UnknownDoctype(d) => ApiError::new(ErrorCode::NotFound, message)
            .with_details(json!({"reason": "unknown_doctype", "doctype": d})),
        StoreError::Conflict {
            yours,
            current_rev,
            current,
            ..
        } => ApiError::new(ErrorCode::Conflict, message).with_details(json!({
            "reason": "stale_rev", "yours": yours, "current_rev": current_rev, "current": current
        })),
        StoreError::InUse {
            used_by_doctype,
            used_by_name,
            field,
            ..
        } => ApiError::new(ErrorCode::Conflict, message).with_details(json!({
            "reason": "in_use", "used_by_doctype": used_by_doctype,
            "used_by_name": used_by_name, "field": field
        })),
        StoreError::Query(QueryError::Syntax(s)) => ApiError::new(ErrorCode::BadRequest, message)
            .with_details(json!({
                "reason": "syntax", "position": s.position, "path": s.path,
                "expected": s.expected, "found": s.found
            })),
        StoreError::Query(QueryError::UnknownField { field, .. }) => {
            ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "unknown_field", "field": field}))
        }
        StoreError::Query(_) => ApiError::new(ErrorCode::BadRequest, message)
            .with_details(json!({"reason": "bad_query"})),
        // Asking again would run into the same wall: the clerk is to ask
        // for less, so it is a bad request, with the limit in the details.
        StoreError::TooSlow { limit } => ApiError::new(ErrorCode::BadRequest, message)
            .with_details(json!({"reason": "too_slow", "limit_ms": limit.as_millis() as u64})),
        StoreError::ImportStopped(out) => ApiError::new(ErrorCode::BadRequest, message)
            .with_details(json!({"reason": "import_stopped", "imported": 0, "good": out.imported, "errors": out.errors})),
        StoreError::Closed | StoreError::Busy(_) => ApiError::new(ErrorCode::Unavailable, message),
        StoreError::CommitFailed(_) | StoreError::Damaged { .. } => {
            ApiError::new(ErrorCode::Internal, message)
        }
        StoreError::BadBackup { .. } => ApiError::new(ErrorCode::BadRequest, message),
        StoreError::FolderInUse { .. } | StoreError::BackupTarget { .. } => {
            ApiError::new(ErrorCode::Unavailable, message)
        }
        // The standby's own calls; a slave never sees them, but a standby
        // that does is told to try again once it is copied afresh.
        StoreError::SnapshotNeeded { .. }
        | StoreError::ReplicaGap { .. }
        | StoreError::ReplicaDiverged { .. } => ApiError::new(ErrorCode::Unavailable, message),
        StoreError::Migration(_)
        | StoreError::Definition { .. }
        | StoreError::Sqlite(_)
        | StoreError::Io(_) => ApiError::new(
            ErrorCode::Internal,
            format!("the office database failed: {message}"),
        ),
    }
}
