/**
 * Flag evaluation throughput: 100,000 evaluations in SQL (`flags.evaluate_definition`, the
 * bulk path of the property test, and `flags.evaluate`, which reads the table) and in
 * TypeScript (`evaluateFlag`); `flags.murmur3_32` (PL/pgSQL) beside Postgres's built-in C
 * `hashtext()` and `md5()` over the same 100,000 strings, the baseline of the same run.
 * Figures only: nothing passes or fails on time.
 *
 * @module
 */
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import type { FlagDefinition } from "../supabase/functions/_shared/flags/definition.ts";
import { evaluateFlag } from "../supabase/functions/_shared/flags/evaluate.ts";
import type { BenchContext } from "./run.ts";

const N = 100_000;
const FLAG: FlagDefinition = {
  key: "bench_flags_checkout",
  enabled: true,
  rollout_percent: 50,
  stickiness: "default",
  targeting_rules: [
    { attribute: "tier", op: "in", values: ["pro", "team"] },
    { attribute: "version", op: "semver_gte", value: "1.2.0" },
  ],
  variants: [{ name: "a", weight: 50 }, { name: "b", weight: 30 }, { name: "c", weight: 20 }],
};

async function timed(label: string, fn: () => Promise<unknown> | unknown): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(
    `  ${label.padEnd(58)} ${(best / 1000).toFixed(2).padStart(6)} s  ${
      (best * 1000 / N).toFixed(1).padStart(6)
    } µs each`,
  );
  return best;
}

/** Runs the benchmark on the development database of `ctx.stack`. */
export async function run(ctx: BenchContext): Promise<void> {
  const sql = postgres(localEnv("development", ctx.stack).dbUrl, { max: 1, onnotice: () => {} });
  const definition = JSON.stringify(FLAG);
  const context =
    `jsonb_build_object('targeting_key', 'user-' || g, 'tier', 'pro', 'version', '1.3.0')`;
  try {
    await sql`
      insert into public.feature_flags (key, enabled, rollout_percent, targeting_rules, variants)
      values (${FLAG.key}, true, 50, ${JSON.stringify(FLAG.targeting_rules)}::text::jsonb,
              ${JSON.stringify(FLAG.variants)}::text::jsonb)
      on conflict (key) do nothing`;
    console.log(
      `  ${N.toLocaleString("en")} evaluations of a flag with 2 constraints, 50 %, 3 variants`,
    );
    await timed("baseline: hashtext() (C) of '<key>:user-N'", () =>
      sql.unsafe(
        `select count(hashtext('${FLAG.key}:user-' || g)) from generate_series(1, ${N}) g`,
      ));
    await timed(
      "baseline: md5() (C) of '<key>:user-N'",
      () =>
        sql.unsafe(`select count(md5('${FLAG.key}:user-' || g)) from generate_series(1, ${N}) g`),
    );
    await timed("flags.murmur3_32 (PL/pgSQL) of '<key>:user-N'", () =>
      sql.unsafe(
        `select count(flags.murmur3_32(convert_to('${FLAG.key}:user-' || g, 'UTF8'), 0))
           from generate_series(1, ${N}) g`,
      ));
    await timed("flags.evaluate_definition, one statement", () =>
      sql.unsafe(
        `select count(flags.evaluate_definition($1::text::jsonb, ${context}))
           from generate_series(1, ${N}) g`,
        [definition],
      ));
    await timed("flags.evaluate (reads feature_flags), one statement", () =>
      sql.unsafe(
        `select count(flags.evaluate('${FLAG.key}', ${context})) from generate_series(1, ${N}) g`,
      ));
    const contexts = Array.from({ length: N }, (_, g) => ({
      targeting_key: `user-${g + 1}`,
      tier: "pro",
      version: "1.3.0",
    }));
    await timed("TypeScript evaluateFlag", () => {
      for (const c of contexts) evaluateFlag(FLAG, c);
    });
  } finally {
    await sql`delete from public.feature_flags where key = ${FLAG.key}`;
    await sql.end({ timeout: 2 });
  }
}
