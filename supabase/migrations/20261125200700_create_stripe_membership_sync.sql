-- Intent: memberships follow Stripe. `stripe.apply_membership(subscription_id)` derives the
-- membership of one mirrored subscription and writes `public.memberships`; it is the only
-- place that turns Stripe state into a membership (webhook, customer linking and
-- reconciliation all call it). `stripe.link_customer(...)` records which user a customer is.
--
-- Tier: the first item whose price is a tier price — by `tier_prices.stripe_price_id`, else
-- by the price's lookup key. Status, current period end and cancel_at_period_end come from
-- the subscription (cancellation at period end keeps the membership until Stripe ends it).
-- A live paid membership supersedes the user's live membership without a subscription (a free
-- tier), which is set to `canceled`. When no membership can be derived (customer not linked
-- to a known user, price of no tier, another live subscription) the reason is stored in
-- `stripe.subscriptions.membership_error` and returned: never silently dropped.

create or replace function stripe.known_user(user_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from auth.users as u where u.id = user_id);
$$;

comment on function stripe.known_user(uuid) is
  'True when the id is an auth user (lets the Stripe sync check a client_reference_id without reading auth.users).';

revoke all on function stripe.known_user(uuid) from public;
grant execute on function stripe.known_user(uuid) to stagecoach_stripe_sync, service_role;

create or replace function stripe.apply_membership(subscription_id text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  sub stripe.subscriptions%rowtype;
  linked_user uuid;
  tier uuid;
  first_price text;
  first_lookup text;
  problem text;
  live boolean;
  other text;
begin
  select * into sub from stripe.subscriptions as s where s.id = subscription_id;
  if not found then
    return format('Cannot set the membership of %s: it is not mirrored', subscription_id);
  end if;

  select l.user_id into linked_user from stripe.customer_links as l where l.customer_id = sub.customer_id;

  select i.price_id, i.data -> 'price' ->> 'lookup_key'
    into first_price, first_lookup
    from stripe.subscription_items as i
   where i.subscription_id = sub.id and not i.deleted
   order by i.position
   limit 1;

  select tp.tier_id into tier
    from stripe.subscription_items as i
    join public.tier_prices as tp
      on tp.stripe_price_id = i.price_id
      or (tp.lookup_key is not null and tp.lookup_key = i.data -> 'price' ->> 'lookup_key')
   where i.subscription_id = sub.id and not i.deleted
   order by i.position, (tp.stripe_price_id = i.price_id) desc
   limit 1;

  if linked_user is null then
    problem := format(
      'Cannot set the membership of %s: customer %s is not linked to a user',
      sub.id, sub.customer_id
    );
  elsif tier is null then
    problem := format(
      'Cannot set the membership of %s: price %s (lookup key %s) is not a tier price',
      sub.id, coalesce(first_price, 'none'), coalesce(first_lookup, 'none')
    );
  elsif sub.status not in (
    'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'
  ) then
    problem := format('Cannot set the membership of %s: unknown status %s', sub.id, sub.status);
  end if;

  if problem is null then
    live := sub.status not in ('canceled', 'incomplete_expired');
    if sub.status in ('active', 'trialing') then
      update public.memberships as m
         set status = 'canceled'
       where m.user_id = linked_user
         and m.stripe_subscription_id is null
         and m.status not in ('canceled', 'incomplete_expired');
    end if;
    if live then
      select m.stripe_subscription_id into other
        from public.memberships as m
       where m.user_id = linked_user
         and m.status not in ('canceled', 'incomplete_expired')
         and m.stripe_subscription_id is distinct from sub.id
       limit 1;
      if found then
        problem := format(
          'Cannot set the membership of %s: user %s already has a live membership (%s)',
          sub.id, linked_user, coalesce(other, 'without a subscription')
        );
      end if;
    end if;
  end if;

  if problem is null then
    insert into public.memberships as m (
      user_id, tier_id, status, stripe_customer_id, stripe_subscription_id,
      current_period_end, cancel_at_period_end
    )
    values (
      linked_user, tier, sub.status::public.membership_status, sub.customer_id, sub.id,
      sub.current_period_end, sub.cancel_at_period_end
    )
    on conflict (stripe_subscription_id) do update set
      user_id = excluded.user_id, tier_id = excluded.tier_id, status = excluded.status,
      stripe_customer_id = excluded.stripe_customer_id,
      current_period_end = excluded.current_period_end,
      cancel_at_period_end = excluded.cancel_at_period_end
    where (m.user_id, m.tier_id, m.status, m.stripe_customer_id, m.current_period_end, m.cancel_at_period_end)
      is distinct from
      (excluded.user_id, excluded.tier_id, excluded.status, excluded.stripe_customer_id,
       excluded.current_period_end, excluded.cancel_at_period_end);
  end if;

  update stripe.subscriptions as s
     set membership_error = problem
   where s.id = sub.id and s.membership_error is distinct from problem;
  return problem;
end;
$$;

comment on function stripe.apply_membership(text) is
  'Derives and writes the membership of one mirrored subscription; returns null, or why it could not.';

create or replace function stripe.link_customer(customer_id text, user_id uuid, source text)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  insert into stripe.customer_links as l (customer_id, user_id, source)
  values (link_customer.customer_id, link_customer.user_id, link_customer.source)
  on conflict on constraint customer_links_pkey do update
    set user_id = excluded.user_id, source = excluded.source, linked_at = now()
  where l.user_id is distinct from excluded.user_id;
  return found;
end;
$$;

comment on function stripe.link_customer(text, uuid, text) is
  'Records which Supabase user a Stripe customer is; true when the link was created or changed.';
