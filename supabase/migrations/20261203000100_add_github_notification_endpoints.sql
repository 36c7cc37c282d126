-- Intent: notification endpoints of kind `github`, so that the approval completing a
-- promotion's quorum starts the GitHub Actions workflow that applies it, without a runner
-- waiting for approvals.
--
-- A github endpoint hears one event, `promotion.approved` (written by the promotions trigger
-- when a promotion's status becomes `approved`: the last required approval, or at planning
-- where the policy needs none), and sends GitHub's `repository_dispatch`:
-- `POST <api>/repos/<owner>/<repo>/dispatches` with `Authorization: Bearer <token>` and the
-- body `{ "event_type": "stagecoach-promotion-approved", "client_payload": { "promotion_id",
-- "plan_hash", "environment" } }` (built by `_shared/notifications/github.ts`).
--
-- The URL is that dispatches URL (stored encrypted, as every endpoint URL); the token is kept
-- exactly as a webhook's signing secret is: encrypted under this environment's Vault key in
-- `secret_ciphertext`, readable by no API role, decrypted only by `ops.claim_notifications`
-- (service role), never returned, listed, audited or notified. `ops.add_notification_endpoint`
-- takes it as a new last argument, `token`; the function is re-created with it (a second
-- overload with a defaulted argument would make five-argument calls ambiguous). Re-adding an
-- endpoint with another token replaces the token (audited as `token_changed`, without it).
--
-- The changed checks are added `not valid` (new and updated rows are checked at once, without
-- scanning the table under lock); the next migration validates them in its own transaction.

alter table ops.notification_endpoints
  drop constraint if exists notification_endpoints_kind_check;
alter table ops.notification_endpoints
  add constraint notification_endpoints_kind_check
  check (kind in ('slack', 'webhook', 'github')) not valid;

-- Webhook endpoints hold their signing secret, github endpoints their token, Slack nothing.
alter table ops.notification_endpoints
  drop constraint if exists notification_endpoints_webhooks_are_signed;
alter table ops.notification_endpoints
  drop constraint if exists notification_endpoints_secret_per_kind;
alter table ops.notification_endpoints
  add constraint notification_endpoints_secret_per_kind
  check ((kind in ('webhook', 'github')) = (secret_ciphertext is not null)) not valid;

-- A dispatch means "this promotion may be applied now": a github endpoint hears nothing else
-- (admins may still rename, disable or delete it directly; not re-filter it).
alter table ops.notification_endpoints
  drop constraint if exists notification_endpoints_github_hears_approvals;
alter table ops.notification_endpoints
  add constraint notification_endpoints_github_hears_approvals
  check (kind <> 'github' or events = array['promotion.approved']) not valid;

comment on column ops.notification_endpoints.secret_ciphertext is
  'Encrypted secret: the whsec_ signing secret of a webhook endpoint, the token of a github endpoint. No API role may SELECT this column.';

drop function if exists ops.add_notification_endpoint(text, text, text, text, text[]);

-- Adds an endpoint, or brings an existing one (same environment and name) in line with the
-- arguments. Returns the endpoint's id, whether it was created or changed, and the signing
-- secret: only when a webhook endpoint is created, never again. A github endpoint's token is
-- given, never returned.
create or replace function ops.add_notification_endpoint(
  environment text,
  name text,
  kind text,
  url text,
  events text[] default array['*'],
  token text default null
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
  token_changed boolean;
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
  if kind is null or kind not in ('slack', 'webhook', 'github') then
    raise exception 'Cannot add notification endpoint %: kind % is not slack, webhook or github', name, coalesce(kind, '(null)')
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
  if kind = 'github' then
    if url !~ '^https?://[^/?#]+(/[^?#]*)?/repos/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/dispatches$' then
      raise exception 'Cannot add notification endpoint %: a github endpoint''s URL is <api>/repos/<owner>/<repo>/dispatches', name
        using errcode = 'check_violation';
    end if;
    if token is null or token !~ '^[\x21-\x7e]+$' or length(token) > 1024 then
      raise exception 'Cannot add notification endpoint %: a github endpoint needs a token (printable, no spaces, at most 1024 characters)', name
        using errcode = 'check_violation';
    end if;
    if events is null or events = array['*'] then
      events := array['promotion.approved'];
    elsif events <> array['promotion.approved'] then
      raise exception 'Cannot add notification endpoint %: a github endpoint hears promotion.approved only', name
        using errcode = 'check_violation';
    end if;
  elsif token is not null then
    raise exception 'Cannot add notification endpoint %: only github endpoints take a token', name
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

  select e.id, e.kind, e.events, e.enabled, private.decrypt_config_secret(e.url_ciphertext) as url,
         case when e.kind = 'github' then private.decrypt_config_secret(e.secret_ciphertext) end as token
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
    token_changed := kind = 'github' and existing.token is distinct from token;
    if existing.url = url and existing.events = events and existing.enabled and not token_changed then
      return query select existing.id, false, false, null::text;
      return;
    end if;
    update ops.notification_endpoints as e
       set url_ciphertext = case when existing.url = url then e.url_ciphertext
                                 else private.encrypt_config_secret(url) end,
           url_hint = hint,
           secret_ciphertext = case when token_changed then private.encrypt_config_secret(token)
                                    else e.secret_ciphertext end,
           events = add_notification_endpoint.events,
           enabled = true
     where e.id = existing.id;
    perform ops.append_audit('notification_endpoint.changed', 'notification_endpoint', existing.id::text,
                             jsonb_build_object('name', name, 'kind', kind, 'url_hint', hint,
                                                'url_changed', existing.url <> url,
                                                'events', to_jsonb(events))
                             || case when kind = 'github'
                                     then jsonb_build_object('token_changed', token_changed)
                                     else '{}'::jsonb end,
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
          case when kind = 'github' then private.encrypt_config_secret(token)
               when secret is not null then private.encrypt_config_secret(secret) end,
          events, auth.uid())
  returning e.id into new_id;
  perform ops.append_audit('notification_endpoint.added', 'notification_endpoint', new_id::text,
                           jsonb_build_object('name', name, 'kind', kind, 'url_hint', hint,
                                              'events', to_jsonb(events), 'signed', secret is not null),
                           environment);
  return query select new_id, true, true, secret;
end;
$$;

comment on function ops.add_notification_endpoint(text, text, text, text, text[], text) is
  'Adds (or updates) a notification endpoint; returns the whsec_ signing secret once, when a webhook endpoint is created. A github endpoint takes its token as the last argument; it is never returned.';

revoke all on function ops.add_notification_endpoint(text, text, text, text, text[], text) from public, anon;
grant execute on function ops.add_notification_endpoint(text, text, text, text, text[], text)
  to authenticated, service_role;
