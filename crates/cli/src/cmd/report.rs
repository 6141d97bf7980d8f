//! `outpost db report`: a report run on the master (the `report` op), a
//! built-in one by name or one made of flags, printed as a table or CSV.

use outpost_api::{ApiError, Db, Op};
use outpost_store::report::{
    BuiltinReport, DateBucket, LastDays, Measure, ReportResult, ReportSpec,
};
use serde_json::Value;

use crate::cli::ReportOpts;
use crate::output::CliError;

pub async fn run(db: &dyn Db, o: ReportOpts) -> Result<(), CliError> {
    if o.list {
        for b in builtins(db).await? {
            println!("{:<16} {}", b.name, b.description);
        }
        return Ok(());
    }
    let spec = spec_of(db, &o).await?;
    let answer = db
        .run(Op::Report(spec))
        .await
        .map_err(|error| CliError::Api {
            error,
            query: o.filter.clone(),
        })?;
    let result: ReportResult = serde_json::from_value(answer).map_err(|e| {
        ApiError::bad_request(format!(
            "the master sent a report this outpost cannot read: {e}"
        ))
    })?;
    let text = if o.csv { csv(&result) } else { table(&result) };
    print!("{text}");
    if result.truncated && !o.csv {
        eprintln!(
            "(more groups matched than the {} printed; raise --limit to see more)",
            result.rows.len()
        );
    }
    Ok(())
}

async fn builtins(db: &dyn Db) -> Result<Vec<BuiltinReport>, CliError> {
    let list = db.run(Op::ReportBuiltins).await?;
    serde_json::from_value(list).map_err(|e| {
        ApiError::bad_request(format!(
            "the master sent built-in reports this outpost cannot read: {e}"
        ))
        .into()
    })
}

/// The spec the flags ask for: a built-in's, changed by any flag given.
async fn spec_of(db: &dyn Db, o: &ReportOpts) -> Result<ReportSpec, CliError> {
    let mut spec = match (&o.builtin, &o.doctype) {
        (Some(name), _) => {
            let all = builtins(db).await?;
            match all.iter().find(|b| &b.name == name) {
                Some(b) => b.spec.clone(),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "there is no built-in report '{name}'; the built-ins are: {}",
                        all.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                    .into())
                }
            }
        }
        (None, Some(doctype)) => ReportSpec::count_of(doctype),
        (None, None) => {
            return Err(ApiError::bad_request(
                "name the doctype to report on (outpost db report Sale --group party) or a built-in (--builtin NAME; --list shows them)",
            )
            .into())
        }
    };
    if let (Some(_), Some(doctype)) = (&o.builtin, &o.doctype) {
        spec.doctype = doctype.clone();
    }
    if o.parent.is_some() {
        spec.parent = o.parent.clone();
    }
    if o.group.is_some() {
        spec.group_by = o.group.clone();
    }
    if let Some(b) = &o.by {
        spec.bucket = DateBucket::parse(b);
    }
    if !o.measure.is_empty() {
        spec.measures = o
            .measure
            .iter()
            .map(|m| {
                Measure::parse(m).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'{m}' is not a measure; write count, sum:FIELD or avg:FIELD"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if o.filter.is_some() {
        spec.filter = o.filter.clone();
    }
    if o.parent_filter.is_some() {
        spec.parent_filter = o.parent_filter.clone();
    }
    if let (Some(days), Some(field)) = (o.last_days, &o.date_field) {
        spec.last_days = Some(LastDays {
            field: field.clone(),
            days,
            today: None,
        });
    }
    if o.order.is_some() {
        spec.order_by = o.order.clone();
    }
    if o.desc {
        spec.desc = true;
    }
    if o.limit.is_some() {
        spec.limit = o.limit;
    }
    Ok(spec)
}

/// A cell as text: strings bare, numbers as JSON writes them, nothing
/// for null.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plain table: labels on top, numbers right-aligned.
pub fn table(r: &ReportResult) -> String {
    let cells: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| row.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = r
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([c.label.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..r.columns.len())
        .map(|i| {
            !r.rows.is_empty()
                && r.rows
                    .iter()
                    .all(|row| row[i].is_number() || row[i].is_null())
        })
        .collect();
    let line = |row: Vec<&str>| {
        let parts: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if numeric[i] {
                    format!("{s:>w$}", w = widths[i])
                } else {
                    format!("{s:<w$}", w = widths[i])
                }
            })
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(r.columns.iter().map(|c| c.label.as_str()).collect());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// CSV (RFC 4180): a header of labels, then one line per group; a field
/// with a comma, quote or line break is quoted, its quotes doubled.
pub fn csv(r: &ReportResult) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = String::new();
    let header: Vec<String> = r.columns.iter().map(|c| field(&c.label)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &r.rows {
        let line: Vec<String> = row.iter().map(|v| field(&cell(v))).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_store::report::{ColumnKind, ReportColumn};
    use serde_json::json;

    fn result() -> ReportResult {
        let col = |key: &str, label: &str, kind| ReportColumn {
            key: key.into(),
            label: label.into(),
            kind,
        };
        ReportResult {
            columns: vec![
                col("group", "Party", ColumnKind::Group),
                col("title", "Party Name", ColumnKind::Title),
                col("sum(total)", "Sum of Total", ColumnKind::Measure),
            ],
            rows: vec![
                vec![json!("p1"), json!("Acme, \"the\" best"), json!(12.5)],
                vec![json!("p2"), Value::Null, json!(3)],
            ],
            truncated: false,
        }
    }

    #[test]
    fn csv_quotes_commas_and_quotes() {
        assert_eq!(
            csv(&result()),
            "Party,Party Name,Sum of Total\r\np1,\"Acme, \"\"the\"\" best\",12.5\r\np2,,3\r\n"
        );
    }

    #[test]
    fn a_table_right_aligns_numbers() {
        let t = table(&result());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Party  Party Name        Sum of Total");
        assert!(lines[2].ends_with("           3"), "{t}");
    }
}
