-- auth.sessions and auth.refresh_tokens (the platform shim, as GoTrue leaves them): only the
-- Auth server's side reads and writes them — the service role and postgres; anon and signed-in
-- users, even about their own session, are refused. Signing a user out (deleting the session)
-- takes its refresh tokens with it.
begin;
\ir _setup.psql
select plan(10);

insert into auth.sessions (id, user_id, created_at, updated_at, aal)
values ('5e55e55e-0000-4000-8000-000000000001', pg_temp.uid('viewer'), now(), now(), 'aal1');
insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at,
                                 session_id)
values ('00000000-0000-0000-0000-000000000000', 'zzzzzzzzzzz1', pg_temp.uid('viewer')::text,
        false, now(), now(), '5e55e55e-0000-4000-8000-000000000001');

select pg_temp.act_as('service_role');
select results_eq(
  $$select count(*)::int from auth.refresh_tokens where token = 'zzzzzzzzzzz1'$$,
  array[1],
  'service_role reads refresh tokens'
);
select lives_ok(
  $$update auth.refresh_tokens set revoked = true where token = 'zzzzzzzzzzz1'$$,
  'service_role revokes a refresh token'
);
reset role;

select pg_temp.act_as('viewer');
select throws_ok(
  $$select * from auth.sessions$$, '42501', null, 'a signed-in user cannot read sessions, even their own'
);
select throws_ok(
  $$select * from auth.refresh_tokens$$, '42501', null, 'a signed-in user cannot read refresh tokens'
);
select throws_ok(
  $$insert into auth.sessions (id, user_id) values (gen_random_uuid(), auth.uid())$$,
  '42501', null, 'a signed-in user cannot create a session'
);
reset role;

select pg_temp.act_as('anon');
select throws_ok(
  $$select * from auth.sessions$$, '42501', null, 'anon cannot read sessions'
);
select throws_ok(
  $$delete from auth.refresh_tokens$$, '42501', null, 'anon cannot delete refresh tokens'
);
reset role;

select ok(
  (select relrowsecurity from pg_class where oid = 'auth.sessions'::regclass)
  and (select relrowsecurity from pg_class where oid = 'auth.refresh_tokens'::regclass),
  'RLS is on for both, as GoTrue leaves them'
);

delete from auth.sessions where id = '5e55e55e-0000-4000-8000-000000000001';
select is_empty(
  $$select 1 from auth.refresh_tokens where token = 'zzzzzzzzzzz1'$$,
  'ending a session deletes its refresh tokens'
);
select throws_ok(
  $$insert into auth.refresh_tokens (token, user_id, session_id)
    values ('zzzzzzzzzzz2', 'x', '5e55e55e-0000-4000-8000-000000000001')$$,
  '23503', null, 'a refresh token needs a live session'
);

select * from finish();
rollback;
