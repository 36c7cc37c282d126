-- Intent: the result of every validation check, after each apply and for standalone parity
-- checks (`stagecoach validate`): which check, passed or not, and the offending rows.

create table if not exists ops.validation_results (
  id bigint generated always as identity primary key,
  promotion_id uuid references ops.promotions (id) on delete cascade,
  source_env text not null,
  target_env text not null,
  check_name text not null,
  passed boolean not null,
  details jsonb not null default '{}'::jsonb,
  run_at timestamptz not null default now(),
  run_by uuid default auth.uid() references auth.users (id) on delete set null
);

comment on table ops.validation_results is
  'Validation check results: after each apply (promotion_id) or standalone (promotion_id null).';

create index if not exists validation_results_promotion_idx on ops.validation_results (promotion_id);
create index if not exists validation_results_run_by_idx on ops.validation_results (run_by);

alter table ops.validation_results enable row level security;

revoke all on table ops.validation_results from public, anon;
grant select on table ops.validation_results to authenticated;
grant select, insert on table ops.validation_results to service_role;

drop policy if exists "Ops members can read validation results" on ops.validation_results;
create policy "Ops members can read validation results"
  on ops.validation_results for select to authenticated
  using ((select ops.is_member()));
