-- ops.approvals: only approvers and admins decide, never on their own promotion, only as
-- themselves, only on the plan hash they reviewed, once each, and only while the promotion
-- awaits approval; enough approvals approve it, one rejection rejects it; every decision and
-- the transition it causes are on the audit chain. Held for every role, the service role too.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(47);

-- The SQL that records `decision` on promotion `label` for approver `who`, bound to the plan
-- hash of `hash_of` (the promotion's own by default).
create function pg_temp.decide_sql(label text, decision text, who text, hash_of text default null)
returns text
language sql stable
as $$
  select format(
    'insert into ops.approvals (promotion_id, approver_id, decision, plan_hash) values (%L, %L, %L, %L)',
    pg_temp.pid(label), pg_temp.uid(who), decision, pg_temp.phash(coalesce(hash_of, label))
  )
$$;

select pg_temp.plan_as('operator', 'low', 'production', 'low');
select pg_temp.plan_as('operator', 'high', 'production', 'high');
select pg_temp.plan_as('admin', 'own', 'production', 'low');
select pg_temp.plan_as('operator', 'reject', 'production', 'high');
select pg_temp.plan_as('operator', 'svc', 'production', 'low');
select pg_temp.plan_as('operator', 'staged', 'staging', 'low');
select pg_temp.plan_as('operator', 'expired', 'production', 'low');
update ops.promotions set expires_at = now() - interval '1 minute' where id = pg_temp.pid('expired');
do $$ begin perform ops.expire_stale_promotions(); end $$;
-- Past its expiry, but the expiry job has not run yet.
select pg_temp.plan_as('operator', 'stale', 'production', 'low');
update ops.promotions set expires_at = now() - interval '1 minute' where id = pg_temp.pid('stale');

select results_eq(
  format($$select status::text, required_approvals from ops.promotions where id in (%L, %L, %L, %L)
            order by array_position(array[%1$L, %2$L, %3$L, %4$L]::uuid[], id)$$,
         pg_temp.pid('low'), pg_temp.pid('high'), pg_temp.pid('staged'), pg_temp.pid('expired')),
  $$values ('awaiting_approval', 1), ('awaiting_approval', 2), ('approved', 0), ('expired', 1)$$,
  'set-up: low and high risk await 1 and 2 approvals, staging needs none, one has expired'
);

-- Refused: the wrong people ---------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok(pg_temp.decide_sql('low', 'approve', 'approver'), '42501', null, 'anon cannot approve');
select throws_ok('select id from ops.approvals', '42501', null, 'anon cannot read approvals');
select pg_temp.act_as('nonmember');
select throws_ok(pg_temp.decide_sql('low', 'approve', 'nonmember'), '42501', null, 'a signed-in non-member cannot approve');
select pg_temp.act_as('viewer');
select throws_ok(pg_temp.decide_sql('low', 'approve', 'viewer'), '42501', null, 'a viewer cannot approve');
select throws_ok(pg_temp.decide_sql('low', 'reject', 'viewer'), '42501', null, 'a viewer cannot reject');
select pg_temp.act_as('operator');
select throws_ok(pg_temp.decide_sql('low', 'approve', 'operator'), '42501', null, 'an operator cannot approve');
select pg_temp.act_as('admin');
select throws_like(
  pg_temp.decide_sql('own', 'approve', 'admin'), '%nobody decides on their own promotion',
  'an admin cannot approve their own promotion'
);
select throws_like(
  pg_temp.decide_sql('own', 'reject', 'admin'), '%nobody decides on their own promotion',
  'nor reject it'
);
select pg_temp.act_as('approver');
select throws_like(
  pg_temp.decide_sql('low', 'approve', 'admin'), 'Cannot record a decision for someone else',
  'an approver cannot approve in someone else''s name'
);
select pg_temp.act_as('service_role');
select throws_ok(
  pg_temp.decide_sql('low', 'approve', 'viewer'), '42501', null,
  'the service role cannot record an approval by a viewer'
);
select throws_ok(
  pg_temp.decide_sql('low', 'approve', 'nonmember'), '42501', null,
  'the service role cannot record an approval by a non-member'
);
select throws_like(
  pg_temp.decide_sql('own', 'approve', 'admin'), '%nobody decides on their own promotion',
  'the service role cannot record a self-approval'
);

-- Refused: the wrong plan, the wrong moment, bad input --------------------------------------------------

select pg_temp.act_as('approver');
select throws_like(
  pg_temp.decide_sql('low', 'approve', 'approver', 'another plan'), '%is not the plan''s%',
  'an approval of another plan hash is refused'
);
select throws_like(
  pg_temp.decide_sql('staged', 'approve', 'approver'), '%it is approved, not awaiting approval',
  'a promotion that needs no approval cannot be decided'
);
select throws_like(
  pg_temp.decide_sql('expired', 'approve', 'approver'), '%it is expired, not awaiting approval',
  'an expired promotion cannot be approved'
);
select throws_like(
  pg_temp.decide_sql('stale', 'approve', 'approver'), '%expire%',
  'a promotion past its expiry cannot be approved, even before the expiry job has run'
);
select throws_ok(
  format($$insert into ops.approvals (promotion_id, decision, plan_hash) values (%L, 'maybe', %L)$$,
         pg_temp.pid('low'), pg_temp.phash('low')),
  '23514', null, 'a decision is approve or reject'
);
select throws_ok(
  format($$insert into ops.approvals (promotion_id, decision, plan_hash, comment) values (%L, 'approve', %L, %L)$$,
         pg_temp.pid('low'), pg_temp.phash('low'), repeat('x', 2001)),
  '23514', null, 'a comment longer than 2000 characters is refused'
);
select pg_temp.as_system();
select is(
  (select count(*) from ops.approvals where promotion_id in (
     pg_temp.pid('low'), pg_temp.pid('own'), pg_temp.pid('staged'), pg_temp.pid('expired'))),
  0::bigint, 'the refused decisions wrote nothing'
);
select is(pg_temp.status('low'), 'awaiting_approval', 'the low-risk promotion still awaits approval');

-- Allowed: one approval for low risk ------------------------------------------------------------------------

select pg_temp.act_as('approver');
select lives_ok(
  format($$insert into ops.approvals (promotion_id, decision, plan_hash, comment) values (%L, 'approve', %L, 'LGTM')$$,
         pg_temp.pid('low'), pg_temp.phash('low')),
  'an approver approves a low-risk production promotion (as themselves by default)'
);
select is(auth.uid(), pg_temp.uid('approver'), 'the approver''s claims are intact after the approval');
select throws_ok(
  pg_temp.decide_sql('low', 'reject', 'approver'), '23514', null,
  'a second decision by the same approver is refused (it is approved now)'
);
select pg_temp.as_system();
select is(pg_temp.status('low'), 'approved', 'one approval approves a low-risk production promotion');
select results_eq(
  format($$select approver_id, decision, plan_hash, comment from ops.approvals where promotion_id = %L$$, pg_temp.pid('low')),
  format($$values (%L::uuid, 'approve', %L, 'LGTM')$$, pg_temp.uid('approver'), pg_temp.phash('low')),
  'the approval records who approved which plan hash'
);
select pg_temp.act_as('admin');
select throws_like(
  pg_temp.decide_sql('low', 'approve', 'admin'), '%it is approved, not awaiting approval',
  'an approved promotion takes no more decisions'
);

-- Allowed: two distinct approvers for high risk ---------------------------------------------------------

select pg_temp.act_as('approver');
select lives_ok(pg_temp.decide_sql('high', 'approve', 'approver'), 'an approver approves a high-risk promotion');
select pg_temp.as_system();
select is(pg_temp.status('high'), 'awaiting_approval', 'one approval of two leaves it awaiting approval');
select pg_temp.act_as('approver');
select throws_ok(
  pg_temp.decide_sql('high', 'approve', 'approver'), '23505', null,
  'the same approver cannot approve twice'
);
select pg_temp.as_system();
select is(pg_temp.status('high'), 'awaiting_approval', 'still awaiting the second approver');
select pg_temp.act_as('admin');
select lives_ok(pg_temp.decide_sql('high', 'approve', 'admin'), 'an admin gives the second approval');
select pg_temp.as_system();
select is(pg_temp.status('high'), 'approved', 'two distinct approvals approve a high-risk promotion');

-- Allowed: one rejection rejects ----------------------------------------------------------------------------

select pg_temp.act_as('admin');
select lives_ok(pg_temp.decide_sql('reject', 'reject', 'admin'), 'an admin rejects a promotion');
select pg_temp.as_system();
select is(pg_temp.status('reject'), 'rejected', 'one rejection rejects it');
select pg_temp.act_as('approver');
select throws_like(
  pg_temp.decide_sql('reject', 'approve', 'approver'), '%it is rejected, not awaiting approval',
  'a rejected promotion cannot be approved afterwards'
);

-- The service role records a decision on behalf of a real approver ------------------------------------

select pg_temp.act_as('service_role');
select lives_ok(pg_temp.decide_sql('svc', 'approve', 'approver'), 'the service role records an approver''s approval');
select pg_temp.as_system();
select is(pg_temp.status('svc'), 'approved', 'which approves the promotion');

-- Decisions are final and readable by ops members -------------------------------------------------------

select pg_temp.act_as('approver');
select throws_ok(
  format($$update ops.approvals set decision = 'reject' where promotion_id = %L$$, pg_temp.pid('high')),
  '42501', null, 'an approver cannot change a decision'
);
select pg_temp.act_as('admin');
select throws_ok(
  format($$delete from ops.approvals where promotion_id = %L$$, pg_temp.pid('high')),
  '42501', null, 'an admin cannot delete a decision'
);
select pg_temp.act_as('viewer');
select results_eq(
  format($$select count(*) from ops.approvals where promotion_id = %L$$, pg_temp.pid('high')),
  array[2::bigint], 'a viewer reads the decisions'
);
select pg_temp.act_as('nonmember');
select is_empty('select id from ops.approvals', 'a signed-in non-member reads no decision');

-- After approval the operator applies --------------------------------------------------------------------

select pg_temp.act_as('operator');
select lives_ok(
  format($$update ops.promotions set status = 'applying' where id = %L$$, pg_temp.pid('low')),
  'an operator can apply the approved promotion'
);
select pg_temp.as_system();

-- The audit chain ----------------------------------------------------------------------------------------------

select results_eq(
  format($$select action, actor, details ->> 'plan_hash' from ops.audit_log
            where subject_type = 'promotion' and subject_id = %L order by id$$, pg_temp.pid('low')),
  format($$values ('promotion.planned', %1$L::uuid, %3$L),
                  ('promotion.awaiting_approval', %1$L::uuid, %3$L),
                  ('approval.approve', %2$L::uuid, %3$L),
                  ('promotion.approved', null::uuid, %3$L),
                  ('promotion.applying', %1$L::uuid, %3$L)$$,
         pg_temp.uid('operator'), pg_temp.uid('approver'), pg_temp.phash('low')),
  'low: planned, awaiting_approval, approval.approve by the approver, approved, applying'
);
select results_eq(
  format($$select action, actor from ops.audit_log
            where subject_type = 'promotion' and subject_id = %L and action <> 'promotion.planned' order by id$$,
         pg_temp.pid('reject')),
  format($$values ('promotion.awaiting_approval', %1$L::uuid), ('approval.reject', %2$L::uuid),
                  ('promotion.rejected', null::uuid)$$,
         pg_temp.uid('operator'), pg_temp.uid('admin')),
  'reject: approval.reject by the admin, then rejected'
);
select is(
  (select count(*) from ops.audit_log where subject_id in (pg_temp.pid('own')::text, pg_temp.pid('expired')::text)
      and action like 'approval.%'),
  0::bigint, 'refused decisions left no audit entry'
);
select is(ops.verify_audit_chain(), null, 'the audit chain is intact');

select * from finish();
rollback;
