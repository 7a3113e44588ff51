-- An `incremental` model with a unique key: the first run loads employees 1-20; later
-- runs load the rows from five below the highest key on, through a temporary table,
-- `DELETE ... WHERE (emp_id) IN (SELECT ...)` of the overlap and an INSERT.
{{ config(materialized='incremental', unique_key='emp_id') }}
select emp_id, name, dept_id, salary
from {{ source('raw', 'dbt_employees') }}
{% if is_incremental() %}
where emp_id > (select max(emp_id) - 5 from {{ this }})
{% else %}
where emp_id <= 20
{% endif %}
