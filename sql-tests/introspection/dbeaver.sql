-- DBeaver's PostgreSQL navigator: the statements its PostgreSQL plugin sends to open a
-- connection and browse a schema (schemas, tables, columns, constraints, indexes, functions,
-- data types, collations, extensions). Rendered by hand from dbeaver/dbeaver
-- plugins/org.jkiss.dbeaver.ext.postgresql (PostgreDataSource, PostgreDatabase.SchemaCache,
-- PostgreSchema.TableCache/ConstraintCache/IndexCache/ProceduresCache/CollationCache/
-- ExtensionCache, PostgreDataTypeCache): DBeaver is a desktop application, not installable
-- on the build machine. DBeaver binds the schema's OID (`c.relnamespace=?`); here the bind
-- is the lookup of public's OID. Replayed by server/tests/it/introspection.rs.

-- @query
SELECT current_schema(),session_user;
-- @query
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='ember';
-- @query
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname;
-- @query
SELECT c.oid,c.*,d.description,(select array_agg(i.inhparent) from pg_catalog.pg_inherits i where i.inhrelid = c.oid) parents
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0
WHERE c.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public') AND c.relkind not in ('i','c');
-- @query
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
WHERE NOT a.attisdropped AND c.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public') AND c.relkind not in ('i','c')  ORDER BY a.attnum;
-- @query
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
WHERE t.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public')
ORDER BY c.oid;
-- @query
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  c.relnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public') ORDER BY c.relname;
-- @query
SELECT p.oid,p.*,d.description
FROM pg_catalog.pg_proc p
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=p.oid
WHERE p.pronamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public')
ORDER BY p.proname;
-- @query
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem
LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid
WHERE t.typname IS NOT NULL
AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C');
-- @query
SELECT c.oid,c.* FROM pg_catalog.pg_collation c 
WHERE c.collnamespace=11
ORDER BY c.oid;
-- @query
SELECT e.oid,e.* FROM pg_catalog.pg_extension e 
WHERE e.extnamespace=(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public')
ORDER BY e.oid;
