/**
 * Replays of Stripe's own fixture (stripe/openapi `openapi/fixtures3.json`, its subscription,
 * kept in tests/fixtures/stripe/subscription_fixture.json) through the signed `stripe-webhook`
 * of the running development stack, with fresh ids, wrapped in an event:
 *
 * - a flexible-billing subscription with a yearly add-on before a monthly tier item: the
 *   membership's period is the tier item's, not the latest;
 * - a scheduled end (`cancel_at`, as flexible billing's `min_period_end` resolves it): the
 *   membership shows it;
 * - an event of an API version before 2025-03-31 (the period on the subscription, none on the
 *   items): the membership still has the period;
 * - the ledger records each event's API version.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import {
  createUser,
  emulatorClient,
  eventually,
  uniqueSuffix,
} from "../scripts/local/stripe_emulator/testing.ts";
import { cryptoProvider, STRIPE_API_VERSION } from "../supabase/functions/_shared/stripe/client.ts";

const env = localEnv("development");
const url = `${env.functionsUrl}/stripe-webhook`;
const DAY = 86_400;

type Json = Record<string, unknown>;

const fixture: Json = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/stripe/subscription_fixture.json", import.meta.url)),
).subscription;

/** A fresh user linked to a fresh customer, and a fresh tier with its monthly price id. */
async function setting(sql: postgres.Sql) {
  const suffix = uniqueSuffix();
  const user = await createUser(sql, "replay");
  const customer = `cus_replay${suffix}`;
  const tierPrice = `price_replay${suffix}`;
  const [tier] = await sql<{ id: string }[]>`
    insert into public.membership_tiers (slug, name)
    values (${`replay-${suffix}`}, ${`Replay ${suffix}`}) returning id`;
  await sql`
    insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
    values (${tier.id}, ${`replay_${suffix}`}, 'usd', 2000, 'month', ${tierPrice})`;
  await sql`select stripe.link_customer(${customer}, ${user}::uuid, 'replay test')`;
  return { suffix, user, customer, tierPrice, tierId: tier.id };
}

/** The fixture's item with a fresh id and price, on `interval`, or without its period. */
function item(
  template: Json,
  sub: string,
  price: string,
  interval: "month" | "year",
  period: { start: number; end: number } | null,
): Json {
  const copy = structuredClone(template);
  copy.id = `si_replay${uniqueSuffix()}`;
  copy.subscription = sub;
  const p = copy.price as Json;
  copy.price = {
    ...p,
    id: price,
    lookup_key: null,
    recurring: { ...(p.recurring as Json), interval },
  };
  delete copy.plan;
  if (period) {
    copy.current_period_start = period.start;
    copy.current_period_end = period.end;
  } else {
    delete copy.current_period_start;
    delete copy.current_period_end;
  }
  return copy;
}

/** The fixture subscription with fresh ids and the given items and fields. */
function subscription(id: string, customer: string, items: Json[], fields: Json): Json {
  const copy = structuredClone(fixture);
  const list = copy.items as Json;
  copy.items = { ...list, data: items, url: `/v1/subscription_items?subscription=${id}` };
  return {
    ...copy,
    id,
    customer,
    status: "active",
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    ended_at: null,
    latest_invoice: null,
    schedule: null,
    test_clock: null,
    ...fields,
  };
}

/** Signs and posts `object` as a `customer.subscription.updated` event of `apiVersion`. */
async function deliver(object: Json, apiVersion: string | null): Promise<string> {
  const stripe = await emulatorClient(env);
  const stored = JSON.parse(await Deno.readTextFile(join(env.dir, "stripe_webhook.json")));
  const id = `evt_replay${crypto.randomUUID().replaceAll("-", "")}`;
  const body = JSON.stringify({
    id,
    object: "event",
    api_version: apiVersion,
    created: Math.floor(Date.now() / 1000),
    data: { object, previous_attributes: {} },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "customer.subscription.updated",
  });
  const signature = await stripe.webhooks.generateTestHeaderStringAsync({
    payload: body,
    secret: stored.secret as string,
    cryptoProvider,
  });
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    body,
  });
  assert.equal(res.status, 200, await res.text());
  return id;
}

interface Outcome {
  tier_id: string;
  status: string;
  current_period_end: Date | null;
  cancel_at: Date | null;
  cancel_at_period_end: boolean;
  api_version: string | null;
  event_status: string;
}

async function outcome(sql: postgres.Sql, sub: string, event: string): Promise<Outcome> {
  return await eventually(`the membership of ${sub}`, async () => {
    const [row] = await sql<Outcome[]>`
      select m.tier_id, m.status::text, m.current_period_end, m.cancel_at, m.cancel_at_period_end,
             e.api_version, e.status as event_status
        from public.memberships as m, stripe.events as e
       where m.stripe_subscription_id = ${sub} and e.id = ${event}
         and e.status <> 'processing'`;
    return row;
  });
}

const at = (seconds: number) => new Date(seconds * 1000);

Deno.test("replayed fixture subscriptions reach the right membership", async (t) => {
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const template = (fixture.items as { data: Json[] }).data[0];
  const now = Math.floor(Date.now() / 1000);
  const monthly = { start: now, end: now + 30 * DAY };
  const yearly = { start: now, end: now + 365 * DAY };
  try {
    await t.step("two intervals: the period of the tier's item", async () => {
      const s = await setting(sql);
      const sub = `sub_replay${s.suffix}`;
      const addOn = item(template, sub, `price_addon${s.suffix}`, "year", yearly);
      const tier = item(template, sub, s.tierPrice, "month", monthly);
      const event = await deliver(
        subscription(sub, s.customer, [addOn, tier], {
          billing_mode: { type: "flexible", flexible: { proration_discounts: "included" } },
        }),
        STRIPE_API_VERSION,
      );
      const m = await outcome(sql, sub, event);
      assert.equal(m.event_status, "processed");
      assert.equal(m.tier_id, s.tierId);
      assert.equal(m.status, "active");
      assert.deepEqual(m.current_period_end, at(monthly.end));
      assert.equal(m.cancel_at, null);
      assert.equal(m.api_version, STRIPE_API_VERSION);
    });

    await t.step("cancel_at (min_period_end, resolved): the membership shows the end", async () => {
      const s = await setting(sql);
      const sub = `sub_replay${s.suffix}`;
      const event = await deliver(
        subscription(sub, s.customer, [
          item(template, sub, s.tierPrice, "month", monthly),
          item(template, sub, `price_addon${s.suffix}`, "year", yearly),
        ], {
          billing_mode: { type: "flexible", flexible: { proration_discounts: "included" } },
          cancel_at: monthly.end,
        }),
        STRIPE_API_VERSION,
      );
      const m = await outcome(sql, sub, event);
      assert.equal(m.status, "active");
      assert.deepEqual(m.cancel_at, at(monthly.end));
      assert.equal(m.cancel_at_period_end, false);
      assert.deepEqual(m.current_period_end, at(monthly.end));
    });

    await t.step("an older API version: the period from the subscription", async () => {
      const s = await setting(sql);
      const sub = `sub_replay${s.suffix}`;
      const event = await deliver(
        subscription(sub, s.customer, [item(template, sub, s.tierPrice, "month", null)], {
          billing_mode: undefined,
          current_period_start: monthly.start,
          current_period_end: monthly.end,
          cancel_at: yearly.end,
        }),
        "2025-02-24.acacia",
      );
      const m = await outcome(sql, sub, event);
      assert.equal(m.event_status, "processed");
      assert.equal(m.tier_id, s.tierId);
      assert.deepEqual(m.current_period_end, at(monthly.end));
      assert.deepEqual(m.cancel_at, at(yearly.end));
      assert.equal(m.api_version, "2025-02-24.acacia");
    });
  } finally {
    await sql.end();
  }
});
