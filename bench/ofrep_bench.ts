/**
 * OFREP bulk evaluation of 200 flags (plus the seed's), per request: the `flags` function
 * through the gateway (wall time, and the function process's CPU time from /proc, the figure
 * the Edge Runtime's CPU limit counts), the same app in process (its CPU alone, definitions
 * cached, and with the per-request version check against Postgres), the 304 path, and the
 * baseline of the same run: SQL's `flags.evaluate_all` for the same contexts, one statement
 * per request. Figures only: nothing passes or fails on time.
 *
 * @module
 */
import process from "node:process";
import postgres from "postgres";
import { localEnv, readKeys } from "../scripts/local/config.ts";
import { createFlagCache } from "../supabase/functions/_shared/flags/cache.ts";
import { sqlDefinitions } from "../supabase/functions/_shared/flags/store.ts";
import { createFlagsApp } from "../supabase/functions/flags/app.ts";
import type { BenchContext } from "./run.ts";

const FLAGS = 200;
const REQUESTS = 400;
const PREFIX = "bench_ofrep_";

/** 200 flags: a quarter each plain, targeted (2 constraints), 50 % rollouts, 3 variants. */
function definitions() {
  return Array.from({ length: FLAGS }, (_, i) => {
    const kind = i % 4;
    return {
      key: `${PREFIX}${String(i).padStart(3, "0")}`,
      rollout_percent: kind === 2 ? 50 : 100,
      targeting_rules: kind === 1
        ? [
          { attribute: "tier", op: "in", values: ["pro", "team"] },
          { attribute: "app_version", op: "semver_gte", value: "1.2.0" },
        ]
        : [],
      variants: kind === 3
        ? [
          { name: "a", weight: 50, payload: { layout: "grid" } },
          { name: "b", weight: 30, payload: "list" },
          { name: "c", weight: 20 },
        ]
        : [],
    };
  });
}

function context(i: number) {
  return { targetingKey: `user-${i}`, tier: "pro", app_version: "1.3.0" };
}

function report(label: string, totalMs: number, extra = "") {
  console.log(
    `  ${label.padEnd(62)} ${(totalMs / REQUESTS).toFixed(2).padStart(7)} ms/request${extra}`,
  );
}

/** The function process of the environment's `flags` (the gateway runs one per function). */
function flagsPid(apiUrl: string): number {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!cmd.includes("/supabase/functions/flags/index.ts")) continue;
      const vars = Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0");
      if (vars.includes(`SUPABASE_URL=${apiUrl}`)) return Number(entry.name);
    } catch {
      // the process went away while we looked
    }
  }
  throw new Error(`Cannot find the flags function process of ${apiUrl}`);
}

/** User + system CPU of a process, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** This process's CPU since `since` (node:process cpuUsage), per request of a loop. */
function ownCpu(since: { user: number; system: number }): string {
  const used = process.cpuUsage(since);
  return `, CPU ${((used.user + used.system) / 1000 / (REQUESTS + 20)).toFixed(2)} ms/request`;
}

async function timedLoop(fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) await fn(i); // warm up
  const t0 = performance.now();
  for (let i = 0; i < REQUESTS; i++) await fn(i);
  return performance.now() - t0;
}

/** Runs the benchmark on the development environment of `ctx.stack`. */
export async function run(ctx: BenchContext): Promise<void> {
  const env = localEnv("development", ctx.stack);
  const keys = await readKeys(env);
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  let baselineConn: postgres.ReservedSql | undefined;
  try {
    for (const d of definitions()) {
      await sql`
        insert into public.feature_flags (key, enabled, rollout_percent, targeting_rules, variants)
        values (${d.key}, true, ${d.rollout_percent},
                ${JSON.stringify(d.targeting_rules)}::text::jsonb,
                ${JSON.stringify(d.variants)}::text::jsonb)
        on conflict (key) do nothing`;
    }
    const [{ n }] = await sql`select count(*)::int as n from public.feature_flags`;
    console.log(`  bulk evaluation of ${n} flags, ${REQUESTS} requests each, one at a time`);

    const [{ pid: backend }] = await sql.reserve().then(async (conn) => {
      baselineConn = conn;
      return await conn`select pg_backend_pid() as pid`;
    });
    const cpuBefore = cpuMs(backend);
    const baseline = await timedLoop((i) => {
      const { targetingKey, ...rest } = context(i);
      return baselineConn!`select flags.evaluate_all(${
        JSON.stringify({ ...rest, targeting_key: targetingKey })
      }::text::jsonb)`;
    });
    report(
      "baseline: SQL flags.evaluate_all, one statement",
      baseline,
      `, backend CPU ${((cpuMs(backend) - cpuBefore) / (REQUESTS + 20)).toFixed(2)} ms/request`,
    );
    baselineConn!.release();

    const url = `${env.functionsUrl}/flags/ofrep/v1/evaluate/flags`;
    const headers = {
      authorization: `Bearer ${keys.anon_key}`,
      "content-type": "application/json",
    };
    const post = (i: number, extra: Record<string, string> = {}) =>
      fetch(url, {
        method: "POST",
        headers: { ...headers, ...extra },
        body: JSON.stringify({ context: context(i) }),
      }).then((r) => r.arrayBuffer().then(() => r));
    await post(0); // boots the function process
    const pid = flagsPid(env.apiUrl);
    let cpu0 = cpuMs(pid);
    const viaGateway = await timedLoop((i) => post(i));
    report(
      "flags function via the gateway (200, new context each)",
      viaGateway,
      `, function CPU ${((cpuMs(pid) - cpu0) / (REQUESTS + 20)).toFixed(2)} ms/request`,
    );
    const etag = (await post(7)).headers.get("etag")!;
    cpu0 = cpuMs(pid);
    const notModified = await timedLoop(() => post(7, { "if-none-match": etag }));
    report(
      "flags function via the gateway (304, If-None-Match)",
      notModified,
      `, function CPU ${((cpuMs(pid) - cpu0) / (REQUESTS + 20)).toFixed(2)} ms/request`,
    );

    const anon = headers.authorization;
    const local = (cache: ReturnType<typeof createFlagCache>) => {
      const app = createFlagsApp({ flags: cache });
      return async (i: number) => {
        const res = await app.request("/flags/ofrep/v1/evaluate/flags", {
          method: "POST",
          headers: { authorization: anon },
          body: JSON.stringify({ context: context(i) }),
        });
        return await res.arrayBuffer();
      };
    };
    let own = process.cpuUsage();
    const checked = await timedLoop(local(createFlagCache(sqlDefinitions(sql))));
    report("same app in process, version checked per request", checked, ownCpu(own));
    own = process.cpuUsage();
    const cached = await timedLoop(
      local(createFlagCache(sqlDefinitions(sql), { maxAgeMs: 3_600_000 })),
    );
    report("same app in process, definitions cached", cached, ownCpu(own));
  } finally {
    await sql`delete from public.feature_flags where key like ${PREFIX + "%"}`;
    await sql.end({ timeout: 2 });
  }
}
