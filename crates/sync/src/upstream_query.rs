//! `query` with `upstream: true`: the master forwards it to the head office
//! through the connector. Only field conditions joined by AND travel (every
//! ERP's search takes those); the answer says `unavailable` when the uplink
//! is down.

use async_trait::async_trait;
use outpost_api::{ApiError, ErrorCode, Upstream};
use outpost_store::query::{CmpOp, Expr, Literal};
use serde_json::{json, Value};

use crate::connector::ErrorClass;
use crate::worker::Sync;

fn literal(l: &Literal) -> Value {
    match l {
        Literal::Text(t) => json!(t),
        Literal::Number(n) => json!(n),
        Literal::Bool(b) => json!(b),
        Literal::Null => Value::Null,
        Literal::List(items) => Value::Array(items.iter().map(literal).collect()),
    }
}

/// The filter as `(field, operator, value)` conditions, ANDed.
pub fn conditions(filter: &Expr) -> Result<Vec<(String, String, Value)>, ApiError> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(parts) => stack.extend(parts.iter().rev()),
            Expr::Cmp { field, op, value } => {
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::Like => "ilike",
                    CmpOp::NotLike => "not like",
                    CmpOp::In => "in",
                    CmpOp::NotIn => "not in",
                };
                out.push((field.clone(), op.to_string(), literal(value)));
            }
            Expr::Or(_) | Expr::Not(_) | Expr::Search(_) => {
                return Err(ApiError::bad_request(
                    "a query on the head office takes field conditions joined by AND (no OR, NOT or bare words)",
                ))
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl Upstream for Sync {
    async fn query(
        &self,
        doctype: &str,
        filter: &Expr,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let conds = conditions(filter)?;
        Sync::query(self, doctype, &conds, limit)
            .await
            .map_err(|e| match e.class {
                ErrorClass::Retryable | ErrorClass::Auth => ApiError::new(
                    ErrorCode::Unavailable,
                    format!("the head office cannot be reached now: {}", e.message),
                ),
                _ => ApiError::bad_request(e.message),
            })
    }
}
