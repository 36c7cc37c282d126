-- Every table in `public` and `ops` has row-level security enabled. Supabase grants the API
-- roles ALL on new public tables, so a table without RLS is readable by anyone with the anon
-- key. The test enumerates tables from the catalog, so new tables are covered automatically;
-- a failure names the table.
begin;
\ir _setup.psql
select plan((
  select count(*)::integer * 2 + 1
  from pg_catalog.pg_class as c
  join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
  where n.nspname in ('public', 'ops') and c.relkind in ('r', 'p')
));

select cmp_ok(
  (
    select count(*)::integer
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where n.nspname in ('public', 'ops') and c.relkind in ('r', 'p')
  ),
  '>=',
  10,
  'public and ops hold the Stagecoach tables'
);

select ok(c.relrowsecurity, format('RLS is enabled on %I.%I', n.nspname, c.relname))
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where n.nspname in ('public', 'ops') and c.relkind in ('r', 'p')
order by n.nspname, c.relname;

-- A table with RLS and no policy is closed to every API role (splinter: rls_enabled_no_policy).
select ok(
  exists (select 1 from pg_catalog.pg_policy as p where p.polrelid = c.oid),
  format('%I.%I has at least one policy', n.nspname, c.relname)
)
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where n.nspname in ('public', 'ops') and c.relkind in ('r', 'p')
order by n.nspname, c.relname;

select * from finish();
rollback;
