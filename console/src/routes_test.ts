import assert from "node:assert/strict";
import { OPS_ROUTES, PROMOTION_STATUSES } from "../../supabase/functions/_shared/api/contract.ts";
import { CONSOLE_ROUTES, consolePath } from "./routes.ts";
import { PROMOTION_STATUSES_SHOWN } from "./statuses.ts";

Deno.test("CONSOLE_ROUTES are the contract's methods and paths", () => {
  for (const [name, route] of Object.entries(CONSOLE_ROUTES)) {
    const spec = OPS_ROUTES[name as keyof typeof OPS_ROUTES];
    assert.ok(spec, `${name} is a route of the contract`);
    assert.deepEqual(route, { method: spec.method, path: spec.path }, name);
  }
});

Deno.test("PROMOTION_STATUSES_SHOWN are the contract's statuses", () => {
  assert.deepEqual([...PROMOTION_STATUSES_SHOWN], [...PROMOTION_STATUSES]);
});

Deno.test("consolePath fills parameters, encodes them and appends only the query given", () => {
  assert.equal(consolePath("promotion.show", { id: "a b" }), "/promotions/a%20b");
  assert.equal(
    consolePath("promotion.list", {}, {
      status: "approved",
      risk: undefined,
      source: "",
      limit: 5,
    }),
    "/promotions?status=approved&limit=5",
  );
  assert.throws(() => consolePath("promotion.show"), /missing parameter id/);
});
