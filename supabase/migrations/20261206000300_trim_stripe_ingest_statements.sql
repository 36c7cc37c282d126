-- Intent: fewer statements per Stripe event in `stripe.ingest_events` (issue 13, item 4). At one
-- sender the webhook's time is Postgres CPU spent executing 10–15 PL/pgSQL statements per event
-- and two nested functions with `set search_path` (each a GUC save and restore). Behaviour is
-- unchanged; only the way there is shorter:
--
-- - Ordering guard and mirror write are one statement: an `insert … on conflict do update …
--   where` the row's event is older, returning the row. Only when it did not apply is the row
--   read, to tell a stale event from a same-second tie (re-read from Stripe) or a repeat. A
--   deleted stub or a `*.deleted` event (rare) still takes the guard read and
--   `stripe.write_object`, which keeps the last known object. An unchanged object keeps its
--   `synced_at`, as `stripe.write_object` does.
-- - The ledger row is written once, first, as `processed` (an insert that also tells a
--   duplicate: it counts the attempt and returns the status found), and updated only when the
--   outcome is another or the event is a retry — where a read before and an upsert after were
--   two statements for every event.
-- - A subscription's period end is computed inside its upsert; a new subscription skips the
--   "items no longer on it" update (it has none to drop).
-- - The membership is derived by `stripe.write_membership(...)` from the subscription's fields
--   the upsert returned, not read again; `stripe.apply_membership(id)` (customer links,
--   re-reads, reconciliation) reads the row and calls it. It reads the customer's user and the
--   tier's item in one statement, and cancels a free membership superseded by a paid one in the
--   same statement that looks for another live membership. Both are SECURITY INVOKER without a
--   SET clause (every name qualified; they run inside the SECURITY DEFINER entry points, whose
--   search_path is fixed).
--
-- stripe.ingest_events is that of 20261205000500 otherwise.
-- Revert: supabase/rollbacks/20261206000300_trim_stripe_ingest_statements.sql.

create or replace function stripe.write_membership(
  subscription_id text,
  customer_id text,
  status text,
  current_period_end timestamptz,
  cancel_at_period_end boolean,
  cancel_at timestamptz,
  prior_error text
)
returns text
language plpgsql
as $$
declare
  linked_user uuid;
  tier uuid;
  first_price text;
  first_lookup text;
  tier_period_end timestamptz;
  problem text;
  other text;
begin
  -- The customer's user, and the first item (by position) whose price is a tier price — by
  -- stripe_price_id, else by the price's lookup key; when none is, the first item (named in
  -- the error). The membership's period is that item's: with items on other intervals
  -- (add-ons, flexible billing) the subscription's latest period end is not the tier's.
  -- Events of API versions before 2025-03-31 carry no period on their items: the
  -- subscription's then.
  select (
           select l.user_id from stripe.customer_links as l
            where l.customer_id = write_membership.customer_id
         ),
         x.price_id, x.lookup_key, x.tier_id, x.current_period_end
    into linked_user, first_price, first_lookup, tier, tier_period_end
    from (select 1) as one
    left join lateral (
      select y.* from (
        select i.position, i.price_id, i.data -> 'price' ->> 'lookup_key' as lookup_key,
               i.current_period_end,
               coalesce(
                 (select tp.tier_id from public.tier_prices as tp where tp.stripe_price_id = i.price_id),
                 (select tp.tier_id from public.tier_prices as tp
                   where tp.lookup_key = i.data -> 'price' ->> 'lookup_key')
               ) as tier_id
          from stripe.subscription_items as i
         where i.subscription_id = write_membership.subscription_id and not i.deleted
      ) as y
      order by y.tier_id is null, y.position
      limit 1
    ) as x on true;

  if linked_user is null then
    problem := format(
      'Cannot set the membership of %s: customer %s is not linked to a user',
      subscription_id, customer_id
    );
  elsif tier is null then
    problem := format(
      'Cannot set the membership of %s: price %s (lookup key %s) is not a tier price',
      subscription_id, coalesce(first_price, 'none'), coalesce(first_lookup, 'none')
    );
  elsif status not in (
    'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'
  ) then
    problem := format('Cannot set the membership of %s: unknown status %s', subscription_id, status);
  end if;

  if problem is null and status not in ('canceled', 'incomplete_expired') then
    -- An active or trialing subscription supersedes the user's live membership without a
    -- subscription (canceled here); any other live membership of the user blocks it. The
    -- lookup sees the memberships as before the update, so it leaves the superseded one out.
    with superseded as (
      update public.memberships as m
         set status = 'canceled'
       where write_membership.status in ('active', 'trialing')
         and m.user_id = linked_user
         and m.stripe_subscription_id is null
         and m.status not in ('canceled', 'incomplete_expired')
      returning 1
    )
    select m.stripe_subscription_id into other
      from public.memberships as m
     where m.user_id = linked_user
       and m.status not in ('canceled', 'incomplete_expired')
       and m.stripe_subscription_id is distinct from write_membership.subscription_id
       and not (write_membership.status in ('active', 'trialing') and m.stripe_subscription_id is null)
     limit 1;
    if found then
      problem := format(
        'Cannot set the membership of %s: user %s already has a live membership (%s)',
        subscription_id, linked_user, coalesce(other, 'without a subscription')
      );
    end if;
  end if;

  if problem is null then
    insert into public.memberships as m (
      user_id, tier_id, status, stripe_customer_id, stripe_subscription_id,
      current_period_end, cancel_at_period_end, cancel_at
    )
    values (
      linked_user, tier, status::public.membership_status, customer_id, subscription_id,
      coalesce(tier_period_end, write_membership.current_period_end),
      write_membership.cancel_at_period_end, write_membership.cancel_at
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

  if problem is distinct from prior_error then
    update stripe.subscriptions as s set membership_error = problem
     where s.id = write_membership.subscription_id;
    -- Events that waited for this membership are settled once it can be derived.
    if problem is null then
      perform stripe.settle_unresolved(write_membership.subscription_id);
    end if;
  end if;
  return problem;
end;
$$;

comment on function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text) is
  'Derives and writes the membership of a subscription from its mirrored fields (prior_error: its membership_error), settling events that waited for it; returns null, or why it could not.';

create or replace function stripe.apply_membership(subscription_id text)
returns text
language plpgsql
as $$
declare
  sub record;
begin
  select s.id, s.customer_id, s.status, s.current_period_end, s.cancel_at_period_end,
         to_timestamp((s.data ->> 'cancel_at')::bigint) as cancel_at, s.membership_error
    into sub
    from stripe.subscriptions as s where s.id = subscription_id;
  if not found then
    return format('Cannot set the membership of %s: it is not mirrored', subscription_id);
  end if;
  return stripe.write_membership(
    sub.id, sub.customer_id, sub.status, sub.current_period_end, sub.cancel_at_period_end,
    sub.cancel_at, sub.membership_error
  );
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
  gone boolean;
  applied boolean;
  fresh boolean;
  sub_customer text;
  sub_status text;
  sub_period_end timestamptz;
  sub_cancel_at_period_end boolean;
  sub_cancel_at timestamptz;
  sub_error text;
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
    -- The ledger row first, written as the usual outcome (`processed`) and changed below only
    -- when the outcome differs or the event is a retry; a second delivery counts an attempt
    -- and reads the status it found.
    insert into stripe.events as e (
      id, type, object_id, created, livemode, api_version, status, processed_at
    )
    values (
      event_id, event_type, event ->> 'object_id', created,
      coalesce((event ->> 'livemode')::boolean, false), event ->> 'api_version', 'processed', now()
    )
    on conflict (id) do update set attempts = e.attempts + 1
    returning e.status, (e.xmax = 0) into prior_status, inserted;
    if not inserted and prior_status in ('processed', 'ignored', 'unresolved') then
      results := results || jsonb_build_array(
        jsonb_build_object('outcome', 'duplicate', 'status', prior_status)
      );
      continue;
    end if;

    if action = 'sync' then
      kind := plan ->> 'kind';
      gone := coalesce((plan ->> 'deleted')::boolean, false)
        or coalesce((obj ->> 'deleted')::boolean, false);
      applied := false;
      if not gone then
        -- The ordering guard and the write in one statement: the row is written when it is
        -- new or its event is older (an unchanged object keeps its synced_at); otherwise
        -- nothing is returned and the guard reads the row below.
        case kind
          when 'product' then
            insert into stripe.products as t (
              id, name, active, tier_slug, deleted, data, event_created, event_id
            )
            values (
              object_id, obj ->> 'name', coalesce((obj ->> 'active')::boolean, true),
              obj -> 'metadata' ->> 'tier_slug', false, obj, created, event_id
            )
            on conflict (id) do update set
              name = excluded.name, active = excluded.active, tier_slug = excluded.tier_slug,
              deleted = false, data = excluded.data, event_created = excluded.event_created,
              event_id = excluded.event_id,
              synced_at = case when t.data = excluded.data and not t.deleted then t.synced_at else now() end
            where t.event_created is null or t.event_created < excluded.event_created
            returning (t.xmax = 0) into fresh;
          when 'price' then
            insert into stripe.prices as t (
              id, product_id, active, currency, unit_amount, recurring_interval,
              recurring_interval_count, lookup_key, deleted, data, event_created, event_id
            )
            values (
              object_id,
              coalesce(obj -> 'product' ->> 'id', obj ->> 'product'),
              coalesce((obj ->> 'active')::boolean, true),
              obj ->> 'currency',
              (obj ->> 'unit_amount')::bigint,
              obj -> 'recurring' ->> 'interval',
              (obj -> 'recurring' ->> 'interval_count')::integer,
              obj ->> 'lookup_key',
              false, obj, created, event_id
            )
            on conflict (id) do update set
              product_id = excluded.product_id, active = excluded.active, currency = excluded.currency,
              unit_amount = excluded.unit_amount, recurring_interval = excluded.recurring_interval,
              recurring_interval_count = excluded.recurring_interval_count,
              lookup_key = excluded.lookup_key, deleted = false, data = excluded.data,
              event_created = excluded.event_created, event_id = excluded.event_id,
              synced_at = case when t.data = excluded.data and not t.deleted then t.synced_at else now() end
            where t.event_created is null or t.event_created < excluded.event_created
            returning (t.xmax = 0) into fresh;
          when 'customer' then
            insert into stripe.customers as t (id, email, deleted, data, event_created, event_id)
            values (object_id, obj ->> 'email', false, obj, created, event_id)
            on conflict (id) do update set
              email = excluded.email, deleted = false, data = excluded.data,
              event_created = excluded.event_created, event_id = excluded.event_id,
              synced_at = case when t.data = excluded.data and not t.deleted then t.synced_at else now() end
            where t.event_created is null or t.event_created < excluded.event_created
            returning (t.xmax = 0) into fresh;
          when 'subscription' then
            -- Since API version 2025-03-31 the period lives on the items; older versions keep
            -- it on the subscription.
            insert into stripe.subscriptions as t (
              id, customer_id, status, cancel_at_period_end, current_period_end, data,
              event_created, event_id
            )
            values (
              object_id,
              coalesce(obj -> 'customer' ->> 'id', obj ->> 'customer'),
              obj ->> 'status',
              coalesce((obj ->> 'cancel_at_period_end')::boolean, false),
              coalesce(
                (select max(to_timestamp((i ->> 'current_period_end')::bigint))
                   from jsonb_array_elements(coalesce(obj -> 'items' -> 'data', '[]'::jsonb)) as i),
                to_timestamp((obj ->> 'current_period_end')::bigint)
              ),
              obj, created, event_id
            )
            on conflict (id) do update set
              customer_id = excluded.customer_id, status = excluded.status,
              cancel_at_period_end = excluded.cancel_at_period_end,
              current_period_end = excluded.current_period_end, data = excluded.data,
              event_created = excluded.event_created, event_id = excluded.event_id,
              synced_at = case when t.data = excluded.data then t.synced_at else now() end
            where t.event_created is null or t.event_created < excluded.event_created
            returning (t.xmax = 0), t.customer_id, t.status, t.current_period_end,
                      t.cancel_at_period_end, to_timestamp((t.data ->> 'cancel_at')::bigint),
                      t.membership_error
              into fresh, sub_customer, sub_status, sub_period_end, sub_cancel_at_period_end,
                   sub_cancel_at, sub_error;
          else
            raise exception 'Cannot ingest Stripe event %: unknown kind %', event_id, coalesce(kind, 'null')
              using errcode = 'invalid_parameter_value';
        end case;
        applied := found;
        if applied and kind = 'subscription' then
          insert into stripe.subscription_items as t (
            id, subscription_id, position, price_id, quantity, current_period_end, deleted, data
          )
          select
            i ->> 'id', object_id, (n - 1)::integer,
            coalesce(i -> 'price' ->> 'id', i ->> 'price'),
            (i ->> 'quantity')::integer,
            to_timestamp((i ->> 'current_period_end')::bigint),
            false, i
          from jsonb_array_elements(coalesce(obj -> 'items' -> 'data', '[]'::jsonb))
            with ordinality as e (i, n)
          on conflict (id) do update set
            subscription_id = excluded.subscription_id, position = excluded.position,
            price_id = excluded.price_id, quantity = excluded.quantity,
            current_period_end = excluded.current_period_end, deleted = false, data = excluded.data,
            synced_at = now()
          where (t.subscription_id, t.position, t.price_id, t.quantity, t.current_period_end, t.deleted, t.data)
            is distinct from
            (excluded.subscription_id, excluded.position, excluded.price_id, excluded.quantity,
             excluded.current_period_end, false, excluded.data);
          -- Items no longer on the subscription (a new subscription has none to drop).
          if not fresh then
            update stripe.subscription_items as t
               set deleted = true, synced_at = now()
             where t.subscription_id = object_id
               and not t.deleted
               and t.id not in (
                 select i ->> 'id'
                 from jsonb_array_elements(coalesce(obj -> 'items' -> 'data', '[]'::jsonb)) as i
               );
          end if;
          problem := stripe.write_membership(
            object_id, sub_customer, sub_status, sub_period_end, sub_cancel_at_period_end,
            sub_cancel_at, sub_error
          );
        end if;
      end if;

      if not applied then
        -- The ordering guard's read (stripe.mirror_guard, inlined): why the write above did
        -- not apply, or whether a deleted stub or a *.deleted event applies.
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
          -- A deleted stub keeps the last known object (stripe.write_object).
          perform stripe.write_object(kind, obj, created, event_id, coalesce((plan ->> 'deleted')::boolean, false));
          if kind = 'subscription' then
            problem := stripe.apply_membership(object_id);
          end if;
          applied := true;
        end if;
      end if;
      if applied then
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

    -- The outcome on the ledger row when it is not the one written above (unresolved, or
    -- waiting for a fetch: still `processing`) or the event is a retry (its error cleared).
    if not inserted or outcome <> 'processed' then
      update stripe.events as e
         set status = case when outcome = 'fetch' then 'processing' else outcome end,
             error = problem,
             processed_at = case when outcome = 'fetch' then null else now() end
       where e.id = event_id;
    end if;
    results := results || jsonb_build_array(result);
  end loop;
  return results;
end;
$$;

comment on function stripe.ingest_events(jsonb) is
  'Records a batch of Stripe events in the ledger and applies their plans; one result per item, in order.';


-- Ownership and privileges as for the other helpers: run as the Stripe sync role, called only
-- from its entry points.
grant create on schema stripe to stagecoach_stripe_sync;
alter function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)
  owner to stagecoach_stripe_sync;
revoke create on schema stripe from stagecoach_stripe_sync;
revoke all on function stripe.write_membership(text, text, text, timestamptz, boolean, timestamptz, text)
  from public;
