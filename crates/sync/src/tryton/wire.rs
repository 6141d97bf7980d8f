//! Tryton's JSON-RPC on the wire: its answers and errors classified for the
//! worker, its integer ids as the worker's text, its datetime and Decimal
//! objects as Outpost's values.

use serde_json::{json, Value};

use crate::connector::{ErrorClass, SyncError};

/// Tryton's ids are integers; the worker keeps them as text.
pub(super) fn int_id(id: &str) -> Result<i64, SyncError> {
    id.parse().map_err(|_| {
        SyncError::new(
            ErrorClass::Rejected,
            format!("{id:?} is not a Tryton record id"),
        )
    })
}

pub(super) fn int_ids(ids: &[String]) -> Result<Vec<i64>, SyncError> {
    ids.iter().map(|i| int_id(i)).collect()
}

/// Tryton's list of integer ids as the worker keeps them.
pub(super) fn text_ids(ids: &Value) -> Vec<String> {
    ids.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_i64)
                .map(|i| i.to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a JSON-RPC answer: the result, or the error classified.
pub(super) fn envelope(status: u16, body: Vec<u8>) -> Result<Value, SyncError> {
    match status {
        200 => {}
        401 | 403 => {
            return Err(SyncError::new(
                ErrorClass::Auth,
                format!("Tryton refused the session or the user's rights (HTTP {status})"),
            ))
        }
        408 | 429 | 500..=599 => {
            return Err(SyncError::new(
                ErrorClass::Retryable,
                format!("Tryton is busy or failing (HTTP {status}); will try again"),
            ))
        }
        _ => {
            return Err(SyncError::new(
                ErrorClass::Rejected,
                format!(
                    "Tryton refused the request (HTTP {status}): {}",
                    html_text(&body)
                ),
            ))
        }
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        SyncError::new(
            ErrorClass::Retryable,
            format!("Tryton's answer is not JSON ({e}); the link may have cut it"),
        )
    })?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let kind = err.get(0).and_then(Value::as_str).unwrap_or_default();
        let detail = &err[1];
        let message = match detail {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": "),
            _ => String::new(),
        };
        let class = match kind {
            "ConcurrencyException" => ErrorClass::Conflict,
            "LoginException" => ErrorClass::Auth,
            _ => ErrorClass::Rejected,
        };
        let message = if message.is_empty() {
            format!("Tryton: {kind}")
        } else if kind == "UserError" {
            format!("Tryton: {message}")
        } else {
            format!("Tryton: {kind}: {message}")
        };
        return Err(SyncError::new(class, message));
    }
    Ok(v.get("result").cloned().unwrap_or(Value::Null))
}

/// The text of a small HTML error page (`<p>Missing context argument</p>`).
fn html_text(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// A Tryton datetime object as sortable text: `2026-11-21 10:17:31.370385`.
pub(super) fn datetime_text(v: &Value) -> Option<String> {
    if v.get("__class__")?.as_str()? != "datetime" {
        return None;
    }
    let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        n("year"),
        n("month"),
        n("day"),
        n("hour"),
        n("minute"),
        n("second"),
        n("microsecond")
    ))
}

/// The text form back to Tryton's datetime object.
pub(super) fn datetime_value(text: &str) -> Option<Value> {
    let (date, time) = text.split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, micro) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    Some(
        json!({"__class__": "datetime", "year": year, "month": month, "day": day,
        "hour": hour, "minute": minute, "second": second,
        "microsecond": micro.parse::<i64>().ok()?}),
    )
}

/// Tryton's JSON values as Outpost's: Decimals become numbers.
pub(super) fn from_tryton(v: &Value) -> Value {
    match v.get("__class__").and_then(Value::as_str) {
        Some("Decimal") => v["decimal"]
            .as_str()
            .and_then(|d| d.parse::<f64>().ok())
            .map(|f| json!(f))
            .unwrap_or(Value::Null),
        Some("datetime") => datetime_text(v).map(Value::String).unwrap_or(Value::Null),
        Some("date") => {
            let n = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
            json!(format!(
                "{:04}-{:02}-{:02}",
                n("year"),
                n("month"),
                n("day")
            ))
        }
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_through_the_sortable_text() {
        let v = json!({"__class__":"datetime","year":2026,"month":11,"day":21,"hour":10,"minute":17,"second":31,"microsecond":370385});
        let t = datetime_text(&v).unwrap();
        assert_eq!(t, "2026-11-21 10:17:31.370385");
        assert_eq!(datetime_value(&t).unwrap(), v);
    }

    #[test]
    fn errors_are_classified_as_the_worker_needs() {
        let class = |status: u16, body: &str| {
            envelope(status, body.as_bytes().to_vec())
                .unwrap_err()
                .class
        };
        assert_eq!(
            class(
                200,
                r#"{"id":3,"error":["ConcurrencyException","Records were modified in the meanwhile"]}"#
            ),
            ErrorClass::Conflict
        );
        let e = envelope(
            200,
            br#"{"id":2,"error":["UserError",["The code on party must be unique.","",null]]}"#
                .to_vec(),
        )
        .unwrap_err();
        assert_eq!(e.class, ErrorClass::Rejected);
        assert_eq!(e.message, "Tryton: The code on party must be unique.");
        assert_eq!(class(401, ""), ErrorClass::Auth);
        assert_eq!(class(403, "<p>Forbidden</p>"), ErrorClass::Auth);
        assert_eq!(class(408, ""), ErrorClass::Retryable);
        assert_eq!(
            class(200, r#"{"id":1,"error":["LoginException",["x","y"]]}"#),
            ErrorClass::Auth
        );
        assert_eq!(class(503, "database is locked"), ErrorClass::Retryable);
        assert_eq!(class(429, "<p>Try again later.</p>"), ErrorClass::Retryable);
        let e = envelope(
            422,
            b"<html><p>Missing context argument</p></html>".to_vec(),
        )
        .unwrap_err();
        assert_eq!(
            (e.class, e.message.contains("Missing context argument")),
            (ErrorClass::Rejected, true)
        );
        assert_eq!(class(200, "{\"id\":1,\"res"), ErrorClass::Retryable);
        assert_eq!(
            envelope(200, br#"{"id":1,"result":[1,2]}"#.to_vec()).unwrap(),
            json!([1, 2])
        );
    }

    #[test]
    fn decimals_become_numbers() {
        assert_eq!(
            from_tryton(&json!({"__class__":"Decimal","decimal":"31.50"})),
            json!(31.5)
        );
    }
}
