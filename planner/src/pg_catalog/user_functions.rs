//! User functions (Ember's Python functions) as rows of `pg_proc`, after the crate's static
//! rows of PostgreSQL's built-ins, so `\df` and drivers' function listings show them.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::physical_plan::collect;

/// What `pg_proc` shows of one user function.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFunction {
    pub name: String,
    pub args: Vec<DataType>,
    pub returns: DataType,
    pub aggregate: bool,
    pub returns_set: bool,
    pub strict: bool,
    pub volatile: bool,
    pub source: String,
}

/// The engine's user functions at the moment of a query.
pub type UserFunctionSource = Arc<dyn Fn() -> Vec<UserFunction> + Send + Sync>;

/// `pg_proc`: the crate's rows, then one row per user function.
#[derive(Clone)]
pub struct WithUserFunctions {
    inner: Arc<dyn TableProvider>,
    namespaces: Arc<dyn TableProvider>,
    source: UserFunctionSource,
    schema: SchemaRef,
}

impl std::fmt::Debug for WithUserFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithUserFunctions").finish_non_exhaustive()
    }
}

impl WithUserFunctions {
    pub fn new(inner: Arc<dyn TableProvider>, namespaces: Arc<dyn TableProvider>, source: UserFunctionSource) -> Self {
        let schema = inner.schema();
        Self { inner, namespaces, source, schema }
    }

    /// The crate's rows and the user functions' rows.
    async fn scan_rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let mut batches = super::patch::scan_all(state, self.inner.as_ref()).await?;
        let functions = (self.source)();
        if !functions.is_empty() {
            batches.push(rows(&self.schema, &functions, self.public_oid(state).await?)?);
        }
        Ok(batches)
    }

    /// The OID `pg_namespace` gives schema `public`.
    async fn public_oid(&self, state: &dyn Session) -> Result<Option<i64>> {
        let plan = self.namespaces.scan(state, None, &[], None).await?;
        let schema = plan.schema();
        let (Ok(oid_index), Ok(name_index)) = (schema.index_of("oid"), schema.index_of("nspname")) else { return Ok(None) };
        for batch in collect(plan, state.task_ctx()).await? {
            let oids = cast(batch.column(oid_index), &DataType::Int64)?;
            let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let names = cast(batch.column(name_index), &DataType::Utf8)?;
            let names = names.as_string::<i32>();
            for i in 0..batch.num_rows() {
                if names.is_valid(i) && names.value(i) == "public" && oids.is_valid(i) {
                    return Ok(Some(oids.value(i)));
                }
            }
        }
        Ok(None)
    }
}

/// A stable OID per function name, above the range PostgreSQL's built-ins use.
pub(crate) fn function_oid(name: &str) -> i64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    1_000_000_000 + (hasher.finish() % 1_000_000_000) as i64
}

/// PostgreSQL's type OID for an Arrow type (as Ember encodes it).
pub(crate) fn type_oid(data_type: &DataType) -> Option<i64> {
    Some(match data_type {
        DataType::Boolean => 16,
        DataType::Int8 | DataType::Int16 => 21,
        DataType::Int32 => 23,
        DataType::Int64 => 20,
        DataType::Float32 => 700,
        DataType::Float64 => 701,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 25,
        DataType::Binary | DataType::LargeBinary => 17,
        DataType::Date32 => 1082,
        DataType::Timestamp(_, None) => 1114,
        DataType::Timestamp(_, Some(_)) => 1184,
        DataType::Decimal128(..) => 1700,
        _ => return None,
    })
}

fn rows(schema: &SchemaRef, functions: &[UserFunction], namespace: Option<i64>) -> Result<RecordBatch> {
    let n = functions.len();
    let text = |f: &dyn Fn(&UserFunction) -> Option<String>| -> ArrayRef { Arc::new(functions.iter().map(f).collect::<StringArray>()) };
    let int = |f: &dyn Fn(&UserFunction) -> Option<i64>| -> ArrayRef { Arc::new(functions.iter().map(f).collect::<Int64Array>()) };
    let flag = |f: &dyn Fn(&UserFunction) -> bool| -> ArrayRef { Arc::new(functions.iter().map(|u| Some(f(u))).collect::<BooleanArray>()) };
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let values: Option<ArrayRef> = match field.name().as_str() {
                "oid" => Some(int(&|u| Some(function_oid(&u.name)))),
                "proname" => Some(text(&|u| Some(u.name.clone()))),
                "pronamespace" => Some(int(&|_| namespace)),
                "proowner" => Some(int(&|_| Some(10))),
                "prokind" => Some(text(&|u| Some(if u.aggregate { "a" } else { "f" }.to_string()))),
                "proretset" => Some(flag(&|u| u.returns_set)),
                "proisstrict" => Some(flag(&|u| u.strict)),
                "provolatile" => Some(text(&|u| Some(if u.volatile { "v" } else { "i" }.to_string()))),
                "pronargs" => Some(int(&|u| Some(u.args.len() as i64))),
                "pronargdefaults" => Some(int(&|_| Some(0))),
                "prorettype" => Some(int(&|u| type_oid(&u.returns))),
                "proargtypes" => Some(text(&|u| Some(u.args.iter().map(|a| type_oid(a).unwrap_or(0).to_string()).collect::<Vec<_>>().join(" ")))),
                "prosrc" => Some(text(&|u| Some(u.source.clone()))),
                _ => None,
            };
            Ok(match values {
                Some(values) => cast(&values, field.data_type()).unwrap_or_else(|_| new_null_array(field.data_type(), n)),
                None => new_null_array(field.data_type(), n),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Columns the crate declares NOT NULL get a value where we have none.
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(column, field)| if !field.is_nullable() && column.null_count() > 0 { zero_fill(&column, field.data_type()) } else { column })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A NOT NULL column we cannot fill: zeros / empty strings / false.
fn zero_fill(column: &ArrayRef, data_type: &DataType) -> ArrayRef {
    let n = column.len();
    let filled: ArrayRef = match data_type {
        DataType::Boolean => Arc::new(BooleanArray::from(vec![false; n])),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Arc::new(StringArray::from(vec![""; n])),
        _ => Arc::new(Int64Array::from(vec![0; n])),
    };
    cast(&filled, data_type).unwrap_or_else(|_| column.clone())
}

computed_view!(WithUserFunctions, Base);
