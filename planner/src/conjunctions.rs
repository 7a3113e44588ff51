//! Long `AND` chains stay balanced through optimization. The parser turns a chain of
//! thousands of `AND`s into a balanced tree ([`crate::depth`]), but DataFusion's filter
//! pushdown splits every filter into its conjuncts and joins them again left-deep, and the
//! rules after it (expression simplification looks for repeated conjuncts along the chain)
//! take time quadratic in a left-deep chain's length: a 10,000-term `AND` took seconds to
//! plan. [`BalancedConjunctions`] runs right after pushdown and gives a long chain back its
//! balanced shape, conjuncts in the same order (`AND` is associative in three-valued logic,
//! so the answer is the same).

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// A chain of `AND`s nested deeper than this is rebalanced (a balanced tree of 2^64
/// conjuncts is 64 deep, so a balanced chain is never touched again).
const MAX_CHAIN_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub struct BalancedConjunctions;

impl OptimizerRule for BalancedConjunctions {
    fn name(&self) -> &str {
        "ember_balanced_conjunctions"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else { return Ok(Transformed::no(plan)) };
        if and_depth(&filter.predicate) <= MAX_CHAIN_DEPTH {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let Filter { predicate, input, .. } = filter;
        let balanced = balanced_and(split_conjunction_owned(predicate));
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(balanced, input)?)))
    }
}

/// How deep `AND`s nest in `expr`, counting only `AND` nodes below `AND` nodes (no
/// recursion: an explicit stack).
fn and_depth(expr: &Expr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 0)];
    while let Some((expr, depth)) = stack.pop() {
        if let Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) = expr {
            deepest = deepest.max(depth + 1);
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

/// `conjuncts` joined by `AND` as a balanced tree, in order.
fn balanced_and(conjuncts: Vec<Expr>) -> Expr {
    crate::depth::rebalance(conjuncts, Expr::and).unwrap_or_else(|| Expr::Literal(true.into(), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn left_deep(n: i64) -> Expr {
        (1..n).fold(col("column1").not_eq(lit(0i64)), |chain, i| chain.and(col("column1").not_eq(lit(i))))
    }

    #[test]
    fn a_long_left_deep_chain_becomes_balanced_in_order() {
        let chain = left_deep(1000);
        assert_eq!(and_depth(&chain), 999);
        let balanced = balanced_and(split_conjunction_owned(chain.clone()));
        assert_eq!(and_depth(&balanced), 10);
        let order = |e: &Expr| datafusion::logical_expr::utils::split_conjunction(e).into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(order(&balanced), order(&chain));
    }

    fn values() -> datafusion::logical_expr::LogicalPlanBuilder {
        datafusion::logical_expr::LogicalPlanBuilder::values(vec![vec![lit(1i64)]]).unwrap()
    }

    #[test]
    fn short_chains_are_left_alone() {
        let plan = values().filter(left_deep(10)).unwrap().build().unwrap();
        let config = datafusion::optimizer::OptimizerContext::new();
        assert!(!BalancedConjunctions.rewrite(plan.clone(), &config).unwrap().transformed);
        let long = values().filter(left_deep(100)).unwrap().build().unwrap();
        let rewritten = BalancedConjunctions.rewrite(long, &config).unwrap();
        assert!(rewritten.transformed);
        let LogicalPlan::Filter(filter) = rewritten.data else { panic!("a filter") };
        assert_eq!(and_depth(&filter.predicate), 7);
    }
}
