-- Active employees and their salaries, one row per employee.
select emp_id, name, dept_id, salary
from {{ source('raw', 'dbt_employees') }}
where active
