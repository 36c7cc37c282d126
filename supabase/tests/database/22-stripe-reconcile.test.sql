-- Reconciliation's database side: pg_cron queues one nightly stripe.reconcile job (never a
-- second while one is pending); a listed page is written once and a second pass changes
-- nothing; objects the run did not see are found; failed events are recorded without
-- overwriting a processed one; only the service role reaches these entry points.
begin;
\ir _setup.psql
select plan(12);

select isnt_empty(
  $$select 1 from cron.job where jobname = 'stripe-reconcile' and schedule = '17 3 * * *'$$,
  'reconciliation is scheduled nightly'
);

delete from ops.jobs where kind = 'stripe.reconcile';
select lives_ok((select command from cron.job where jobname = 'stripe-reconcile'), 'the cron command runs');
select lives_ok((select command from cron.job where jobname = 'stripe-reconcile'), 'and runs again');
select is(
  (select count(*)::int from ops.jobs where kind = 'stripe.reconcile' and status = 'queued'),
  1,
  'it queues one job, never a second while one is pending'
);

select pg_temp.act_as('service_role');
select is(
  stripe.reconcile_write('00000000-0000-4000-8000-00000000aaaa', 'product',
    '[{"id": "prod_zzR1", "object": "product", "name": "A"}, {"id": "prod_zzR2", "object": "product", "name": "B"}]',
    now()) ->> 'created',
  '2', 'a listed page is written');
select is(
  stripe.reconcile_write('00000000-0000-4000-8000-00000000aaaa', 'product',
    '[{"id": "prod_zzR1", "object": "product", "name": "A"}, {"id": "prod_zzR2", "object": "product", "name": "B"}]',
    now()) ->> 'unchanged',
  '2', 'the same page again changes nothing');
reset role;
insert into stripe.products (id, name, data) values ('prod_zzR3', 'Gone', '{"id": "prod_zzR3"}');
select pg_temp.act_as('service_role');
select ok(
  'prod_zzR3' in (select stripe.reconcile_unseen('00000000-0000-4000-8000-00000000aaaa', 'product', 'prod_zzR', 100)),
  'a mirrored object the run did not see is a deletion candidate'
);
select ok(
  'prod_zzR1' not in (select stripe.reconcile_unseen('00000000-0000-4000-8000-00000000aaaa', 'product', 'prod_zzR', 100)),
  'a seen object is not'
);
select lives_ok($$select stripe.reconcile_forget('00000000-0000-4000-8000-00000000aaaa')$$, 'the run forgets its scratch rows');

select lives_ok(
  $$select stripe.record_failure('{"id": "evt_zzF", "type": "price.created", "created": 1700000000}', 'boom')$$,
  'a failure is recorded even though its transaction rolled back'
);
select is((select status || ':' || error from stripe.events where id = 'evt_zzF'), 'failed:boom', '... as failed, with the error');
reset role;

select pg_temp.act_as('operator');
select throws_ok(
  $$select stripe.reconcile_write(gen_random_uuid(), 'product', '[]', now())$$,
  '42501', null, 'an ops operator cannot write the mirror through reconciliation''s entry point'
);
reset role;

select * from finish();
rollback;
