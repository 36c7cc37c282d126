-- ops.create_job: the only way to create a job. Operators and admins queue jobs, only admins
-- (and the owner) give a users.copy a where; the service role queues without one; viewers,
-- approvers, non-members and anon cannot; parameters are checked for the kind (a users.copy
-- names the shipped manifest's hash and carries no manifest); only the owner seeds progress;
-- private.recheck_job applies the same rules to a stored job.
begin;
\ir _setup.psql
select plan(25);

create temp table t_params (name text primary key, params jsonb not null);
grant select on t_params to authenticated, service_role, anon;
insert into t_params values
  ('copy', jsonb_build_object(
     'source_env', 'production', 'target_env', 'staging', 'mode', 'anonymized',
     'selection', '{"sample": 10}'::jsonb, 'batch_size', 100, 'parallel', 2,
     'key_fingerprint', '0123456789abcdef', 'promotion_id', null,
     'manifest_hash', private.users_copy_manifest_hash())),
  ('etl', '{"transform_id": "profiles_split_full_name", "version": 1, "env": "development"}');
insert into t_params
select 'copy_where', params || '{"selection": {"where": "u.email like ''%@example.com''"}}'
from t_params where name = 'copy';
insert into t_params
select 'copy_manifest', params || '{"manifest": {"version": 1, "tables": {}}}'
from t_params where name = 'copy';
insert into t_params
select 'copy_other_hash', params || jsonb_build_object('manifest_hash', repeat('0', 64))
from t_params where name = 'copy';

create function pg_temp.p(name text) returns jsonb
language sql stable
as $$ select params from pg_temp.t_params where t_params.name = p.name $$;

-- Viewers, approvers, non-members and anon ---------------------------------------------------
select pg_temp.act_as('viewer');
select throws_ok(
  $$select ops.create_job('etl.run', pg_temp.p('etl'))$$,
  '42501', 'Cannot queue job etl.run: only operators and admins queue jobs',
  'a viewer cannot queue a job'
);
reset role;

select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.create_job('users.copy', pg_temp.p('copy'))$$,
  '42501', null, 'an approver cannot queue a job'
);
reset role;

select pg_temp.act_as('nonmember');
select throws_ok(
  $$select ops.create_job('etl.run', pg_temp.p('etl'))$$,
  '42501', null, 'a non-member cannot queue a job'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok(
  $$select ops.create_job('etl.run', '{}')$$,
  '42501', null, 'anon cannot call ops.create_job'
);
reset role;

-- Operators ------------------------------------------------------------------------------------
select pg_temp.act_as('operator');
select results_eq(
  $$select created_via, created_by, status from ops.create_job('etl.run', pg_temp.p('etl'), 'cli')$$,
  $$values ('member', pg_temp.uid('operator'), 'queued')$$,
  'an operator queues an etl.run, recorded as created by them'
);
select lives_ok(
  $$select ops.create_job('users.copy', pg_temp.p('copy'))$$,
  'an operator queues a users.copy without a where'
);
select throws_ok(
  $$select ops.create_job('users.copy', pg_temp.p('copy_where'))$$,
  '42501',
  'Cannot queue job users.copy: only an admin may select users with a where predicate (it runs as SQL on the source)',
  'an operator cannot queue a users.copy with a where'
);
select throws_like(
  $$select ops.create_job('users.copy', pg_temp.p('copy_manifest'))$$,
  'Cannot queue job users.copy: invalid parameters (params.manifest: not accepted;%',
  'a users.copy cannot carry a manifest of its own'
);
select throws_like(
  $$select ops.create_job('users.copy', pg_temp.p('copy_other_hash'))$$,
  'Cannot queue job users.copy: its manifest_hash 0000% differs from the hash of the manifest this release ships, %',
  'a users.copy must name the shipped manifest''s hash'
);
select throws_like(
  $$select ops.create_job('etl.run', pg_temp.p('etl') || '{"batch_size": 0, "guard": "true"}')$$,
  'Cannot queue job etl.run: invalid parameters (params.batch_size: expected an integer in 1..100000; params.guard: not a parameter of etl.run)',
  'etl.run parameters are checked'
);
select throws_ok(
  $$select ops.create_job('test.anything', '{}')$$,
  '42501', 'Cannot queue job test.anything: the database knows no job kind test.anything',
  'a member cannot queue a kind the database does not know'
);
select throws_ok(
  $$select ops.create_job('etl.run', pg_temp.p('etl'), 'cli', '{}', '{"phase": "audit"}')$$,
  '42501', 'Cannot queue job etl.run: only the database owner seeds a job''s progress',
  'an operator cannot seed a job''s state'
);
select throws_ok(
  $$select ops.create_job('etl.run', pg_temp.p('etl'), 'elsewhere')$$,
  '22023', null, 'the executor is worker or cli'
);
reset role;

-- Admins ---------------------------------------------------------------------------------------
select pg_temp.act_as('admin');
select results_eq(
  $$select created_via, params -> 'selection' ->> 'where'
    from ops.create_job('users.copy', pg_temp.p('copy_where'), 'cli')$$,
  $$values ('member', 'u.email like ''%@example.com''')$$,
  'an admin queues a users.copy with a where'
);
select throws_like(
  $$select ops.create_job('users.copy', pg_temp.p('copy_other_hash'))$$,
  '%differs from the hash of the manifest this release ships%',
  'an admin is held to the shipped manifest too'
);
reset role;

-- The service role -----------------------------------------------------------------------------
select pg_temp.act_as('service_role');
select results_eq(
  $$select created_via, created_by from ops.create_job('stripe.reconcile', '{"source": "test"}')$$,
  $$values ('service_role', null::uuid)$$,
  'service_role queues a job'
);
select throws_ok(
  $$select ops.create_job('users.copy', pg_temp.p('copy_where'))$$,
  '42501', null, 'service_role cannot queue a users.copy with a where (it names no admin)'
);
select throws_ok(
  $$select ops.create_job('stripe.reconcile', '{}', 'worker', '{"t": 1}')$$,
  '42501', null, 'service_role cannot seed a job''s progress'
);
select throws_ok(
  $$select private.recheck_job(gen_random_uuid())$$,
  '42501', null, 'service_role cannot call the runner''s re-check'
);
reset role;

-- The owner (the CLI, pg_cron) -----------------------------------------------------------------
select results_eq(
  $$select created_via, state ->> 'phase', totals ->> 'auth.users'
    from ops.create_job('users.copy', pg_temp.p('copy_where'), 'cli',
                        '{"auth.users": 3}', '{"phase": "copy"}')$$,
  $$values ('owner', 'copy', '3')$$,
  'the owner queues a users.copy with a where and seeds its progress'
);
select lives_ok(
  $$select ops.create_job('test.engine', '{"n": 1}', 'cli')$$,
  'the owner may queue a kind the database does not describe (the engine''s own tests)'
);
select throws_like(
  $$select ops.create_job('users.copy', pg_temp.p('copy_manifest'), 'cli')$$,
  '%params.manifest: not accepted%',
  'the owner cannot give a users.copy its own manifest either'
);

-- Re-checked before every slice ----------------------------------------------------------------
insert into ops.jobs (id, kind, params, executor, created_by, created_via)
values ('00000000-0000-4000-8000-00000000b001', 'users.copy', pg_temp.p('copy_where'), 'cli',
        pg_temp.uid('admin'), 'member');
select lives_ok(
  $$select private.recheck_job('00000000-0000-4000-8000-00000000b001')$$,
  'a job with a where passes the re-check while its creator is an admin'
);
update ops.members set role = 'operator' where user_id = pg_temp.uid('admin');
select throws_ok(
  $$select private.recheck_job('00000000-0000-4000-8000-00000000b001')$$,
  '42501',
  'Cannot run job 00000000-0000-4000-8000-00000000b001 (users.copy): only an admin may select users with a where predicate (it runs as SQL on the source)',
  '... and fails it once they are no longer one'
);
insert into ops.jobs (id, kind, params, executor)
values ('00000000-0000-4000-8000-00000000b002', 'users.copy', pg_temp.p('copy_manifest'), 'cli');
select throws_like(
  $$select private.recheck_job('00000000-0000-4000-8000-00000000b002')$$,
  'Cannot run job 00000000-0000-4000-8000-00000000b002 (users.copy): invalid parameters (params.manifest: not accepted%',
  'a row written around ops.create_job with a manifest fails the re-check'
);
select * from finish();
rollback;
