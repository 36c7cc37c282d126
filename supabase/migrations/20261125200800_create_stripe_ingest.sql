-- Intent: the entry points of the Stripe mirror, the only functions the `stripe-webhook`
-- function and the reconciliation job call. They are `security definer` and owned by
-- stagecoach_stripe_sync, so they run with exactly that role's privileges (the narrow,
-- named service path); EXECUTE is granted to service_role only (postgres owns the schema).
--
-- stripe.ingest_event(event, plan): records the event in the ledger (a duplicate delivery
--   returns {"outcome": "duplicate"} and changes nothing else) and applies the plan the
--   webhook's pure core made of it:
--     {"action": "ignore"}                                     → ledger `ignored`
--     {"action": "sync", "kind", "object", "deleted"}          → guarded mirror write
--     {"action": "link", "customer", "user", "subscription", "source"} → customer link
--     {"action": "refresh", "kind", "id"}                      → re-fetch from Stripe
--   It answers {"outcome": "processed" | "stale" | "ignored" | "unresolved" | "fetch",
--   "error", "fetch": {"kind", "id"}}. On "fetch" the ledger row stays `processing` and the
--   caller, holding stripe.lock_object(id) in a transaction, fetches the object from Stripe
--   and passes it to stripe.apply_fetched(event, kind, object, stamp).
-- stripe.apply_fetched(event, kind, object, stamp): writes an object read from Stripe at
--   `stamp` (Stripe's clock) and finishes the event. With an event, the object was read
--   under the object's lock, so it is written whatever its stamp; with a null event it is a
--   reconciliation write, skipped when an event wrote the row in or after that second.
-- stripe.record_failure(event, error): records an event that could not be applied as `failed`.

create or replace function stripe.settle_unresolved(object_id text)
returns void
language sql
set search_path = ''
as $$
  update stripe.events as e
     set status = 'processed', error = null, processed_at = now()
   where e.object_id = settle_unresolved.object_id and e.status = 'unresolved';
$$;

comment on function stripe.settle_unresolved(text) is
  'Marks the unresolved events of an object processed once its membership could be derived.';

create or replace function stripe.finish_event(event_id text, status text, error text default null)
returns void
language sql
set search_path = ''
as $$
  update stripe.events as e
     set status = finish_event.status, error = finish_event.error, processed_at = now()
   where e.id = finish_event.event_id;
$$;

comment on function stripe.finish_event(text, text, text) is
  'Sets the outcome of a ledger event: processed, ignored, unresolved or failed (with error).';

-- Derives the memberships of one subscription and settles its waiting events; returns the
-- membership problem, if any.
create or replace function stripe.follow_subscription(subscription_id text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  previous text;
  problem text;
begin
  select s.membership_error into previous from stripe.subscriptions as s where s.id = subscription_id;
  problem := stripe.apply_membership(subscription_id);
  -- Events that waited for this membership are settled once it can be derived.
  if problem is null and previous is not null then
    perform stripe.settle_unresolved(subscription_id);
  end if;
  return problem;
end;
$$;

-- Records the event's outcome in the ledger in one write (a new row, or a retried one).
create or replace function stripe.record_event(event jsonb, status text, error text default null)
returns void
language sql
set search_path = ''
as $$
  insert into stripe.events as e (id, type, object_id, created, livemode, status, error, processed_at)
  values (
    event ->> 'id', event ->> 'type', event ->> 'object_id', to_timestamp((event ->> 'created')::bigint),
    coalesce((event ->> 'livemode')::boolean, false), record_event.status, record_event.error,
    case when record_event.status = 'processing' then null else now() end
  )
  on conflict (id) do update set
    attempts = e.attempts + 1, status = excluded.status, error = excluded.error,
    processed_at = excluded.processed_at;
$$;

create or replace function stripe.ingest_event(event jsonb, plan jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  event_id text := event ->> 'id';
  created timestamptz := to_timestamp((event ->> 'created')::bigint);
  action text := plan ->> 'action';
  prior_status text;
  inserted boolean;
  kind text;
  object_id text;
  guard text;
  problem text;
  linked_user uuid;
  sub_id text;
  problems text[] := '{}'::text[];
  outcome text;
begin
  if event_id is null or event ->> 'type' is null or event ->> 'created' is null then
    raise exception 'Cannot ingest a Stripe event: id, type and created are required'
      using errcode = 'invalid_parameter_value';
  end if;

  if action in ('ignore', 'refresh') then
    -- No object to lock: the ledger row itself tells a duplicate (a concurrent insert of
    -- the same id waits for the first to commit).
    insert into stripe.events as e (id, type, object_id, created, livemode, status, processed_at)
    values (
      event_id, event ->> 'type', event ->> 'object_id', created,
      coalesce((event ->> 'livemode')::boolean, false),
      case when action = 'ignore' then 'ignored' else 'processing' end,
      case when action = 'ignore' then now() end
    )
    on conflict (id) do update set attempts = e.attempts + 1
    returning e.status, (e.xmax = 0) into prior_status, inserted;
    if not inserted and prior_status in ('processed', 'ignored', 'unresolved') then
      return jsonb_build_object('outcome', 'duplicate', 'status', prior_status);
    end if;
    if action = 'ignore' then
      return jsonb_build_object('outcome', 'ignored');
    end if;
    return jsonb_build_object(
      'outcome', 'fetch', 'fetch', jsonb_build_object('kind', plan ->> 'kind', 'id', plan ->> 'id')
    );
  end if;

  -- sync and link: the object's lock first (every writer of an object takes it first, so
  -- two deliveries of one event run one after the other), then the ledger.
  if action = 'sync' then
    object_id := plan -> 'object' ->> 'id';
  elsif action = 'link' then
    object_id := plan ->> 'customer';
  else
    raise exception 'Cannot ingest Stripe event %: unknown plan action %', event_id, coalesce(action, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if object_id is not null then
    perform stripe.lock_object(object_id);
  end if;
  select e.status into prior_status from stripe.events as e where e.id = event_id;
  if prior_status in ('processed', 'ignored', 'unresolved') then
    update stripe.events as e set attempts = e.attempts + 1 where e.id = event_id;
    return jsonb_build_object('outcome', 'duplicate', 'status', prior_status);
  end if;

  if action = 'sync' then
    kind := plan ->> 'kind';
    guard := stripe.mirror_guard(kind, object_id, created, event_id);
    if guard = 'tie' then
      perform stripe.record_event(event, 'processing');
      return jsonb_build_object(
        'outcome', 'fetch', 'fetch', jsonb_build_object('kind', kind, 'id', object_id)
      );
    elsif guard in ('stale', 'same') then
      perform stripe.record_event(event, 'processed');
      return jsonb_build_object('outcome', 'stale');
    end if;
    perform stripe.write_object(
      kind, plan -> 'object', created, event_id, coalesce((plan ->> 'deleted')::boolean, false)
    );
    if kind = 'subscription' then
      problem := stripe.follow_subscription(object_id);
    end if;
    outcome := case when problem is null then 'processed' else 'unresolved' end;
    perform stripe.record_event(event, outcome, problem);
    return jsonb_build_object('outcome', outcome, 'error', problem);
  end if;

  -- link
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
    perform stripe.record_event(event, 'unresolved', problem);
    return jsonb_build_object('outcome', 'unresolved', 'error', problem);
  end if;
  perform stripe.link_customer(object_id, linked_user, coalesce(plan ->> 'source', event ->> 'type'));
  for sub_id in
    select s.id from stripe.subscriptions as s where s.customer_id = object_id order by s.id
  loop
    perform stripe.lock_object(sub_id);
    problem := stripe.follow_subscription(sub_id);
    if problem is not null then
      problems := problems || problem;
    end if;
  end loop;
  if plan ->> 'subscription' is not null
     and not exists (select 1 from stripe.subscriptions as s where s.id = plan ->> 'subscription') then
    perform stripe.record_event(event, 'processing');
    return jsonb_build_object(
      'outcome', 'fetch',
      'fetch', jsonb_build_object('kind', 'subscription', 'id', plan ->> 'subscription')
    );
  end if;
  problem := nullif(array_to_string(problems, '; '), '');
  outcome := case when problem is null then 'processed' else 'unresolved' end;
  perform stripe.record_event(event, outcome, problem);
  return jsonb_build_object('outcome', outcome, 'error', problem);
end;
$$;

comment on function stripe.ingest_event(jsonb, jsonb) is
  'Records a Stripe event in the ledger and applies its plan (ignore | sync | link | refresh).';

create or replace function stripe.apply_fetched(event jsonb, kind text, obj jsonb, stamp timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  event_id text := event ->> 'id';
  object_id text := obj ->> 'id';
  row_created timestamptz;
  outcome text;
  problem text;
  previous_error text;
begin
  perform stripe.lock_object(object_id);
  row_created := case kind
    when 'product' then (select p.event_created from stripe.products as p where p.id = object_id)
    when 'price' then (select p.event_created from stripe.prices as p where p.id = object_id)
    when 'customer' then (select c.event_created from stripe.customers as c where c.id = object_id)
    when 'subscription' then (select s.event_created from stripe.subscriptions as s where s.id = object_id)
  end;
  if kind = 'subscription' then
    select s.membership_error into previous_error from stripe.subscriptions as s where s.id = object_id;
  end if;
  if event_id is null and row_created is not null and row_created >= stamp then
    -- A reconciliation page was listed without the lock: a row an event wrote in or after
    -- the second of the listing may be newer than it, so it is left alone.
    outcome := case
      when (case kind
              when 'product' then (select p.data from stripe.products as p where p.id = object_id)
              when 'price' then (select p.data from stripe.prices as p where p.id = object_id)
              when 'customer' then (select c.data from stripe.customers as c where c.id = object_id)
              when 'subscription' then (select x.data from stripe.subscriptions as x where x.id = object_id)
            end) = obj then 'unchanged'
      else 'stale'
    end;
  else
    -- The webhook fetched under the object's lock, after every write the row has seen, and
    -- after the event was created: what it read is the newest state, whatever the clocks say
    -- (a Date header can lag by up to a second).
    outcome := stripe.write_object(
      kind, obj,
      greatest(stamp, row_created, to_timestamp((event ->> 'created')::bigint)),
      event_id
    );
  end if;
  if kind = 'subscription' then
    problem := stripe.follow_subscription(object_id);
    if outcome = 'unchanged' and problem is distinct from previous_error then
      outcome := 'updated';
    end if;
  end if;
  if event_id is not null then
    perform stripe.finish_event(event_id, case when problem is null then 'processed' else 'unresolved' end, problem);
  end if;
  return jsonb_build_object(
    'outcome', case when event_id is null then outcome
                    when problem is null then 'processed' else 'unresolved' end,
    'write', outcome,
    'error', problem
  );
end;
$$;

comment on function stripe.apply_fetched(jsonb, text, jsonb, timestamptz) is
  'Writes an object fetched from Stripe at stamp (Stripe time) and finishes the event, if any.';

create or replace function stripe.record_failure(event jsonb, error text)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into stripe.events as e (id, type, object_id, created, livemode, status, error, processed_at)
  values (
    event ->> 'id', event ->> 'type', event ->> 'object_id', to_timestamp((event ->> 'created')::bigint),
    coalesce((event ->> 'livemode')::boolean, false), 'failed', record_failure.error, now()
  )
  on conflict (id) do update set status = 'failed', error = excluded.error, processed_at = now()
  where e.status not in ('processed', 'ignored', 'unresolved');
$$;

comment on function stripe.record_failure(jsonb, text) is
  'Records an event as failed (the webhook answers 500, Stripe retries, reconciliation retries too).';

-- Ownership and privileges: the entry points run as the Stripe sync role. A new owner needs
-- CREATE on the schema while ownership moves; it is taken back right after.
grant create on schema stripe to stagecoach_stripe_sync;
alter function stripe.lock_object(text) owner to stagecoach_stripe_sync;
alter function stripe.mirror_guard(text, text, timestamptz, text) owner to stagecoach_stripe_sync;
alter function stripe.write_object(text, jsonb, timestamptz, text, boolean) owner to stagecoach_stripe_sync;
alter function stripe.apply_membership(text) owner to stagecoach_stripe_sync;
alter function stripe.link_customer(text, uuid, text) owner to stagecoach_stripe_sync;
alter function stripe.settle_unresolved(text) owner to stagecoach_stripe_sync;
alter function stripe.finish_event(text, text, text) owner to stagecoach_stripe_sync;
alter function stripe.follow_subscription(text) owner to stagecoach_stripe_sync;
alter function stripe.record_event(jsonb, text, text) owner to stagecoach_stripe_sync;
alter function stripe.ingest_event(jsonb, jsonb) owner to stagecoach_stripe_sync;
alter function stripe.apply_fetched(jsonb, text, jsonb, timestamptz) owner to stagecoach_stripe_sync;
alter function stripe.record_failure(jsonb, text) owner to stagecoach_stripe_sync;
revoke create on schema stripe from stagecoach_stripe_sync;

revoke all on function stripe.lock_object(text) from public;
revoke all on function stripe.mirror_guard(text, text, timestamptz, text) from public;
revoke all on function stripe.write_object(text, jsonb, timestamptz, text, boolean) from public;
revoke all on function stripe.apply_membership(text) from public;
revoke all on function stripe.link_customer(text, uuid, text) from public;
revoke all on function stripe.settle_unresolved(text) from public;
revoke all on function stripe.finish_event(text, text, text) from public;
revoke all on function stripe.follow_subscription(text) from public;
revoke all on function stripe.record_event(jsonb, text, text) from public;
revoke all on function stripe.ingest_event(jsonb, jsonb) from public;
revoke all on function stripe.apply_fetched(jsonb, text, jsonb, timestamptz) from public;
revoke all on function stripe.record_failure(jsonb, text) from public;

grant execute on function stripe.lock_object(text) to service_role;
grant execute on function stripe.ingest_event(jsonb, jsonb) to service_role;
grant execute on function stripe.apply_fetched(jsonb, text, jsonb, timestamptz) to service_role;
grant execute on function stripe.record_failure(jsonb, text) to service_role;
grant execute on function stripe.apply_membership(text) to service_role;
