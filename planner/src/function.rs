//! `CREATE FUNCTION ... LANGUAGE python` and `DROP FUNCTION`, parsed into a definition
//! the server hands to the Python UDF runtime.
//!
//! The form (documented in README "Python functions"):
//!
//! ```sql
//! CREATE [OR REPLACE] [TEMPORARY] FUNCTION name(arg type, ...)
//!     RETURNS type | RETURNS TABLE (col type, ...)
//!     LANGUAGE python [IMMUTABLE | STABLE | VOLATILE]
//!     [WITH (vectorized [= 'arrow' | 'pandas'] | aggregate | pickle = 'MAJOR.MINOR')]
//!     AS $$ def name(arg, ...): ... $$
//! ```
//!
//! PostgreSQL has no place for Ember's options, so Ember's parser takes a `WITH (...)`
//! clause after the signature out of the statement's tokens before sqlparser parses the
//! rest ([`lift_options`], called by [`crate::parser`]).

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    CreateFunction, CreateFunctionBody, DataType as SqlType, Expr, FunctionBehavior, FunctionCalledOnNull, FunctionReturnType, ObjectName,
    Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Word};

use crate::{PlannerError, Result};

/// One `WITH (...)` option of a `CREATE FUNCTION`: `name` or `name = 'value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionOption {
    pub name: String,
    pub value: Option<String>,
}

/// How the Python function is called (from its options and return type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionShape {
    Scalar,
    Vectorized { pandas: bool },
    Aggregate,
    Table,
}

/// A parsed `CREATE FUNCTION ... LANGUAGE python`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    pub or_replace: bool,
    pub temporary: bool,
    pub args: Vec<Field>,
    /// One field for scalar and aggregate functions; the columns of a table function.
    pub returns: Vec<Field>,
    pub shape: FunctionShape,
    pub volatile: bool,
    /// `STRICT` / `RETURNS NULL ON NULL INPUT`: a row with a NULL argument gives NULL
    /// without calling the function (otherwise NULL arrives as `None`).
    pub strict: bool,
    pub body: String,
    /// `Some("3.11")` when `body` is base64 cloudpickle bytes pickled by that Python.
    pub pickle_python: Option<String>,
    /// The statement as stored in the catalog (re-parsed at startup).
    pub sql: String,
}

/// `DROP FUNCTION [IF EXISTS] name[(types)], ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropFunctionSpec {
    pub names: Vec<String>,
    pub if_exists: bool,
}

/// Take the `WITH (...)` option lists out of one `CREATE FUNCTION` statement's tokens:
/// the indexes of the tokens to keep, and the options in order of appearance.
pub fn lift_options(tokens: &[Token]) -> Result<(Vec<usize>, Vec<FunctionOption>)> {
    let mut kept = Vec::with_capacity(tokens.len());
    let mut options = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            token if depth == 0 && is_keyword(token, Keyword::WITH) => {
                if let Some((found, next)) = parse_options(tokens, i + 1)? {
                    options.extend(found);
                    i = next;
                    continue;
                }
            }
            _ => {}
        }
        kept.push(i);
        i += 1;
    }
    Ok((kept, options))
}

fn is_keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(Word { keyword: k, .. }) if *k == keyword)
}

/// `( name [= 'value'], ... )` starting at `start` (after `WITH`); the options and the
/// index after `)`, or `None` if no parenthesis follows.
fn parse_options(tokens: &[Token], start: usize) -> Result<Option<(Vec<FunctionOption>, usize)>> {
    let significant = |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    let Some(open) = significant(start) else { return Ok(None) };
    if tokens[open] != Token::LParen {
        return Ok(None);
    }
    let bad = || PlannerError::Unsupported { feature: "this WITH (...) option list of CREATE FUNCTION".to_string() };
    let mut options = Vec::new();
    let mut j = open + 1;
    loop {
        let Some(k) = significant(j) else { return Err(bad()) };
        let name = match &tokens[k] {
            Token::Word(w) => w.value.to_lowercase(),
            Token::RParen if options.is_empty() => return Ok(Some((options, k + 1))),
            _ => return Err(bad()),
        };
        let mut value = None;
        let mut next = significant(k + 1).ok_or_else(bad)?;
        if tokens[next] == Token::Eq {
            let v = significant(next + 1).ok_or_else(bad)?;
            value = Some(match &tokens[v] {
                Token::SingleQuotedString(s) | Token::Word(Word { value: s, .. }) => s.clone(),
                Token::Number(n, _) => n.clone(),
                _ => return Err(bad()),
            });
            next = significant(v + 1).ok_or_else(bad)?;
        }
        options.push(FunctionOption { name, value });
        match tokens[next] {
            Token::Comma => j = next + 1,
            Token::RParen => return Ok(Some((options, next + 1))),
            _ => return Err(bad()),
        }
    }
}

/// Build the definition of a `LANGUAGE python` function; `None` for other languages.
pub fn python_function(create: &CreateFunction, options: &[FunctionOption]) -> Result<Option<FunctionSpec>> {
    let language = create.language.as_ref().map(|l| l.value.to_lowercase());
    if !matches!(language.as_deref(), Some("python" | "python3" | "plpython3u")) {
        return Ok(None);
    }
    let unsupported = |feature: String| PlannerError::Unsupported { feature };
    let name = single_name(&create.name)?;
    let args = create
        .args
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, arg)| {
            let name = arg.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("arg{}", i + 1));
            Ok(Field::new(name, arrow_type(&arg.data_type)?, true))
        })
        .collect::<Result<Vec<_>>>()?;
    let (returns, is_table) = match &create.return_type {
        Some(FunctionReturnType::DataType(SqlType::Table(Some(columns)))) => {
            let fields = columns
                .iter()
                .map(|c| Ok(Field::new(c.name.value.clone(), arrow_type(&c.data_type)?, true)))
                .collect::<Result<Vec<_>>>()?;
            (fields, true)
        }
        Some(FunctionReturnType::DataType(t)) => (vec![Field::new(name.clone(), arrow_type(t)?, true)], false),
        Some(FunctionReturnType::SetOf(_)) => {
            return Err(unsupported("RETURNS SETOF (use RETURNS TABLE (col type, ...))".to_string()));
        }
        None => return Err(unsupported("a Python function without RETURNS".to_string())),
    };
    let mut shape = if is_table { FunctionShape::Table } else { FunctionShape::Scalar };
    let mut pickle_python = None;
    for option in options {
        match (option.name.as_str(), option.value.as_deref()) {
            ("vectorized", None | Some("arrow" | "pyarrow")) if !is_table => shape = FunctionShape::Vectorized { pandas: false },
            ("vectorized", Some("pandas")) if !is_table => shape = FunctionShape::Vectorized { pandas: true },
            ("aggregate", None) if !is_table => shape = FunctionShape::Aggregate,
            ("pickle", Some(version)) => pickle_python = Some(version.to_string()),
            _ => {
                return Err(unsupported(format!(
                    "CREATE FUNCTION option {}{} (options: vectorized [= 'arrow' | 'pandas'], aggregate, pickle = 'MAJOR.MINOR')",
                    option.name,
                    option.value.as_ref().map(|v| format!(" = '{v}'")).unwrap_or_default()
                )));
            }
        }
    }
    let body = match &create.function_body {
        Some(CreateFunctionBody::AsBeforeOptions { body, link_symbol: None } | CreateFunctionBody::AsAfterOptions(body)) => {
            string_literal(body).ok_or_else(|| unsupported("a function body that is not a string".to_string()))?
        }
        _ => return Err(unsupported("a Python function without AS $$ ... $$ body".to_string())),
    };
    let volatile = !matches!(create.behavior, Some(FunctionBehavior::Immutable | FunctionBehavior::Stable));
    let strict = matches!(create.called_on_null, Some(FunctionCalledOnNull::Strict | FunctionCalledOnNull::ReturnsNullOnNullInput));
    let mut spec = FunctionSpec {
        name,
        or_replace: create.or_replace,
        temporary: create.temporary,
        args,
        returns,
        shape,
        volatile,
        strict,
        body,
        pickle_python,
        sql: String::new(),
    };
    spec.sql = canonical_sql(create, &spec, options);
    Ok(Some(spec))
}

/// The statement to store: the original signature, Ember's options, the body quoted so
/// that it cannot end early.
fn canonical_sql(create: &CreateFunction, spec: &FunctionSpec, options: &[FunctionOption]) -> String {
    let args = create
        .args
        .iter()
        .flatten()
        .map(|a| format!("{} {}", a.name.as_ref().map(|n| n.to_string()).unwrap_or_default(), a.data_type))
        .collect::<Vec<_>>()
        .join(", ");
    let returns = create.return_type.as_ref().map(|r| r.to_string()).unwrap_or_default();
    let options = if options.is_empty() {
        String::new()
    } else {
        let list = options
            .iter()
            .map(|o| match &o.value {
                Some(v) => format!("{} = '{}'", o.name, v.replace('\'', "''")),
                None => o.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(" WITH ({list})")
    };
    let behavior = match (spec.volatile, spec.strict) {
        (true, false) => "VOLATILE",
        (true, true) => "VOLATILE STRICT",
        (false, false) => "IMMUTABLE",
        (false, true) => "IMMUTABLE STRICT",
    };
    let mut tag = "ember".to_string();
    while spec.body.contains(&format!("${tag}$")) {
        tag.push('_');
    }
    format!(
        "CREATE FUNCTION {}({args}) RETURNS {returns} LANGUAGE python {behavior}{options} AS ${tag}${}${tag}$",
        create.name, spec.body
    )
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. }) => Some(s.clone()),
        Expr::Value(ValueWithSpan { value: Value::DollarQuotedString(s), .. }) => Some(s.value.clone()),
        _ => None,
    }
}

/// Functions live in one namespace (unqualified or `public.` names).
pub fn single_name(name: &ObjectName) -> Result<String> {
    // Unquoted identifiers fold to lower case, as DataFusion resolves them.
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) if i.quote_style.is_none() => i.value.to_lowercase(),
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == "public" => Ok(name.clone()),
        _ => Err(PlannerError::Unsupported { feature: format!("function name {name} (functions live in schema public)") }),
    }
}

/// SQL type of a Python function's argument or result -> Arrow type.
pub fn arrow_type(sql_type: &SqlType) -> Result<DataType> {
    Ok(match sql_type {
        SqlType::Boolean | SqlType::Bool => DataType::Boolean,
        SqlType::SmallInt(_) | SqlType::Int2(_) => DataType::Int16,
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => DataType::Int32,
        SqlType::BigInt(_) | SqlType::Int8(_) => DataType::Int64,
        SqlType::Real | SqlType::Float4 => DataType::Float32,
        SqlType::DoublePrecision | SqlType::Double(_) | SqlType::Float8 | SqlType::Float(_) => DataType::Float64,
        SqlType::Text | SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::String(_) => DataType::Utf8,
        SqlType::Bytea => DataType::Binary,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp(_, tz) => {
            use datafusion::sql::sqlparser::ast::TimezoneInfo;
            match tz {
                TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                _ => DataType::Timestamp(TimeUnit::Microsecond, None),
            }
        }
        SqlType::Numeric(info) | SqlType::Decimal(info) => {
            use datafusion::sql::sqlparser::ast::ExactNumberInfo;
            match info {
                ExactNumberInfo::PrecisionAndScale(p, s) => DataType::Decimal128(*p as u8, *s as i8),
                ExactNumberInfo::Precision(p) => DataType::Decimal128(*p as u8, 0),
                ExactNumberInfo::None => DataType::Decimal128(38, 10),
            }
        }
        other => {
            return Err(PlannerError::Unsupported {
                feature: format!("type {other} in a Python function (use boolean, smallint, integer, bigint, real, double precision, numeric(p,s), text, bytea, date, timestamp, timestamptz)"),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{Command, parse_for_test as parse};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    fn create(sql: &str) -> FunctionSpec {
        match parse(sql).unwrap().remove(0) {
            Command::CreateFunction(spec) => *spec,
            other => panic!("not a Python function: {other:?}"),
        }
    }

    #[test]
    fn options_are_lifted_per_statement() {
        let sql = "CREATE FUNCTION f(x int) RETURNS int LANGUAGE python WITH (vectorized = 'pandas') AS $$def f(x): return x$$; \
                   SELECT 1 WHERE true; CREATE FUNCTION g(x int) RETURNS int LANGUAGE python AS 'def g(x): return x'";
        let commands = parse(sql).unwrap();
        let [Command::CreateFunction(f), Command::Plan(_), Command::CreateFunction(g)] = commands.as_slice() else { panic!("{commands:?}") };
        assert_eq!(f.shape, FunctionShape::Vectorized { pandas: true });
        assert_eq!(g.shape, FunctionShape::Scalar);
        // A WITH inside the body is part of the body.
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, "CREATE FUNCTION f() RETURNS int LANGUAGE python AS $$with (x)$$").tokenize().unwrap();
        let (kept, options) = lift_options(&tokens).unwrap();
        assert_eq!((kept.len(), options.len()), (tokens.len(), 0));
    }

    #[test]
    fn python_function_shapes() {
        let spec = create("CREATE OR REPLACE FUNCTION Plus(x bigint, y double precision) RETURNS bigint LANGUAGE python IMMUTABLE STRICT AS $$def plus(x, y): return x$$");
        assert_eq!(spec.name, "plus");
        assert!(spec.or_replace && !spec.volatile && spec.strict);
        assert_eq!(spec.shape, FunctionShape::Scalar);
        assert_eq!(spec.args.iter().map(|f| f.data_type().clone()).collect::<Vec<_>>(), vec![DataType::Int64, DataType::Float64]);
        assert_eq!(spec.body, "def plus(x, y): return x");
        // The stored statement parses back to the same definition.
        let again = create(&spec.sql);
        assert_eq!((again.args, again.returns, again.body, again.strict, again.volatile), (spec.args, spec.returns, spec.body, spec.strict, spec.volatile));

        let spec = create("CREATE FUNCTION t(n int) RETURNS TABLE (i bigint, s text) LANGUAGE python AS $$def t(n): yield 1, 'a'$$");
        assert_eq!(spec.shape, FunctionShape::Table);
        assert_eq!(spec.returns.len(), 2);
        let spec = create("CREATE FUNCTION a(x float8) RETURNS float8 LANGUAGE python WITH (aggregate) AS $$class a: pass$$");
        assert_eq!(spec.shape, FunctionShape::Aggregate);
        assert_eq!(create(&spec.sql).shape, FunctionShape::Aggregate);
        let spec = create("CREATE FUNCTION p(x int) RETURNS int LANGUAGE python WITH (pickle = '3.11') AS 'gASV'");
        assert_eq!(spec.pickle_python.as_deref(), Some("3.11"));
    }

    #[test]
    fn bad_definitions_are_clear_errors() {
        for sql in [
            "CREATE FUNCTION f(x int) RETURNS int LANGUAGE python WITH (turbo) AS $$x$$",
            "CREATE FUNCTION f(x interval) RETURNS int LANGUAGE python AS $$x$$",
            "CREATE FUNCTION f(x int) LANGUAGE python AS $$x$$",
            "CREATE FUNCTION s.f(x int) RETURNS int LANGUAGE python AS $$x$$",
        ] {
            assert!(matches!(parse(sql), Err(PlannerError::Unsupported { .. })), "{sql}");
        }
        // Other languages go to DataFusion untouched.
        assert!(matches!(parse("CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql RETURN x").unwrap()[0], Command::Plan(_)));
    }

    #[test]
    fn drop_function() {
        match parse("DROP FUNCTION IF EXISTS f(bigint), public.g").unwrap().remove(0) {
            Command::DropFunction(spec) => assert_eq!(spec, DropFunctionSpec { names: vec!["f".into(), "g".into()], if_exists: true }),
            other => panic!("{other:?}"),
        }
    }
}
