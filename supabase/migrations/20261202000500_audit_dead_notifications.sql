-- Intent: the ops-worker (as `service_role`) no longer appends to the audit log itself
-- (`ops.append_audit` is the system's since 20261202000300). A notification that ended dead is
-- audited by `ops.audit_dead_notification(outbox_id, reason)`: it audits only a row that is
-- really dead, once, with the facts read from the row (endpoint, event, attempts, last status
-- and reason) and the worker's short reason — so the service role cannot write anything else.

create or replace function ops.audit_dead_notification(outbox_id bigint, reason text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  o record;
begin
  select n.id, n.event_type, n.event_id, n.attempts, n.last_status_code, n.last_error,
         e.name as endpoint, e.environment
    into o
    from ops.notification_outbox as n
    join ops.notification_endpoints as e on e.id = n.endpoint_id
   where n.id = outbox_id and n.status = 'dead';
  if not found then
    raise exception 'Cannot audit notification %: it is not dead', outbox_id
      using errcode = 'check_violation';
  end if;
  if exists (select 1 from ops.audit_log as a
             where a.action = 'notification.dead' and a.subject_id = outbox_id::text) then
    return;
  end if;
  perform ops.append_audit('notification.dead', 'notification', outbox_id::text,
    jsonb_build_object('endpoint', o.endpoint, 'event_type', o.event_type, 'event_id', o.event_id,
                       'attempts', o.attempts, 'reason', left(reason, 200),
                       'last_status_code', o.last_status_code, 'last_error', o.last_error),
    o.environment);
end;
$$;

comment on function ops.audit_dead_notification(bigint, text) is
  'The worker''s one audit write: a dead notification, once, with facts read from its row.';

revoke all on function ops.audit_dead_notification(bigint, text) from public, anon, authenticated;
grant execute on function ops.audit_dead_notification(bigint, text) to service_role;
