-- Intent: call the `ops-worker` Edge Function every minute from pg_cron, as Supabase
-- documents scheduling Edge Functions (pg_cron + pg_net + Vault).
--
-- The project URL and the service-role key are read from Vault at run time and never
-- written here. After the first push, the stack (or a person, once per project) stores them:
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url', 'Project URL');
--   select vault.create_secret('<service role key>', 'service_role_key', 'ops-worker caller');
-- Until both exist, each run fails visibly in cron.job_run_details and does nothing else.

create extension if not exists pg_cron with schema pg_catalog;

-- Hosted Supabase ships pg_net; the local stack provides a stand-in `net.http_post` from its
-- platform shim. Create the extension only when neither is there.
do $$
begin
  if not exists (
    select 1
    from pg_catalog.pg_proc as p
    join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
    where n.nspname = 'net' and p.proname = 'http_post'
  ) then
    create extension if not exists pg_net with schema extensions;
  end if;
end;
$$;

-- Scheduling by name replaces the job, so re-running this migration is harmless.
select cron.schedule(
  'ops-worker',
  '* * * * *',
  $job$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
      || '/functions/v1/ops-worker',
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || (
        select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'
      )
    ),
    body := jsonb_build_object('source', 'pg_cron'),
    timeout_milliseconds := 5000
  );
  $job$
);
