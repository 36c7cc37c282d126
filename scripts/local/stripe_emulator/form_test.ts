import assert from "node:assert/strict";
import { decodeForm, encodeForm, FormDecodeError, splitKey } from "./form.ts";

Deno.test("splitKey splits bracketed keys", () => {
  assert.deepEqual(splitKey("items[0][price]"), ["items", "0", "price"]);
  assert.deepEqual(splitKey("expand[]"), ["expand", ""]);
  assert.deepEqual(splitKey("name"), ["name"]);
  assert.throws(() => splitKey("a[b"), FormDecodeError);
  assert.throws(() => splitKey("a]"), FormDecodeError);
});

Deno.test("decodeForm nests hashes and lists as Stripe reads them", () => {
  const body = "items[0][price]=price_1&items[0][quantity]=2&items[1][price]=price_2" +
    "&metadata[plan]=pro&expand[]=customer&expand[]=latest_invoice&name=A%20B";
  assert.deepEqual(decodeForm(new URLSearchParams(body)), {
    items: [{ price: "price_1", quantity: "2" }, { price: "price_2" }],
    metadata: { plan: "pro" },
    expand: ["customer", "latest_invoice"],
    name: "A B",
  });
});

Deno.test("decodeForm orders list items by index and refuses a key used twice as leaf and hash", () => {
  assert.deepEqual(decodeForm(new URLSearchParams("a[1]=y&a[0]=x")), { a: ["x", "y"] });
  assert.throws(() => decodeForm(new URLSearchParams("a[b]=1&a[b][c]=2")), FormDecodeError);
});

Deno.test("encodeForm and decodeForm round-trip", () => {
  const params = { metadata: { a: "b" }, items: [{ price: "p", quantity: 1 }], active: true };
  assert.deepEqual(decodeForm(new URLSearchParams(encodeForm(params))), {
    metadata: { a: "b" },
    items: [{ price: "p", quantity: "1" }],
    active: "true",
  });
});
