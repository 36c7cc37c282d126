-- ops.promotion_actions: what the caller may do with a promotion now, as the guards would rule,
-- per role: approvers and admins decide (never on their own, once each), operators and admins
-- apply an approved one, in production only approvers and admins roll back. Anonymous callers
-- cannot call it; non-members and promotions the caller cannot read get null.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(16);

select pg_temp.plan_as('admin', 'own', 'production', 'low');
select pg_temp.plan_as('operator', 'applied', 'production', 'low');
select pg_temp.plan_as('operator', 'staged', 'staging', 'low');

-- The operator's promotion, approved by the admin.
select pg_temp.act_as('admin');
insert into ops.approvals (promotion_id, approver_id, decision, plan_hash)
values (pg_temp.pid('applied'), pg_temp.uid('admin'), 'approve', pg_temp.phash('applied'));

create function pg_temp.action(label text, action text) returns text
language sql
as $$
  select case when a is null then 'null'
              when (a -> action ->> 'allowed')::boolean then 'allowed'
              else a -> action ->> 'code' end
  from (select ops.promotion_actions(pg_temp.pid(label)) as a) as x
$$;

-- Refused: anon cannot call it; a non-member learns nothing.
select pg_temp.act_as('anon');
select throws_ok($$select ops.promotion_actions(gen_random_uuid())$$, '42501', null,
  'anon cannot ask what it may do');
select pg_temp.act_as('nonmember');
select is(pg_temp.action('own', 'decide'), 'null', 'a non-member gets null');

-- Deciding.
select pg_temp.act_as('viewer');
select is(pg_temp.action('own', 'decide'), 'role', 'a viewer never decides');
select is(pg_temp.action('applied', 'apply'), 'role', 'a viewer never applies');
select pg_temp.act_as('operator');
select is(pg_temp.action('own', 'decide'), 'role', 'an operator never decides');
select pg_temp.act_as('approver');
select is(pg_temp.action('own', 'decide'), 'allowed', 'an approver may decide on the admin''s promotion');
select is(pg_temp.action('applied', 'decide'), 'status', 'but not on an approved one');
select is(pg_temp.action('applied', 'apply'), 'role', 'an approver never applies');
select pg_temp.act_as('admin');
select is(pg_temp.action('own', 'decide'), 'own', 'the admin never decides on their own promotion');
select is(
  ops.promotion_actions(pg_temp.pid('own')) -> 'decide' ->> 'reason',
  'nobody decides on their own promotion',
  'and the reason says so'
);
select is(pg_temp.action('applied', 'apply'), 'allowed', 'an admin may apply an approved promotion');

-- Applying and rolling back.
select pg_temp.act_as('operator');
select is(pg_temp.action('applied', 'apply'), 'allowed', 'the operator may apply it');
select is(pg_temp.action('own', 'apply'), 'status', 'but not one awaiting approval');
select pg_temp.as_system();
update ops.promotions set status = 'applying' where id = pg_temp.pid('applied');
update ops.promotions set status = 'succeeded' where id = pg_temp.pid('applied');
select pg_temp.act_as('operator');
select is(pg_temp.action('applied', 'rollback'), 'role',
  'in production an operator does not roll back');
select pg_temp.act_as('approver');
select is(pg_temp.action('applied', 'rollback'), 'allowed', 'an approver does');
select pg_temp.act_as('operator');
select is(pg_temp.action('staged', 'rollback'), 'status',
  'outside production an operator may roll back, once it succeeded');

select * from finish();
rollback;
