import assert from "node:assert/strict";
import type { FlagDefinition } from "./definition.ts";
import { testFlag } from "./test_flag.ts";
import { normalizedHash } from "./murmur3.ts";
import {
  bulkEtag,
  compileFlagSet,
  etagMatches,
  evaluateAll,
  evaluateOfrep,
  OfrepRequestError,
  ofrepStatus,
  parseEvaluationRequest,
} from "./ofrep.ts";

const flag = testFlag;

const NOW = new Date("2026-12-02T12:00:00Z");

function one(def: FlagDefinition | Record<string, unknown>, ctx: Record<string, unknown>) {
  const set = compileFlagSet("v1", [def]);
  const key = String(def.key);
  return evaluateOfrep(set.byKey.get(key), key, ctx, NOW);
}

Deno.test("parseEvaluationRequest: targetingKey becomes targeting_key; the user id is the default", () => {
  assert.deepEqual(
    parseEvaluationRequest('{"context": {"targetingKey": "u1", "tier": "pro"}}', { userId: "me" }),
    { tier: "pro", targeting_key: "u1" },
  );
  assert.deepEqual(parseEvaluationRequest('{"context": {"tier": "pro"}}', { userId: "me" }), {
    tier: "pro",
    targeting_key: "me",
  });
  assert.deepEqual(parseEvaluationRequest('{"context": {"targetingKey": ""}}', { userId: "me" }), {
    targeting_key: "me",
  });
  assert.deepEqual(parseEvaluationRequest("", {}), {});
  assert.deepEqual(parseEvaluationRequest("{}", {}), {});
});

Deno.test("parseEvaluationRequest: PARSE_ERROR for a body that is not JSON, INVALID_CONTEXT for a bad context", () => {
  const cases: [string, string, RegExp][] = [
    ["{", "PARSE_ERROR", /not JSON/],
    ["[1]", "INVALID_CONTEXT", /body is a JSON array/],
    ['{"context": "u1"}', "INVALID_CONTEXT", /context: it is a JSON string/],
    ['{"context": {"targetingKey": 7}}', "INVALID_CONTEXT", /targetingKey is a JSON number/],
    [
      '{"context": {"targeting_key": "u1"}}',
      "INVALID_CONTEXT",
      /send the targeting key as targetingKey/,
    ],
  ];
  for (const [body, code, message] of cases) {
    assert.throws(
      () => parseEvaluationRequest(body),
      (e) => e instanceof OfrepRequestError && e.code === code && message.test(e.message),
      body,
    );
  }
});

Deno.test("evaluateOfrep: a flag without variants is a boolean flag, variant on or off", () => {
  assert.deepEqual(one(flag({ key: "b" }), {}), {
    key: "b",
    value: true,
    variant: "on",
    reason: "STATIC",
  });
  assert.deepEqual(one(flag({ key: "b", enabled: false }), {}), {
    key: "b",
    value: false,
    variant: "off",
    reason: "DISABLED",
  });
  const rules = [{ attribute: "tier", op: "in" as const, values: ["pro"] }];
  assert.deepEqual(one(flag({ key: "b", targeting_rules: rules }), { tier: "pro" }), {
    key: "b",
    value: true,
    variant: "on",
    reason: "TARGETING_MATCH",
  });
  // Our DEFAULT (the rules exclude the context) is not an OFREP reason: the targeting decided.
  assert.deepEqual(one(flag({ key: "b", targeting_rules: rules }), { tier: "free" }), {
    key: "b",
    value: false,
    variant: "off",
    reason: "TARGETING_MATCH",
  });
});

Deno.test("evaluateOfrep: a variant flag serves the payload, else the variant's name; off defers to the code default", () => {
  const variants = [
    { name: "blue", weight: 1, payload: { hex: "#00f" } },
    { name: "green", weight: 1, overrides: [{ attribute: "tier", values: ["team"] }] },
  ];
  const def = flag({ key: "theme", variants });
  const id = ["u1", "u2", "u3", "u4"].find((u) => normalizedHash("theme", u, 2, 86028157) === 1)!;
  assert.deepEqual(one(def, { targeting_key: id }), {
    key: "theme",
    value: { hex: "#00f" },
    variant: "blue",
    reason: "SPLIT",
  });
  assert.deepEqual(one(def, { tier: "team" }), {
    key: "theme",
    value: "green",
    variant: "green",
    reason: "TARGETING_MATCH",
  });
  assert.deepEqual(one({ ...def, enabled: false }, {}), { key: "theme", reason: "DISABLED" });
});

Deno.test("evaluateOfrep: TARGETING_KEY_MISSING only when the answer hangs on a missing stickiness value", () => {
  const split = flag({ key: "s", rollout_percent: 30 });
  const missing = one(split, { tier: "pro" });
  assert.equal("errorCode" in missing && missing.errorCode, "TARGETING_KEY_MISSING");
  assert.equal(ofrepStatus(missing), 400);
  assert.equal("errorCode" in one(split, { session_id: "s1" }), false, "session_id stands in");
  const named = flag({ key: "n", stickiness: "org_id" });
  assert.match(String((one(named, {}) as { errorDetails: string }).errorDetails), /org_id/);
  const draw = flag({
    key: "d",
    variants: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }],
  });
  assert.equal((one(draw, {}) as { errorCode: string }).errorCode, "TARGETING_KEY_MISSING");
  // No dependence on the key: off, excluded by rules, 0 %, 100 % with one variant.
  for (
    const def of [
      flag({ key: "x", enabled: false, rollout_percent: 30 }),
      flag({
        key: "x",
        rollout_percent: 30,
        targeting_rules: [{ attribute: "tier", op: "in", values: ["team"] }],
      }),
      flag({ key: "x", rollout_percent: 0 }),
      flag({ key: "x", variants: [{ name: "a", weight: 1 }, { name: "b", weight: 0 }] }),
    ]
  ) {
    assert.equal("errorCode" in one(def, { tier: "pro" }), false, JSON.stringify(def));
  }
});

Deno.test("evaluateOfrep: FLAG_NOT_FOUND is 404; a stored definition the schema refuses is PARSE_ERROR", () => {
  const set = compileFlagSet("v1", [
    { ...flag({ key: "bad" }), targeting_rules: [{ attribute: "tier", op: "like" }] },
    flag({ key: "listed", variants: [{ name: "a", weight: 1, payload: [1, 2] }] }),
  ]);
  const missing = evaluateOfrep(undefined, "nope", {});
  assert.deepEqual(missing, {
    key: "nope",
    errorCode: "FLAG_NOT_FOUND",
    errorDetails: "Flag nope was not found",
  });
  assert.equal(ofrepStatus(missing), 404);
  const bad = evaluateOfrep(set.byKey.get("bad"), "bad", {}) as { errorDetails: string };
  assert.equal((bad as { errorCode?: string }).errorCode, "PARSE_ERROR");
  assert.match(bad.errorDetails, /targeting_rules\.0/);
  const listed = evaluateOfrep(set.byKey.get("listed"), "listed", {}) as { errorDetails: string };
  assert.match(listed.errorDetails, /variants\.0\.payload: an array/);
  assert.deepEqual(evaluateAll(set, {}).map((a) => "errorCode" in a && a.errorCode), [
    "PARSE_ERROR",
    "PARSE_ERROR",
  ]);
});

Deno.test("bulkEtag: moves with the version, the context, and the clock only for flags that read it", async () => {
  const plain = flag({ key: "p" });
  const dated = flag({
    key: "t",
    targeting_rules: [{
      attribute: "current_time",
      op: "date_after",
      value: "2026-12-02T12:00:30Z",
    }],
  });
  const v1 = compileFlagSet("v1", [plain]);
  const later = new Date(NOW.getTime() + 60_000);
  const base = await bulkEtag(v1, { targeting_key: "u1" }, NOW);
  assert.match(base, /^"[0-9a-f]{32}"$/);
  assert.equal(await bulkEtag(v1, { targeting_key: "u1" }, later), base, "no flag reads the clock");
  assert.notEqual(
    await bulkEtag(compileFlagSet("v2", [plain]), { targeting_key: "u1" }, NOW),
    base,
  );
  assert.notEqual(await bulkEtag(v1, { targeting_key: "u2" }, NOW), base);
  const withClock = compileFlagSet("v1", [plain, dated]);
  assert.notEqual(
    await bulkEtag(withClock, {}, NOW),
    await bulkEtag(withClock, {}, later),
    "the dated flag turned on between the two",
  );
  const fixed = { current_time: "2026-12-02T13:00:00Z" };
  assert.equal(await bulkEtag(withClock, fixed, NOW), await bulkEtag(withClock, fixed, later));
});

Deno.test("etagMatches: a list, weak or strong; nothing else", () => {
  assert.equal(etagMatches('"a", W/"b"', '"b"'), true);
  assert.equal(etagMatches('"a"', '"a"'), true);
  assert.equal(etagMatches('"a"', '"b"'), false);
  assert.equal(etagMatches("*", '"b"'), false);
  assert.equal(etagMatches(undefined, '"b"'), false);
});
