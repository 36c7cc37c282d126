-- stagecoach_copy_reader and users_copy: what a user copy's --where can reach on the source.
-- The reader (as a copy sets it: read-only transaction, set local role) reads the copied
-- tables and tiers and runs hmac; it reads no Vault, no ops, uses no sequence, writes
-- nothing. users_copy.selected_user_ids evaluates a predicate as the reader, where it cannot
-- switch back to postgres, read the key or leave a setting changed. No API role reaches
-- either. (The statement timeout is shown in tests/users_copy_where_test.ts: pgTAP cannot
-- catch a cancelled statement.)
begin;
\ir _setup.psql
select plan(31);

select is(
  (select rolcanlogin from pg_roles where rolname = 'stagecoach_copy_reader'),
  false,
  'the copy reader cannot log in'
);
select ok(
  pg_has_role('postgres', 'stagecoach_copy_reader', 'member'),
  'postgres may set local role to the copy reader'
);

-- A sequence any role may use, as an application's might be: only read-only stops nextval.
create sequence public.t_copy_reader_seq;
grant usage, update on sequence public.t_copy_reader_seq to public;
select set_config('stagecoach.anon_key', 'the-derived-key', true);
grant select on t_users to stagecoach_copy_reader;

select ok(
  not exists (
    select 1
    from unnest(array['auth.users', 'auth.identities', 'public.profiles', 'public.memberships',
                      'public.membership_tiers']) as t(name),
         unnest(array['insert', 'update', 'delete', 'truncate']) as p(privilege)
    where has_table_privilege('stagecoach_copy_reader', t.name, p.privilege)
  ),
  'the reader holds no write privilege on the tables it reads'
);
select ok(
  not exists (
    select 1 from unnest(array['anon', 'authenticated', 'service_role', 'authenticator']) as r(name)
    where pg_has_role(r.name, 'stagecoach_copy_reader', 'member')
  ),
  'no API role (nor PostgREST''s authenticator) may become the reader'
);

-- The reader, as a copy's source transaction sets it ---------------------------------------
set local transaction_read_only = on;
set local statement_timeout = '30s';
set local role stagecoach_copy_reader;
select lives_ok(
  $$select count(*) from auth.users, auth.identities, public.profiles, public.memberships,
                         public.membership_tiers limit 1$$,
  'the reader reads the copied tables and the tiers'
);
select is(
  (select count(*)::int from public.profiles where id = pg_temp.uid('viewer')),
  1,
  'the reader sees every profile through its policy (RLS stays on)'
);
select lives_ok(
  $$select extensions.hmac('x', users_copy.anon_key(), 'sha256')$$,
  'the reader computes the masking hmac with the session key'
);
select throws_ok(
  $$select 1 from vault.decrypted_secrets$$,
  '42501', 'permission denied for schema vault', 'the reader cannot read Vault'
);
select throws_ok(
  $$select 1 from ops.jobs$$,
  '42501', 'permission denied for schema ops', 'the reader cannot read ops'
);
select throws_ok(
  $$select nextval('public.t_copy_reader_seq')$$,
  '25006', null, 'the reader cannot advance even a sequence it may use (read only)'
);
select throws_ok(
  $$update public.profiles set full_name = 'x' where false$$,
  '25006', null, 'the reader cannot write (read only, before any privilege check)'
);

-- users_copy.selected_user_ids: the only place a predicate runs ----------------------------
select is(
  (select count(*)::int from users_copy.selected_user_ids(
     format('u.email = %L', (select email from pg_temp.t_users where label = 'admin')))),
  1,
  'a predicate on auth.users as u selects its users'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids(
      $p$set_config('role', 'postgres', true) is not null$p$)$$,
  '42501', 'cannot set parameter "role" within security-definer function',
  'a predicate cannot switch back to postgres'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids(
      $p$query_to_xml('select 1 from vault.decrypted_secrets', false, false, '') is not null$p$)$$,
  '42501', 'permission denied for schema vault',
  'a predicate running SQL of its own still runs as the reader'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids($p$exists (select 1 from vault.decrypted_secrets)$p$)$$,
  '42501', 'permission denied for schema vault',
  'a predicate cannot use Vault as an oracle'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids($p$nextval('ops.validation_results_id_seq') > 0$p$)$$,
  '42501', 'permission denied for schema ops',
  'a predicate cannot reach ops sequences'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids($p$nextval('public.t_copy_reader_seq') > 0$p$)$$,
  '25006', null,
  'a predicate cannot advance a sequence it could use'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids(
      $p$set_config('statement_timeout', '0', false) is not null$p$)$$,
  '42501', 'Cannot use --where: it changed settings of the session (statement_timeout)',
  'a predicate cannot switch the statement timeout off'
);
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids(
      $p$set_config('stagecoach.anon_key', 'known', false) is not null$p$)$$,
  '42501', 'Cannot use --where: it changed settings of the session (stagecoach.anon_key)',
  'a predicate cannot swap the anonymization key'
);
select is(
  (select count(*)::int from users_copy.selected_user_ids(
     $p$current_setting('stagecoach.anon_key', true) = 'the-derived-key'$p$)),
  0,
  'a predicate cannot read the anonymization key'
);
select is(
  (select count(*)::int from users_copy.selected_user_ids(
     $p$pg_advisory_lock(4242) is not null$p$)) > 0,
  true,
  'a predicate may take an advisory lock...'
);
select is(
  (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()),
  0,
  '... which is released when it returns'
);
select is(current_setting('statement_timeout'), '30s', 'the session''s settings are as before');
select is(current_user::text, 'stagecoach_copy_reader', 'and the role is still the reader');
reset role;
select throws_ok(
  $$select set_config('stagecoach.anon_key', '', true), users_copy.anon_key()$$,
  '22023', 'Cannot mask: the session has no anonymization key (stagecoach.anon_key is empty)',
  'the masking refuses an empty key (a blanked one included)'
);

-- No API role reaches the reader or its functions -----------------------------------------
select pg_temp.act_as('admin');
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids('true')$$,
  '42501', null, 'an admin cannot call users_copy.selected_user_ids'
);
reset role;
select pg_temp.act_as('operator');
select throws_ok(
  $$select users_copy.anon_key()$$,
  '42501', null, 'an operator cannot call users_copy.anon_key'
);
reset role;
select pg_temp.act_as('viewer');
select is(
  (select count(*)::int from public.profiles where id <> pg_temp.uid('viewer')),
  0,
  'the reader''s policies give a viewer nothing more than their own profile'
);
reset role;
select pg_temp.act_as('approver');
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids('true')$$,
  '42501', null, 'an approver cannot call users_copy.selected_user_ids'
);
reset role;
select pg_temp.act_as('service_role');
select throws_ok(
  $$select count(*) from users_copy.selected_user_ids('true')$$,
  '42501', null, 'service_role cannot call users_copy.selected_user_ids'
);
reset role;
select pg_temp.act_as('anon');
select throws_ok(
  $$select users_copy.anon_key()$$,
  '42501', null, 'anon cannot call users_copy.anon_key'
);
reset role;

select * from finish();
rollback;
