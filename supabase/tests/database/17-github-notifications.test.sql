-- GitHub endpoints: admins (and direct sessions) add them with a token that no API role can
-- read back, they hear only `promotion.approved` — written when the approval completing the
-- quorum arrives, not before — and only the worker's claim decrypts the token.
begin;
\ir _setup.psql
\ir _promotions.psql
select plan(34);

create temp table t_gh as
select * from ops.add_notification_endpoint(
  'production', 'zz-gh', 'github', 'https://api.github.com/repos/acme/shop/dispatches',
  array['*'], 'github_pat_11ZZt0kenFIRST'
);
grant select on t_gh to anon, authenticated, service_role;

-- Adding (as a direct database session) -----------------------------------------------------------

select results_eq(
  $$select created, changed, signing_secret from t_gh$$,
  $$values (true, true, null::text)$$,
  'adding a github endpoint returns no secret: its token is given, never handed back'
);
select results_eq(
  $$select kind, url_hint, events, secret_ciphertext is not null
      from ops.notification_endpoints where name = 'zz-gh'$$,
  $$values ('github', 'https://api.github.com/…', array['promotion.approved'], true)$$,
  'a github endpoint hears promotion.approved (what * means for it) and holds its token encrypted'
);
select ok(
  (select position(convert_to('t0ken', 'utf8') in secret_ciphertext) = 0
      and position(convert_to('acme', 'utf8') in url_ciphertext) = 0
     from ops.notification_endpoints where name = 'zz-gh'),
  'neither the token nor the URL appears in plaintext in the row'
);
select is(
  (select private.decrypt_config_secret(secret_ciphertext) from ops.notification_endpoints where name = 'zz-gh'),
  'github_pat_11ZZt0kenFIRST',
  'the token decrypts to what was given'
);
select results_eq(
  $$select created, changed from ops.add_notification_endpoint(
      'production', 'zz-gh', 'github', 'https://api.github.com/repos/acme/shop/dispatches',
      array['promotion.approved'], 'github_pat_11ZZt0kenFIRST')$$,
  $$values (false, false)$$,
  'adding it again with the same URL and token changes nothing'
);
select results_eq(
  $$select created, changed from ops.add_notification_endpoint(
      'production', 'zz-gh', 'github', 'https://api.github.com/repos/acme/shop/dispatches',
      array['*'], 'github_pat_11ZZt0kenSECOND')$$,
  $$values (false, true)$$,
  'adding it again with another token replaces the token'
);
select is(
  (select private.decrypt_config_secret(secret_ciphertext) from ops.notification_endpoints where name = 'zz-gh'),
  'github_pat_11ZZt0kenSECOND',
  'the new token is the one kept'
);
select results_eq(
  $$select action, details->>'token_changed' from ops.audit_log
     where subject_type = 'notification_endpoint' and details->>'name' = 'zz-gh' order by id$$,
  $$values ('notification_endpoint.added', null::text), ('notification_endpoint.changed', 'true')$$,
  'adding and replacing the token are audited (whether it changed, not what it is)'
);

select throws_ok(
  $$select ops.add_notification_endpoint('production', 'x', 'github', 'https://api.github.com/repos/acme/shop/dispatches')$$,
  '23514', 'Cannot add notification endpoint x: a github endpoint needs a token (printable, no spaces, at most 1024 characters)',
  'a github endpoint without a token is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'x', 'github', 'https://api.github.com/repos/acme/shop/dispatches', array['*'], 'two words')$$,
  '23514', null, 'a token with white space is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'x', 'github', 'https://api.github.com/repos/acme/shop', array['*'], 'tok')$$,
  '23514', 'Cannot add notification endpoint x: a github endpoint''s URL is <api>/repos/<owner>/<repo>/dispatches',
  'a github URL that is not a dispatches URL is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'x', 'github', 'https://api.github.com/repos/acme/shop/dispatches', array['promotion.failed'], 'tok')$$,
  '23514', 'Cannot add notification endpoint x: a github endpoint hears promotion.approved only',
  'a github endpoint asking for other events is refused'
);
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'x', 'webhook', 'https://a.example.test/', array['*'], 'tok')$$,
  '23514', 'Cannot add notification endpoint x: only github endpoints take a token',
  'a token for another kind is refused'
);
select is(
  (select count(*)::int from ops.notification_endpoints where name = 'x'), 0,
  'refused additions wrote nothing'
);
select throws_ok(
  $$update ops.notification_endpoints set events = array['*'] where name = 'zz-gh'$$,
  '23514', null, 'a github endpoint cannot be re-filtered to other events, even by the owner'
);

-- Only the approval that completes the quorum writes its outbox row --------------------------------

-- The outbox rows of the github endpoint.
create function pg_temp.gh_rows() returns integer
language sql stable
as $$
  select count(*)::int from ops.notification_outbox as o
  join ops.notification_endpoints as e on e.id = o.endpoint_id
  where e.name = 'zz-gh'
$$;

select pg_temp.plan_as('operator', 'gh01', 'production', 'high');
select is(
  pg_temp.gh_rows(),
  0,
  'a plan awaiting approval sends GitHub nothing'
);
select pg_temp.act_as('approver');
insert into ops.approvals (promotion_id, decision, plan_hash)
values (pg_temp.pid('gh01'), 'approve', pg_temp.phash('gh01'));
select pg_temp.as_system();
select is(
  pg_temp.gh_rows(),
  0,
  'the first of two required approvals sends GitHub nothing'
);
select pg_temp.act_as('admin');
insert into ops.approvals (promotion_id, decision, plan_hash)
values (pg_temp.pid('gh01'), 'approve', pg_temp.phash('gh01'));
select pg_temp.as_system();
select results_eq(
  $$select o.event_type, o.payload->'data'->>'promotion_id', o.payload->'data'->>'plan_hash',
           o.payload->'data'->>'environment'
      from ops.notification_outbox as o join ops.notification_endpoints as e on e.id = o.endpoint_id
     where e.name = 'zz-gh'$$,
  format($$values ('promotion.approved', %L, %L, 'production')$$, pg_temp.pid('gh01'), pg_temp.phash('gh01')),
  'the approval completing the quorum writes one promotion.approved row with the promotion id, plan hash and environment'
);
update ops.promotions set status = 'applying' where id = pg_temp.pid('gh01');
select is(
  pg_temp.gh_rows(),
  1,
  'later transitions send GitHub nothing more'
);

-- Roles ---------------------------------------------------------------------------------------------

select pg_temp.act_as('anon');
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'anon-gh', 'github', 'https://api.github.com/repos/a/b/dispatches', array['*'], 'tok')$$,
  '42501', null, 'anon cannot add a github endpoint'
);
reset role;

select pg_temp.act_as('nonmember');
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'nm-gh', 'github', 'https://api.github.com/repos/a/b/dispatches', array['*'], 'tok')$$,
  '42501', 'Cannot add notification endpoint: only admins may', 'a non-member cannot add a github endpoint'
);
reset role;

select pg_temp.act_as('viewer');
select results_eq(
  $$select name, kind, url_hint from ops.notification_endpoints where name = 'zz-gh'$$,
  $$values ('zz-gh', 'github', 'https://api.github.com/…')$$,
  'a viewer lists the github endpoint by name, kind and host'
);
select throws_ok('select secret_ciphertext from ops.notification_endpoints', '42501', null,
  'a viewer cannot read the encrypted token');
reset role;

select pg_temp.act_as('operator');
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'op-gh', 'github', 'https://api.github.com/repos/a/b/dispatches', array['*'], 'tok')$$,
  '42501', null, 'an operator cannot add a github endpoint'
);
reset role;

select pg_temp.act_as('approver');
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'ap-gh', 'github', 'https://api.github.com/repos/a/b/dispatches', array['*'], 'tok')$$,
  '42501', null, 'an approver cannot add a github endpoint'
);
reset role;

select pg_temp.act_as('admin');
select results_eq(
  $$select created, signing_secret from ops.add_notification_endpoint(
      'production', 'zz-gh-admin', 'github', 'https://api.github.com/repos/acme/app/dispatches',
      array['*'], 'github_pat_11ZZt0kenADMIN')$$,
  $$values (true, null::text)$$,
  'an admin adds a github endpoint through the API, and gets no token back'
);
select throws_ok(
  $$select ops.add_notification_endpoint('production', 'zz-gh-loop', 'github', 'http://127.0.0.1:9/repos/a/b/dispatches', array['*'], 'tok')$$,
  '23514', null, 'an admin cannot point a github endpoint at an internal http URL'
);
select throws_ok('select secret_ciphertext from ops.notification_endpoints', '42501', null,
  'an admin cannot read the encrypted token');
select throws_ok('select private.decrypt_config_secret(secret_ciphertext) from ops.notification_endpoints', '42501', null,
  'an admin cannot decrypt it either');
select throws_ok('select * from ops.claim_notifications(10, interval ''1 minute'')', '42501', null,
  'an admin cannot claim notifications (only the worker decrypts)');
select is(ops.remove_notification_endpoint('production', 'zz-gh-admin'), true, 'an admin removes a github endpoint');
reset role;

select is(
  (select count(*)::int from ops.audit_log where details::text ~ 't0ken')
  + (select count(*)::int from ops.notification_outbox where payload::text ~ 't0ken'),
  0,
  'no audit entry and no notification holds a token'
);

-- service_role: the worker's path ---------------------------------------------------------------------

select pg_temp.act_as('service_role');
select throws_ok('select secret_ciphertext from ops.notification_endpoints', '42501', null,
  'the service role cannot read the encrypted token directly');
select results_eq(
  $$select endpoint_kind, event_type, url, signing_secret
      from ops.claim_notifications(100, interval '2 minutes', now() + interval '1 hour')
     where endpoint_name = 'zz-gh'$$,
  $$values ('github', 'promotion.approved', 'https://api.github.com/repos/acme/shop/dispatches',
            'github_pat_11ZZt0kenSECOND')$$,
  'the worker''s claim alone hands over the dispatches URL and the decrypted token'
);
reset role;

select * from finish();
rollback;
