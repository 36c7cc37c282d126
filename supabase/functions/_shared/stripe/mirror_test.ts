import assert from "node:assert/strict";
import { startInProcessEmulator } from "../../../../scripts/local/stripe_emulator/testing.ts";
import { fetchObject, jsonbLiteral } from "./mirror.ts";

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
