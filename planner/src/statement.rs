//! Parsing SQL text and sorting statements into what Ember answers itself and what
//! DataFusion plans.
//!
//! PostgreSQL clients send statements DataFusion has no notion of — transaction control,
//! session settings such as `DateStyle`, `SHOW TRANSACTION ISOLATION LEVEL` — as part of
//! their connection ritual. Each such rule is one match arm in [`classify`], with a test.

use datafusion::sql::parser::{ResetStatement, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Set, Statement as SqlStatement, Value, ValueWithSpan,
};

use crate::function::{DropFunctionSpec, FunctionSpec, python_function, single_name};
use crate::parser::Parsed;
use crate::{PlannerError, Result};

/// One parsed statement, sorted by who answers it.
#[derive(Debug, Clone)]
pub enum Command {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SAVEPOINT x`, `RELEASE x`, `ROLLBACK TO x`; `name` as PostgreSQL folds it.
    Savepoint { tag: &'static str, name: String },
    /// `SET name = value` for a PostgreSQL session setting (not a `datafusion.*` key).
    Set { name: String, value: String },
    /// `RESET name` for a PostgreSQL session setting.
    Reset { name: String },
    /// `SHOW name` for a PostgreSQL session setting.
    Show { name: String },
    /// Statements accepted for compatibility that change nothing here
    /// (`SET TRANSACTION ...`, `SET NAMES`, `DISCARD ALL`); carries the command tag.
    Noop { tag: &'static str },
    /// `CREATE FUNCTION ... LANGUAGE python`.
    CreateFunction(Box<FunctionSpec>),
    /// `DROP FUNCTION name, ...`.
    DropFunction(DropFunctionSpec),
    /// `ALTER TABLE | VIEW name RENAME TO new_name`.
    Rename(crate::alter::RenameSpec),
    /// `COPY ... TO STDOUT` / `COPY ... FROM STDIN` (the copy protocol).
    Copy(Box<crate::copy::CopyCommand>),
    /// `CREATE SEQUENCE`.
    CreateSequence(crate::sequence::SequenceSpec),
    /// `DROP SEQUENCE`.
    DropSequence(crate::sequence::DropSequenceSpec),
    /// `VACUUM [FULL] [table]`: `[schema.]table`, folded, or every table.
    Vacuum { table: Option<Vec<String>> },
    /// Everything DataFusion plans and executes.
    Plan(Box<DfStatement>),
}

/// Parse `sql` (one or more `;`-separated statements) in the PostgreSQL dialect, apply the
/// compatibility rules and sort the statements by who answers them.
pub fn parse(sql: &str, nesting: crate::depth::Nesting) -> Result<Vec<Command>> {
    crate::parser::parse(sql, nesting)?.into_iter().map(command).collect()
}

/// [`parse`] with the default nesting limit, for tests.
#[cfg(test)]
pub(crate) fn parse_for_test(sql: &str) -> Result<Vec<Command>> {
    parse(sql, crate::depth::Nesting::default())
}

fn command(parsed: Parsed) -> Result<Command> {
    Ok(match parsed {
        Parsed::Abort => Command::Rollback,
        Parsed::RenameView(spec) => Command::Rename(spec),
        Parsed::CopyProtocol(statement) => match crate::copy::from_statement(*statement) {
            Some(copy) => Command::Copy(Box::new(copy?)),
            None => return Err(PlannerError::Unsupported { feature: "this form of COPY".to_string() }),
        },
        Parsed::CreateFunction(create, options) => match python_function(&create, &options)? {
            Some(spec) => Command::CreateFunction(Box::new(spec)),
            None => plan(SqlStatement::CreateFunction(*create)),
        },
        Parsed::Statement(statement) => {
            let Some(statement) = crate::pg_catalog::compat::rewrite([statement]).pop() else {
                return Err(PlannerError::Unsupported { feature: "an empty statement".to_string() });
            };
            match statement {
                DfStatement::Statement(inner) => match *inner {
                    SqlStatement::CreateSequence { temporary: false, if_not_exists, name, data_type, sequence_options, owned_by: None } => {
                        Command::CreateSequence(crate::sequence::create_spec(if_not_exists, &name, data_type.as_ref(), &sequence_options)?)
                    }
                    SqlStatement::Drop { object_type: datafusion::sql::sqlparser::ast::ObjectType::Sequence, if_exists, names, .. } => {
                        Command::DropSequence(crate::sequence::drop_spec(&names, if_exists)?)
                    }
                    SqlStatement::AlterTable(alter) => match crate::alter::RenameSpec::from_alter(&alter, crate::alter::RelationKind::Table) {
                        Some(spec) => Command::Rename(spec?),
                        None => plan(SqlStatement::AlterTable(alter)),
                    },
                    other => classify(DfStatement::Statement(Box::new(other))),
                },
                other => classify(other),
            }
        }
    })
}

fn plan(statement: SqlStatement) -> Command {
    Command::Plan(Box::new(DfStatement::Statement(Box::new(statement))))
}

/// Decide who answers a parsed statement.
pub fn classify(statement: DfStatement) -> Command {
    match statement {
        DfStatement::Statement(inner) => classify_sql(*inner),
        DfStatement::Reset(ResetStatement::Variable(name)) if !is_engine_key(&name) => {
            Command::Reset { name: setting_name(&name) }
        }
        other => Command::Plan(Box::new(other)),
    }
}

/// An identifier as PostgreSQL keeps it: lower-cased unless quoted.
fn folded(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

fn classify_sql(statement: SqlStatement) -> Command {
    match statement {
        SqlStatement::StartTransaction { .. } => Command::Begin,
        SqlStatement::Commit { .. } => Command::Commit,
        SqlStatement::Rollback { savepoint: None, .. } => Command::Rollback,
        SqlStatement::Rollback { savepoint: Some(name), .. } => Command::Savepoint { tag: "ROLLBACK", name: folded(&name) },
        SqlStatement::Savepoint { name } => Command::Savepoint { tag: "SAVEPOINT", name: folded(&name) },
        SqlStatement::ReleaseSavepoint { name } => Command::Savepoint { tag: "RELEASE", name: folded(&name) },
        SqlStatement::Discard { .. } => Command::Noop { tag: "DISCARD ALL" },
        SqlStatement::Vacuum(vacuum) => Command::Vacuum {
            table: vacuum.table_name.map(|name| name.0.iter().filter_map(|p| p.as_ident()).map(folded).collect()),
        },
        SqlStatement::DropFunction(drop) => {
            match drop.func_desc.iter().map(|d| single_name(&d.name)).collect::<Result<Vec<_>>>() {
                Ok(names) => Command::DropFunction(DropFunctionSpec { names, if_exists: drop.if_exists }),
                Err(_) => Command::Plan(Box::new(DfStatement::Statement(Box::new(SqlStatement::DropFunction(drop))))),
            }
        }
        SqlStatement::Set(Set::SingleAssignment { variable, values, .. })
            if !is_engine_key(&variable) =>
        {
            Command::Set { name: setting_name(&variable), value: values_text(&values) }
        }
        SqlStatement::Set(Set::SetTimeZone { value, .. }) => {
            Command::Set { name: "timezone".to_string(), value: values_text(&[value]) }
        }
        SqlStatement::Set(Set::SetNames { charset_name, .. }) => {
            Command::Set { name: "client_encoding".to_string(), value: charset_name.value }
        }
        SqlStatement::Set(
            Set::SetTransaction { .. }
            | Set::SetSessionParam(_)
            | Set::SetRole { .. }
            | Set::SetSessionAuthorization(_),
        ) => Command::Noop { tag: "SET" },
        SqlStatement::ShowVariable { variable } => {
            let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
            if name == "all" || name.starts_with("datafusion.") || name.starts_with("datafusion ") {
                Command::Plan(Box::new(DfStatement::Statement(Box::new(
                    SqlStatement::ShowVariable { variable },
                ))))
            } else {
                Command::Show { name }
            }
        }
        other => Command::Plan(Box::new(DfStatement::Statement(Box::new(other)))),
    }
}

/// `datafusion.*` keys are engine configuration and handled by DataFusion itself.
fn is_engine_key(name: &ObjectName) -> bool {
    name.0.first().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("datafusion"))
}

/// PostgreSQL setting names are case-insensitive: `DateStyle` == `datestyle`.
fn setting_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string()))
        .collect::<Vec<_>>()
        .join(".")
        .to_lowercase()
}

/// The text of a `SET` value list the way PostgreSQL stores it: `'a', b` -> `a, b`.
fn values_text(values: &[Expr]) -> String {
    values
        .iter()
        .map(|expr| match expr {
            Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. })
            | Expr::Value(ValueWithSpan { value: Value::DoubleQuotedString(s), .. }) => s.clone(),
            Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) => n.to_string(),
            Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::parse_for_test as parse;

    fn one(sql: &str) -> Command {
        let mut commands = parse(sql).unwrap();
        assert_eq!(commands.len(), 1, "{sql}");
        commands.remove(0)
    }

    #[test]
    fn rename_relation() {
        let sql = "/* {\"app\": \"dbt\"} */\nalter view \"ember\".\"s\".\"m__dbt_tmp\" rename to \"m\"";
        let Command::Rename(spec) = one(sql) else { panic!("{sql}") };
        assert_eq!(spec.kind, crate::alter::RelationKind::View);
        assert_eq!(spec.new_name, "m");
        assert!(matches!(one("ALTER TABLE t RENAME TO u"), Command::Rename(_)));
        assert!(matches!(one("ALTER TABLE t ADD COLUMN c int"), Command::Plan(_)));
    }

    #[test]
    fn transaction_control() {
        assert!(matches!(one("BEGIN"), Command::Begin));
        assert!(matches!(one("start transaction isolation level repeatable read"), Command::Begin));
        assert!(matches!(one("COMMIT"), Command::Commit));
        assert!(matches!(one("END"), Command::Commit));
        assert!(matches!(one("ROLLBACK"), Command::Rollback));
        assert!(matches!(one("ABORT"), Command::Rollback));
        assert!(matches!(one("SAVEPOINT a"), Command::Savepoint { tag: "SAVEPOINT", name } if name == "a"));
        assert!(matches!(one("ROLLBACK TO SAVEPOINT A"), Command::Savepoint { tag: "ROLLBACK", name } if name == "a"));
        assert!(matches!(one("RELEASE SAVEPOINT \"A\""), Command::Savepoint { tag: "RELEASE", name } if name == "A"));
    }

    #[test]
    fn session_settings_are_ours_engine_keys_are_datafusions() {
        match one("SET DateStyle TO 'ISO, MDY'") {
            Command::Set { name, value } => {
                assert_eq!(name, "datestyle");
                assert_eq!(value, "ISO, MDY");
            }
            other => panic!("{other:?}"),
        }
        match one("SET extra_float_digits = 3") {
            Command::Set { name, value } => assert_eq!((name.as_str(), value.as_str()), ("extra_float_digits", "3")),
            other => panic!("{other:?}"),
        }
        match one("SET TIME ZONE 'Europe/Paris'") {
            Command::Set { name, value } => assert_eq!((name.as_str(), value.as_str()), ("timezone", "Europe/Paris")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(one("SET datafusion.execution.batch_size = 1024"), Command::Plan(_)));
        assert!(matches!(one("SHOW datafusion.execution.batch_size"), Command::Plan(_)));
        assert!(matches!(one("SHOW search_path"), Command::Show { .. }));
        match one("SHOW TRANSACTION ISOLATION LEVEL") {
            Command::Show { name } => assert_eq!(name, "transaction isolation level"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(one("RESET statement_timeout"), Command::Reset { .. }));
    }

    #[test]
    fn queries_and_ddl_go_to_datafusion() {
        assert!(matches!(one("SELECT 1"), Command::Plan(_)));
        assert!(matches!(one("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x.csv'"), Command::Plan(_)));
        assert!(matches!(one("SHOW TABLES"), Command::Plan(_)));
        assert_eq!(parse("select 1; select 2;").unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_are_errors() {
        assert!(parse("SELEC 1").is_err());
    }
}
