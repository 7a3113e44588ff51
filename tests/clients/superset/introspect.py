"""Superset's own database introspection against one PostgreSQL-dialect database.

Run with the Superset virtualenv's Python (scripts/setup.sh makes it):

    python introspect.py postgresql+psycopg2://user@host:port/db TABLE VIEW [OUT.json]

It starts a Superset app (metadata database: SQLite in $SUPERSET_HOME), registers the
database as Superset does (`superset.models.core.Database` with the
`PostgresEngineSpec`), and calls what the UI calls when a user browses it in SQL Lab and
creates a dataset: catalogs, schemas, table and view names, columns with types, primary
key, foreign keys, indexes, table comment, `select_star`, the dataset's physical
metadata, and a query with the `LIMIT` SQL Lab adds, run through `Database.get_df`.
Writes one JSON object with the answers to OUT.json (or prints it); any exception fails the script (exit code 1)
with the traceback on stderr. tests/clients/test_superset.py checks the answers;
sql-tests/tools/record_introspection.py runs it against a real PostgreSQL to record the
statements Superset sends.
"""

import json
import os
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


def main(uri: str, table: str, view: str) -> dict:
    home = os.environ.setdefault("SUPERSET_HOME", tempfile.mkdtemp(prefix="superset-home-"))
    os.environ.setdefault("SUPERSET_CONFIG_PATH", str(HERE / "superset_config.py"))
    os.environ.setdefault("SUPERSET_METADATA_URI", f"sqlite:///{home}/superset.db")

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.connectors.sqla.utils import get_physical_table_metadata
        from superset.models.core import Database
        from superset.sql.parse import Table

        database = Database(database_name="ember", sqlalchemy_uri=uri)
        spec = database.db_engine_spec
        out = {"engine_spec": spec.__name__}
        out["default_catalog"] = database.get_default_catalog()
        out["catalogs"] = sorted(database.get_all_catalog_names())
        out["default_schema"] = database.get_default_schema(out["default_catalog"])
        out["schemas"] = sorted(database.get_all_schema_names(catalog=out["default_catalog"]))
        out["tables"] = sorted(t for t, _, _ in database.get_all_table_names_in_schema(None, "public"))
        out["views"] = sorted(v for v, _, _ in database.get_all_view_names_in_schema(None, "public"))
        out["materialized_views"] = sorted(
            v for v, _, _ in database.get_all_materialized_view_names_in_schema(None, "public")
        )
        t = Table(table, "public")
        out["has_table"] = database.has_table(t)
        out["has_view"] = database.has_view(Table(view, "public"))
        out["columns"] = [
            {"name": c["column_name"], "type": str(c["type"]), "nullable": c.get("nullable")}
            for c in database.get_columns(t)
        ]
        out["view_columns"] = [c["column_name"] for c in database.get_columns(Table(view, "public"))]
        out["pk"] = database.get_pk_constraint(t)
        out["foreign_keys"] = database.get_foreign_keys(t)
        out["indexes"] = database.get_indexes(t)
        out["table_comment"] = database.get_table_comment(t)
        out["select_star"] = database.select_star(t, limit=5, show_cols=True, latest_partition=True)
        # A dataset over the table: its physical columns, as "Create dataset" reads them.
        out["dataset_columns"] = [
            {"name": c["column_name"], "type": str(c["type"]), "is_dttm": bool(c.get("is_dttm"))}
            for c in get_physical_table_metadata(database, t, normalize_columns=False)
        ]
        # SQL Lab: the user's query with the row limit Superset adds, run as SQL Lab runs it.
        sql = database.apply_limit_to_sql(f"SELECT * FROM {table} ORDER BY 1", limit=3)
        out["limited_sql"] = sql
        df = database.get_df(sql, None, "public")
        out["limited_rows"] = [[str(v) for v in row] for row in df.itertuples(index=False)]
        star = database.get_df(out["select_star"], None, "public")
        out["select_star_rows"] = len(star)
        return out


if __name__ == "__main__":
    answers = json.dumps(main(*sys.argv[1:4]), default=str, indent=1)
    if len(sys.argv) > 4:
        pathlib.Path(sys.argv[4]).write_text(answers)
    else:
        print(answers)
