/**
 * The `release.watch` job kind: the watch of a release after it applied, as a row of
 * `ops.jobs` queued by `ops.start_release_watch`. The release CLI runs it in its own process;
 * if the CLI (or the CI runner) dies, its lease expires and the ops-worker — called every
 * minute by pg_cron — takes it over and finishes it. Either way each step:
 *
 * 1. reads the release's watch (settings, start, end) and its samples so far;
 * 2. waits for the next sample time (within the slice's deadline), or
 * 3. takes a sample (`sample.ts`) and records it with the job's checkpoint in one transaction;
 * 4. after `breach_after` consecutive unhealthy samples rolls the release back by itself
 *    (`rollback.ts`: data at once, schema by its revert scripts unless one loses data) and
 *    ends the watch `rolled_back` (or `needs_restore`, with the restore command); a window
 *    without breach ends it `passed` and the release `succeeded`. Each end notifies.
 *
 * The secrets and URLs come from the host: `SUPABASE_URL` (functions at
 * `<SUPABASE_URL>/functions/v1`), `SUPABASE_ANON_KEY`, and `STRIPE_SECRET_KEY` (with
 * `STRIPE_API_BASE`) to revert the Stripe catalog when the promotion changed it.
 *
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db.ts";
import type { JobKind } from "../jobs/registry.ts";
import { JobFailure } from "../jobs/runner.ts";
import type { CustomCheck } from "../validation/checks.ts";
import { type HealthQuery, HealthQuerySchema, type Metric, nextWatchMove } from "./health.ts";
import { ReleaseRollbackError, rollbackRelease, systemRevertData } from "./rollback.ts";
import { type FunctionsProbe, takeSample } from "./sample.ts";

/** Parameters of a watch: only the release (everything else is on its row). */
export const WatchParams = z.strictObject({ release_id: z.uuid() });
type WatchParams = z.infer<typeof WatchParams>;

/** The watch as recorded on the release (`ops.releases.watch`). */
const WatchRecord = z.object({
  window_s: z.number(),
  every_s: z.number(),
  breach_after: z.number(),
  started_at: z.string(),
  until: z.string(),
  outcome: z.string().nullable().optional(),
});

interface Resources {
  probe: FunctionsProbe;
  stripeEnv: Record<string, string | undefined>;
  supabaseUrl: string;
}

/** The job kind, with the team's validation checks the watch re-runs. */
export function createReleaseWatchKind(
  customChecks: readonly CustomCheck[],
): JobKind<WatchParams, Resources> {
  return {
    kind: "release.watch",
    paramsSchema: WatchParams,
    open(ctx) {
      const supabaseUrl = ctx.host.secret("SUPABASE_URL");
      if (!supabaseUrl) {
        throw new JobFailure(
          "watch_unconfigured",
          "Cannot watch the release: the host has no SUPABASE_URL",
        );
      }
      return Promise.resolve({
        supabaseUrl,
        probe: {
          functionsUrl: `${supabaseUrl.replace(/\/+$/, "")}/functions/v1`,
          anonKey: ctx.host.secret("SUPABASE_ANON_KEY"),
        },
        stripeEnv: {
          STRIPE_SECRET_KEY: ctx.host.secret("STRIPE_SECRET_KEY"),
          STRIPE_API_BASE: ctx.host.secret("STRIPE_API_BASE"),
          STRIPE_WEBHOOK_SECRET: ctx.host.secret("STRIPE_WEBHOOK_SECRET"),
        },
      });
    },
    async step(ctx, res) {
      const id = ctx.params.release_id;
      const log = (line: string) => ctx.host.log?.(`watch ${id.slice(0, 8)}: ${line}`);
      const state = await readWatch(ctx.sql, id);
      if (state.status !== "watching" || state.watch.outcome) {
        return { done: true, result: { outcome: state.watch.outcome ?? state.status } };
      }
      const move = nextWatchMove({
        startedAt: Date.parse(state.watch.started_at),
        until: Date.parse(state.watch.until),
        everyMs: state.watch.every_s * 1000,
        breachAfter: state.watch.breach_after,
        samples: state.samples,
        streak: state.streak,
      }, Date.now());
      if (move.move === "wait") {
        const ms = Math.min(move.ms, Math.max(0, ctx.deadline - Date.now() - 2_000));
        await new Promise((r) => setTimeout(r, ms));
        await ctx.checkpoint({ counts: { samples: state.samples } });
        return { done: false };
      }
      if (move.move === "passed") {
        await ctx.sql`select 1 from ops.finish_release_watch(${id}::uuid, 'passed', ${
          JSON.stringify({ samples: state.samples })
        }::text::jsonb)`;
        log(`passed after ${state.samples} sample(s)`);
        return { done: true, result: { outcome: "passed", samples: state.samples } };
      }
      if (move.move === "sample") {
        const metrics = await takeSample(ctx.sql, {
          since: new Date(state.watch.started_at),
          healthQueries: state.healthQueries,
          customChecks,
          probe: res.probe,
        });
        const healthy = metrics.every((m) => m.healthy);
        const streak = await ctx.sql.begin(async (tx) => {
          const [{ streak }] = await tx<{ streak: number }[]>`
            select ops.record_release_sample(${id}::uuid, ${healthy}, ${
            JSON.stringify(metrics)
          }::text::jsonb) as streak`;
          await ctx.checkpoint({ counts: { samples: state.samples + 1 } }, tx);
          return streak;
        });
        log(`sample ${state.samples + 1}: ${describeSample(metrics)}`);
        if (streak < state.watch.breach_after) return { done: false };
      }
      // Breached: roll back by itself (the release's approval covers its own undoing).
      return { done: true, result: await breach(ctx.sql, id, state, res, log) };
    },
  };
}

/** A sample in one line: healthy, or the measures that were not. */
export function describeSample(metrics: readonly Metric[]): string {
  const bad = metrics.filter((m) => !m.healthy);
  return bad.length
    ? `unhealthy — ${
      bad.map((m) =>
        `${m.name} ${m.value ?? "unmeasured"} (${m.direction} ${m.threshold} is bad)${
          m.detail ? `: ${m.detail}` : ""
        }`
      ).join("; ")
    }`
    : "healthy";
}

async function readWatch(sql: Sql, id: string) {
  const [row] = await sql<
    {
      status: string;
      environment: string;
      watch: unknown;
      health_queries: unknown;
      samples: number;
      streak: number;
    }[]
  >`
    select r.status, r.environment, r.watch, r.health_queries,
           (select count(*)::int from ops.release_watch_samples s where s.release_id = r.id) as samples,
           (select count(*)::int from ops.release_watch_samples s
             where s.release_id = r.id and s.seq > coalesce(
               (select max(h.seq) from ops.release_watch_samples h
                 where h.release_id = r.id and h.healthy), 0)) as streak
    from ops.releases r where r.id = ${id}::uuid`;
  if (!row) throw new JobFailure("not_found", `Cannot watch release ${id}: no such release`);
  const watch = WatchRecord.safeParse(row.watch);
  if (!watch.success) {
    throw new JobFailure("not_watched", `Cannot watch release ${id}: it has no watch recorded`);
  }
  const healthQueries: HealthQuery[] = z.array(HealthQuerySchema).parse(row.health_queries);
  return { ...row, watch: watch.data, healthQueries };
}

async function breach(
  sql: Sql,
  id: string,
  state: Awaited<ReturnType<typeof readWatch>>,
  res: Resources,
  log: (line: string) => void,
): Promise<Record<string, unknown>> {
  const samples = await sql<{ seq: number; metrics: Metric[] }[]>`
    select seq, metrics from ops.release_watch_samples
    where release_id = ${id}::uuid and not healthy order by seq desc limit ${state.watch.breach_after}`;
  const breached = {
    samples: samples.map((s) => ({
      seq: s.seq,
      unhealthy: s.metrics.filter((m) => !m.healthy),
    })).reverse(),
  };
  log(`breached: ${state.watch.breach_after} unhealthy sample(s) in a row; rolling back`);
  try {
    const out = await rollbackRelease(sql, {
      releaseId: id,
      trigger: "watch",
      by: "watch",
      revertData: systemRevertData(sql, {
        targetEnv: state.environment,
        stripeEnv: res.stripeEnv,
        supabaseUrl: res.supabaseUrl,
      }),
      log,
    });
    await sql`select 1 from ops.finish_release_watch(${id}::uuid, ${out.outcome}, ${
      JSON.stringify({ breached, rollback: out })
    }::text::jsonb)`;
    return { outcome: out.outcome, ...breached };
  } catch (err) {
    const e = err as Error & { code?: string };
    const detail = {
      breached,
      error: {
        code: e instanceof ReleaseRollbackError ? e.code : "rollback_failed",
        message: e.message,
      },
    };
    await sql`select 1 from ops.finish_release_watch(${id}::uuid, 'rollback_failed', ${
      JSON.stringify(detail)
    }::text::jsonb)`;
    log(`rollback failed: ${e.message}`);
    return { outcome: "rollback_failed", ...detail };
  }
}
