/**
 * The release's `watch` step as the CLI runs it: the team's health queries read from the
 * checkout (`supabase/health/*.sql`), recorded on the release with `ops.start_release_watch`
 * (which queues the `release.watch` job), then the job run in this process until the watch
 * ends. If this process dies, the job's lease expires and the target's ops-worker (pg_cron,
 * every minute) finishes it; running the release again waits for that end, or takes the job
 * back once the lease is free.
 *
 * @module
 */
import { join } from "node:path";
import type postgres from "postgres";
import { createHash } from "node:crypto";
import type { JobHost, JobRegistry } from "../../supabase/functions/_shared/jobs/registry.ts";
import { runJob } from "../../supabase/functions/_shared/jobs/runner.ts";
import {
  type HealthQuery,
  parseHealthQuery,
} from "../../supabase/functions/_shared/release/health.ts";

/**
 * The team's health queries in `<repoRoot>/supabase/health`, by file name.
 *
 * @throws {HealthQueryError} naming a file whose header lacks its threshold or direction
 */
export async function readHealthQueries(repoRoot: string): Promise<HealthQuery[]> {
  const dir = join(repoRoot, "supabase/health");
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".sql")) names.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  const out: HealthQuery[] = [];
  for (const name of names.sort()) {
    const bytes = await Deno.readFile(join(dir, name));
    out.push(parseHealthQuery(
      name,
      new TextDecoder().decode(bytes),
      createHash("sha256").update(bytes).digest("hex"),
    ));
  }
  return out;
}

/** What the watch step needs. */
export interface WatchOptions {
  releaseId: string;
  environment: string;
  repoRoot: string;
  /** Runs the job: URLs and secrets of the target (`SUPABASE_URL`, `SUPABASE_ANON_KEY`, Stripe). */
  host: JobHost;
  registry: JobRegistry;
  log(line: string): void;
  /** Lease of this process on the job; the ops-worker takes over this long after a crash. */
  leaseMs?: number;
  /** How often to look while another runner holds the job. */
  pollMs?: number;
}

interface WatchRow {
  status: string;
  watch: {
    outcome?: string | null;
    job_id?: string;
    window_s: number;
    every_s: number;
    breach_after: number;
    detail?: Record<string, unknown>;
  } | null;
  rollback: Record<string, unknown> | null;
}

/**
 * Starts (or continues) the watch of an applied release and waits for its end.
 *
 * @returns null when the environment has no watch window; else the outcome and a summary
 */
export async function watchRelease(
  db: postgres.Sql,
  opts: WatchOptions,
): Promise<{ outcome: string; summary: string } | null> {
  const [settings] = await db<{ window_s: number; every_s: number; breach_after: number }[]>`
    select * from ops.release_watch_settings(${opts.environment})`;
  const [current] = await db<WatchRow[]>`
    select status, watch, rollback from ops.releases where id = ${opts.releaseId}::uuid`;
  if (!current?.watch && (!settings || settings.window_s <= 0)) return null;
  if (!current?.watch) {
    const health = await readHealthQueries(opts.repoRoot);
    await db`select 1 from ops.start_release_watch(${opts.releaseId}::uuid, ${
      JSON.stringify(health)
    }::text::jsonb)`;
    opts.log(
      `watch: ${settings.window_s} s, a sample every ${settings.every_s} s, ${settings.breach_after} unhealthy in a row roll back; ${health.length} health quer${
        health.length === 1 ? "y" : "ies"
      } (${health.map((q) => q.name).join(", ") || "none"})`,
    );
  }
  for (;;) {
    const row = await readRow(db, opts.releaseId);
    if (row.watch?.outcome) return describeOutcome(row);
    const jobId = row.watch?.job_id;
    if (!jobId) throw new Error(`Cannot watch release ${opts.releaseId}: its watch has no job`);
    const r = await runJob(db, jobId, {
      host: opts.host,
      registry: opts.registry,
      leaseMs: opts.leaseMs ?? 15_000,
      sliceMs: 120_000,
    });
    if (r.status === "busy") {
      // Another runner (the ops-worker, or a release run elsewhere) holds it: wait for its end.
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 2_000));
    } else if (r.status === "failed") {
      const after = await readRow(db, opts.releaseId);
      if (after.watch?.outcome) return describeOutcome(after);
      throw new Error(
        `Cannot watch release ${opts.releaseId}: the watch job failed: ${
          r.job?.error?.message ?? "unknown error"
        }`,
      );
    }
  }
}

async function readRow(db: postgres.Sql, id: string): Promise<WatchRow> {
  const [row] = await db<WatchRow[]>`
    select status, watch, rollback from ops.releases where id = ${id}::uuid`;
  return row;
}

function describeOutcome(row: WatchRow): { outcome: string; summary: string } {
  const outcome = row.watch!.outcome!;
  const detail = row.watch!.detail ?? {};
  const samples = (detail.samples as number | undefined) ??
    ((detail.breached as { samples?: unknown[] } | undefined)?.samples?.length ?? 0);
  const rb = row.rollback ?? {};
  switch (outcome) {
    case "passed":
      return { outcome, summary: `healthy for ${row.watch!.window_s} s (${samples} sample(s))` };
    case "rolled_back":
      return {
        outcome,
        summary: `the watch saw ${
          row.watch!.breach_after
        } unhealthy sample(s) in a row and rolled the release back (data${
          (rb.schema as { reverted?: string[] } | null)?.reverted?.length
            ? ` and ${(rb.schema as { reverted: string[] }).reverted.join(", ")}`
            : ""
        })`,
      };
    case "needs_restore":
      return {
        outcome,
        summary: `the watch rolled the data back, but the schema needs the backup: ${
          (rb.blocked as string[] | undefined)?.join("; ") ?? ""
        }; restore with: ${rb.restore_command}`,
      };
    default:
      return {
        outcome,
        summary: `the watch breached and its rollback failed: ${
          JSON.stringify((detail as { error?: unknown }).error ?? {})
        }`,
      };
  }
}
