-- Intent: what the `stripe.reconcile` job needs in the database: a scratch list of the objects
-- a run has seen in Stripe (`stripe.reconcile_seen`, so the run can tell which mirrored
-- objects Stripe no longer lists, and resume after a crash without re-listing), and the
-- entry points it calls, owned by the Stripe sync role like the webhook's.
--
-- stripe.reconcile_write(job_id, kind, objects, stamp): writes one listed page (each object
--   as stripe.apply_fetched would: newer than every event before `stamp`, memberships
--   re-derived), marks the objects seen and returns what changed:
--   {"created", "updated", "unchanged", "memberships", "unresolved"}.
-- stripe.reconcile_unseen(job_id, kind, after, limit): mirrored, not-deleted objects of a kind
--   the run did not see, in id order after `after` (candidates for deletion).
-- stripe.reconcile_forget(job_id): drops the run's scratch rows (at its end).

create table if not exists stripe.reconcile_seen (
  job_id uuid not null,
  kind text not null check (kind in ('product', 'price', 'customer', 'subscription')),
  id text not null,
  primary key (job_id, kind, id)
);

comment on table stripe.reconcile_seen is
  'Scratch: objects a stripe.reconcile job saw in Stripe; dropped when the job ends.';

alter table stripe.reconcile_seen enable row level security;

revoke all on table stripe.reconcile_seen from public, anon, authenticated;
grant select on table stripe.reconcile_seen to authenticated;
grant select, insert, update, delete on table stripe.reconcile_seen to service_role;
grant select, insert, delete on table stripe.reconcile_seen to stagecoach_stripe_sync;

drop policy if exists "Ops members can read what reconciliation has seen" on stripe.reconcile_seen;
create policy "Ops members can read what reconciliation has seen"
  on stripe.reconcile_seen for select to authenticated
  using ((select ops.is_member()));

drop policy if exists "The Stripe sync tracks what reconciliation has seen" on stripe.reconcile_seen;
create policy "The Stripe sync tracks what reconciliation has seen"
  on stripe.reconcile_seen for all to stagecoach_stripe_sync
  using (true) with check (true);

-- A membership as text, to tell whether a write changed it.
create or replace function stripe.membership_state(subscription_id text)
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select row(m.user_id, m.tier_id, m.status, m.current_period_end, m.cancel_at_period_end)::text
       from public.memberships as m where m.stripe_subscription_id = membership_state.subscription_id),
    ''
  );
$$;

create or replace function stripe.reconcile_write(
  job_id uuid,
  kind text,
  objects jsonb,
  stamp timestamptz
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  obj jsonb;
  result jsonb;
  before_membership text;
  counts jsonb := jsonb_build_object(
    'created', 0, 'updated', 0, 'unchanged', 0, 'memberships', 0, 'unresolved', 0
  );
begin
  if kind not in ('product', 'price', 'customer', 'subscription') then
    raise exception 'Cannot reconcile Stripe objects: unknown kind %', kind
      using errcode = 'invalid_parameter_value';
  end if;
  for obj in select value from jsonb_array_elements(objects) loop
    if kind = 'subscription' then
      before_membership := stripe.membership_state(obj ->> 'id');
    end if;
    result := stripe.apply_fetched(null, kind, obj, stamp);
    counts := jsonb_set(
      counts, array[result ->> 'write'], to_jsonb(coalesce((counts ->> (result ->> 'write'))::int, 0) + 1)
    );
    if kind = 'subscription' then
      if stripe.membership_state(obj ->> 'id') is distinct from before_membership then
        counts := jsonb_set(counts, '{memberships}', to_jsonb((counts ->> 'memberships')::int + 1));
      end if;
      if result ->> 'error' is not null then
        counts := jsonb_set(counts, '{unresolved}', to_jsonb((counts ->> 'unresolved')::int + 1));
      end if;
    end if;
    insert into stripe.reconcile_seen (job_id, kind, id)
    values (reconcile_write.job_id, reconcile_write.kind, obj ->> 'id')
    on conflict do nothing;
  end loop;
  return counts;
end;
$$;

comment on function stripe.reconcile_write(uuid, text, jsonb, timestamptz) is
  'Writes one page listed from Stripe into the mirror (memberships re-derived), marks it seen, returns counts.';

create or replace function stripe.reconcile_unseen(job_id uuid, kind text, after text, max_rows integer)
returns setof text
language sql
stable
security definer
set search_path = ''
as $$
  select o.id
  from (
    select p.id from stripe.products as p where reconcile_unseen.kind = 'product' and not p.deleted
    union all
    select p.id from stripe.prices as p where reconcile_unseen.kind = 'price' and not p.deleted
    union all
    select c.id from stripe.customers as c where reconcile_unseen.kind = 'customer' and not c.deleted
    union all
    select s.id from stripe.subscriptions as s where reconcile_unseen.kind = 'subscription'
  ) as o
  where o.id > coalesce(reconcile_unseen.after, '')
    and not exists (
      select 1 from stripe.reconcile_seen as r
      where r.job_id = reconcile_unseen.job_id and r.kind = reconcile_unseen.kind and r.id = o.id
    )
  order by o.id
  limit reconcile_unseen.max_rows;
$$;

comment on function stripe.reconcile_unseen(uuid, text, text, integer) is
  'Mirrored objects of a kind a reconciliation run did not see in Stripe, in id order after `after`.';

create or replace function stripe.reconcile_forget(job_id uuid)
returns void
language sql
security definer
set search_path = ''
as $$
  delete from stripe.reconcile_seen as r where r.job_id = reconcile_forget.job_id;
$$;

comment on function stripe.reconcile_forget(uuid) is 'Drops the scratch rows of a reconciliation run.';

grant create on schema stripe to stagecoach_stripe_sync;
alter function stripe.membership_state(text) owner to stagecoach_stripe_sync;
alter function stripe.reconcile_write(uuid, text, jsonb, timestamptz) owner to stagecoach_stripe_sync;
alter function stripe.reconcile_unseen(uuid, text, text, integer) owner to stagecoach_stripe_sync;
alter function stripe.reconcile_forget(uuid) owner to stagecoach_stripe_sync;
revoke create on schema stripe from stagecoach_stripe_sync;

revoke all on function stripe.membership_state(text) from public;
revoke all on function stripe.reconcile_write(uuid, text, jsonb, timestamptz) from public;
revoke all on function stripe.reconcile_unseen(uuid, text, text, integer) from public;
revoke all on function stripe.reconcile_forget(uuid) from public;
grant execute on function stripe.reconcile_write(uuid, text, jsonb, timestamptz) to service_role;
grant execute on function stripe.reconcile_unseen(uuid, text, text, integer) to service_role;
grant execute on function stripe.reconcile_forget(uuid) to service_role;

-- Links a customer to the user a completed checkout session names (reconciliation's repair
-- of a lost checkout.session.completed): 'linked', 'unchanged' or 'unknown_user'.
create or replace function stripe.reconcile_link(customer_id text, user_id text, source text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  uid uuid;
  sub_id text;
begin
  begin
    uid := user_id::uuid;
  exception when invalid_text_representation then
    return 'unknown_user';
  end;
  if customer_id is null or not stripe.known_user(uid) then
    return 'unknown_user';
  end if;
  perform stripe.lock_object(customer_id);
  if not stripe.link_customer(customer_id, uid, source) then
    return 'unchanged';
  end if;
  for sub_id in
    select s.id from stripe.subscriptions as s where s.customer_id = reconcile_link.customer_id order by s.id
  loop
    perform stripe.lock_object(sub_id);
    perform stripe.follow_subscription(sub_id);
  end loop;
  return 'linked';
end;
$$;

comment on function stripe.reconcile_link(text, text, text) is
  'Links a customer to a user named by a completed checkout session: linked | unchanged | unknown_user.';

grant create on schema stripe to stagecoach_stripe_sync;
alter function stripe.reconcile_link(text, text, text) owner to stagecoach_stripe_sync;
revoke create on schema stripe from stagecoach_stripe_sync;
revoke all on function stripe.reconcile_link(text, text, text) from public;
grant execute on function stripe.reconcile_link(text, text, text) to service_role;
