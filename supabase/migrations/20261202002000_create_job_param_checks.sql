-- Intent: the database checks a job's parameters for its kind, so a job row can only carry
-- what the kind's own code would have written. Until now the runner trusted whatever sat in
-- `ops.jobs.params`: an operator who inserted a `users.copy` row with a manifest marking every
-- column `keep` and `pii: false` had real emails, password hashes, names and phones copied into
-- staging, "validated" and audited as anonymized.
--
-- * `private.job_param_problems(kind, params)` lists what is wrong with a kind's parameters
--   (an empty array when nothing is, null for a kind the database does not know). It mirrors
--   the kinds' zod schemas (`_shared/users/copy_job.ts`, `_shared/etl/run_job.ts`,
--   `_shared/stripe/reconcile.ts`): unknown keys are refused, so `users.copy` can no longer
--   carry a manifest of its own. A new kind adds a branch here.
-- * `private.users_copy_manifest_hash()` is the SHA-256 of the anonymization manifest this
--   release ships (`supabase/anonymize.json`, canonical JSON, as `manifestHash` in
--   `_shared/users/manifest.ts` computes it). A change to that file comes with a migration
--   that replaces this function (tests/job_creation_test.ts fails until it does).
--
-- Nothing here is reachable by an API role; `ops.create_job` (next migration) calls it.

create or replace function private.job_param_problem(
  params jsonb,
  key text,
  expected text,
  pattern text default null,
  min_value numeric default null,
  max_value numeric default null,
  nullable boolean default false
)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v jsonb := params -> key;
  problem text := format('params.%s: expected %s', key, expected);
begin
  if v is null or (nullable and v = 'null'::jsonb) then
    return null;
  end if;
  case expected
    when 'a string' then
      if pg_catalog.jsonb_typeof(v) <> 'string'
        or (pattern is not null and (v #>> '{}') !~ pattern)
        or (min_value is not null and pg_catalog.length(v #>> '{}') < min_value)
        or (max_value is not null and pg_catalog.length(v #>> '{}') > max_value)
      then
        return problem
          || case when pattern is null then '' else format(' matching %s', pattern) end
          || case when max_value is null then '' else format(' of at most %s characters', max_value) end;
      end if;
    when 'an integer' then
      if pg_catalog.jsonb_typeof(v) <> 'number'
        or v::numeric <> pg_catalog.trunc(v::numeric)
        or (min_value is not null and v::numeric < min_value)
        or (max_value is not null and v::numeric > max_value)
      then
        return problem || case
          when max_value is null then format(' of at least %s', min_value)
          else format(' in %s..%s', min_value, max_value)
        end;
      end if;
    when 'an object' then
      if pg_catalog.jsonb_typeof(v) <> 'object' then
        return problem;
      end if;
    else
      raise exception 'Cannot check params.%: unknown expectation %', key, expected;
  end case;
  return null;
end;
$$;

comment on function private.job_param_problem(jsonb, text, text, text, numeric, numeric, boolean) is
  'One parameter of a job against its expected type, pattern and bounds: a problem text, or null when fine (or absent).';

create or replace function private.job_param_problems(kind text, params jsonb)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
declare
  allowed text[];
  required text[];
  problems text[] := '{}'::text[];
  k text;
  env constant text := '^[a-z][a-z0-9_-]{0,62}$';
begin
  if pg_catalog.jsonb_typeof(params) is distinct from 'object' then
    return array['params: expected an object'];
  end if;

  case kind
    when 'users.copy' then
      allowed := array['source_env', 'target_env', 'mode', 'selection', 'batch_size', 'parallel',
        'key_fingerprint', 'manifest_hash', 'promotion_id', 'actor', 'statement_timeout_s'];
      required := array['source_env', 'target_env', 'mode', 'selection', 'key_fingerprint',
        'manifest_hash', 'promotion_id'];
      problems := problems || array[
        private.job_param_problem(params, 'source_env', 'a string', env),
        private.job_param_problem(params, 'target_env', 'a string', env),
        private.job_param_problem(params, 'mode', 'a string', '^(anonymized|faithful)$'),
        private.job_param_problem(params, 'selection', 'an object'),
        private.job_param_problem(params, 'batch_size', 'an integer', null, 1, 1000000),
        private.job_param_problem(params, 'parallel', 'an integer', null, 1, 4),
        private.job_param_problem(params, 'key_fingerprint', 'a string', '^[0-9a-f]{16}$',
          nullable => true),
        private.job_param_problem(params, 'manifest_hash', 'a string', '^[0-9a-f]{64}$'),
        private.job_param_problem(params, 'promotion_id', 'a string',
          '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', nullable => true),
        private.job_param_problem(params, 'actor', 'a string', null, null, 200),
        private.job_param_problem(params, 'statement_timeout_s', 'an integer', null, 1, 600)
      ];
      if pg_catalog.jsonb_typeof(params -> 'selection') = 'object' then
        for k in select pg_catalog.jsonb_object_keys(params -> 'selection') loop
          if k not in ('sample', 'where') then
            problems := problems || format('params.selection.%s: not a selection option', k);
          end if;
        end loop;
        if params -> 'selection' ? 'sample' and (
          pg_catalog.jsonb_typeof(params -> 'selection' -> 'sample') <> 'number'
          or (params -> 'selection' ->> 'sample')::numeric <= 0
          or (params -> 'selection' ->> 'sample')::numeric > 100
        ) then
          problems := problems || 'params.selection.sample: expected a percentage in (0, 100]'::text;
        end if;
        problems := problems || private.job_param_problem(
          params -> 'selection', 'where', 'a string', null, 1, 2000
        );
      end if;
    when 'etl.run' then
      allowed := array['transform_id', 'version', 'env', 'batch_size', 'actor'];
      required := array['transform_id', 'version', 'env'];
      problems := problems || array[
        private.job_param_problem(params, 'transform_id', 'a string', '^[a-z_][a-z0-9_]*$'),
        private.job_param_problem(params, 'version', 'an integer', null, 1, null),
        private.job_param_problem(params, 'env', 'a string', env),
        private.job_param_problem(params, 'batch_size', 'an integer', null, 1, 100000),
        private.job_param_problem(params, 'actor', 'a string', null, null, 200)
      ];
    when 'stripe.reconcile' then
      allowed := array['rate_limit', 'page_size', 'source'];
      required := array[]::text[];
      problems := problems || array[
        private.job_param_problem(params, 'rate_limit', 'an integer', null, 1, 100),
        private.job_param_problem(params, 'page_size', 'an integer', null, 1, 100),
        private.job_param_problem(params, 'source', 'a string', null, null, 64)
      ];
    else
      return null;
  end case;

  for k in select pg_catalog.jsonb_object_keys(params) loop
    if kind = 'users.copy' and k = 'manifest' then
      problems := problems || 'params.manifest: not accepted; a copy always uses the manifest shipped with the code (supabase/anonymize.json)'::text;
    elsif not k = any (allowed) then
      problems := problems || format('params.%s: not a parameter of %s', k, kind);
    end if;
  end loop;
  foreach k in array required loop
    if not params ? k then
      problems := problems || format('params.%s: required', k);
    end if;
  end loop;
  return pg_catalog.array_remove(problems, null);
end;
$$;

comment on function private.job_param_problems(text, jsonb) is
  'What is wrong with a job''s parameters for its kind (mirrors the kinds'' zod schemas; unknown keys refused): empty when nothing, null for a kind the database does not know.';

create or replace function private.users_copy_manifest_hash()
returns text
language sql
immutable
set search_path = ''
as $$
  -- SHA-256 of supabase/anonymize.json as parsed and canonicalised by _shared/users/manifest.ts.
  select '9c54ceb78af0f31fa4b73f639024bd0a0deea1c688b6d5a9af1dc55971468eb7'::text;
$$;

comment on function private.users_copy_manifest_hash() is
  'Hash of the anonymization manifest this release ships; users.copy jobs must name it. Replaced by a migration whenever supabase/anonymize.json changes.';

revoke all on function private.job_param_problem(jsonb, text, text, text, numeric, numeric, boolean)
  from public, anon, authenticated, service_role;
revoke all on function private.job_param_problems(text, jsonb)
  from public, anon, authenticated, service_role;
revoke all on function private.users_copy_manifest_hash()
  from public, anon, authenticated, service_role;
