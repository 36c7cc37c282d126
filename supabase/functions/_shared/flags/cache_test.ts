import assert from "node:assert/strict";
import { createFlagCache, type DefinitionsSnapshot } from "./cache.ts";

const DEF = {
  key: "dark_mode",
  enabled: true,
  rollout_percent: 100,
  stickiness: "default",
  targeting_rules: [],
  variants: [],
};

function store() {
  const calls: (string | null)[] = [];
  let version = "v1";
  let definitions: unknown[] = [DEF];
  return {
    calls,
    change(v: string, defs: unknown[]) {
      version = v;
      definitions = defs;
    },
    load(known: string | null): Promise<DefinitionsSnapshot> {
      calls.push(known);
      return Promise.resolve({ version, definitions: known === version ? null : definitions });
    },
  };
}

Deno.test("createFlagCache: checks the version on every get by default and reloads only on a change", async () => {
  const s = store();
  const cache = createFlagCache(s.load);
  const first = await cache.get();
  assert.deepEqual(first.list.map((f) => f.key), ["dark_mode"]);
  assert.equal(await cache.get(), first, "unchanged: the same compiled set");
  s.change("v2", [{ ...DEF, key: "other" }]);
  const second = await cache.get();
  assert.equal(second.version, "v2");
  assert.deepEqual(second.list.map((f) => f.key), ["other"]);
  assert.deepEqual(s.calls, [null, "v1", "v1"]);
});

Deno.test("createFlagCache: within maxAgeMs no check; concurrent gets share one", async () => {
  const s = store();
  let clock = 0;
  const cache = createFlagCache(s.load, { maxAgeMs: 1000, now: () => clock });
  await Promise.all([cache.get(), cache.get(), cache.get()]);
  assert.equal(s.calls.length, 1);
  clock = 999;
  await cache.get();
  assert.equal(s.calls.length, 1);
  clock = 1000;
  await cache.get();
  assert.equal(s.calls.length, 2);
});

Deno.test("createFlagCache: a failed check rejects and the next get tries again", async () => {
  let fail = true;
  const cache = createFlagCache((known) =>
    fail
      ? Promise.reject(new Error("connection refused"))
      : Promise.resolve({ version: "v1", definitions: known === "v1" ? null : [DEF] })
  );
  await assert.rejects(cache.get(), /connection refused/);
  fail = false;
  assert.equal((await cache.get()).version, "v1");
});
