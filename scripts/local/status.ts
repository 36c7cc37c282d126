/**
 * What `stagecoach status` and `npm start` print: per environment its URLs, keys, migration
 * version and whether each part (database, gateway, pg_net worker, ops-worker cron) is up.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { type LocalEnv, localEnvs, readKeys, type StackOptions } from "./config.ts";
import { livePid } from "./process.ts";
import { stripeStatus } from "./stripe_emulator/local_stack.ts";

/** The status of one environment, as printed by `status --json`. */
export interface EnvStatus {
  name: string;
  kind: string;
  healthy: boolean;
  db_url: string;
  api_url: string;
  functions_url: string;
  /** The environment's console (`npm start` serves it). */
  console_url: string;
  console: "up" | "down";
  anon_key: string | null;
  service_role_key: string | null;
  database: "up" | "down";
  migration_version: string | null;
  migrations_applied: number;
  gateway: "up" | "down";
  functions: string[];
  net_worker: "up" | "down";
  /** Where this environment's functions send Stripe calls (never the key). */
  stripe: string;
  /** The local Stripe emulator (shared by the environments that use it). */
  stripe_emulator: "up" | "down";
  ops_worker_cron: "scheduled" | "missing" | "unknown";
  ops_worker_heartbeat: string | null;
}

async function databaseFacts(env: LocalEnv): Promise<
  Pick<
    EnvStatus,
    | "database"
    | "migration_version"
    | "migrations_applied"
    | "ops_worker_cron"
    | "ops_worker_heartbeat"
  >
> {
  const sql = postgres(env.dbUrl, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    const [m] = await sql`
      select max(version) as version, count(*)::int as applied
      from supabase_migrations.schema_migrations`.catch(() => [{ version: null, applied: 0 }]);
    const [cron] = await sql`
      select exists (select from cron.job where jobname = 'ops-worker' and active) as scheduled`
      .catch(() => [null]);
    const [beat] = await sql`
      select beat_at from ops.heartbeats where component = 'ops-worker'`.catch(() => []);
    return {
      database: "up",
      migration_version: m?.version ?? null,
      migrations_applied: m?.applied ?? 0,
      ops_worker_cron: cron === null ? "unknown" : cron.scheduled ? "scheduled" : "missing",
      ops_worker_heartbeat: beat ? new Date(beat.beat_at).toISOString() : null,
    };
  } catch {
    return {
      database: "down",
      migration_version: null,
      migrations_applied: 0,
      ops_worker_cron: "unknown",
      ops_worker_heartbeat: null,
    };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function gatewayFacts(env: LocalEnv): Promise<Pick<EnvStatus, "gateway" | "functions">> {
  try {
    const res = await fetch(`${env.apiUrl}/health`, { signal: AbortSignal.timeout(2000) });
    const body = await res.json() as { functions?: string[] };
    return { gateway: res.ok ? "up" : "down", functions: body.functions ?? [] };
  } catch {
    return { gateway: "down", functions: [] };
  }
}

/** Probes every environment of a stack (in parallel). */
export async function collectStatus(opts: StackOptions): Promise<EnvStatus[]> {
  return await Promise.all(
    localEnvs(opts).map(async (env) => {
      const keys = await readKeys(env).catch(() => null);
      const [db, gw, worker, consolePid] = await Promise.all([
        databaseFacts(env),
        gatewayFacts(env),
        livePid(join(env.runDir, "net_worker.pid")),
        livePid(join(env.runDir, "console.pid")),
      ]);
      const netWorker = worker === null ? "down" : "up";
      const stripe = await stripeStatus(env, opts);
      return {
        name: env.name,
        kind: env.kind,
        healthy: db.database === "up" && gw.gateway === "up" && netWorker === "up" &&
          (!stripe.usesEmulator || stripe.stripe_emulator === "up") &&
          db.ops_worker_cron === "scheduled",
        db_url: env.dbUrl,
        api_url: env.apiUrl,
        functions_url: env.functionsUrl,
        console_url: env.consoleUrl,
        console: consolePid === null ? "down" : "up",
        anon_key: keys?.anon_key ?? null,
        service_role_key: keys?.service_role_key ?? null,
        ...db,
        ...gw,
        net_worker: netWorker,
        stripe: stripe.stripe,
        stripe_emulator: stripe.stripe_emulator,
      };
    }),
  );
}

function ago(iso: string): string {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

/** Prints statuses as `supabase status` does (or as JSON). */
export function printStatus(statuses: EnvStatus[], opts: { json: boolean }): void {
  if (opts.json) {
    console.log(JSON.stringify(statuses, null, 2));
    return;
  }
  const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  const paint = (code: number, s: string) => color ? `\x1b[${code}m${s}\x1b[0m` : s;
  const state = (up: boolean, s: string) => paint(up ? 32 : 31, s);
  for (const s of statuses) {
    const rows: [string, string][] = [
      ["API URL", s.api_url],
      ["Functions URL", s.functions_url],
      ["Console", state(s.console === "up", `${s.console_url} (${s.console})`)],
      ["DB URL", s.db_url],
      ["anon key", s.anon_key ?? "(not minted: run npm start)"],
      ["service_role key", s.service_role_key ?? "(not minted: run npm start)"],
      [
        "migration",
        s.migration_version ? `${s.migration_version} (${s.migrations_applied} applied)` : "none",
      ],
      ["database", state(s.database === "up", s.database)],
      [
        "gateway",
        state(
          s.gateway === "up",
          s.gateway + (s.functions.length ? ` (functions: ${s.functions.join(", ")})` : ""),
        ),
      ],
      ["pg_net worker", state(s.net_worker === "up", s.net_worker)],
      ["Stripe", s.stripe],
      ["Stripe emulator", state(s.stripe_emulator === "up", s.stripe_emulator)],
      ["ops-worker cron", state(s.ops_worker_cron === "scheduled", s.ops_worker_cron)],
      [
        "ops-worker beat",
        s.ops_worker_heartbeat
          ? `${s.ops_worker_heartbeat} (${ago(s.ops_worker_heartbeat)})`
          : "none yet (pg_cron calls it every minute)",
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(
      `\n${paint(1, s.name)}  ${s.healthy ? state(true, "healthy") : state(false, "unhealthy")}`,
    );
    for (const [k, v] of rows) console.log(`  ${k.padStart(width)}: ${v}`);
  }
}
