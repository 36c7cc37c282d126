-- Intent: what a promotion did outside the database (the target's Stripe catalog: products
-- and prices created, lookup keys moved, the webhook endpoint), recorded before the database
-- transaction so that a failed apply, a failed validation or a rollback can revert it — even
-- after a crash. Holds ids and previous values, never secrets.

create table if not exists ops.promotion_effects (
  promotion_id uuid not null references ops.promotions (id) on delete cascade,
  system text not null check (system in ('stripe')),
  effects jsonb not null,
  applied_at timestamptz not null default now(),
  reverted_at timestamptz,
  primary key (promotion_id, system)
);

comment on table ops.promotion_effects is
  'External effects of each promotion (e.g. Stripe objects created), kept to revert them.';

alter table ops.promotion_effects enable row level security;

revoke all on table ops.promotion_effects from public, anon, authenticated;
grant select on table ops.promotion_effects to authenticated;
grant select, insert, update, delete on table ops.promotion_effects to service_role;

drop policy if exists "Ops members can read what promotions did outside the database"
  on ops.promotion_effects;
create policy "Ops members can read what promotions did outside the database"
  on ops.promotion_effects for select to authenticated
  using ((select ops.is_member()));
