//! The arguments of `lag`, `lead` and `nth_value` as PostgreSQL reads them (an analyzer
//! rule before type coercion).
//!
//! | PostgreSQL 15 | DataFusion |
//! |---|---|
//! | `lag(int_col, 1, 0.5)` is `numeric`: value and default take their common type | the default is cast to the value's type (`0`) |
//! | `lag(x, NULL)` is NULL on every row | a NULL offset is read as 1 |
//! | `nth_value(x, 0)` → `22016 argument of nth_value must be greater than zero` | NULL |
//!
//! A NULL offset reaches no row, and PostgreSQL then answers NULL rather than the
//! default, so the rule gives such a call an offset past any partition and no default.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::{Cast, WindowFunction};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, WindowFunctionDefinition};
use datafusion::optimizer::AnalyzerRule;

use crate::data_error::PgDataError;

/// An offset no partition reaches, with room for DataFusion's row arithmetic.
const PAST_ANY_PARTITION: i64 = i64::MAX / 4;

/// Analyzer rule: PostgreSQL's reading of `lag`/`lead`/`nth_value` arguments.
#[derive(Debug, Default)]
pub struct WindowArguments;

impl AnalyzerRule for WindowArguments {
    fn name(&self) -> &str {
        "ember_window_arguments"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::analyze::rewrite_plan_expressions(plan, arguments)
    }
}

fn is_null(expr: &Expr) -> bool {
    matches!(expr, Expr::Literal(value, _) if value.is_null())
}

/// The type PostgreSQL gives an argument: an integer constant that fits in 32 bits is an
/// `integer` (Ember's literal rule leaves window-function arguments as DataFusion's `bigint`).
fn written_type(expr: &Expr, schema: &DFSchema) -> Result<DataType> {
    let literal = match expr {
        Expr::Negative(inner) => inner.as_ref(),
        other => other,
    };
    match literal {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) if i32::try_from(*v).is_ok() => Ok(DataType::Int32),
        _ => expr.get_type(schema),
    }
}

/// PostgreSQL's common type of two numbers: a float when either is one (`double
/// precision` is the preferred type of the numeric category), else the wider of the two;
/// DataFusion's comparison type otherwise.
fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    if a.is_numeric() && b.is_numeric() {
        if [a, b].contains(&&DataType::Float64) || [a, b].iter().all(|t| t.is_floating()) && a != b {
            return Some(DataType::Float64);
        }
        if let Some(float) = [a, b].into_iter().find(|t| t.is_floating()) {
            return Some(float.clone());
        }
    }
    comparison_coercion(a, b)
}

fn arguments(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::WindowFunction(window) = &expr else { return Ok(Transformed::no(expr)) };
    let WindowFunctionDefinition::WindowUDF(udf) = &window.fun else { return Ok(Transformed::no(expr)) };
    let args = &window.params.args;
    match (udf.name(), args.as_slice()) {
        ("nth_value", [_, Expr::Literal(n, _)]) => {
            if let Ok(ScalarValue::Int64(Some(n))) = n.cast_to(&datafusion::arrow::datatypes::DataType::Int64)
                && n <= 0
            {
                return Err(PgDataError::new("22016", "argument of nth_value must be greater than zero").into());
            }
            Ok(Transformed::no(expr))
        }
        ("lag" | "lead", [value, offset, ..]) if is_null(offset) => {
            let mut window: WindowFunction = window.as_ref().clone();
            window.params.args = vec![value.clone(), Expr::Literal(ScalarValue::Int64(Some(PAST_ANY_PARTITION)), None)];
            Ok(Transformed::yes(Expr::WindowFunction(Box::new(window))))
        }
        ("lag" | "lead", [value, offset, default]) => {
            let (Ok(value_type), Ok(default_type)) = (value.get_type(schema), written_type(default, schema)) else {
                return Ok(Transformed::no(expr));
            };
            if value_type == default_type || default_type.is_null() || value_type.is_null() {
                return Ok(Transformed::no(expr));
            }
            let Some(common) = common_type(&value_type, &default_type) else { return Ok(Transformed::no(expr)) };
            if common == value_type {
                // The default is cast to the value's type, which DataFusion does as well.
                return Ok(Transformed::no(expr));
            }
            let cast = |e: &Expr, t: &DataType| match t == &common {
                true => e.clone(),
                false => Expr::Cast(Cast::new(Box::new(e.clone()), common.clone())),
            };
            let mut window: WindowFunction = window.as_ref().clone();
            window.params.args = vec![cast(value, &value_type), offset.clone(), cast(default, &default_type)];
            Ok(Transformed::yes(Expr::WindowFunction(Box::new(window))))
        }
        _ => Ok(Transformed::no(expr)),
    }
}

#[cfg(test)]
mod tests {
    async fn rows(sql: &str) -> datafusion::common::Result<Vec<String>> {
        let ctx = crate::analyze::test_context();
        let batches = ctx.sql(sql).await?.collect().await?;
        let mut out = vec![];
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = (0..batch.num_columns())
                    .map(|c| datafusion::common::ScalarValue::try_from_array(batch.column(c), row).map(|v| v.to_string()))
                    .collect::<datafusion::common::Result<Vec<_>>>()?;
                out.push(values.join(","));
            }
        }
        Ok(out)
    }

    const T: &str = "(VALUES (CAST(1 AS INT), CAST(100 AS INT)), (2, 120), (3, 130)) v(id, s)";

    #[tokio::test]
    async fn default_and_value_share_a_type() {
        let got = rows(&format!("SELECT lag(s, 1, 0.5) OVER (ORDER BY id), lead(s, 1, 0.5) OVER (ORDER BY id) FROM {T} ORDER BY id")).await.unwrap();
        assert_eq!(got, ["0.5,120.0", "100.0,130.0", "120.0,0.5"]);
    }

    #[tokio::test]
    async fn integer_defaults_keep_the_value_type() {
        let ints = "(VALUES (CAST(1 AS INT)), (CAST(2 AS INT))) v(id)";
        let sql = format!("SELECT arrow_typeof(lead(id, 1, 0) OVER ()), arrow_typeof(lag(id, 1, -1) OVER ()) FROM {ints} LIMIT 1");
        assert_eq!(rows(&sql).await.unwrap(), ["Int32,Int32"]);
    }

    #[tokio::test]
    async fn a_float_value_stays_a_float() {
        let sql = format!("SELECT arrow_typeof(lead(CAST(s AS DOUBLE), 1, 0.5) OVER ()) AS a, arrow_typeof(lead(s, 1, CAST(0.5 AS REAL)) OVER (ORDER BY id)) AS b FROM {T} LIMIT 1");
        assert_eq!(rows(&sql).await.unwrap(), ["Float64,Float32"]);
    }

    #[tokio::test]
    async fn null_offset_is_null() {
        let got = rows(&format!("SELECT lag(id, NULL) OVER (ORDER BY id), lead(id, NULL, 7) OVER (ORDER BY id) FROM {T} ORDER BY id")).await.unwrap();
        assert_eq!(got, ["NULL,NULL", "NULL,NULL", "NULL,NULL"]);
    }

    #[tokio::test]
    async fn nth_value_needs_a_positive_position() {
        let err = rows(&format!("SELECT nth_value(id, 0) OVER (ORDER BY id) FROM {T}")).await.unwrap_err();
        assert_eq!(crate::data_error::PgDataError::find(&err).map(|e| e.sqlstate()), Some("22016"), "{err}");
        assert_eq!(rows(&format!("SELECT nth_value(id, 2) OVER (ORDER BY id) FROM {T} ORDER BY id")).await.unwrap(), ["NULL", "2", "2"]);
    }
}
