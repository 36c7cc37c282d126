-- Intent: reconcile the Stripe mirror nightly. pg_cron queues a `stripe.reconcile` job in
-- ops.jobs (unless one is already queued or running); the ops-worker, called every minute,
-- runs it in time-boxed, checkpointed slices (see supabase/functions/_shared/stripe/reconcile.ts).
-- Scheduling by name replaces the job, so re-running this migration is harmless.

create extension if not exists pg_cron with schema pg_catalog;

select cron.schedule(
  'stripe-reconcile',
  '17 3 * * *',
  $job$
  insert into ops.jobs (kind, params, executor)
  select 'stripe.reconcile', '{"source": "pg_cron"}'::jsonb, 'worker'
  where not exists (
    select 1 from ops.jobs
    where kind = 'stripe.reconcile' and status in ('queued', 'running')
  );
  $job$
);
