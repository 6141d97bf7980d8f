//! The one query tree that both the text language and JSON filters compile to.
//!
//! The tree names fields and carries literal values; it never carries SQL. The
//! compiler (`compile.rs`) checks every field against the doctype and turns the
//! tree into parameterised SQL.

/// A boolean filter over one doctype's records.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All of these hold. An empty list matches everything.
    And(Vec<Expr>),
    /// At least one of these holds.
    Or(Vec<Expr>),
    /// The inner filter does not hold.
    Not(Box<Expr>),
    /// `field op value`.
    Cmp {
        field: String,
        op: CmpOp,
        value: Literal,
    },
    /// A bare search term with no field (`acme`): the compiler matches it
    /// against the doctype's title field as `%term%`.
    Search(String),
}

/// Comparison operators. `Like`/`NotLike` carry a pattern in which `%` is a
/// wildcard and a literal `%`, `_` or `\` is escaped with `\`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    /// Value is a `Literal::List`.
    In,
    /// Value is a `Literal::List`.
    NotIn,
}

/// A value as the caller wrote it. Text from the text language is always
/// `Text`; the compiler converts it to the field's type (and says so clearly
/// when it cannot).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    List(Vec<Literal>),
}

/// Where and why a query could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query syntax error at position {position}: expected {expected}, found {found}")]
pub struct SyntaxError {
    /// 1-based character position in the text query, or for JSON filters
    /// the 1-based index of the top-level condition.
    pub position: usize,
    /// For JSON filters: a path like `filters[2][1]`; empty for text.
    pub path: String,
    /// What the parser wanted there, in words ("a value after ':'").
    pub expected: String,
    /// What it saw ("end of query", "')'", "\"foo\"").
    pub found: String,
}
