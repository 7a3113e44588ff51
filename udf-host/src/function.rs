//! A Python function's definition: what the worker needs to load and call it.

use std::hash::{Hash, Hasher};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;
use crate::types::worker_type_name;

/// How the function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// `def f(x, y) -> value`, called once per row (NULL arrives as `None`).
    Scalar,
    /// `def f(xs, ys) -> array`: whole columns in (pyarrow arrays or pandas Series), one
    /// array of the same length out.
    Vectorized,
    /// A class with `accumulate(*values)` and `finish()`, or a function reducing whole
    /// columns to one value.
    Aggregate,
    /// Returns an iterable of rows: `SELECT * FROM f(...)`.
    Table,
}

impl FunctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Vectorized => "vectorized",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Table => "table",
        }
    }
}

/// How vectorized functions receive their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VectorInput {
    #[default]
    Arrow,
    Pandas,
}

/// The function's code: Python source defining `name`, or cloudpickle bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FunctionBody {
    Source(String),
    /// Base64 cloudpickle bytes and the `major.minor` Python version that pickled them.
    Pickle { base64: String, python_version: String },
}

/// Everything a worker needs to run one function.
#[derive(Debug, Clone)]
pub struct PythonFunction {
    pub name: String,
    pub kind: FunctionKind,
    pub vector_input: VectorInput,
    pub args: Vec<Field>,
    /// One field for scalar and aggregate functions; the columns of a table function.
    pub returns: Vec<Field>,
    pub body: FunctionBody,
    pub volatile: bool,
    /// NULL in any argument gives NULL without calling the function (row-at-a-time only).
    pub strict: bool,
    /// Identifies this exact definition in the workers (changes with any part of it).
    pub id: u64,
}

impl PythonFunction {
    /// Every part of a definition is a separate fact the worker needs; a builder would add
    /// nothing but ceremony for the two callers.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        kind: FunctionKind,
        vector_input: VectorInput,
        args: Vec<Field>,
        returns: Vec<Field>,
        body: FunctionBody,
        volatile: bool,
        strict: bool,
    ) -> Result<Self> {
        for field in args.iter().chain(&returns) {
            worker_type_name(field.data_type())?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&name, kind, vector_input, &body, volatile, strict).hash(&mut hasher);
        for field in args.iter().chain(&returns) {
            (field.name(), field.data_type()).hash(&mut hasher);
        }
        Ok(Self { name, kind, vector_input, args, returns, body, volatile, strict, id: hasher.finish() })
    }

    pub fn arg_types(&self) -> Vec<DataType> {
        self.args.iter().map(|f| f.data_type().clone()).collect()
    }

    /// The schema of the batch of arguments sent to the worker.
    pub fn arg_schema(&self) -> SchemaRef {
        let fields: Vec<Field> =
            self.args.iter().enumerate().map(|(i, f)| Field::new(format!("a{i}"), f.data_type().clone(), true)).collect();
        std::sync::Arc::new(Schema::new(fields))
    }

    pub fn return_schema(&self) -> SchemaRef {
        std::sync::Arc::new(Schema::new(self.returns.iter().map(|f| f.clone().with_nullable(true)).collect::<Vec<_>>()))
    }

    /// The JSON header and the body of the worker's define request.
    pub fn define_message(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let types = |fields: &[Field]| fields.iter().map(|f| worker_type_name(f.data_type())).collect::<Result<Vec<_>>>();
        let (format, python_version, body) = match &self.body {
            FunctionBody::Source(source) => ("source", String::new(), source.as_bytes().to_vec()),
            FunctionBody::Pickle { base64, python_version } => ("pickle", python_version.clone(), base64.as_bytes().to_vec()),
        };
        let header = serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "input": match self.vector_input { VectorInput::Arrow => "arrow", VectorInput::Pandas => "pandas" },
            "format": format,
            "strict": self.strict,
            "python_version": python_version,
            "arg_types": types(&self.args)?,
            "return_types": types(&self.returns)?,
            "return_names": self.returns.iter().map(|f| f.name().clone()).collect::<Vec<_>>(),
        });
        Ok((header.to_string().into_bytes(), body))
    }
}

/// Equality and hashing of a DataFusion wrapper of a Python function by the function's
/// definition id (DataFusion compares UDFs to deduplicate and cache plans).
macro_rules! identity_by_definition {
    ($wrapper:ty) => {
        impl PartialEq for $wrapper {
            fn eq(&self, other: &Self) -> bool {
                self.function.id == other.function.id
            }
        }

        impl Eq for $wrapper {}

        impl std::hash::Hash for $wrapper {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.function.id.hash(state);
            }
        }
    };
}

pub(crate) use identity_by_definition;
