//! Checked arithmetic: PostgreSQL's errors where DataFusion's kernels wrap or give infinity.
//!
//! | PostgreSQL 15 | DataFusion's kernels |
//! |---|---|
//! | `2147483647 + 1` → `22003 integer out of range` | wraps to `-2147483648` |
//! | `(-9223372036854775808)::int8 / -1` → `22003 bigint out of range` | wraps |
//! | `1e308::float8 * 10` → `22003 value out of range: overflow` | `Infinity` |
//! | `1e-300::float8 * 1e-300` → `22003 value out of range: underflow` | `0` |
//! | `1.0::float8 / 0` → `22012 division by zero` | `Infinity` |
//! | `(-2147483648) % -1` → `0` | overflow error |
//!
//! [`CheckedArithmetic`] is an analyzer rule that runs after type coercion (operand types
//! are final then) and replaces each such operator by a [`Checked`] function call.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, Datum, Scalar};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::try_binary;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::data_error::PgDataError;

/// The operators that are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Neg,
}

impl ArithOp {
    fn of(op: Operator) -> Option<ArithOp> {
        Some(match op {
            Operator::Plus => ArithOp::Add,
            Operator::Minus => ArithOp::Sub,
            Operator::Multiply => ArithOp::Mul,
            Operator::Divide => ArithOp::Div,
            Operator::Modulo => ArithOp::Rem,
            _ => return None,
        })
    }

    fn operator(self) -> Option<Operator> {
        Some(match self {
            ArithOp::Add => Operator::Plus,
            ArithOp::Sub => Operator::Minus,
            ArithOp::Mul => Operator::Multiply,
            ArithOp::Div => Operator::Divide,
            ArithOp::Rem => Operator::Modulo,
            ArithOp::Neg => return None,
        })
    }
}

/// `smallint`, `integer`, `bigint`, `real`, `double precision`: the types checked here.
fn checked_type(t: &DataType) -> bool {
    matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64)
}

/// The error PostgreSQL gives when a result does not fit `t`.
fn out_of_range(t: &DataType) -> DataFusionError {
    let name = match t {
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    };
    PgDataError::out_of_range(format!("{name} out of range")).into()
}

/// A tree of checked operators over its leaves (`#0 + #1 * #2`): what one [`Checked`] call
/// computes. Leaves are the call's arguments, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Program {
    Leaf(usize),
    Binary(ArithOp, Box<Program>, Box<Program>),
    Neg(Box<Program>),
}

/// A maximal tree of integer or float operators of one type as one scalar function whose
/// arguments are the tree's leaves. One function per tree, not one per operator: DataFusion
/// names a nested function call by formatting each level into a new string, which is
/// quadratic in the depth per name and cubic over a planning pass, where a chain of
/// operators is named in one streaming pass — `1 + 1 + ... + 1` with 5,000 terms would not
/// plan in useful time as 5,000 nested calls.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Checked {
    program: Program,
    signature: Signature,
}

impl Checked {
    fn new(program: Program) -> Self {
        Self { program, signature: Signature::variadic_any(Volatility::Immutable) }
    }

    /// The name DataFusion gives the operator expression this call stands for (`a + b`,
    /// `(- a)`), from the leaves' names.
    fn operator_name(&self, program: &Program, args: &[Expr], out: &mut String) {
        use std::fmt::Write;
        match program {
            Program::Leaf(i) => {
                let _ = match args.get(*i) {
                    Some(arg) => write!(out, "{}", arg.schema_name()),
                    None => write!(out, "#{i}"),
                };
            }
            Program::Binary(op, l, r) => {
                self.operator_name(l, args, out);
                let _ = write!(out, " {} ", op.operator().unwrap_or(Operator::Plus));
                self.operator_name(r, args, out);
            }
            Program::Neg(a) => {
                out.push_str("(- ");
                self.operator_name(a, args, out);
                out.push(')');
            }
        }
    }

    fn eval(&self, program: &Program, args: &[ColumnarValue], rows: usize) -> Result<Operand> {
        Ok(match program {
            Program::Leaf(i) => Operand::of(&args[*i])?,
            Program::Binary(op, l, r) => {
                let (l, r) = (self.eval(l, args, rows)?, self.eval(r, args, rows)?);
                Operand::from_result(binary(*op, &l, &r, rows)?, l.is_scalar() && r.is_scalar())?
            }
            Program::Neg(a) => {
                let a = self.eval(a, args, rows)?;
                Operand::from_result(negate(&a.expand(rows)?)?, a.is_scalar())?
            }
        })
    }
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        "ember_checked_arithmetic"
    }

    /// Named as the operators: `a + b`, so columns keep their names.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let mut name = String::new();
        self.operator_name(&self.program, args, &mut name);
        Ok(name)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types.first().cloned().ok_or_else(|| DataFusionError::Internal("checked arithmetic without operands".into()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(match self.eval(&self.program, &args.args, args.number_rows)? {
            Operand::Array(a) => ColumnarValue::Array(a),
            Operand::Scalar(s) => ColumnarValue::Scalar(ScalarValue::try_from_array(s.get().0, 0)?),
        })
    }
}

/// An argument as an arrow `Datum`: a whole column, or one value for every row.
enum Operand {
    Array(ArrayRef),
    Scalar(Scalar<ArrayRef>),
}

impl Operand {
    fn of(value: &ColumnarValue) -> Result<Operand> {
        Ok(match value {
            ColumnarValue::Array(a) => Operand::Array(a.clone()),
            ColumnarValue::Scalar(s) => Operand::Scalar(s.to_scalar()?),
        })
    }

    /// An operator's result: one value when every operand was one value.
    fn from_result(result: ArrayRef, scalar: bool) -> Result<Operand> {
        Ok(if scalar { Operand::Scalar(Scalar::new(result)) } else { Operand::Array(result) })
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Operand::Scalar(_))
    }

    fn datum(&self) -> &dyn Datum {
        match self {
            Operand::Array(a) => a,
            Operand::Scalar(s) => s,
        }
    }

    /// As a column of `rows` values (only on the rare paths that look at single values).
    fn expand(&self, rows: usize) -> Result<ArrayRef> {
        Ok(match self {
            Operand::Array(a) => a.clone(),
            Operand::Scalar(s) => ScalarValue::try_from_array(s.get().0, 0)?.to_array_of_size(rows.max(1))?,
        })
    }
}

fn arrow_error(e: ArrowError, t: &DataType) -> DataFusionError {
    match e {
        ArrowError::DivideByZero => PgDataError::division_by_zero().into(),
        ArrowError::ArithmeticOverflow(_) => out_of_range(t),
        other => DataFusionError::ArrowError(Box::new(other), None),
    }
}

fn negate(a: &ArrayRef) -> Result<ArrayRef> {
    numeric::neg(a.as_ref()).map_err(|e| arrow_error(e, a.data_type()))
}

fn binary(op: ArithOp, l: &Operand, r: &Operand, rows: usize) -> Result<ArrayRef> {
    let t = l.datum().get().0.data_type().clone();
    if matches!(t, DataType::Float32 | DataType::Float64) {
        return float_binary(op, l, r, rows);
    }
    let (ld, rd) = (l.datum(), r.datum());
    let result = match op {
        ArithOp::Add => numeric::add(ld, rd),
        ArithOp::Sub => numeric::sub(ld, rd),
        ArithOp::Mul => numeric::mul(ld, rd),
        ArithOp::Div => numeric::div(ld, rd),
        ArithOp::Rem => match numeric::rem(ld, rd) {
            // `minimum % -1` overflows in two's complement; PostgreSQL answers 0.
            Err(ArrowError::ArithmeticOverflow(_)) => return wrapping_rem(&l.expand(rows)?, &r.expand(rows)?),
            other => other,
        },
        ArithOp::Neg => return Err(DataFusionError::Internal("negation takes one argument".into())),
    };
    result.map_err(|e| arrow_error(e, &t))
}

fn wrapping_rem(l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef> {
    fn rem<T: ArrowPrimitiveType>(l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef>
    where
        T::Native: num_rem::WrappingRem,
    {
        let out = try_binary::<_, _, _, T>(l.as_primitive::<T>(), r.as_primitive::<T>(), |a, b| {
            if b == T::Native::default() { Err(ArrowError::DivideByZero) } else { Ok(num_rem::WrappingRem::wrapping_rem(a, b)) }
        });
        Ok(Arc::new(out.map_err(|e| arrow_error(e, l.data_type()))?))
    }
    match l.data_type() {
        DataType::Int16 => rem::<Int16Type>(l, r),
        DataType::Int32 => rem::<Int32Type>(l, r),
        _ => rem::<Int64Type>(l, r),
    }
}

mod num_rem {
    pub trait WrappingRem {
        fn wrapping_rem(self, other: Self) -> Self;
    }
    macro_rules! wrapping_rem {
        ($($t:ty),*) => {$(impl WrappingRem for $t {
            fn wrapping_rem(self, other: Self) -> Self { <$t>::wrapping_rem(self, other) }
        })*};
    }
    wrapping_rem!(i16, i32, i64);
}

/// Float arithmetic is IEEE's; PostgreSQL then refuses an infinite result from finite
/// operands (overflow), a zero product or quotient of non-zero operands (underflow), and
/// division by zero.
fn float_binary(op: ArithOp, l: &Operand, r: &Operand, rows: usize) -> Result<ArrayRef> {
    let (ld, rd) = (l.datum(), r.datum());
    let out = match op {
        ArithOp::Add => numeric::add(ld, rd),
        ArithOp::Sub => numeric::sub(ld, rd),
        ArithOp::Mul => numeric::mul(ld, rd),
        ArithOp::Div => numeric::div(ld, rd),
        // PostgreSQL has no `%` on floats; DataFusion's remainder stays as it was.
        ArithOp::Rem => numeric::rem(ld, rd),
        ArithOp::Neg => return Err(DataFusionError::Internal("negation takes one argument".into())),
    }?;
    let suspicious = match out.data_type() {
        DataType::Float32 => any_special::<Float32Type>(&out),
        _ => any_special::<Float64Type>(&out),
    };
    if suspicious && op != ArithOp::Rem {
        let (a, b) = (l.expand(rows)?, r.expand(rows)?);
        match out.data_type() {
            DataType::Float32 => check_floats::<Float32Type>(op, &a, &b, &out)?,
            _ => check_floats::<Float64Type>(op, &a, &b, &out)?,
        }
    }
    Ok(out)
}

/// Whether any (non-null) result is infinite or zero, the only ones that need a look.
fn any_special<T: ArrowPrimitiveType>(out: &ArrayRef) -> bool
where
    T::Native: Into<f64>,
{
    let values = out.as_primitive::<T>();
    let special = |v: f64| v.is_infinite() || v == 0.0 || v.is_nan();
    match values.nulls() {
        None => values.values().iter().any(|v| special((*v).into())),
        Some(_) => values.iter().flatten().any(|v| special(v.into())),
    }
}

fn check_floats<T: ArrowPrimitiveType>(op: ArithOp, a: &ArrayRef, b: &ArrayRef, out: &ArrayRef) -> Result<()>
where
    T::Native: Into<f64>,
{
    let (a, b, out) = (a.as_primitive::<T>(), b.as_primitive::<T>(), out.as_primitive::<T>());
    let at = |arr: &datafusion::arrow::array::PrimitiveArray<T>, i: usize| -> f64 {
        arr.value(if arr.len() == 1 { 0 } else { i }).into()
    };
    for i in 0..out.len() {
        if out.is_null(i) {
            continue;
        }
        let (x, y, z) = (at(a, i), at(b, i), out.value(i).into());
        if op == ArithOp::Div && y == 0.0 && !x.is_nan() {
            return Err(PgDataError::division_by_zero().into());
        }
        let overflow = z.is_infinite() && !x.is_infinite() && !y.is_infinite();
        let underflow = z == 0.0
            && match op {
                ArithOp::Mul => x != 0.0 && y != 0.0,
                ArithOp::Div => x != 0.0 && !y.is_infinite(),
                _ => false,
            };
        if overflow {
            return Err(PgDataError::out_of_range("value out of range: overflow").into());
        }
        if underflow {
            return Err(PgDataError::out_of_range("value out of range: underflow").into());
        }
    }
    Ok(())
}

/// Analyzer rule: trees of integer and float operators become [`Checked`] calls, unless
/// the session turned checking off (`SET ember.checked_arithmetic = off`).
#[derive(Debug, Default)]
pub struct CheckedArithmetic;

impl AnalyzerRule for CheckedArithmetic {
    fn name(&self) -> &str {
        "ember_checked_arithmetic"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        if !super::checked_arithmetic(config) {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(check_node).data()
    }
}

fn check_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    crate::analyze::rewrite_node_expressions(plan, check_expr)
}

fn is_arithmetic(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryExpr(b) => ArithOp::of(b.op).is_some(),
        Expr::Negative(_) => true,
        _ => false,
    }
}

/// Top-down: each maximal operator tree becomes one call; its leaves are checked in turn.
fn check_expr(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_down(|e| {
        if !is_arithmetic(&e) {
            return Ok(Transformed::no(e));
        }
        let mut leaves = Vec::new();
        let collected = collect(e, schema, &mut leaves)?;
        let done = finish(collected, &mut leaves, 0, schema)?;
        Ok(Transformed::new(done, true, TreeNodeRecursion::Jump))
    })
}

/// What [`collect`] found under an expression.
enum Collected {
    /// An operator tree of one checked type over leaves pushed to the shared list.
    Tree(Program, DataType),
    /// A non-operator expression, pushed to the leaves as leaf `n`.
    Leaf(usize),
    /// An operator that is not checked (dates, decimals, mixed types), already finished.
    Done(Expr),
}

/// Gather the operator tree under `expr` bottom-up; leaves are pushed to `leaves` in order
/// and typed once each.
fn collect(expr: Expr, schema: &DFSchema, leaves: &mut Vec<Expr>) -> Result<Collected> {
    let type_of = |c: &Collected, leaves: &[Expr]| -> Option<DataType> {
        match c {
            Collected::Tree(_, t) => Some(t.clone()),
            Collected::Leaf(i) => leaves[*i].get_type(schema).ok().filter(checked_type),
            Collected::Done(_) => None,
        }
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if ArithOp::of(op).is_some() => {
            let mark = leaves.len();
            let l = collect(*left, schema, leaves)?;
            let r = collect(*right, schema, leaves)?;
            match (type_of(&l, leaves), type_of(&r, leaves)) {
                (Some(lt), Some(rt)) if lt == rt => {
                    let arith = ArithOp::of(op).unwrap_or(ArithOp::Add);
                    Ok(Collected::Tree(Program::Binary(arith, Box::new(program(l)), Box::new(program(r))), lt))
                }
                _ => {
                    let mut own: Vec<Expr> = leaves.drain(mark..).collect();
                    let left = finish(l, &mut own, mark, schema)?;
                    let right = finish(r, &mut own, mark, schema)?;
                    Ok(Collected::Done(Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))))
                }
            }
        }
        Expr::Negative(inner) => {
            let mark = leaves.len();
            let a = collect(*inner, schema, leaves)?;
            match type_of(&a, leaves) {
                Some(t) => Ok(Collected::Tree(Program::Neg(Box::new(program(a))), t)),
                None => {
                    let mut own: Vec<Expr> = leaves.drain(mark..).collect();
                    Ok(Collected::Done(Expr::Negative(Box::new(finish(a, &mut own, mark, schema)?))))
                }
            }
        }
        other => {
            leaves.push(other);
            Ok(Collected::Leaf(leaves.len() - 1))
        }
    }
}

fn program(c: Collected) -> Program {
    match c {
        Collected::Tree(p, _) => p,
        Collected::Leaf(i) => Program::Leaf(i),
        Collected::Done(_) => Program::Leaf(usize::MAX),
    }
}

/// The finished expression for what was collected; `own` holds the leaves numbered from
/// `base`. A tree's leaves are checked in turn (they may hold operators inside function
/// calls or casts) and become the call's arguments.
fn finish(c: Collected, own: &mut [Expr], base: usize, schema: &DFSchema) -> Result<Expr> {
    let mut take = |i: usize| -> Result<Expr> {
        let leaf = std::mem::replace(&mut own[i - base], Expr::Literal(ScalarValue::Null, None));
        check_expr(leaf, schema).map(|t| t.data)
    };
    Ok(match c {
        Collected::Done(e) => e,
        Collected::Leaf(i) => take(i)?,
        Collected::Tree(program, _) => {
            let mut args = Vec::new();
            let program = renumber(&program, &mut |i| {
                args.push(i);
                args.len() - 1
            });
            let args = args.into_iter().map(&mut take).collect::<Result<Vec<_>>>()?;
            Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(Checked::new(program))), args))
        }
    })
}

/// `program` with its leaves numbered from 0 in order.
fn renumber(program: &Program, next: &mut impl FnMut(usize) -> usize) -> Program {
    match program {
        Program::Leaf(i) => Program::Leaf(next(*i)),
        Program::Binary(op, l, r) => {
            let l = renumber(l, next);
            Program::Binary(*op, Box::new(l), Box::new(renumber(r, next)))
        }
        Program::Neg(a) => Program::Neg(Box::new(renumber(a, next))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn one(sql: &str, checked: bool) -> Result<String> {
        let mut config = datafusion::prelude::SessionConfig::new().with_option_extension(super::super::EmberOptions::default());
        config.options_mut().sql_parser.dialect = datafusion::common::config::Dialect::PostgreSQL;
        config.options_mut().set("ember.checked_arithmetic", if checked { "true" } else { "false" })?;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_analyzer_rule(Arc::new(CheckedArithmetic))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(ScalarValue::try_from_array(batches[0].column(0), 0)?.to_string())
    }

    fn sqlstate(e: &DataFusionError) -> Option<&'static str> {
        PgDataError::find(e).map(PgDataError::sqlstate)
    }

    #[tokio::test]
    async fn overflow_and_division_as_postgres() {
        // Constant and column operands (the column from VALUES is not folded).
        for sql in [
            "SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)",
            "SELECT x + y FROM (VALUES (CAST(2147483647 AS INT))) v(x) CROSS JOIN (VALUES (CAST(1 AS INT))) w(y)",
            "SELECT CAST(-9223372036854775807 AS BIGINT) - 2",
            "SELECT CAST(32767 AS SMALLINT) * CAST(2 AS SMALLINT)",
            "SELECT -x FROM (VALUES (CAST(-2147483648 AS INT))) v(x)",
            "SELECT CAST(1e308 AS DOUBLE) * CAST(10 AS DOUBLE)",
            "SELECT CAST(1e-300 AS DOUBLE) * CAST(1e-300 AS DOUBLE)",
        ] {
            let err = one(sql, true).await.unwrap_err();
            assert_eq!(sqlstate(&err), Some("22003"), "{sql}: {err}");
        }
        for sql in ["SELECT CAST(1 AS INT) / CAST(0 AS INT)", "SELECT x / 0.0e0 FROM (VALUES (CAST(1 AS DOUBLE))) v(x)", "SELECT 5 % 0"] {
            let err = one(sql, true).await.unwrap_err();
            assert_eq!(sqlstate(&err), Some("22012"), "{sql}: {err}");
        }
        assert_eq!(one("SELECT CAST(-2147483648 AS INT) % CAST(-1 AS INT)", true).await.unwrap(), "0");
        assert_eq!(one("SELECT CAST(-7 AS INT) / CAST(2 AS INT)", true).await.unwrap(), "-3");
        assert!(one("SELECT CAST(1e308 AS DOUBLE) * CAST(10 AS DOUBLE) > 0", true).await.is_err());
        // Infinity in, infinity out is not an overflow; NaN is not a division by zero.
        assert_eq!(one("SELECT CAST('Infinity' AS DOUBLE) + CAST(1 AS DOUBLE)", true).await.unwrap(), "inf");
        assert_eq!(one("SELECT CAST('NaN' AS DOUBLE) / CAST(0 AS DOUBLE)", true).await.unwrap(), "NaN");
        // The switch: DataFusion's wrapping arithmetic.
        assert_eq!(one("SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)", false).await.unwrap(), "-2147483648");
    }

    #[tokio::test]
    async fn named_as_the_operator() {
        let ctx = SessionContext::new_with_state(
            datafusion::execution::SessionStateBuilder::new()
                .with_default_features()
                .with_analyzer_rule(Arc::new(CheckedArithmetic))
                .build(),
        );
        let df = ctx.sql("SELECT x + 1, -x FROM (VALUES (1)) v(x)").await.unwrap();
        let plan = df.into_optimized_plan().unwrap();
        let names: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["v.x + Int64(1)", "(- v.x)"]);
        assert!(plan.display_indent().to_string().contains("ember_checked_arithmetic"), "{}", plan.display_indent());
    }
}
