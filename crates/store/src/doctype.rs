//! Doctypes: named schemas of typed fields, read from JSON definitions.
//!
//! The starter ERP set is compiled in (`starter/*.json`); a site adds or
//! extends doctypes with files in `DATA/doctypes/*.json`, read at open, so
//! no rebuild is needed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// The type of a field, which decides its column, its validation and the
/// input a form shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Data,
    Text,
    Int,
    Float,
    Currency,
    Date,
    Datetime,
    Check,
    Select,
    Link,
    Table,
}

impl FieldType {
    /// SQLite storage for the column; `None` for table fields (rows live in
    /// the child doctype's own table).
    pub fn column_type(self) -> Option<&'static str> {
        match self {
            FieldType::Data
            | FieldType::Text
            | FieldType::Date
            | FieldType::Datetime
            | FieldType::Select
            | FieldType::Link => Some("TEXT COLLATE NOCASE"),
            FieldType::Int | FieldType::Check => Some("INTEGER"),
            FieldType::Float | FieldType::Currency => Some("REAL"),
            FieldType::Table => None,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Float | FieldType::Currency | FieldType::Check
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Data => "data",
            FieldType::Text => "text",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Currency => "currency",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Check => "check",
            FieldType::Select => "select",
            FieldType::Link => "link",
            FieldType::Table => "table",
        }
    }
}

/// A value the store computes on every write; callers cannot set it.
#[derive(Debug, Clone, PartialEq)]
pub enum Compute {
    /// `a * b`: product of two numeric fields of the same record.
    Product(String, String),
    /// `sum(table.field)`: sum of a numeric field over a child table.
    Sum { table: String, field: String },
}

impl Compute {
    fn parse(text: &str) -> Option<Compute> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix("sum(").and_then(|r| r.strip_suffix(')')) {
            let (table, field) = inner.trim().split_once('.')?;
            return Some(Compute::Sum {
                table: table.trim().to_string(),
                field: field.trim().to_string(),
            });
        }
        let (a, b) = t.split_once('*')?;
        Some(Compute::Product(a.trim().to_string(), b.trim().to_string()))
    }
}

/// One field as written in a definition file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub indexed: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub in_list: bool,
    /// Choices of a `select` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<String>>"))]
    pub options: Vec<String>,
    /// Target doctype of a `link` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub link: Option<String>,
    /// Child doctype of a `table` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub table: Option<String>,
    /// `"a * b"` or `"sum(table.field)"`: the store computes the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub compute: Option<String>,
    /// Decimal places kept for float/currency (currency defaults to 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub precision: Option<u32>,
    /// Set only by the upstream sync (e.g. the head office's number for a
    /// sale): a value a device sends is ignored, and forms show it
    /// read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub read_only: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Field {
    /// Whether the field has a column (and so can be queried and indexed).
    pub fn has_column(&self) -> bool {
        self.ty.column_type().is_some()
    }

    /// Whether the store keeps an index on the column.
    pub fn wants_index(&self) -> bool {
        self.has_column() && (self.indexed || self.ty == FieldType::Link)
    }

    pub fn computed(&self) -> Option<Compute> {
        self.compute.as_deref().and_then(Compute::parse)
    }

    pub fn precision(&self) -> Option<u32> {
        match (self.ty, self.precision) {
            (_, Some(p)) => Some(p),
            (FieldType::Currency, None) => Some(2),
            _ => None,
        }
    }
}

/// A named schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Doctype {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub description: Option<String>,
    /// A child doctype: its rows live only inside a parent's `table` field.
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub child: bool,
    /// Field shown as the record's title (lists, links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub title_field: Option<String>,
    /// Writes are queued in the outbox for the upstream ERP.
    #[serde(default, skip_serializing_if = "is_false")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub sync: bool,
    pub fields: Vec<Field>,
}

/// A site definition file: a whole doctype, or (`"extend": true`) fields to
/// add to one that exists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    #[serde(default)]
    extend: bool,
    #[serde(flatten)]
    doctype: DoctypeBody,
}

#[derive(Debug, Deserialize)]
struct DoctypeBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    child: bool,
    #[serde(default)]
    title_field: Option<String>,
    #[serde(default)]
    sync: Option<bool>,
    #[serde(default)]
    fields: Vec<Field>,
}

/// Names the store reserves for its own columns.
pub const SYSTEM_FIELDS: &[&str] = &[
    "name",
    "rev",
    "created",
    "modified",
    "modified_by",
    "deleted",
    "doctype",
    "parent",
    "parentfield",
    "idx",
];

impl Doctype {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// SQL table name: always quoted where used, and the doctype name is
    /// checked to be letters, digits, spaces and underscores only.
    pub fn table_name(&self) -> String {
        table_name(&self.name)
    }

    pub fn column_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.has_column())
    }

    pub fn table_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.ty == FieldType::Table)
    }

    /// Whether a record of this doctype is one row: it has no child tables.
    pub fn is_one_row(&self) -> bool {
        self.table_fields().next().is_none()
    }

    /// Fields a list shows: those marked `in_list`, else the title field.
    pub fn list_fields(&self) -> Vec<&str> {
        let marked: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.in_list)
            .map(|f| f.name.as_str())
            .collect();
        if marked.is_empty() {
            self.title_field.iter().map(String::as_str).collect()
        } else {
            marked
        }
    }
}

pub fn table_name(doctype: &str) -> String {
    format!("\"tab {doctype}\"")
}

fn valid_doctype_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_')
        && !name.ends_with(' ')
}

pub(crate) fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The full set of doctypes a store runs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub doctypes: BTreeMap<String, Doctype>,
}

const STARTER: &[(&str, &str)] = &[
    ("starter/party.json", include_str!("starter/party.json")),
    ("starter/product.json", include_str!("starter/product.json")),
    ("starter/sale.json", include_str!("starter/sale.json")),
    (
        "starter/sale_line.json",
        include_str!("starter/sale_line.json"),
    ),
];

impl Schema {
    pub fn get(&self, doctype: &str) -> Result<&Doctype> {
        self.doctypes
            .get(doctype)
            .ok_or_else(|| StoreError::UnknownDoctype(doctype.to_string()))
    }

    /// The doctypes whose table fields hold rows of `child`.
    pub fn parents_of(&self, child: &Doctype) -> Vec<&Doctype> {
        if !child.child {
            return vec![];
        }
        self.doctypes
            .values()
            .filter(|p| {
                p.table_fields()
                    .any(|f| f.table.as_deref() == Some(&child.name))
            })
            .collect()
    }

    /// The starter ERP set that ships with Outpost.
    pub fn starter() -> Schema {
        let mut schema = Schema::default();
        for (source, text) in STARTER {
            schema
                .apply_file(source, text)
                .unwrap_or_else(|e| panic!("built-in doctype {source} is broken: {e}"));
        }
        schema.check().expect("built-in doctypes are consistent");
        schema
    }

    /// The starter set plus every `*.json` in `dir` (in file-name order).
    pub fn load(dir: &Path) -> Result<Schema> {
        let mut schema = Schema::starter();
        if dir.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for path in files {
                let text = std::fs::read_to_string(&path)?;
                schema.apply_file(&path.display().to_string(), &text)?;
            }
        }
        schema.check()?;
        Ok(schema)
    }

    /// Adds or extends a doctype from one definition file's text.
    pub fn apply_file(&mut self, source: &str, text: &str) -> Result<()> {
        let def = |message: String| StoreError::Definition {
            source_name: source.to_string(),
            message,
        };
        let file: SiteFile = serde_json::from_str(text).map_err(|e| def(e.to_string()))?;
        let body = file.doctype;
        if file.extend {
            let existing = self.doctypes.get_mut(&body.name).ok_or_else(|| {
                def(format!(
                    "extends '{}', but there is no such doctype",
                    body.name
                ))
            })?;
            for field in body.fields {
                if existing.field(&field.name).is_some() {
                    return Err(def(format!(
                        "field '{}' already exists in {}",
                        field.name, existing.name
                    )));
                }
                existing.fields.push(field);
            }
            if let Some(t) = body.title_field {
                existing.title_field = Some(t);
            }
            if let Some(s) = body.sync {
                existing.sync = s;
            }
            if body.description.is_some() {
                existing.description = body.description;
            }
        } else {
            let doctype = Doctype {
                name: body.name,
                description: body.description,
                child: body.child,
                title_field: body.title_field,
                sync: body.sync.unwrap_or(false),
                fields: body.fields,
            };
            self.doctypes.insert(doctype.name.clone(), doctype);
        }
        Ok(())
    }

    /// Checks names, references and field options across the whole set.
    pub fn check(&self) -> Result<()> {
        for dt in self.doctypes.values() {
            let def = |message: String| StoreError::Definition {
                source_name: dt.name.clone(),
                message,
            };
            if !valid_doctype_name(&dt.name) {
                return Err(def(
                    "a doctype name starts with a letter and holds only letters, digits, spaces and '_'".into(),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for f in &dt.fields {
                if !valid_field_name(&f.name) {
                    return Err(def(format!("field name '{}' must be lowercase letters, digits and '_', starting with a letter", f.name)));
                }
                if SYSTEM_FIELDS.contains(&f.name.as_str()) {
                    return Err(def(format!("field name '{}' is reserved", f.name)));
                }
                if !seen.insert(&f.name) {
                    return Err(def(format!("field '{}' is defined twice", f.name)));
                }
                match f.ty {
                    FieldType::Select if f.options.is_empty() => {
                        return Err(def(format!("select field '{}' needs options", f.name)))
                    }
                    FieldType::Link => match &f.link {
                        Some(t) if self.doctypes.get(t).is_some_and(|d| !d.child) => {}
                        _ => {
                            return Err(def(format!(
                                "link field '{}' needs \"link\": an existing, non-child doctype",
                                f.name
                            )))
                        }
                    },
                    FieldType::Table => match &f.table {
                        Some(t) if self.doctypes.get(t).is_some_and(|d| d.child) => {}
                        _ => {
                            return Err(def(format!(
                                "table field '{}' needs \"table\": an existing child doctype",
                                f.name
                            )))
                        }
                    },
                    _ => {}
                }
                if dt.child && f.ty == FieldType::Table {
                    return Err(def("a child doctype cannot hold tables".into()));
                }
                if f.unique && !f.has_column() {
                    return Err(def(format!("field '{}' cannot be unique", f.name)));
                }
                if let Some(text) = &f.compute {
                    let ok = match f.computed() {
                        // Over plain fields only: a product of a computed
                        // value would read it before it is computed.
                        Some(Compute::Product(a, b)) => [a, b].iter().all(|x| {
                            dt.field(x)
                                .is_some_and(|g| g.ty.is_numeric() && g.compute.is_none())
                        }),
                        Some(Compute::Sum { table, field }) => dt
                            .field(&table)
                            .and_then(|t| t.table.as_ref())
                            .and_then(|child| self.doctypes.get(child))
                            .and_then(|child| child.field(&field))
                            .is_some_and(|g| g.ty.is_numeric()),
                        None => false,
                    };
                    if !ok || !f.ty.is_numeric() {
                        return Err(def(format!("field '{}': cannot compute '{text}' (use \"a * b\" over numeric fields or \"sum(table.field)\")", f.name)));
                    }
                }
            }
            if let Some(t) = &dt.title_field {
                if dt.field(t).is_none() {
                    return Err(def(format!("title field '{t}' is not a field")));
                }
            }
        }
        Ok(())
    }
}
