-- Ember quickstart: the bundled sample data set (sql-tests/data), run with
--   psql -h 127.0.0.1 -p 5432 -U ember -f examples/quickstart.sql
-- Relative LOCATIONs resolve against the directory `ember serve` was started in
-- (scripts/serve.sh starts it at the repository root).

CREATE EXTERNAL TABLE IF NOT EXISTS employees
  STORED AS CSV LOCATION 'sql-tests/data/employees.csv' OPTIONS ('format.has_header' 'true');
CREATE EXTERNAL TABLE IF NOT EXISTS departments
  STORED AS CSV LOCATION 'sql-tests/data/departments.csv' OPTIONS ('format.has_header' 'true');
CREATE EXTERNAL TABLE IF NOT EXISTS events
  STORED AS JSON LOCATION 'sql-tests/data/events.json';

CREATE OR REPLACE VIEW payroll AS
SELECT d.dept_name, count(*) AS people, round(avg(e.salary), 2) AS avg_salary
FROM employees e JOIN departments d ON e.dept_id = d.dept_id
GROUP BY d.dept_name;

SELECT * FROM payroll ORDER BY avg_salary DESC;

SELECT e.name, count(ev.event_id) AS events, sum(ev.amount) AS spent
FROM employees e LEFT JOIN events ev ON ev.emp_id = e.emp_id
GROUP BY e.name
ORDER BY spent DESC NULLS LAST, e.name
LIMIT 5;

SHOW TABLES;
