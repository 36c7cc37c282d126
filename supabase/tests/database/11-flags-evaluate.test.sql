-- flags.evaluate / evaluate_all / evaluate_definition: signed-in users and service_role
-- evaluate flags and get results only (never rules); anon may not call them (as anon reads no
-- flags); feature_flags' stickiness and variants are checked.
begin;
\ir _setup.psql
select plan(20);

insert into public.feature_flags (key, enabled, rollout_percent, targeting_rules, stickiness, variants)
values
  ('zz_eval', true, 100, '[{"attribute": "tier", "op": "in", "values": ["pro"]}]', 'default',
   '[{"name": "blue", "weight": 1, "payload": {"type": "string", "value": "b"}}]'),
  ('zz_off', false, 100, '[]', 'default', '[]');

select throws_ok(
  $$insert into public.feature_flags (key, stickiness) values ('zz_bad', 'user id')$$,
  '23514', null, 'stickiness names a context field'
);
select throws_ok(
  $$insert into public.feature_flags (key, variants) values ('zz_bad', '{"name": "a"}')$$,
  '23514', null, 'variants is a JSON array'
);
select is(
  flags.murmur3_32(convert_to('hello', 'UTF8'), 0), 613153351::bigint,
  'murmur3_32 gives the reference hash of "hello"'
);
select is(
  (flags.normalized_hash('AB12A', '122', 100), flags.normalized_hash('AB12A', '155', 100)),
  (23, 100),
  'normalized_hash is Unleash''s bucket of <group>:<id> (the spec: 122 is in at 50%, 155 out)'
);

select pg_temp.act_as('anon');
select throws_ok(
  $$select flags.evaluate('zz_eval', '{"targeting_key": "u1", "tier": "pro"}')$$,
  '42501', null, 'anon cannot evaluate a flag'
);
select throws_ok(
  $$select flags.evaluate_all('{"targeting_key": "u1"}')$$,
  '42501', null, 'anon cannot evaluate every flag'
);
select throws_ok(
  $$select flags.evaluate_definition('{"key": "k", "enabled": true, "rollout_percent": 100}', '{}')$$,
  '42501', null, 'anon cannot evaluate a definition'
);
reset role;

select pg_temp.act_as('nonmember');
select is(
  flags.evaluate('zz_eval', '{"targeting_key": "u1", "tier": "pro"}'),
  '{"key": "zz_eval", "enabled": true, "variant": "blue", "payload": {"type": "string", "value": "b"}, "reason": "SPLIT"}'::jsonb,
  'a signed-in user evaluates a flag: on, with its variant, and no rules in the answer'
);
select is(
  flags.evaluate('zz_eval', '{"targeting_key": "u1", "tier": "free"}') ->> 'reason', 'DEFAULT',
  'a context the rules do not match gets the flag off'
);
select is(
  flags.evaluate('zz_off', '{"targeting_key": "u1"}'),
  '{"key": "zz_off", "enabled": false, "variant": null, "payload": null, "reason": "DISABLED"}'::jsonb,
  'the kill switch turns a flag off for everyone'
);
select is(
  flags.evaluate('zz_missing', '{}'),
  '{"key": "zz_missing", "enabled": false, "variant": null, "payload": null, "reason": "ERROR", "error_code": "FLAG_NOT_FOUND"}'::jsonb,
  'an unknown key is FLAG_NOT_FOUND'
);
select throws_ok(
  $$select flags.evaluate('zz_eval', '["u1"]')$$,
  '22023', 'Cannot evaluate flag zz_eval: the context is a JSON array, not a JSON object',
  'a context that is not an object is refused, naming the flag'
);
select is(
  (select jsonb_agg(r ->> 'key') from jsonb_array_elements(
     flags.evaluate_all('{"targeting_key": "u1"}', array['zz_off', 'zz_eval', 'zz_missing'])) as r),
  '["zz_eval", "zz_missing", "zz_off"]'::jsonb,
  'evaluate_all evaluates the named flags, ordered by key'
);
select is(
  flags.evaluate_definition(
    '{"key": "k", "enabled": true, "rollout_percent": 0, "stickiness": "default", "targeting_rules": [], "variants": []}',
    '{"targeting_key": "u1"}') ->> 'reason',
  'SPLIT', 'a signed-in user evaluates a definition: 0% leaves everyone out'
);
update public.feature_flags set enabled = false where key = 'zz_eval';
reset role;
select is(
  (select enabled from public.feature_flags where key = 'zz_eval'), true,
  'evaluating gives a signed-in user no way to change a flag'
);

select pg_temp.act_as('service_role');
select is(
  flags.evaluate('zz_eval', '{"targeting_key": "u1", "tier": "pro"}') ->> 'enabled', 'true',
  'service_role evaluates a flag'
);
select ok(
  jsonb_array_length(flags.evaluate_all('{"targeting_key": "u1"}')) >= 2,
  'service_role evaluates every flag'
);
reset role;

select pg_temp.act_as('operator');
select lives_ok(
  $$update public.feature_flags set rollout_percent = 0 where key = 'zz_eval'$$,
  'an operator changes the rollout'
);
select is(
  flags.evaluate('zz_eval', '{"targeting_key": "u1", "tier": "pro"}') ->> 'reason', 'SPLIT',
  'the next evaluation sees the operator''s rollout'
);
reset role;

select is(
  (select count(*)::integer from information_schema.routine_privileges
    where routine_schema = 'flags' and grantee in ('anon', 'PUBLIC')),
  0, 'no function of schema flags is executable by anon or PUBLIC'
);

select * from finish();
rollback;
