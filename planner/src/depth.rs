//! How deep a statement may nest, and chains made shallow.
//!
//! The parser builds operator chains (`a OR b OR ...`, `1 + 1 + ...`, `x::a::b`,
//! `SELECT .. UNION ALL SELECT ..`) in a loop, so a long chain becomes a tree as deep as
//! it is long. Everything after the parser walks that tree recursively: sqlparser's
//! derived `Clone`, `Drop` and visitors, DataFusion's SQL planner and analyzer. Parts of
//! DataFusion grow their stack on demand; the derived code does not, and a deep enough
//! tree overflows the thread's stack, which aborts the process. So, right after parsing:
//!
//! [`prepare`] walks the statement once, top-down:
//! - it turns each long chain of `AND`, of `OR` or of one kind of `UNION` into a balanced
//!   tree. Each is associative (in SQL's three-valued logic; for bags and for sets), so
//!   the answer is the same; the tree is log₂ n deep instead of n, and DataFusion's
//!   planner, which computes the type (or the source span) of a subtree at every
//!   operator, does n log n work instead of n²;
//! - it measures the nesting (expressions, subqueries, set operations, joins) and refuses
//!   a statement deeper than [`Nesting::max_depth`] with PostgreSQL's `54001 stack depth
//!   limit exceeded`. The walk stops as soon as the limit is passed (and when its own
//!   stack runs low), so it is safe at any depth.
//!
//! The server sizes its statement threads' stacks (`--stack-size`) and derives the depth
//! limit from it ([`Nesting::for_stack`]).

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, SetOperator, TableFactor, Value, ValueWithSpan, Values, VisitMut, VisitorMut,
};

use crate::{PlannerError, Result};

/// Stack one nesting level may take through parsing, planning and execution setup, with
/// margin: measured on the debug build, whose frames are the largest (README, "Limits").
pub const STACK_PER_LEVEL: usize = 8 << 10;

/// Levels one query (a subquery, a derived table) counts for: DataFusion's SQL planner
/// recurses through several large frames per query level without growing its stack
/// (about 28 KiB a level on the debug build, against 2 to 4 KiB per expression level).
const QUERY_LEVELS: usize = 16;

/// The walk in [`prepare`] stops when less than this much stack is left.
const RED_ZONE: usize = 256 << 10;

/// The longest statement text the server takes by default (`--max-query-size`).
pub const DEFAULT_MAX_TEXT: usize = 16 << 20;

/// How long and how deep statements may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nesting {
    /// The deepest nesting (expressions, subqueries, set operations) a statement may have.
    pub max_depth: usize,
    /// The longest statement text, in bytes (54000 beyond it).
    pub max_text: usize,
}

impl Nesting {
    /// The limits for statement threads with `stack` bytes of stack.
    pub fn for_stack(stack: usize, max_text: usize) -> Nesting {
        Nesting { max_depth: (stack / STACK_PER_LEVEL).max(64), max_text }
    }

    /// No limits (tests of the measuring itself).
    #[cfg(test)]
    pub fn unlimited() -> Nesting {
        Nesting { max_depth: usize::MAX, max_text: usize::MAX }
    }
}

impl Default for Nesting {
    /// The limits for the server's default 64 MiB statement stacks.
    fn default() -> Self {
        Nesting::for_stack(64 << 20, DEFAULT_MAX_TEXT)
    }
}

/// Balance the long AND/OR/UNION chains of `statement` and refuse it if it still nests
/// deeper than `nesting` allows (54001). One walk does both, top-down: a chain is balanced before
/// the walk descends into it, and the walk stops as soon as the limit is passed (or its
/// own stack runs low), so it is safe at any depth.
pub fn prepare(statement: &mut DfStatement, nesting: Nesting) -> Result<()> {
    let mut walk = Walk { depth: 0, limit: nesting.max_depth, queries: Vec::new() };
    let flow = match statement {
        DfStatement::Statement(inner) => inner.visit(&mut walk),
        DfStatement::Explain(explain) => return prepare(&mut explain.statement, nesting),
        DfStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => query.visit(&mut walk),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DfStatement::CreateExternalTable(_) | DfStatement::Reset(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(PlannerError::StackDepth { limit: nesting.max_depth }),
    }
}

struct Walk {
    depth: usize,
    limit: usize,
    /// The levels each query being walked entered with (left again after it).
    queries: Vec<usize>,
}

impl Walk {
    fn enter(&mut self, levels: usize) -> ControlFlow<()> {
        self.depth += levels;
        let low_stack = stacker::remaining_stack().is_some_and(|left| left < RED_ZONE);
        if self.depth > self.limit || low_stack { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn leave(&mut self, levels: usize) -> ControlFlow<()> {
        self.depth -= levels;
        ControlFlow::Continue(())
    }
}

impl VisitorMut for Walk {
    type Break = ();

    // A query's set operations nest without a callback in between: balance a long
    // UNION chain, then count what nesting is left, up front.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        balance_unions(&mut query.body);
        let levels = QUERY_LEVELS + set_operation_depth(&query.body);
        self.queries.push(levels);
        self.enter(levels)
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        let levels = self.queries.pop().unwrap_or_default();
        self.leave(levels)
    }

    fn pre_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.enter(1)
    }

    fn post_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.leave(1)
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp { op: op @ (BinaryOperator::And | BinaryOperator::Or), .. } = expr {
            let op = op.clone();
            if chain_length(expr, &op) >= BALANCE_FROM {
                let operands = take_chain(expr, &op);
                *expr = balanced(operands, &op);
            }
        }
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.leave(1)
    }
}

/// Turn a long left-deep chain of one kind of `UNION` (`UNION ALL`, or `UNION`) into a
/// balanced tree, keeping the branches in order. Union is associative for bags and for
/// sets, and the first branch, which names the columns, stays first; the chain is then
/// log₂ n deep, and DataFusion's SQL planner, which computes the source span of every
/// set operation's subtree, does n log n work instead of n². Other set operations, and
/// chains that mix kinds, are left alone.
fn balance_unions(body: &mut SetExpr) {
    let SetExpr::SetOperation { op: SetOperator::Union, set_quantifier, .. } = body else { return };
    let quantifier = *set_quantifier;
    let mut length = 1;
    let mut node: &SetExpr = body;
    while let SetExpr::SetOperation { left, op: SetOperator::Union, set_quantifier, .. } = node
        && *set_quantifier == quantifier
    {
        length += 1;
        node = left;
    }
    if length < BALANCE_FROM {
        return;
    }
    let top = std::mem::replace(body, SetExpr::Values(Values { explicit_row: false, value_keyword: false, rows: vec![] }));
    let branches = unchain(top, |node| match node {
        SetExpr::SetOperation { left, right, op: SetOperator::Union, set_quantifier } if set_quantifier == quantifier => Link::Link(*left, *right),
        other => Link::End(other),
    });
    let join = |left, right| SetExpr::SetOperation { left: Box::new(left), op: SetOperator::Union, set_quantifier: quantifier, right: Box::new(right) };
    if let Some(balanced) = rebalance(branches, join) {
        *body = balanced;
    }
}

/// How deep the set operations of a query body nest (0 for a plain SELECT), found
/// without recursion.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(body, 0usize)];
    while let Some((node, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = node {
            pending.push((left, depth + 1));
            pending.push((right, depth + 1));
        }
    }
    deepest
}

/// AND/OR chains shorter than this are left as they are.
const BALANCE_FROM: usize = 16;

/// How many operands the left-deep chain of `op` at `expr` has.
fn chain_length(mut expr: &Expr, op: &BinaryOperator) -> usize {
    let mut operands = 1;
    while let Expr::BinaryOp { left, op: this, .. } = expr
        && this == op
    {
        operands += 1;
        expr = left;
    }
    operands
}

/// The operands of the left-deep chain of `op` at `expr`, in order; `expr` is left as a
/// placeholder.
fn take_chain(expr: &mut Expr, op: &BinaryOperator) -> Vec<Expr> {
    unchain(std::mem::replace(expr, placeholder()), |node| match node {
        Expr::BinaryOp { left, op: this, right } if this == *op => Link::Link(*left, *right),
        other => Link::End(other),
    })
}

/// `operands` joined by `op` as a balanced tree, keeping their order.
fn balanced(operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    let join = |left, right| Expr::BinaryOp { left: Box::new(left), op: op.clone(), right: Box::new(right) };
    rebalance(operands, join).unwrap_or_else(placeholder)
}

/// A node of a chain taken apart: a link's left and right operands, or the node that ends
/// the chain (its first operand).
enum Link<T> {
    Link(T, T),
    End(T),
}

/// The operands of the left-deep chain at `top`, in order. `split` takes a link of the
/// chain apart. Each link is taken apart before it is dropped, so nothing recurses.
fn unchain<T>(top: T, split: impl Fn(T) -> Link<T>) -> Vec<T> {
    let mut operands = Vec::new();
    let mut node = top;
    loop {
        match split(node) {
            Link::Link(left, right) => {
                operands.push(right);
                node = left;
            }
            Link::End(first) => {
                operands.push(first);
                break;
            }
        }
    }
    operands.reverse();
    operands
}

/// `operands` as a balanced tree of `join`s, keeping their order: pairwise rounds, each
/// halving the number of operands, left to right.
pub(crate) fn rebalance<T>(mut operands: Vec<T>, join: impl Fn(T, T) -> T) -> Option<T> {
    while operands.len() > 1 {
        let mut next = Vec::with_capacity(operands.len().div_ceil(2));
        let mut pairs = operands.into_iter();
        while let Some(left) = pairs.next() {
            next.push(match pairs.next() {
                Some(right) => join(left, right),
                None => left,
            });
        }
        operands = next;
    }
    operands.pop()
}

fn placeholder() -> Expr {
    Expr::Value(ValueWithSpan::from(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::Statement;

    fn parsed(sql: &str) -> DfStatement {
        crate::parser::parse(sql, Nesting::unlimited()).unwrap().pop().map(|p| match p {
            crate::parser::Parsed::Statement(s) => s,
            _ => panic!("{sql}"),
        }).unwrap()
    }

    fn depth_of(sql: &str) -> usize {
        let statement = parsed(sql);
        (1..).find(|max| prepare(&mut statement.clone(), Nesting { max_depth: *max, ..Nesting::unlimited() }).is_ok()).unwrap()
    }

    #[test]
    fn depth_counts_expressions_subqueries_and_set_operations() {
        let shallow = depth_of("SELECT 1");
        assert_eq!(depth_of("SELECT ((1))"), shallow + 2);
        assert_eq!(depth_of("SELECT 1 + 1 + 1"), shallow + 2);
        assert_eq!(depth_of("SELECT (SELECT (SELECT 1))"), shallow + 2 * (QUERY_LEVELS + 1));
        assert_eq!(depth_of("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"), shallow + 2);
        // A long UNION ALL chain counts as the balanced tree it becomes; a mixed one does not.
        let unions = (0..5000).map(|i| format!("SELECT {i}")).collect::<Vec<_>>().join(" UNION ALL ");
        assert_eq!(depth_of(&unions), shallow + 13);
        let mixed = (0..100).map(|i| format!("SELECT {i}")).collect::<Vec<_>>().join(" UNION ALL ") + " UNION SELECT 1";
        assert_eq!(depth_of(&mixed), shallow + 100);
        let plus = format!("SELECT {}", vec!["1"; 500].join(" + "));
        assert_eq!(depth_of(&plus), shallow + 499);
        assert!(matches!(prepare(&mut parsed(&plus), Nesting { max_depth: 400, ..Nesting::unlimited() }), Err(PlannerError::StackDepth { limit: 400 })));
        // A long OR chain counts as the balanced tree it becomes.
        let or = format!("SELECT * FROM t WHERE {}", (0..10_000).map(|i| format!("v = {i}")).collect::<Vec<_>>().join(" OR "));
        assert!(depth_of(&or) < shallow + 30);
    }

    #[test]
    fn the_walk_stops_before_the_stack_runs_out() {
        // 200,000 levels on a 4 MiB thread, no depth limit: the walk must stop on its own
        // red zone, and the refused statement is dropped on a stack sized for it.
        let thread = std::thread::Builder::new()
            .stack_size(4 << 20)
            .spawn(|| {
                let plus = format!("SELECT {}", vec!["1"; 200_000].join(" + "));
                let result = crate::parser::parse(&plus, Nesting::unlimited());
                assert!(matches!(result, Err(PlannerError::StackDepth { .. })));
            })
            .unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn long_and_or_chains_become_balanced_in_order() {
        let terms: Vec<String> = (0..1000).map(|i| format!("v = {i}")).collect();
        let mut statement = parsed(&format!("SELECT * FROM t WHERE {}", terms.join(" OR ")));
        let before = statement.to_string();
        prepare(&mut statement, Nesting::default()).unwrap();
        let DfStatement::Statement(inner) = &statement else { panic!() };
        let Statement::Query(query) = inner.as_ref() else { panic!() };
        let SetExpr::Select(select) = query.body.as_ref() else { panic!() };
        let selection = select.selection.as_ref().unwrap();
        // ceil(log2(1000)) = 10 levels of OR, the same operands in the same order.
        assert_eq!(chain_height(selection), 10);
        assert_eq!(statement.to_string().replace(['(', ')'], ""), before.replace(['(', ')'], ""));
        // A UNION chain keeps its branches in order.
        let unions = (0..100).map(|i| format!("SELECT {i}")).collect::<Vec<_>>().join(" UNION ALL ");
        let mut statement = parsed(&unions);
        prepare(&mut statement, Nesting::default()).unwrap();
        assert_eq!(statement.to_string(), unions);
        // Short chains and mixed operators are left alone.
        let mut short = parsed("SELECT a OR b OR c AND d");
        let text = short.to_string();
        prepare(&mut short, Nesting::default()).unwrap();
        assert_eq!(short.to_string(), text);
    }

    fn chain_height(expr: &Expr) -> usize {
        match expr {
            Expr::BinaryOp { left, op: BinaryOperator::Or, right } => 1 + chain_height(left).max(chain_height(right)),
            _ => 0,
        }
    }
}
