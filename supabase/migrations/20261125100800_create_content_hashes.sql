-- Intent: one content hash per promotable table (every column of every row, in key order),
-- to prove that a failed apply left the target as it was and that a rollback restored it
-- byte for byte. Security definer because secret ciphertext is part of the content; only
-- the hash leaves the function.

create or replace function ops.content_hashes()
returns table (table_name text, row_count bigint, content_hash text)
language sql
stable
security definer
set search_path = ''
as $$
  select 'public.app_config', count(*),
         md5(coalesce(string_agg(to_jsonb(t)::text, e'\n' order by t.key), ''))
  from public.app_config as t
  union all
  select 'public.membership_tiers', count(*),
         md5(coalesce(string_agg(to_jsonb(t)::text, e'\n' order by t.id), ''))
  from public.membership_tiers as t
  union all
  select 'public.tier_features', count(*),
         md5(coalesce(string_agg(to_jsonb(t)::text, e'\n' order by t.id), ''))
  from public.tier_features as t
  union all
  select 'public.tier_prices', count(*),
         md5(coalesce(string_agg(to_jsonb(t)::text, e'\n' order by t.id), ''))
  from public.tier_prices as t
  union all
  select 'public.feature_flags', count(*),
         md5(coalesce(string_agg(to_jsonb(t)::text, e'\n' order by t.key), ''))
  from public.feature_flags as t;
$$;

comment on function ops.content_hashes() is
  'md5 of every row (to_jsonb) of each promotable table, in key order.';

revoke all on function ops.content_hashes() from public, anon, authenticated;
grant execute on function ops.content_hashes() to service_role;
