-- Intent: the functions that write one Stripe object into the mirror, with the ordering
-- guard, as the Stripe sync role (they are owned by stagecoach_stripe_sync and run as it).
--
-- stripe.lock_object(id): serialises all work on one Stripe object (transaction advisory lock).
-- stripe.mirror_guard(kind, id, created, event_id): 'apply' when the event is newer than the
--   row (or the row is new), 'stale' when the row holds newer state, 'tie' when another event
--   of the same second wrote it (the caller then re-fetches the object from Stripe rather than
--   guess), 'same' when this very event wrote it.
-- stripe.write_object(kind, object, stamp, event_id): upserts the object (a `deleted: true`
--   stub or a `*.deleted` event marks the row deleted, keeping its last data); returns
--   'created', 'updated' or 'unchanged'. Subscriptions also replace their items.

create or replace function stripe.lock_object(object_id text)
returns void
language sql
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('stripe:' || object_id, 0));
$$;

comment on function stripe.lock_object(text) is
  'Takes a transaction-scoped advisory lock on one Stripe object id.';

create or replace function stripe.mirror_guard(
  kind text,
  object_id text,
  event_created timestamptz,
  event_id text
)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  row_created timestamptz;
  row_event text;
begin
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
      raise exception 'Cannot guard a Stripe object: unknown kind %', kind
        using errcode = 'invalid_parameter_value';
  end case;
  if row_created is null or event_created > row_created then
    return 'apply';
  elsif event_created < row_created then
    return 'stale';
  elsif row_event = event_id then
    return 'same';
  end if;
  return 'tie';
end;
$$;

comment on function stripe.mirror_guard(text, text, timestamptz, text) is
  'Ordering guard: apply | stale | tie | same, comparing an event with the row it would write.';

create or replace function stripe.write_object(
  kind text,
  obj jsonb,
  stamp timestamptz,
  event_id text,
  mark_deleted boolean default false
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  object_id text := obj ->> 'id';
  is_stub boolean := coalesce((obj ->> 'deleted')::boolean, false);
  gone boolean := mark_deleted or is_stub;
  old_data jsonb;
  old_deleted boolean;
  new_data jsonb;
  period_end timestamptz;
  outcome text;
begin
  if object_id is null then
    raise exception 'Cannot mirror a Stripe object: it has no id' using errcode = 'invalid_parameter_value';
  end if;

  case kind
    when 'product' then
      select p.data, p.deleted into old_data, old_deleted from stripe.products as p where p.id = object_id;
    when 'price' then
      select p.data, p.deleted into old_data, old_deleted from stripe.prices as p where p.id = object_id;
    when 'customer' then
      select c.data, c.deleted into old_data, old_deleted from stripe.customers as c where c.id = object_id;
    when 'subscription' then
      select s.data, false into old_data, old_deleted from stripe.subscriptions as s where s.id = object_id;
    else
      raise exception 'Cannot mirror a Stripe object: unknown kind %', kind
        using errcode = 'invalid_parameter_value';
  end case;

  -- A deleted stub carries no fields: keep the last known object.
  new_data := case when is_stub then coalesce(old_data, obj) else obj end;
  if old_data is not null and old_data = new_data and old_deleted = gone then
    outcome := 'unchanged';
  elsif old_data is null then
    outcome := 'created';
  else
    outcome := 'updated';
  end if;

  if outcome = 'unchanged' then
    -- Nothing to write; an event still moves the guard forward (a reconciliation pass,
    -- which has no event id, leaves an unchanged row alone).
    if event_id is not null then
      case kind
        when 'product' then
          update stripe.products as t set event_created = stamp, event_id = write_object.event_id
           where t.id = object_id and (t.event_created is null or t.event_created < stamp);
        when 'price' then
          update stripe.prices as t set event_created = stamp, event_id = write_object.event_id
           where t.id = object_id and (t.event_created is null or t.event_created < stamp);
        when 'customer' then
          update stripe.customers as t set event_created = stamp, event_id = write_object.event_id
           where t.id = object_id and (t.event_created is null or t.event_created < stamp);
        when 'subscription' then
          update stripe.subscriptions as t set event_created = stamp, event_id = write_object.event_id
           where t.id = object_id and (t.event_created is null or t.event_created < stamp);
      end case;
    end if;
    return outcome;
  end if;

  case kind
    when 'product' then
      insert into stripe.products as t (id, name, active, tier_slug, deleted, data, event_created, event_id)
      values (
        object_id, new_data ->> 'name', coalesce((new_data ->> 'active')::boolean, true),
        new_data -> 'metadata' ->> 'tier_slug', gone, new_data, stamp, event_id
      )
      on conflict (id) do update set
        name = excluded.name, active = excluded.active, tier_slug = excluded.tier_slug,
        deleted = excluded.deleted, data = excluded.data,
        event_created = greatest(t.event_created, excluded.event_created),
        event_id = coalesce(excluded.event_id, t.event_id), synced_at = now();
    when 'price' then
      insert into stripe.prices as t (
        id, product_id, active, currency, unit_amount, recurring_interval,
        recurring_interval_count, lookup_key, deleted, data, event_created, event_id
      )
      values (
        object_id,
        coalesce(new_data -> 'product' ->> 'id', new_data ->> 'product'),
        coalesce((new_data ->> 'active')::boolean, true),
        new_data ->> 'currency',
        (new_data ->> 'unit_amount')::bigint,
        new_data -> 'recurring' ->> 'interval',
        (new_data -> 'recurring' ->> 'interval_count')::integer,
        new_data ->> 'lookup_key',
        gone, new_data, stamp, event_id
      )
      on conflict (id) do update set
        product_id = excluded.product_id, active = excluded.active, currency = excluded.currency,
        unit_amount = excluded.unit_amount, recurring_interval = excluded.recurring_interval,
        recurring_interval_count = excluded.recurring_interval_count,
        lookup_key = excluded.lookup_key, deleted = excluded.deleted, data = excluded.data,
        event_created = greatest(t.event_created, excluded.event_created),
        event_id = coalesce(excluded.event_id, t.event_id), synced_at = now();
    when 'customer' then
      insert into stripe.customers as t (id, email, deleted, data, event_created, event_id)
      values (object_id, new_data ->> 'email', gone, new_data, stamp, event_id)
      on conflict (id) do update set
        email = excluded.email, deleted = excluded.deleted, data = excluded.data,
        event_created = greatest(t.event_created, excluded.event_created),
        event_id = coalesce(excluded.event_id, t.event_id), synced_at = now();
    when 'subscription' then
      -- Since API version 2025-03-31 the period lives on the items; older versions keep it
      -- on the subscription.
      select max(to_timestamp((i ->> 'current_period_end')::bigint))
        into period_end
        from jsonb_array_elements(coalesce(new_data -> 'items' -> 'data', '[]'::jsonb)) as i;
      period_end := coalesce(period_end, to_timestamp((new_data ->> 'current_period_end')::bigint));
      insert into stripe.subscriptions as t (
        id, customer_id, status, cancel_at_period_end, current_period_end, data,
        event_created, event_id
      )
      values (
        object_id,
        coalesce(new_data -> 'customer' ->> 'id', new_data ->> 'customer'),
        new_data ->> 'status',
        coalesce((new_data ->> 'cancel_at_period_end')::boolean, false),
        period_end, new_data, stamp, event_id
      )
      on conflict (id) do update set
        customer_id = excluded.customer_id, status = excluded.status,
        cancel_at_period_end = excluded.cancel_at_period_end,
        current_period_end = excluded.current_period_end, data = excluded.data,
        event_created = greatest(t.event_created, excluded.event_created),
        event_id = coalesce(excluded.event_id, t.event_id), synced_at = now();

      insert into stripe.subscription_items as t (
        id, subscription_id, position, price_id, quantity, current_period_end, deleted, data
      )
      select
        i ->> 'id', object_id, (n - 1)::integer,
        coalesce(i -> 'price' ->> 'id', i ->> 'price'),
        (i ->> 'quantity')::integer,
        to_timestamp((i ->> 'current_period_end')::bigint),
        false, i
      from jsonb_array_elements(coalesce(new_data -> 'items' -> 'data', '[]'::jsonb))
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
      update stripe.subscription_items as t
         set deleted = true, synced_at = now()
       where old_data is not null
         and t.subscription_id = object_id
         and not t.deleted
         and t.id not in (
           select i ->> 'id'
           from jsonb_array_elements(coalesce(new_data -> 'items' -> 'data', '[]'::jsonb)) as i
         );
  end case;
  return outcome;
end;
$$;

comment on function stripe.write_object(text, jsonb, timestamptz, text, boolean) is
  'Upserts one Stripe object into the mirror (soft delete for stubs and *.deleted events): created | updated | unchanged.';
