//! Parameter (`$n`) types of a planned statement.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::Result;

/// Types of `$1..$n` by position. DataFusion infers a placeholder's type from what it is
/// compared with or inserted into; PostgreSQL also types `$1::int` by its cast, so a
/// placeholder DataFusion left untyped takes the type of a cast applied directly to it.
/// `None` means unknown (clients are told `text`).
pub fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    // `PREPARE name(...) AS ...` declares its own parameters; the statement itself has none.
    if matches!(plan, LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(_))) {
        return Ok(vec![]);
    }
    let inferred = plan.get_parameter_types()?;
    let mut casts: HashMap<String, DataType> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(cast) = e
                    && let Expr::Placeholder(p) = cast.expr.as_ref()
                {
                    casts.entry(p.id.clone()).or_insert_with(|| cast.field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    let mut by_index: Vec<(usize, Option<DataType>)> = inferred
        .into_iter()
        .filter_map(|(name, ty)| {
            let index = name.trim_start_matches('$').parse::<usize>().ok()?;
            let ty = ty.or_else(|| casts.get(&name).cloned());
            Some((index, ty))
        })
        .collect();
    by_index.sort_by_key(|(i, _)| *i);
    let count = by_index.last().map(|(i, _)| *i).unwrap_or(0);
    let mut result = vec![None; count];
    for (index, ty) in by_index {
        if index >= 1 {
            result[index - 1] = ty;
        }
    }
    Ok(result)
}
