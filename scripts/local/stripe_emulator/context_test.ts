import assert from "node:assert/strict";
import { expand, previousAttributes } from "./context.ts";
import { createAccount, putObject } from "./store.ts";

Deno.test("previousAttributes lists the old values of changed top-level fields", () => {
  assert.deepEqual(
    previousAttributes({ a: 1, b: { c: 2 }, d: 3 }, { a: 1, b: { c: 3 }, d: 3, e: 4 }),
    { b: { c: 2 }, e: null },
  );
});

Deno.test("expand replaces ids along a path, through lists", () => {
  const account = createAccount({ id: "acct_1", label: "development", secret_key: "sk_test_1" });
  putObject(account, "product", { id: "prod_1", object: "product", name: "P" });
  putObject(account, "price", { id: "price_1", object: "price", product: "prod_1" });
  const list = { object: "list", data: [{ id: "price_1", object: "price", product: "prod_1" }] };
  const out = expand(account, list, ["data.product"]) as { data: { product: { name: string } }[] };
  assert.equal(out.data[0].product.name, "P");
  assert.throws(() => expand(account, { id: "x", object: "y" }, ["nothing"]), /cannot be expanded/);
});
