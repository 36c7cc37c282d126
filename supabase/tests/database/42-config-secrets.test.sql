-- Secret config values: `ops.set_config_secret` (operators and admins; stores ciphertext and a
-- fingerprint, never the value; re-setting the same value changes nothing), the `private`
-- crypto functions (service paths only), and the audit entry (fingerprint, never the value).
begin;
\ir _setup.psql
select plan(31);

select isnt_empty(
  $$select 1 from vault.secrets where name = 'stagecoach_config_key'$$,
  'this environment has its config key in Vault'
);

-- Refused: the wrong people, bad input ------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok(
  $$select ops.set_config_secret('zz_test.api_key', 'sk_test_anon')$$, '42501', null, 'anon cannot set a secret'
);
select pg_temp.act_as('nonmember');
select throws_ok(
  $$select ops.set_config_secret('zz_test.api_key', 'sk_test_nonmember')$$, '42501', null,
  'a signed-in non-member cannot set a secret'
);
select pg_temp.act_as('viewer');
select throws_ok(
  $$select ops.set_config_secret('zz_test.api_key', 'sk_test_viewer')$$, '42501', null, 'a viewer cannot set a secret'
);
select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.set_config_secret('zz_test.api_key', 'sk_test_approver')$$, '42501', null,
  'an approver cannot set a secret'
);
select pg_temp.act_as('operator');
select throws_like(
  $$select ops.set_config_secret('zz_test.api_key', '')$$, 'Cannot set secret zz_test.api_key: the value is empty',
  'an empty value is refused, naming the key'
);
select throws_like(
  $$select ops.set_config_secret('zz_test.api_key', null)$$, 'Cannot set secret zz_test.api_key: the value is empty',
  'a null value is refused'
);
select throws_ok(
  $$select ops.set_config_secret('Not A Key', 'sk_test_bad_key')$$, '23514', null, 'a malformed key is refused'
);
reset role;
select is(
  (select count(*) from public.app_config where key in ('zz_test.api_key', 'Not A Key')), 0::bigint,
  'the refused calls wrote nothing'
);
select is(
  (select count(*) from ops.audit_log where subject_type = 'app_config' and subject_id in ('zz_test.api_key', 'Not A Key')),
  0::bigint, 'nor any audit entry'
);

-- Allowed: operators and admins ---------------------------------------------------------------------------

select pg_temp.act_as('operator');
select is(
  ops.set_config_secret('zz_test.api_key', 'sk_test_51abcdef', 'Payment API key'),
  'sha256:' || left(encode(extensions.digest('stagecoach.secret.v1:sk_test_51abcdef', 'sha256'), 'hex'), 16),
  'an operator sets a secret and gets its fingerprint back'
);
reset role;
select results_eq(
  $$select value, is_secret, secret_fingerprint ~ '^sha256:[0-9a-f]{16}$', description, updated_by
      from public.app_config where key = 'zz_test.api_key'$$,
  format($$values (null::jsonb, true, true, 'Payment API key', %L::uuid)$$, pg_temp.uid('operator')),
  'the entry is secret, without a value, with its fingerprint and who set it'
);
select ok(
  (select secret_ciphertext is not null
          and position(convert_to('sk_test_51abcdef', 'UTF8') in secret_ciphertext) = 0
     from public.app_config where key = 'zz_test.api_key'),
  'the ciphertext is stored and does not contain the value'
);
select results_eq(
  $$select actor, details from ops.audit_log
     where action = 'config.secret_set' and subject_type = 'app_config' and subject_id = 'zz_test.api_key'$$,
  format($$values (%L::uuid, jsonb_build_object('fingerprint', private.secret_fingerprint('sk_test_51abcdef')))$$,
         pg_temp.uid('operator')),
  'the audit entry names the operator and holds the fingerprint only'
);
select ok(
  (select bool_and(strpos(a.details::text, 'sk_test_51abcdef') = 0) from ops.audit_log as a
    where a.subject_id = 'zz_test.api_key'),
  'no audit entry contains the value'
);

-- Re-setting the same value changes nothing (pgp ciphertexts differ per encryption, so a rewrite
-- would show as a new ciphertext; updated_at is moved into the past to show any stamp).
update public.app_config set updated_at = '2000-01-01 00:00:00+00' where key = 'zz_test.api_key';
create temp table t_before as
select secret_ciphertext, secret_fingerprint, updated_at from public.app_config where key = 'zz_test.api_key';
grant select on t_before to authenticated;
select pg_temp.act_as('admin');
select is(
  ops.set_config_secret('zz_test.api_key', 'sk_test_51abcdef'),
  (select secret_fingerprint from t_before),
  're-setting the same value returns the same fingerprint'
);
reset role;
select ok(
  (select c.secret_ciphertext = b.secret_ciphertext and c.updated_at = b.updated_at
          and c.updated_by = pg_temp.uid('operator') and c.description = 'Payment API key'
     from public.app_config as c, t_before as b where c.key = 'zz_test.api_key'),
  'a second run with the same value changes nothing (ciphertext, updated_at, updated_by, description)'
);
select is(
  (select count(*) from ops.audit_log where action = 'config.secret_set' and subject_id = 'zz_test.api_key'),
  1::bigint, 'and writes no second audit entry'
);

-- A new value replaces the old one; an admin may set it; a plain entry can become secret.
select pg_temp.act_as('admin');
select isnt(
  ops.set_config_secret('zz_test.api_key', 'sk_test_rotated'),
  (select secret_fingerprint from t_before),
  'an admin rotates the secret: a new fingerprint'
);
reset role;
select ok(
  (select c.secret_ciphertext <> b.secret_ciphertext and c.updated_at > b.updated_at
          and c.updated_by = pg_temp.uid('admin') and c.description = 'Payment API key'
     from public.app_config as c, t_before as b where c.key = 'zz_test.api_key'),
  'the rotation stored a new ciphertext, stamped, keeping the description'
);
insert into public.app_config (key, value) values ('zz_test.webhook_token', '"plaintext-token"');
select pg_temp.act_as('operator');
select lives_ok(
  $$select ops.set_config_secret('zz_test.webhook_token', 'whsec_123456')$$,
  'an operator turns a plain entry into a secret'
);
reset role;
select results_eq(
  $$select value, is_secret, secret_ciphertext is not null from public.app_config where key = 'zz_test.webhook_token'$$,
  $$values (null::jsonb, true, true)$$,
  'the plain value is gone'
);

-- The crypto functions are service paths ------------------------------------------------------------------

create temp table t_cipher as
select key, secret_ciphertext from public.app_config where key in ('zz_test.api_key', 'zz_test.webhook_token');
grant select on t_cipher to authenticated, service_role;

select pg_temp.act_as('admin');
select throws_ok(
  $$select private.decrypt_config_secret(secret_ciphertext) from t_cipher$$, '42501', null,
  'authenticated (even an admin) cannot decrypt'
);
select throws_ok(
  $$select private.encrypt_config_secret('x')$$, '42501', null, 'authenticated cannot encrypt'
);
select throws_ok(
  $$select decrypted_secret from vault.decrypted_secrets where name = 'stagecoach_config_key'$$, '42501', null,
  'authenticated cannot read the key from Vault'
);
select pg_temp.act_as('anon');
select throws_ok(
  $$select private.decrypt_config_secret('\x00'::bytea)$$, '42501', null, 'anon cannot decrypt'
);
select pg_temp.act_as('service_role');
select results_eq(
  $$select key, private.decrypt_config_secret(secret_ciphertext) from t_cipher order by key$$,
  $$values ('zz_test.api_key', 'sk_test_rotated'), ('zz_test.webhook_token', 'whsec_123456')$$,
  'the service role decrypts and gets the plaintext back'
);
select throws_ok(
  $$select private.config_secret_key()$$, '42501', null, 'the service role cannot read the raw key'
);
select throws_ok(
  $$select secret_ciphertext from public.app_config$$, '42501', null,
  'the ciphertext column stays closed to the service role'
);
select lives_ok(
  $$select ops.set_config_secret('zz_test.service_key', 'svc_value')$$, 'the service role can set a secret'
);
reset role;
select is(
  (select actor_role from ops.audit_log where subject_id = 'zz_test.service_key' and action = 'config.secret_set'),
  'service_role', 'the audit entry records the service role'
);

select * from finish();
rollback;
