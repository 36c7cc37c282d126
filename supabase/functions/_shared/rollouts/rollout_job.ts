/**
 * The `flag.rollout` job kind: a rollout of a feature flag as a row of `ops.jobs`, queued by
 * `ops.start_rollout` (and `ops.resume_rollout`). The ops-worker — called every minute by
 * pg_cron — runs it; `stagecoach rollout start --follow` may run it in its own process, and if
 * that process dies its lease expires and the ops-worker takes over. Each step:
 *
 * 1. reads the rollout (stages, times, health queries) and its newest sample, with the
 *    database's clock;
 * 2. asks {@link nextRolloutMove}: wait (the runner sleeps, or re-queues the job due then —
 *    `StepOutcome.wakeAt`), sample, advance, or breach;
 * 3. samples with the release watch's measures (`release/sample.ts`: functions, the Stripe
 *    ledger since the stage began, the validation checks, the health queries recorded on the
 *    rollout, each read-only under a statement timeout) and records the sample with the
 *    checkpoint in one transaction;
 * 4. advances through `ops.advance_rollout` (which itself refuses early or without a healthy
 *    sample in the stage), with the checkpoint in the same transaction;
 * 5. on a breach halts the rollout (`ops.halt_rollout`: pause, or back to 0 %), which audits and
 *    notifies.
 *
 * A killed runner leaves at most one uncommitted sample or advance behind: the next runner
 * reads the recorded state and carries on.
 *
 * @module
 */
import { z } from "zod";
import type { Sql } from "../db.ts";
import type { JobKind } from "../jobs/registry.ts";
import { JobFailure } from "../jobs/runner.ts";
import type { CustomCheck } from "../validation/checks.ts";
import { type HealthQuery, HealthQuerySchema, type Metric } from "../release/health.ts";
import { type FunctionsProbe, takeSample } from "../release/sample.ts";
import { describeSample } from "../release/watch_job.ts";
import { nextRolloutMove } from "./plan.ts";

/** Parameters of a rollout job: only the rollout (everything else is on its row). */
export const RolloutParams = z.strictObject({ rollout_id: z.uuid() });
type RolloutParams = z.infer<typeof RolloutParams>;

interface Resources {
  probe: FunctionsProbe;
}

/** A rollout as the job reads it. */
export interface RolloutRow {
  id: string;
  flag_key: string;
  environment: string;
  status: string;
  stages: number[];
  stage_index: number;
  percent: number;
  every_s: number;
  sample_every_s: number;
  breach_after: number;
  on_breach: "pause" | "rollback";
  stage_started_at: Date;
  next_advance_at: Date | null;
  streak_from: number;
  health_queries: unknown;
  db_now: Date;
  last_seq: number | null;
  last_taken_at: Date | null;
  last_healthy: boolean | null;
  streak: number;
}

/** Reads a rollout with its newest counted sample, its streak and the database's clock. */
export async function readRollout(sql: Sql, id: string): Promise<RolloutRow | null> {
  const [row] = await sql<RolloutRow[]>`
    select r.id::text, r.flag_key, r.environment, r.status, r.stages, r.stage_index, r.percent,
           r.every_s, r.sample_every_s, r.breach_after, r.on_breach, r.stage_started_at,
           r.next_advance_at, r.streak_from, r.health_queries, now() as db_now,
           l.seq as last_seq, l.taken_at as last_taken_at, l.healthy as last_healthy,
           coalesce(l.seq - greatest(r.streak_from,
             (select coalesce(max(h.seq), 0) from ops.flag_rollout_samples h
               where h.rollout_id = r.id and h.healthy)), 0)::int as streak
    from ops.flag_rollouts r
    left join lateral (
      select s.seq, s.taken_at, s.healthy from ops.flag_rollout_samples s
      where s.rollout_id = r.id and s.seq > r.streak_from order by s.seq desc limit 1
    ) l on true
    where r.id = ${id}::uuid`;
  return row ?? null;
}

/** The job kind, with the team's validation checks the samples re-run. */
export function createRolloutKind(
  customChecks: readonly CustomCheck[],
): JobKind<RolloutParams, Resources> {
  return {
    kind: "flag.rollout",
    paramsSchema: RolloutParams,
    open(ctx) {
      const supabaseUrl = ctx.host.secret("SUPABASE_URL");
      if (!supabaseUrl) {
        throw new JobFailure(
          "rollout_unconfigured",
          "Cannot run the rollout: the host has no SUPABASE_URL",
        );
      }
      return Promise.resolve({
        probe: {
          functionsUrl: `${supabaseUrl.replace(/\/+$/, "")}/functions/v1`,
          anonKey: ctx.host.secret("SUPABASE_ANON_KEY"),
        },
      });
    },
    async step(ctx, res) {
      const id = ctx.params.rollout_id;
      const log = (line: string) => ctx.host.log?.(`rollout ${id.slice(0, 8)}: ${line}`);
      const r = await readRollout(ctx.sql, id);
      if (!r) throw new JobFailure("not_found", `Cannot run rollout ${id}: no such rollout`);
      const now = r.db_now.getTime();
      const move = nextRolloutMove({
        status: r.status,
        nextAdvanceAt: r.next_advance_at?.getTime() ?? null,
        stageStartedAt: r.stage_started_at.getTime(),
        sampleEveryMs: r.sample_every_s * 1000,
        breachAfter: r.breach_after,
        streak: r.streak,
        last: r.last_taken_at
          ? { takenAt: r.last_taken_at.getTime(), healthy: !!r.last_healthy }
          : null,
      }, now);
      const samples = r.last_seq ?? 0;
      switch (move.move) {
        case "stop":
          return { done: true, result: { status: r.status, percent: r.percent } };
        case "wait":
          await ctx.checkpoint({ counts: { samples }, state: { percent: r.percent } });
          // The database's clock decided; sleep by this machine's.
          return { done: false, wakeAt: new Date(Date.now() + (move.until - now)) };
        case "sample": {
          const healthQueries: HealthQuery[] = z.array(HealthQuerySchema).parse(
            r.health_queries,
          );
          const metrics = await takeSample(ctx.sql, {
            since: r.stage_started_at,
            healthQueries,
            customChecks,
            probe: res.probe,
          });
          const healthy = metrics.every((m) => m.healthy);
          await ctx.sql.begin(async (tx) => {
            await tx`select ops.record_rollout_sample(${id}::uuid, ${healthy}, ${
              JSON.stringify(metrics)
            }::text::jsonb)`;
            await ctx.checkpoint({ counts: { samples: samples + 1 } }, tx);
          });
          log(`sample at ${r.percent} %: ${describeSample(metrics)}`);
          return { done: false };
        }
        case "advance": {
          const [after] = await ctx.sql.begin(async (tx) => {
            const rows = await tx<{ status: string; percent: number }[]>`
              select status, percent from ops.advance_rollout(${id}::uuid)`;
            await ctx.checkpoint({ state: { percent: rows[0].percent } }, tx);
            return rows;
          });
          log(
            after.status === "completed"
              ? `completed at ${after.percent} %`
              : `advanced to ${after.percent} %`,
          );
          return after.status === "completed"
            ? { done: true, result: { status: "completed", percent: after.percent } }
            : { done: false };
        }
        case "breach":
          return { done: true, result: await breach(ctx.sql, r, log) };
      }
    },
  };
}

async function breach(
  sql: Sql,
  r: RolloutRow,
  log: (line: string) => void,
): Promise<Record<string, unknown>> {
  const samples = await sql<{ seq: number; percent: number; metrics: Metric[] }[]>`
    select seq, percent, metrics from ops.flag_rollout_samples
    where rollout_id = ${r.id}::uuid and not healthy and seq > ${r.streak_from}
    order by seq desc limit ${r.breach_after}`;
  const breached = samples.map((s) => ({
    seq: s.seq,
    percent: s.percent,
    unhealthy: s.metrics.filter((m) => !m.healthy),
  })).reverse();
  const action = r.on_breach === "rollback" ? "rollback" : "pause";
  const [after] = await sql<{ status: string; percent: number }[]>`
    select status, percent from ops.halt_rollout(${r.id}::uuid, ${action}, ${
    JSON.stringify({ by: "health", breached })
  }::text::jsonb)`;
  log(
    `breached: ${r.breach_after} unhealthy sample(s) in a row at ${r.percent} %; ${
      action === "pause" ? `paused at ${after.percent} %` : "returned to 0 %"
    }`,
  );
  return { status: after.status, percent: after.percent, breached };
}
