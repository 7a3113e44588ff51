//! `ALTER TABLE | VIEW [IF EXISTS] name RENAME TO new_name`: renaming a relation in place,
//! as dbt's view and table materializations do (create `x__dbt_tmp`, rename `x` to
//! `x__dbt_backup`, rename `x__dbt_tmp` to `x`, drop the backup).
//!
//! sqlparser parses `ALTER TABLE ... RENAME TO` but knows `ALTER VIEW` only with `AS query`;
//! Ember's parser ([`crate::parser`]) parses `ALTER VIEW ... RENAME TO` itself and keeps
//! which kind the statement said (PostgreSQL refuses `ALTER VIEW` on a table, but accepts
//! `ALTER TABLE` on a view). [`RenameSpec::from_alter`] turns a parsed `ALTER TABLE` into
//! what the server executes; [`rename_in_ddl`] rewrites the stored `CREATE` statement so
//! the catalog recreates the relation under its new name.

use datafusion::common::TableReference;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{
    AlterTable, AlterTableOperation, Ident, ObjectName, ObjectNamePart, RenameTableNameKind, Statement as SqlStatement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use crate::{PlannerError, Result};

/// The kind of relation an `ALTER` statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    /// The command tag PostgreSQL answers with.
    pub fn tag(self) -> &'static str {
        match self {
            RelationKind::Table => "ALTER TABLE",
            RelationKind::View => "ALTER VIEW",
        }
    }
}

/// A parsed `ALTER TABLE | VIEW name RENAME TO new_name`.
#[derive(Debug, Clone, PartialEq)]
pub struct RenameSpec {
    /// What the statement said (`ALTER VIEW` must name a view).
    pub kind: RelationKind,
    /// The relation, as written (unquoted identifiers lower-cased, as DataFusion does).
    pub name: TableReference,
    /// The new name, in the same schema.
    pub new_name: String,
    pub if_exists: bool,
}

impl RenameSpec {
    /// `Some` for an `ALTER` whose only operation is `RENAME TO`; other `ALTER TABLE`s are
    /// left to DataFusion (which refuses them).
    pub fn from_alter(alter: &AlterTable, kind: RelationKind) -> Option<Result<Self>> {
        let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice() else {
            return None;
        };
        let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) = table_name;
        Some(Self::new(&alter.name, new, alter.if_exists, kind))
    }

    /// `ALTER <kind> [IF EXISTS] name RENAME TO new`.
    pub fn new(name: &ObjectName, new: &ObjectName, if_exists: bool, kind: RelationKind) -> Result<Self> {
        let name = object_name_to_table_reference(name.clone(), true)?;
        let new_name = match new.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => normalize(ident),
            // PostgreSQL's grammar has no schema here (moving needs SET SCHEMA).
            _ => {
                return Err(PlannerError::Unsupported {
                    feature: format!("RENAME TO a qualified name ({new}); the new name stays in the relation's schema"),
                });
            }
        };
        Ok(Self { kind, name, new_name, if_exists })
    }
}

/// An unquoted identifier folds to lower case; a quoted one is kept as written.
fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// The stored `CREATE [EXTERNAL] TABLE | VIEW` statement `ddl` with the relation's last
/// name part replaced by `new_name` (quoted, so its case is kept).
pub fn rename_in_ddl(ddl: &str, new_name: &str) -> Result<String> {
    let dialect = PostgreSqlDialect {};
    let mut statements = DFParserBuilder::new(ddl).with_dialect(&dialect).build()?.parse_statements()?;
    let statement = match statements.len() {
        1 => statements.pop_front(),
        _ => None,
    };
    let mut statement = statement.ok_or_else(|| PlannerError::Unsupported { feature: format!("renaming the object stored as {ddl}") })?;
    let name = match &mut statement {
        DfStatement::CreateExternalTable(create) => &mut create.name,
        DfStatement::Statement(inner) => match inner.as_mut() {
            SqlStatement::CreateView(view) => &mut view.name,
            _ => return Err(PlannerError::Unsupported { feature: format!("renaming the object stored as {ddl}") }),
        },
        _ => return Err(PlannerError::Unsupported { feature: format!("renaming the object stored as {ddl}") }),
    };
    if let Some(last) = name.0.last_mut() {
        *last = ObjectNamePart::Identifier(Ident::with_quote('"', new_name));
    }
    Ok(statement.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sql: &str) -> Option<Result<RenameSpec>> {
        match crate::parser::parse(sql, Default::default()).unwrap().pop() {
            Some(crate::parser::Parsed::RenameView(spec)) => Some(Ok(spec)),
            Some(crate::parser::Parsed::Statement(DfStatement::Statement(inner))) => match *inner {
                SqlStatement::AlterTable(alter) => RenameSpec::from_alter(&alter, RelationKind::Table),
                other => panic!("{other}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rename_spec_normalizes_names() {
        let s = spec(r#"alter table "ember"."dbt_smoke"."M__dbt_tmp" rename to "M""#).unwrap().unwrap();
        assert_eq!(s.name, TableReference::full("ember", "dbt_smoke", "M__dbt_tmp"));
        assert_eq!(s.new_name, "M");
        assert_eq!(s.kind, RelationKind::Table);
        let s = spec("ALTER VIEW IF EXISTS Public.V RENAME TO W").unwrap().unwrap();
        assert_eq!(s.name, TableReference::partial("public", "v"));
        assert_eq!((s.new_name.as_str(), s.kind, s.if_exists), ("w", RelationKind::View, true));
        assert!(spec("ALTER TABLE t ADD COLUMN c int").is_none());
        assert!(matches!(spec("ALTER TABLE t RENAME TO s.u"), Some(Err(PlannerError::Unsupported { .. }))));
    }

    #[test]
    fn stored_ddl_takes_the_new_name() {
        let view = rename_in_ddl("CREATE VIEW ember.s.v__dbt_tmp AS SELECT 1 AS x", "v").unwrap();
        assert_eq!(view, r#"CREATE VIEW ember.s."v" AS SELECT 1 AS x"#);
        let table = rename_in_ddl(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/d/e.csv' OPTIONS ('format.has_header' 'true')",
            "Big T",
        )
        .unwrap();
        assert!(table.starts_with(r#"CREATE EXTERNAL TABLE "Big T" STORED AS CSV LOCATION '/d/e.csv'"#), "{table}");
    }
}
