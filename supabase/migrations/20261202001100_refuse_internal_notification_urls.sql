-- Intent: the database refuses notification endpoint URLs that plainly point inside, when an
-- API caller (an admin's JWT, the service role) registers or changes them.
--
-- Notification URLs are fetched by the ops-worker. The full outbound rules live in
-- TypeScript (`supabase/functions/_shared/outbound/`): https to public addresses only, with
-- numeric host forms normalized, DNS answers checked before every delivery, and an explicit
-- allow-list (`STAGECOACH_OUTBOUND_ALLOW`) for development receivers. That delivery-time check
-- is the one that matters. This one stops the obvious cases at the door for callers that
-- reach `ops.add_notification_endpoint` without going through that code (supabase-js `.rpc`,
-- the console):
--
-- - the URL must be https;
-- - the host must be a DNS name: no IPv4 or IPv6 literal (in any of the numeric forms a URL
--   parser accepts: `127.0.0.1`, `0x7f000001`, `2130706433`, `[::1]`), nothing percent-encoded
--   or non-ASCII (international names go in as `xn--`);
-- - not a local name (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.localdomain`,
--   `*.home.arpa`) and not a single label (completed by the resolver's search domains).
--
-- Direct database sessions (no JWT claims: the Stagecoach CLI, migrations, the local stack)
-- are not checked here: the CLI applies the TypeScript rules with its allow-list before it
-- writes, so a developer can still register `http://127.0.0.1:…` under
-- `STAGECOACH_OUTBOUND_ALLOW=127.0.0.1`.

-- Why a URL is refused for API callers, or null when it is not. Pure: tested on its own.
create or replace function private.notification_url_refusal(url text)
returns text
language plpgsql
immutable
strict
set search_path = ''
as $$
declare
  host text;
begin
  if url !~* '^https://' then
    return 'the URL is not https';
  end if;
  host := lower(substring(url from '^[A-Za-z]+://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)'));
  if host is null or host = '' then
    return 'the URL has no host';
  end if;
  if host ~ '^\[' then
    return format('host %s is an IP address (name the receiver by its DNS name)', host);
  end if;
  host := regexp_replace(host, '\.$', '');
  if host !~ '^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$' then
    return format('host %s is not a DNS name of letters, digits and hyphens (write international names as xn--)', host);
  end if;
  -- A URL parser reads a host whose last label is a number (decimal, or hex with 0x) as an
  -- IPv4 address: 127.0.0.1, 0x7f000001, 2130706433, 0177.0.0.1, 127.1.
  if substring(host from '[^.]*$') ~ '^([0-9]+|0x[0-9a-f]*)$' then
    return format('host %s is an IP address (name the receiver by its DNS name)', host);
  end if;
  if host ~ '(^|\.)(localhost|local|internal|localdomain|home\.arpa)$' then
    return format('host %s is a local name', host);
  end if;
  if position('.' in host) = 0 then
    return format('host %s is a single-label name (completed by local search domains)', host);
  end if;
  return null;
end;
$$;

comment on function private.notification_url_refusal(text) is
  'Why an API caller may not register this notification URL (not https, an IP literal, a local or single-label name), or null.';

revoke all on function private.notification_url_refusal(text) from public, anon, authenticated, service_role;

-- Checks the (decrypted) URL of a new or re-pointed endpoint when the session carries JWT
-- claims. Runs inside `ops.add_notification_endpoint` (security definer), the only path by
-- which API roles write endpoint URLs.
create or replace function private.refuse_internal_notification_url()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  refusal text;
begin
  if auth.role() is null then
    return new;
  end if;
  refusal := private.notification_url_refusal(private.decrypt_config_secret(new.url_ciphertext));
  if refusal is not null then
    raise exception 'Cannot % notification endpoint %: %',
      case tg_op when 'INSERT' then 'add' else 'change' end, new.name, refusal
      using errcode = 'check_violation';
  end if;
  return new;
end;
$$;

revoke all on function private.refuse_internal_notification_url() from public, anon, authenticated, service_role;

drop trigger if exists refuse_internal_notification_url on ops.notification_endpoints;
create trigger refuse_internal_notification_url
  before insert or update of url_ciphertext on ops.notification_endpoints
  for each row execute function private.refuse_internal_notification_url();
