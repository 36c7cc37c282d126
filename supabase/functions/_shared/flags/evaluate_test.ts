import assert from "node:assert/strict";
import type { Constraint, FlagDefinition } from "./definition.ts";
import { compareSemver, constraintHolds, evaluateFlag, flagNotFound } from "./evaluate.ts";
import { normalizedHash } from "./murmur3.ts";

const NOW = new Date("2026-12-02T12:00:00.000Z");

function flag(over: Partial<FlagDefinition> = {}): FlagDefinition {
  return {
    key: "new_checkout",
    enabled: true,
    rollout_percent: 100,
    stickiness: "default",
    targeting_rules: [],
    variants: [],
    ...over,
  };
}

Deno.test("evaluateFlag: the kill switch wins over everything", () => {
  assert.deepEqual(evaluateFlag(flag({ enabled: false }), { targeting_key: "u1" }), {
    key: "new_checkout",
    enabled: false,
    variant: null,
    payload: null,
    reason: "DISABLED",
  });
});

Deno.test("evaluateFlag: a flag on for everyone is STATIC, with rules TARGETING_MATCH", () => {
  assert.equal(evaluateFlag(flag(), {}).reason, "STATIC");
  const rules = flag({ targeting_rules: [{ attribute: "tier", op: "in", values: ["pro"] }] });
  assert.equal(evaluateFlag(rules, { tier: "pro" }).reason, "TARGETING_MATCH");
  assert.deepEqual(
    [evaluateFlag(rules, { tier: "free" }).enabled, evaluateFlag(rules, {}).reason],
    [false, "DEFAULT"],
  );
});

Deno.test("evaluateFlag: the rollout is bucket <= percent, the bucket murmur3 of <key>:<id>", () => {
  const f = flag({ rollout_percent: 30 });
  for (let i = 0; i < 200; i++) {
    const id = `user-${i}`;
    const r = evaluateFlag(f, { targeting_key: id });
    assert.equal(r.enabled, normalizedHash("new_checkout", id, 100) <= 30, id);
    assert.equal(r.reason, "SPLIT");
  }
  // The session id stands in for a missing targeting key; neither: in only at 100 %.
  const sid = "s-1";
  assert.equal(
    evaluateFlag(f, { session_id: sid }).enabled,
    normalizedHash("new_checkout", sid, 100) <= 30,
  );
  assert.equal(evaluateFlag(f, {}).enabled, false);
  assert.equal(evaluateFlag(flag(), {}).enabled, true);
  // A named stickiness field that is missing is never in, even at 100 %.
  assert.equal(
    evaluateFlag(flag({ stickiness: "account_id" }), { targeting_key: "u" }).enabled,
    false,
  );
  assert.equal(evaluateFlag(flag({ rollout_percent: 0 }), { targeting_key: "u" }).enabled, false);
});

Deno.test("evaluateFlag: variants by override first, then by weight; the payload comes along", () => {
  const f = flag({
    variants: [
      { name: "a", weight: 1, payload: { type: "string", value: "A" } },
      { name: "b", weight: 0 },
      { name: "c", weight: 3, overrides: [{ attribute: "targeting_key", values: ["vip"] }] },
    ],
  });
  const vip = evaluateFlag(f, { targeting_key: "vip" });
  assert.deepEqual([vip.variant, vip.reason], ["c", "TARGETING_MATCH"]);
  const seen = new Set<string | null>();
  for (let i = 0; i < 100; i++) {
    const r = evaluateFlag(f, { targeting_key: `user-${i}` });
    seen.add(r.variant);
    if (r.variant === "a") assert.deepEqual(r.payload, { type: "string", value: "A" });
    assert.equal(r.reason, "SPLIT");
  }
  assert.deepEqual([...seen].sort(), ["a", "c"], "a weight of 0 is never chosen");
  assert.equal(evaluateFlag(f, {}).variant, "c", "no stickiness value: the last variant");
});

Deno.test("constraintHolds: missing fields, inversion and case folding", () => {
  assert.equal(constraintHolds({ attribute: "x", op: "not_in", values: ["a"] }, {}), true);
  assert.equal(constraintHolds({ attribute: "x", op: "in", values: ["a"] }, {}), false);
  assert.equal(
    constraintHolds({ attribute: "x", op: "str_contains", values: ["a"], inverted: true }, {}),
    true,
  );
  const ci: Constraint = {
    attribute: "city",
    op: "in",
    values: ["İSTANBUL"],
    case_insensitive: true,
  };
  assert.equal(constraintHolds(ci, { city: "i̇stanbul" }), true);
  assert.equal(constraintHolds({ ...ci, case_insensitive: false }, { city: "i̇stanbul" }), false);
  assert.equal(constraintHolds({ attribute: "n", op: "num_gte", value: "12" }, { n: 12 }), true);
  assert.equal(
    constraintHolds({ attribute: "n", op: "num_eq", value: "12" }, { n: "12abc" }),
    false,
  );
});

Deno.test("constraintHolds: dates need a zone; current_time defaults to now", () => {
  const after = { attribute: "current_time", op: "date_after", value: "2026-12-01" } as const;
  assert.equal(constraintHolds(after, {}, NOW), true);
  assert.equal(constraintHolds(after, { current_time: "2026-11-30T23:59:59+00:00" }, NOW), false);
  assert.equal(constraintHolds(after, { current_time: "2026-12-02T00:00:00" }, NOW), false);
  assert.equal(constraintHolds(after, { current_time: "2026-02-30" }, NOW), false);
});

Deno.test("compareSemver: semver 2.0.0 precedence, strict parsing", () => {
  const ordered = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.10.0",
  ];
  for (let i = 1; i < ordered.length; i++) {
    assert.equal(compareSemver(ordered[i - 1], ordered[i]), -1, ordered[i]);
    assert.equal(compareSemver(ordered[i], ordered[i - 1]), 1, ordered[i]);
  }
  assert.equal(compareSemver("1.0.0+build.1", "1.0.0"), 0);
  assert.equal(compareSemver("v1.0.0", "1.0.0"), null);
  assert.equal(compareSemver("01.0.0", "1.0.0"), null);
});

Deno.test("flagNotFound names the key and the error code", () => {
  assert.deepEqual(flagNotFound("nope"), {
    key: "nope",
    enabled: false,
    variant: null,
    payload: null,
    reason: "ERROR",
    error_code: "FLAG_NOT_FOUND",
  });
});
