"""SQLAlchemy 2 (psycopg2 and psycopg 3 dialects) and pandas.read_sql through an engine.

Every engine test needs pg_catalog: the dialect's first connect runs
`select pg_catalog.version()`, `current_schema()` and (psycopg2) a pg_type query for hstore.
"""

import pandas as pd
import pytest
import sqlalchemy as sa

import clientlib as lib


@pytest.fixture(params=["postgresql+psycopg2", "postgresql+psycopg"])
def engine(request, ember):
    e = sa.create_engine(ember.url(request.param))
    yield e
    e.dispose()


@pytest.mark.needs_catalog
def test_engine_core(engine):
    table = f"emp_sa_{engine.dialect.driver}"
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT 1")).scalar() == 1
        c.execute(sa.text(lib.employees_ddl(table)))
        c.commit()
        rows = c.execute(
            sa.text(lib.PARAM_QUERY.format(table=table, p1=":s", p2=":a")), {"s": 4000.0, "a": True}
        ).all()
        assert [r.name for r in rows] == lib.names_paid_over(4000.0, True)


@pytest.mark.needs_catalog
def test_error_rolls_back_and_recovers(engine):
    with engine.connect() as c:
        with pytest.raises(sa.exc.ProgrammingError) as e:
            c.execute(sa.text("SELECT * FROM no_such_table"))
        code = getattr(e.value.orig, "pgcode", None) or getattr(e.value.orig, "sqlstate", None)
        assert code == "42P01"
        c.rollback()
        assert c.execute(sa.text("SELECT 8")).scalar() == 8


@pytest.mark.needs_catalog
def test_pandas_read_sql(engine):
    table = f"emp_pd_{engine.dialect.driver}"
    with engine.connect() as c:
        c.execute(sa.text(lib.employees_ddl(table)))
        c.commit()
    df = pd.read_sql(sa.text(f"SELECT emp_id, name, salary, active FROM {table} ORDER BY emp_id"), engine)
    expected = lib.employees()
    assert list(df.columns) == ["emp_id", "name", "salary", "active"]
    assert df["emp_id"].tolist() == [r["emp_id"] for r in expected]
    assert df["name"].tolist() == [r["name"] for r in expected]
    assert df["salary"].tolist() == pytest.approx([r["salary"] for r in expected])
    # coerce_float=False keeps numeric as Decimal (pandas' default turns it into float64,
    # against PostgreSQL too).
    typed = pd.read_sql(sa.text(lib.TYPED_QUERY), engine, coerce_float=False)
    assert typed.loc[0, "big_n"] == lib.expected_typed()["big_n"]
    assert typed.loc[0, "tstz"] == pd.Timestamp("2024-02-29 13:14:15.25", tz="UTC")


@pytest.mark.needs_catalog
def test_inspect(engine):
    table = f"emp_inspect_{engine.dialect.driver}"
    with engine.connect() as c:
        c.execute(sa.text(lib.employees_ddl(table)))
        c.commit()
    insp = sa.inspect(engine)
    assert table in insp.get_table_names()
    columns = insp.get_columns(table)
    assert [col["name"] for col in columns] == lib.EMPLOYEE_COLUMNS
    assert isinstance(columns[0]["type"], sa.BigInteger)
    assert isinstance(columns[1]["type"], (sa.Text, sa.String))


@pytest.mark.needs_catalog
def test_reflect_table(engine):
    table = f"emp_reflect_{engine.dialect.driver}"
    with engine.connect() as c:
        c.execute(sa.text(lib.employees_ddl(table)))
        c.commit()
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as c:
        count = c.execute(sa.select(sa.func.count()).select_from(t).where(t.c.active.is_(True))).scalar()
    assert count == sum(1 for r in lib.employees() if r["active"])


@pytest.mark.needs_catalog
def test_orm_session_create_all_add_commit_query_update_delete(engine):
    """The ORM round trip against managed tables: create_all sends SERIAL keys and
    constraints, add + commit inserts with RETURNING to learn the new keys, a query reads
    them back, an attribute change flushes an UPDATE, delete flushes a DELETE."""
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    suffix = engine.dialect.driver

    class Base(DeclarativeBase):
        pass

    class Account(Base):
        __tablename__ = f"orm_account_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        owner: Mapped[str] = mapped_column(sa.String(50), nullable=False)
        balance: Mapped[float] = mapped_column(sa.Float, default=0.0)

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Account(owner="ann", balance=10.0), Account(owner="bob"), Account(owner="cat", balance=3.5)])
        session.commit()
        accounts = session.scalars(sa.select(Account).order_by(Account.id)).all()
        assert [(a.id, a.owner, a.balance) for a in accounts] == [(1, "ann", 10.0), (2, "bob", 0.0), (3, "cat", 3.5)]
        accounts[1].balance = 42.0
        session.delete(accounts[2])
        session.commit()
    with Session(engine) as session:
        rows = session.execute(sa.select(Account.id, Account.owner, Account.balance).order_by(Account.id)).all()
        assert [tuple(r) for r in rows] == [(1, "ann", 10.0), (2, "bob", 42.0)]
        session.add(Account(owner="dan"))
        session.flush()
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Account)) == 2
        # The key the rolled-back insert took is not handed out again, as in PostgreSQL.
        account = Account(owner="eve")
        session.add(account)
        session.commit()
        assert account.id == 5
    Base.metadata.drop_all(engine)
