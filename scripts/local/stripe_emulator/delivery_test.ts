import assert from "node:assert/strict";
import Stripe from "stripe";
import { Deliverer, listensFor, seededShuffle, signPayload } from "./delivery.ts";
import { createAccount, putObject, type StoredObject } from "./store.ts";

const cryptoProvider = Stripe.createSubtleCryptoProvider();

Deno.test("signPayload makes a header the SDK accepts", async () => {
  const payload = JSON.stringify({ id: "evt_1", object: "event" });
  const header = await signPayload(payload, "whsec_test_secret", Math.floor(Date.now() / 1000));
  const stripe = new Stripe("sk_test_x");
  const event = await stripe.webhooks.constructEventAsync(
    payload,
    header,
    "whsec_test_secret",
    300,
    cryptoProvider,
  );
  assert.equal(event.id, "evt_1");
});

Deno.test("seededShuffle is a permutation that depends only on the seed", () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const a = seededShuffle(items, 42);
  assert.deepEqual(seededShuffle(items, 42), a);
  assert.notDeepEqual(seededShuffle(items, 43), a);
  assert.deepEqual([...a].sort((x, y) => x - y), items);
});

Deno.test("listensFor honours enabled_events, '*' and disabled endpoints", () => {
  const endpoint = {
    id: "we_1",
    object: "webhook_endpoint",
    status: "enabled",
    enabled_events: ["price.created"],
  };
  assert.equal(listensFor(endpoint, "price.created"), true);
  assert.equal(listensFor(endpoint, "price.updated"), false);
  assert.equal(listensFor({ ...endpoint, enabled_events: ["*"] }, "anything.at_all"), true);
  assert.equal(listensFor({ ...endpoint, status: "disabled" }, "price.created"), false);
});

function accountWithEndpoint() {
  const account = createAccount({ id: "acct_1", label: "development", secret_key: "sk_test_1" });
  putObject(account, "webhook_endpoint", {
    id: "we_1",
    object: "webhook_endpoint",
    url: "http://hook.test/",
    status: "enabled",
    enabled_events: ["*"],
  });
  account.endpointSecrets.set("we_1", "whsec_1");
  return account;
}

function event(id: string): StoredObject {
  return { id, object: "event", type: "product.created", pending_webhooks: 0 };
}

Deno.test("Deliverer retries a failed delivery with backoff until it succeeds", async () => {
  const calls: number[] = [];
  const deliverer = new Deliverer({
    retryBaseMs: 5,
    maxAttempts: 4,
    fetch: () => {
      calls.push(Date.now());
      return Promise.resolve(new Response(null, { status: calls.length < 3 ? 500 : 200 }));
    },
  });
  const account = accountWithEndpoint();
  const e = event("evt_retry");
  putObject(account, "event", e);
  e.pending_webhooks = deliverer.enqueue(account, e);
  await deliverer.settle(account, 2_000);
  assert.equal(calls.length, 3, "two failures, then success");
  assert.equal(account.objects.event.get("evt_retry")!.pending_webhooks, 0);
});

Deno.test("Deliverer holds deliveries and releases them reversed and twice", async () => {
  const seen: string[] = [];
  const deliverer = new Deliverer({
    fetch: async (_url, init) => {
      seen.push(JSON.parse(String(init!.body)).id);
      return await Promise.resolve(new Response(null, { status: 200 }));
    },
  });
  const account = accountWithEndpoint();
  account.deliveryMode = "hold";
  for (const id of ["evt_a", "evt_b", "evt_c"]) deliverer.enqueue(account, event(id));
  assert.equal(deliverer.status(account).held, 3);
  assert.deepEqual(seen, []);
  const result = await deliverer.release(account, {
    order: "reversed",
    repeat: 2,
    concurrency: 1,
    seed: 1,
  });
  assert.deepEqual(result, { released: 6, delivered: 6, failed: 0 });
  assert.deepEqual(seen, ["evt_c", "evt_b", "evt_a", "evt_c", "evt_b", "evt_a"]);
});

Deno.test("Deliverer drops deliveries in drop mode", () => {
  let called = false;
  const deliverer = new Deliverer({
    fetch: () => {
      called = true;
      return Promise.resolve(new Response(null));
    },
  });
  const account = accountWithEndpoint();
  account.deliveryMode = "drop";
  assert.equal(deliverer.enqueue(account, event("evt_lost")), 1);
  assert.equal(called, false);
  assert.deepEqual(deliverer.status(account), { mode: "drop", held: 0, pending: 0 });
});
