//! Reports: records counted and added up in SQL, grouped by a field (a
//! date field by day, week or month), for the Reports screen, the home
//! dashboard and `outpost db report`.
//!
//! - this file: what a report asks for ([`ReportSpec`]) and what it
//!   answers ([`ReportResult`]), with the limits that keep an answer small.
//! - `sql`: the spec checked against the schema and turned into one
//!   parameterised `SELECT ... GROUP BY` (a child doctype joined to its
//!   parent when asked); no text from a caller becomes SQL, only names
//!   resolved against the doctypes, quoted.
//! - `builtin`: the built-in reports, data read from `builtin.json`.
//!
//! The whole aggregation runs in SQLite on the master: only the groups
//! travel, never the rows they were made from.

mod builtin;
mod sql;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use builtin::{builtin_reports, BuiltinReport, ChartKind};
pub use sql::{compile_report, report_doctypes, CompiledReport};

/// Most groups one report answers; the default when a spec gives none.
/// A chart or a table past a few hundred bars is unreadable, and a
/// grouping by a near-unique field (a record's name) is a mistake to
/// answer with a clear error, not a million rows.
pub const MAX_REPORT_ROWS: u32 = 1000;
pub const DEFAULT_REPORT_ROWS: u32 = 100;
/// Most measures one report computes.
pub const MAX_MEASURES: usize = 8;
/// Longest window `last_days` may ask for (ten years).
pub const MAX_LAST_DAYS: u32 = 3660;
/// How a field of the parent is named in a report on a child doctype:
/// `parent.sale_date`.
pub const PARENT_PREFIX: &str = "parent.";

/// One report: which records (a doctype, optionally joined to its parent,
/// filtered), grouped by what, measured how, in which order, how many
/// groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    pub doctype: String,
    /// For a child doctype: its parent doctype, joined so the report can
    /// group and filter by the parent's fields (`parent.FIELD`). Needs
    /// the read right on both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub parent: Option<String>,
    /// The field to group by (`parent.FIELD` for the parent's); none: one
    /// row over all matching records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub group_by: Option<String>,
    /// For a date or datetime group field: its day, week (the Monday) or
    /// month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub bucket: Option<DateBucket>,
    /// What each group shows; none: the count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<Measure>>"))]
    pub measures: Vec<Measure>,
    /// A filter on the doctype's records, in the query language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub filter: Option<String>,
    /// A filter on the parent records (with `parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub parent_filter: Option<String>,
    /// Only the records whose date field falls in the last N days,
    /// today included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub last_days: Option<LastDays>,
    /// The column to order by: `group` or a measure's key (`sum(amount)`);
    /// default: the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub order_by: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub desc: bool,
    /// Most groups to answer (default 100, at most 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit: Option<u32>,
}

impl ReportSpec {
    /// A report counting the records of `doctype`, nothing else set.
    pub fn count_of(doctype: &str) -> ReportSpec {
        ReportSpec {
            doctype: doctype.to_string(),
            parent: None,
            group_by: None,
            bucket: None,
            measures: vec![],
            filter: None,
            parent_filter: None,
            last_days: None,
            order_by: None,
            desc: false,
            limit: None,
        }
    }
}

/// How a date groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum DateBucket {
    /// `2026-12-03`
    Day,
    /// The week's Monday: `2026-11-30`.
    Week,
    /// `2026-12`
    Month,
}

impl DateBucket {
    pub fn parse(s: &str) -> Option<DateBucket> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Some(DateBucket::Day),
            "week" => Some(DateBucket::Week),
            "month" => Some(DateBucket::Month),
            _ => None,
        }
    }
}

/// What to compute per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum MeasureOp {
    Count,
    Sum,
    Avg,
}

/// A measure: `count`, or the sum or average of a numeric field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub op: MeasureOp,
    /// The numeric field (`parent.FIELD` for the parent's); none for count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub field: Option<String>,
}

impl Measure {
    pub const COUNT: Measure = Measure {
        op: MeasureOp::Count,
        field: None,
    };

    /// Reads `count`, `sum:FIELD` or `avg:FIELD` (as the CLI takes it).
    pub fn parse(s: &str) -> Option<Measure> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("count") {
            return Some(Measure::COUNT);
        }
        let (op, field) = s.split_once(':')?;
        let op = match op.trim().to_ascii_lowercase().as_str() {
            "sum" => MeasureOp::Sum,
            "avg" => MeasureOp::Avg,
            _ => return None,
        };
        let field = field.trim();
        (!field.is_empty()).then(|| Measure {
            op,
            field: Some(field.to_string()),
        })
    }

    /// The result column's key: `count`, `sum(amount)`, `avg(parent.total)`.
    pub fn key(&self) -> String {
        match (&self.op, &self.field) {
            (MeasureOp::Count, _) => "count".into(),
            (MeasureOp::Sum, Some(f)) => format!("sum({f})"),
            (MeasureOp::Avg, Some(f)) => format!("avg({f})"),
            (op, None) => format!("{op:?}").to_ascii_lowercase(),
        }
    }
}

/// Records whose `field` (a date or datetime; `parent.FIELD` for the
/// parent's) is within the last `days` days, today included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LastDays {
    pub field: String,
    pub days: u32,
    /// The last day (`YYYY-MM-DD`): the caller's today, as its clock and
    /// time zone say; the master's date (UTC) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub today: Option<String>,
}

/// What kind of values a result column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// The group's value (text, a date, a number, a check).
    Group,
    /// A measure: a number.
    Measure,
    /// The title of the group's record, beside a link (a party's name
    /// beside its id).
    Title,
}

/// One column of a report's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReportColumn {
    /// `group`, or the measure's key (`count`, `sum(amount)`).
    pub key: String,
    /// In words: the field's label, `Count`, `Sum of Amount`.
    pub label: String,
    pub kind: ColumnKind,
}

/// A report's answer: its columns, and one row per group (values in
/// column order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReportResult {
    pub columns: Vec<ReportColumn>,
    #[cfg_attr(
        feature = "ts",
        ts(type = "Array<Array<string | number | boolean | null>>")
    )]
    pub rows: Vec<Vec<Value>>,
    /// More groups matched than the limit let through.
    pub truncated: bool,
}

impl crate::store::Store {
    /// Runs `spec` on a reader; `today` ends a `last_days` window that
    /// names no day of its own.
    pub fn report(&self, spec: &ReportSpec, today: time::Date) -> crate::Result<ReportResult> {
        let c = compile_report(&self.schema(), spec, today)?;
        tracing::debug!(doctype = %spec.doctype, sql = %c.sql, "report");
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&c.sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(c.params.iter()))?;
            let mut out = Vec::new();
            let mut truncated = false;
            while let Some(row) = rows.next()? {
                if out.len() == c.limit as usize {
                    truncated = true;
                    break;
                }
                let mut values = Vec::with_capacity(c.types.len());
                for (i, ty) in c.types.iter().enumerate() {
                    values.push(crate::values::to_json(*ty, row.get_ref(i)?));
                }
                out.push(values);
            }
            Ok(ReportResult {
                columns: c.columns.clone(),
                rows: out,
                truncated,
            })
        })
    }
}

/// Today on this machine's clock, in UTC: the end of a `last_days`
/// window whose caller named no day.
pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
