-- ops.members and the role helpers: who may read and manage Stagecoach membership.
begin;
\ir _setup.psql
select plan(24);

-- Helpers ----------------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select is(ops.caller_role(), null, 'a signed-in non-member has no ops role');
select is(ops.is_member(), false, 'a signed-in non-member is not an ops member');
select pg_temp.act_as('viewer');
select is(ops.caller_role(), 'viewer'::ops.member_role, 'ops.caller_role() returns the caller''s role');
select is(ops.is_member(), true, 'a viewer is an ops member');
select pg_temp.act_as('operator');
select is(ops.has_role('operator', 'admin'), true, 'ops.has_role() is true for a listed role');
select pg_temp.act_as('approver');
select is(ops.has_role('operator', 'admin'), false, 'ops.has_role() is false for an unlisted role');
reset role;

-- anon -----------------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok('select * from ops.members', '42501', null, 'anon cannot read ops.members');
select throws_ok('select ops.caller_role()', '42501', null, 'anon cannot call ops helpers');
reset role;

-- Signed-in non-member ---------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select is_empty('select * from ops.members', 'a non-member sees no members');
select throws_ok(
  format('insert into ops.members (user_id, role) values (%L, ''admin'')', pg_temp.uid('nonmember')),
  '42501', null, 'a non-member cannot make themselves admin'
);
reset role;

-- Viewer, operator, approver ------------------------------------------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  'select user_id from ops.members',
  array[pg_temp.uid('viewer')],
  'a viewer reads only their own row'
);
select throws_ok(
  format('insert into ops.members (user_id, role) values (%L, ''viewer'')', pg_temp.uid('nonmember')),
  '42501', null, 'a viewer cannot add members'
);
update ops.members set role = 'admin' where user_id = pg_temp.uid('viewer');
reset role;
select is(
  (select role from ops.members where user_id = pg_temp.uid('viewer')), 'viewer'::ops.member_role,
  'a viewer cannot promote themselves'
);

select pg_temp.act_as('operator');
delete from ops.members where user_id = pg_temp.uid('approver');
reset role;
select isnt_empty(
  format('select 1 from ops.members where user_id = %L', pg_temp.uid('approver')),
  'an operator cannot remove members'
);

select pg_temp.act_as('approver');
update ops.members set role = 'viewer' where user_id = pg_temp.uid('operator');
reset role;
select is(
  (select role from ops.members where user_id = pg_temp.uid('operator')), 'operator'::ops.member_role,
  'an approver cannot change roles'
);

-- Admin ----------------------------------------------------------------------------------------------

select pg_temp.act_as('admin');
select results_eq(
  'select count(*)::integer from ops.members where user_id in (select id from pg_temp.t_users)',
  array[4],
  'an admin reads every member'
);
select lives_ok(
  format('insert into ops.members (user_id, role) values (%L, ''viewer'')', pg_temp.uid('nonmember')),
  'an admin can add a member'
);
select lives_ok(
  format('update ops.members set role = ''approver'' where user_id = %L', pg_temp.uid('nonmember')),
  'an admin can change a role'
);
select results_eq(
  format('select role::text from ops.members where user_id = %L', pg_temp.uid('nonmember')),
  array['approver'],
  'the role was changed'
);
select lives_ok(
  format('delete from ops.members where user_id = %L', pg_temp.uid('nonmember')),
  'an admin can remove a member'
);
select is_empty(
  format('select 1 from ops.members where user_id = %L', pg_temp.uid('nonmember')),
  'the member was removed'
);
reset role;

-- service_role --------------------------------------------------------------------------------------

select pg_temp.act_as('service_role');
select results_eq(
  'select count(*)::integer from ops.members where user_id in (select id from pg_temp.t_users)',
  array[4],
  'service_role reads every member'
);
select lives_ok(
  format('insert into ops.members (user_id, role) values (%L, ''viewer'')', pg_temp.uid('nonmember')),
  'service_role can add a member'
);
reset role;

-- Lifecycle ------------------------------------------------------------------------------------------

delete from auth.users where id = pg_temp.uid('viewer');
select is_empty(
  format('select 1 from ops.members where user_id = %L', pg_temp.uid('viewer')),
  'deleting the auth user removes their ops membership'
);

select * from finish();
rollback;
