/**
 * Promotion speed at the size the issue names: 10,000 config keys and 200 tiers with 20
 * features each (plus two prices per tier), development → staging through the real `ops`
 * API (plan; apply = drift check + one transaction + validation), beside a baseline measured
 * in the same run: `pg_dump --data-only` of the same tables from development piped into
 * `psql` on production with those tables emptied (by breaking glass; loaded with triggers disabled).
 *
 * @module
 */
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { ensureUser, userToken } from "../scripts/local/auth.ts";
import { callOps } from "../scripts/cli/api.ts";
import type { OpsRequest } from "../supabase/functions/_shared/api/contract.ts";
import type { BenchContext } from "./run.ts";

const CONFIG_KEYS = 10_000;
const TIERS = 200;
const FEATURES = 20;
const TABLES = ["app_config", "membership_tiers", "tier_features", "tier_prices", "feature_flags"];

async function seedSource(sql: postgres.Sql): Promise<void> {
  await sql`
    insert into public.app_config (key, value, description)
    select format('bench.key_%s', lpad(i::text, 5, '0')),
           jsonb_build_object('n', i, 'big', 9007199254740993 + i, 'list', jsonb_build_array(i, i * 2),
                              'nested', jsonb_build_object('label', 'value ' || i)),
           'bench entry ' || i
    from generate_series(1, ${CONFIG_KEYS}) as i
    on conflict (key) do nothing`;
  await sql`
    insert into public.membership_tiers (slug, name, description, sort_order, metadata)
    select format('bench-%s', lpad(i::text, 3, '0')), 'Bench ' || i, 'benchmark tier', 1000 + i,
           jsonb_build_object('rank', i)
    from generate_series(1, ${TIERS}) as i
    on conflict (slug) do nothing`;
  await sql`
    insert into public.tier_features (tier_id, feature_key, value)
    select t.id, format('feature_%s', lpad(f::text, 2, '0')), to_jsonb(f * 10)
    from public.membership_tiers as t, generate_series(1, ${FEATURES}) as f
    where t.slug like 'bench-%'
    on conflict (tier_id, feature_key) do nothing`;
  await sql`
    insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
    select t.id, replace(t.slug, '-', '_') || '_' || iv, 'usd', 1000 + t.sort_order, iv
    from public.membership_tiers as t, unnest(array['month', 'year']) as iv
    where t.slug like 'bench-%'
    on conflict (lookup_key) do nothing`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, (performance.now() - t0) / 1000];
}

async function baseline(from: string, to: string): Promise<number> {
  const target = postgres(to, { max: 1, onnotice: () => {} });
  // Production is approval-gated: emptying it is the owner's audited break glass, and the load
  // runs with triggers disabled (`--disable-triggers`, as the users-copy baseline), so the
  // baseline stays a plain copy of rows.
  await target.begin(async (tx) => {
    await tx`select ops.break_glass('bench: empty the promotion baseline target')`;
    await tx.unsafe(`truncate ${TABLES.map((t) => `public.${t}`).join(", ")} cascade`);
  });
  await target.end();
  const tables = TABLES.flatMap((t) => ["-t", `public.${t}`]);
  const [, seconds] = await timed(async () => {
    const cmd = `pg_dump --data-only --disable-triggers ${
      tables.join(" ")
    } '${from}' | psql -q -v ON_ERROR_STOP=1 '${to}' > /dev/null`;
    const { code, stderr } = await new Deno.Command("sh", { args: ["-c", cmd], stderr: "piped" })
      .output();
    if (code !== 0) throw new Error(`Cannot run the baseline: ${new TextDecoder().decode(stderr)}`);
  });
  return seconds;
}

/** Runs the benchmark on the bench stack. */
export async function run(ctx: BenchContext): Promise<void> {
  const dev = localEnv("development", ctx.stack);
  const staging = localEnv("staging", ctx.stack);
  const production = localEnv("production", ctx.stack);
  const devSql = postgres(dev.dbUrl, { max: 2, onnotice: () => {} });
  const stagingSql = postgres(staging.dbUrl, { max: 2, onnotice: () => {} });
  try {
    await seedSource(devSql);
    await ensureUser(stagingSql, { email: "bench.operator@stagecoach.test", role: "operator" });
    const { access_token: token } = await userToken(stagingSql, staging, {
      email: "bench.operator@stagecoach.test",
    });
    const [{ n }] = await devSql`
      select (select count(*) from public.app_config) + (select count(*) from public.membership_tiers)
           + (select count(*) from public.tier_features) + (select count(*) from public.tier_prices)
           + (select count(*) from public.feature_flags) as n`;
    const plan = async (body: OpsRequest<"promotion.plan">["body"]) => {
      const out = await callOps(staging, "promotion.plan", { token, body });
      return { promotion: "promotion" in out ? out.promotion : undefined };
    };
    const apply = (id: string) => callOps(staging, "promotion.apply", { token, params: { id } });
    const body: OpsRequest<"promotion.plan">["body"] = {
      source: "development",
      scope: ["config", "tiers", "flags"],
    };

    // Warm the function (JIT, its pools to both databases) with a small dry run, as a
    // long-lived function is; the figures below are then steady-state.
    await plan({ source: "development", scope: ["flags"], dry_run: true });
    const rows: [string, string, number][] = [];
    const [created, planCreate] = await timed(() => plan(body));
    rows.push(["plan (all new)", String(created.promotion?.change_count), planCreate]);
    const [applied, applyCreate] = await timed(() => apply(created.promotion!.id));
    if (applied.promotion.status !== "succeeded") {
      throw new Error(`Cannot bench: apply ${applied.promotion.status}`);
    }
    rows.push([
      "apply (all new, incl. validation)",
      String(created.promotion?.change_count),
      applyCreate,
    ]);
    const [, replan] = await timed(() => plan(body));
    rows.push(["re-plan (nothing to do)", "0", replan]);

    await devSql`
      update public.app_config set value = jsonb_set(value, '{n}', to_jsonb(-(value ->> 'n')::int))
      where key like 'bench.key_%' and (value ->> 'n')::int % 10 = 0`;
    const [updated, planUpdate] = await timed(() => plan(body));
    rows.push(["plan (1,000 updates)", String(updated.promotion?.change_count), planUpdate]);
    const [, applyUpdate] = await timed(() => apply(updated.promotion!.id));
    rows.push([
      "apply (1,000 updates, incl. validation)",
      String(updated.promotion?.change_count),
      applyUpdate,
    ]);

    const base = await baseline(dev.dbUrl, production.dbUrl);
    rows.push(["baseline: pg_dump --data-only | psql (empty target)", String(n), base]);

    console.log(
      `promotion: development → staging, ${CONFIG_KEYS.toLocaleString("en")} config keys, ` +
        `${TIERS} tiers × ${FEATURES} features, 2 prices per tier (+ the seed); ${n} rows in all`,
    );
    console.log("  step                                                  changes  seconds");
    for (const [step, count, s] of rows) {
      console.log(`  ${step.padEnd(52)} ${count.padStart(8)} ${s.toFixed(3).padStart(8)}`);
    }
    console.log("  goal: plan < 1 s and apply < 2 s at this size (2-core machine)");
  } finally {
    await devSql.end();
    await stagingSql.end();
  }
}
