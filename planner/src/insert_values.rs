//! `INSERT INTO t VALUES (NULL, ...)` into a NOT NULL column must fail with PostgreSQL's
//! `23502 null value in column "c" of relation "t" violates not-null constraint`, which
//! the table's writer raises. DataFusion plans the `VALUES` of an `INSERT` with the target
//! table's nullability, so the NULL is refused earlier, while the values are built, with a
//! generic Arrow error that names neither column nor table. This analyzer rule plans such
//! `VALUES` as nullable, leaving the check to the table.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{LogicalPlan, Values, WriteOp};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct NullableInsertValues;

impl AnalyzerRule for NullableInsertValues {
    fn name(&self) -> &str {
        "ember_nullable_insert_values"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let LogicalPlan::Dml(dml) = &plan else {
            return Ok(plan);
        };
        if !matches!(dml.op, WriteOp::Insert(_)) {
            return Ok(plan);
        }
        plan.transform_up(|node| match node {
            LogicalPlan::Values(values) if values.schema.fields().iter().any(|f| !f.is_nullable()) => {
                let schema = nullable(&values.schema)?;
                Ok(Transformed::yes(LogicalPlan::Values(Values { schema, values: values.values })))
            }
            // The statement's own output (a row count) does not change.
            LogicalPlan::Dml(_) => Ok(Transformed::no(node)),
            other => other.recompute_schema().map(Transformed::yes),
        })
        .map(|t| t.data)
    }
}

fn nullable(schema: &DFSchema) -> Result<Arc<DFSchema>> {
    let fields = schema.iter().map(|(qualifier, field)| (qualifier.cloned(), Arc::new(field.as_ref().clone().with_nullable(true)))).collect();
    Ok(Arc::new(DFSchema::new_with_metadata(fields, schema.metadata().clone())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn values_under_an_insert_become_nullable_and_nothing_else_changes() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a int NOT NULL, b text)").await.unwrap();
        let insert = ctx.state().create_logical_plan("INSERT INTO t VALUES (1, 'x')").await.unwrap();
        let values_nullable = |plan: &LogicalPlan| {
            let mut found = None;
            plan.apply(|node| {
                if let LogicalPlan::Values(v) = node {
                    found = Some(v.schema.field(0).is_nullable());
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })
            .unwrap();
            found
        };
        assert_eq!(values_nullable(&insert), Some(false), "DataFusion changed: the rule may be unneeded");
        let analyzed = NullableInsertValues.analyze(insert.clone(), &ConfigOptions::default()).unwrap();
        assert_eq!(values_nullable(&analyzed), Some(true));
        assert_eq!(analyzed.schema(), insert.schema());
        let query = ctx.state().create_logical_plan("VALUES (1)").await.unwrap();
        assert_eq!(NullableInsertValues.analyze(query.clone(), &ConfigOptions::default()).unwrap(), query);
    }
}
