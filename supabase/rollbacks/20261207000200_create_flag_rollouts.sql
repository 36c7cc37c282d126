-- Reverts 20261207000200: rollout plans of feature flags (tables, functions, the `rollout`
-- write permit, the rollout notification types). Flags keep the percentage they are at.
-- stagecoach: loses-data drops ops.flag_rollouts and ops.flag_rollout_samples, the rollout jobs, their write permits and their queued notifications
-- Refused while a notification endpoint subscribes to nothing but rollout events.

drop function if exists ops.resume_rollout(uuid, text);
drop function if exists ops.halt_rollout(uuid, text, jsonb);
drop function if exists ops.advance_rollout(uuid);
drop function if exists ops.record_rollout_sample(uuid, boolean, jsonb);
drop function if exists ops.start_rollout(text, integer[], integer, text, jsonb, text, uuid);
drop function if exists ops.rollout_plan(text, integer[], integer, text, jsonb);
drop function if exists private.notify_rollout(ops.flag_rollouts, text);
drop function if exists private.write_rollout_percent(ops.flag_rollouts, integer);

delete from ops.notification_outbox where event_type like 'rollout.%';
update ops.notification_endpoints
set events = array(select e from unnest(events) as e where e not like 'rollout.%')
where exists (select 1 from unnest(events) as e where e like 'rollout.%');

create or replace function ops.notification_event_types()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'promotion.awaiting_approval', 'promotion.approved', 'promotion.rejected', 'promotion.expired',
    'promotion.applying', 'promotion.succeeded', 'promotion.failed', 'promotion.rolled_back',
    'security.member_changed', 'security.policy_changed', 'security.break_glass',
    'release.waiting_approval', 'release.succeeded', 'release.failed', 'release.rolled_back'
  ];
$$;

drop table if exists ops.flag_rollout_samples;
drop table if exists ops.flag_rollouts;

delete from ops.jobs where kind = 'flag.rollout';

delete from private.promotion_writes where purpose = 'rollout';
alter table private.promotion_writes drop constraint if exists promotion_writes_purpose_check;
alter table private.promotion_writes add constraint promotion_writes_purpose_check
  check (purpose in ('apply', 'rollback', 'break_glass', 'policy'));
