-- Intent: `ops.notification_endpoints`, where each environment sends word of its promotions:
-- Slack-compatible incoming webhooks (`slack`) and signed JSON webhooks (`webhook`, signed
-- per the Standard Webhooks spec with a `whsec_<base64>` secret per endpoint).
--
-- Secrets. The URL is stored encrypted (a Slack incoming-webhook URL *is* a credential), and
-- so is the signing secret, both under this environment's Vault key with
-- `private.encrypt_config_secret`. Like `app_config.secret_ciphertext`, neither ciphertext is
-- readable by any API role, service_role included (column grants only); listings show
-- `url_hint` (scheme and host). Only the worker's claim function (a later migration) decrypts.
--
-- Management. Endpoints are added through `ops.add_notification_endpoint(...)`, which
-- generates the signing secret in the database and returns it once (as Stripe shows a
-- webhook secret only at creation); re-running it with the same arguments changes nothing
-- and returns no secret. `ops.remove_notification_endpoint(...)` removes one. Both are for
-- admins (and the service role / a direct database session); admins may also enable,
-- disable, rename, re-filter and delete rows directly under RLS. Ops members read the
-- non-secret columns. Every change is audited, without URL or secret.

-- The events an endpoint may ask for: one per promotion status a transition can reach.
create or replace function ops.notification_event_types()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'promotion.awaiting_approval', 'promotion.approved', 'promotion.rejected', 'promotion.expired',
    'promotion.applying', 'promotion.succeeded', 'promotion.failed', 'promotion.rolled_back'
  ];
$$;

comment on function ops.notification_event_types() is
  'Event types notification endpoints may subscribe to (or ''*'' for all).';

revoke all on function ops.notification_event_types() from public, anon;
grant execute on function ops.notification_event_types() to authenticated, service_role;

create table if not exists ops.notification_endpoints (
  id uuid primary key default gen_random_uuid(),
  -- The environment whose promotions (by target_env) this endpoint hears about.
  environment text not null references ops.environments (name) on delete cascade,
  name text not null check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  kind text not null check (kind in ('slack', 'webhook')),
  url_ciphertext bytea not null,
  -- Scheme and host of the URL (no user info, path or query), safe to list.
  url_hint text not null check (url_hint ~ '^https?://[^/?#@]+(/…)?$'),
  -- Standard Webhooks signing secret (whsec_<base64>), encrypted; webhook endpoints only.
  secret_ciphertext bytea,
  -- Event types it wants ('promotion.approved', ...), or '*' for all of them.
  events text[] not null default array['*']
    check (cardinality(events) > 0 and events <@ ('{*}'::text[] || ops.notification_event_types())),
  enabled boolean not null default true,
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notification_endpoints_name_per_environment unique (environment, name),
  constraint notification_endpoints_webhooks_are_signed
    check ((kind = 'webhook') = (secret_ciphertext is not null))
);

comment on table ops.notification_endpoints is
  'Where promotion notifications go (Slack-compatible or Standard Webhooks); URL and signing secret encrypted, readable by no API role.';
comment on column ops.notification_endpoints.url_ciphertext is
  'Encrypted URL (Slack URLs are credentials). No API role may SELECT this column.';
comment on column ops.notification_endpoints.secret_ciphertext is
  'Encrypted whsec_ signing secret of a webhook endpoint. No API role may SELECT this column.';

create index if not exists notification_endpoints_created_by_idx
  on ops.notification_endpoints (created_by);

alter table ops.notification_endpoints enable row level security;

revoke all on table ops.notification_endpoints from public, anon, authenticated, service_role;
grant select (id, environment, name, kind, url_hint, events, enabled, created_by, created_at, updated_at)
  on table ops.notification_endpoints to authenticated, service_role;
grant update (name, events, enabled) on table ops.notification_endpoints to authenticated, service_role;
grant delete on table ops.notification_endpoints to authenticated, service_role;

create or replace trigger set_updated_at
  before update on ops.notification_endpoints
  for each row execute function private.set_updated_at();

drop policy if exists "Ops members can read notification endpoints" on ops.notification_endpoints;
create policy "Ops members can read notification endpoints"
  on ops.notification_endpoints for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "Admins can change notification endpoints" on ops.notification_endpoints;
create policy "Admins can change notification endpoints"
  on ops.notification_endpoints for update to authenticated
  using ((select ops.has_role('admin')))
  with check ((select ops.has_role('admin')));

drop policy if exists "Admins can remove notification endpoints" on ops.notification_endpoints;
create policy "Admins can remove notification endpoints"
  on ops.notification_endpoints for delete to authenticated
  using ((select ops.has_role('admin')));

-- Scheme and host of a URL, '/…' appended when it has more: what listings may show.
create or replace function private.url_hint(url text)
returns text
language sql
immutable
strict
set search_path = ''
as $$
  select regexp_replace(url, '^(https?://)(?:[^@/?#]*@)?([^/?#]+).*$', '\1\2')
         || case when url ~ '^https?://(?:[^@/?#]*@)?[^/?#]+/?$' then '' else '/…' end;
$$;

revoke all on function private.url_hint(text) from public, anon, authenticated;
grant execute on function private.url_hint(text) to service_role;

-- Admins, the service role, and direct database sessions (the CLI, migrations) manage
-- endpoints; everyone else is refused with the action named.
create or replace function private.require_endpoint_manager(action text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not (ops.has_role('admin') or auth.role() = 'service_role'
          or (auth.role() is null and auth.uid() is null)) then
    raise exception 'Cannot % notification endpoint: only admins may', action
      using errcode = 'insufficient_privilege';
  end if;
end;
$$;

revoke all on function private.require_endpoint_manager(text) from public, anon, authenticated, service_role;

-- Adds an endpoint, or brings an existing one (same environment and name) in line with the
-- arguments. Returns the endpoint's id, whether it was created or changed, and the signing
-- secret: only when a webhook endpoint is created, never again.
create or replace function ops.add_notification_endpoint(
  environment text,
  name text,
  kind text,
  url text,
  events text[] default array['*']
)
returns table (id uuid, created boolean, changed boolean, signing_secret text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  existing record;
  hint text;
  secret text;
  new_id uuid;
begin
  perform private.require_endpoint_manager('add');
  if environment is null or not exists (select 1 from ops.environments as e where e.name = environment) then
    raise exception 'Cannot add notification endpoint %: environment % is not registered',
      name, coalesce(environment, '(null)')
      using errcode = 'foreign_key_violation';
  end if;
  if name is null or name !~ '^[a-z][a-z0-9_-]{0,62}$' then
    raise exception 'Cannot add notification endpoint %: the name must be lower-case letters, digits, - or _ (at most 63, starting with a letter)',
      coalesce(name, '(null)')
      using errcode = 'check_violation';
  end if;
  if kind is null or kind not in ('slack', 'webhook') then
    raise exception 'Cannot add notification endpoint %: kind % is not slack or webhook', name, coalesce(kind, '(null)')
      using errcode = 'check_violation';
  end if;
  if url is null or url !~ '^https?://[^\s/?#]+[^\s]*$' or length(url) > 2048 then
    raise exception 'Cannot add notification endpoint %: the URL is not an http(s) URL', name
      using errcode = 'check_violation';
  end if;
  if url ~ '^https?://[^/?#]*@' then
    raise exception 'Cannot add notification endpoint %: the URL carries user:password@ (put a token in the path or query instead)', name
      using errcode = 'check_violation';
  end if;
  events := coalesce(events, array['*']);
  if cardinality(events) = 0 or not events <@ ('{*}'::text[] || ops.notification_event_types()) then
    raise exception 'Cannot add notification endpoint %: unknown events % (expected * or some of %)',
      name, coalesce((select string_agg(ev, ', ') from unnest(events) as ev
                       where not ev = any ('{*}'::text[] || ops.notification_event_types())),
                     '(none given)'),
      array_to_string(ops.notification_event_types(), ', ')
      using errcode = 'check_violation';
  end if;
  hint := private.url_hint(url);

  select e.id, e.kind, e.events, e.enabled, private.decrypt_config_secret(e.url_ciphertext) as url
    into existing
    from ops.notification_endpoints as e
   where e.environment = environment and e.name = name
     for update;

  if found then
    if existing.kind <> kind then
      raise exception 'Cannot add notification endpoint %: it exists in % with kind % (remove it first)',
        name, environment, existing.kind
        using errcode = 'unique_violation';
    end if;
    if existing.url = url and existing.events = events and existing.enabled then
      return query select existing.id, false, false, null::text;
      return;
    end if;
    update ops.notification_endpoints as e
       set url_ciphertext = case when existing.url = url then e.url_ciphertext
                                 else private.encrypt_config_secret(url) end,
           url_hint = hint,
           events = add_notification_endpoint.events,
           enabled = true
     where e.id = existing.id;
    perform ops.append_audit('notification_endpoint.changed', 'notification_endpoint', existing.id::text,
                             jsonb_build_object('name', name, 'kind', kind, 'url_hint', hint,
                                                'url_changed', existing.url <> url,
                                                'events', to_jsonb(events)),
                             environment);
    return query select existing.id, false, true, null::text;
    return;
  end if;

  if kind = 'webhook' then
    secret := 'whsec_' || encode(extensions.gen_random_bytes(32), 'base64');
  end if;
  insert into ops.notification_endpoints as e
    (environment, name, kind, url_ciphertext, url_hint, secret_ciphertext, events, created_by)
  values (environment, name, kind, private.encrypt_config_secret(url), hint,
          case when secret is null then null else private.encrypt_config_secret(secret) end,
          events, auth.uid())
  returning e.id into new_id;
  perform ops.append_audit('notification_endpoint.added', 'notification_endpoint', new_id::text,
                           jsonb_build_object('name', name, 'kind', kind, 'url_hint', hint,
                                              'events', to_jsonb(events), 'signed', secret is not null),
                           environment);
  return query select new_id, true, true, secret;
end;
$$;

comment on function ops.add_notification_endpoint(text, text, text, text, text[]) is
  'Adds (or updates) a notification endpoint; returns the whsec_ signing secret once, when a webhook endpoint is created.';

revoke all on function ops.add_notification_endpoint(text, text, text, text, text[]) from public, anon;
grant execute on function ops.add_notification_endpoint(text, text, text, text, text[])
  to authenticated, service_role;

-- Removes an endpoint and (by cascade) its undelivered notifications. True when it existed.
create or replace function ops.remove_notification_endpoint(environment text, name text)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  gone record;
begin
  perform private.require_endpoint_manager('remove');
  delete from ops.notification_endpoints as e
   where e.environment = environment and e.name = name
  returning e.id, e.kind, e.url_hint into gone;
  if not found then
    return false;
  end if;
  perform ops.append_audit('notification_endpoint.removed', 'notification_endpoint', gone.id::text,
                           jsonb_build_object('name', name, 'kind', gone.kind, 'url_hint', gone.url_hint),
                           environment);
  return true;
end;
$$;

comment on function ops.remove_notification_endpoint(text, text) is
  'Removes a notification endpoint (admins); true when it existed.';

revoke all on function ops.remove_notification_endpoint(text, text) from public, anon;
grant execute on function ops.remove_notification_endpoint(text, text) to authenticated, service_role;
