/**
 * What a rollout relies on from the flag evaluator (issue 14):
 * - sticky bucketing means raising a percentage only adds users: the users inside at 5 % are
 *   inside at 25 %, those at 25 % inside at 50 %, …, in SQL (`flags.evaluate_definition`) and in
 *   TypeScript (`evaluateFlag`) alike, and each share is close to its percentage;
 * - a per-flag health query that compares users inside the rollout with those outside through
 *   `flags.evaluate` runs as the release watch runs it (`healthQueryMetrics`: read only, under a
 *   statement timeout) and breaches when failures concentrate inside the rollout, not when they
 *   are spread evenly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { evaluateFlag } from "../supabase/functions/_shared/flags/evaluate.ts";
import type { FlagDefinition } from "../supabase/functions/_shared/flags/definition.ts";
import { parseHealthQuery } from "../supabase/functions/_shared/release/health.ts";
import { healthQueryMetrics } from "../supabase/functions/_shared/release/sample.ts";
import { breakGlass, uniqueSuffix } from "./promotion_helpers.ts";

const USERS = 2_000;
const STAGES = [1, 5, 25, 50, 100];

function userIds(): string[] {
  return Array.from({ length: USERS }, () => crypto.randomUUID());
}

function definition(key: string, percent: number): FlagDefinition {
  return {
    key,
    enabled: true,
    rollout_percent: percent,
    stickiness: "default",
    targeting_rules: [],
    variants: [],
  };
}

Deno.test("raising a rollout's percentage only adds users, in SQL and TypeScript alike", async () => {
  const db = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    // Fixed key and users: the shares below are those of these exact hashes, not a chance draw.
    const key = "rollout_subset.checkout";
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
    let previous = new Set<string>();
    for (const percent of STAGES) {
      const rows = await db<{ id: string; on: boolean }[]>`
        select u.id, (flags.evaluate_definition(${
        JSON.stringify(definition(key, percent))
      }::text::jsonb,
                        jsonb_build_object('targeting_key', u.id)) ->> 'enabled')::boolean as on
        from unnest(${users}::text[]) as u(id)`;
      const inside = new Set(rows.filter((r) => r.on).map((r) => r.id));
      const ts = new Set(
        users.filter((id) => evaluateFlag(definition(key, percent), { targeting_key: id }).enabled),
      );
      assert.deepEqual(
        [...inside].sort(),
        [...ts].sort(),
        `SQL and TypeScript agree at ${percent} %`,
      );
      for (const id of previous) {
        assert.ok(inside.has(id), `a user inside before stays inside at ${percent} %`);
      }
      const share = (inside.size / USERS) * 100;
      assert.ok(
        Math.abs(share - percent) <= 4,
        `about ${percent} % of users are inside (got ${share.toFixed(1)} %)`,
      );
      previous = inside;
    }
    assert.equal(previous.size, USERS, "everyone is inside at 100 %");
  } finally {
    await db.end();
  }
});

Deno.test("a flag's health query compares users inside the rollout with those outside", async () => {
  const db = postgres(localEnv("development").dbUrl, { max: 2, onnotice: () => {} });
  const suffix = uniqueSuffix().replace(/[^a-z0-9]/g, "");
  const flag = `rollout_query.f${suffix}`;
  const table = `rollout_payments_${suffix}`;
  try {
    await breakGlass(db, "tests: a flag at 25 %", async (tx) => {
      await tx`insert into public.feature_flags (key, enabled, rollout_percent)
               values (${flag}, true, 25)`;
    });
    await db.unsafe(
      `create table public.${table} (user_id text not null, failed boolean not null)`,
    );
    const users = userIds();
    const text = `-- Payment failure rate inside the rollout minus outside it.
-- threshold: 0.02
-- direction: above
select coalesce(avg(failed::int) filter (where inside), 0)
     - coalesce(avg(failed::int) filter (where not inside), 0)
from (select p.failed,
             (flags.evaluate('${flag}', jsonb_build_object('targeting_key', p.user_id)) ->> 'enabled')::boolean
               as inside
      from public.${table} p) s;
`;
    const query = parseHealthQuery(
      `payment_failures_${suffix}.sql`,
      text,
      createHash("sha256").update(text).digest("hex"),
    );

    // Every 10th payment fails inside the rollout and outside it alike: no difference, healthy.
    await db.unsafe(
      `insert into public.${table}
       select id, row_number() over (partition by inside order by id) % 10 = 0
       from (select id, (flags.evaluate($2, jsonb_build_object('targeting_key', id)) ->> 'enabled')::boolean
                          as inside
             from unnest($1::text[]) as u(id)) s`,
      [users, flag],
    );
    let [metric] = await healthQueryMetrics(db, [query]);
    assert.notEqual(metric.value, null, `the query ran: ${metric.detail}`);
    assert.ok(Math.abs(metric.value!) < 0.01, `spread evenly: ${metric.value}`);
    assert.equal(metric.healthy, true);

    // Now the users inside the rollout fail more: the query breaches.
    await db.unsafe(
      `update public.${table} set failed = true
       where (flags.evaluate($1, jsonb_build_object('targeting_key', user_id)) ->> 'enabled')::boolean
         and random() < 0.3`,
      [flag],
    );
    [metric] = await healthQueryMetrics(db, [query]);
    assert.ok(metric.value! > 0.1, `failures inside the rollout: ${metric.value}`);
    assert.equal(metric.healthy, false);
  } finally {
    await db.unsafe(`drop table if exists public.${table}`);
    await breakGlass(db, "tests: remove the flag", async (tx) => {
      await tx`delete from public.feature_flags where key = ${flag}`;
    });
    await db.end();
  }
});
