-- private.users_copy_fingerprints: the fingerprints a user copy's batches store for its leak
-- scan. Only the owner (the copy itself) reads or writes them; no API role, no member, not the
-- copy reader; unlogged, with RLS, and gone with their job.
begin;
\ir _setup.psql
select plan(12);

select is(
  (select relpersistence from pg_class where oid = 'private.users_copy_fingerprints'::regclass),
  'u'::"char",
  'the table is unlogged'
);
select ok(
  (select relrowsecurity from pg_class where oid = 'private.users_copy_fingerprints'::regclass),
  'RLS is on'
);

insert into ops.jobs (id, kind, params, executor)
values ('00000000-0000-0000-0000-00000000f1f1', 'pgtap.fingerprints', '{}', 'cli');
select lives_ok(
  $$insert into private.users_copy_fingerprints (job_id, table_name, fingerprints)
    values ('00000000-0000-0000-0000-00000000f1f1', 'auth.users', array[1, 2, 3]::bigint[])$$,
  'the owner writes a batch''s fingerprints'
);

select pg_temp.act_as('anon');
select throws_ok(
  $$select * from private.users_copy_fingerprints$$, '42501', null, 'anon cannot read them'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$select * from private.users_copy_fingerprints$$, '42501', null,
  'the service role cannot read them'
);
select throws_ok(
  $$insert into private.users_copy_fingerprints values
    ('00000000-0000-0000-0000-00000000f1f1', 'auth.users', '{}')$$, '42501', null,
  'the service role cannot write them'
);
select pg_temp.act_as('admin');
select throws_ok(
  $$select * from private.users_copy_fingerprints$$, '42501', null, 'an admin cannot read them'
);
select throws_ok(
  $$delete from private.users_copy_fingerprints$$, '42501', null, 'an admin cannot delete them'
);
select pg_temp.act_as('operator');
select throws_ok(
  $$select * from private.users_copy_fingerprints$$, '42501', null,
  'an operator cannot read them'
);
reset role;
set local role stagecoach_copy_reader;
select throws_ok(
  $$select * from private.users_copy_fingerprints$$, '42501', null,
  'the copy reader cannot read them'
);
reset role;

select is(
  (select count(*)::int from private.users_copy_fingerprints
   where job_id = '00000000-0000-0000-0000-00000000f1f1'),
  1,
  'the owner reads them'
);
delete from ops.jobs where id = '00000000-0000-0000-0000-00000000f1f1';
select is(
  (select count(*)::int from private.users_copy_fingerprints
   where job_id = '00000000-0000-0000-0000-00000000f1f1'),
  0,
  'they go with their job'
);

select * from finish();
rollback;
