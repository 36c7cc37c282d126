import assert from "node:assert/strict";
import { createAccount, newId, paginate, putObject, restore, snapshot } from "./store.ts";

const items = Array.from({ length: 7 }, (_, i) => ({ id: `x_${i}` }));

Deno.test("newId uses Stripe's prefix", () => {
  assert.match(newId("prod"), /^prod_[0-9A-Za-z]{14}$/);
});

Deno.test("paginate pages newest first in both directions", () => {
  assert.deepEqual(paginate(items, { limit: 3 }), {
    data: [{ id: "x_6" }, { id: "x_5" }, { id: "x_4" }],
    has_more: true,
  });
  assert.deepEqual(paginate(items, { limit: 3, starting_after: "x_1" }), {
    data: [{ id: "x_0" }],
    has_more: false,
  });
  assert.deepEqual(paginate(items, { limit: 2, ending_before: "x_2" }), {
    data: [{ id: "x_4" }, { id: "x_3" }],
    has_more: true,
  });
  assert.throws(() => paginate(items, { starting_after: "nope" }), /No such object/);
});

Deno.test("snapshot and restore keep objects and secrets of listed accounts only", () => {
  const a = createAccount({ id: "acct_1", label: "development", secret_key: "sk_test_1" });
  putObject(a, "product", { id: "prod_1", object: "product" });
  a.endpointSecrets.set("we_1", "whsec_1");
  const saved = JSON.parse(JSON.stringify(snapshot([a])));
  const back = restore([{ id: "acct_1", label: "development", secret_key: "sk_test_1" }], saved);
  assert.equal(back.get("sk_test_1")!.objects.product.get("prod_1")!.id, "prod_1");
  assert.equal(back.get("sk_test_1")!.endpointSecrets.get("we_1"), "whsec_1");
  const other = restore([{ id: "acct_2", label: "staging", secret_key: "sk_test_2" }], saved);
  assert.equal(other.get("sk_test_2")!.objects.product.size, 0);
});
