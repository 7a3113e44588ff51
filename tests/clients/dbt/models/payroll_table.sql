-- A `table` model: CREATE TABLE ... AS into a managed table, swapped in by renames.
{{ config(materialized='table') }}
select emp_id, name, dept_id, salary
from {{ source('raw', 'dbt_employees') }}
where active
