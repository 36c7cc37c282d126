-- ops.environments: default approval policy per kind, the stack's upsert, and who may
-- read and change environments.
begin;
\ir _setup.psql
select plan(21);

-- Defaults per kind (as postgres, the way the stack registers an environment) -------------------

insert into ops.environments (name, kind, functions_url)
values
  ('zz-dev', 'development', 'http://127.0.0.1:1/functions/v1'),
  ('zz-stage', 'staging', 'http://127.0.0.1:2/functions/v1'),
  ('zz-prod', 'production', 'http://127.0.0.1:3/functions/v1');

select results_eq(
  $$select name, required_approvals, high_risk_approvals, approval_expiry
      from ops.environments where name like 'zz-%' order by name$$,
  $$values ('zz-dev', 0, 0, interval '24 hours'),
           ('zz-prod', 1, 2, interval '24 hours'),
           ('zz-stage', 0, 0, interval '24 hours')$$,
  'development and staging need no approval; production needs 1, or 2 when high risk'
);

select results_eq(
  $$select * from ops.default_policy('production')$$,
  $$values (1, 2, interval '24 hours')$$,
  'ops.default_policy() gives the production defaults'
);

insert into ops.environments (name, kind, required_approvals, high_risk_approvals, approval_expiry)
values ('zz-explicit', 'production', 2, 3, interval '1 hour');
select results_eq(
  $$select required_approvals, high_risk_approvals, approval_expiry
      from ops.environments where name = 'zz-explicit'$$,
  $$values (2, 3, interval '1 hour')$$,
  'explicit approval settings are kept'
);

update ops.environments set required_approvals = 2, high_risk_approvals = 3 where name = 'zz-prod';
insert into ops.environments (name, kind, functions_url)
values ('zz-prod', 'production', 'https://example.supabase.co/functions/v1')
on conflict (name) do update set functions_url = excluded.functions_url;
select results_eq(
  $$select functions_url, required_approvals, high_risk_approvals
      from ops.environments where name = 'zz-prod'$$,
  $$values ('https://example.supabase.co/functions/v1', 2, 3)$$,
  'the upsert updates functions_url and keeps a tuned policy'
);

select throws_ok(
  $$insert into ops.environments (name, kind) values ('zz-bad', 'qa')$$,
  '23514', null, 'an unknown kind is rejected'
);
select throws_ok(
  $$insert into ops.environments (name, kind, required_approvals, high_risk_approvals)
    values ('zz-bad', 'production', 2, 1)$$,
  '23514', null, 'high-risk approvals cannot be fewer than required approvals'
);
select has_trigger('ops', 'environments', 'set_updated_at', 'updated_at is maintained');

-- anon and non-members ------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok('select * from ops.environments', '42501', null, 'anon cannot read environments');
reset role;

select pg_temp.act_as('nonmember');
select is_empty('select * from ops.environments', 'a non-member sees no environments');
select throws_ok(
  $$insert into ops.environments (name, kind) values ('zz-new', 'staging')$$,
  '42501', null, 'a non-member cannot add environments'
);
reset role;

-- Members ------------------------------------------------------------------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  $$select name from ops.environments where name like 'zz-%' order by name$$,
  array['zz-dev', 'zz-explicit', 'zz-prod', 'zz-stage'],
  'a viewer reads environments'
);
select throws_ok(
  $$insert into ops.environments (name, kind) values ('zz-new', 'staging')$$,
  '42501', null, 'a viewer cannot add environments'
);
reset role;

select pg_temp.act_as('operator');
update ops.environments set required_approvals = 0, high_risk_approvals = 0 where name = 'zz-prod';
delete from ops.environments where name = 'zz-stage';
reset role;
select results_eq(
  $$select required_approvals from ops.environments where name = 'zz-prod'$$,
  array[2],
  'an operator cannot lower production''s approvals'
);
select isnt_empty(
  $$select 1 from ops.environments where name = 'zz-stage'$$,
  'an operator cannot remove environments'
);

select pg_temp.act_as('approver');
update ops.environments set required_approvals = 0, high_risk_approvals = 0 where name = 'zz-prod';
reset role;
select results_eq(
  $$select required_approvals from ops.environments where name = 'zz-prod'$$,
  array[2],
  'an approver cannot change the approval policy'
);

select pg_temp.act_as('admin');
select lives_ok(
  $$update ops.environments set required_approvals = 1, high_risk_approvals = 1 where name = 'zz-prod'$$,
  'an admin can change the approval policy'
);
select lives_ok(
  $$insert into ops.environments (name, kind) values ('zz-new', 'staging')$$,
  'an admin can add an environment'
);
select lives_ok(
  $$delete from ops.environments where name = 'zz-new'$$,
  'an admin can remove an environment'
);
reset role;
select results_eq(
  $$select required_approvals, high_risk_approvals from ops.environments where name = 'zz-prod'$$,
  $$values (1, 1)$$,
  'the admin''s change was stored'
);

-- service_role ---------------------------------------------------------------------------------------

select pg_temp.act_as('service_role');
select lives_ok(
  $$insert into ops.environments (name, kind, functions_url)
    values ('zz-dev', 'development', 'http://127.0.0.1:9/functions/v1')
    on conflict (name) do update set functions_url = excluded.functions_url$$,
  'service_role can upsert an environment'
);
select results_eq(
  $$select functions_url from ops.environments where name = 'zz-dev'$$,
  array['http://127.0.0.1:9/functions/v1'],
  'service_role reads environments'
);
reset role;

select * from finish();
rollback;
