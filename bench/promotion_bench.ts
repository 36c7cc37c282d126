/**
 * Promotion speed at the sizes the issue names, development → staging through the real `ops`
 * API (plan; apply = drift check + one transaction + validation), each beside a baseline
 * measured in the same run at that size: `pg_dump --data-only` of the same five tables from
 * development piped into `psql` on production with those tables emptied (by breaking glass;
 * loaded with triggers disabled).
 *
 * Sizes: 200 tiers with 20 features each and two prices per tier (4,600 rows) plus 10,000
 * config keys (14,646 changes with the seed's rows), then the source grown to 95,400 config
 * keys (100,000 changes: the seed's own 46 differences were promoted at the first size); staging's promotable rows are emptied before each size, so every
 * plan creates all of them. `STAGECOACH_BENCH_PROMOTION_KEYS` (comma-separated) sets the
 * config key counts. At the first size, 1,000 updates are planned and applied too.
 *
 * Besides wall time, the `ops` function's own CPU time per request and its peak resident
 * memory are read from /proc (the hosted Edge Runtime allows 2 s of CPU and 256 MB), and this
 * client's CPU time (the CLI's share: sending, parsing and checking the answer). Plans are
 * asked for as `promote plan` asks (the first {@link PLAN_PAGE} changes in the answer).
 *
 * @module
 */
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { ensureUser, userToken } from "../scripts/local/auth.ts";
import { callOps } from "../scripts/cli/api.ts";
import { PLAN_PAGE } from "../scripts/cli/promote.ts";
import type { OpsRequest } from "../supabase/functions/_shared/api/contract.ts";
import type { BenchContext } from "./run.ts";

const SIZES = (Deno.env.get("STAGECOACH_BENCH_PROMOTION_KEYS") ?? "10000,95400").split(",")
  .map((n) => Number(n.trim()));
const TIERS = 200;
const FEATURES = 20;
const TABLES = ["app_config", "membership_tiers", "tier_features", "tier_prices", "feature_flags"];

async function seedSource(sql: postgres.Sql, keys: number): Promise<void> {
  await sql`
    insert into public.app_config (key, value, description)
    select format('bench.key_%s', lpad(i::text, 6, '0')),
           jsonb_build_object('n', i, 'big', 9007199254740993 + i, 'list', jsonb_build_array(i, i * 2),
                              'nested', jsonb_build_object('label', 'value ' || i)),
           'bench entry ' || i
    from generate_series(1, ${keys}) as i
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

/** Staging without the bench's rows (it needs no approval: a plain delete). */
async function emptyTarget(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`
      delete from public.tier_prices as p using public.membership_tiers as t
      where t.id = p.tier_id and t.slug like 'bench-%'`;
    await tx`delete from public.membership_tiers where slug like 'bench-%'`;
    await tx`delete from public.app_config where key like 'bench.%'`;
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, (performance.now() - t0) / 1000];
}

/** The staging `ops` function's process (the local stack runs each function as one). */
async function opsProcess(home: string): Promise<number | null> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmd.includes(`${home}/staging/functions/ops/`) && cmd.includes("ops/index.ts")) {
        return Number(e.name);
      }
    } catch { /* gone */ }
  }
  return null;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number | null): Promise<number> {
  if (pid === null) return NaN;
  const stat = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

/** Peak resident memory of a process so far, in MB. */
async function peakMb(pid: number | null): Promise<number> {
  if (pid === null) return NaN;
  const m = (await Deno.readTextFile(`/proc/${pid}/status`)).match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
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

type Step = [step: string, changes: string, seconds: number, cpu?: number, client?: number];

/** Runs the benchmark on the bench stack. */
export async function run(ctx: BenchContext): Promise<void> {
  const dev = localEnv("development", ctx.stack);
  const staging = localEnv("staging", ctx.stack);
  const production = localEnv("production", ctx.stack);
  const devSql = postgres(dev.dbUrl, { max: 2, onnotice: () => {} });
  const stagingSql = postgres(staging.dbUrl, { max: 2, onnotice: () => {} });
  try {
    await ensureUser(stagingSql, { email: "bench.operator@stagecoach.test", role: "operator" });
    const { access_token: token } = await userToken(stagingSql, staging, {
      email: "bench.operator@stagecoach.test",
    });
    const plan = async (body: OpsRequest<"promotion.plan">["body"]) => {
      const out = await callOps(staging, "promotion.plan", { token, body });
      return { promotion: "promotion" in out ? out.promotion : undefined };
    };
    const apply = (id: string) => callOps(staging, "promotion.apply", { token, params: { id } });
    // As `promote plan` asks: the first page of changes (the answer counts the rest).
    const body: OpsRequest<"promotion.plan">["body"] = {
      source: "development",
      scope: ["config", "tiers", "flags"],
      changes_limit: PLAN_PAGE,
    };

    // Warm the function (JIT, its pools to both databases) with a small dry run, as a
    // long-lived function is; the figures below are then steady-state.
    await plan({ source: "development", scope: ["flags"], dry_run: true });
    const pid = await opsProcess(ctx.stack.home);
    /** Wall, the function's and this client's CPU seconds of a request. */
    const measured = async <T>(fn: () => Promise<T>): Promise<[T, number, number, number]> => {
      const [cpu0, own0] = [await cpuSeconds(pid), await cpuSeconds(Deno.pid)];
      const [out, s] = await timed(fn);
      return [out, s, await cpuSeconds(pid) - cpu0, await cpuSeconds(Deno.pid) - own0];
    };

    for (const [i, keys] of SIZES.entries()) {
      await emptyTarget(stagingSql);
      await seedSource(devSql, keys);
      const [{ n }] = await devSql`
        select (select count(*) from public.app_config) + (select count(*) from public.membership_tiers)
             + (select count(*) from public.tier_features) + (select count(*) from public.tier_prices)
             + (select count(*) from public.feature_flags) as n`;
      const rows: Step[] = [];
      const [created, planCreate, planCpu, planClient] = await measured(() => plan(body));
      const count = created.promotion?.change_count ?? 0;
      rows.push(["plan (all new)", String(count), planCreate, planCpu, planClient]);
      const [applied, applyCreate, applyCpu, applyClient] = await measured(() =>
        apply(created.promotion!.id)
      );
      if (applied.promotion.status !== "succeeded") {
        throw new Error(`Cannot bench: apply ${applied.promotion.status}`);
      }
      rows.push([
        "apply (all new, incl. validation)",
        String(count),
        applyCreate,
        applyCpu,
        applyClient,
      ]);
      const [, replan, replanCpu, replanClient] = await measured(() => plan(body));
      rows.push(["re-plan (nothing to do)", "0", replan, replanCpu, replanClient]);

      if (i === 0) {
        await devSql`
          update public.app_config set value = jsonb_set(value, '{n}', to_jsonb(-(value ->> 'n')::int))
          where key like 'bench.key_%' and (value ->> 'n')::int % 10 = 0`;
        const [updated, planUpdate, cpu1, own1] = await measured(() => plan(body));
        const changed = String(updated.promotion?.change_count);
        rows.push(["plan (updates)", changed, planUpdate, cpu1, own1]);
        const [, applyUpdate, cpu2, own2] = await measured(() => apply(updated.promotion!.id));
        rows.push(["apply (updates, incl. validation)", changed, applyUpdate, cpu2, own2]);
        // Back as seeded, so the next size's rows match the source's generator.
        await devSql`
          update public.app_config set value = jsonb_set(value, '{n}', to_jsonb(abs((value ->> 'n')::int)))
          where key like 'bench.key_%' and (value ->> 'n')::int < 0`;
      }

      const base = await baseline(dev.dbUrl, production.dbUrl);
      rows.push(["baseline: pg_dump --data-only | psql (empty target)", String(n), base]);

      console.log(
        `promotion: development → staging, ${keys.toLocaleString("en")} config keys, ` +
          `${TIERS} tiers × ${FEATURES} features, 2 prices per tier (+ the seed); ${n} rows in all`,
      );
      console.log(
        "  step                                                  changes  seconds  fn CPU s  client CPU s",
      );
      for (const [step, changes, sec, cpu, client] of rows) {
        const cpus = cpu === undefined
          ? ""
          : `${cpu.toFixed(2).padStart(9)} ${client!.toFixed(2).padStart(13)}`;
        console.log(
          `  ${step.padEnd(52)} ${changes.padStart(8)} ${sec.toFixed(3).padStart(8)} ${cpus}`,
        );
      }
      const ratio = (planCreate + applyCreate) / base;
      console.log(
        `  ${count} changes: plan ${planCreate.toFixed(3)} s + apply ${
          applyCreate.toFixed(3)
        } s = ` +
          `${ratio.toFixed(2)}× the baseline's ${base.toFixed(3)} s (goal ≤ 4×); ` +
          `ops function peak RSS ${(await peakMb(pid)).toFixed(0)} MB so far`,
      );
    }
  } finally {
    await devSql.end();
    await stagingSql.end();
  }
}
