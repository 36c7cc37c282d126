import assert from "node:assert/strict";
import { startInProcessEmulator } from "../../../../scripts/local/stripe_emulator/testing.ts";
import { completePlan, fetchObject, jsonbLiteral, replaceNul, withAllItems } from "./mirror.ts";

Deno.test("fetchObject reads an object with Stripe's time, and a vanished one as a deleted stub", async () => {
  const emu = await startInProcessEmulator();
  try {
    const product = await emu.stripe.products.create({ name: "Fetched" });
    const now = Math.floor(Date.now() / 1000);
    const { object, stamp } = await fetchObject(emu.stripe, "product", product.id);
    assert.equal(object.name, "Fetched");
    assert.ok(Math.abs(stamp - now) <= 2);
    const gone = await fetchObject(emu.stripe, "price", "price_doesnotexist");
    assert.deepEqual(gone.object, { id: "price_doesnotexist", object: "price", deleted: true });
    await assert.rejects(
      () => fetchObject(emu.stripe, "subscription", "sub_nope"),
      /No such subscription/,
    );
  } finally {
    await emu.close();
  }
});

Deno.test("jsonbLiteral quotes JSON text as an escape string that reads back the same", () => {
  assert.equal(jsonbLiteral(`{"a":"it's"}`), `E'{"a":"it''s"}'::jsonb`);
  assert.equal(
    jsonbLiteral(String.raw`{"path":"C:\\dir","quote":"\""}`),
    String.raw`E'{"path":"C:\\\\dir","quote":"\\""}'::jsonb`,
  );
  assert.throws(
    () => jsonbLiteral('{"a":"\0"}'),
    /Cannot quote the JSON: it holds a NUL character/,
  );
});

Deno.test("replaceNul replaces U+0000 with U+FFFD in strings and keys and counts them", () => {
  const { value, replaced } = replaceNul({
    id: "prod_1",
    name: "a\u0000b",
    metadata: { "k\u0000": "v", n: 1, list: ["x\u0000\u0000", null, true] },
  });
  assert.equal(replaced, 3);
  assert.deepEqual(value, {
    id: "prod_1",
    name: "a\uFFFDb",
    metadata: { "k\uFFFD": "v", n: 1, list: ["x\uFFFD\uFFFD", null, true] },
  });
  assert.ok(!JSON.stringify(value).includes("\\u0000"));
  const clean = { a: "b", c: [1] };
  assert.deepEqual(replaceNul(clean), { value: clean, replaced: 0 });
});

Deno.test("withAllItems reads every page of a subscription's items when the embedded list has more", async () => {
  const emu = await startInProcessEmulator();
  try {
    const customer = await emu.stripe.customers.create({});
    const prices = [];
    for (let i = 0; i < 3; i++) {
      prices.push(
        await emu.stripe.prices.create({
          currency: "usd",
          unit_amount: 100 + i,
          recurring: { interval: "month" },
          product_data: { name: `Item ${i}` },
        }),
      );
    }
    const sub = await emu.stripe.subscriptions.create({
      customer: customer.id,
      items: prices.map((p) => ({ price: p.id })),
    });
    const all = JSON.parse(JSON.stringify(sub)) as Record<string, unknown>;
    const ids = sub.items.data.map((i) => i.id).sort();
    // As Stripe may send it: one item embedded, the rest behind `has_more`.
    const partial = { ...all, items: { ...sub.items, data: [sub.items.data[0]], has_more: true } };
    const full = await withAllItems(emu.stripe, partial);
    const items = full.items as { data: { id: string }[]; has_more: boolean };
    assert.deepEqual(items.data.map((i) => i.id).sort(), ids);
    assert.equal(items.has_more, false);
    // A complete list is left as it is, and so is a plan that is not a subscription's.
    assert.equal(await withAllItems(emu.stripe, all), all);
    const plan = { action: "sync" as const, kind: "product" as const, object: all, deleted: false };
    assert.equal(await completePlan(emu.stripe, plan), plan);
  } finally {
    await emu.close();
  }
});
