//! Whether a subquery refers to a table of an enclosing query.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, TableFactor, Visit, Visitor};

/// Whether `query` names a table qualifier (`t.col`) it does not declare itself.
pub fn is_correlated(query: &Query) -> bool {
    let names = names(query);
    names.qualifiers.iter().any(|q| !names.declared.contains(q))
}

/// The table names and aliases `query` declares (in its FROM clauses and CTEs, at any
/// depth), lowercased: a qualifier outside this set refers to an enclosing query.
pub fn declared(query: &Query) -> HashSet<String> {
    names(query).declared
}

#[derive(Default)]
struct Names {
    declared: HashSet<String>,
    qualifiers: HashSet<String>,
}

fn names(query: &Query) -> Names {
    let mut names = Names::default();
    let _ = query.visit(&mut names);
    names
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                    self.declared.insert(last.value.to_lowercase());
                }
                if let Some(alias) = alias {
                    self.declared.insert(alias.name.value.to_lowercase());
                }
            }
            TableFactor::Derived { alias: Some(alias), .. }
            | TableFactor::UNNEST { alias: Some(alias), .. }
            | TableFactor::Function { alias: Some(alias), .. } => {
                self.declared.insert(alias.name.value.to_lowercase());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.declared.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && parts.len() >= 2
        {
            self.qualifiers.insert(parts[parts.len() - 2].value.to_lowercase());
        }
        ControlFlow::Continue(())
    }
}
