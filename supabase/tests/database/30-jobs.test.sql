-- ops.jobs: ops members read jobs; operators and admins cancel or re-queue them; nobody but
-- the owner (the engine: postgres) inserts or moves progress: jobs are queued through
-- ops.create_job (32-create-job.test.sql).
begin;
\ir _setup.psql
select plan(25);

select has_table('ops', 'jobs', 'ops.jobs exists');
select is(
  (select relrowsecurity from pg_class where oid = 'ops.jobs'::regclass),
  true,
  'RLS is enabled on ops.jobs'
);

-- A job written by the engine (postgres), as the CLI does.
insert into ops.jobs (id, kind, params, executor)
values ('00000000-0000-4000-8000-00000000a001', 'users.copy', '{"source_env": "production"}', 'cli');

-- Readers ---------------------------------------------------------------------------------
select pg_temp.act_as('viewer');
select results_eq(
  $$select kind from ops.jobs where id = '00000000-0000-4000-8000-00000000a001'$$,
  array['users.copy'],
  'a viewer reads jobs'
);
select throws_ok(
  $$insert into ops.jobs (kind, created_by) values ('etl.run', pg_temp.uid('viewer'))$$,
  '42501', null, 'a viewer cannot queue a job'
);
select is_empty(
  $$update ops.jobs set status = 'canceled'
    where id = '00000000-0000-4000-8000-00000000a001' returning id$$,
  'a viewer cannot cancel a job'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.jobs$$, 'a non-member reads no jobs');
select throws_ok(
  $$insert into ops.jobs (kind, created_by) values ('etl.run', pg_temp.uid('nonmember'))$$,
  '42501', null, 'a non-member cannot queue a job'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.jobs$$, '42501', null, 'anon cannot read jobs');
reset role;

-- Operators and admins ----------------------------------------------------------------------
select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.jobs (id, kind, params, created_by)
    values ('00000000-0000-4000-8000-00000000a002', 'etl.run', '{"transform": "x"}',
            pg_temp.uid('operator'))$$,
  '42501', null, 'an operator cannot insert a job directly (only through ops.create_job)'
);
reset role;
insert into ops.jobs (id, kind, params, created_by, created_via)
values ('00000000-0000-4000-8000-00000000a002', 'etl.run',
        '{"transform_id": "x", "version": 1, "env": "development"}', pg_temp.uid('operator'),
        'member');
select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.jobs (kind, status, created_by)
    values ('etl.run', 'succeeded', pg_temp.uid('operator'))$$,
  '42501', null, 'an operator cannot insert a job that claims to be finished'
);
select throws_ok(
  $$insert into ops.jobs (kind, created_by) values ('etl.run', pg_temp.uid('admin'))$$,
  '42501', null, 'an operator cannot queue a job in someone else''s name'
);
select results_eq(
  $$update ops.jobs set status = 'canceled'
    where id = '00000000-0000-4000-8000-00000000a001' returning status$$,
  array['canceled'],
  'an operator cancels a job'
);
select throws_ok(
  $$update ops.jobs set cursor = '{"auth.users": "x"}'
    where id = '00000000-0000-4000-8000-00000000a002'$$,
  '42501', null, 'an operator cannot move a job''s cursor'
);
select throws_ok(
  $$update ops.jobs set status = 'succeeded'
    where id = '00000000-0000-4000-8000-00000000a002'$$,
  '42501', null, 'an operator cannot mark a job succeeded'
);
select throws_ok(
  $$delete from ops.jobs where id = '00000000-0000-4000-8000-00000000a002'$$,
  '42501', null, 'an operator cannot delete a job'
);
reset role;

select pg_temp.act_as('admin');
select results_eq(
  $$update ops.jobs set status = 'queued'
    where id = '00000000-0000-4000-8000-00000000a001' returning status$$,
  array['queued'],
  'an admin re-queues a cancelled job'
);
reset role;

select pg_temp.act_as('approver');
select throws_ok(
  $$insert into ops.jobs (kind, created_by) values ('etl.run', pg_temp.uid('approver'))$$,
  '42501', null, 'an approver cannot queue a job'
);
reset role;

-- The service role reads; the engine runs as the owner -------------------------------------
select pg_temp.act_as('service_role');
select results_eq(
  $$select kind from ops.jobs where id = '00000000-0000-4000-8000-00000000a002'$$,
  array['etl.run'],
  'service_role reads jobs'
);
select throws_ok(
  $$insert into ops.jobs (kind, params) values ('stripe.reconcile', '{}')$$,
  '42501', null, 'service_role cannot insert a job directly'
);
select throws_ok(
  $$update ops.jobs
      set status = 'running', lease_token = gen_random_uuid(), lease_owner = 'ops-worker',
          lease_expires_at = now() + interval '30 seconds', cursor = '{"t": 5}'
    where id = '00000000-0000-4000-8000-00000000a002'$$,
  '42501', null, 'service_role cannot claim or checkpoint a job (the engine is the owner)'
);
reset role;
select lives_ok(
  $$update ops.jobs
      set status = 'running', lease_token = gen_random_uuid(), lease_owner = 'ops-worker',
          lease_expires_at = now() + interval '30 seconds', cursor = '{"t": 5}'
    where id = '00000000-0000-4000-8000-00000000a002'$$,
  'the engine (owner) claims and checkpoints a job'
);
select lives_ok(
  $$update ops.jobs set status = 'succeeded' where id = '00000000-0000-4000-8000-00000000a002'$$,
  'the engine finishes a job'
);
select results_eq(
  $$select lease_token is null and finished_at is not null from ops.jobs
    where id = '00000000-0000-4000-8000-00000000a002'$$,
  array[true],
  'a finished job has its finish time and no lease'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$delete from ops.jobs where id = '00000000-0000-4000-8000-00000000a002'$$,
  '42501', null, 'service_role cannot delete a job (jobs are history)'
);
reset role;

select throws_ok(
  $$insert into ops.jobs (kind, params) values ('users.copy', '"not an object"')$$,
  '23514', null, 'params must be a JSON object'
);

select * from finish();
rollback;
