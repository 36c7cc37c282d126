-- Intent: what the `flags` Edge Function (OFREP, issue 14) reads: every flag's definition and
-- state with a version stamp, in one statement, so its per-instance cache revalidates with one
-- tiny query and reloads only when something changed.
--
-- The version is an MD5 over every row's key and xmin (the transaction that wrote that row
-- version): any committed insert, update or delete changes it, with no trigger and no shared
-- counter row (a counter would serialize every flag write and could deadlock two promotions).
-- It is computed in the same snapshot as the definitions it stamps, so a cache never pairs a
-- new stamp with old rules. A false change (e.g. VACUUM FREEZE) only costs one reload.
--
-- `flags.definitions_since(known_version)` returns the version, and the definitions only when
-- the version differs from `known_version` (null: always). Security definer, empty
-- search_path; only service_role (the function's service path) may call it: it returns rules,
-- which signed-in users may read but anon may not.

create or replace function flags.definitions_since(known_version text)
returns table (version text, definitions jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  with stamp as (
    select pg_catalog.md5(coalesce(
      pg_catalog.string_agg(f.key || ':' || f.xmin::text, ',' order by f.key), '')) as v
    from public.feature_flags as f
  )
  select stamp.v,
    case when stamp.v is distinct from known_version then (
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'key', f.key, 'enabled', f.enabled, 'rollout_percent', f.rollout_percent,
        'stickiness', f.stickiness, 'targeting_rules', f.targeting_rules,
        'variants', f.variants) order by f.key), '[]')
      from public.feature_flags as f
    ) end
  from stamp;
$$;

comment on function flags.definitions_since(text) is
  'Every flag definition with a version stamp (md5 of keys and row versions); definitions is null when the stamp equals known_version. For the flags function (service_role).';

revoke all on function flags.definitions_since(text) from public, anon, authenticated;
grant execute on function flags.definitions_since(text) to service_role;
