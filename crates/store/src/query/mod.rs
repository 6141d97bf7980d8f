//! The query language: text (jIO style) and JSON filters, one AST, one
//! compiler to parameterised SQL over the doctype's own columns.
//!
//! - `ast`: the tree both forms produce.
//! - `parse`: text and JSON front ends, with positioned syntax errors.
//! - `compile`: field checks, value conversion, SQL with `?` parameters.

pub mod ast;
pub mod compile;
pub mod parse;

pub use ast::{CmpOp, Expr, Literal, SyntaxError};
pub use compile::{Compiled, QuerySpec, SortKey};
pub use parse::{parse_json, parse_text};

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("{doctype} has no field '{field}'; its fields are: {known}")]
    UnknownField {
        doctype: String,
        field: String,
        known: String,
    },
    #[error("{0}")]
    BadValue(String),
    #[error("{0}")]
    BadArgument(String),
}
