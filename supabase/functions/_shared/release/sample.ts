/**
 * One sample of a release watch: every measure of `health.ts`, taken against the target.
 *
 * @module
 */
import type { Sql } from "../db.ts";
import { type CustomCheck, runChecks } from "../validation/checks.ts";
import {
  BUILTIN_THRESHOLDS,
  type HealthQuery,
  judge,
  type Metric,
  MIN_WEBHOOK_EVENTS,
} from "./health.ts";

/** How a sample reaches the target's functions. */
export interface FunctionsProbe {
  /** e.g. `https://<ref>.supabase.co/functions/v1` */
  functionsUrl: string;
  /** A key the platform lets through to `GET /ops/health` (the anon key). */
  anonKey?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** What a sample measures. */
export interface SampleInput {
  /** Since when the Stripe ledger counts (the watch's start). */
  since: Date;
  healthQueries: readonly HealthQuery[];
  customChecks: readonly CustomCheck[];
  probe: FunctionsProbe;
  /** Statement timeout of each health query; default 5 s. */
  queryTimeoutMs?: number;
}

/**
 * Whether each function booted and answers, judged by answers only the function itself gives:
 * `GET /ops/health` (200), `POST /stripe-webhook` without a signature (our 400), and an OFREP bulk
 * evaluation `POST /flags/ofrep/v1/evaluate/flags` with the anon key (200). A 5xx, the
 * platform's `NOT_FOUND`/`BOOT_ERROR`, or no answer within the timeout is down; a 401/403
 * from the platform's JWT check is not counted either way (the function was not reached).
 */
export async function functionsDown(probe: FunctionsProbe): Promise<Metric> {
  const doFetch = probe.fetch ?? fetch;
  const base = probe.functionsUrl.replace(/\/+$/, "");
  const headers: Record<string, string> = probe.anonKey
    ? { authorization: `Bearer ${probe.anonKey}`, apikey: probe.anonKey }
    : {};
  const checks: [string, RequestInit & { url: string }][] = [
    ["ops", { url: `${base}/ops/health`, method: "GET", headers }],
    ["stripe-webhook", {
      url: `${base}/stripe-webhook`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }],
    ["flags", {
      url: `${base}/flags/ofrep/v1/evaluate/flags`,
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ context: {} }),
    }],
  ];
  const down: string[] = [];
  await Promise.all(checks.map(async ([name, req]) => {
    try {
      const res = await doFetch(req.url, {
        ...req,
        signal: AbortSignal.timeout(probe.timeoutMs ?? 5_000),
      });
      const text = await res.text();
      const platformError = res.status === 404 && /"NOT_FOUND"/.test(text);
      if (res.status >= 500 || platformError) down.push(`${name}: HTTP ${res.status}`);
    } catch (err) {
      down.push(`${name}: ${(err as Error).name === "TimeoutError" ? "no answer" : "unreachable"}`);
    }
  }));
  return judge(
    "functions_down",
    down.length,
    BUILTIN_THRESHOLDS.functions_down,
    "above",
    down.sort().join("; ") || undefined,
  );
}

/** The Stripe webhook ledger since the watch began: failure rate and unresolved events. */
export async function webhookMetrics(sql: Sql, since: Date): Promise<Metric[]> {
  const [row] = await sql<{ total: number; failed: number; unresolved: number }[]>`
    select count(*)::int as total,
           count(*) filter (where status = 'failed')::int as failed,
           count(*) filter (where status = 'unresolved')::int as unresolved
    from stripe.events where received_at >= ${since}`;
  const judged = row.total >= MIN_WEBHOOK_EVENTS;
  const rate = judged ? row.failed / row.total : 0;
  return [
    judge(
      "webhook_failure_rate",
      Math.round(rate * 10_000) / 10_000,
      BUILTIN_THRESHOLDS.webhook_failure_rate,
      "above",
      `${row.failed} of ${row.total} event(s) failed${judged ? "" : " (too few to judge)"}`,
    ),
    judge(
      "unresolved_memberships",
      row.unresolved,
      BUILTIN_THRESHOLDS.unresolved_memberships,
      "above",
    ),
  ];
}

/** The validation checks that need no source (references, schemas, secrets, flags, custom). */
export async function failedChecks(sql: Sql, custom: readonly CustomCheck[]): Promise<Metric> {
  try {
    const results = await runChecks(sql, { custom: [...custom] });
    const failed = results.filter((r) => !r.passed).map((r) => r.name);
    return judge(
      "failed_checks",
      failed.length,
      BUILTIN_THRESHOLDS.failed_checks,
      "above",
      failed.join(", ") || undefined,
    );
  } catch (err) {
    return judge("failed_checks", null, 0, "above", (err as Error).message.slice(0, 300));
  }
}

/** The team's health queries, each read-only under a statement timeout. */
export async function healthQueryMetrics(
  sql: Sql,
  queries: readonly HealthQuery[],
  timeoutMs = 5_000,
): Promise<Metric[]> {
  const out: Metric[] = [];
  for (const q of queries) {
    try {
      const value = await sql.begin("read only", async (tx) => {
        await tx`select set_config('statement_timeout', ${String(timeoutMs)}, true)`;
        const rows = await tx.unsafe(q.sql);
        const first = rows[0] ? Object.values(rows[0])[0] : undefined;
        const n = typeof first === "string" ? Number(first) : first;
        if (typeof n !== "number" || !Number.isFinite(n)) {
          throw new Error("did not return one number");
        }
        return n;
      });
      out.push(judge(`health:${q.name}`, value as number, q.threshold, q.direction));
    } catch (err) {
      out.push(
        judge(
          `health:${q.name}`,
          null,
          q.threshold,
          q.direction,
          (err as Error).message.slice(0, 300),
        ),
      );
    }
  }
  return out;
}

/** Takes one sample: every measure. */
export async function takeSample(sql: Sql, input: SampleInput): Promise<Metric[]> {
  const [fn, webhook, checks, health] = await Promise.all([
    functionsDown(input.probe),
    webhookMetrics(sql, input.since),
    failedChecks(sql, input.customChecks),
    healthQueryMetrics(sql, input.healthQueries, input.queryTimeoutMs),
  ]);
  return [fn, ...webhook, checks, ...health];
}
