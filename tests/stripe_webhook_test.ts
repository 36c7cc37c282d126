/**
 * The webhook mirror on the running development stack, driven through the `stripe` SDK and
 * the Stripe emulator: subscriptions reach memberships; events delivered shuffled or twice
 * end in the same state with one effect each.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import type Stripe from "stripe";
import { localEnv } from "../scripts/local/config.ts";
import {
  createTier,
  createUser,
  emulatorClient,
  emulatorControls,
  eventually,
} from "../scripts/local/stripe_emulator/testing.ts";

const env = localEnv("development");

interface MembershipRow {
  tier_id: string;
  status: string;
  current_period_end: Date | null;
  cancel_at_period_end: boolean;
  stripe_customer_id: string;
}

async function membership(sql: postgres.Sql, subscription: string) {
  const [row] = await sql<MembershipRow[]>`
    select tier_id, status::text, current_period_end, cancel_at_period_end, stripe_customer_id
    from public.memberships where stripe_subscription_id = ${subscription}`;
  return row;
}

function periodEnd(sub: Stripe.Subscription): number {
  return Math.max(...sub.items.data.map((i) => i.current_period_end));
}

/** Waits until the membership matches Stripe's subscription. */
async function membershipFollows(
  sql: postgres.Sql,
  stripe: Stripe,
  subscriptionId: string,
  tierId: string,
): Promise<MembershipRow> {
  await emulatorControls(stripe).settle();
  const sub = await stripe.subscriptions.retrieve(subscriptionId);
  return await eventually(`membership of ${subscriptionId} to follow Stripe`, async () => {
    const m = await membership(sql, subscriptionId);
    return m && m.status === sub.status && m.tier_id === tierId &&
      m.cancel_at_period_end === sub.cancel_at_period_end &&
      m.current_period_end?.getTime() === periodEnd(sub) * 1000 && m;
  });
}

Deno.test("a subscription's whole lifecycle reaches the user's membership", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const stripe = await emulatorClient(env);
  const emulator = emulatorControls(stripe);
  try {
    await emulator.mode("immediate");
    const user = await createUser(sql);
    const pro = await createTier(sql, stripe, { amount: 1200 });
    const team = await createTier(sql, stripe, { amount: 4900, mapById: false });

    // Checkout links the new customer to the user and starts the subscription.
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: pro.price.id, quantity: 1 }],
      customer_email: `checkout-${user.slice(0, 8)}@stagecoach.test`,
      client_reference_id: user,
      success_url: "https://example.com/ok",
    });
    const completed = await emulator.completeCheckout(session.id);
    const subId = completed.subscription as string;
    const customerId = completed.customer as string;
    let m = await membershipFollows(sql, stripe, subId, pro.tierId);
    assert.equal(m.status, "active");
    assert.equal(m.stripe_customer_id, customerId);
    const [link] =
      await sql`select user_id from stripe.customer_links where customer_id = ${customerId}`;
    assert.equal(link.user_id, user);

    // A plan change moves the tier (the team price is mapped by lookup key only).
    const sub = await stripe.subscriptions.retrieve(subId);
    await stripe.subscriptions.update(subId, {
      items: [{ id: sub.items.data[0].id, price: team.price.id }],
    });
    await membershipFollows(sql, stripe, subId, team.tierId);

    // Renewal moves the period end; a declined renewal makes it past due; paying again fixes it.
    const before = m.current_period_end!.getTime();
    await emulator.advance(subId);
    m = await membershipFollows(sql, stripe, subId, team.tierId);
    assert.ok(m.current_period_end!.getTime() > before, "the period end moved forward");
    await emulator.declinePayments(customerId, true);
    await emulator.advance(subId);
    m = await membershipFollows(sql, stripe, subId, team.tierId);
    assert.equal(m.status, "past_due");
    await emulator.declinePayments(customerId, false);
    await emulator.advance(subId);
    m = await membershipFollows(sql, stripe, subId, team.tierId);
    assert.equal(m.status, "active");

    // Cancelling at period end keeps the membership until the period ends.
    await stripe.subscriptions.update(subId, { cancel_at_period_end: true });
    m = await membershipFollows(sql, stripe, subId, team.tierId);
    assert.equal(m.status, "active");
    assert.equal(m.cancel_at_period_end, true);
    await emulator.advance(subId);
    m = await membershipFollows(sql, stripe, subId, team.tierId);
    assert.equal(m.status, "canceled");

    const [ledger] = await sql<{ failed: number; unresolved: number }[]>`
      select count(*) filter (where status = 'failed')::int as failed,
             count(*) filter (where status = 'unresolved')::int as unresolved
      from stripe.events where object_id = ${subId}`;
    assert.deepEqual(ledger, { failed: 0, unresolved: 0 });
  } finally {
    await sql.end();
  }
});

/** Runs a subscription through `updates` changes while deliveries are held; returns its id. */
async function heldSubscriptionHistory(
  sql: postgres.Sql,
  stripe: Stripe,
  tiers: { a: Awaited<ReturnType<typeof createTier>>; b: Awaited<ReturnType<typeof createTier>> },
  updates: number,
): Promise<{ subId: string; userId: string }> {
  const emulator = emulatorControls(stripe);
  const user = await createUser(sql);
  await emulator.mode("hold");
  const session = await stripe.checkout.sessions.create({
    mode: "subscription",
    line_items: [{ price: tiers.a.price.id }],
    client_reference_id: user,
  });
  const subId = (await emulator.completeCheckout(session.id)).subscription as string;
  for (let i = 0; i < updates; i++) {
    const sub = await stripe.subscriptions.retrieve(subId);
    const item = sub.items.data[0];
    const step = i % 4;
    if (step === 0) {
      const next = item.price.id === tiers.a.price.id ? tiers.b.price.id : tiers.a.price.id;
      await stripe.subscriptions.update(subId, { items: [{ id: item.id, price: next }] });
    } else if (step === 1) {
      await stripe.subscriptions.update(subId, { metadata: { step: String(i) } });
    } else if (step === 2) {
      await stripe.subscriptions.update(subId, { cancel_at_period_end: !sub.cancel_at_period_end });
    } else {
      await stripe.subscriptions.update(subId, { items: [{ id: item.id, quantity: (i % 7) + 1 }] });
    }
  }
  return { subId, userId: user };
}

/** The mirrored subscription, its membership and what Stripe says, for comparison. */
async function finalState(sql: postgres.Sql, stripe: Stripe, subId: string) {
  const sub = JSON.parse(JSON.stringify(await stripe.subscriptions.retrieve(subId)));
  const [mirror] = await sql<{ data: unknown; status: string }[]>`
    select data, status from stripe.subscriptions where id = ${subId}`;
  const m = await membership(sql, subId);
  return { sub, mirror: mirror?.data, membership: m };
}

Deno.test("200 events of one subscription delivered shuffled end as they do delivered in order", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const stripe = await emulatorClient(env);
  const emulator = emulatorControls(stripe);
  try {
    const tiers = {
      a: await createTier(sql, stripe),
      b: await createTier(sql, stripe, { amount: 3000 }),
    };

    const ordered = await heldSubscriptionHistory(sql, stripe, tiers, 200);
    const inOrder = await emulator.release({ order: "in_order", mode: "immediate" });
    assert.ok(inOrder.released! >= 200, `released ${inOrder.released}`);
    await emulator.settle();

    const shuffledRun = await heldSubscriptionHistory(sql, stripe, tiers, 200);
    const shuffled = await emulator.release({
      order: "shuffled",
      seed: 20261125,
      concurrency: 8,
      mode: "immediate",
    });
    assert.equal(shuffled.failed, 0);
    await emulator.settle();

    const a = await finalState(sql, stripe, ordered.subId);
    const b = await finalState(sql, stripe, shuffledRun.subId);
    assert.deepEqual(a.mirror, a.sub, "in order: the mirror holds Stripe's final subscription");
    assert.deepEqual(b.mirror, b.sub, "shuffled: the mirror holds Stripe's final subscription");
    const shape = (s: typeof a) => ({
      status: s.membership.status,
      tier: s.membership.tier_id,
      cancel_at_period_end: s.membership.cancel_at_period_end,
      metadata: s.sub.metadata,
      quantity: s.sub.items.data[0].quantity,
    });
    assert.deepEqual(shape(b), shape(a), "same final membership and subscription either way");
    const [ledger] = await sql<{ n: number; bad: number }[]>`
      select count(*)::int as n, count(*) filter (where status not in ('processed'))::int as bad
      from stripe.events where object_id = ${shuffledRun.subId}`;
    assert.ok(ledger.n >= 200);
    assert.equal(ledger.bad, 0);
  } finally {
    await emulator.mode("immediate");
    await sql.end();
  }
});

Deno.test("every event delivered twice has one effect", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const stripe = await emulatorClient(env);
  const emulator = emulatorControls(stripe);
  try {
    const tiers = {
      a: await createTier(sql, stripe),
      b: await createTier(sql, stripe, { amount: 2500 }),
    };
    const run = await heldSubscriptionHistory(sql, stripe, tiers, 12);
    const released = await emulator.release({
      order: "shuffled",
      repeat: 2,
      concurrency: 6,
      seed: 7,
      mode: "immediate",
    });
    assert.equal(released.failed, 0);
    await emulator.settle();

    const events = await stripe.events.list({
      limit: 100,
      types: ["customer.subscription.updated"],
    });
    const ours = events.data.filter((e) => (e.data.object as { id: string }).id === run.subId);
    const ledger = await sql<{ id: string; attempts: number; status: string }[]>`
      select id, attempts, status from stripe.events where id in ${sql(ours.map((e) => e.id))}`;
    assert.equal(ledger.length, ours.length, "one ledger row per event");
    for (const row of ledger) {
      assert.equal(row.attempts, 2, `${row.id} was received twice`);
      assert.equal(row.status, "processed");
    }
    const memberships = await sql`select 1 from public.memberships where user_id = ${run.userId}`;
    assert.equal(memberships.length, 1, "one membership");
    const state = await finalState(sql, stripe, run.subId);
    assert.deepEqual(state.mirror, state.sub);
  } finally {
    await emulator.mode("immediate");
    await sql.end();
  }
});
