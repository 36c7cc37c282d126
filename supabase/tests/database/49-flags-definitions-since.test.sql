-- flags.definitions_since: only service_role (the flags function's service path) reads flag
-- definitions with their version stamp; anon and signed-in users, operators included, may not
-- (it returns rules). The stamp changes with every committed insert, update and delete, and an
-- unchanged stamp returns no definitions.
begin;
\ir _setup.psql
select plan(9);

insert into public.feature_flags (key, enabled, rollout_percent, targeting_rules, stickiness, variants)
values ('zz_ofrep', true, 50, '[{"attribute": "tier", "op": "in", "values": ["pro"]}]', 'default',
        '[{"name": "blue", "weight": 1}]');

select pg_temp.act_as('anon');
select throws_ok($$select * from flags.definitions_since(null)$$, '42501', null,
  'anon cannot read flag definitions');
reset role;
select pg_temp.act_as('nonmember');
select throws_ok($$select * from flags.definitions_since(null)$$, '42501', null,
  'a signed-in user cannot read them through the function');
reset role;
select pg_temp.act_as('admin');
select throws_ok($$select * from flags.definitions_since(null)$$, '42501', null,
  'nor can an admin: it is the flags function''s path');
reset role;

select pg_temp.act_as('service_role');
create temp table t_v1 as select * from flags.definitions_since(null);
select is(
  (select d from t_v1, jsonb_array_elements(definitions) as d where d ->> 'key' = 'zz_ofrep'),
  '{"key": "zz_ofrep", "enabled": true, "rollout_percent": 50, "stickiness": "default",
    "targeting_rules": [{"attribute": "tier", "op": "in", "values": ["pro"]}],
    "variants": [{"name": "blue", "weight": 1}]}'::jsonb,
  'service_role reads each definition and state, with a version stamp'
);
select is(
  (select row(version, definitions) from flags.definitions_since((select version from t_v1))),
  (select row(version, null::jsonb) from t_v1),
  'an unchanged stamp returns the same stamp and no definitions'
);
reset role;

-- Each change in a savepoint, as a later transaction would write it (its own xid).
savepoint inserted;
insert into public.feature_flags (key) values ('zz_ofrep_new');
select isnt((select version from flags.definitions_since(null)), (select version from t_v1),
  'an insert changes the stamp');
rollback to savepoint inserted;
savepoint updated;
update public.feature_flags set rollout_percent = 51 where key = 'zz_ofrep';
select isnt((select version from flags.definitions_since(null)), (select version from t_v1),
  'an update changes the stamp');
rollback to savepoint updated;
savepoint deleted;
delete from public.feature_flags where key = 'zz_ofrep';
select isnt((select version from flags.definitions_since(null)), (select version from t_v1),
  'a delete changes the stamp');
rollback to savepoint deleted;
select is((select version from flags.definitions_since(null)), (select version from t_v1),
  'rolled-back changes leave the stamp as it was');

select * from finish();
rollback;
