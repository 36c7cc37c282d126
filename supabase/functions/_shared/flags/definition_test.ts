import assert from "node:assert/strict";
import { JsonNumber } from "../json/lossless.ts";
import { flagRuleErrors, FlagRules } from "./definition.ts";

Deno.test("flagRuleErrors: the seed's rule forms are valid, lossless numbers included", () => {
  assert.deepEqual(
    flagRuleErrors({
      targeting_rules: [
        { attribute: "tier", op: "in", values: ["pro", "team"] },
        { attribute: "tier", op: "eq", value: "team" },
        { attribute: "version", op: "semver_gte", value: "2.0.0", inverted: true },
      ],
      stickiness: "default",
      variants: [{
        name: "a",
        weight: new JsonNumber("10"),
        payload: { n: new JsonNumber("1.50") },
      }],
    }),
    [],
  );
});

Deno.test("flagRuleErrors names the field of each problem", () => {
  const errors = flagRuleErrors({
    targeting_rules: [
      { attribute: "tier", op: "in", value: "pro" },
      { attribute: "user id", op: "eq", value: "x" },
    ],
    stickiness: "",
    variants: [{ name: "a", weight: 1.5 }],
  });
  assert.ok(errors.some((e) => e.startsWith("targeting_rules.0")), errors.join("\n"));
  assert.ok(errors.some((e) => e.startsWith("targeting_rules.1")), errors.join("\n"));
  assert.ok(errors.some((e) => e.startsWith("stickiness")), errors.join("\n"));
  assert.ok(errors.some((e) => e.startsWith("variants.0.weight")), errors.join("\n"));
});

Deno.test("FlagRules refuses unknown operators and fields", () => {
  const base = { stickiness: "default", variants: [] };
  assert.equal(
    FlagRules.safeParse({ ...base, targeting_rules: [{ attribute: "a", op: "regex", value: "." }] })
      .success,
    false,
  );
  assert.equal(
    FlagRules.safeParse({
      ...base,
      targeting_rules: [{ attribute: "a", op: "in", values: ["x"], extra: 1 }],
    }).success,
    false,
  );
});
