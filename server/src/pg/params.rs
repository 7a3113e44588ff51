//! Bound parameter values -> DataFusion scalars (through arrow-pg), after normalising the
//! declared types arrow-pg cannot decode: `uuid`, `json` and `jsonb` are text on Ember's
//! Arrow side, so a value declared with one of them (psycopg 3, asyncpg, pgjdbc's
//! `setObject(uuid)`) is turned into its text form -- from the binary encoding when the
//! client sent binary -- and decoded as `text`; the plan's cast then validates it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::stmt::StoredStatement;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use tokio_util::bytes::Bytes;
use pgwire::messages::extendedquery::Bind;

/// Declared parameter types decoded as text.
fn textual(ty: &Type) -> bool {
    *ty == Type::UUID || *ty == Type::JSON || *ty == Type::JSONB
}

/// Decode `portal`'s parameters; `declared` is the PostgreSQL type per parameter (the
/// client's at Parse, or the tagged type Ember described), `inferred` the plan's type
/// (`None` where the declared type decides).
pub fn decode<S: Clone>(portal: &Portal<S>, declared: &[Option<Type>], inferred: &[Option<&DataType>]) -> PgWireResult<ParamValues> {
    let values = decode_declared(portal, declared, inferred)?;
    Ok(untyped_arrays(portal, declared, inferred, values))
}

/// Parameters sent as text of unknown type whose type the plan leaves open (`x = ANY($1)`)
/// are text, or a text array when they are PostgreSQL array literals (parsed fully: quotes,
/// escapes, `NULL`), where arrow-pg would split `{"p", "f"}` on commas and keep the quotes.
fn untyped_arrays<S: Clone>(portal: &Portal<S>, declared: &[Option<Type>], inferred: &[Option<&DataType>], values: ParamValues) -> ParamValues {
    let ParamValues::List(mut list) = values else { return values };
    for (i, slot) in list.iter_mut().enumerate() {
        let untyped = match declared.get(i) {
            None | Some(None) => true,
            Some(Some(ty)) => *ty == Type::UNKNOWN,
        };
        if !untyped || inferred.get(i).copied().flatten().is_some() || portal.parameter_format.is_binary(i) {
            continue;
        }
        let Some(Some(bytes)) = portal.parameters.get(i) else { continue };
        let Ok(text) = std::str::from_utf8(bytes) else { continue };
        if !text.starts_with('{') {
            continue;
        }
        slot.value = match ember_planner::pg_input::array_text::parse(text) {
            Some(items) => {
                let items: Vec<ScalarValue> = items.into_iter().map(ScalarValue::Utf8).collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&items, &DataType::Utf8))
            }
            None => ScalarValue::Utf8(Some(text.to_string())),
        };
    }
    ParamValues::List(list)
}

fn decode_declared<S: Clone>(portal: &Portal<S>, declared: &[Option<Type>], inferred: &[Option<&DataType>]) -> PgWireResult<ParamValues> {
    let unchanged = declared.iter().enumerate().all(|(i, t)| portal.statement.parameter_types.get(i).cloned().flatten() == *t);
    if unchanged && !declared.iter().flatten().any(textual) {
        return arrow_pg::datatypes::df::deserialize_parameters(portal, inferred);
    }
    let mut types = declared.to_vec();
    let mut values = portal.parameters.clone();
    let mut formats = Vec::with_capacity(values.len());
    for (i, value) in values.iter_mut().enumerate() {
        let binary = portal.parameter_format.is_binary(i);
        match declared.get(i) {
            Some(Some(ty)) if textual(ty) => {
                if binary && let Some(bytes) = value.take() {
                    *value = Some(Bytes::from(binary_to_text(ty, &bytes)?));
                }
                types[i] = Some(Type::TEXT);
                formats.push(0);
            }
            _ => formats.push(i16::from(binary)),
        }
    }
    let statement = Arc::new(StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        types,
    ));
    let bind = Bind::new(Some(portal.name.clone()), Some(statement.id.clone()), formats, values, vec![]);
    let normalized = Portal::try_new(&bind, statement)?;
    arrow_pg::datatypes::df::deserialize_parameters(&normalized, inferred)
}

/// The text form of a binary-encoded uuid / json / jsonb value.
fn binary_to_text(ty: &Type, bytes: &[u8]) -> PgWireResult<String> {
    let invalid = |what: &str| {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            "22P03".to_string(),
            format!("invalid binary {what} parameter"),
        )))
    };
    if *ty == Type::UUID {
        let b: [u8; 16] = bytes.try_into().map_err(|_| invalid("uuid"))?;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        return Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]));
    }
    // jsonb's binary form is a version byte (1) and the text; json's is the text.
    let text = if *ty == Type::JSONB {
        match bytes.split_first() {
            Some((1, rest)) => rest,
            _ => return Err(invalid("jsonb")),
        }
    } else {
        bytes
    };
    String::from_utf8(text.to_vec()).map_err(|_| invalid("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::ScalarValue;

    fn portal(types: Vec<Option<Type>>, formats: Vec<i16>, values: Vec<Option<&[u8]>>) -> Portal<()> {
        let statement = Arc::new(StoredStatement::new("s".to_string(), (), types));
        let values = values.into_iter().map(|v| v.map(|b| Bytes::from(b.to_vec()))).collect();
        Portal::try_new(&Bind::new(None, None, formats, values, vec![]), statement).unwrap()
    }

    fn scalars(values: ParamValues) -> Vec<ScalarValue> {
        match values {
            ParamValues::List(list) => list.into_iter().map(|v| v.value).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    const UUID_BYTES: [u8; 16] = [0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11];
    const UUID_TEXT: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

    /// One row per (declared type, format): the scalar the plan receives.
    #[test]
    fn declared_textual_types() {
        let cases: Vec<(Type, i16, Vec<u8>, &str)> = vec![
            (Type::UUID, 1, UUID_BYTES.to_vec(), UUID_TEXT),
            (Type::UUID, 0, UUID_TEXT.as_bytes().to_vec(), UUID_TEXT),
            (Type::JSONB, 1, b"\x01{\"a\": 1}".to_vec(), "{\"a\": 1}"),
            (Type::JSONB, 0, b"{\"a\": 1}".to_vec(), "{\"a\": 1}"),
            (Type::JSON, 1, b"[1, 2]".to_vec(), "[1, 2]"),
            (Type::JSON, 0, b"[1, 2]".to_vec(), "[1, 2]"),
        ];
        for (ty, format, bytes, expected) in cases {
            // An int4 beside it keeps its own (binary) format.
            let p = portal(vec![Some(ty.clone()), Some(Type::INT4)], vec![format, 1], vec![Some(&bytes), Some(&7i32.to_be_bytes())]);
            let got = scalars(decode(&p, &p.statement.parameter_types, &[None, None]).unwrap());
            assert_eq!(got, vec![ScalarValue::Utf8(Some(expected.to_string())), ScalarValue::Int32(Some(7))], "{ty} format {format}");
        }
        let null = portal(vec![Some(Type::UUID)], vec![1], vec![None]);
        assert_eq!(scalars(decode(&null, &null.statement.parameter_types, &[None]).unwrap()), vec![ScalarValue::Utf8(None)]);
        // Undeclared at Parse, described as uuid (`$1::uuid`): a binary uuid decodes too.
        let undeclared = portal(vec![None], vec![1], vec![Some(&UUID_BYTES)]);
        let got = scalars(decode(&undeclared, &[Some(Type::UUID)], &[None]).unwrap());
        assert_eq!(got, vec![ScalarValue::Utf8(Some(UUID_TEXT.to_string()))]);
    }

    #[test]
    fn malformed_binary_values_are_errors() {
        let short = portal(vec![Some(Type::UUID)], vec![1], vec![Some(&[1, 2, 3])]);
        assert!(decode(&short, &short.statement.parameter_types, &[None]).is_err());
        let jsonb = portal(vec![Some(Type::JSONB)], vec![1], vec![Some(b"\x02{}")]);
        assert!(decode(&jsonb, &jsonb.statement.parameter_types, &[None]).is_err());
    }
}
