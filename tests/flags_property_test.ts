/**
 * One evaluation, two places: 100,000 random contexts, each evaluated against one of a set of
 * random flag definitions (every operator, modifier, stickiness and variant form), give the
 * same result in TypeScript (`evaluateFlag`) and SQL (`flags.evaluate_definition`, in bulk on
 * the local stack's development database). Seeded: `FLAGS_PROPERTY_SEED` replays a run.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import {
  type Constraint,
  type EvalContext,
  FlagDefinition,
  LIST_OPERATORS,
  VALUE_OPERATORS,
} from "../supabase/functions/_shared/flags/definition.ts";
import { evaluateFlag } from "../supabase/functions/_shared/flags/evaluate.ts";

const CONTEXTS = 100_000;
const DEFINITIONS = 200;
const CHUNK = 10_000;
const NOW = new Date("2026-12-02T12:00:00.000Z");

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = Number(Deno.env.get("FLAGS_PROPERTY_SEED") ?? 20261202);
const random = generator(seed);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const chance = (p: number) => random() < p;

const ATTRIBUTES = ["tier", "country", "email", "version", "age", "signup", "current_time"];
/** Values that hit every parser's edges: numbers, dates, versions, cases, non-ASCII. */
const POOL: Record<string, readonly string[]> = {
  text: [
    "pro",
    "PRO",
    "team",
    "free",
    "",
    "test@example.com",
    "TEST@Example.COM",
    "İstanbul",
    "istanbul",
    "ΣΑΣ",
    "σας",
    "straße",
    "STRASSE",
    "Łódź",
    "用户",
    "😊 smile",
    "e\u0301",
    "é",
  ],
  number: ["12", "12.0", "-3.5", "0", ".5", "1.", "1e2", "1E-2", "13", "11", "abc", "12abc", " 12"],
  date: [
    "2022-01-29T13:00:00.000Z",
    "2022-01-29T13:00:00Z",
    "2022-01-29T15:00:00+02:00",
    "2022-01-29",
    "2022-01-30T00:00Z",
    "2026-12-02T12:00:00.000Z",
    "2022-02-30",
    "2022-01-29T24:00:00Z",
    "2022-01-29T13:00:00",
    "not a date",
  ],
  semver: [
    "1.2.2",
    "1.2.3",
    "1.10.0",
    "2.0.0-alpha",
    "2.0.0-alpha.1",
    "2.0.0-alpha.beta",
    "2.0.0-beta.11",
    "2.0.0-beta.2",
    "2.0.0-rc.1",
    "2.0.0",
    "2.0.0+build.7",
    "v2.0.0",
    "1.2",
    "01.2.3",
  ],
};
const ALL_VALUES = Object.values(POOL).flat();

function valueFor(op: string): string {
  if (op.startsWith("num_")) return pick(POOL.number);
  if (op.startsWith("date_")) return pick(POOL.date);
  if (op.startsWith("semver_")) return pick(POOL.semver);
  return pick(chance(0.8) ? POOL.text : ALL_VALUES);
}

function randomConstraint(): Constraint {
  const listOp = chance(0.45);
  const base = {
    attribute: pick(ATTRIBUTES),
    ...(chance(0.2) ? { inverted: true } : {}),
    ...(chance(0.3) ? { case_insensitive: true } : {}),
  };
  if (listOp) {
    const op = pick(LIST_OPERATORS);
    const values = Array.from({ length: 1 + int(3) }, () => valueFor(op));
    return { ...base, op, values };
  }
  const op = pick(VALUE_OPERATORS);
  return { ...base, op, value: valueFor(op) };
}

function randomDefinition(i: number): FlagDefinition {
  const variants = Array.from({ length: chance(0.5) ? int(5) : 0 }, (_, n) => ({
    name: `v${n}`,
    weight: chance(0.1) ? 0 : 1 + int(chance(0.5) ? 1000 : 50),
    ...(chance(0.7) ? { payload: pick([{ type: "string", value: `p${n}` }, n, [n, "x"]]) } : {}),
    ...(chance(0.2)
      ? { overrides: [{ attribute: pick(ATTRIBUTES), values: [pick(ALL_VALUES)] }] }
      : {}),
  }));
  return FlagDefinition.parse({
    key: chance(0.2) ? `flag.ü${i}.😊` : `flag_${i}`,
    enabled: chance(0.9),
    rollout_percent: pick([0, 1, 10, 50, 99, 100, 100, int(101)]),
    stickiness: pick(["default", "default", "targeting_key", "session_id", "tier", "email"]),
    targeting_rules: Array.from({ length: pick([0, 0, 1, 1, 2, 3]) }, randomConstraint),
    variants,
  });
}

function randomContext(): EvalContext {
  const ctx: EvalContext = {};
  if (chance(0.85)) {
    ctx.targeting_key = chance(0.2) ? `usér-${int(10_000)}-☃` : `user-${int(100_000)}`;
  }
  if (chance(0.3)) ctx.session_id = `s${int(1_000)}`;
  for (const a of ATTRIBUTES) {
    if (!chance(0.6)) continue;
    const r = random();
    if (r < 0.05) ctx[a] = int(30) - 5; // a JSON number
    else if (r < 0.08) ctx[a] = chance(0.5); // a JSON boolean
    else if (r < 0.1) ctx[a] = null;
    else if (a === "version") ctx[a] = pick(POOL.semver);
    else if (a === "age") ctx[a] = pick(POOL.number);
    else if (a === "signup" || a === "current_time") ctx[a] = pick(POOL.date);
    else ctx[a] = pick(ALL_VALUES);
  }
  return ctx;
}

Deno.test(`100,000 random contexts: TypeScript and SQL evaluate alike (seed ${seed})`, async () => {
  const definitions = Array.from({ length: DEFINITIONS }, (_, i) => randomDefinition(i));
  const contexts = Array.from({ length: CONTEXTS }, randomContext);
  const expected = contexts.map((c, i) =>
    evaluateFlag(definitions[i % DEFINITIONS], c, { now: NOW })
  );
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  const mismatches: string[] = [];
  const reasons = new Map<string, number>();
  try {
    for (let start = 0; start < CONTEXTS; start += CHUNK) {
      const calls = contexts.slice(start, start + CHUNK).map((c, j) => ({
        d: (start + j) % DEFINITIONS,
        c,
      }));
      const rows = await sql<{ result: string }[]>`
        with defs as (
          select d.n - 1 as i, d.definition
            from jsonb_array_elements(${JSON.stringify(definitions)}::text::jsonb)
                 with ordinality as d(definition, n)
        )
        select flags.evaluate_definition(defs.definition, x.call -> 'c',
                                         ${NOW.toISOString()}::timestamptz)::text as result
          from jsonb_array_elements(${JSON.stringify(calls)}::text::jsonb)
               with ordinality as x(call, n)
          join defs on defs.i = (x.call ->> 'd')::integer
         order by x.n`;
      assert.equal(rows.length, calls.length);
      rows.forEach((r, j) => {
        const i = start + j;
        const got = JSON.parse(r.result);
        reasons.set(got.reason, (reasons.get(got.reason) ?? 0) + 1);
        try {
          assert.deepStrictEqual(got, expected[i]);
        } catch {
          if (mismatches.length < 5) {
            mismatches.push(JSON.stringify({
              definition: definitions[i % DEFINITIONS],
              context: contexts[i],
              typescript: expected[i],
              sql: got,
            }));
          }
        }
      });
    }
  } finally {
    await sql.end({ timeout: 2 });
  }
  console.log(`  reasons: ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`);
  assert.deepEqual(mismatches, []);
  // The run exercised every outcome, not only "off".
  for (const r of ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"]) {
    assert.ok((reasons.get(r) ?? 0) > 100, `few results with reason ${r}`);
  }
  assert.ok(expected.filter((e) => e.variant !== null).length > 1000, "few variants chosen");
});
