-- ops.audit_log: appends chain hashes, the chain verifies, and no role — authenticated,
-- service_role or postgres — can update, delete or truncate entries.
begin;
\ir _setup.psql
select plan(33);

-- Appending and chaining (as postgres, a direct database session without JWT claims) ------------

create temp table t_audit as
select (select last_hash from ops.audit_chain_head) as head_before,
       (select last_id from ops.audit_chain_head) as head_id_before,
       ops.append_audit('test.first', 'tier', 'pro', '{"why": "first"}') as first_id;
do $$
begin
  perform ops.append_audit('test.second', 'tier', 'team', '{"why": "second", "n": [1, 2]}', 'development');
end;
$$;

select results_eq(
  $$select a.prev_hash from ops.audit_log as a join t_audit as t on a.id = t.first_id$$,
  $$select head_before from t_audit$$,
  'the first entry links to the previous tip of the chain'
);
select is(
  (select first_id from t_audit),
  (select coalesce(head_id_before, 0) + 1 from t_audit),
  'ids follow the chain without gaps'
);
select results_eq(
  $$select a.hash from ops.audit_log as a join t_audit as t on a.id = t.first_id$$,
  $$select ops.audit_entry_hash(a.prev_hash, a.id, a.occurred_at, a.actor, a.actor_role, a.action,
                                a.environment, a.subject_type, a.subject_id, a.details)
      from ops.audit_log as a join t_audit as t on a.id = t.first_id$$,
  'hash is recomputable with the documented formula'
);
select results_eq(
  $$select a.prev_hash from ops.audit_log as a join t_audit as t on a.id = t.first_id + 1$$,
  $$select a.hash from ops.audit_log as a join t_audit as t on a.id = t.first_id$$,
  'the second entry links to the first'
);
select results_eq(
  $$select environment, actor_role from ops.audit_log as a join t_audit as t on a.id = t.first_id + 1$$,
  $$values ('development', 'postgres')$$,
  'environment is stored; a direct session is recorded as its database role'
);
select results_eq(
  $$select last_hash from ops.audit_chain_head$$,
  $$select a.hash from ops.audit_log as a join t_audit as t on a.id = t.first_id + 1$$,
  'the chain head points at the newest entry'
);
select is(ops.verify_audit_chain(), null, 'an intact chain verifies (null)');
select throws_ok(
  $$select ops.append_audit('test.bad', 'tier', 'pro', '[1]')$$,
  '23514', null, 'details must be a JSON object'
);

-- Who may append and read ------------------------------------------------------------------------

-- The log is the system's: no API role appends (a viewer could forge `approval.approve`).
select pg_temp.act_as('viewer');
select throws_ok(
  $$select ops.append_audit('approval.approve', 'promotion', 'p1', '{}')$$,
  '42501', null, 'an ops member (viewer) cannot append'
);
select pg_temp.act_as('admin');
select throws_ok(
  $$select ops.append_audit('approval.approve', 'promotion', 'p1', '{}')$$,
  '42501', null, 'an admin cannot append either'
);
reset role;
select ops.append_audit('test.viewer', 'plan', 'p1', '{}');
select pg_temp.act_as('viewer');
select is_empty(
  $$select 1 from ops.audit_log where action = 'approval.approve' and subject_id = 'p1'$$,
  'the refused appends wrote nothing'
);
select isnt_empty($$select 1 from ops.audit_log$$, 'a viewer reads the audit log');
select is(ops.verify_audit_chain(), null, 'a viewer can verify the chain');
select throws_ok(
  $$insert into ops.audit_log (action, hash) values ('test.direct', 'x')$$,
  '42501', null, 'direct inserts are refused (append through ops.append_audit)'
);
reset role;

select pg_temp.act_as('nonmember');
select throws_ok(
  $$select ops.append_audit('test.nonmember', 'plan', 'p1', '{}')$$,
  '42501', null, 'a non-member cannot append'
);
select is_empty($$select 1 from ops.audit_log$$, 'a non-member reads nothing');
select throws_ok(
  $$select ops.verify_audit_chain()$$,
  '42501', null, 'a non-member cannot verify the chain'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok(
  $$select ops.append_audit('test.anon', 'plan', 'p1', '{}')$$,
  '42501', null, 'anon cannot append'
);
select throws_ok($$select 1 from ops.audit_log$$, '42501', null, 'anon cannot read the audit log');
reset role;

select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.append_audit('test.service', 'job', 'j1', '{}')$$,
  '42501', null, 'service_role cannot append'
);
reset role;
-- The system's own paths record the caller their claims name, with their ops role.
select set_config('request.jwt.claims', json_build_object('sub', pg_temp.uid('viewer'), 'role', 'authenticated')::text, true);
select ops.append_audit('test.system_for_viewer', 'plan', 'p1', '{}');
select set_config('request.jwt.claims', '', true);
select results_eq(
  $$select actor, actor_role from ops.audit_log where action = 'test.system_for_viewer'$$,
  format('values (%L::uuid, ''viewer'')', pg_temp.uid('viewer')),
  'an entry the system appends on a caller''s behalf records the caller and their ops role'
);

-- Nobody changes history -------------------------------------------------------------------------------

select pg_temp.act_as('admin');
select throws_ok($$update ops.audit_log set details = '{}'$$, '42501', null, 'authenticated cannot update entries');
select throws_ok($$delete from ops.audit_log$$, '42501', null, 'authenticated cannot delete entries');
select throws_ok($$truncate ops.audit_log$$, '42501', null, 'authenticated cannot truncate the log');
reset role;

select pg_temp.act_as('service_role');
select throws_ok($$update ops.audit_log set details = '{}'$$, '42501', null, 'service_role cannot update entries');
select throws_ok($$delete from ops.audit_log$$, '42501', null, 'service_role cannot delete entries');
select throws_ok($$truncate ops.audit_log$$, '42501', null, 'service_role cannot truncate the log');
reset role;

select throws_ok(
  $$update ops.audit_log set details = '{}'$$,
  '42501', 'Cannot update ops.audit_log: the audit log is append-only',
  'postgres cannot update entries'
);
select throws_ok(
  $$delete from ops.audit_log$$,
  '42501', 'Cannot delete ops.audit_log: the audit log is append-only',
  'postgres cannot delete entries'
);
select throws_ok(
  $$truncate ops.audit_log$$,
  '42501', 'Cannot truncate ops.audit_log: the audit log is append-only',
  'postgres cannot truncate the log'
);
select is(ops.verify_audit_chain(), null, 'the chain is still intact');

-- Tampering is detected: a superuser who disables the guard and edits an entry ------------------------

alter table ops.audit_log disable trigger refuse_update_or_delete;
update ops.audit_log set details = '{"why": "edited"}'
 where id = (select first_id from t_audit);
select is(
  ops.verify_audit_chain(), (select first_id from t_audit),
  'verify_audit_chain() names an edited entry'
);
update ops.audit_log set details = '{"why": "first"}'
 where id = (select first_id from t_audit);
delete from ops.audit_log where id = (select first_id from t_audit);
select is(
  ops.verify_audit_chain(), (select first_id + 1 from t_audit),
  'verify_audit_chain() names the entry after a deleted one'
);

select * from finish();
rollback;
