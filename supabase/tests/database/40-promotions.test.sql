-- ops.promotions: who may plan one, what the database decides at insert, the immutable plan,
-- the legal lifecycle transitions and who may make each, expiry, the audit trail; and the
-- promotion side tables ops.promotion_snapshots, ops.validation_results, ops.content_hashes().
-- Approvals themselves are in 41-approvals.test.sql.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(114);

-- Planning: operators and admins only, through ops.create_promotion ----------------------------------------

select pg_temp.act_as('anon');
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('refused', 'staging', 'production', '{config}', 'low'))$$,
  '42501', null, 'anon cannot plan a promotion'
);
select throws_ok('select id from ops.promotions', '42501', null, 'anon cannot read promotions');
select pg_temp.as_system();

select pg_temp.act_as('nonmember');
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('refused', 'staging', 'production', '{config}', 'low'))$$,
  '42501', null, 'a signed-in non-member cannot plan a promotion'
);
select pg_temp.act_as('viewer');
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('refused', 'staging', 'production', '{config}', 'low'))$$,
  '42501', null, 'a viewer cannot plan a promotion'
);
select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('refused', 'staging', 'production', '{config}', 'low'))$$,
  '42501', null, 'an approver cannot plan a promotion'
);
select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.promotions (source_env, target_env, scope, plan, plan_hash, risk, change_count)
    values ('staging', 'production', '{config}', '{}', repeat('a', 64), 'low', 1)$$,
  '42501', null, 'an operator cannot insert a promotion row directly (only ops.create_promotion may)'
);
select pg_temp.act_as('service_role');
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('refused', 'staging', 'production', '{config}', 'low'))$$,
  '42501', null, 'the service role cannot plan a promotion'
);
select pg_temp.as_system();
select throws_like(
  $$insert into ops.promotions (source_env, target_env, scope, plan, plan_hash, risk, change_count)
    values ('staging', 'production', '{config}', '{}', repeat('a', 64), 'low', 1)$$,
  'Cannot plan promotion: record it with ops.create_promotion%',
  'even postgres cannot insert a row whose hash the database did not compute'
);
select is(
  (select count(*) from ops.promotions
    where plan_hash = repeat('a', 64) or plan->'changes'->0->>'key' like 'refused.%'),
  0::bigint, 'the refused plans wrote nothing'
);

-- The database decides: the hash is of the text it stores, risk and count come from the plan,
-- and created_by, required_approvals, status and expiry from itself.
select pg_temp.act_as('operator');
select lives_ok(
  $$select pg_temp.create_as_current('low', 'staging', 'production', '{config,flags}', 'low', 3)$$,
  'an operator can plan a promotion into production'
);
select pg_temp.as_system();
select results_eq(
  format(
    $$select created_by, required_approvals, status::text, expires_at, created_at, applied_by, applied_at,
             rolled_back_by, failure, change_count, risk, scope,
             plan_hash = encode(sha256(convert_to(%L, 'UTF8')), 'hex')
        from ops.promotions where id = %L$$,
    pg_temp.plan_text('low', 'staging', 'production', '{config,flags}', 'low', 3), pg_temp.pid('low')
  ),
  format(
    $$values (%L::uuid, 1, 'awaiting_approval', now() + interval '24 hours', now(), null::uuid,
              null::timestamptz, null::uuid, null::jsonb, 3, 'low', '{config,flags}'::text[], true)$$,
    pg_temp.uid('operator')
  ),
  'the database sets created_by, 1 approval for low risk in production, awaiting_approval, the expiry, and hashes the plan text'
);

select pg_temp.act_as('admin');
select lives_ok(
  $$select pg_temp.create_as_current('high', 'staging', 'production', '{tiers}', 'high', 2)$$,
  'an admin can plan a promotion into production'
);
select pg_temp.as_system();
select results_eq(
  format($$select created_by, required_approvals, status::text from ops.promotions where id = %L$$, pg_temp.pid('high')),
  format($$values (%L::uuid, 2, 'awaiting_approval')$$, pg_temp.uid('admin')),
  'a high-risk plan into production needs 2 approvals'
);

select pg_temp.act_as('operator');
select lives_ok(
  $$select pg_temp.create_as_current('staged', 'development', 'staging', '{config}', 'high')$$,
  'an operator can plan a promotion into staging'
);
select pg_temp.as_system();
select results_eq(
  format($$select required_approvals, status::text, expires_at from ops.promotions where id = %L$$, pg_temp.pid('staged')),
  $$values (0, 'approved', null::timestamptz)$$,
  'staging needs no approval: the promotion starts approved, with no expiry'
);

-- Bad input is refused and writes nothing.
select pg_temp.act_as('operator');
select throws_like(
  $$select ops.create_promotion(pg_temp.plan_text('bad', 'staging', 'nowhere', '{config}', 'low'))$$,
  'Cannot plan promotion: environment nowhere is not registered',
  'a promotion into an unregistered environment is refused, naming it'
);
select throws_like(
  $$select ops.create_promotion('{"format": "stagecoach.plan", "version": 2}')$$,
  'Cannot plan a promotion: not a stagecoach.plan of version 1',
  'a plan of another format version is refused'
);
select throws_like(
  $$select ops.create_promotion('{not json')$$,
  'Cannot plan a promotion: the plan is not JSON',
  'malformed JSON is refused'
);
select throws_like(
  $$select ops.create_promotion(replace(pg_temp.plan_text('bad', 'staging', 'production', '{config}', 'high'),
                                        '"risk": "high", "scope"', '"risk": "low", "scope"'))$$,
  'Cannot plan promotion: the plan says risk low, its changes say high',
  'a plan that claims low risk for high-risk changes is refused (fewer approvals would do)'
);
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('bad', 'staging', 'production', '{config}', 'medium'))$$,
  '23514', null, 'an unknown risk level is refused'
);
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('bad', 'staging', 'production', '{config}', 'low', 0))$$,
  null, null, 'an empty plan (no changes) is not a promotion'
);
select throws_ok(
  $$select ops.create_promotion(pg_temp.plan_text('bad', 'staging', 'production', '{config,nonsense}', 'low'))$$,
  '23514', null, 'an unknown scope is refused'
);
select pg_temp.as_system();
select is(
  (select count(*) from ops.promotions where plan->'changes'->0->>'key' like 'bad.%'),
  0::bigint, 'the refused plans wrote nothing'
);

-- Reading -------------------------------------------------------------------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  format($$select count(*) from ops.promotions where id in (%L, %L, %L)$$,
         pg_temp.pid('low'), pg_temp.pid('high'), pg_temp.pid('staged')),
  array[3::bigint], 'a viewer reads promotions'
);
select pg_temp.act_as('nonmember');
select is_empty('select id from ops.promotions', 'a signed-in non-member reads no promotion');
select pg_temp.act_as('admin');
select throws_ok(
  format('delete from ops.promotions where id = %L', pg_temp.pid('low')),
  '42501', null, 'nobody deletes a promotion through the API, not even an admin'
);
select pg_temp.as_system();

-- The plan is immutable, for everyone ------------------------------------------------------------------

select pg_temp.act_as('operator');
select throws_ok(
  format($$update ops.promotions set plan = '{"changes": []}' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'an operator cannot change the plan'
);
select throws_ok(
  format($$update ops.promotions set plan_hash = repeat('c', 64) where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'an operator cannot change the plan hash'
);
select pg_temp.act_as('admin');
select throws_ok(
  format($$update ops.promotions set scope = '{config,tiers}' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'an admin cannot change the scope'
);
select throws_ok(
  format($$update ops.promotions set risk = 'low' where id = %L$$, pg_temp.pid('high')),
  '23514', null, 'an admin cannot lower the risk'
);
select pg_temp.act_as('approver');
select throws_ok(
  format($$update ops.promotions set required_approvals = 0 where id = %L$$, pg_temp.pid('high')),
  '23514', null, 'an approver cannot lower the approvals needed'
);
select pg_temp.act_as('service_role');
select throws_ok(
  format($$update ops.promotions set plan = '{}'::jsonb || '{"x": 1}' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'the service role cannot change the plan'
);
select pg_temp.as_system();
select throws_ok(
  format($$update ops.promotions set plan_hash = repeat('c', 64) where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'postgres cannot change the plan hash'
);
select throws_ok(
  format($$update ops.promotions set created_by = %L where id = %L$$, pg_temp.uid('approver'), pg_temp.pid('low')),
  '23514', null, 'postgres cannot change who planned it'
);
select throws_ok(
  format($$update ops.promotions set target_env = 'staging' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'postgres cannot retarget a promotion'
);
select throws_ok(
  format($$update ops.promotions set plan = plan || '{"x": 1}' where id = %L$$, pg_temp.pid('low')),
  '23514', 'Cannot change promotion ' || pg_temp.pid('low') || ': a plan is immutable once made (re-plan instead)',
  'postgres cannot change the plan (refused by the trigger on the named column)'
);
select lives_ok(
  format($$update ops.promotions set plan = plan where id = %L$$, pg_temp.pid('low')),
  'naming the plan without changing it is no change'
);
select trigger_is('ops', 'promotions', 'refuse_plan_change', 'ops', 'refuse_plan_change',
  'the plan is guarded by a trigger on its own column');

select pg_temp.act_as('viewer');
update ops.promotions set status = 'approved' where id = pg_temp.pid('low');
select pg_temp.act_as('nonmember');
update ops.promotions set status = 'approved' where id = pg_temp.pid('low');
select pg_temp.as_system();
select is(pg_temp.status('low'), 'awaiting_approval', 'a viewer and a non-member change nothing');

-- Decisions are made by recording approvals, never by setting the status -----------------------------

select pg_temp.act_as('approver');
select throws_ok(
  format($$update ops.promotions set status = 'approved' where id = %L$$, pg_temp.pid('low')),
  '42501', null, 'an approver cannot set approved directly'
);
select throws_ok(
  format($$update ops.promotions set status = 'rejected' where id = %L$$, pg_temp.pid('low')),
  '42501', null, 'an approver cannot set rejected directly'
);
select pg_temp.act_as('admin');
select throws_ok(
  format($$update ops.promotions set status = 'approved' where id = %L$$, pg_temp.pid('high')),
  '42501', null, 'an admin cannot set approved directly'
);
select pg_temp.act_as('operator');
select throws_ok(
  format($$update ops.promotions set status = 'expired' where id = %L$$, pg_temp.pid('low')),
  '42501', null, 'an operator cannot expire a promotion'
);

-- Illegal jumps are refused for everyone.
select throws_ok(
  format($$update ops.promotions set status = 'succeeded' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'an operator cannot jump from awaiting_approval to succeeded'
);
select throws_ok(
  format($$update ops.promotions set status = 'applying' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'an operator cannot apply a promotion awaiting approval'
);
select pg_temp.as_system();
select throws_ok(
  format($$update ops.promotions set status = 'succeeded' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'postgres cannot jump from awaiting_approval to succeeded either'
);
select throws_ok(
  format($$update ops.promotions set status = 'planned' where id = %L$$, pg_temp.pid('low')),
  '23514', null, 'nothing goes back to planned'
);
select is(pg_temp.status('low'), 'awaiting_approval', 'the refused transitions changed nothing');

-- Bookkeeping columns cannot be rewritten outside a transition.
select pg_temp.act_as('operator');
select throws_like(
  format($$update ops.promotions set failure = '{"reason": "made up"}' where id = %L$$, pg_temp.pid('low')),
  'Cannot change promotion %: failure reasons are set with a transition',
  'an operator cannot write failure reasons outside a transition'
);
select throws_ok(
  format($$update ops.promotions set expires_at = null where id = %L$$, pg_temp.pid('low')),
  null::char(5), null, 'an operator cannot lift the expiry of a promotion awaiting approval'
);
select pg_temp.act_as('approver');
select throws_ok(
  format($$update ops.promotions set expires_at = now() + interval '1 year' where id = %L$$, pg_temp.pid('high')),
  null::char(5), null, 'an approver cannot extend the time left to decide'
);
select pg_temp.as_system();

-- Apply: approved → applying → succeeded | failed, by operators and admins --------------------------

select pg_temp.act_as('approver');
select throws_ok(
  format($$update ops.promotions set status = 'applying' where id = %L$$, pg_temp.pid('staged')),
  '42501', null, 'an approver cannot apply'
);
select pg_temp.act_as('viewer');
update ops.promotions set status = 'applying' where id = pg_temp.pid('staged');
select pg_temp.as_system();
select is(pg_temp.status('staged'), 'approved', 'a viewer cannot apply');

select pg_temp.act_as('operator');
select lives_ok(
  format($$update ops.promotions set status = 'applying', applied_by = %L where id = %L$$,
         pg_temp.uid('admin'), pg_temp.pid('staged')),
  'an operator can start applying an approved promotion'
);
select throws_ok(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('staged')),
  '23514', null, 'a promotion being applied cannot be rolled back'
);
select lives_ok(
  format($$update ops.promotions set status = 'succeeded' where id = %L$$, pg_temp.pid('staged')),
  'an operator can mark it succeeded'
);
select pg_temp.as_system();
select results_eq(
  format($$select status::text, applied_by, applied_at is not null, finished_at is not null
             from ops.promotions where id = %L$$, pg_temp.pid('staged')),
  format($$values ('succeeded', %L::uuid, true, true)$$, pg_temp.uid('operator')),
  'the database records who applied it (not who the caller claimed) and when it finished'
);

select pg_temp.act_as('operator');
select throws_ok(
  format($$update ops.promotions set applied_by = %L where id = %L$$, pg_temp.uid('admin'), pg_temp.pid('staged')),
  null::char(5), null, 'an operator cannot rewrite who applied it afterwards'
);
select throws_ok(
  format($$update ops.promotions set status = 'applying' where id = %L$$, pg_temp.pid('staged')),
  '23514', null, 'succeeded cannot go back to applying'
);
select throws_ok(
  format($$update ops.promotions set status = 'failed' where id = %L$$, pg_temp.pid('staged')),
  '23514', null, 'succeeded cannot become failed'
);

-- Rollback: in staging an operator may ------------------------------------------------------------------

select lives_ok(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('staged')),
  'in staging an operator can roll back a succeeded promotion'
);
select throws_ok(
  format($$update ops.promotions set status = 'succeeded' where id = %L$$, pg_temp.pid('staged')),
  '23514', null, 'rolled_back is final'
);
select pg_temp.as_system();
select results_eq(
  format($$select rolled_back_by, rolled_back_at is not null from ops.promotions where id = %L$$, pg_temp.pid('staged')),
  format($$values (%L::uuid, true)$$, pg_temp.uid('operator')),
  'the database records who rolled it back'
);

-- A failed apply keeps its reasons.
select pg_temp.plan_as('admin', 'staged-fail', 'staging', 'low');
select pg_temp.act_as('admin');
select lives_ok(
  format($$update ops.promotions set status = 'applying' where id = %L$$, pg_temp.pid('staged-fail')),
  'an admin can start applying'
);
select lives_ok(
  format($$update ops.promotions set status = 'failed', failure = '{"checks": ["flag_percentages"]}'
            where id = %L$$, pg_temp.pid('staged-fail')),
  'an admin can mark it failed with the reasons'
);
select pg_temp.as_system();
select results_eq(
  format($$select status::text, failure, finished_at is not null from ops.promotions where id = %L$$,
         pg_temp.pid('staged-fail')),
  $$values ('failed', '{"checks": ["flag_percentages"]}'::jsonb, true)$$,
  'the failure reasons are stored'
);
select throws_ok(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('staged-fail')),
  '23514', null, 'a failed promotion is not rolled back (its apply already was)'
);

-- Rollback in production needs an approver or admin -----------------------------------------------------

select pg_temp.plan_as('operator', 'prod-done', 'production', 'low');
select pg_temp.plan_as('operator', 'prod-done-2', 'production', 'low');
select throws_like(
  format($$update ops.promotions set status = 'approved' where id = %L$$, pg_temp.pid('prod-done')),
  'Cannot approve promotion %: 0 of 1 approvals recorded',
  'not even postgres marks a promotion approved without its approvals'
);
-- The approvals themselves are 41-approvals.test.sql's; recorded here as the system caller.
insert into ops.approvals (promotion_id, approver_id, decision, plan_hash)
select pg_temp.pid(l), pg_temp.uid('approver'), 'approve', pg_temp.phash(l)
from unnest(array['prod-done', 'prod-done-2']) as l;
select pg_temp.act_as('operator');
update ops.promotions set status = 'applying' where id in (pg_temp.pid('prod-done'), pg_temp.pid('prod-done-2'));
update ops.promotions set status = 'succeeded' where id in (pg_temp.pid('prod-done'), pg_temp.pid('prod-done-2'));
select pg_temp.as_system();
select is(pg_temp.status('prod-done'), 'succeeded', 'an operator applied an approved production promotion');

select pg_temp.act_as('operator');
select throws_like(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('prod-done')),
  'Cannot roll back promotion %: production requires an approver or admin',
  'in production an operator cannot roll back'
);
select pg_temp.act_as('viewer');
update ops.promotions set status = 'rolled_back' where id = pg_temp.pid('prod-done');
select pg_temp.as_system();
select is(pg_temp.status('prod-done'), 'succeeded', 'in production a viewer cannot roll back');
select pg_temp.act_as('approver');
select lives_ok(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('prod-done')),
  'in production an approver can roll back'
);
select pg_temp.act_as('admin');
select lives_ok(
  format($$update ops.promotions set status = 'rolled_back' where id = %L$$, pg_temp.pid('prod-done-2')),
  'in production an admin can roll back'
);
select pg_temp.as_system();
select results_eq(
  format($$select rolled_back_by from ops.promotions where id in (%L, %L) order by rolled_back_by = %L$$,
         pg_temp.pid('prod-done'), pg_temp.pid('prod-done-2'), pg_temp.uid('admin')),
  format($$values (%L::uuid), (%L::uuid)$$, pg_temp.uid('approver'), pg_temp.uid('admin')),
  'each rollback records who made it'
);

-- Expiry ---------------------------------------------------------------------------------------------------

select pg_temp.plan_as('operator', 'stale', 'production', 'low');
select pg_temp.plan_as('operator', 'fresh', 'production', 'low');
select lives_ok(
  format($$update ops.promotions set expires_at = now() - interval '1 minute' where id = %L$$, pg_temp.pid('stale')),
  'the system caller can move expires_at (the plan stays as it was)'
);
select pg_temp.act_as('operator');
select throws_ok('select ops.expire_stale_promotions()', '42501', null, 'an operator cannot run the expiry job');
select pg_temp.act_as('service_role');
select cmp_ok(ops.expire_stale_promotions(), '>=', 1, 'the service role runs the expiry job');
select pg_temp.as_system();
select is(pg_temp.status('stale'), 'expired', 'a promotion past expires_at is expired');
select is(pg_temp.status('fresh'), 'awaiting_approval', 'a promotion still in time is left alone');
select is(pg_temp.status('staged'), 'rolled_back', 'a promotion not awaiting approval is left alone');
select is(ops.expire_stale_promotions(), 0, 'a second run expires nothing more');
select results_eq(
  $$select schedule, command ~ 'ops\.expire_stale_promotions\(\)' from cron.job where jobname = 'expire-promotions'$$,
  $$values ('* * * * *'::text, true)$$,
  'the expire-promotions cron job runs the expiry every minute'
);

-- Every transition is on the audit chain ---------------------------------------------------------------

select results_eq(
  format($$select action, actor, environment, details ->> 'from' from ops.audit_log
            where subject_type = 'promotion' and subject_id = %L order by id$$, pg_temp.pid('staged')),
  format($$values ('promotion.planned', %1$L::uuid, 'staging', null::text),
                  ('promotion.approved', %1$L::uuid, 'staging', 'planned'),
                  ('promotion.applying', %1$L::uuid, 'staging', 'approved'),
                  ('promotion.succeeded', %1$L::uuid, 'staging', 'applying'),
                  ('promotion.rolled_back', %1$L::uuid, 'staging', 'succeeded')$$,
         pg_temp.uid('operator')),
  'staging: planned, approved, applying, succeeded, rolled_back, each with its actor'
);
select results_eq(
  format($$select action from ops.audit_log
            where subject_type = 'promotion' and subject_id = %L order by id$$, pg_temp.pid('prod-done')),
  $$values ('promotion.planned'), ('promotion.awaiting_approval'), ('approval.approve'),
           ('promotion.approved'), ('promotion.applying'), ('promotion.succeeded'),
           ('promotion.rolled_back')$$,
  'production: the same, through awaiting_approval'
);
select results_eq(
  format($$select actor_role, details -> 'failure' from ops.audit_log
            where subject_id = %L and action = 'promotion.failed'$$, pg_temp.pid('staged-fail')),
  $$values ('admin', '{"checks": ["flag_percentages"]}'::jsonb)$$,
  'the failed entry carries the reasons'
);
select results_eq(
  format($$select action, actor from ops.audit_log where subject_id = %L order by id desc limit 1$$, pg_temp.pid('stale')),
  $$values ('promotion.expired', null::uuid)$$,
  'the expiry is audited, as the system'
);
select results_eq(
  format($$select details ->> 'plan_hash', (details ->> 'required_approvals')::int from ops.audit_log
            where subject_id = %L and action = 'promotion.planned'$$, pg_temp.pid('high')),
  format($$values (%L, 2)$$, pg_temp.phash('high')),
  'the planned entry records the plan hash and the approvals needed'
);
select is(
  (select count(*) from ops.audit_log where subject_id = pg_temp.pid('low')::text), 2::bigint,
  'refused changes left no audit entry'
);
select is(ops.verify_audit_chain(), null, 'the audit chain is intact');

-- Snapshots: metadata for ops members, before-images for the service role only ------------------------

insert into ops.promotion_snapshots (promotion_id, seq, kind, natural_key, table_name, row_id, action, before)
values (pg_temp.pid('staged'), 1, 'config', 'zz_test.key', 'public.app_config', 'zz_test.key', 'update',
        '{"key": "zz_test.key", "value": 1}');
insert into ops.validation_results (promotion_id, source_env, target_env, check_name, passed, details)
values (pg_temp.pid('staged'), 'development', 'staging', 'content_hash', true, '{}');

select pg_temp.act_as('viewer');
select results_eq(
  format($$select kind, natural_key, action from ops.promotion_snapshots where promotion_id = %L$$, pg_temp.pid('staged')),
  $$values ('config', 'zz_test.key', 'update')$$,
  'a viewer sees which rows a promotion touched'
);
select throws_ok('select before from ops.promotion_snapshots', '42501', null, 'a viewer cannot read before-images');
select pg_temp.act_as('admin');
select throws_ok('select before from ops.promotion_snapshots', '42501', null, 'an admin cannot read before-images');
select throws_ok('select * from ops.promotion_snapshots', '42501', null, 'select * is refused because it includes before');
select throws_ok(
  format($$insert into ops.promotion_snapshots (promotion_id, seq, kind, natural_key, table_name, row_id, action)
           values (%L, 2, 'config', 'k', 'public.app_config', 'k', 'create')$$, pg_temp.pid('staged')),
  '42501', null, 'an admin cannot write a snapshot'
);
select throws_ok(
  format($$delete from ops.promotion_snapshots where promotion_id = %L$$, pg_temp.pid('staged')),
  '42501', null, 'an admin cannot delete a snapshot'
);
select pg_temp.act_as('nonmember');
select is_empty('select natural_key from ops.promotion_snapshots', 'a signed-in non-member sees no snapshot');
select pg_temp.act_as('anon');
select throws_ok('select natural_key from ops.promotion_snapshots', '42501', null, 'anon cannot read snapshots');
select pg_temp.act_as('service_role');
select lives_ok(
  format($$insert into ops.promotion_snapshots (promotion_id, seq, kind, natural_key, table_name, row_id, action)
           values (%L, 2, 'config', 'zz_test.new', 'public.app_config', 'zz_test.new', 'create')$$, pg_temp.pid('staged')),
  'the service role writes snapshots'
);
select results_eq(
  format($$select before from ops.promotion_snapshots where promotion_id = %L order by seq$$, pg_temp.pid('staged')),
  $$values ('{"key": "zz_test.key", "value": 1}'::jsonb), (null::jsonb)$$,
  'the service role reads the before-images'
);
select pg_temp.as_system();
select throws_ok(
  $$insert into ops.promotion_snapshots (promotion_id, seq, kind, natural_key, table_name, row_id, action)
    values (gen_random_uuid(), 1, 'config', 'k', 'public.app_config', 'k', 'create')$$,
  '23503', null, 'a snapshot naming no promotion is refused (checked once per statement)'
);
select throws_ok(
  format($$update ops.promotion_snapshots set promotion_id = gen_random_uuid()
           where promotion_id = %L and seq = 2$$, pg_temp.pid('staged')),
  '23503', null, 'a snapshot cannot be moved to no promotion'
);
select lives_ok(
  format($$insert into ops.promotion_snapshots (promotion_id, seq, kind, natural_key, table_name, row_id, action)
           select %L, 100 + i, 'config', 'zz_test.k' || i, 'public.app_config', 'zz_test.k' || i, 'create'
           from generate_series(1, 3) as i$$, pg_temp.pid('low')),
  'several snapshots of an existing promotion are written in one statement'
);
select is(
  (select attcompression::text from pg_catalog.pg_attribute
   where attrelid = 'ops.promotions'::regclass and attname = 'plan'),
  case when exists (select 1 from pg_catalog.pg_settings
                    where name = 'default_toast_compression' and 'lz4' = any(enumvals))
       then 'l' else '' end,
  'plans are compressed with lz4 where the server has it'
);
select is(
  (select count(*) from pg_catalog.pg_constraint
   where conrelid = 'ops.promotion_snapshots'::regclass and contype = 'f'),
  0::bigint, 'snapshots carry no per-row foreign key check'
);
delete from ops.promotions where id = pg_temp.pid('low');
select is(
  (select count(*) from ops.promotion_snapshots where promotion_id = pg_temp.pid('low')),
  0::bigint, 'deleting a promotion deletes its snapshots'
);
select is(
  (select count(*) from ops.promotion_snapshots where promotion_id = pg_temp.pid('staged')),
  2::bigint, 'the snapshots of other promotions stay'
);

-- Validation results: ops members read, the service role writes ----------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  format($$select check_name, passed from ops.validation_results where promotion_id = %L$$, pg_temp.pid('staged')),
  $$values ('content_hash', true)$$,
  'a viewer reads validation results'
);
select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.validation_results (source_env, target_env, check_name, passed)
    values ('staging', 'production', 'made_up', true)$$,
  '42501', null, 'an operator cannot write a validation result'
);
select pg_temp.act_as('nonmember');
select is_empty('select id from ops.validation_results', 'a signed-in non-member sees no validation result');
select pg_temp.act_as('anon');
select throws_ok('select id from ops.validation_results', '42501', null, 'anon cannot read validation results');
select pg_temp.act_as('service_role');
select lives_ok(
  $$insert into ops.validation_results (source_env, target_env, check_name, passed, details)
    values ('staging', 'production', 'parity', false, '{"rows": [{"key": "zz_test.key"}]}')$$,
  'the service role writes a standalone validation result'
);
select pg_temp.as_system();

-- Content hashes: the service role only -------------------------------------------------------------------

select pg_temp.act_as('admin');
select throws_ok('select * from ops.content_hashes()', '42501', null, 'authenticated (even an admin) cannot run content_hashes');
select pg_temp.act_as('anon');
select throws_ok('select * from ops.content_hashes()', '42501', null, 'anon cannot run content_hashes');
select pg_temp.act_as('service_role');
select results_eq(
  $$select table_name from ops.content_hashes() where content_hash ~ '^[0-9a-f]{32}$' order by table_name$$,
  array['public.app_config', 'public.feature_flags', 'public.membership_tiers', 'public.tier_features', 'public.tier_prices'],
  'the service role gets one hash per promotable table'
);
select pg_temp.as_system();

select * from finish();
rollback;
