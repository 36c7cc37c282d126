/**
 * `stagecoach stripe reconcile`: repairs an environment's Stripe mirror and memberships from
 * Stripe (the `stripe.reconcile` job of `_shared/stripe/reconcile.ts`), with a progress bar.
 * A run that was killed is resumed where it stopped by the next run.
 */
import type { Sql } from "postgres";
import { describeProgress, runJob } from "../../supabase/functions/_shared/jobs/runner.ts";
import { createJob, loadJob } from "../../supabase/functions/_shared/jobs/store.ts";
import { defaultRegistry, type JobHost } from "../../supabase/functions/_shared/jobs/registry.ts";
import type { JobRow } from "../../supabase/functions/_shared/jobs/job.ts";
import { RECONCILE_KIND } from "../../supabase/functions/_shared/stripe/reconcile.ts";
import {
  defineCommand,
  ENV_OPTION,
  envOption,
  parseOptions,
  UsageError,
  withDatabase,
} from "./command.ts";
import { createProgress } from "./progress.ts";
import { functionSecrets, resolveTarget, type Target } from "./target.ts";

function intOption(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`Invalid ${flag}: "${value}" is not a whole number in ${min}..${max}`);
  }
  return n;
}

/**
 * The job host of the CLI: the environments' databases as `target.ts` reaches them, and the
 * environment's Stripe settings as its functions get them (see {@link functionSecrets}).
 */
export async function cliJobHost(env: Target, log: (line: string) => void): Promise<JobHost> {
  const secrets = await functionSecrets(env);
  return {
    owner: `cli:${Deno.hostname()}:${Deno.pid}`,
    dbUrl: (name) => resolveTarget(name).dbUrl,
    secret: (name) => secrets[name] || undefined,
    log,
  };
}

/** The newest reconciliation the CLI started and did not finish (to resume it). */
async function unfinished(sql: Sql): Promise<JobRow | null> {
  const [row] = await sql<{ id: string }[]>`
    select id from ops.jobs
    where kind = ${RECONCILE_KIND} and executor = 'cli' and status in ('queued', 'running')
    order by created_at desc limit 1`;
  return row ? await loadJob(sql, row.id) : null;
}

function objectsDone(job: Pick<JobRow, "counts">): number {
  return Object.values(job.counts).reduce((sum, n) => sum + Number(n || 0), 0);
}

/** Prints a run's result as lines: what changed per kind, and what is still wrong. */
export function summarize(result: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const changes = (result.changes ?? {}) as Record<string, Record<string, number>>;
  for (const [kind, counts] of Object.entries(changes)) {
    const parts = Object.entries(counts).map(([k, v]) => `${v} ${k}`);
    lines.push(`  ${kind.padEnd(14)} ${parts.join(", ")}`);
  }
  lines.push(
    `  still wrong:   ${
      result.subscriptions_without_membership ?? 0
    } subscription(s) without a membership, ${result.events_failed ?? 0} failed event(s); ${
      result.rate_limited ?? 0
    } rate-limited request(s)`,
  );
  return lines;
}

/** `stagecoach stripe reconcile` */
export const stripeReconcileCommand = defineCommand({
  name: "stripe reconcile",
  summary: "Repair an environment's Stripe mirror and memberships from Stripe (resumable)",
  description:
    `Lists every product, price, customer, completed checkout session and subscription of the
environment's Stripe account (the local emulator, or Stripe itself when the environment is
pointed at it), repairs the stripe mirror and the memberships, re-reads objects Stripe no
longer lists, retries failed webhook events, and prints what changed. Runs as a checkpointed
job (ops.jobs, kind stripe.reconcile): if it is killed, the next run resumes where it stopped.
Running it again when nothing changed in Stripe changes nothing.`,
  options: {
    env: ENV_OPTION,
    rate: {
      type: "string",
      value: "<n>",
      help: "requests per second to Stripe (default 25; 429s wait for Retry-After)",
    },
    "page-size": { type: "string", value: "<n>", help: "objects per list request (default 100)" },
    json: { type: "boolean", help: "print the finished job's result as JSON" },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const env = envOption(values.env);
    const rate = intOption(values.rate, "--rate", 1, 100);
    const pageSize = intOption(values["page-size"], "--page-size", 1, 100);
    return await withDatabase(env, async (sql) => {
      const progress = createProgress({
        label: `stripe reconcile ${env.name}`,
        unit: "objects",
        write: values.json
          ? (text) => Deno.stderr.writeSync(new TextEncoder().encode(text))
          : undefined,
        terminal: values.json ? false : undefined,
      });
      const host = await cliJobHost(env, (line) => progress.log(line));
      if (!host.secret("STRIPE_SECRET_KEY")) {
        throw new Error(`Cannot reconcile ${env.name}: it has no Stripe settings (run npm start)`);
      }
      let job = await unfinished(sql);
      if (job) {
        progress.log(
          `resuming job ${job.id} at ${describeProgress(job)} (phase ${
            job.state.phase ?? "start"
          })`,
        );
      } else {
        job = await createJob(sql, defaultRegistry, {
          kind: RECONCILE_KIND,
          executor: "cli",
          params: { rate_limit: rate ?? 25, page_size: pageSize ?? 100, source: "cli" },
        });
        progress.log(`started job ${job.id}`);
      }
      progress.update(objectsDone(job));
      // A run killed mid-slice left its lease; fencing makes taking it over safe.
      const r = await runJob(sql, job.id, {
        host,
        steal: true,
        onProgress: (j) => progress.update(objectsDone(j)),
      });
      const final = r.job;
      progress.finish(
        `stripe reconcile ${env.name}: ${r.status} after ${objectsDone(final ?? job)} objects`,
      );
      if (values.json) {
        console.log(
          JSON.stringify(
            {
              job_id: job.id,
              status: r.status,
              result: final?.result ?? null,
              error: final?.error ?? null,
            },
            null,
            2,
          ),
        );
      } else if (final?.result) {
        for (const line of summarize(final.result as Record<string, unknown>)) console.log(line);
      } else if (final?.error) {
        console.error(`  ${final.error.code}: ${final.error.message}`);
      }
      return r.status === "succeeded" ? 0 : 1;
    });
  },
});
