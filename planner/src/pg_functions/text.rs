//! Text functions whose DataFusion namesakes answer differently from PostgreSQL.
//!
//! | PostgreSQL 15 | DataFusion |
//! |---|---|
//! | `to_hex(-1)` (`integer`) → `ffffffff` | `ffffffffffffffff` |
//! | `encode('hello', 'base64')` → `aGVsbG8=`, lines of 76 characters | `aGVsbG8` |
//! | `chr(0)` → `54000 null character not permitted` | a NUL character |
//! | `similar_to_escape('(a|b)%')` → `^(?:(?:a|b).*)$` | no such function |
//!
//! `similar_to_escape` is how PostgreSQL runs `SIMILAR TO` (`x SIMILAR TO p` is
//! `x ~ similar_to_escape(p)`); [`crate::similar_to`] writes the statement that way.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};

use crate::data_error::PgDataError;

/// The rows of a call: 1 when every argument is a constant (the answer is one too).
fn rows(args: &ScalarFunctionArgs) -> (usize, bool) {
    let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    (if scalar { 1 } else { args.number_rows }, scalar)
}

fn answer(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?) } else { ColumnarValue::Array(array) })
}

/// Text arguments as `Utf8` arrays, `rows` long.
fn texts(args: &[ColumnarValue], rows: usize) -> Result<Vec<StringArray>> {
    args.iter().map(|a| Ok(cast(&a.to_array(rows)?, &DataType::Utf8)?.as_string::<i32>().clone())).collect()
}

/// `to_hex(integer)` / `to_hex(bigint)`: the two's complement of the argument's own width.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToHex {
    signature: Signature,
}

impl ToHex {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { signature: Signature::user_defined(Volatility::Immutable) })
    }
}

/// PostgreSQL's `to_hex` of `value` held in `bits` bits.
pub fn to_hex(value: i64, bits: u32) -> String {
    match bits {
        32 => format!("{:x}", value as i32 as u32),
        _ => format!("{:x}", value as u64),
    }
}

impl ScalarUDFImpl for ToHex {
    fn name(&self) -> &str {
        "to_hex"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![match arg_types {
            [DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 | DataType::Null] => DataType::Int32,
            [t] if t.is_integer() => DataType::Int64,
            other => return plan_err!("function to_hex({other:?}) does not exist"),
        }])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (n, scalar) = rows(&args);
        let Some(arg) = args.args.first() else { return plan_err!("to_hex takes one argument") };
        let bits = if arg.data_type() == DataType::Int32 { 32 } else { 64 };
        let values = cast(&arg.to_array(n)?, &DataType::Int64)?;
        let out: StringArray = values.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| to_hex(v, bits))).collect();
        answer(Arc::new(out), scalar)
    }
}

/// `chr(integer)`: PostgreSQL's errors for NUL, surrogates and code points past Unicode.
pub fn chr(code: i64) -> Result<String> {
    if code == 0 {
        return Err(PgDataError::new("54000", "null character not permitted").into());
    }
    let unsigned = code as i32 as u32;
    if unsigned > 0x10ffff {
        return Err(PgDataError::new("54000", format!("requested character too large for encoding: {unsigned}")).into());
    }
    match char::from_u32(unsigned) {
        Some(c) => Ok(c.to_string()),
        None => Err(PgDataError::new("54000", format!("requested character not valid for encoding: {unsigned}")).into()),
    }
}

/// PostgreSQL's `encode(bytea, format)`: `base64` padded and broken into lines of 76
/// characters, `hex` in lower case, `escape` with `\ooo` for NUL and bytes past ASCII.
pub fn encode(bytes: &[u8], format: &str) -> Result<String> {
    use std::fmt::Write;
    match format.to_ascii_lowercase().as_str() {
        "base64" => Ok(base64(bytes)),
        "hex" => Ok(bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })),
        "escape" => Ok(bytes.iter().fold(String::with_capacity(bytes.len()), |mut s, b| {
            match b {
                b'\\' => s.push_str("\\\\"),
                0 | 0x80..=0xff => {
                    let _ = write!(s, "\\{b:03o}");
                }
                b => s.push(*b as char),
            }
            s
        })),
        _ => Err(PgDataError::new("22023", format!("unrecognized encoding: \"{format}\"")).into()),
    }
}

/// PostgreSQL's base64 (`pg_b64_encode` as `encode` uses it): the standard alphabet, `=`
/// padding, a newline after every 76 characters.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push('\n');
        }
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Chr,
    Encode,
    SimilarToEscape,
}

/// `chr`, `encode` and `similar_to_escape`: row by row over their arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TextFunction {
    kind: Kind,
    signature: Signature,
}

impl TextFunction {
    pub fn chr() -> ScalarUDF {
        Self::udf(Kind::Chr, TypeSignature::Exact(vec![DataType::Int64]))
    }

    pub fn encode() -> ScalarUDF {
        Self::udf(Kind::Encode, TypeSignature::Exact(vec![DataType::Binary, DataType::Utf8]))
    }

    pub fn similar_to_escape() -> ScalarUDF {
        let text = TypeSignature::Exact(vec![DataType::Utf8]);
        let with_escape = TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]);
        Self::udf(Kind::SimilarToEscape, TypeSignature::OneOf(vec![text, with_escape]))
    }

    fn udf(kind: Kind, signature: TypeSignature) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self { kind, signature: Signature::new(signature, Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for TextFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Chr => "chr",
            Kind::Encode => "encode",
            Kind::SimilarToEscape => "similar_to_escape",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (n, scalar) = rows(&args);
        let out: StringArray = match self.kind {
            Kind::Chr => {
                let codes = cast(&args.args[0].to_array(n)?, &DataType::Int64)?;
                codes.as_primitive::<Int64Type>().iter().map(|c| c.map(chr).transpose()).collect::<Result<_>>()?
            }
            Kind::Encode => {
                let bytes = cast(&args.args[0].to_array(n)?, &DataType::Binary)?;
                let bytes = bytes.as_binary::<i32>();
                let formats = texts(&args.args[1..], n)?;
                (0..n)
                    .map(|i| match bytes.is_null(i) || formats[0].is_null(i) {
                        true => Ok(None),
                        false => encode(bytes.value(i), formats[0].value(i)).map(Some),
                    })
                    .collect::<Result<_>>()?
            }
            Kind::SimilarToEscape => {
                let args = texts(&args.args, n)?;
                (0..n)
                    .map(|i| {
                        if args.iter().any(|a| a.is_null(i)) {
                            return Ok(None);
                        }
                        let escape = args.get(1).map(|e| e.value(i));
                        crate::similar_to::similar_to_escape(args[0].value(i), escape).map(Some)
                    })
                    .collect::<Result<_>>()?
            }
        };
        answer(Arc::new(out), scalar)
    }
}

pub fn udfs() -> Vec<ScalarUDF> {
    vec![ToHex::udf(), TextFunction::chr(), TextFunction::encode(), TextFunction::similar_to_escape()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_answer_as_postgres() {
        assert_eq!(to_hex(-1, 32), "ffffffff");
        assert_eq!(to_hex(-1, 64), "ffffffffffffffff");
        assert_eq!(to_hex(255, 32), "ff");
        assert_eq!(encode(b"hello", "base64").unwrap(), "aGVsbG8=");
        assert_eq!(encode(&[0u8; 60], "base64").unwrap(), format!("{}\n{}", "A".repeat(76), "A".repeat(4)));
        assert_eq!(encode(b"hello", "HEX").unwrap(), "68656c6c6f");
        assert_eq!(encode(b"a\\b\x00\xff", "escape").unwrap(), "a\\\\b\\000\\377");
        assert!(encode(b"x", "rot13").is_err());
        assert_eq!(chr(65).unwrap(), "A");
        for code in [0, -1, 0x110000, 0xd800] {
            let err = chr(code).unwrap_err();
            assert_eq!(PgDataError::find(&err).map(PgDataError::sqlstate), Some("54000"), "{code}");
        }
    }

    #[tokio::test]
    async fn registered_under_postgres_names() {
        let ctx = crate::analyze::test_context();
        for udf in udfs() {
            ctx.register_udf(udf);
        }
        let row = crate::analyze::first_row(&ctx, "SELECT to_hex(CAST(-1 AS INT)) AS a, to_hex(CAST(-1 AS BIGINT)) AS b, encode(CAST('hello' AS BYTEA), 'base64'), chr(97)").await.unwrap();
        assert_eq!(row, "ffffffff,ffffffffffffffff,aGVsbG8=,a");
        let row = crate::analyze::first_row(&ctx, "SELECT to_hex(x) FROM (VALUES (CAST(-2 AS SMALLINT))) v(x)").await.unwrap();
        assert_eq!(row, "fffffffe");
    }
}
