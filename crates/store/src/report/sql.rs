//! A [`ReportSpec`] checked against the schema and written as one
//! parameterised `SELECT ... GROUP BY`.
//!
//! Every name in the spec (doctype, parent, fields) is looked up in the
//! schema and written quoted; every value (filter values, dates, the
//! limit) travels as a `?` parameter. The doctype's rows are `c`, the
//! parent's `p`:
//!
//! ```sql
//! SELECT substr(p."sale_date", 1, 7), count(*), round(total(c."amount"), 2)
//! FROM "tab Sale Line" c JOIN "tab Sale" p ON p.name = c.parent
//! WHERE c.deleted = 0 AND c.parenttype = ? AND p.deleted = 0 AND (...)
//! GROUP BY 1 ORDER BY 1 LIMIT ?
//! ```

use rusqlite::types::Value as Sql;
use time::{Date, Month};

use super::{
    ColumnKind, DateBucket, LastDays, MeasureOp, ReportColumn, ReportSpec, DEFAULT_REPORT_ROWS,
    MAX_LAST_DAYS, MAX_MEASURES, MAX_REPORT_ROWS, PARENT_PREFIX,
};
use crate::doctype::{Doctype, FieldType, Schema};
use crate::error::{Result, StoreError};
use crate::query::compile::{col, column_type, compile_condition};
use crate::query::{parse_text, QueryError};

/// A report ready to run: its SQL, parameters, the columns of its answer
/// and how to read each back.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledReport {
    pub sql: String,
    pub params: Vec<Sql>,
    pub columns: Vec<ReportColumn>,
    /// How each column's SQLite value reads as JSON.
    pub types: Vec<FieldType>,
    /// The most rows to answer (the SQL asks for one more, to tell the
    /// caller there were more).
    pub limit: u32,
}

/// Which side of the join a field is on.
struct Scope<'a> {
    dt: &'a Doctype,
    parent: Option<&'a Doctype>,
}

/// A field the spec names, found in the schema.
struct Resolved<'a> {
    /// `c."amount"` or `p."sale_date"`.
    sql: String,
    ty: FieldType,
    dt: &'a Doctype,
    name: String,
}

impl<'a> Resolved<'a> {
    fn label(&self) -> String {
        self.dt
            .field(&self.name)
            .and_then(|f| f.label.clone())
            .unwrap_or_else(|| self.name.clone())
    }

    fn is_date(&self) -> bool {
        matches!(self.ty, FieldType::Date | FieldType::Datetime)
    }
}

fn bad(msg: String) -> StoreError {
    StoreError::Query(QueryError::BadArgument(msg))
}

impl<'a> Scope<'a> {
    fn resolve(&self, field: &str) -> Result<Resolved<'a>> {
        let (alias, dt, name) = match field.strip_prefix(PARENT_PREFIX) {
            Some(name) => match self.parent {
                Some(p) => ("p.", p, name),
                None => {
                    return Err(bad(format!(
                        "'{field}' is a field of the parent record; name the parent doctype to join (e.g. Sale for Sale Line)"
                    )))
                }
            },
            None => ("c.", self.dt, field),
        };
        let ty = column_type(dt, name)?;
        Ok(Resolved {
            sql: format!("{alias}{}", col(name)),
            ty,
            dt,
            name: name.to_string(),
        })
    }
}

/// For a link field: the doctype it points to and that doctype's title
/// field (when it has one with a column).
fn title_of<'s>(
    schema: &'s Schema,
    f: &Resolved,
) -> Option<(&'s Doctype, &'s crate::doctype::Field)> {
    if f.ty != FieldType::Link {
        return None;
    }
    let target = schema.get(f.dt.field(&f.name)?.link.as_deref()?).ok()?;
    let title = target.field(target.title_field.as_deref()?)?;
    title.has_column().then_some((target, title))
}

/// Every doctype whose records `spec` reads: its doctype, the parent it
/// joins, and the doctype whose titles a link group shows. Whoever runs
/// the report needs the read right on each.
pub fn report_doctypes(schema: &Schema, spec: &ReportSpec) -> Vec<String> {
    let mut out = vec![spec.doctype.clone()];
    out.extend(spec.parent.clone());
    let (Ok(dt), Some(g)) = (schema.get(&spec.doctype), &spec.group_by) else {
        return out;
    };
    let parent = spec.parent.as_deref().and_then(|p| schema.get(p).ok());
    let scope = Scope { dt, parent };
    if let Ok(f) = scope.resolve(g) {
        if let (None, Some((target, _))) = (spec.bucket, title_of(schema, &f)) {
            if !out.contains(&target.name) {
                out.push(target.name.clone());
            }
        }
    }
    out
}

/// The date `days` days before `d`.
fn days_before(d: Date, days: u32) -> Date {
    d.checked_sub(time::Duration::days(days as i64))
        .unwrap_or(Date::MIN)
}

fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// Reads `YYYY-MM-DD`.
fn parse_ymd(s: &str) -> Option<Date> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// The group expression for `f` cut to `bucket`; dates and datetimes are
/// both stored as ISO text, so their first characters are the day.
fn bucket_sql(f: &Resolved, bucket: DateBucket) -> String {
    let day = format!("substr({}, 1, 10)", f.sql);
    match bucket {
        DateBucket::Day => day,
        DateBucket::Week => format!("date({day}, '-6 days', 'weekday 1')"),
        DateBucket::Month => format!("substr({}, 1, 7)", f.sql),
    }
}

/// Compiles `spec` against `schema`; `today` is the last day of a
/// `last_days` window that names none.
pub fn compile_report(schema: &Schema, spec: &ReportSpec, today: Date) -> Result<CompiledReport> {
    let dt = schema.get(&spec.doctype)?;
    let parent = match &spec.parent {
        None => None,
        Some(p) => {
            let pdt = schema.get(p)?;
            if !schema.parents_of(dt).iter().any(|x| x.name == pdt.name) {
                return Err(bad(format!(
                    "{p} holds no {} rows; a report joins a child doctype to the doctype whose table holds it (Sale Line to Sale)",
                    dt.name
                )));
            }
            Some(pdt)
        }
    };
    let scope = Scope { dt, parent };
    let mut select = Vec::new();
    let mut columns = Vec::new();
    let mut types = Vec::new();

    if let Some(g) = &spec.group_by {
        let f = scope.resolve(g)?;
        let (expr, ty, label) = match spec.bucket {
            Some(b) if f.is_date() => {
                let word = format!("{b:?}").to_ascii_lowercase();
                (
                    bucket_sql(&f, b),
                    FieldType::Data,
                    format!("{} ({word})", f.label()),
                )
            }
            Some(_) => {
                return Err(bad(format!(
                    "{g} is {}; only a date or datetime field groups by day, week or month",
                    f.ty.as_str()
                )))
            }
            None => (f.sql.clone(), f.ty, f.label()),
        };
        columns.push(ReportColumn {
            key: "group".into(),
            label,
            kind: ColumnKind::Group,
        });
        // A link holds the target's id: its title goes beside it.
        if let (None, Some((target, title))) = (spec.bucket, title_of(schema, &f)) {
            select.push(format!(
                "(SELECT t.{} FROM {} t WHERE t.name = {expr})",
                col(&title.name),
                target.table_name()
            ));
            types.push(title.ty);
            columns.push(ReportColumn {
                key: "title".into(),
                label: title.label.clone().unwrap_or_else(|| title.name.clone()),
                kind: ColumnKind::Title,
            });
        }
        select.insert(0, expr);
        types.insert(0, ty);
    } else if spec.bucket.is_some() {
        return Err(bad(
            "a bucket (day, week, month) needs a date field to group by".into(),
        ));
    }

    let measures = if spec.measures.is_empty() {
        vec![super::Measure::COUNT]
    } else {
        spec.measures.clone()
    };
    if measures.len() > MAX_MEASURES {
        return Err(bad(format!(
            "{} measures is too many; a report computes at most {MAX_MEASURES}",
            measures.len()
        )));
    }
    for m in &measures {
        let key = m.key();
        if columns.iter().any(|c| c.key == key) {
            return Err(bad(format!("the measure {key} is asked for twice")));
        }
        let (expr, label) = match (m.op, &m.field) {
            (MeasureOp::Count, None) => ("count(*)".to_string(), "Count".to_string()),
            (MeasureOp::Count, Some(f)) => {
                return Err(bad(format!(
                    "count counts records and takes no field (not '{f}')"
                )))
            }
            (_, None) => {
                return Err(bad(format!(
                    "{} needs a numeric field (e.g. {}:amount)",
                    m.key(),
                    m.key()
                )))
            }
            (op, Some(name)) => {
                let f = scope.resolve(name)?;
                if !f.ty.is_numeric() || f.ty == FieldType::Check {
                    return Err(bad(format!(
                        "cannot add up {name}: it is {}, not a number",
                        f.ty.as_str()
                    )));
                }
                let (func, word) = match op {
                    MeasureOp::Sum => ("total", "Sum"),
                    _ => ("avg", "Average"),
                };
                let raw = format!("{func}({})", f.sql);
                // Currency sums kept to the field's decimals: 0.1 + 0.2 is
                // 0.3 on a till, not 0.30000000000000004.
                let expr = match f.dt.field(&f.name).and_then(|x| x.precision()) {
                    Some(p) => format!("round({raw}, {p})"),
                    None => raw,
                };
                (expr, format!("{word} of {}", f.label()))
            }
        };
        select.push(expr);
        types.push(if m.op == MeasureOp::Count {
            FieldType::Int
        } else {
            FieldType::Float
        });
        columns.push(ReportColumn {
            key,
            label,
            kind: ColumnKind::Measure,
        });
    }

    // FROM and the live rows.
    let mut params = Vec::new();
    let mut conds = vec!["c.deleted = 0".to_string()];
    let mut from = format!("{} c", dt.table_name());
    match parent {
        Some(p) => {
            from.push_str(&format!(" JOIN {} p ON p.name = c.parent", p.table_name()));
            conds.push("c.parenttype = ?".into());
            params.push(Sql::Text(p.name.clone()));
            conds.push("p.deleted = 0".into());
        }
        None if dt.child => {
            // Only rows of live parents, as a query on the doctype sees.
            let alts: Vec<String> = schema
                .parents_of(dt)
                .iter()
                .map(|p| {
                    params.push(Sql::Text(p.name.clone()));
                    format!(
                        "(c.parenttype = ? AND EXISTS (SELECT 1 FROM {} x WHERE x.name = c.parent AND x.deleted = 0))",
                        p.table_name()
                    )
                })
                .collect();
            if !alts.is_empty() {
                conds.push(format!("({})", alts.join(" OR ")));
            }
        }
        None => {}
    }
    if let Some(text) = spec.filter.as_deref().filter(|t| !t.trim().is_empty()) {
        let expr = parse_text(text).map_err(QueryError::from)?;
        conds.push(compile_condition(dt, "c.", &expr, &mut params)?);
    }
    if let Some(text) = spec
        .parent_filter
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        let Some(p) = parent else {
            return Err(bad(
                "a parent filter needs the parent doctype to join (e.g. Sale for Sale Line)".into(),
            ));
        };
        let expr = parse_text(text).map_err(QueryError::from)?;
        conds.push(compile_condition(p, "p.", &expr, &mut params)?);
    }
    if let Some(window) = &spec.last_days {
        conds.push(last_days(&scope, window, today, &mut params)?);
    }

    let grouped = spec.group_by.is_some();
    let order = match spec.order_by.as_deref() {
        None if grouped => Some(1),
        None => None,
        Some(key) => match columns.iter().position(|c| c.key == key) {
            Some(i) => Some(i + 1),
            None => {
                return Err(bad(format!(
                    "cannot order by '{key}'; order by one of the report's columns: {}",
                    columns
                        .iter()
                        .map(|c| c.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        },
    };
    let limit = spec.limit.unwrap_or(DEFAULT_REPORT_ROWS);
    if limit == 0 || limit > MAX_REPORT_ROWS {
        return Err(bad(format!(
            "a report answers 1 to {MAX_REPORT_ROWS} groups; {limit} was asked for"
        )));
    }

    let mut sql = format!(
        "SELECT {} FROM {from} WHERE {}",
        select.join(", "),
        conds.join(" AND ")
    );
    if grouped {
        sql.push_str(" GROUP BY 1");
    }
    if let Some(i) = order {
        sql.push_str(&format!(
            " ORDER BY {i}{}",
            if spec.desc { " DESC" } else { "" }
        ));
    }
    sql.push_str(" LIMIT ?");
    params.push(Sql::Integer(limit as i64 + 1));
    Ok(CompiledReport {
        sql,
        params,
        columns,
        types,
        limit,
    })
}

/// The condition of a `last_days` window.
fn last_days(
    scope: &Scope,
    window: &LastDays,
    today: Date,
    params: &mut Vec<Sql>,
) -> Result<String> {
    let f = scope.resolve(&window.field)?;
    if !f.is_date() {
        return Err(bad(format!(
            "last_days needs a date field; {} is {}",
            window.field,
            f.ty.as_str()
        )));
    }
    if window.days == 0 || window.days > MAX_LAST_DAYS {
        return Err(bad(format!(
            "last_days is 1 to {MAX_LAST_DAYS} days; {} was asked for",
            window.days
        )));
    }
    let last = match &window.today {
        None => today,
        Some(t) => {
            parse_ymd(t).ok_or_else(|| bad(format!("today '{t}' is not a date (YYYY-MM-DD)")))?
        }
    };
    let first = days_before(last, window.days - 1);
    params.push(Sql::Text(ymd(first)));
    params.push(Sql::Text(ymd(last)));
    Ok(if f.ty == FieldType::Date {
        // The date's own index serves this.
        format!("{} BETWEEN ? AND ?", f.sql)
    } else {
        format!("substr({}, 1, 10) BETWEEN ? AND ?", f.sql)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Measure;

    fn day(s: &str) -> Date {
        parse_ymd(s).unwrap()
    }

    fn lines_by_month() -> ReportSpec {
        ReportSpec {
            parent: Some("Sale".into()),
            group_by: Some("parent.sale_date".into()),
            bucket: Some(DateBucket::Month),
            measures: vec![Measure::parse("sum:amount").unwrap()],
            ..ReportSpec::count_of("Sale Line")
        }
    }

    #[test]
    fn names_are_quoted_and_values_are_parameters() {
        let spec = ReportSpec {
            filter: Some("product:\"x' OR 1=1 --\"".into()),
            ..lines_by_month()
        };
        let c = compile_report(&Schema::starter(), &spec, day("2026-12-03")).unwrap();
        assert!(!c.sql.contains("1=1"), "{}", c.sql);
        assert!(c.sql.contains("p.\"sale_date\""), "{}", c.sql);
        assert!(c.sql.contains("round(total(c.\"amount\"), 2)"), "{}", c.sql);
        assert_eq!(c.columns[1].key, "sum(amount)");
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_in_words() {
        let s = Schema::starter();
        let t = day("2026-12-03");
        let e = compile_report(
            &s,
            &ReportSpec {
                group_by: Some("colour".into()),
                ..ReportSpec::count_of("Sale")
            },
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no field 'colour'"), "{e}");
        let e = compile_report(
            &s,
            &ReportSpec {
                measures: vec![Measure::parse("sum:party").unwrap()],
                ..ReportSpec::count_of("Sale")
            },
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
        let e = compile_report(
            &s,
            &ReportSpec {
                group_by: Some("party".into()),
                bucket: Some(DateBucket::Week),
                ..ReportSpec::count_of("Sale")
            },
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("only a date"), "{e}");
        let e = compile_report(
            &s,
            &ReportSpec {
                group_by: Some("parent.party".into()),
                ..ReportSpec::count_of("Sale Line")
            },
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("name the parent doctype"), "{e}");
        let e = compile_report(
            &s,
            &ReportSpec {
                parent: Some("Party".into()),
                ..ReportSpec::count_of("Sale Line")
            },
            t,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("Party holds no Sale Line rows"),
            "{e}"
        );
        let e = compile_report(
            &s,
            &ReportSpec {
                limit: Some(MAX_REPORT_ROWS + 1),
                ..ReportSpec::count_of("Sale")
            },
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("1 to 1000 groups"), "{e}");
        let e = compile_report(
            &s,
            &ReportSpec {
                order_by: Some("sum(total)".into()),
                ..ReportSpec::count_of("Sale")
            },
            t,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("one of the report's columns: count"),
            "{e}"
        );
    }

    #[test]
    fn last_days_counts_today_and_the_days_before() {
        let spec = ReportSpec {
            last_days: Some(LastDays {
                field: "sale_date".into(),
                days: 30,
                today: None,
            }),
            ..ReportSpec::count_of("Sale")
        };
        let c = compile_report(&Schema::starter(), &spec, day("2026-12-03")).unwrap();
        assert!(c.params.contains(&Sql::Text("2026-11-04".into())));
        assert!(c.params.contains(&Sql::Text("2026-12-03".into())));
    }

    #[test]
    fn measures_read_from_the_command_line() {
        assert_eq!(Measure::parse("count"), Some(Measure::COUNT));
        assert_eq!(
            Measure::parse("avg:parent.total").unwrap().key(),
            "avg(parent.total)"
        );
        assert_eq!(Measure::parse("max:amount"), None);
        assert_eq!(Measure::parse("sum:"), None);
    }
}
