/**
 * What a release watch measures, and when a measure is unhealthy (pure).
 *
 * The team's own health queries live in `supabase/health/<name>.sql`: one query returning one
 * number (one row, one column), with a header comment that declares its threshold and the
 * direction that is bad:
 *
 * ```sql
 * -- Memberships whose tier is retired.
 * -- threshold: 0
 * -- direction: above
 * select count(*) from public.memberships m join public.membership_tiers t on t.id = m.tier_id
 * where t.retired_at is not null;
 * ```
 *
 * `direction: above` — unhealthy when the value is above the threshold; `below` — when it is
 * below. The release records the queries of its commit on the release row (with each file's
 * SHA-256), so the watch runs exactly those, wherever it runs (the CLI, or the ops-worker).
 *
 * Built-in measures, beside the team's: `functions_down` (functions that answered 5xx, or a
 * platform `NOT_FOUND`/`BOOT_ERROR`, or did not answer), `webhook_failure_rate` (Stripe events
 * received since the release applied that failed, over all of them, when at least
 * {@link MIN_WEBHOOK_EVENTS} arrived), `unresolved_memberships` (events since the release whose
 * membership could not be resolved), `failed_checks` (the validation checks re-run on the
 * target alone).
 *
 * @module
 */
import { z } from "zod";

/** Which side of the threshold is unhealthy. */
export type Direction = "above" | "below";

/** A team health query, as recorded on a release. */
export const HealthQuerySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,80}$/, "expected a file name without .sql"),
  sql: z.string().min(1).max(20_000),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  threshold: z.number().finite(),
  direction: z.enum(["above", "below"]),
});
/** A health query. */
export type HealthQuery = z.infer<typeof HealthQuerySchema>;

/** One measure of a sample, as recorded in `ops.release_watch_samples.metrics`. */
export interface Metric {
  name: string;
  /** The measured value; null when it could not be measured (counted unhealthy). */
  value: number | null;
  threshold: number;
  direction: Direction;
  healthy: boolean;
  /** Why, in a few words (the failing checks, the function that is down, an error). */
  detail?: string;
}

/** Fewer webhook events than this since the release: the failure rate is not judged. */
export const MIN_WEBHOOK_EVENTS = 5;

/** The built-in measures' thresholds (unhealthy above each). */
export const BUILTIN_THRESHOLDS = {
  functions_down: 0,
  webhook_failure_rate: 0.1,
  unresolved_memberships: 0,
  failed_checks: 0,
} as const;

/** A header problem of a health query file. */
export class HealthQueryError extends Error {
  constructor(file: string, problem: string) {
    super(`Cannot read health query ${file}: ${problem}`);
    this.name = "HealthQueryError";
  }
}

/**
 * Parses a health query file's text.
 *
 * @param file the file name, e.g. `retired_tier_memberships.sql`
 * @param sha256 the SHA-256 of the file's bytes (hex)
 * @throws {HealthQueryError} naming the file and what its header lacks
 * @example
 * ```ts
 * parseHealthQuery("x.sql", "-- threshold: 0\n-- direction: above\nselect 1", sha);
 * // { name: "x", sql: "…", sha256: sha, threshold: 0, direction: "above" }
 * ```
 */
export function parseHealthQuery(file: string, text: string, sha256: string): HealthQuery {
  const name = file.replace(/\.sql$/, "");
  const header = (key: string) => {
    const m = text.match(new RegExp(`^--\\s*${key}:\\s*(\\S+)\\s*$`, "im"));
    return m?.[1];
  };
  const threshold = header("threshold");
  const direction = header("direction");
  if (threshold === undefined) throw new HealthQueryError(file, "no `-- threshold: <number>` line");
  if (!/^-?\d+(\.\d+)?$/.test(threshold)) {
    throw new HealthQueryError(file, `threshold "${threshold}" is not a number`);
  }
  if (direction !== "above" && direction !== "below") {
    throw new HealthQueryError(
      file,
      direction === undefined
        ? "no `-- direction: above|below` line"
        : `direction "${direction}" is not above or below`,
    );
  }
  const parsed = HealthQuerySchema.safeParse({
    name,
    sql: text,
    sha256,
    threshold: Number(threshold),
    direction,
  });
  if (!parsed.success) {
    throw new HealthQueryError(
      file,
      parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    );
  }
  return parsed.data;
}

/**
 * A measure against its threshold. An unmeasured value (null) is unhealthy: a watch that
 * cannot see must not pass.
 */
export function judge(
  name: string,
  value: number | null,
  threshold: number,
  direction: Direction,
  detail?: string,
): Metric {
  const healthy = value !== null &&
    (direction === "above" ? value <= threshold : value >= threshold);
  return { name, value, threshold, direction, healthy, ...(detail ? { detail } : {}) };
}

/** The watch's next move, decided from what is recorded. */
export type WatchMove =
  | { move: "wait"; ms: number }
  | { move: "sample" }
  | { move: "breached" }
  | { move: "passed" };

/** What {@link nextWatchMove} reads. */
export interface WatchState {
  /** Epoch ms the watch started. */
  startedAt: number;
  /** Epoch ms the window ends. */
  until: number;
  everyMs: number;
  breachAfter: number;
  /** Samples taken so far. */
  samples: number;
  /** Consecutive unhealthy samples ending with the last one. */
  streak: number;
}

/**
 * Decides the watch's next move: a breach once `breachAfter` consecutive samples were
 * unhealthy; passed once the last sample of the window (the next would fall after `until`) was
 * healthy — an unhealthy streak still short of a breach at the window's end is sampled on
 * until it clears or breaches; otherwise the next sample, every `everyMs` from the start.
 *
 * @example
 * ```ts
 * nextWatchMove({ startedAt: 0, until: 60_000, everyMs: 10_000, breachAfter: 3, samples: 0, streak: 0 }, 4_000);
 * // { move: "wait", ms: 6000 }
 * ```
 */
export function nextWatchMove(s: WatchState, now: number): WatchMove {
  if (s.streak >= s.breachAfter) return { move: "breached" };
  const due = s.startedAt + (s.samples + 1) * s.everyMs;
  if (s.samples > 0 && s.streak === 0 && due > s.until) return { move: "passed" };
  if (now < due) return { move: "wait", ms: due - now };
  return { move: "sample" };
}
