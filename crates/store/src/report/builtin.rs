//! The built-in reports: definitions in `builtin.json` (a name, words for
//! the Reports screen, the chart that suits them, and an ordinary
//! [`ReportSpec`]). They run through the same `report` op as any report
//! a person builds; nothing here is a code path of its own.

use serde::{Deserialize, Serialize};

use super::ReportSpec;

const BUILTIN_JSON: &str = include_str!("builtin.json");

/// How the Reports screen draws a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// One bar per group: parties, products, months.
    Bar,
    /// A line through the groups in order: days.
    Line,
}

/// A report that ships with Outpost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct BuiltinReport {
    /// What `outpost db report --builtin NAME` takes.
    pub name: String,
    pub title: String,
    pub description: String,
    pub chart: ChartKind,
    pub spec: ReportSpec,
}

/// The built-in reports, in the order the Reports screen lists them.
pub fn builtin_reports() -> Vec<BuiltinReport> {
    // Checked by the test below: a broken file never ships.
    serde_json::from_str(BUILTIN_JSON).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctype::Schema;
    use crate::report::compile_report;

    #[test]
    fn every_builtin_reads_and_compiles_against_the_starter_doctypes() {
        let parsed: Vec<BuiltinReport> = serde_json::from_str(BUILTIN_JSON).unwrap();
        assert_eq!(parsed, builtin_reports());
        let names: Vec<&str> = parsed.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sales_by_day",
                "sales_by_party",
                "top_products",
                "sales_by_month"
            ]
        );
        let today = time::Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
        for r in &parsed {
            compile_report(&Schema::starter(), &r.spec, today)
                .unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
    }
}
