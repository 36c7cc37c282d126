-- Intent: a person should know when the people or the policy behind approvals change, or when
-- someone breaks glass: notification endpoints may subscribe to `security.member_changed`,
-- `security.policy_changed` and `security.break_glass`, written to the outbox in the same
-- transaction as the change (as promotion transitions are), for this database's environment.

create or replace function ops.notification_event_types()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'promotion.awaiting_approval', 'promotion.approved', 'promotion.rejected', 'promotion.expired',
    'promotion.applying', 'promotion.succeeded', 'promotion.failed', 'promotion.rolled_back',
    'security.member_changed', 'security.policy_changed', 'security.break_glass'
  ];
$$;

-- One outbox row per enabled endpoint of this environment that wants the event.
create or replace function ops.enqueue_security_notification(
  event_type text,
  action text,
  subject text,
  details jsonb
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  env text := ops.self_environment();
begin
  if env is null then
    return;
  end if;
  insert into ops.notification_outbox (event_id, endpoint_id, event_type, payload)
  select gen_random_uuid(), e.id, event_type,
         jsonb_build_object(
           'type', event_type,
           'timestamp', to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', jsonb_build_object(
             'environment', env,
             'action', action,
             'subject', subject,
             'details', coalesce(details, '{}'::jsonb),
             'actor', (select jsonb_build_object('id', u.id, 'email', u.email)
                       from auth.users as u where u.id = auth.uid())
           )
         )
  from ops.notification_endpoints as e
  where e.environment = env and e.enabled
    and ('*' = any (e.events) or event_type = any (e.events));
end;
$$;

revoke all on function ops.enqueue_security_notification(text, text, text, jsonb)
  from public, anon, authenticated, service_role;

-- The audit entries of member, policy and break-glass changes also notify: one place (the
-- audit append of these actions) so no change is audited without being announced.
create or replace function ops.announce_security_audit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.enqueue_security_notification(
    case
      when new.action like 'member.%' then 'security.member_changed'
      when new.action = 'gate.break_glass' then 'security.break_glass'
      else 'security.policy_changed'
    end,
    new.action, new.subject_id, new.details
  );
  return null;
end;
$$;

revoke all on function ops.announce_security_audit() from public, anon, authenticated, service_role;

create or replace trigger announce_security_audit
  after insert on ops.audit_log
  for each row
  when (new.action in ('member.added', 'member.changed', 'member.removed', 'environment.added',
                       'environment.changed', 'environment.removed', 'policy.proposed',
                       'gate.break_glass'))
  execute function ops.announce_security_audit();
