import assert from "node:assert/strict";
import { z } from "zod";
import { createJobRegistry, type JobKind } from "./registry.ts";

const demo: JobKind<{ n: number }> = {
  kind: "demo.count",
  paramsSchema: z.object({ n: z.number() }),
  step: () => Promise.resolve({ done: true }),
};

Deno.test("a registry finds a registered kind and lists kinds", () => {
  const registry = createJobRegistry();
  registry.register(demo);
  registry.register(demo); // the same object again is harmless
  assert.equal(registry.get("demo.count"), demo);
  assert.equal(registry.has("demo.count"), true);
  assert.deepEqual(registry.kinds(), ["demo.count"]);
});

Deno.test("a registry refuses a second kind under a taken name and bad names", () => {
  const registry = createJobRegistry();
  registry.register(demo);
  assert.throws(
    () => registry.register({ ...demo }),
    /^Error: Cannot register job kind: "demo.count" is already registered$/,
  );
  assert.throws(() => registry.register({ ...demo, kind: "Demo Count" }), /dotted snake_case/);
});

Deno.test("a registry names the unknown kind it was asked for", () => {
  assert.throws(
    () => createJobRegistry().get("nope.kind"),
    /^Error: Cannot run job: no job kind "nope.kind" is registered$/,
  );
});
