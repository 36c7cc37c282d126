-- public.app_config: ops members read, operators and admins write, nobody else sees
-- anything; secret entries have no plaintext and their ciphertext is readable by no API role.
begin;
\ir _setup.psql
select plan(25);

insert into public.app_config (key, value, description)
values ('zz_test.plain', '{"nested": {"n": 1}}', 'plain test entry');
insert into public.app_config (key, is_secret, secret_ciphertext, secret_fingerprint, description)
values ('zz_test.secret', true, '\x0102030405', 'sha256:abc123', 'secret test entry');

-- The secret invariant -------------------------------------------------------------------------------

select throws_ok(
  $$insert into public.app_config (key, value, is_secret, secret_ciphertext, secret_fingerprint)
    values ('zz_test.bad1', '"plaintext"', true, '\x01', 'sha256:x')$$,
  '23514', null, 'a secret entry cannot hold a plaintext value'
);
select throws_ok(
  $$insert into public.app_config (key, is_secret, secret_fingerprint) values ('zz_test.bad2', true, 'sha256:x')$$,
  '23514', null, 'a secret entry needs its ciphertext'
);
select throws_ok(
  $$insert into public.app_config (key, value, secret_ciphertext) values ('zz_test.bad3', '1', '\x01')$$,
  '23514', null, 'a plain entry holds no ciphertext'
);
select throws_ok(
  $$insert into public.app_config (key, value) values ('Bad Key', '1')$$,
  '23514', null, 'keys are lower-case dotted identifiers'
);

-- The ciphertext column is closed to every API role -----------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok(
  'select secret_ciphertext from public.app_config', '42501', null, 'anon cannot read ciphertext'
);
select throws_ok('select key from public.app_config', '42501', null, 'anon cannot read config');
select throws_ok(
  $$insert into public.app_config (key, value) values ('zz_test.anon', '1')$$,
  '42501', null, 'anon cannot write config'
);
reset role;

select pg_temp.act_as('admin');
select throws_ok(
  'select secret_ciphertext from public.app_config', '42501', null, 'authenticated (even an admin) cannot read ciphertext'
);
select throws_ok('select * from public.app_config', '42501', null, 'select * is refused because it includes the ciphertext');
reset role;

select pg_temp.act_as('service_role');
select throws_ok(
  'select secret_ciphertext from public.app_config', '42501', null, 'service_role cannot read ciphertext'
);
select results_eq(
  $$select key from public.app_config where key like 'zz\_test.%' order by key$$,
  array['zz_test.plain', 'zz_test.secret'],
  'service_role reads the other columns'
);
select lives_ok(
  $$insert into public.app_config (key, value) values ('zz_test.service', '"ok"')$$,
  'service_role can write config'
);
reset role;

-- Non-members ---------------------------------------------------------------------------------------------

select pg_temp.act_as('nonmember');
select is_empty('select key from public.app_config', 'a signed-in non-member reads no config');
select throws_ok(
  $$insert into public.app_config (key, value) values ('zz_test.user', '1')$$,
  '42501', null, 'a signed-in non-member cannot create config'
);
update public.app_config set value = '"hacked"' where key = 'zz_test.plain';
reset role;
select results_eq(
  $$select value from public.app_config where key = 'zz_test.plain'$$,
  $$values ('{"nested": {"n": 1}}'::jsonb)$$,
  'a signed-in non-member cannot change config'
);

-- Viewer and approver read, do not write ---------------------------------------------------------------

select pg_temp.act_as('viewer');
select results_eq(
  $$select key, value, is_secret, secret_fingerprint from public.app_config
     where key in ('zz_test.plain', 'zz_test.secret') order by key$$,
  $$values ('zz_test.plain', '{"nested": {"n": 1}}'::jsonb, false, null::text),
           ('zz_test.secret', null::jsonb, true, 'sha256:abc123')$$,
  'a viewer reads config: secret entries show only their fingerprint'
);
select throws_ok(
  $$insert into public.app_config (key, value) values ('zz_test.viewer', '1')$$,
  '42501', null, 'a viewer cannot create config'
);
delete from public.app_config where key = 'zz_test.plain';
reset role;
select isnt_empty($$select 1 from public.app_config where key = 'zz_test.plain'$$, 'a viewer cannot delete config');

select pg_temp.act_as('approver');
update public.app_config set value = '"approved"' where key = 'zz_test.plain';
reset role;
select results_eq(
  $$select value from public.app_config where key = 'zz_test.plain'$$,
  $$values ('{"nested": {"n": 1}}'::jsonb)$$,
  'an approver cannot change config'
);

-- Operator and admin write ---------------------------------------------------------------------------------

select pg_temp.act_as('operator');
select lives_ok(
  $$insert into public.app_config (key, value, env_specific) values ('zz_test.site_url', '"https://example.com"', true)$$,
  'an operator can create config'
);
select lives_ok(
  $$update public.app_config set value = '{"nested": {"n": 2}}' where key = 'zz_test.plain'$$,
  'an operator can change config'
);
select lives_ok(
  $$update public.app_config set secret_ciphertext = '\x0a0b', secret_fingerprint = 'sha256:def456'
     where key = 'zz_test.secret'$$,
  'an operator can replace a secret (write-only)'
);
select lives_ok(
  $$delete from public.app_config where key = 'zz_test.site_url'$$,
  'an operator can delete config'
);
reset role;
select results_eq(
  $$select (select value from public.app_config where key = 'zz_test.plain'),
           (select secret_fingerprint from public.app_config where key = 'zz_test.secret'),
           (select count(*) from public.app_config where key = 'zz_test.site_url')$$,
  $$values ('{"nested": {"n": 2}}'::jsonb, 'sha256:def456', 0::bigint)$$,
  'the operator''s changes were stored'
);

select pg_temp.act_as('admin');
select lives_ok(
  $$update public.app_config set description = 'changed by admin' where key = 'zz_test.plain'$$,
  'an admin can change config'
);
reset role;

select * from finish();
rollback;
