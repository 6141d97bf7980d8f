//! Field values: JSON in, SQLite values out, and back.
//!
//! Input is strict: a number where text is expected is refused rather than
//! guessed at, so a clerk sees the mistake before it is stored. An empty
//! string counts as "not set", as it does in any form.

use rusqlite::types::{Value as Sql, ValueRef};
use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::doctype::{Doctype, Field, FieldType};
use crate::error::{FieldProblem, Result, StoreError};

/// Now, as stored in `modified`: UTC with milliseconds, so text order is time order.
pub fn now_utc() -> String {
    format_datetime(OffsetDateTime::now_utc())
}

/// The moment `days` days ago, in the form of [`now_utc`] (so it compares
/// with stored stamps as text).
pub fn utc_days_ago(days: i64) -> String {
    format_datetime(OffsetDateTime::now_utc() - time::Duration::days(days))
}

fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_default()
}

/// Parses a date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<String> {
    let fmt = format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt)
        .ok()
        .map(|d| d.format(&fmt).unwrap_or_default())
}

/// Parses RFC 3339 (any offset) or `YYYY-MM-DD HH:MM[:SS]` taken as UTC,
/// and returns the stored UTC form.
pub fn parse_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(format_datetime(t));
    }
    let plain = s.replace('T', " ");
    let with_secs = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let with_frac =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let no_secs = format_description!("[year]-[month]-[day] [hour]:[minute]");
    [with_frac, with_secs, no_secs]
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(&plain, f).ok())
        .map(|p| format_datetime(p.assume_utc()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn expects(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Data | FieldType::Text => "text",
        FieldType::Int => "a whole number",
        FieldType::Float | FieldType::Currency => "a number",
        FieldType::Date => "a date (YYYY-MM-DD)",
        FieldType::Datetime => "a date and time (YYYY-MM-DDTHH:MM:SSZ)",
        FieldType::Check => "true or false",
        FieldType::Select => "one of its options",
        FieldType::Link => "the name of a record",
        FieldType::Table => "a list of rows",
    }
}

/// Rounds to `places` decimals, half away from zero, on the number as
/// written (its shortest decimal form), not on its binary approximation:
/// 0.5 x 2.03 = 1.0149999... in binary, written 1.015, rounds to 1.02.
pub fn round_to(x: f64, places: u32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{}", x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let places = places as usize;
    if frac.len() <= places {
        return x;
    }
    let mut digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().take(places))
        .map(|b| b - b'0')
        .collect();
    if frac.as_bytes()[places] >= b'5' {
        // Carry the one upwards.
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, 1);
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let mut out: String = digits[..split].iter().map(|d| (b'0' + d) as char).collect();
    if places > 0 {
        out.push('.');
        out.extend(digits[split..].iter().map(|d| (b'0' + d) as char));
    }
    let v: f64 = out.parse().unwrap_or(x.abs());
    if x < 0.0 {
        -v
    } else {
        v
    }
}

/// Converts one input value for `field` into what is stored. Links are
/// checked for existence later, with the write's own connection.
pub fn to_sql(dt: &Doctype, field: &Field, v: &Value) -> Result<Sql> {
    let wrong = || {
        let shown = match v {
            Value::String(s) => format!("\"{s}\""),
            other => other.to_string(),
        };
        StoreError::field(
            &dt.name,
            &field.name,
            FieldProblem::WrongType,
            format!(
                "{}.{} expects {}, got {} ({})",
                dt.name,
                field.name,
                expects(field.ty),
                type_name(v),
                truncate(&shown, 60)
            ),
        )
    };
    if v.is_null() || v.as_str() == Some("") {
        return Ok(Sql::Null);
    }
    let out = match field.ty {
        FieldType::Data | FieldType::Text | FieldType::Link => {
            Sql::Text(v.as_str().ok_or_else(wrong)?.to_string())
        }
        FieldType::Select => {
            let s = v.as_str().ok_or_else(wrong)?;
            let opt = field
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    StoreError::field(
                        &dt.name,
                        &field.name,
                        FieldProblem::NotAnOption,
                        format!(
                            "{}.{} must be one of {}; got \"{}\"",
                            dt.name,
                            field.name,
                            field.options.join(", "),
                            truncate(s, 60)
                        ),
                    )
                })?;
            Sql::Text(opt.clone())
        }
        FieldType::Int => match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Sql::Integer(i),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Sql::Integer(f as i64),
                    _ => return Err(wrong()),
                },
            },
            _ => return Err(wrong()),
        },
        FieldType::Float | FieldType::Currency => {
            let f = v.as_f64().filter(|f| f.is_finite()).ok_or_else(wrong)?;
            Sql::Real(match field.precision() {
                Some(p) => round_to(f, p),
                None => f,
            })
        }
        FieldType::Check => match v {
            Value::Bool(b) => Sql::Integer(*b as i64),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Sql::Integer(n.as_i64().unwrap_or(0))
            }
            _ => return Err(wrong()),
        },
        FieldType::Date => Sql::Text(parse_date(v.as_str().ok_or_else(wrong)?).ok_or_else(wrong)?),
        FieldType::Datetime => {
            Sql::Text(parse_datetime(v.as_str().ok_or_else(wrong)?).ok_or_else(wrong)?)
        }
        FieldType::Table => return Err(wrong()),
    };
    Ok(out)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Reads a stored value back as JSON for `ty`. Tolerant of storage classes
/// left by older schema versions (an int column that became text ...).
pub fn to_json(ty: FieldType, v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match ty {
            FieldType::Check => Value::Bool(i != 0),
            FieldType::Data | FieldType::Text | FieldType::Select | FieldType::Link => {
                Value::String(i.to_string())
            }
            _ => Value::Number(i.into()),
        },
        ValueRef::Real(f) => match ty {
            FieldType::Data | FieldType::Text | FieldType::Select | FieldType::Link => {
                Value::String(f.to_string())
            }
            FieldType::Int if f.fract() == 0.0 => Value::Number((f as i64).into()),
            _ => Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        },
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => Value::Null,
    }
}

/// A stored value as JSON, for the values of `rusqlite::types::Value`.
pub fn sql_to_json(ty: FieldType, v: &Sql) -> Value {
    to_json(ty, ValueRef::from(v))
}

#[cfg(test)]
mod tests {
    use super::round_to;

    #[test]
    fn money_rounds_half_away_from_zero_on_the_written_number() {
        assert_eq!(round_to(0.5 * 2.03, 2), 1.02);
        assert_eq!(round_to(1.005, 2), 1.01);
        assert_eq!(round_to(2.675, 2), 2.68);
        assert_eq!(round_to(-2.675, 2), -2.68);
        assert_eq!(round_to(9.995, 2), 10.0);
        assert_eq!(round_to(99.5, 0), 100.0);
        assert_eq!(round_to(3.3, 2), 3.3);
        assert_eq!(round_to(0.1 + 0.2, 2), 0.3);
        assert_eq!(round_to(1e21, 2), 1e21);
        assert_eq!(round_to(7.0, 2), 7.0);
    }
}
