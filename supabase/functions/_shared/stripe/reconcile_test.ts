import assert from "node:assert/strict";
import { addChanges, nextPhase, PHASES, ReconcileParamsSchema } from "./reconcile.ts";

Deno.test("addChanges adds counts per kind without touching its input", () => {
  const before = { product: { created: 1 } };
  const after = addChanges(before, "product", { created: 2, unchanged: 3, updated: 0 });
  assert.deepEqual(after, { product: { created: 3, unchanged: 3 } });
  assert.deepEqual(before, { product: { created: 1 } });
});

Deno.test("phases run listings, then deletion checks, then failed events", () => {
  assert.equal(PHASES[0], "list:product");
  assert.equal(nextPhase("list:subscription"), "unseen:product");
  assert.equal(nextPhase("events"), null);
});

Deno.test("ReconcileParamsSchema defaults to 25 requests/s and refuses more than 100", () => {
  assert.deepEqual(ReconcileParamsSchema.parse({}), { rate_limit: 25, page_size: 100 });
  assert.equal(ReconcileParamsSchema.safeParse({ rate_limit: 500 }).success, false);
});
