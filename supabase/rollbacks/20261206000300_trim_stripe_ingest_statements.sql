-- Reverts 20261206000300_trim_stripe_ingest_statements: stripe.ingest_events and
-- stripe.apply_membership as 20261205000500 made them (copied from it), then
-- stripe.write_membership dropped.

create or replace function stripe.apply_membership(subscription_id text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  sub record;
  linked_user uuid;
  tier uuid;
  first_price text;
  first_lookup text;
  tier_period_end timestamptz;
  problem text;
  other text;
begin
  select s.id, s.customer_id, s.status, s.current_period_end, s.cancel_at_period_end,
         to_timestamp((s.data ->> 'cancel_at')::bigint) as cancel_at, s.membership_error
    into sub
    from stripe.subscriptions as s where s.id = subscription_id;
  if not found then
    return format('Cannot set the membership of %s: it is not mirrored', subscription_id);
  end if;

  select l.user_id into linked_user from stripe.customer_links as l where l.customer_id = sub.customer_id;

  -- The first item (by position) whose price is a tier price — by stripe_price_id, else by
  -- the price's lookup key; when none is, the first item (named in the error). The
  -- membership's period is that item's: with items on other intervals (add-ons, flexible
  -- billing) the subscription's latest period end is not the tier's. Events of API versions
  -- before 2025-03-31 carry no period on their items: the subscription's then.
  select x.price_id, x.lookup_key, x.tier_id, x.current_period_end
    into first_price, first_lookup, tier, tier_period_end
    from (
      select i.position, i.price_id, i.data -> 'price' ->> 'lookup_key' as lookup_key,
             i.current_period_end,
             coalesce(
               (select tp.tier_id from public.tier_prices as tp where tp.stripe_price_id = i.price_id),
               (select tp.tier_id from public.tier_prices as tp
                 where tp.lookup_key = i.data -> 'price' ->> 'lookup_key')
             ) as tier_id
        from stripe.subscription_items as i
       where i.subscription_id = sub.id and not i.deleted
    ) as x
   order by x.tier_id is null, x.position
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
    if sub.status in ('active', 'trialing') then
      update public.memberships as m
         set status = 'canceled'
       where m.user_id = linked_user
         and m.stripe_subscription_id is null
         and m.status not in ('canceled', 'incomplete_expired');
    end if;
    if sub.status not in ('canceled', 'incomplete_expired') then
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
      current_period_end, cancel_at_period_end, cancel_at
    )
    values (
      linked_user, tier, sub.status::public.membership_status, sub.customer_id, sub.id,
      coalesce(tier_period_end, sub.current_period_end), sub.cancel_at_period_end, sub.cancel_at
    )
    on conflict (stripe_subscription_id) do update set
      user_id = excluded.user_id, tier_id = excluded.tier_id, status = excluded.status,
      stripe_customer_id = excluded.stripe_customer_id,
      current_period_end = excluded.current_period_end,
      cancel_at_period_end = excluded.cancel_at_period_end,
      cancel_at = excluded.cancel_at
    where (m.user_id, m.tier_id, m.status, m.stripe_customer_id, m.current_period_end,
           m.cancel_at_period_end, m.cancel_at)
      is distinct from
      (excluded.user_id, excluded.tier_id, excluded.status, excluded.stripe_customer_id,
       excluded.current_period_end, excluded.cancel_at_period_end, excluded.cancel_at);
  end if;

  if problem is distinct from sub.membership_error then
    update stripe.subscriptions as s set membership_error = problem where s.id = sub.id;
    -- Events that waited for this membership are settled once it can be derived.
    if problem is null then
      perform stripe.settle_unresolved(sub.id);
    end if;
  end if;
  return problem;
end;
$$;

comment on function stripe.apply_membership(text) is
  'Derives and writes the membership of one mirrored subscription, settling events that waited for it; returns null, or why it could not.';


create or replace function stripe.ingest_events(batch jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  item jsonb;
  event jsonb;
  plan jsonb;
  results jsonb := '[]'::jsonb;
  result jsonb;
  event_id text;
  event_type text;
  created timestamptz;
  action text;
  prior_status text;
  inserted boolean;
  kind text;
  obj jsonb;
  object_id text;
  row_created timestamptz;
  row_event text;
  problem text;
  linked_user uuid;
  sub_id text;
  problems text[];
  outcome text;
begin
  if jsonb_typeof(batch) is distinct from 'array' then
    raise exception 'Cannot ingest Stripe events: the batch is not a JSON array'
      using errcode = 'invalid_parameter_value';
  end if;

  for item in select b.value from jsonb_array_elements(batch) as b loop
    event := item -> 'event';
    plan := item -> 'plan';
    event_id := event ->> 'id';
    event_type := event ->> 'type';
    action := plan ->> 'action';
    problem := null;
    if event_id is null or event_type is null or event ->> 'created' is null then
      raise exception 'Cannot ingest a Stripe event: id, type and created are required'
        using errcode = 'invalid_parameter_value';
    end if;
    created := to_timestamp((event ->> 'created')::bigint);

    if action in ('ignore', 'refresh') then
      -- No object to lock: the ledger row itself tells a duplicate (a concurrent insert of
      -- the same id waits for the first to commit).
      insert into stripe.events as e (
        id, type, object_id, created, livemode, api_version, status, processed_at
      )
      values (
        event_id, event_type, event ->> 'object_id', created,
        coalesce((event ->> 'livemode')::boolean, false), event ->> 'api_version',
        case when action = 'ignore' then 'ignored' else 'processing' end,
        case when action = 'ignore' then now() end
      )
      on conflict (id) do update set attempts = e.attempts + 1
      returning e.status, (e.xmax = 0) into prior_status, inserted;
      if not inserted and prior_status in ('processed', 'ignored', 'unresolved') then
        result := jsonb_build_object('outcome', 'duplicate', 'status', prior_status);
      elsif action = 'ignore' then
        result := jsonb_build_object('outcome', 'ignored');
      else
        result := jsonb_build_object(
          'outcome', 'fetch', 'fetch', jsonb_build_object('kind', plan ->> 'kind', 'id', plan ->> 'id')
        );
      end if;
      results := results || jsonb_build_array(result);
      continue;
    end if;

    -- sync and link: the object's lock first (every writer of an object takes it first, so
    -- two deliveries of one event run one after the other), then the ledger.
    if action = 'sync' then
      obj := coalesce(plan -> 'object', item #> '{body,data,object}');
      object_id := obj ->> 'id';
      if object_id is null then
        raise exception 'Cannot ingest Stripe event %: its object has no id', event_id
          using errcode = 'invalid_parameter_value';
      end if;
    elsif action = 'link' then
      object_id := plan ->> 'customer';
    else
      raise exception 'Cannot ingest Stripe event %: unknown plan action %', event_id, coalesce(action, 'null')
        using errcode = 'invalid_parameter_value';
    end if;
    if object_id is not null then
      perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('stripe:' || object_id, 0));
    end if;
    select e.status into prior_status from stripe.events as e where e.id = event_id;
    if prior_status in ('processed', 'ignored', 'unresolved') then
      update stripe.events as e set attempts = e.attempts + 1 where e.id = event_id;
      results := results || jsonb_build_array(
        jsonb_build_object('outcome', 'duplicate', 'status', prior_status)
      );
      continue;
    end if;

    if action = 'sync' then
      kind := plan ->> 'kind';
      -- The ordering guard (stripe.mirror_guard, inlined).
      row_created := null;
      row_event := null;
      case kind
        when 'product' then
          select p.event_created, p.event_id into row_created, row_event
            from stripe.products as p where p.id = object_id;
        when 'price' then
          select p.event_created, p.event_id into row_created, row_event
            from stripe.prices as p where p.id = object_id;
        when 'customer' then
          select c.event_created, c.event_id into row_created, row_event
            from stripe.customers as c where c.id = object_id;
        when 'subscription' then
          select s.event_created, s.event_id into row_created, row_event
            from stripe.subscriptions as s where s.id = object_id;
        else
          raise exception 'Cannot ingest Stripe event %: unknown kind %', event_id, coalesce(kind, 'null')
            using errcode = 'invalid_parameter_value';
      end case;
      if row_created is not null and created = row_created and row_event is distinct from event_id then
        -- Another event of the same second wrote the row: re-read the object from Stripe
        -- rather than guess which is newer.
        outcome := 'fetch';
        result := jsonb_build_object(
          'outcome', 'fetch', 'fetch', jsonb_build_object('kind', kind, 'id', object_id)
        );
      elsif row_created is not null and created <= row_created then
        -- Newer state is mirrored already, or this very event wrote it.
        outcome := 'processed';
        result := jsonb_build_object('outcome', 'stale');
      else
        perform stripe.write_object(kind, obj, created, event_id, coalesce((plan ->> 'deleted')::boolean, false));
        if kind = 'subscription' then
          problem := stripe.apply_membership(object_id);
        end if;
        outcome := case when problem is null then 'processed' else 'unresolved' end;
        result := jsonb_build_object('outcome', outcome, 'error', problem);
      end if;
    else
      -- link
      problems := '{}'::text[];
      begin
        linked_user := (plan ->> 'user')::uuid;
      exception when invalid_text_representation then
        linked_user := null;
      end;
      if object_id is null or linked_user is null or not stripe.known_user(linked_user) then
        problem := format(
          'Cannot link customer %s: the checkout session names no known user (client_reference_id or metadata.supabase_user_id)',
          coalesce(object_id, 'none')
        );
        outcome := 'unresolved';
      else
        perform stripe.link_customer(object_id, linked_user, coalesce(plan ->> 'source', event_type));
        for sub_id in
          select s.id from stripe.subscriptions as s where s.customer_id = object_id order by s.id
        loop
          perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('stripe:' || sub_id, 0));
          problem := stripe.apply_membership(sub_id);
          if problem is not null then
            problems := problems || problem;
          end if;
        end loop;
        if plan ->> 'subscription' is not null
           and not exists (select 1 from stripe.subscriptions as s where s.id = plan ->> 'subscription') then
          outcome := 'fetch';
        else
          problem := nullif(array_to_string(problems, '; '), '');
          outcome := case when problem is null then 'processed' else 'unresolved' end;
        end if;
      end if;
      result := case
        when outcome = 'fetch' then jsonb_build_object(
          'outcome', 'fetch',
          'fetch', jsonb_build_object('kind', 'subscription', 'id', plan ->> 'subscription')
        )
        else jsonb_build_object('outcome', outcome, 'error', problem)
      end;
    end if;

    -- The ledger in one write (stripe.record_event, inlined): a new row or a retried one; an
    -- event waiting for a fetch stays `processing`.
    insert into stripe.events as e (
      id, type, object_id, created, livemode, api_version, status, error, processed_at
    )
    values (
      event_id, event_type, event ->> 'object_id', created,
      coalesce((event ->> 'livemode')::boolean, false), event ->> 'api_version',
      case when outcome = 'fetch' then 'processing' else outcome end,
      problem,
      case when outcome = 'fetch' then null else now() end
    )
    on conflict (id) do update set
      attempts = e.attempts + 1, status = excluded.status, error = excluded.error,
      processed_at = excluded.processed_at;
    results := results || jsonb_build_array(result);
  end loop;
  return results;
end;
$$;

comment on function stripe.ingest_events(jsonb) is
  'Records a batch of Stripe events in the ledger and applies their plans; one result per item, in order.';


drop function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text);
