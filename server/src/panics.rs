//! Panics under a statement. A bug in Ember or in a dependency that panics fails that one
//! statement with XX000 ([`crate::statement::Limits`] and the row encoder catch the
//! unwind); the connection and the server go on. The release profile keeps
//! `panic = "unwind"` for this. [`install_hook`] logs every panic with its backtrace, and
//! `--test-functions` registers [`TestPanic`], the function the tests panic with.

use std::any::Any;
use std::backtrace::Backtrace;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Log each panic as an error with its backtrace (the statement's error says only its
/// message).
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(
            "panic in thread '{}'{location}: {}\n{}",
            thread.name().unwrap_or("unnamed"),
            message(info.payload()),
            Backtrace::force_capture()
        );
    }));
}

/// The text of a panic's payload.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// `ember_test_panic(text) -> int`: panics with its argument. Immutable, so a constant
/// argument panics while the statement is planned (constant folding) and a column
/// argument while it runs. Registered only with `--test-functions`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TestPanic {
    signature: Signature,
}

impl TestPanic {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(TestPanic { signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for TestPanic {
    fn name(&self) -> &str {
        "ember_test_panic"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    #[allow(clippy::panic)]
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text)))) => text.clone(),
            Some(ColumnarValue::Array(array)) => format!("{} rows", array.len()),
            _ => return exec_err!("ember_test_panic takes one text argument"),
        };
        panic!("ember_test_panic: {text}");
    }
}
