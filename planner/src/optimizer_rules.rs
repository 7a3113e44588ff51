//! Ember's logical optimizer: DataFusion's rules, in DataFusion's order, with three changes
//! for statements thousands of terms long:
//! - [`BalancedConjunctions`] right after filter pushdown (which joins conjuncts again
//!   left-deep);
//! - [`BoundedUnions`] right after DataFusion's `optimize_unions`, which flattens a
//!   `UNION ALL` chain into one node of thousands of inputs: several rules and the physical
//!   union are quadratic in the number of inputs of one node (a 5,000-branch `UNION ALL`
//!   planned for 5 s), so a wide union becomes a shallow tree of unions of at most
//!   [`MAX_UNION_INPUTS`] inputs each, branches in the same order;
//! - DataFusion's `rewrite_set_comparison` skipped on plans without `ANY`/`ALL`
//!   subqueries: it merges the schemas of every node's inputs before it looks for one,
//!   and for a `UNION ALL` of 5,000 branches that merge is quadratic (seconds).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Union};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{Optimizer, OptimizerConfig, OptimizerRule};

use crate::conjunctions::BalancedConjunctions;

/// The optimizer rules of every Ember session.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut rules = Vec::new();
    for rule in Optimizer::new().rules {
        match rule.name() {
            "push_down_filter" => {
                rules.push(rule);
                rules.push(Arc::new(BalancedConjunctions) as Arc<dyn OptimizerRule + Send + Sync>);
            }
            "rewrite_set_comparison" => rules.push(Arc::new(OnlyWithSetComparisons(rule))),
            // After the first constant folding, which makes `DATE ... - INTERVAL ...` a literal.
            "simplify_expressions" if !rules.iter().any(|r| r.name() == "ember_date_bounds") => {
                rules.push(rule);
                rules.push(Arc::new(crate::date_bounds::DateBounds) as Arc<dyn OptimizerRule + Send + Sync>);
            }
            "optimize_unions" => {
                rules.push(rule);
                rules.push(Arc::new(BoundedUnions) as Arc<dyn OptimizerRule + Send + Sync>);
            }
            _ => rules.push(rule),
        }
    }
    rules
}

/// Most inputs one union node keeps.
pub const MAX_UNION_INPUTS: usize = 32;

/// A union of more than [`MAX_UNION_INPUTS`] inputs as a tree of unions (a union of
/// unions is the same bag of rows, in the same order).
#[derive(Debug, Default)]
pub struct BoundedUnions;

impl OptimizerRule for BoundedUnions {
    fn name(&self) -> &str {
        "ember_bounded_unions"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Union(Union { mut inputs, schema }) if inputs.len() > MAX_UNION_INPUTS => {
                while inputs.len() > MAX_UNION_INPUTS {
                    inputs = inputs
                        .chunks(MAX_UNION_INPUTS)
                        .map(|chunk| match chunk {
                            [single] => single.clone(),
                            _ => Arc::new(LogicalPlan::Union(Union { inputs: chunk.to_vec(), schema: schema.clone() })),
                        })
                        .collect();
                }
                Ok(Transformed::yes(LogicalPlan::Union(Union { inputs, schema })))
            }
            plan => Ok(Transformed::no(plan)),
        }
    }
}

/// A rule that only runs on plans with a set comparison (`x = ANY (SELECT ...)`).
#[derive(Debug)]
struct OnlyWithSetComparisons(Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for OnlyWithSetComparisons {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if has_set_comparison(&plan)? { self.0.rewrite(plan, config) } else { Ok(Transformed::no(plan)) }
    }
}

fn has_set_comparison(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                found = matches!(e, Expr::SetComparison(_));
                Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        })
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datafusion_rules_in_order_with_ember_changes() {
        let names: Vec<String> = optimizer_rules().iter().map(|r| r.name().to_string()).collect();
        let theirs: Vec<String> = Optimizer::new().rules.iter().map(|r| r.name().to_string()).collect();
        let pushdown = names.iter().position(|n| n == "push_down_filter").unwrap();
        assert_eq!(names[pushdown + 1], "ember_balanced_conjunctions");
        let unions = names.iter().position(|n| n == "optimize_unions").unwrap();
        assert_eq!(names[unions + 1], "ember_bounded_unions");
        let without: Vec<&String> = names.iter().filter(|n| !n.starts_with("ember_")).collect();
        assert_eq!(without, theirs.iter().collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_wide_union_becomes_a_shallow_tree_in_order() {
        let ctx = datafusion::prelude::SessionContext::new();
        let sql = (0..1000).map(|i| format!("SELECT {i} AS v")).collect::<Vec<_>>().join(" UNION ALL ");
        let plan = ctx.sql(&sql).await.unwrap().into_optimized_plan().unwrap();
        let LogicalPlan::Union(flat) = &plan else { panic!("{plan}") };
        assert_eq!(flat.inputs.len(), 1000, "DataFusion flattens the chain");
        let config = datafusion::optimizer::OptimizerContext::new();
        let rewritten = BoundedUnions.rewrite(plan.clone(), &config).unwrap();
        assert!(rewritten.transformed);
        // 1,000 inputs: 32 unions of up to 32, under one union.
        let LogicalPlan::Union(top) = &rewritten.data else { panic!("a union") };
        assert_eq!(top.inputs.len(), 32);
        let mut leaves = Vec::new();
        let mut stack = vec![&rewritten.data];
        while let Some(node) = stack.pop() {
            match node {
                LogicalPlan::Union(u) => {
                    assert!(u.inputs.len() <= MAX_UNION_INPUTS);
                    stack.extend(u.inputs.iter().rev().map(|i| i.as_ref()));
                }
                leaf => leaves.push(leaf.clone()),
            }
        }
        assert_eq!(leaves, flat.inputs.iter().map(|i| i.as_ref().clone()).collect::<Vec<_>>());
        // Planned with Ember's rules, the answer is the same.
        let state = datafusion::execution::SessionStateBuilder::new().with_default_features().with_optimizer_rules(optimizer_rules()).build();
        let ember = datafusion::prelude::SessionContext::new_with_state(state);
        let query = ember.sql(&format!("SELECT sum(v) AS s, count(*) AS c FROM ({sql})")).await.unwrap();
        let optimized = query.clone().into_optimized_plan().unwrap();
        assert!(format!("{optimized}").matches("Union").count() > 1, "{optimized}");
        let rows = query.collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string();
        assert!(text.contains("| 499500 | 1000 |"), "{text}");
    }

    #[tokio::test]
    async fn set_comparisons_are_found_where_they_are() {
        let ctx = datafusion::prelude::SessionContext::new();
        let plan = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { ctx.sql(sql).await.unwrap().into_unoptimized_plan() }
        };
        assert!(!has_set_comparison(&plan("SELECT 1 UNION ALL SELECT 2").await).unwrap());
        assert!(has_set_comparison(&plan("SELECT 1 WHERE 1 = ANY (SELECT 1)").await).unwrap());
        // Inside a subquery of a subquery.
        assert!(has_set_comparison(&plan("SELECT (SELECT 1 WHERE 2 > ALL (SELECT 1))").await).unwrap());
    }
}
