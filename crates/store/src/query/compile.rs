//! Compiles a query tree against one doctype to parameterised SQL.
//!
//! Every field name is checked against the doctype before it is written into
//! SQL (quoted), and every value travels as a `?` parameter, so no text from a
//! caller ever becomes SQL.

use rusqlite::types::Value as Sql;

use super::ast::{CmpOp, Expr, Literal};
use super::QueryError;
use crate::doctype::{Doctype, FieldType};
use crate::values::{parse_date, parse_datetime};

/// Largest page a query returns; bigger exports page with a filter on `name`.
pub const MAX_LIMIT: u32 = 10_000;
/// Page size when the caller gives none.
pub const DEFAULT_LIMIT: u32 = 100;

/// System columns every doctype table has, with the type they read as.
const SYSTEM_COLUMNS: &[(&str, FieldType)] = &[
    ("name", FieldType::Data),
    ("rev", FieldType::Int),
    ("created", FieldType::Datetime),
    ("modified", FieldType::Datetime),
    ("modified_by", FieldType::Data),
];

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: String,
    pub desc: bool,
}

/// What a `query` asks for, after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    pub filter: Expr,
    /// Selected fields; empty means every column (not child tables).
    pub fields: Vec<String>,
    pub sort: Vec<SortKey>,
    pub limit: Option<u32>,
    pub offset: u32,
    /// Group rows by this field and return `count` (and `sum_<f>` per `sums`).
    pub group_by: Option<String>,
    pub sums: Vec<String>,
}

impl Default for QuerySpec {
    fn default() -> Self {
        QuerySpec {
            filter: Expr::And(vec![]),
            fields: vec![],
            sort: vec![],
            limit: None,
            offset: 0,
            group_by: None,
            sums: vec![],
        }
    }
}

impl SortKey {
    /// Parses `field`, `field:asc`, `field:desc` or `-field`.
    pub fn parse(s: &str) -> Result<SortKey, QueryError> {
        let s = s.trim();
        let (field, desc) = if let Some(f) = s.strip_prefix('-') {
            (f, true)
        } else if let Some((f, dir)) = s.split_once(':') {
            match dir.trim().to_ascii_lowercase().as_str() {
                "asc" => (f, false),
                "desc" => (f, true),
                other => {
                    return Err(QueryError::BadArgument(format!(
                        "sort direction '{other}' for '{f}' must be asc or desc"
                    )))
                }
            }
        } else {
            (s, false)
        };
        Ok(SortKey {
            field: field.trim().to_string(),
            desc,
        })
    }
}

/// A column a result row holds, with how to read it back.
#[derive(Debug, Clone, PartialEq)]
pub struct OutColumn {
    pub key: String,
    pub ty: FieldType,
}

/// SQL ready to run, with its parameters and the shape of its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Sql>,
    pub columns: Vec<OutColumn>,
}

pub(crate) fn column_type(dt: &Doctype, field: &str) -> Result<FieldType, QueryError> {
    if let Some((_, ty)) = SYSTEM_COLUMNS.iter().find(|(n, _)| *n == field) {
        return Ok(*ty);
    }
    match dt.field(field) {
        Some(f) if f.has_column() => Ok(f.ty),
        Some(_) => Err(QueryError::BadArgument(format!(
            "{}.{field} is a table; open the record to see its rows",
            dt.name
        ))),
        None => Err(QueryError::UnknownField {
            doctype: dt.name.clone(),
            field: field.to_string(),
            known: SYSTEM_COLUMNS
                .iter()
                .map(|(n, _)| *n)
                .chain(dt.column_fields().map(|f| f.name.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

pub(crate) fn col(field: &str) -> String {
    format!("\"{field}\"")
}

/// Converts a literal to the parameter for a comparison on a field of `ty`.
fn param(dt: &Doctype, field: &str, ty: FieldType, lit: &Literal) -> Result<Sql, QueryError> {
    let bad = |what: &str| {
        QueryError::BadValue(format!(
            "{}.{field} is {}; {} is not {what}",
            dt.name,
            ty.as_str(),
            show(lit)
        ))
    };
    Ok(match (ty, lit) {
        (_, Literal::Null) => Sql::Null,
        (FieldType::Int, Literal::Number(n)) if n.fract() == 0.0 => Sql::Integer(*n as i64),
        (FieldType::Int, Literal::Text(t)) => {
            Sql::Integer(t.trim().parse().map_err(|_| bad("a whole number"))?)
        }
        (FieldType::Float | FieldType::Currency, Literal::Number(n)) => Sql::Real(*n),
        (FieldType::Float | FieldType::Currency, Literal::Text(t)) => {
            Sql::Real(t.trim().parse().map_err(|_| bad("a number"))?)
        }
        (FieldType::Check, Literal::Bool(b)) => Sql::Integer(*b as i64),
        (FieldType::Check, Literal::Number(n)) if *n == 0.0 || *n == 1.0 => Sql::Integer(*n as i64),
        (FieldType::Check, Literal::Text(t)) => match t.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Sql::Integer(1),
            "0" | "false" | "no" => Sql::Integer(0),
            _ => return Err(bad("true or false")),
        },
        (FieldType::Date, Literal::Text(t)) => {
            Sql::Text(parse_date(t).ok_or_else(|| bad("a date (YYYY-MM-DD)"))?)
        }
        (FieldType::Datetime, Literal::Text(t)) => Sql::Text(
            parse_datetime(t)
                .or_else(|| parse_date(t).map(|d| format!("{d}T00:00:00.000Z")))
                .ok_or_else(|| bad("a date and time"))?,
        ),
        // An empty value is stored as "not set": `city:""` finds those.
        (
            FieldType::Data | FieldType::Text | FieldType::Select | FieldType::Link,
            Literal::Text(t),
        ) if t.is_empty() => Sql::Null,
        (
            FieldType::Data | FieldType::Text | FieldType::Select | FieldType::Link,
            Literal::Text(t),
        ) => Sql::Text(t.clone()),
        (
            FieldType::Data | FieldType::Text | FieldType::Select | FieldType::Link,
            Literal::Number(n),
        ) => Sql::Text(n.to_string()),
        _ => return Err(bad("a value of that type")),
    })
}

fn show(lit: &Literal) -> String {
    match lit {
        Literal::Text(t) => format!("\"{t}\""),
        Literal::Number(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
        Literal::List(_) => "a list".into(),
    }
}

/// The literal prefix of a LIKE pattern that has only trailing wildcards,
/// e.g. `Ac%` -> `Ac`. Such patterns also get a range condition so the
/// field's index serves them.
fn like_prefix(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '%' => return (!out.is_empty() && chars.all(|c| c == '%')).then_some(out),
            '_' => return None,
            c => out.push(c),
        }
    }
    None
}

/// The least string greater than every string that starts with `prefix`
/// under NOCASE collation (the prefix is folded to lowercase first).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let lower = prefix.to_ascii_lowercase();
    let mut chars: Vec<char> = lower.chars().collect();
    let last = chars.pop()?;
    let next = char::from_u32(last as u32 + 1)?;
    chars.push(next);
    Some(chars.into_iter().collect())
}

struct Builder<'a> {
    dt: &'a Doctype,
    /// Written before each column (`c.` in a join; empty otherwise).
    alias: &'a str,
    params: Vec<Sql>,
}

impl Builder<'_> {
    fn expr(&mut self, e: &Expr) -> Result<String, QueryError> {
        Ok(match e {
            Expr::And(items) if items.is_empty() => "1".into(),
            Expr::Or(items) if items.is_empty() => "0".into(),
            Expr::And(items) => self.join(items, " AND ")?,
            Expr::Or(items) => self.join(items, " OR ")?,
            // A comparison with an empty field is NULL in SQL; NOT of it must
            // be true ("not in Kashgar" includes records with no city).
            Expr::Not(inner) => format!("NOT coalesce(({}), 0)", self.expr(inner)?),
            Expr::Search(term) => {
                let title = self.dt.title_field.clone().unwrap_or_else(|| "name".into());
                let escaped: String = term
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                self.cmp(&title, CmpOp::Like, &Literal::Text(format!("%{escaped}%")))?
            }
            Expr::Cmp { field, op, value } => self.cmp(field, *op, value)?,
        })
    }

    fn join(&mut self, items: &[Expr], sep: &str) -> Result<String, QueryError> {
        let parts: Result<Vec<_>, _> = items.iter().map(|i| self.expr(i)).collect();
        Ok(format!("({})", parts?.join(sep)))
    }

    fn cmp(&mut self, field: &str, op: CmpOp, value: &Literal) -> Result<String, QueryError> {
        let ty = column_type(self.dt, field)?;
        // An unset check box reads as false.
        let c = if ty == FieldType::Check {
            format!("coalesce({}{}, 0)", self.alias, col(field))
        } else {
            format!("{}{}", self.alias, col(field))
        };
        match op {
            CmpOp::Like | CmpOp::NotLike => {
                let Literal::Text(pattern) = value else {
                    return Err(QueryError::BadValue(format!(
                        "a pattern for {}.{field} must be text",
                        self.dt.name
                    )));
                };
                if ty.is_numeric() {
                    return Err(QueryError::BadValue(format!(
                        "{}.{field} is {}; wildcards (%) only work on text fields",
                        self.dt.name,
                        ty.as_str()
                    )));
                }
                self.params.push(Sql::Text(pattern.clone()));
                let like = format!("{c} LIKE ? ESCAPE '\\'");
                if op == CmpOp::NotLike {
                    return Ok(format!("({c} IS NULL OR NOT ({like}))"));
                }
                // The range is only sound on the doctype's own columns, which
                // collate NOCASE like LIKE matches; system columns (name,
                // modified_by ...) compare case-sensitively, so a range there
                // would drop rows LIKE matches.
                let nocase = self.dt.field(field).is_some();
                match like_prefix(pattern)
                    .filter(|_| nocase)
                    .and_then(|p| Some((prefix_upper_bound(&p)?, p)))
                {
                    Some((upper, lower)) => {
                        self.params.push(Sql::Text(lower));
                        self.params.push(Sql::Text(upper));
                        Ok(format!("({like} AND {c} >= ? AND {c} < ?)"))
                    }
                    None => Ok(like),
                }
            }
            CmpOp::In | CmpOp::NotIn => {
                let Literal::List(items) = value else {
                    return Err(QueryError::BadValue(format!(
                        "'in' on {}.{field} needs a list of values",
                        self.dt.name
                    )));
                };
                if items.is_empty() {
                    return Ok(if op == CmpOp::In { "0" } else { "1" }.into());
                }
                for item in items {
                    let p = param(self.dt, field, ty, item)?;
                    self.params.push(p);
                }
                let marks = vec!["?"; items.len()].join(", ");
                Ok(if op == CmpOp::In {
                    format!("{c} IN ({marks})")
                } else {
                    format!("({c} IS NULL OR {c} NOT IN ({marks}))")
                })
            }
            _ => {
                let p = param(self.dt, field, ty, value)?;
                if p == Sql::Null {
                    return match op {
                        CmpOp::Eq => Ok(format!("{c} IS NULL")),
                        CmpOp::Ne => Ok(format!("{c} IS NOT NULL")),
                        _ => Err(QueryError::BadValue(format!(
                            "{}.{field}: only = and != can compare with null",
                            self.dt.name
                        ))),
                    };
                }
                self.params.push(p);
                let sym = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    _ => unreachable!("handled above"),
                };
                if op == CmpOp::Ne {
                    // Clerks read "city is not Kashgar" as including records
                    // with no city at all.
                    Ok(format!("({c} IS NULL OR {c} != ?)"))
                } else {
                    Ok(format!("{c} {sym} ?"))
                }
            }
        }
    }
}

/// The `WHERE` clause (live records only) and its parameters.
pub fn compile_filter(dt: &Doctype, filter: &Expr) -> Result<(String, Vec<Sql>), QueryError> {
    compile_filter_in(dt, &[], filter)
}

/// As [`compile_filter`]; for a child doctype, `parents` are the doctypes
/// whose tables hold its rows, and only rows of live parents match (a
/// deleted Sale's lines are not in a report on Sale Lines).
pub fn compile_filter_in(
    dt: &Doctype,
    parents: &[&Doctype],
    filter: &Expr,
) -> Result<(String, Vec<Sql>), QueryError> {
    let mut params = Vec::new();
    let mut live = String::new();
    if dt.child && !parents.is_empty() {
        let alts: Vec<String> = parents
            .iter()
            .map(|p| {
                params.push(Sql::Text(p.name.clone()));
                format!(
                    "(parenttype = ? AND EXISTS (SELECT 1 FROM {} p WHERE p.name = parent AND p.deleted = 0))",
                    p.table_name()
                )
            })
            .collect();
        live = format!("({}) AND ", alts.join(" OR "));
    }
    let mut b = Builder {
        dt,
        alias: "",
        params,
    };
    let cond = b.expr(filter)?;
    Ok((format!("deleted = 0 AND {live}{cond}"), b.params))
}

/// The condition `filter` sets on `dt`'s columns, each written as
/// `alias` + quoted name (`alias` is `c.` in a join), its values appended
/// to `params`. Says nothing of deleted records: the caller does.
pub(crate) fn compile_condition(
    dt: &Doctype,
    alias: &str,
    filter: &Expr,
    params: &mut Vec<Sql>,
) -> Result<String, QueryError> {
    let mut b = Builder {
        dt,
        alias,
        params: std::mem::take(params),
    };
    let cond = b.expr(filter);
    *params = b.params;
    cond
}

/// Compiles a full query: select list, filter, grouping, order and page.
pub fn compile(dt: &Doctype, spec: &QuerySpec) -> Result<Compiled, QueryError> {
    compile_in(dt, &[], spec)
}

/// As [`compile`], with the parents of a child doctype (see
/// [`compile_filter_in`]).
pub fn compile_in(
    dt: &Doctype,
    parents: &[&Doctype],
    spec: &QuerySpec,
) -> Result<Compiled, QueryError> {
    let (where_sql, mut params) = compile_filter_in(dt, parents, &spec.filter)?;
    let table = dt.table_name();
    let mut columns = Vec::new();
    let mut select = Vec::new();
    let mut group_sql = String::new();

    if let Some(g) = &spec.group_by {
        let ty = column_type(dt, g)?;
        select.push(col(g));
        columns.push(OutColumn { key: g.clone(), ty });
        select.push("count(*)".into());
        columns.push(OutColumn {
            key: "count".into(),
            ty: FieldType::Int,
        });
        for s in &spec.sums {
            let ty = column_type(dt, s)?;
            if !ty.is_numeric() || ty == FieldType::Check {
                return Err(QueryError::BadArgument(format!(
                    "cannot sum {}.{s}: it is {}, not a number",
                    dt.name,
                    ty.as_str()
                )));
            }
            select.push(format!("total({})", col(s)));
            columns.push(OutColumn {
                key: format!("sum_{s}"),
                ty: if ty == FieldType::Int {
                    FieldType::Float
                } else {
                    ty
                },
            });
        }
        group_sql = format!(" GROUP BY {}", col(g));
    } else {
        if !spec.sums.is_empty() {
            return Err(QueryError::BadArgument(
                "sum needs group_by (the field to group the sums by)".into(),
            ));
        }
        let fields: Vec<String> = if spec.fields.is_empty() {
            SYSTEM_COLUMNS
                .iter()
                .map(|(n, _)| n.to_string())
                .chain(dt.column_fields().map(|f| f.name.clone()))
                .collect()
        } else {
            spec.fields.clone()
        };
        for f in fields {
            let ty = column_type(dt, &f)?;
            select.push(col(&f));
            columns.push(OutColumn { key: f, ty });
        }
    }

    let mut order = Vec::new();
    for key in &spec.sort {
        let expr = if spec.group_by.is_some() {
            match columns.iter().position(|c| c.key == key.field) {
                Some(i) => (i + 1).to_string(),
                None => {
                    return Err(QueryError::BadArgument(format!(
                        "a grouped query can sort only by its columns ({}); not by '{}'",
                        columns
                            .iter()
                            .map(|c| c.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        key.field
                    )))
                }
            }
        } else {
            column_type(dt, &key.field)?;
            col(&key.field)
        };
        order.push(format!("{expr}{}", if key.desc { " DESC" } else { "" }));
    }
    if order.is_empty() && spec.group_by.is_none() {
        order.push("\"modified\" DESC".into());
    }
    let order_sql = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };

    let limit = spec.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(QueryError::BadArgument(format!(
            "limit {limit} is too large; ask for at most {MAX_LIMIT} rows a page"
        )));
    }
    params.push(Sql::Integer(limit as i64));
    params.push(Sql::Integer(spec.offset as i64));
    let sql = format!(
        "SELECT {} FROM {table} WHERE {where_sql}{group_sql}{order_sql} LIMIT ? OFFSET ?",
        select.join(", ")
    );
    Ok(Compiled {
        sql,
        params,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctype::Schema;
    use crate::query::parse_text;

    fn party() -> Doctype {
        Schema::starter().doctypes["Party"].clone()
    }

    #[test]
    fn prefix_patterns_get_a_range_for_the_index() {
        assert_eq!(like_prefix("Ac%"), Some("Ac".into()));
        assert_eq!(like_prefix("Ac%%"), Some("Ac".into()));
        assert_eq!(like_prefix("%Ac"), None);
        assert_eq!(like_prefix("A%c%"), None);
        assert_eq!(like_prefix("A\\%%"), Some("A%".into()));
        assert_eq!(prefix_upper_bound("Ac"), Some("ad".into()));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = compile(
            &party(),
            &QuerySpec {
                filter: parse_text("colour:red").unwrap(),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("no field 'colour'"), "{e}");
    }

    #[test]
    fn values_travel_as_parameters_never_as_sql() {
        let c = compile(
            &party(),
            &QuerySpec {
                filter: parse_text("city:\"x' OR 1=1 --\"").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!c.sql.contains("1=1"));
        assert!(c.params.contains(&Sql::Text("x' OR 1=1 --".into())));
    }

    #[test]
    fn sort_keys_read_both_spellings() {
        assert_eq!(
            SortKey::parse("modified:desc").unwrap(),
            SortKey {
                field: "modified".into(),
                desc: true
            }
        );
        assert!(SortKey::parse("-rev").unwrap().desc);
        assert!(SortKey::parse("x:sideways").is_err());
    }
}
