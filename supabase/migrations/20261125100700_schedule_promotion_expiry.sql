-- Intent: a promotion left awaiting approval past its environment's `approval_expiry` expires
-- (pg_cron, every minute), so a stale plan can never be approved later.

create or replace function ops.expire_stale_promotions()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  expired integer;
begin
  update ops.promotions
  set status = 'expired'
  where status = 'awaiting_approval' and expires_at < now();
  get diagnostics expired = row_count;
  return expired;
end;
$$;

comment on function ops.expire_stale_promotions() is
  'Marks promotions awaiting approval past expires_at as expired; returns how many.';

revoke all on function ops.expire_stale_promotions() from public, anon, authenticated;
grant execute on function ops.expire_stale_promotions() to service_role;

select cron.schedule('expire-promotions', '* * * * *', 'select ops.expire_stale_promotions()');
