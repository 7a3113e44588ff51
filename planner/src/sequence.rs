//! Sequences as statements name them: `CREATE SEQUENCE`, `DROP SEQUENCE`, and the columns
//! of a `CREATE TABLE` that PostgreSQL backs with one (`serial`, `bigserial`,
//! `smallserial`, `GENERATED ... AS IDENTITY`). The server keeps the sequences.

use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, ColumnOptionDef, CreateTable, DataType, Expr, Ident, ObjectName, SequenceOptions as SqlOptions, UnaryOperator, Value,
    ValueWithSpan,
};

use crate::error::{PlannerError, Result};

/// What a sequence counts: PostgreSQL's defaults for an ascending `bigint` sequence unless
/// set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceOptions {
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    pub cycle: bool,
}

impl SequenceOptions {
    /// PostgreSQL's defaults for a sequence of values up to `type_max`, with `options`.
    fn from_sql(options: &[SqlOptions], type_max: i64) -> Result<Self> {
        let mut increment = 1;
        let (mut min, mut max, mut start, mut cycle) = (None, None, None, false);
        for option in options {
            match option {
                SqlOptions::IncrementBy(e, _) => increment = integer(e)?,
                SqlOptions::MinValue(e) => min = e.as_ref().map(integer).transpose()?,
                SqlOptions::MaxValue(e) => max = e.as_ref().map(integer).transpose()?,
                SqlOptions::StartWith(e, _) => start = Some(integer(e)?),
                SqlOptions::Cache(_) => {}
                SqlOptions::Cycle(c) => cycle = *c,
            }
        }
        if increment == 0 {
            return Err(invalid("INCREMENT must not be zero"));
        }
        let type_min = if type_max == i64::MAX { i64::MIN } else { -type_max - 1 };
        let min = min.unwrap_or(if increment > 0 { 1 } else { type_min });
        let max = max.unwrap_or(if increment > 0 { type_max } else { -1 });
        let start = start.unwrap_or(if increment > 0 { min } else { max });
        if min >= max {
            return Err(invalid(&format!("MINVALUE ({min}) must be less than MAXVALUE ({max})")));
        }
        if start < min || start > max {
            return Err(invalid(&format!("START value ({start}) cannot be outside MINVALUE ({min}) and MAXVALUE ({max})")));
        }
        Ok(Self { increment, min, max, start, cycle })
    }
}

/// `CREATE SEQUENCE [IF NOT EXISTS] name [options]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSpec {
    /// `[schema.]name`, folded as PostgreSQL does.
    pub name: Vec<String>,
    pub if_not_exists: bool,
    pub options: SequenceOptions,
}

/// `DROP SEQUENCE [IF EXISTS] name, ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropSequenceSpec {
    pub names: Vec<Vec<String>>,
    pub if_exists: bool,
}

pub(crate) fn create_spec(if_not_exists: bool, name: &ObjectName, data_type: Option<&DataType>, options: &[SqlOptions]) -> Result<SequenceSpec> {
    let type_max = match data_type {
        None => i64::MAX,
        Some(t) => integer_type(t).ok_or_else(|| invalid("sequence type must be smallint, integer, or bigint"))?.1,
    };
    Ok(SequenceSpec { name: folded_name(name)?, if_not_exists, options: SequenceOptions::from_sql(options, type_max)? })
}

pub(crate) fn drop_spec(names: &[ObjectName], if_exists: bool) -> Result<DropSequenceSpec> {
    Ok(DropSequenceSpec { names: names.iter().map(folded_name).collect::<Result<_>>()?, if_exists })
}

/// A column of a new table that a sequence fills: its name and the sequence's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialColumn {
    pub column: String,
    pub options: SequenceOptions,
    /// Written as `GENERATED ALWAYS AS IDENTITY`.
    pub always: bool,
}

/// The `serial`/`bigserial`/`smallserial` and identity columns of `create`, rewritten as
/// PostgreSQL defines them: the integer type, `NOT NULL`, and `DEFAULT nextval('<seq>')`,
/// where `sequence_name(column)` names each column's sequence (chosen by the server, which
/// knows which names are free).
pub fn serial_columns(create: &mut CreateTable, mut sequence_name: impl FnMut(&str) -> String) -> Result<Vec<SerialColumn>> {
    let mut serials = Vec::new();
    for column in &mut create.columns {
        let name = fold(&column.name);
        let serial = serial_type(&column.data_type);
        let identity = column.options.iter().position(|o| matches!(o.option, ColumnOption::Generated { generation_expr: None, .. }));
        let (data_type, type_max, options, always) = match (serial, identity) {
            (Some((data_type, type_max)), None) => (data_type, type_max, Vec::new(), false),
            (None, Some(at)) => {
                let ColumnOption::Generated { generated_as, sequence_options, .. } = column.options.remove(at).option else { unreachable!() };
                let (_, type_max) = integer_type(&column.data_type).ok_or_else(|| invalid(&format!("identity column type must be smallint, integer, or bigint (column \"{name}\")")))?;
                let always = matches!(generated_as, datafusion::sql::sqlparser::ast::GeneratedAs::Always);
                (column.data_type.clone(), type_max, sequence_options.unwrap_or_default(), always)
            }
            (Some(_), Some(_)) => return Err(invalid(&format!("both default and identity specified for column \"{name}\""))),
            (None, None) => continue,
        };
        if column.options.iter().any(|o| matches!(o.option, ColumnOption::Default(_))) {
            return Err(invalid(&format!("multiple default values specified for column \"{name}\" of table \"{}\"", create.name)));
        }
        let options = SequenceOptions::from_sql(&options, type_max)?;
        column.data_type = data_type;
        let sequence = sequence_name(&name);
        set_not_null_default(column, &sequence);
        serials.push(SerialColumn { column: name, options, always });
    }
    Ok(serials)
}

fn set_not_null_default(column: &mut ColumnDef, sequence: &str) {
    column.options.retain(|o| !matches!(o.option, ColumnOption::Null | ColumnOption::NotNull));
    column.options.push(ColumnOptionDef { name: None, option: ColumnOption::NotNull });
    let name = datafusion::sql::sqlparser::ast::Value::SingleQuotedString(sequence.to_string());
    let default = crate::pg_catalog::compat::ast::call("nextval", vec![Expr::value(name)]);
    column.options.push(ColumnOptionDef { name: None, option: ColumnOption::Default(default) });
}

/// `serial` and friends: the integer type they stand for and its largest value.
fn serial_type(data_type: &DataType) -> Option<(DataType, i64)> {
    let DataType::Custom(name, modifiers) = data_type else { return None };
    if !modifiers.is_empty() || name.0.len() != 1 {
        return None;
    }
    match name.0[0].as_ident()?.value.to_lowercase().as_str() {
        "serial" | "serial4" => Some((DataType::Integer(None), i32::MAX as i64)),
        "bigserial" | "serial8" => Some((DataType::BigInt(None), i64::MAX)),
        "smallserial" | "serial2" => Some((DataType::SmallInt(None), i16::MAX as i64)),
        _ => None,
    }
}

fn integer_type(data_type: &DataType) -> Option<(DataType, i64)> {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => Some((data_type.clone(), i16::MAX as i64)),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => Some((data_type.clone(), i32::MAX as i64)),
        DataType::BigInt(_) | DataType::Int8(_) => Some((data_type.clone(), i64::MAX)),
        _ => None,
    }
}

fn integer(expr: &Expr) -> Result<i64> {
    match expr {
        Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) => n.parse().map_err(|_| invalid(&format!("invalid sequence value {n}"))),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => integer(expr).map(|v| -v),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => integer(expr),
        other => Err(invalid(&format!("sequence option {other} is not an integer"))),
    }
}

fn folded_name(name: &ObjectName) -> Result<Vec<String>> {
    name.0.iter().map(|p| p.as_ident().map(fold).ok_or_else(|| invalid(&format!("invalid sequence name {name}")))).collect()
}

fn fold(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// PostgreSQL's 22023 for a bad sequence definition.
fn invalid(message: &str) -> PlannerError {
    PlannerError::InvalidSequence { message: message.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn create_table(sql: &str) -> CreateTable {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0) {
            Statement::CreateTable(create) => create,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn serial_and_identity_columns_become_integers_with_a_sequence_default() {
        let mut create = create_table("CREATE TABLE t (id serial PRIMARY KEY, big bigserial, n int GENERATED ALWAYS AS IDENTITY (INCREMENT BY 5 START WITH 10), v text)");
        let serials = serial_columns(&mut create, |c| format!("public.t_{c}_seq")).unwrap();
        assert_eq!(
            create.to_string(),
            "CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL DEFAULT nextval('public.t_id_seq'), big BIGINT NOT NULL DEFAULT nextval('public.t_big_seq'), n INT NOT NULL DEFAULT nextval('public.t_n_seq'), v TEXT)"
        );
        assert_eq!(serials.iter().map(|s| (s.column.as_str(), s.options.start, s.options.max, s.always)).collect::<Vec<_>>(), [
            ("id", 1, i32::MAX as i64, false),
            ("big", 1, i64::MAX, false),
            ("n", 10, i32::MAX as i64, true)
        ]);
        assert_eq!(serials[2].options.increment, 5);
    }

    #[test]
    fn sequence_options_follow_postgresql_defaults_and_checks() {
        let descending = SequenceOptions::from_sql(&[SqlOptions::IncrementBy(Expr::value(Value::Number("-2".into(), false)), true)], i64::MAX).unwrap();
        assert_eq!((descending.min, descending.max, descending.start), (i64::MIN, -1, -1));
        assert!(SequenceOptions::from_sql(&[SqlOptions::IncrementBy(Expr::value(Value::Number("0".into(), false)), true)], i64::MAX).is_err());
        let start = SqlOptions::StartWith(Expr::value(Value::Number("0".into(), false)), true);
        assert!(matches!(SequenceOptions::from_sql(&[start], i64::MAX), Err(PlannerError::InvalidSequence { .. })));
    }
}
