//! What Ember's analyzer rules share: rewriting each expression of a plan node against the
//! schema its expressions are evaluated in, keeping the names the node's output had.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Apply `rewrite` to every expression of `plan` (one node; the caller walks the plan).
/// Expressions see the merged schema of the node's inputs, or the node's own schema for a
/// leaf; a rewritten expression keeps its old output name, so nodes above still find it.
pub fn rewrite_node_expressions(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let inputs = plan.inputs();
    let schema: DFSchema = if inputs.is_empty() { plan.schema().as_ref().clone() } else { merge_schema(&inputs) };
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        rewrite(expr, &schema).map(|t| t.update_data(|e| name.restore(e)))
    })
}

/// Apply `rewrite` bottom-up to every expression of every node of `plan`, subqueries
/// included: what most of Ember's analyzer rules do.
pub fn rewrite_plan_expressions(plan: LogicalPlan, rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::TransformedResult;
    plan.transform_up_with_subqueries(|node| rewrite_node_expressions(node, |expr, schema| expr.transform_up(|e| rewrite(e, schema))))
        .data()
}

/// Whether analysis may give `plan` other result types than planning did: the planner
/// types a `UNION`'s columns from its first branch and type coercion unifies the branches
/// (`SELECT 1 UNION SELECT 10000000000` becomes `bigint`), and `sum` of a `bigint` becomes
/// `numeric` ([`crate::aggregates::BigintSum`]), and `lag`/`lead` with a default take the
/// common type of value and default ([`crate::window_args`]). Cheap: a walk of the plan's nodes and
/// expressions, no typing.
pub fn analysis_changes_types(plan: &LogicalPlan) -> bool {
    let retyped = |e: &Expr| match e {
        Expr::AggregateFunction(f) => f.func.name() == "sum",
        Expr::WindowFunction(w) => w.fun.name() == "sum" || (matches!(w.fun.name(), "lag" | "lead") && w.params.args.len() == 3),
        _ => false,
    };
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = matches!(node, LogicalPlan::Union(_)) || node.expressions().iter().any(|e| e.exists(|e| Ok(retyped(e))).unwrap_or(false));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// A context configured as Ember's sessions are (configuration and analyzer rules), for
/// the tests of the rules.
#[cfg(test)]
pub fn test_context() -> datafusion::prelude::SessionContext {
    let config = crate::config::session_config(&crate::config::EngineOptions::default());
    let builder = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_analyzer_rules(crate::bool_literals::analyzer_rules());
    datafusion::prelude::SessionContext::new_with_state(crate::pg_planners::install(builder).build())
}

/// The first row `sql` answers in `ctx`, its values as text joined by commas.
#[cfg(test)]
pub async fn first_row(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<String> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let batch = &batches[0];
    let values = (0..batch.num_columns())
        .map(|c| datafusion::common::ScalarValue::try_from_array(batch.column(c), 0).map(|v| v.to_string()))
        .collect::<Result<Vec<_>>>()?;
    Ok(values.join(","))
}
