/**
 * `buildPlan`'s rules, one row of the table per rule of `plan.ts`'s module comment (and the
 * secret and risk rules around them). Pure: rows in, a plan out, no database.
 */
import assert from "node:assert/strict";
import { JsonNumber, type JsonObject } from "../json/lossless.ts";
import {
  buildPlan,
  type Plan,
  planDifferences,
  type PlanInput,
  PlanRefusedError,
  type Row,
  type RowsByKind,
  type TierUsage,
} from "./plan.ts";
import { SECRET_SOURCE } from "./kinds.ts";

const n = (v: number) => new JsonNumber(String(v));

function tier(slug: string, over: JsonObject = {}): Row {
  return {
    slug,
    name: slug,
    description: null,
    sort_order: n(1),
    active: true,
    metadata: {},
    ...over,
  };
}

function price(key: string, over: JsonObject = {}): Row {
  return {
    tier: "pro",
    lookup_key: key,
    currency: "usd",
    unit_amount: n(1000),
    billing_interval: "month",
    interval_count: n(1),
    active: true,
    stripe_price_id: null,
    ...over,
  };
}

function feature(tierSlug: string, key: string, value: number): Row {
  return { tier: tierSlug, feature_key: key, value: n(value) };
}

function config(key: string, over: JsonObject = {}): Row {
  return {
    key,
    value: n(1),
    description: null,
    schema_version: n(1),
    is_secret: false,
    env_specific: false,
    secret_fingerprint: null,
    ...over,
  };
}

function flag(key: string, over: JsonObject = {}): Row {
  return {
    key,
    description: null,
    enabled: true,
    rollout_percent: n(100),
    targeting_rules: [],
    stickiness: "default",
    variants: [],
    ...over,
  };
}

/** One rule: the two sides, and what the plan must say. */
interface Case {
  rule: string;
  source: RowsByKind;
  target: RowsByKind;
  usage?: TierUsage;
  includeFlagState?: boolean;
  from?: string;
  /** Checks the plan (or the refusal, for a case that expects one). */
  expect: (plan: Plan) => void;
  refused?: RegExp;
}

const only = (plan: Plan) => {
  assert.equal(plan.changes.length, 1, JSON.stringify(plan.changes));
  return plan.changes[0];
};

const CASES: Case[] = [
  {
    rule: "an equal target plans nothing",
    source: { config: [config("a")], flags: [flag("f")] },
    target: { config: [config("a")], flags: [flag("f")] },
    expect: (plan) => {
      assert.deepEqual(plan.changes, []);
      assert.equal(plan.risk, "none");
    },
  },
  {
    rule: "a new config entry is created, low risk",
    source: { config: [config("a")] },
    target: { config: [] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.kind, c.key, c.action, c.risk], ["config", "a", "create", "low"]);
      assert.equal(plan.summary.create, 1);
    },
  },
  {
    rule: "an environment-specific entry is kept, on either side, never planned",
    source: { config: [config("a", { env_specific: true, value: n(2) }), config("b")] },
    target: { config: [config("a"), config("b", { env_specific: true, value: n(3) })] },
    expect: (plan) => {
      assert.deepEqual(plan.changes, []);
      assert.deepEqual(plan.kept.map((k) => [k.kind, k.key]), [["config", "a"], ["config", "b"]]);
      assert.match(plan.kept[0].reason, /environment-specific/);
    },
  },
  {
    rule: "a secret proposal plans the target's own environment-specific entry",
    from: SECRET_SOURCE,
    source: { config: [config("a", { env_specific: true, value: n(2) })] },
    target: { config: [config("a", { env_specific: true })] },
    expect: (plan) => assert.equal(only(plan).action, "update"),
  },
  {
    rule: "secrets appear as fingerprints only, and are high risk",
    source: {
      config: [
        config("new", { is_secret: true, value: null, secret_fingerprint: "fp2" }),
        config("old", { is_secret: true, value: null, secret_fingerprint: "fp3" }),
      ],
    },
    target: {
      config: [config("old", { is_secret: true, value: null, secret_fingerprint: "fp1" })],
    },
    expect: (plan) => {
      const [created, updated] = plan.changes;
      assert.deepEqual([created.action, created.risk], ["create", "high"]);
      assert.deepEqual(created.reasons, ["new secret value"]);
      assert.equal(created.after!.value, null);
      assert.equal(created.after!.secret_fingerprint, "fp2");
      assert.deepEqual([updated.action, updated.risk], ["update", "high"]);
      assert.ok(updated.reasons.includes("secret value changes (fingerprints only)"));
      assert.equal(updated.after!.secret_fingerprint, "fp3");
      assert.equal(plan.risk, "high");
    },
  },
  {
    rule: "a tier without memberships gone from the source is deleted, its children with it",
    source: { tiers: [], tier_features: [], tier_prices: [] },
    target: {
      tiers: [tier("pro")],
      tier_features: [feature("pro", "seats", 3)],
      tier_prices: [price("pro_m")],
    },
    expect: (plan) => {
      assert.deepEqual(
        plan.changes.map((c) => [c.kind, c.action, c.reasons[0]]),
        [
          ["tiers", "delete", "gone from staging"],
          ["tier_features", "delete", "its tier pro is deleted"],
          ["tier_prices", "delete", "its tier pro is deleted"],
        ],
      );
    },
  },
  {
    rule: "a tier with memberships, none live, is retired (not deleted); its children stay",
    source: { tiers: [], tier_features: [], tier_prices: [] },
    target: {
      tiers: [tier("pro")],
      tier_features: [feature("pro", "seats", 3)],
      tier_prices: [price("pro_m")],
    },
    usage: { pro: { memberships: 2, live: 0 } },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.kind, c.action, c.risk], ["tiers", "retire", "high"]);
      assert.equal(c.after!.active, false);
      assert.deepEqual(
        plan.kept.map((k) => [k.kind, k.reason]),
        [
          ["tier_features", "its tier pro is retired, not deleted"],
          ["tier_prices", "its tier pro is retired, not deleted"],
        ],
      );
    },
  },
  {
    rule: "an inactive tier with memberships gone from the source is kept as retired",
    source: { tiers: [] },
    target: { tiers: [tier("pro", { active: false })] },
    usage: { pro: { memberships: 1, live: 0 } },
    expect: (plan) => {
      assert.deepEqual(plan.changes, []);
      assert.equal(plan.kept[0].reason, "retired: inactive, kept for its memberships");
    },
  },
  {
    rule: "a tier with live memberships gone from the source refuses the plan",
    source: { tiers: [] },
    target: { tiers: [tier("pro")] },
    usage: { pro: { memberships: 3, live: 2 } },
    refused: /tier pro is gone from staging but has 2 live membership\(s\) in production/,
    expect: () => {},
  },
  {
    rule: "deactivating a tier with live memberships is allowed but high risk",
    source: { tiers: [tier("pro", { active: false })] },
    target: { tiers: [tier("pro")] },
    usage: { pro: { memberships: 3, live: 2 } },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.action, c.risk], ["update", "high"]);
      assert.deepEqual(c.reasons, ["changes active", "touches live memberships (2 on tier pro)"]);
    },
  },
  {
    rule: "a change under a tier with live memberships is high risk",
    source: { tiers: [tier("pro")], tier_features: [feature("pro", "seats", 5)] },
    target: { tiers: [tier("pro")], tier_features: [feature("pro", "seats", 3)] },
    usage: { pro: { memberships: 1, live: 1 } },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.kind, c.action, c.risk], ["tier_features", "update", "high"]);
      assert.ok(c.reasons.includes("touches live memberships (1 on tier pro)"));
    },
  },
  {
    rule: "a changed amount replaces the price: immutable, high risk, stripe_price_id empty",
    source: { tiers: [tier("pro")], tier_prices: [price("pro_m", { unit_amount: n(2000) })] },
    target: {
      tiers: [tier("pro")],
      tier_prices: [price("pro_m", { stripe_price_id: "price_target" })],
    },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.action, c.risk], ["replace", "high"]);
      assert.deepEqual(c.reasons, [
        "changes unit_amount",
        "prices are immutable: a new price takes the lookup key",
      ]);
      assert.equal(c.after!.stripe_price_id, null);
      assert.equal(c.before!.stripe_price_id, "price_target");
    },
  },
  {
    rule: "a price changing only in place is updated, still high risk, its link kept",
    source: { tiers: [tier("pro")], tier_prices: [price("pro_m", { active: false })] },
    target: { tiers: [tier("pro")], tier_prices: [price("pro_m", { stripe_price_id: "price_t" })] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.action, c.risk], ["update", "high"]);
      assert.equal(c.after!.stripe_price_id, "price_t");
      assert.equal(c.after!.active, false);
    },
  },
  {
    rule: "a price gone from the source is archived, never deleted: inactive, key released",
    source: { tiers: [tier("pro")], tier_prices: [] },
    target: { tiers: [tier("pro")], tier_prices: [price("pro_m")] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.action, c.risk], ["archive", "high"]);
      assert.deepEqual(c.reasons, ["gone from staging: archived (inactive, lookup key released)"]);
      assert.deepEqual([c.after!.active, c.after!.lookup_key], [false, null]);
    },
  },
  {
    rule: "stripe_price_id never crosses: a difference in it alone plans nothing",
    source: { tiers: [tier("pro")], tier_prices: [price("pro_m", { stripe_price_id: "price_s" })] },
    target: { tiers: [tier("pro")], tier_prices: [price("pro_m", { stripe_price_id: "price_t" })] },
    expect: (plan) => assert.deepEqual(plan.changes, []),
  },
  {
    rule: "a new price arrives without the source's stripe_price_id",
    source: { tiers: [tier("pro")], tier_prices: [price("pro_m", { stripe_price_id: "price_s" })] },
    target: { tiers: [tier("pro")], tier_prices: [] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.action, c.after!.stripe_price_id], ["create", null]);
    },
  },
  {
    rule: "flag state stays as in the target unless the plan includes it",
    source: { flags: [flag("f", { enabled: false, rollout_percent: n(10) })] },
    target: { flags: [flag("f")] },
    expect: (plan) => assert.deepEqual(plan.changes, []),
  },
  {
    rule: "a flag's other fields update while its target state is kept",
    source: { flags: [flag("f", { description: "new", enabled: false })] },
    target: { flags: [flag("f")] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual(c.reasons, ["changes description"]);
      assert.deepEqual([c.after!.description, c.after!.enabled], ["new", true]);
    },
  },
  {
    rule: "with --include-flag-state the state is planned",
    includeFlagState: true,
    source: { flags: [flag("f", { enabled: false, rollout_percent: n(10) })] },
    target: { flags: [flag("f")] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual(c.reasons, ["changes enabled, rollout_percent"]);
      assert.equal(c.after!.enabled, false);
      assert.deepEqual(plan.options, { include_flag_state: true });
    },
  },
  {
    rule: "a flag's rules, stickiness and variants travel while its target state is kept",
    source: {
      flags: [flag("f", {
        enabled: false,
        targeting_rules: [{ attribute: "tier", op: "in", values: ["pro"], case_insensitive: true }],
        stickiness: "account_id",
        variants: [{ name: "blue", weight: n(1), payload: { type: "string", value: "b" } }],
      })],
    },
    target: { flags: [flag("f")] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual(c.reasons, ["changes targeting_rules, stickiness, variants"]);
      assert.deepEqual([c.after!.enabled, c.after!.stickiness], [true, "account_id"]);
    },
  },
  {
    rule: "a flag whose rules are invalid in the source refuses the plan, naming the field",
    source: {
      flags: [flag("f", { targeting_rules: [{ attribute: "tier", op: "equals", value: "pro" }] })],
    },
    target: { flags: [] },
    refused: /feature flag f is invalid in staging: targeting_rules\.0/,
    expect: () => {},
  },
  {
    rule: "a flag with a negative variant weight or a repeated variant name is refused",
    source: {
      flags: [
        flag("f", { variants: [{ name: "a", weight: n(-1) }] }),
        flag("g", { variants: [{ name: "a", weight: n(1) }, { name: "a", weight: n(1) }] }),
      ],
    },
    target: { flags: [flag("f"), flag("g")] },
    refused:
      /flag f is invalid in staging: variants\.0\.weight: .*flag g is invalid in staging: variants: variant names are unique/,
    expect: () => {},
  },
  {
    rule: "a flag new to the target arrives disabled",
    source: { flags: [flag("f")] },
    target: { flags: [] },
    expect: (plan) => {
      const c = only(plan);
      assert.equal(c.after!.enabled, false);
      assert.equal(String(c.after!.rollout_percent), "0");
      assert.deepEqual(c.reasons, [
        "arrives disabled (flag state is not promoted without --include-flag-state)",
      ]);
    },
  },
  {
    rule: "a flag new to the target keeps its state with --include-flag-state",
    includeFlagState: true,
    source: { flags: [flag("f")] },
    target: { flags: [] },
    expect: (plan) => {
      const c = only(plan);
      assert.deepEqual([c.after!.enabled, String(c.after!.rollout_percent)], [true, "100"]);
      assert.deepEqual(c.reasons, []);
    },
  },
];

function inputOf(c: Case): PlanInput {
  return {
    source: c.from ?? "staging",
    target: "production",
    scope: ["config", "tiers", "flags"],
    includeFlagState: c.includeFlagState ?? false,
    sourceRows: c.source,
    targetRows: c.target,
    tierUsage: c.usage ?? {},
  };
}

for (const c of CASES) {
  Deno.test(`buildPlan: ${c.rule}`, () => {
    if (c.refused) {
      assert.throws(() => buildPlan(inputOf(c)), (err: unknown) => {
        assert.ok(err instanceof PlanRefusedError);
        assert.match(err.message, c.refused!);
        return true;
      });
      return;
    }
    c.expect(buildPlan(inputOf(c)));
  });
}

Deno.test("buildPlan: external changes are appended after the database kinds, counted", () => {
  const plan = buildPlan({
    ...inputOf(CASES[1]),
    external: [{
      kind: "stripe_products",
      key: "product:pro",
      action: "create",
      risk: "low",
      reasons: [],
      before: null,
      after: {},
    }],
  });
  assert.deepEqual(plan.changes.map((c) => c.kind), ["config", "stripe_products"]);
  assert.equal(plan.summary.create, 2);
});

Deno.test("planDifferences: names what appeared, disappeared and changed", () => {
  const approved = buildPlan(inputOf(CASES[1]));
  const now = buildPlan({
    ...inputOf(CASES[1]),
    sourceRows: { config: [config("a", { value: n(2) }), config("b")] },
  });
  assert.deepEqual(planDifferences(approved, approved), []);
  assert.deepEqual(planDifferences(approved, now), [
    "config a: the target changed since approval (create differs)",
    "config b: new change not in the approved plan",
  ]);
});
