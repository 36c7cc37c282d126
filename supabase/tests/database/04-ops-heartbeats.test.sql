-- ops.heartbeats: the ops-worker (service role) upserts its heartbeat; ops members read it.
begin;
\ir _setup.psql
select plan(8);

select pg_temp.act_as('service_role');
select lives_ok(
  $$insert into ops.heartbeats (component, beat_at, details)
    values ('zz-worker', now() - interval '1 minute', '{"processed": 1}')
    on conflict (component) do update set beat_at = excluded.beat_at, details = excluded.details$$,
  'service_role can record a heartbeat'
);
select lives_ok(
  $$insert into ops.heartbeats (component, beat_at, details)
    values ('zz-worker', now(), '{"processed": 2}')
    on conflict (component) do update set beat_at = excluded.beat_at, details = excluded.details$$,
  'service_role can upsert the same heartbeat again'
);
select results_eq(
  $$select details ->> 'processed' from ops.heartbeats where component = 'zz-worker'$$,
  array['2'],
  'the upsert replaced the previous heartbeat'
);
reset role;

select pg_temp.act_as('viewer');
select results_eq(
  $$select component from ops.heartbeats where component = 'zz-worker'$$,
  array['zz-worker'],
  'a viewer reads heartbeats'
);
reset role;

select pg_temp.act_as('operator');
select throws_ok(
  $$insert into ops.heartbeats (component) values ('zz-fake')$$,
  '42501', null, 'an operator cannot forge a heartbeat'
);
select throws_ok(
  $$update ops.heartbeats set beat_at = now() + interval '1 day'$$,
  '42501', null, 'an operator cannot change a heartbeat'
);
reset role;

select pg_temp.act_as('nonmember');
select is_empty($$select 1 from ops.heartbeats$$, 'a non-member reads no heartbeats');
reset role;

select pg_temp.act_as('anon');
select throws_ok($$select 1 from ops.heartbeats$$, '42501', null, 'anon cannot read heartbeats');
reset role;

select * from finish();
rollback;
