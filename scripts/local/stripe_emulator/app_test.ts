import assert from "node:assert/strict";
import type Stripe from "stripe";
import { secretKeyOf } from "./app.ts";
import { startInProcessEmulator } from "./testing.ts";

Deno.test("secretKeyOf reads Bearer and Basic authorization", () => {
  assert.equal(secretKeyOf("Bearer sk_test_1"), "sk_test_1");
  assert.equal(secretKeyOf(`Basic ${btoa("sk_test_2:")}`), "sk_test_2");
  assert.equal(secretKeyOf(undefined), null);
});

Deno.test("the emulator app serves the SDK in process: create, update, events", async () => {
  const emu = await startInProcessEmulator();
  try {
    const product = await emu.stripe.products.create({ name: "In process" });
    const updated = await emu.stripe.products.update(product.id, { name: "Renamed" });
    assert.equal(updated.name, "Renamed");
    const events = await emu.stripe.events.list({ limit: 10 });
    assert.deepEqual(events.data.map((e) => e.type), ["product.updated", "product.created"]);
    const prev = events.data[0].data.previous_attributes as Partial<Stripe.Product>;
    assert.equal(prev.name, "In process");
    const del = await emu.stripe.products.del(product.id);
    assert.equal(del.deleted, true);
  } finally {
    await emu.close();
  }
});

Deno.test("the emulator answers 429 past its rate limit", async () => {
  const emu = await startInProcessEmulator({ rateLimitPerSecond: 2 });
  try {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => emu.stripe.customers.list({ limit: 1 })),
    );
    const limited = results.filter((r) =>
      r.status === "rejected" && (r.reason as { statusCode?: number }).statusCode === 429
    );
    assert.ok(limited.length >= 1, "at least one request was rate limited");
  } finally {
    await emu.close();
  }
});
