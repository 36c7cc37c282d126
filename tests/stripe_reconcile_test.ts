/**
 * `stagecoach stripe reconcile` on the running development stack: it repairs a mirror whose
 * webhook deliveries were dropped (memberships included), changes nothing when run again,
 * honours 429s, and a run killed half-way is resumed by the next one without writing a page
 * twice.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import {
  createTier,
  createUser,
  emulatorClient,
  emulatorControls,
  eventually,
} from "../scripts/local/stripe_emulator/testing.ts";

const env = localEnv("development");

function reconcileCommand(extra: string[] = []): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      "scripts/stagecoach.ts",
      "stripe",
      "reconcile",
      "--env",
      "development",
      "--json",
      ...extra,
    ],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  });
}

interface RunOutput {
  job_id: string;
  status: string;
  result: {
    changes: Record<string, Record<string, number>>;
    seen: Record<string, number>;
    rate_limited: number;
  };
}

async function reconcile(extra: string[] = []): Promise<RunOutput> {
  const out = await reconcileCommand(extra).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(stdout) as RunOutput;
}

function written(changes: Record<string, Record<string, number>>): number {
  return Object.entries(changes)
    .filter(([kind]) => kind !== "event" && kind !== "customer_link")
    .reduce((sum, [, c]) => sum + (c.created ?? 0) + (c.updated ?? 0) + (c.deleted ?? 0), 0);
}

Deno.test("reconciliation repairs a mirror whose webhook deliveries were dropped", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const stripe = await emulatorClient(env);
  const emulator = emulatorControls(stripe);
  try {
    await emulator.mode("immediate");
    const tier = await createTier(sql, stripe);
    const doomed = await stripe.customers.create({ email: "doomed@stagecoach.test" });
    await emulator.settle();
    await eventually(
      "the customer to be mirrored",
      async () => (await sql`select 1 from stripe.customers where id = ${doomed.id}`).length > 0,
    );

    // Everything below is lost on the way to the webhook.
    await emulator.mode("drop");
    const user = await createUser(sql);
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: tier.price.id }],
      client_reference_id: user,
    });
    const subId = (await emulator.completeCheckout(session.id)).subscription as string;
    await stripe.subscriptions.update(subId, { cancel_at_period_end: true });
    await stripe.products.update(tier.product.id, { name: "Renamed while nobody listened" });
    await stripe.customers.del(doomed.id);
    await emulator.mode("immediate");

    assert.equal(
      (await sql`select 1 from public.memberships where stripe_subscription_id = ${subId}`).length,
      0,
    );

    await emulator.rateLimitNext(3);
    const first = await reconcile();
    assert.equal(first.status, "succeeded");
    assert.ok(first.result.rate_limited >= 3, "429s were waited out");
    assert.ok((first.result.changes.subscription?.created ?? 0) >= 1);
    assert.ok((first.result.changes.subscription?.memberships ?? 0) >= 1);
    assert.ok((first.result.changes.customer?.deleted ?? 0) >= 1);

    const sub = await stripe.subscriptions.retrieve(subId);
    const [m] = await sql<
      { user_id: string; tier_id: string; status: string; cancel_at_period_end: boolean }[]
    >`
      select user_id, tier_id, status::text, cancel_at_period_end
      from public.memberships where stripe_subscription_id = ${subId}`;
    assert.deepEqual(m, {
      user_id: user,
      tier_id: tier.tierId,
      status: sub.status,
      cancel_at_period_end: true,
    });
    const [product] = await sql`select name from stripe.products where id = ${tier.product.id}`;
    assert.equal(product.name, "Renamed while nobody listened");
    const [customer] = await sql`select deleted from stripe.customers where id = ${doomed.id}`;
    assert.equal(customer.deleted, true);

    const second = await reconcile();
    assert.equal(written(second.result.changes), 0, JSON.stringify(second.result.changes));
    assert.equal(second.result.changes.subscription?.memberships ?? 0, 0);
  } finally {
    await emulator.mode("immediate");
    await sql.end();
  }
});

Deno.test("a reconciliation killed half-way is resumed by the next run", async () => {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const stripe = await emulatorClient(env);
  const emulator = emulatorControls(stripe);
  try {
    // Lost products, so the resumed run has something to repair (and pages enough to stop in).
    await emulator.mode("drop");
    const lost: string[] = [];
    for (let i = 0; i < 30; i++) {
      lost.push((await stripe.products.create({ name: `Lost ${i}` })).id);
    }
    await emulator.mode("immediate");

    const child = reconcileCommand(["--page-size", "2", "--rate", "8"]).spawn();
    const job = await eventually("the run to make progress", async () => {
      const [row] = await sql<{ id: string; done: number }[]>`
        select id, (select coalesce(sum(value::int), 0) from jsonb_each_text(counts))::int as done
        from ops.jobs where kind = 'stripe.reconcile' and status = 'running'
        order by created_at desc limit 1`;
      return row && row.done >= 10 && row;
    }, 30_000);
    child.kill("SIGKILL");
    await child.output();
    const [killed] = await sql<{ status: string; counts: Record<string, number> }[]>`
      select status, counts from ops.jobs where id = ${job.id}`;
    assert.equal(killed.status, "running", "the killed run left its job unfinished");

    const resumed = await reconcile();
    assert.equal(resumed.job_id, job.id, "the next run resumed the same job");
    assert.equal(resumed.status, "succeeded");
    // Every listed object was written exactly once: nothing skipped, no page twice.
    for (const kind of ["product", "price", "customer", "subscription"]) {
      const c = resumed.result.changes[kind] ?? {};
      const writes = (c.created ?? 0) + (c.updated ?? 0) + (c.unchanged ?? 0) + (c.stale ?? 0);
      assert.equal(writes, resumed.result.seen[kind] ?? 0, `${kind}: ${JSON.stringify(c)}`);
    }
    const mirrored = await sql`select id from stripe.products where id in ${sql(lost)}`;
    assert.equal(mirrored.length, lost.length, "the lost products were repaired");
    const scratch = await sql`select 1 from stripe.reconcile_seen where job_id = ${job.id}`;
    assert.equal(scratch.length, 0, "the run's scratch rows are gone");
  } finally {
    await emulator.mode("immediate");
    await sql.end();
  }
});
