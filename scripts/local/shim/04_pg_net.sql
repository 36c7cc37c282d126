-- Supabase platform shim, part 5: a stand-in for pg_net.
--
-- pg_net is a Postgres background worker; here the same SQL surface (`net.http_get`,
-- `net.http_post`, `net.http_delete`, `net.http_request_queue`, `net._http_response`) is
-- backed by a queue that `scripts/local/net_worker.ts` delivers over HTTP. As with pg_net, a
-- request is queued inside the caller's transaction and sent only after it commits (the
-- worker is woken by NOTIFY, which Postgres delivers at commit). So cron SQL written the
-- Supabase way — `select net.http_post(...)` inside `cron.schedule` — runs unmodified.

create schema if not exists net;
grant usage on schema net to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (
    select from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'net' and t.typname = 'http_method'
  ) then
    create domain net.http_method as text check (value in ('GET', 'POST', 'DELETE'));
  end if;
end
$$;

create table if not exists net.http_request_queue (
  id bigserial primary key,
  method net.http_method not null,
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

-- Wake the delivery worker; NOTIFY is held until the inserting transaction commits.
create or replace function net._notify_worker() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('net_http_request', new.id::text);
  return new;
end
$$;

drop trigger if exists notify_worker on net.http_request_queue;
create trigger notify_worker after insert on net.http_request_queue
  for each row execute function net._notify_worker();

-- Percent-encodes a query-string component (RFC 3986 unreserved characters pass).
create or replace function net._urlencode_string(string text) returns text
language sql immutable strict
set search_path = ''
as $$
  select coalesce(string_agg(
    case
      when ch ~ '^[A-Za-z0-9_.~-]$' then ch
      else upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g'))
    end,
    '' order by i
  ), '')
  from unnest(regexp_split_to_array(string, '')) with ordinality as t(ch, i)
$$;

-- Appends `params` (a JSON object of strings) to `url` as a query string.
create or replace function net._url_with_params(url text, params jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when params is null or params = '{}'::jsonb then url
    else url || case when strpos(url, '?') > 0 then '&' else '?' end || (
      select string_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value), '&'
                        order by key)
      from jsonb_each_text(params)
    )
  end
$$;

-- Security definer (owned by postgres) so that callers need only EXECUTE on the public
-- functions, as with pg_net, and never direct access to the queue table.
create or replace function net._enqueue(
  method text, url text, headers jsonb, body bytea, timeout_milliseconds integer
) returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
  request_id bigint;
begin
  if url is null or url !~* '^https?://' then
    raise exception 'Cannot queue request: url must be an http(s) URL, got %', coalesce(url, 'null');
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, url, coalesce(headers, '{}'::jsonb), body, coalesce(timeout_milliseconds, 5000))
  returning id into request_id;
  return request_id;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql volatile
set search_path = ''
as $$
  select net._enqueue('GET', net._url_with_params(url, params), headers, null, timeout_milliseconds)
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql volatile
set search_path = ''
as $$
declare
  content_type text;
begin
  select value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb))
  where lower(key) = 'content-type'
  limit 1;
  -- As pg_net: a missing Content-Type is added; any other than JSON is refused.
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  return net._enqueue(
    'POST', net._url_with_params(url, params), headers, convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  );
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql volatile
set search_path = ''
as $$
  select net._enqueue('DELETE', net._url_with_params(url, params), headers, null,
                      timeout_milliseconds)
$$;

revoke all on all functions in schema net from public;
grant execute on function net.http_get(text, jsonb, jsonb, integer),
  net.http_post(text, jsonb, jsonb, jsonb, integer),
  net.http_delete(text, jsonb, jsonb, integer)
  to postgres, anon, authenticated, service_role;
grant execute on function net._enqueue(text, text, jsonb, bytea, integer),
  net._url_with_params(text, jsonb), net._urlencode_string(text)
  to postgres, anon, authenticated, service_role;
grant select on net._http_response to postgres, service_role;
