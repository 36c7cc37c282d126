import assert from "node:assert/strict";
import { z } from "zod";
import { StripeApiError } from "./errors.ts";
import { intParam, mergeMetadata, paramName, parseParams } from "./params.ts";

const schema = z.strictObject({
  count: intParam,
  recurring: z.strictObject({ interval: z.enum(["month", "year"]) }).optional(),
});

function caught(fn: () => unknown): StripeApiError {
  try {
    fn();
  } catch (err) {
    return err as StripeApiError;
  }
  throw new Error("expected an error");
}

Deno.test("parseParams reports unknown, missing and invalid parameters as Stripe does", () => {
  assert.equal(
    caught(() => parseParams(schema, { count: "1", colour: "x" })).code,
    "parameter_unknown",
  );
  const missing = caught(() => parseParams(schema, {}));
  assert.equal(missing.code, "parameter_missing");
  assert.equal(missing.param, "count");
  const invalid = caught(() =>
    parseParams(schema, { count: "1", recurring: { interval: "week" } })
  );
  assert.equal(invalid.param, "recurring[interval]");
  assert.equal(invalid.status, 400);
  assert.deepEqual(parseParams(schema, { count: "3" }), { count: 3 });
});

Deno.test("paramName renders bracket notation", () => {
  assert.equal(paramName(["items", 0, "price"]), "items[0][price]");
});

Deno.test("mergeMetadata merges, unsets empty values and clears on null", () => {
  assert.deepEqual(mergeMetadata({ a: "1", b: "2" }, { b: "", c: "3" }), { a: "1", c: "3" });
  assert.deepEqual(mergeMetadata({ a: "1" }, null), {});
  assert.deepEqual(mergeMetadata({ a: "1" }, undefined), { a: "1" });
});
