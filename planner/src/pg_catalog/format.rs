//! PostgreSQL's `format(formatstr, VARIADIC args)`: `%s` (text, NULL as empty), `%I`
//! (identifier, quoted when needed), `%L` (literal, NULL as `NULL`), `%%`, and positions
//! (`%2$s`). Clients build names with it (Metabase: `format('%I.%I', schema, table)::regclass`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};

pub fn udf() -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "format",
        Signature::new(TypeSignature::VariadicAny, Volatility::Stable),
        DataType::Utf8,
        Arc::new(evaluate),
    ))
}

fn evaluate(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let rows = args.iter().find_map(|a| match a {
        ColumnarValue::Array(array) => Some(array.len()),
        ColumnarValue::Scalar(_) => None,
    });
    let texts: Vec<ArrayRef> = args
        .iter()
        .map(|a| datafusion::arrow::compute::cast(&a.to_array(rows.unwrap_or(1))?, &DataType::Utf8).map_err(DataFusionError::from))
        .collect::<Result<_>>()?;
    let texts: Vec<&StringArray> = texts.iter().map(|a| a.as_string::<i32>()).collect();
    let Some((template, values)) = texts.split_first() else {
        return Err(DataFusionError::Plan("format() needs a format string".to_string()));
    };
    let mut out = Vec::with_capacity(template.len());
    for row in 0..template.len() {
        if template.is_null(row) {
            out.push(None);
            continue;
        }
        let row_values: Vec<Option<&str>> = values.iter().map(|v| (!v.is_null(row)).then(|| v.value(row))).collect();
        out.push(Some(format(template.value(row), &row_values).map_err(DataFusionError::Execution)?));
    }
    let array: ArrayRef = Arc::new(StringArray::from(out));
    Ok(match rows {
        Some(_) => ColumnarValue::Array(array),
        None => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
    })
}

/// Apply PostgreSQL's format string to `values`.
pub fn format(template: &str, values: &[Option<&str>]) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'%').is_some() {
            out.push('%');
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.next_if(|d| d.is_ascii_digit()) {
            digits.push(d);
        }
        let index = if digits.is_empty() {
            next
        } else if chars.next_if_eq(&'$').is_some() {
            digits.parse::<usize>().map_err(|_| "invalid argument position in format()".to_string())?.checked_sub(1).ok_or("format() positions start at 1")?
        } else {
            return Err("unsupported width in format()".to_string());
        };
        let kind = chars.next().ok_or("unterminated format() specifier")?;
        let value = *values.get(index).ok_or("too few arguments for format()")?;
        next = index + 1;
        match kind {
            's' => out.push_str(value.unwrap_or("")),
            'I' => out.push_str(&quote_ident(value.ok_or("null values cannot be formatted as an SQL identifier")?)),
            'L' => out.push_str(&value.map(quote_literal).unwrap_or_else(|| "NULL".to_string())),
            other => return Err(format!("unrecognized format() type specifier \"{other}\"")),
        }
    }
    Ok(out)
}

/// `quote_ident`: double-quoted unless a plain lower-case identifier.
pub fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// `quote_literal`: single-quoted, with PostgreSQL's `E''` form when it holds backslashes.
fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if value.contains('\\') { format!("E'{}'", quoted.replace('\\', "\\\\")) } else { format!("'{quoted}'") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        assert_eq!(format("%I.%I", &[Some("public"), Some("My Table")]).unwrap(), "public.\"My Table\"");
        assert_eq!(format("%s|%s", &[Some("a"), None]).unwrap(), "a|");
        assert_eq!(format("%L and %L", &[Some("it's"), None]).unwrap(), "'it''s' and NULL");
        assert_eq!(format("100%% %2$s %1$s %s", &[Some("x"), Some("y")]).unwrap(), "100% y x y");
        assert_eq!(format("\"%s\".\"%s\"", &[Some("s"), Some("t")]).unwrap(), "\"s\".\"t\"");
        assert!(format("%s %s", &[Some("one")]).is_err());
        assert!(format("%I", &[None]).is_err());
        assert!(format("%x", &[Some("a")]).is_err());
    }
}
