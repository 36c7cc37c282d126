-- Intent: the nightly Stripe reconciliation is queued through `ops.create_job` like every
-- other job (20261202002100), instead of inserting into ops.jobs itself. Same schedule, same
-- rule: never a second job while one is queued or running. pg_cron runs the command as the
-- owner, so the job is recorded as created by the owner.
-- Scheduling by name replaces the job, so re-running this migration is harmless.

select cron.schedule(
  'stripe-reconcile',
  '17 3 * * *',
  $job$
  select ops.create_job('stripe.reconcile', '{"source": "pg_cron"}', 'worker')
  where not exists (
    select 1 from ops.jobs
    where kind = 'stripe.reconcile' and status in ('queued', 'running')
  );
  $job$
);
