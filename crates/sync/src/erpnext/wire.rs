//! Frappe's REST answers on the wire: the JSON, or the error classified
//! with the server's own words; query values encoded.

use serde_json::Value;

use crate::connector::{ErrorClass, SyncError};

/// A key value as text (names and codes; numbers as written).
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Percent-encodes a query value or path segment.
pub(super) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Reads a Frappe answer: the JSON, or the error classified with the
/// server's own message.
pub fn answer(status: u16, body: &[u8]) -> Result<Value, SyncError> {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return v.ok_or_else(|| {
            SyncError::new(
                ErrorClass::Retryable,
                "ERPNext's answer is not JSON; the link may have cut it",
            )
        });
    }
    let exc_type = v
        .as_ref()
        .and_then(|v| v["exc_type"].as_str())
        .unwrap_or_default()
        .to_string();
    let message = v.as_ref().map(server_message).unwrap_or_default();
    let message = if message.is_empty() {
        format!(
            "ERPNext answered HTTP {status}{}",
            if exc_type.is_empty() {
                String::new()
            } else {
                format!(" ({exc_type})")
            }
        )
    } else {
        format!("ERPNext: {message}")
    };
    let class = match (status, exc_type.as_str()) {
        (_, "TimestampMismatchError") => ErrorClass::Conflict,
        (401, _) | (403, _) | (_, "AuthenticationError") | (_, "PermissionError") => {
            ErrorClass::Auth
        }
        (408 | 429, _) | (500..=599, _) => ErrorClass::Retryable,
        _ => ErrorClass::Rejected,
    };
    Err(SyncError::new(class, message))
}

/// The words Frappe meant for a person: `_server_messages` (a JSON list of
/// JSON objects with `message`, as text), else `exception`, else `message`.
fn server_message(v: &Value) -> String {
    if let Some(list) = v["_server_messages"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
    {
        let texts: Vec<String> = list
            .iter()
            .filter_map(|m| {
                serde_json::from_str::<Value>(m)
                    .ok()
                    .and_then(|m| m["message"].as_str().map(strip_tags))
            })
            .collect();
        if !texts.is_empty() {
            return texts.join("; ");
        }
    }
    if let Some(e) = v["exception"].as_str() {
        // "frappe.exceptions.X: words" → "words"
        return strip_tags(e.split_once(": ").map_or(e, |(_, w)| w));
    }
    v["message"].as_str().map(strip_tags).unwrap_or_default()
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frappe_errors_are_classified_with_their_words() {
        let err = |status: u16, body: &str| answer(status, body.as_bytes()).unwrap_err();
        let stale = err(
            417,
            r#"{"exc_type":"TimestampMismatchError","exception":"frappe.exceptions.TimestampMismatchError: Error: Document has been modified after you have opened it (2026-11-21 10:00:00.000001, 2026-11-21 10:05:00.000002). Please refresh to get the latest document.","_server_messages":"[\"{\\\"message\\\": \\\"Error: Document has been modified after you have opened it (2026-11-21 10:00:00.000001, 2026-11-21 10:05:00.000002). Please refresh to get the latest document.\\\", \\\"title\\\": \\\"Message\\\", \\\"indicator\\\": \\\"red\\\", \\\"raise_exception\\\": 1}\"]"}"#,
        );
        assert_eq!(stale.class, ErrorClass::Conflict);
        assert!(
            stale
                .message
                .starts_with("ERPNext: Error: Document has been modified"),
            "{}",
            stale.message
        );
        let dup = err(
            409,
            r#"{"exc_type":"DuplicateEntryError","exception":"frappe.exceptions.DuplicateEntryError: ('Item', 'T-1', IntegrityError(1062, \"Duplicate entry 'T-1' for key 'PRIMARY'\"))"}"#,
        );
        assert_eq!(dup.class, ErrorClass::Rejected);
        assert!(dup.message.contains("T-1"), "{}", dup.message);
        let mandatory = err(
            417,
            r#"{"exc_type":"MandatoryError","_server_messages":"[\"{\\\"message\\\": \\\"Error: Value missing for Item: <strong>Item Group</strong>\\\"}\"]"}"#,
        );
        assert_eq!(mandatory.class, ErrorClass::Rejected);
        assert_eq!(
            mandatory.message,
            "ERPNext: Error: Value missing for Item: Item Group"
        );
        assert_eq!(
            err(401, r#"{"exc_type":"AuthenticationError"}"#).class,
            ErrorClass::Auth
        );
        assert_eq!(err(403, "<html>Forbidden</html>").class, ErrorClass::Auth);
        assert_eq!(err(502, "Bad Gateway").class, ErrorClass::Retryable);
        assert_eq!(err(429, "").class, ErrorClass::Retryable);
        assert_eq!(
            err(404, r#"{"exc_type":"DoesNotExistError"}"#).class,
            ErrorClass::Rejected
        );
        assert_eq!(
            answer(200, b"{\"data\":[").unwrap_err().class,
            ErrorClass::Retryable
        );
    }
}
