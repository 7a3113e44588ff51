//! Rule (everywhere): `FROM unnest(a) AS x` names its one column `x`, as PostgreSQL does
//! for a function in FROM with a table alias and no column aliases; DataFusion would name
//! it `UNNEST(a)`. ADBC's constraint query joins on `attnum = conkeys`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Statement, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut};

struct Aliases;

impl VisitorMut for Aliases {
    type Break = ();
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::UNNEST { alias: Some(alias), array_exprs, with_offset: false, with_ordinality: false, .. } = factor
            && array_exprs.len() == 1
            && alias.columns.is_empty()
        {
            alias.columns.push(TableAliasColumnDef { name: alias.name.clone(), data_type: None });
        }
        ControlFlow::Continue(())
    }
}

pub fn apply(statement: &mut Statement) {
    let _ = statement.visit(&mut Aliases);
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn unnest_alias_names_its_column() {
        let out = rewritten("SELECT x FROM pg_catalog.pg_index i, UNNEST(i.indkey) AS x");
        assert!(out.contains("UNNEST(i.indkey) AS x (x)"), "{out}");
        assert!(rewritten("SELECT x FROM UNNEST([1, 2]) AS x").contains("AS x (x)"));
        // An alias that names its column already is left alone.
        let named = "SELECT y FROM UNNEST([1, 2]) AS x (y)";
        assert_eq!(rewritten(named), named);
    }
}
