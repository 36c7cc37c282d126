-- Intent: give the ops-worker call as long as its work may take. The worker now delivers
-- notifications and runs job slices time-boxed to well under a minute; a 5 s pg_net timeout
-- would record healthy calls as timed out. Re-scheduling by name replaces the job.

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
    timeout_milliseconds := 55000
  );
  $job$
);
