-- Intent: evaluate feature flags in the database, exactly as the TypeScript evaluator
-- (supabase/functions/_shared/flags/evaluate.ts) does (issue 14): kill switch, targeting
-- constraints, sticky percentage rollout and weighted variants, with Unleash's MurmurHash3
-- bucketing over UTF-8 bytes. Plain PL/pgSQL on bytea (no C extension), so it runs on hosted
-- Supabase.
--
-- The helpers run as the caller and set no search_path: a `set` clause costs a GUC change on
-- every call and stops SQL functions from being inlined, and 100,000 evaluations make the
-- difference. They call only flags.* (qualified) and built-ins, which resolve in pg_catalog
-- first unless a caller's search_path names pg_catalog later; they run as the caller, and the
-- security definer entry points below set an empty search_path, which their calls inherit.
--
-- `flags.evaluate(flag_key, context)` and `flags.evaluate_all(context, flag_keys)` read
-- public.feature_flags as their owner (security definer, empty search_path) and return only
-- results, never rules; signed-in users and service_role may call them, anon may not (as anon
-- reads no flags). `flags.evaluate_definition(definition, context, now)` evaluates a definition
-- given as JSON (what the tests compare with TypeScript) and reads no table.

create schema if not exists flags;
comment on schema flags is 'Feature flag evaluation (same rules as _shared/flags/evaluate.ts).';

-- MurmurHash3 x86_32. int8 arithmetic masked to 32 bits; a 32×32-bit product is taken in two
-- 16-bit halves so that it never leaves int8.
create or replace function flags.murmur3_32(data bytea, seed bigint default 0)
returns bigint
language plpgsql
immutable
strict
parallel safe
as $$
declare
  m constant bigint := 4294967295;
  c1 constant bigint := 3432918353;
  c2 constant bigint := 461845907;
  n constant integer := length(data);
  blocks constant integer := n - n % 4;
  h bigint := seed & m;
  k bigint;
  i integer := 0;
begin
  while i < blocks loop
    k := get_byte(data, i)::bigint | (get_byte(data, i + 1)::bigint << 8)
      | (get_byte(data, i + 2)::bigint << 16) | (get_byte(data, i + 3)::bigint << 24);
    k := ((k & 65535) * c1 + ((((k >> 16) * c1) & 65535) << 16)) & m;
    k := ((k << 15) | (k >> 17)) & m;
    k := ((k & 65535) * c2 + ((((k >> 16) * c2) & 65535) << 16)) & m;
    h := h # k;
    h := ((((h << 13) | (h >> 19)) & m) * 5 + 3864292196) & m;
    i := i + 4;
  end loop;
  if n % 4 > 0 then
    k := 0;
    if n % 4 = 3 then k := get_byte(data, blocks + 2)::bigint << 16; end if;
    if n % 4 >= 2 then k := k | (get_byte(data, blocks + 1)::bigint << 8); end if;
    k := k | get_byte(data, blocks)::bigint;
    k := ((k & 65535) * c1 + ((((k >> 16) * c1) & 65535) << 16)) & m;
    k := ((k << 15) | (k >> 17)) & m;
    k := ((k & 65535) * c2 + ((((k >> 16) * c2) & 65535) << 16)) & m;
    h := h # k;
  end if;
  h := h # n;
  h := h # (h >> 16);
  h := ((h & 65535) * 2246822507 + ((((h >> 16) * 2246822507) & 65535) << 16)) & m;
  h := h # (h >> 13);
  h := ((h & 65535) * 3266489909 + ((((h >> 16) * 3266489909) & 65535) << 16)) & m;
  h := h # (h >> 16);
  return h;
end;
$$;

comment on function flags.murmur3_32(bytea, bigint) is
  'MurmurHash3 x86_32 of the bytes with the seed, as an unsigned 32-bit integer.';

-- Unleash's normalized hash: murmur3(<group>:<stickiness> as UTF-8, seed) % modulo + 1.
create or replace function flags.normalized_hash(
  grp text, stickiness text, modulo bigint, seed bigint default 0
)
returns integer
language sql
immutable
strict
parallel safe
as $$
  select (flags.murmur3_32(pg_catalog.convert_to(grp || ':' || stickiness, 'UTF8'), seed)
          % modulo + 1)::integer;
$$;

-- A context field as text: strings as they are, numbers and booleans as their JSON text, else
-- null; a missing `current_time` is `now`. Stable (to_char), so that it is inlined.
create or replace function flags.context_text(ctx jsonb, field text, now timestamptz)
returns text
language sql
stable
parallel safe
as $$
  select case pg_catalog.jsonb_typeof(ctx -> field)
    when 'string' then ctx ->> field
    when 'number' then (ctx -> field)::text
    when 'boolean' then (ctx -> field)::text
    else case when field = 'current_time' and not ctx ? field
      then pg_catalog.to_char(now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end
  end;
$$;

-- An ISO 8601 date (UTC midnight) or date-time with a zone; null when not one.
create or replace function flags.parse_date(text text)
returns timestamptz
language plpgsql
stable
parallel safe
as $$
declare
  p text[] := pg_catalog.regexp_match(text,
    '^([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,3})?)?(Z|[+-]([0-9]{2}):([0-9]{2})))?$');
  month integer;
  day integer;
begin
  if p is null then return null; end if;
  month := p[2]::integer;
  day := p[3]::integer;
  if month not between 1 and 12 or day < 1
     or day > extract(day from pg_catalog.make_date(p[1]::integer, month, 1)
                              + interval '1 month - 1 day') then
    return null;
  end if;
  if p[4] is null then return (text || 'T00:00:00Z')::timestamptz; end if;
  if p[4]::integer > 23 or p[5]::integer > 59 or coalesce(p[6]::integer, 0) > 59
     or coalesce(p[8]::integer, 0) > 14 or coalesce(p[9]::integer, 0) > 59 then
    return null;
  end if;
  return text::timestamptz;
end;
$$;

-- Compares two semver identifiers: numeric ones numerically and below alphanumeric ones,
-- which compare by their bytes. Not strict, so that it is inlined into its callers.
create or replace function flags.compare_identifiers(a text, b text)
returns integer
language sql
immutable
parallel safe
as $$
  select case
    when a ~ '^[0-9]+$' and b ~ '^[0-9]+$' then pg_catalog.sign(a::numeric - b::numeric)::integer
    when a ~ '^[0-9]+$' then -1
    when b ~ '^[0-9]+$' then 1
    when a collate "C" < b collate "C" then -1
    when a collate "C" > b collate "C" then 1
    else 0
  end;
$$;

-- Semver 2.0.0 precedence of two strict versions (no `v`), build metadata ignored: -1, 0 or 1,
-- null when either is not a version.
create or replace function flags.compare_semver(a text, b text)
returns integer
language plpgsql
immutable
strict
parallel safe
as $$
declare
  re constant text := '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)'
    '(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?'
    '(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$';
  x text[] := pg_catalog.regexp_match(a, re);
  y text[] := pg_catalog.regexp_match(b, re);
  xs text[];
  ys text[];
  c integer;
begin
  if x is null or y is null then return null; end if;
  for i in 1..3 loop
    c := flags.compare_identifiers(x[i], y[i]);
    if c <> 0 then return c; end if;
  end loop;
  if x[4] is null or y[4] is null then
    return case when x[4] is null and y[4] is null then 0 when x[4] is null then 1 else -1 end;
  end if;
  xs := pg_catalog.string_to_array(x[4], '.');
  ys := pg_catalog.string_to_array(y[4], '.');
  for i in 1..least(cardinality(xs), cardinality(ys)) loop
    c := flags.compare_identifiers(xs[i], ys[i]);
    if c <> 0 then return c; end if;
  end loop;
  return pg_catalog.sign(cardinality(xs) - cardinality(ys))::integer;
end;
$$;

-- Whether one constraint holds: a missing field satisfies only `not_in`, an unknown operator
-- nothing, and `inverted` flips the answer. Loops index the JSON arrays (plain expressions, no
-- query per constraint).
create or replace function flags.constraint_holds(c jsonb, ctx jsonb, now timestamptz)
returns boolean
language plpgsql
stable
parallel safe
as $$
declare
  op constant text := c ->> 'op';
  ci constant boolean := coalesce(c -> 'case_insensitive' = 'true', false);
  num constant text := '^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?$';
  v text := flags.context_text(ctx, c ->> 'attribute', now);
  val text := c ->> 'value';
  vals jsonb := c -> 'values';
  x text;
  held boolean := false;
  cmp integer;
begin
  if v is null then
    held := op = 'not_in';
  elsif op in ('in', 'not_in', 'str_contains', 'str_starts_with', 'str_ends_with') then
    if pg_catalog.jsonb_typeof(vals) is distinct from 'array' then vals := '[]'; end if;
    if ci then v := pg_catalog.lower(v collate "und-x-icu"); end if;
    for i in 0 .. pg_catalog.jsonb_array_length(vals) - 1 loop
      x := vals ->> i;
      if ci then x := pg_catalog.lower(x collate "und-x-icu"); end if;
      held := case op
        when 'str_contains' then pg_catalog.strpos(v, x) > 0
        when 'str_starts_with' then pg_catalog.starts_with(v, x)
        when 'str_ends_with' then pg_catalog.right(v, pg_catalog.length(x)) = x
        else v = x
      end;
      exit when held;
    end loop;
    if op = 'not_in' then held := not held; end if;
  elsif op = 'eq' then
    held := case when ci
      then pg_catalog.lower(v collate "und-x-icu") = pg_catalog.lower(val collate "und-x-icu")
      else v = val end;
  elsif op in ('num_eq', 'num_gt', 'num_gte', 'num_lt', 'num_lte') then
    if pg_catalog.length(v) <= 32 and pg_catalog.length(val) <= 32 and v ~ num and val ~ num then
      cmp := pg_catalog.sign(v::float8 - val::float8)::integer;
    end if;
  elsif op in ('date_after', 'date_before') then
    cmp := pg_catalog.sign(extract(epoch from flags.parse_date(v) - flags.parse_date(val)))::integer;
  elsif op in ('semver_eq', 'semver_gt', 'semver_gte', 'semver_lt', 'semver_lte') then
    cmp := flags.compare_semver(v, val);
  end if;
  if cmp is not null then
    held := case pg_catalog.split_part(op, '_', 2)
      when 'eq' then cmp = 0
      when 'gt' then cmp > 0
      when 'after' then cmp > 0
      when 'gte' then cmp >= 0
      when 'lt' then cmp < 0
      when 'before' then cmp < 0
      when 'lte' then cmp <= 0
      else false
    end;
  end if;
  held := coalesce(held, false);
  return case when c -> 'inverted' = 'true' then not held else held end;
end;
$$;

-- The flag evaluator, rule for rule as evaluateFlag in _shared/flags/evaluate.ts.
create or replace function flags.evaluate_definition(
  definition jsonb, context jsonb, now timestamptz default pg_catalog.now()
)
returns jsonb
language plpgsql
stable
strict
parallel safe
as $$
declare
  key constant text := definition ->> 'key';
  percent constant integer := (definition ->> 'rollout_percent')::integer;
  stickiness constant text := coalesce(definition ->> 'stickiness', 'default');
  rules constant jsonb := coalesce(definition -> 'targeting_rules', '[]');
  variants constant jsonb := coalesce(definition -> 'variants', '[]');
  sticky text;
  included boolean;
  total bigint := 0;
  target bigint;
  counter bigint := 0;
  chosen jsonb;
  reason text;
  overrides jsonb;
  value text;
begin
  if pg_catalog.jsonb_typeof(context) <> 'object' then
    raise exception 'Cannot evaluate flag %: the context is a JSON %, not an object',
      key, pg_catalog.jsonb_typeof(context) using errcode = '22023';
  end if;
  if definition -> 'enabled' is distinct from 'true' then
    return pg_catalog.jsonb_build_object('key', key, 'enabled', false, 'variant', null,
      'payload', null, 'reason', 'DISABLED');
  end if;
  for i in 0 .. pg_catalog.jsonb_array_length(rules) - 1 loop
    if not flags.constraint_holds(rules -> i, context, now) then
      return pg_catalog.jsonb_build_object('key', key, 'enabled', false, 'variant', null,
        'payload', null, 'reason', 'DEFAULT');
    end if;
  end loop;

  sticky := case when stickiness = 'default'
    then coalesce(flags.context_text(context, 'targeting_key', now),
                  flags.context_text(context, 'session_id', now))
    else flags.context_text(context, stickiness, now) end;
  included := case
    when percent <= 0 then false
    when sticky is null then stickiness = 'default' and percent >= 100
    else flags.normalized_hash(key, sticky, 100) <= percent end;
  if not included then
    return pg_catalog.jsonb_build_object('key', key, 'enabled', false, 'variant', null,
      'payload', null, 'reason', case when percent < 100 then 'SPLIT' else 'DEFAULT' end);
  end if;

  -- Variant: the first override that matches, else Unleash's weighted draw.
  <<overriding>>
  for i in 0 .. pg_catalog.jsonb_array_length(variants) - 1 loop
    overrides := coalesce(variants -> i -> 'overrides', '[]');
    for j in 0 .. pg_catalog.jsonb_array_length(overrides) - 1 loop
      value := flags.context_text(context, overrides -> j ->> 'attribute', now);
      if value is not null and overrides -> j -> 'values' ? value then
        chosen := variants -> i;
        exit overriding;
      end if;
    end loop;
  end loop;
  if chosen is not null then
    reason := 'TARGETING_MATCH';
  else
    for i in 0 .. pg_catalog.jsonb_array_length(variants) - 1 loop
      total := total + (variants -> i ->> 'weight')::bigint;
    end loop;
    if total > 0 then
      target := case when sticky is null then total
        else flags.normalized_hash(key, sticky, total, 86028157) end;
      for i in 0 .. pg_catalog.jsonb_array_length(variants) - 1 loop
        counter := counter + (variants -> i ->> 'weight')::bigint;
        if (variants -> i ->> 'weight')::bigint > 0 and target <= counter then
          chosen := variants -> i;
          exit;
        end if;
      end loop;
    end if;
    reason := case
      when percent < 100 or chosen is not null then 'SPLIT'
      when pg_catalog.jsonb_array_length(rules) > 0 then 'TARGETING_MATCH'
      else 'STATIC' end;
  end if;
  return pg_catalog.jsonb_build_object('key', key, 'enabled', true,
    'variant', chosen ->> 'name', 'payload', coalesce(chosen -> 'payload', 'null'),
    'reason', reason);
end;
$$;

comment on function flags.evaluate_definition(jsonb, jsonb, timestamptz) is
  'Evaluates a flag given as JSON {key, enabled, rollout_percent, stickiness, targeting_rules, variants} for a context; reads no table.';

-- One stored flag for a context, or FLAG_NOT_FOUND.
create or replace function flags.evaluate(flag_key text, context jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  f public.feature_flags;
begin
  if pg_catalog.jsonb_typeof(context) is distinct from 'object' then
    raise exception 'Cannot evaluate flag %: the context is %, not a JSON object', flag_key,
      coalesce('a JSON ' || pg_catalog.jsonb_typeof(context), 'null') using errcode = '22023';
  end if;
  select * into f from public.feature_flags as x where x.key = flag_key;
  if not found then
    return pg_catalog.jsonb_build_object('key', flag_key, 'enabled', false, 'variant', null,
      'payload', null, 'reason', 'ERROR', 'error_code', 'FLAG_NOT_FOUND');
  end if;
  return flags.evaluate_definition(pg_catalog.jsonb_build_object(
    'key', f.key, 'enabled', f.enabled, 'rollout_percent', f.rollout_percent,
    'stickiness', f.stickiness, 'targeting_rules', f.targeting_rules, 'variants', f.variants),
    context);
end;
$$;

comment on function flags.evaluate(text, jsonb) is
  'Evaluates the stored flag for a context: {key, enabled, variant, payload, reason[, error_code]}.';

-- Many stored flags for one context (all of them when flag_keys is null), ordered by key.
create or replace function flags.evaluate_all(context jsonb, flag_keys text[] default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_agg(flags.evaluate(keys.k, context) order by keys.k), '[]')
    from (
      select f.key as k from public.feature_flags as f where flag_keys is null
      union
      select pg_catalog.unnest(flag_keys)
    ) as keys;
$$;

comment on function flags.evaluate_all(jsonb, text[]) is
  'Evaluates every stored flag (or the named ones) for one context, as an array ordered by key.';

revoke all on all functions in schema flags from public, anon;
grant usage on schema flags to authenticated, service_role;
grant execute on all functions in schema flags to authenticated, service_role;
