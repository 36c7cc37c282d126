/**
 * Rollout plans of a feature flag (pure): the stages as people write them, the plan an approval
 * binds to, and the next move of a running rollout decided from what is recorded.
 *
 * A rollout raises `public.feature_flags.rollout_percent` through strictly rising stages
 * (`1,5,25,50,100`), each held at least `every_s` seconds; between stages the release watch's
 * health measures (`release/health.ts`, `release/sample.ts`) are sampled every `sampleEveryS`.
 * With sticky bucketing, raising the percentage only adds users, so the stages never go down;
 * a breach pauses the rollout or returns the flag to 0 % (`onBreach`).
 *
 * @module
 */
import { z } from "zod";
import type { HealthQuery } from "../release/health.ts";

/** What a breach does: keep the percentage and stop (`pause`), or return to 0 % (`rollback`). */
export type OnBreach = "pause" | "rollback";

/** The statuses of a rollout (`ops.flag_rollouts.status`). */
export const ROLLOUT_STATUSES = [
  "running",
  "paused",
  "completed",
  "rolled_back",
  "aborted",
] as const;

/** A flag key, as `public.feature_flags.key` allows it. */
export const FlagKey = z.string().max(128).regex(
  /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/,
  "expected a flag key (lowercase words joined by dots)",
);

/**
 * Parses stages as people write them: comma-separated percentages, strictly rising, 1–100.
 *
 * @throws {Error} "Cannot read stages …" naming what is wrong
 * @example
 * ```ts
 * parseStages("1,5,25,50,100"); // [1, 5, 25, 50, 100]
 * ```
 */
export function parseStages(text: string): number[] {
  const words = text.split(",").map((w) => w.trim().replace(/%$/, ""));
  const stages: number[] = [];
  for (const w of words) {
    if (!/^\d{1,3}$/.test(w) || Number(w) < 1 || Number(w) > 100) {
      throw new Error(`Cannot read stages "${text}": "${w}" is not a percentage from 1 to 100`);
    }
    const n = Number(w);
    if (stages.length && n <= stages[stages.length - 1]) {
      throw new Error(
        `Cannot read stages "${text}": they must rise strictly (${n} after ${
          stages[stages.length - 1]
        }); a lower percentage would take users out`,
      );
    }
    stages.push(n);
  }
  if (stages.length > 20) throw new Error(`Cannot read stages "${text}": at most 20 stages`);
  return stages;
}

/** The plan of a rollout an approval binds to (as `ops.rollout_plan` builds it in SQL). */
export interface RolloutPlan {
  flag: string;
  stages: number[];
  every_s: number;
  on_breach: OnBreach;
  /** The health queries by name and SHA-256, sorted by name. */
  health: { name: string; sha256: string }[];
}

/**
 * The plan a rollout promotion approves; `ops.start_rollout` compares it with the approved
 * change field by field.
 *
 * @example
 * ```ts
 * rolloutPlan({ flag: "new_checkout", stages: [1, 100], everyS: 1800, onBreach: "pause", healthQueries: [] });
 * // { flag: "new_checkout", stages: [1, 100], every_s: 1800, on_breach: "pause", health: [] }
 * ```
 */
export function rolloutPlan(input: {
  flag: string;
  stages: number[];
  everyS: number;
  onBreach: OnBreach;
  healthQueries: readonly Pick<HealthQuery, "name" | "sha256">[];
}): RolloutPlan {
  return {
    flag: input.flag,
    stages: [...input.stages],
    every_s: input.everyS,
    on_breach: input.onBreach,
    health: input.healthQueries.map((q) => ({ name: q.name, sha256: q.sha256 }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** What {@link nextRolloutMove} reads (epoch milliseconds). */
export interface RolloutState {
  status: string;
  nextAdvanceAt: number | null;
  stageStartedAt: number;
  sampleEveryMs: number;
  breachAfter: number;
  /** Consecutive unhealthy samples ending with the newest (since the last resume). */
  streak: number;
  /** The newest sample that counts (since the last resume), if any. */
  last: { takenAt: number; healthy: boolean } | null;
}

/** A running rollout's next move. */
export type RolloutMove =
  | { move: "stop" }
  | { move: "breach" }
  | { move: "advance" }
  | { move: "sample" }
  | { move: "wait"; until: number };

/**
 * Decides a rollout's next move: a breach once `breachAfter` consecutive samples were
 * unhealthy; the next stage once the stage's time is over and the newest sample, taken in this
 * stage, is healthy; otherwise a sample every `sampleEveryMs` (the first at once), or a wait
 * until the next sample or the stage's end, whichever comes first.
 *
 * @example
 * ```ts
 * nextRolloutMove({ status: "running", nextAdvanceAt: 60_000, stageStartedAt: 0,
 *   sampleEveryMs: 10_000, breachAfter: 2, streak: 0, last: { takenAt: 0, healthy: true } }, 4_000);
 * // { move: "wait", until: 10000 }
 * ```
 */
export function nextRolloutMove(s: RolloutState, now: number): RolloutMove {
  if (s.status !== "running" || s.nextAdvanceAt === null) return { move: "stop" };
  if (s.streak >= s.breachAfter) return { move: "breach" };
  const inStage = s.last !== null && s.last.takenAt >= s.stageStartedAt;
  if (now >= s.nextAdvanceAt && inStage && s.last!.healthy) return { move: "advance" };
  const due = s.last === null ? now : s.last.takenAt + s.sampleEveryMs;
  if (now >= due) return { move: "sample" };
  return { move: "wait", until: now >= s.nextAdvanceAt ? due : Math.min(due, s.nextAdvanceAt) };
}

/**
 * A duration in seconds as people read it (`90 s`, `30 min`, `2 h 5 min`).
 *
 * @example
 * ```ts
 * describeSeconds(1800); // "30 min"
 * ```
 */
export function describeSeconds(s: number): string {
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return [h ? `${h} h` : "", m ? `${m} min` : "", sec ? `${sec} s` : ""].filter(Boolean).join(" ");
}
