-- private.users_copy_fingerprints: the fingerprints a user copy's batches store for its leak
-- scan. Only the owner (the copy itself) reads or writes them; no API role, no member, not the
-- copy reader; unlogged, with RLS, and gone with their job. A daily sweep deletes those of
-- jobs that ended more than 7 days ago; only the owner (pg_cron) runs it.
begin;
\ir _setup.psql
select plan(21);

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

-- The sweep: jobs that ended long ago lose their fingerprints; recent and running ones keep them.
insert into ops.jobs (id, kind, params, executor, status, finished_at) values
  ('00000000-0000-0000-0000-00000000f2f2', 'pgtap.fingerprints', '{}', 'cli', 'failed', now() - interval '8 days'),
  ('00000000-0000-0000-0000-00000000f3f3', 'pgtap.fingerprints', '{}', 'cli', 'failed', now() - interval '1 day'),
  ('00000000-0000-0000-0000-00000000f4f4', 'pgtap.fingerprints', '{}', 'cli', 'running', null);
insert into private.users_copy_fingerprints (job_id, table_name, fingerprints)
select j, t, array[7]::bigint[]
from unnest(array['00000000-0000-0000-0000-00000000f2f2', '00000000-0000-0000-0000-00000000f3f3',
                  '00000000-0000-0000-0000-00000000f4f4']::uuid[]) as j,
     unnest(array['auth.users', 'public.profiles']) as t;

select pg_temp.act_as('anon');
select throws_ok(
  $$select private.sweep_users_copy_fingerprints()$$, '42501', null, 'anon cannot sweep'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$select private.sweep_users_copy_fingerprints()$$, '42501', null,
  'the service role cannot sweep'
);
select pg_temp.act_as('admin');
select throws_ok(
  $$select private.sweep_users_copy_fingerprints()$$, '42501', null, 'an admin cannot sweep'
);
reset role;

select throws_ok(
  $$select private.sweep_users_copy_fingerprints(interval '-1 day')$$, '22023',
  'Cannot sweep user copy fingerprints: ended_before must be a non-negative interval, got -1 days',
  'a negative age is refused, naming the value'
);
select is(
  private.sweep_users_copy_fingerprints(), 2,
  'the owner sweeps the two batches of the job that ended 8 days ago'
);
select is(
  (select array_agg(distinct job_id order by job_id) from private.users_copy_fingerprints
   where job_id::text like '00000000-0000-0000-0000-00000000f_f_'),
  array['00000000-0000-0000-0000-00000000f3f3', '00000000-0000-0000-0000-00000000f4f4']::uuid[],
  'a job that ended a day ago and a running one keep theirs'
);
select is(private.sweep_users_copy_fingerprints(), 0, 'a second sweep deletes nothing');
select is(
  private.sweep_users_copy_fingerprints(interval '0'), 2,
  'with no grace period, every ended job loses them (the running one keeps its)'
);
select is(
  (select schedule from cron.job where jobname = 'users-copy-fingerprints-sweep'),
  '41 4 * * *',
  'pg_cron runs the sweep daily'
);

select * from finish();
rollback;
