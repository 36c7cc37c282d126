-- Intent: every promotion transition (the insert, and each status change) writes one row to
-- `ops.notification_outbox` per enabled endpoint of the promotion's target environment that
-- wants that event, in the same transaction as the transition: a rolled-back transition
-- notifies nobody, a committed one is never lost.
--
-- Event type: 'promotion.' || the new status (an insert is the transition planned → the
-- status the database gave it). Payload, as generic webhooks receive it (Standard Webhooks'
-- recommended shape, no secrets, no links):
--   { "type": "promotion.approved", "timestamp": "<UTC, microseconds>",
--     "data": { "promotion_id", "environment", "source_env", "target_env", "scope", "risk",
--               "change_count", "required_approvals", "approvals", "status", "previous_status",
--               "plan_hash", "actor": { "id", "email" } | null, "failure" (failed only) } }
-- The actor is who caused the transition: the planner (insert), the last approver or
-- rejecter, the applier (applying, succeeded, failed), the one who rolled back; null for the
-- system (expiry, service role). A failure larger than 8 kB is replaced by its size.

create or replace function ops.enqueue_promotion_notifications()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  event_type text := 'promotion.' || new.status::text;
  -- One id per event, shared by every endpoint it goes to.
  new_event_id uuid := gen_random_uuid();
  previous text;
  actor_id uuid;
  payload jsonb;
begin
  if tg_op = 'UPDATE' and new.status is not distinct from old.status then
    return null;
  end if;
  if not exists (
    select 1 from ops.notification_endpoints as e
    where e.environment = new.target_env and e.enabled
      and ('*' = any (e.events) or event_type = any (e.events))
  ) then
    return null;
  end if;

  previous := case when tg_op = 'INSERT' then 'planned' else old.status::text end;
  actor_id := case
    when new.status = 'approved' and tg_op = 'UPDATE' then (
      select a.approver_id from ops.approvals as a
      where a.promotion_id = new.id and a.decision = 'approve'
      order by a.created_at desc, a.id desc limit 1)
    when new.status = 'rejected' then (
      select a.approver_id from ops.approvals as a
      where a.promotion_id = new.id and a.decision = 'reject'
      order by a.created_at desc, a.id desc limit 1)
    when tg_op = 'INSERT' then new.created_by
    when new.status in ('applying', 'succeeded', 'failed') then new.applied_by
    when new.status = 'rolled_back' then new.rolled_back_by
  end;

  payload := jsonb_build_object(
    'type', event_type,
    'timestamp', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'data', jsonb_build_object(
      'promotion_id', new.id,
      'environment', new.target_env,
      'source_env', new.source_env,
      'target_env', new.target_env,
      'scope', to_jsonb(new.scope),
      'risk', new.risk,
      'change_count', new.change_count,
      'required_approvals', new.required_approvals,
      'approvals', (select count(*) from ops.approvals as a
                    where a.promotion_id = new.id and a.decision = 'approve'),
      'status', new.status::text,
      'previous_status', previous,
      'plan_hash', new.plan_hash,
      'actor', (select jsonb_build_object('id', u.id, 'email', u.email)
                from auth.users as u where u.id = actor_id)
    ) || case
      when new.status <> 'failed' or new.failure is null then '{}'::jsonb
      when length(new.failure::text) <= 8192 then jsonb_build_object('failure', new.failure)
      else jsonb_build_object('failure', jsonb_build_object('truncated', true, 'bytes', length(new.failure::text)))
    end
  );

  insert into ops.notification_outbox (event_id, endpoint_id, event_type, promotion_id, payload)
  select new_event_id, e.id, event_type, new.id, payload
  from ops.notification_endpoints as e
  where e.environment = new.target_env and e.enabled
    and ('*' = any (e.events) or event_type = any (e.events));

  return null;
end;
$$;

comment on function ops.enqueue_promotion_notifications() is
  'AFTER INSERT / status change on ops.promotions: one outbox row per enabled endpoint that wants the event.';

revoke all on function ops.enqueue_promotion_notifications() from public, anon, authenticated, service_role;

create or replace trigger notify_promotion_transition
  after insert or update of status on ops.promotions
  for each row execute function ops.enqueue_promotion_notifications();
