-- The approval gate: in an environment whose policy requires approval, promotable rows change
-- only inside the apply or rollback of an approved promotion — for every role, postgres and
-- the service role included — and every such change is audited. Also: the audit log is the
-- system's, membership and policy changes are audited, a policy is weakened only with a second
-- admin, and the webhook's trusted signing secret is recorded only by the apply path.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(58);

-- This database plays production for the test (rolled back with everything else).
update ops.environments set is_self = false where is_self;
update ops.environments set is_self = true where name = 'production';
select ok(ops.writes_need_approval(), 'production requires approval, so promotable rows are gated');

-- A tier, a price and a feature to write against, made before the gate applies to them.
select ops.break_glass('pgTAP: the fixture tier of 43-approval-gate');
insert into public.membership_tiers (slug, name) values ('zz-gate', 'Gate');
insert into public.tier_features (tier_id, feature_key, value)
select id, 'seats', '1' from public.membership_tiers where slug = 'zz-gate';
insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
select id, 'zz_gate_monthly', 'usd', 100, 'month' from public.membership_tiers where slug = 'zz-gate';
insert into public.app_config (key, value) values ('zz.gate', '1');
insert into public.feature_flags (key, description) values ('zz_gate', 'gate');
select is(
  (select count(*)::int from ops.audit_log where action = 'gate.break_glass'
     and details->>'reason' = 'pgTAP: the fixture tier of 43-approval-gate'),
  1, 'break glass (postgres only) is audited with its reason'
);
select is(
  (select count(*)::int from ops.audit_log where action = 'promotable.insert'
     and details->>'purpose' = 'break_glass'),
  5, 'each write under break glass is audited per statement'
);

-- Every role's direct write is refused, on every promotable table -----------------------------------

-- A fresh transaction id per attempt: the fixture's permit belongs to the test's transaction,
-- so the attempts run in a subtransaction-free way by clearing the permit first.
delete from private.promotion_writes where xact = pg_current_xact_id();

create function pg_temp.writes() returns setof text
language sql immutable
as $$ values
  ($q$insert into public.app_config (key, value) values ('zz.gate.new', '1')$q$),
  ($q$update public.app_config set value = '2' where key = 'zz.gate'$q$),
  ($q$delete from public.app_config where key = 'zz.gate'$q$),
  ($q$insert into public.membership_tiers (slug, name) values ('zz-gate-new', 'New')$q$),
  ($q$update public.membership_tiers set name = 'Renamed' where slug = 'zz-gate'$q$),
  ($q$delete from public.membership_tiers where slug = 'zz-gate'$q$),
  ($q$update public.tier_features set value = '2' where feature_key = 'seats'$q$),
  ($q$update public.tier_prices set unit_amount = 1 where lookup_key = 'zz_gate_monthly'$q$),
  ($q$update public.feature_flags set enabled = true, rollout_percent = 100 where key = 'zz_gate'$q$),
  ($q$delete from public.feature_flags where key = 'zz_gate'$q$)
$$;

create function pg_temp.refused_for(who text) returns integer
language plpgsql
as $$
declare
  q text;
  refused integer := 0;
begin
  for q in select * from pg_temp.writes() loop
    if who <> 'postgres' then perform pg_temp.act_as(who); end if;
    begin
      execute q;
    exception when insufficient_privilege then
      refused := refused + 1;
    end;
    perform pg_temp.as_system();
  end loop;
  return refused;
end;
$$;

select is(pg_temp.refused_for('viewer'), 10, 'a viewer''s direct writes are all refused');
select is(pg_temp.refused_for('operator'), 10, 'an operator''s direct writes are all refused');
select is(pg_temp.refused_for('approver'), 10, 'an approver''s direct writes are all refused');
select is(pg_temp.refused_for('admin'), 10, 'an admin''s direct writes are all refused');
select is(pg_temp.refused_for('nonmember'), 10, 'a signed-in user''s direct writes are all refused');
select is(pg_temp.refused_for('anon'), 10, 'anon''s direct writes are all refused');
select is(pg_temp.refused_for('service_role'), 10, 'the service role''s direct writes are all refused');
select is(pg_temp.refused_for('postgres'), 10, 'postgres''s direct writes are all refused');
select throws_like(
  $$truncate public.feature_flags cascade$$,
  'Cannot truncate public.feature_flags: production requires approval%',
  'truncate is refused too, naming the environment'
);
select results_eq(
  $$select (select value::text from public.app_config where key = 'zz.gate'),
           (select name from public.membership_tiers where slug = 'zz-gate'),
           (select unit_amount from public.tier_prices where lookup_key = 'zz_gate_monthly'),
           (select enabled from public.feature_flags where key = 'zz_gate')$$,
  $$values ('1'::text, 'Gate'::text, 100::bigint, false)$$,
  'the refused writes changed nothing'
);

select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.set_config_secret('zz.gate.secret', 'sk_live_zz', null)$$,
  '42501', null, 'an operator cannot set a production secret directly (it becomes a promotion)'
);
select throws_ok(
  format($$select ops.open_promotion_writes(%L)$$, gen_random_uuid()),
  '42501', null, 'an operator cannot open a write permit'
);
select throws_ok(
  $$select ops.break_glass('operator wants in, badly')$$,
  '42501', null, 'an operator cannot break glass'
);
select pg_temp.act_as('admin');
select throws_ok(
  $$select ops.break_glass('admin wants in, badly')$$,
  '42501', null, 'an admin cannot break glass'
);
select pg_temp.act_as('service_role');
select throws_ok(
  format($$select ops.open_promotion_writes(%L)$$, gen_random_uuid()),
  '42501', null, 'the service role cannot open a write permit'
);
select throws_ok(
  $$select ops.break_glass('service role wants in')$$,
  '42501', null, 'the service role cannot break glass'
);
select pg_temp.as_system();
select is(
  (select count(*)::int from private.promotion_writes where xact = pg_current_xact_id()),
  0, 'no permit was opened by the refused calls'
);

-- Inside an approved apply the same write succeeds and is audited -----------------------------------

select pg_temp.plan_as('operator', 'gate', 'production', 'high');
select throws_like(
  format($$select ops.open_promotion_writes(%L)$$, pg_temp.pid('gate')),
  'Cannot open writes for promotion %: it is awaiting_approval, not being applied or rolled back',
  'a promotion awaiting approval opens no permit, not even for postgres'
);
insert into ops.approvals (promotion_id, approver_id, decision, plan_hash)
values (pg_temp.pid('gate'), pg_temp.uid('approver'), 'approve', pg_temp.phash('gate'));
insert into ops.approvals (promotion_id, approver_id, decision, plan_hash)
values (pg_temp.pid('gate'), pg_temp.uid('admin'), 'approve', pg_temp.phash('gate'));
select is(pg_temp.status('gate'), 'approved', 'two approvals approve the high-risk plan');
select pg_temp.act_as('operator');
update ops.promotions set status = 'applying' where id = pg_temp.pid('gate');
-- The data plane: the owner, still carrying the operator's claims (as apply runs it).
reset role;
select lives_ok(
  format($$select ops.open_promotion_writes(%L)$$, pg_temp.pid('gate')),
  'the apply path opens a permit for the applying promotion'
);
select lives_ok(
  $$update public.app_config set value = '2' where key = 'zz.gate'$$,
  'config changes inside the approved apply'
);
select lives_ok(
  $$update public.membership_tiers set name = 'Renamed' where slug = 'zz-gate'$$,
  'tiers change inside the approved apply'
);
select lives_ok(
  $$update public.tier_features set value = '2'
     where tier_id = (select id from public.membership_tiers where slug = 'zz-gate')$$,
  'features change inside the approved apply'
);
select lives_ok(
  $$update public.tier_prices set active = false where lookup_key = 'zz_gate_monthly'$$,
  'prices change inside the approved apply'
);
select lives_ok(
  $$update public.feature_flags set description = 'changed' where key = 'zz_gate'$$,
  'flags change inside the approved apply'
);
select results_eq(
  format($$select subject_id, (details->>'rows')::int, details->>'purpose', actor
             from ops.audit_log
            where action = 'promotable.update' and details->>'promotion_id' = %L order by id$$,
         pg_temp.pid('gate')),
  format($$values ('public.app_config', 1, 'apply', %1$L::uuid),
                  ('public.membership_tiers', 1, 'apply', %1$L::uuid),
                  ('public.tier_features', 1, 'apply', %1$L::uuid),
                  ('public.tier_prices', 1, 'apply', %1$L::uuid),
                  ('public.feature_flags', 1, 'apply', %1$L::uuid)$$,
         pg_temp.uid('operator')),
  'every statement of the apply is audited: table, rows, promotion, who'
);
select pg_temp.as_system();
delete from private.promotion_writes where xact = pg_current_xact_id();

-- Webhook signing secrets: only the apply of a stripe-scoped promotion records one ---------------------

select throws_like(
  $$select ops.record_endpoint_secret(gen_random_uuid(), 'we_zz', 'whsec_chosen_by_me')$$,
  'Cannot record the signing secret of we_zz: only the apply of a promotion with scope stripe may',
  'outside an apply nobody (not even postgres) records a trusted webhook secret'
);
select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.record_endpoint_secret(gen_random_uuid(), 'we_zz', 'whsec_chosen_by_me')$$,
  '42501', null, 'an operator cannot call it at all'
);
select throws_ok(
  $$select * from ops.stripe_endpoint_secrets$$,
  '42501', null, 'an operator cannot read recorded endpoint secrets'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$select * from ops.stripe_endpoint_secrets$$,
  '42501', null, 'the service role cannot read them either'
);
select pg_temp.as_system();
select is((select count(*)::int from ops.stripe_endpoint_secrets where endpoint_id = 'we_zz'), 0,
  'no secret was recorded');

-- Members and policy ------------------------------------------------------------------------------------

select ops.add_notification_endpoint('production', 'zz-security', 'webhook', 'https://sec.example.test/',
                                     array['security.member_changed', 'security.policy_changed']);

insert into t_users (label, email) values ('admin2', 'admin2@stagecoach.test');
insert into auth.users (instance_id, id, aud, role, email, created_at, updated_at)
select '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email, now(), now()
from t_users where label = 'admin2';
select pg_temp.act_as('admin');
insert into ops.members (user_id, role) select id, 'admin' from pg_temp.t_users where label = 'admin2';
update ops.members set role = 'approver' where user_id = pg_temp.uid('viewer');
update ops.members set role = 'viewer' where user_id = pg_temp.uid('viewer');
select pg_temp.as_system();
select results_eq(
  format($$select action, details->>'role_before', details->>'role_after', actor from ops.audit_log
            where subject_type = 'member' and subject_id in (%L, %L) and actor is not null
            order by id$$,
         pg_temp.uid('admin2'), pg_temp.uid('viewer')),
  format($$values ('member.added', null, 'admin', %1$L::uuid),
                  ('member.changed', 'viewer', 'approver', %1$L::uuid),
                  ('member.changed', 'approver', 'viewer', %1$L::uuid)$$, pg_temp.uid('admin')),
  'membership changes are audited with who, before and after'
);

select results_eq(
  $$select o.event_type, o.payload->'data'->>'action', o.payload->'data'->'actor'->>'email'
      from ops.notification_outbox as o join ops.notification_endpoints as e on e.id = o.endpoint_id
     where e.name = 'zz-security' order by o.id$$,
  $$values ('security.member_changed', 'member.added', 'admin@stagecoach.test'),
           ('security.member_changed', 'member.changed', 'admin@stagecoach.test'),
           ('security.member_changed', 'member.changed', 'admin@stagecoach.test')$$,
  'membership changes notify the endpoints that asked, in the same transaction'
);

select pg_temp.act_as('admin');
select throws_like(
  $$update ops.environments set required_approvals = 0, high_risk_approvals = 0 where name = 'production'$$,
  'Cannot weaken the approval policy of production%',
  'one admin cannot lower production''s required approvals'
);
select throws_like(
  $$update ops.environments set kind = 'development' where name = 'production'$$,
  'Cannot weaken the approval policy of production%', 'nor change its kind'
);
select throws_like(
  $$update ops.environments set is_self = false where name = 'production'$$,
  'Cannot weaken the approval policy of production%', 'nor unmark it as this database'
);
select throws_like(
  $$update ops.environments set approval_expiry = interval '30 days' where name = 'production'$$,
  'Cannot weaken the approval policy of production%', 'nor lengthen the approval window'
);
select throws_like(
  $$delete from ops.environments where name = 'production'$$,
  'Cannot weaken the approval policy of production%', 'nor delete it'
);
select lives_ok(
  $$update ops.environments set required_approvals = 2, high_risk_approvals = 3 where name = 'production'$$,
  'raising the policy needs no second admin'
);
select pg_temp.as_system();
select throws_like(
  $$update ops.environments set required_approvals = 0, high_risk_approvals = 0 where name = 'production'$$,
  'Cannot weaken the approval policy of production%',
  'postgres cannot lower it silently either'
);
select results_eq(
  $$select details->'before'->>'high_risk_approvals', details->'after'->>'high_risk_approvals', actor
      from ops.audit_log where action = 'environment.changed' and subject_id = 'production'
     order by id desc limit 1$$,
  format($$values ('2', '3', %L::uuid)$$, pg_temp.uid('admin')),
  'policy changes are audited with before and after'
);

select is(
  (select count(*)::int from ops.notification_outbox as o
     join ops.notification_endpoints as e on e.id = o.endpoint_id
    where e.name = 'zz-security' and o.event_type = 'security.policy_changed'),
  1, 'the policy change notified (the refused attempts did not)'
);

select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.propose_policy_change(0, 0)$$,
  '42501', null, 'an operator cannot propose a policy change'
);
select pg_temp.act_as('admin');
create temp table t_change as select ops.propose_policy_change(1, 1) as id;
select throws_like(
  $$select ops.approve_policy_change((select id from t_change))$$,
  'Cannot approve policy change %: nobody approves their own proposal',
  'the proposer cannot approve it'
);
select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.approve_policy_change((select id from t_change))$$,
  '42501', null, 'an approver (not an admin) cannot approve it'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.approve_policy_change((select id from t_change))$$,
  '42501', null, 'the service role cannot approve it'
);
select pg_temp.as_system();
select results_eq(
  $$select required_approvals, high_risk_approvals from ops.environments where name = 'production'$$,
  $$values (2, 3)$$, 'the refused approvals changed nothing'
);
select pg_temp.act_as('admin2');
select lives_ok(
  $$select ops.approve_policy_change((select id from t_change))$$,
  'a second admin approves the proposal'
);
select pg_temp.as_system();
select results_eq(
  $$select e.required_approvals, e.high_risk_approvals, c.status, c.approved_by
      from ops.environments as e, ops.policy_changes as c
     where e.name = 'production' and c.id = (select id from t_change)$$,
  format($$values (1, 1, 'applied', %L::uuid)$$, pg_temp.uid('admin2')),
  'then the lower policy applies'
);
select is(
  (select count(*)::int from ops.audit_log where action in ('policy.proposed', 'environment.changed')
     and details->'after'->>'high_risk_approvals' is not distinct from '1'
      or (action = 'policy.proposed' and subject_id = (select id::text from t_change))),
  2, 'the proposal and the change it made are audited'
);
select pg_temp.act_as('admin2');
select throws_like(
  $$select ops.approve_policy_change((select id from t_change))$$,
  'Cannot approve policy change %: it is not pending',
  'an applied proposal cannot be applied twice'
);
select pg_temp.as_system();

-- Break glass is announced ---------------------------------------------------------------------------------

select ops.add_notification_endpoint('production', 'zz-glass', 'webhook', 'https://glass.example.test/',
                                     array['security.break_glass']);
select ops.break_glass('pgTAP: announce this break glass');
select results_eq(
  $$select o.event_type, o.payload->'data'->'details'->>'reason'
      from ops.notification_outbox as o join ops.notification_endpoints as e on e.id = o.endpoint_id
     where e.name = 'zz-glass'$$,
  $$values ('security.break_glass', 'pgTAP: announce this break glass')$$,
  'breaking glass notifies the endpoints that asked, with the reason'
);
delete from private.promotion_writes where xact = pg_current_xact_id();

-- Development stays editable --------------------------------------------------------------------------

select pg_temp.act_as('admin2');
select ops.propose_policy_change(0, 0);
select pg_temp.act_as('admin');
select ops.approve_policy_change((select id from ops.policy_changes where status = 'pending'));
select pg_temp.as_system();
select ok(not ops.writes_need_approval(), 'with no approval required, nothing is gated');
select lives_ok(
  $$update public.app_config set value = '3' where key = 'zz.gate'$$,
  'a development-like environment stays editable directly'
);
select is(
  (select count(*)::int from ops.audit_log where action = 'promotable.update' and details->>'promotion_id' is null),
  0, 'and its direct edits are not audited row by row'
);

select * from finish();
rollback;
