-- Python functions in Ember, run with
--   psql -h 127.0.0.1 -p 5432 -U ember -f examples/python_udf.sql
-- (after examples/quickstart.sql, which registers the employees table).
-- The body defines a Python function of the same name; rows reach it batch by batch,
-- as Arrow data, in the server's pool of Python worker processes.

CREATE OR REPLACE FUNCTION raise_pct(salary double precision, pct double precision)
RETURNS double precision LANGUAGE python IMMUTABLE STRICT AS $$
def raise_pct(salary, pct):
    return salary * (1 + pct / 100.0)
$$;

-- Vectorized: whole columns in (pyarrow arrays), one array out.
CREATE OR REPLACE FUNCTION initials(name text) RETURNS text
LANGUAGE python IMMUTABLE WITH (vectorized) AS $$
import pyarrow.compute as pc
def initials(name):
    return pc.utf8_upper(pc.utf8_slice_codeunits(name, 0, 1))
$$;

-- Aggregate: a class with accumulate() and finish().
CREATE OR REPLACE FUNCTION py_median(x double precision) RETURNS double precision
LANGUAGE python WITH (aggregate) AS $$
import statistics
class py_median:
    def __init__(self):
        self.values = []
    def accumulate(self, x):
        if x is not None:
            self.values.append(x)
    def finish(self):
        return statistics.median(self.values) if self.values else None
$$;

SELECT name, initials(name) AS i, salary, round(raise_pct(salary, 10), 2) AS raised
FROM employees ORDER BY emp_id LIMIT 5;

SELECT dept_id, py_median(salary) AS median_salary, round(avg(salary), 2) AS avg_salary
FROM employees GROUP BY dept_id ORDER BY dept_id;

-- The same numbers computed in Python and in SQL: no row differs.
SELECT count(*) AS mismatches FROM employees
WHERE abs(raise_pct(salary, 10) - salary * CAST(1.1 AS double precision)) > 1e-9;
