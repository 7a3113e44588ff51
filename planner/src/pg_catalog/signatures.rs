//! `pg_get_function_result`, `pg_get_function_arguments` and
//! `pg_get_function_identity_arguments`: the signature text of a `pg_proc` row, for
//! PostgreSQL's built-ins (the crate's static `pg_proc` rows, read once per engine) and
//! Ember's stored Python functions (read at call time, so new functions show at once).
//!
//! Types are named as `format_type` names them (`integer`, `text[]`). The static rows carry
//! no argument names, modes or defaults, so arguments are listed by type only
//! (`bigint, bigint`), which is what PostgreSQL prints for unnamed arguments.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, Signature, TypeSignature, Volatility};
use datafusion_pg_catalog::pg_catalog::format_type::create_format_type_udf;

use super::user_functions::{UserFunctionSource, function_oid, type_oid};

/// One function's signature text.
#[derive(Debug, Clone, PartialEq)]
struct Rendered {
    /// `None` for procedures, as in PostgreSQL.
    result: Option<String>,
    arguments: String,
}

/// Signatures of the built-ins by OID, and the user functions' source.
#[derive(Clone)]
pub struct Signatures {
    builtins: Arc<HashMap<i64, Rendered>>,
    user_functions: UserFunctionSource,
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures").field("builtins", &self.builtins.len()).finish_non_exhaustive()
    }
}

impl Signatures {
    /// Read the static `pg_proc` batches once.
    pub fn new(pg_proc: &[RecordBatch], user_functions: UserFunctionSource) -> Result<Self> {
        struct Row {
            oid: i64,
            args: Vec<i32>,
            returns: i32,
            set: bool,
            procedure: bool,
        }
        let mut rows = Vec::new();
        for batch in pg_proc {
            let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
                let c = batch.column_by_name(name).ok_or_else(|| DataFusionError::Plan(format!("pg_proc.{name} missing")))?;
                Ok(cast(c, to)?)
            };
            let oids = column("oid", &DataType::Int64)?;
            let rettypes = column("prorettype", &DataType::Int32)?;
            let argtypes = column("proargtypes", &DataType::Utf8)?;
            let retset = column("proretset", &DataType::Boolean)?;
            let kinds = column("prokind", &DataType::Utf8)?;
            let (oids, rettypes, argtypes, retset, kinds) = (
                oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>(),
                rettypes.as_primitive::<Int32Type>(),
                argtypes.as_string::<i32>(),
                retset.as_boolean(),
                kinds.as_string::<i32>(),
            );
            for i in 0..batch.num_rows() {
                let args = if argtypes.is_null(i) {
                    vec![]
                } else {
                    argtypes.value(i).split_whitespace().filter_map(|t| t.parse().ok()).collect()
                };
                rows.push(Row {
                    oid: oids.value(i),
                    args,
                    returns: rettypes.value(i),
                    set: retset.is_valid(i) && retset.value(i),
                    procedure: kinds.is_valid(i) && kinds.value(i) == "p",
                });
            }
        }
        let mut oids: Vec<i32> = rows.iter().flat_map(|r| r.args.iter().copied().chain([r.returns])).collect();
        oids.sort_unstable();
        oids.dedup();
        let names = type_names(&oids)?;
        let name = |oid: &i32| names.get(oid).cloned().unwrap_or_else(|| format!("oid({oid})"));
        let builtins = rows
            .iter()
            .map(|r| {
                let result = (!r.procedure).then(|| format!("{}{}", if r.set { "SETOF " } else { "" }, name(&r.returns)));
                (r.oid, Rendered { result, arguments: r.args.iter().map(name).collect::<Vec<_>>().join(", ") })
            })
            .collect();
        Ok(Self { builtins: Arc::new(builtins), user_functions })
    }

    fn lookup(&self, oid: i64) -> Option<Rendered> {
        if let Some(r) = self.builtins.get(&oid) {
            return Some(r.clone());
        }
        let functions = (self.user_functions)();
        let function = functions.iter().find(|f| function_oid(&f.name) == oid)?;
        let mut oids: Vec<i32> = function.args.iter().chain([&function.returns]).filter_map(type_oid).filter_map(|o| i32::try_from(o).ok()).collect();
        oids.sort_unstable();
        oids.dedup();
        let names = type_names(&oids).ok()?;
        let name = |t: &DataType| {
            type_oid(t).and_then(|o| i32::try_from(o).ok()).and_then(|o| names.get(&o).cloned()).unwrap_or_else(|| "record".to_string())
        };
        Some(Rendered {
            result: Some(format!("{}{}", if function.returns_set { "SETOF " } else { "" }, name(&function.returns))),
            arguments: function.args.iter().map(name).collect::<Vec<_>>().join(", "),
        })
    }

    /// The three catalog functions, to register per session.
    pub fn udfs(&self) -> Vec<ScalarUDF> {
        let make = |name: &str, pick: fn(Rendered) -> Option<String>| {
            let this = self.clone();
            ScalarUDF::from(SimpleScalarUDF::new_with_signature(
                name,
                Signature::new(TypeSignature::Any(1), Volatility::Stable),
                DataType::Utf8,
                Arc::new(move |args: &[ColumnarValue]| {
                    let [arg] = args else { return Err(DataFusionError::Plan("expected one oid".to_string())) };
                    let (array, scalar) = match arg {
                        ColumnarValue::Array(a) => (a.clone(), false),
                        ColumnarValue::Scalar(s) => (s.to_array()?, true),
                    };
                    let oids = cast(&array, &DataType::Int64)?;
                    let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                    let out: StringArray = oids.iter().map(|o| o.and_then(|o| this.lookup(o)).and_then(pick)).collect();
                    let out: ArrayRef = Arc::new(out);
                    Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
                }),
            ))
        };
        vec![
            make("pg_get_function_result", |r| r.result),
            make("pg_get_function_arguments", |r| Some(r.arguments)),
            make("pg_get_function_identity_arguments", |r| Some(r.arguments)),
        ]
    }
}

/// `format_type(oid, NULL)` for each OID, through the crate's implementation.
fn type_names(oids: &[i32]) -> Result<HashMap<i32, String>> {
    if oids.is_empty() {
        return Ok(HashMap::new());
    }
    let udf = create_format_type_udf();
    let n = oids.len();
    let args = vec![
        ColumnarValue::Array(Arc::new(Int32Array::from(oids.to_vec()))),
        ColumnarValue::Array(Arc::new(Int32Array::from(vec![None::<i32>; n]))),
    ];
    let arg_fields = vec![Arc::new(Field::new("oid", DataType::Int32, true)), Arc::new(Field::new("typmod", DataType::Int32, true))];
    let out = udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: n,
        return_field: Arc::new(Field::new("format_type", DataType::Utf8, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })?;
    let out = out.into_array(n)?;
    let out = cast(&out, &DataType::Utf8)?;
    let out = out.as_string::<i32>();
    Ok(oids.iter().enumerate().filter(|(i, _)| out.is_valid(*i)).map(|(i, o)| (*o, out.value(i).to_string())).collect())
}
