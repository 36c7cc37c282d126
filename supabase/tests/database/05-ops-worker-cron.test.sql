-- The `ops-worker` pg_cron job: scheduled every minute, reads the project URL and the
-- service-role key from Vault (never literals), and calls the Edge Function through pg_net.
begin;
\ir _setup.psql
select plan(8);

select has_extension('pg_cron', 'pg_cron is installed');
select has_function('net', 'http_post', 'net.http_post exists (pg_net or the local stand-in)');

select results_eq(
  $$select schedule from cron.job where jobname = 'ops-worker'$$,
  array['* * * * *'],
  'exactly one ops-worker job runs every minute'
);

select ok(
  (select command ~ 'net\.http_post' and command ~ '/functions/v1/ops-worker'
     from cron.job where jobname = 'ops-worker'),
  'the job posts to the ops-worker function'
);
select ok(
  (select command ~ 'vault\.decrypted_secrets' and command ~ '''project_url'''
          and command ~ '''service_role_key'''
     from cron.job where jobname = 'ops-worker'),
  'the URL and the key come from Vault'
);
select ok(
  (select command !~* 'https?://' and command !~ 'eyJ' and command !~* 'bearer\s+[a-z0-9_.-]{8,}'
     from cron.job where jobname = 'ops-worker'),
  'the command holds no URL literal and no key'
);

-- Run the job's SQL with known secrets; the request is queued in this transaction only.
-- Needs the local stack's Vault and pg_net stand-ins (queue table net.http_request_queue).
create temp table t_request (id bigint);
do $$
declare
  job_command text := (select command from cron.job where jobname = 'ops-worker');
begin
  delete from vault.secrets where name in ('project_url', 'service_role_key');
  perform vault.create_secret('http://127.0.0.1:59999', 'project_url', 'test');
  perform vault.create_secret('test-service-role-key', 'service_role_key', 'test');
  execute 'insert into t_request ' || job_command;
end;
$$;

select results_eq(
  $$select q.url, q.headers ->> 'Authorization', convert_from(q.body, 'UTF8')::jsonb ->> 'source'
      from net.http_request_queue as q join t_request as t on t.id = q.id$$,
  $$values ('http://127.0.0.1:59999/functions/v1/ops-worker', 'Bearer test-service-role-key', 'pg_cron')$$,
  'the job calls <project_url>/functions/v1/ops-worker with the service-role key'
);
select results_eq(
  $$select (q.headers ->> 'Content-Type'), q.timeout_milliseconds
      from net.http_request_queue as q join t_request as t on t.id = q.id$$,
  $$values ('application/json', 55000)$$,
  'the request is JSON with a 55 s timeout (longer than the worker time box)'
);

select * from finish();
rollback;
