-- Reverts 20261210000100: the daily sweep of ended user copies' fingerprints.

select cron.unschedule(jobid) from cron.job where jobname = 'users-copy-fingerprints-sweep';
drop function if exists private.sweep_users_copy_fingerprints(interval);
