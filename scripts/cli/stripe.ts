/**
 * `stagecoach stripe reconcile`: repairs an environment's Stripe mirror and memberships from
 * Stripe (the `stripe.reconcile` job of `_shared/stripe/reconcile.ts`), with a progress bar.
 * A run that was killed is resumed where it stopped by the next run.
 */
import { RECONCILE_KIND } from "../../supabase/functions/_shared/stripe/reconcile.ts";
import { defineCommand, ENV_OPTION, envOption, parseOptions, UsageError } from "./command.ts";
import { cliJobRegistry, runJobCommand } from "./job_command.ts";
import { functionSecrets } from "./target.ts";

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
    // The environment's Stripe settings, as its functions get them.
    const secrets = await functionSecrets(env);
    if (!secrets.STRIPE_SECRET_KEY) {
      throw new Error(`Cannot reconcile ${env.name}: it has no Stripe settings (run npm start)`);
    }
    return await runJobCommand(env, {
      kind: RECONCILE_KIND,
      registry: cliJobRegistry(),
      json: values.json ?? false,
      // A run killed mid-slice left its job and its lease; fencing makes taking it over safe.
      resume: "latest",
      force: true,
      async start(ctx) {
        const job = await ctx.create({
          params: { rate_limit: rate ?? 25, page_size: pageSize ?? 100, source: "cli" },
        });
        ctx.log(`started job ${job.id}`);
        return job;
      },
      secrets: () => (name) => secrets[name] || undefined,
      label: () => `stripe reconcile ${env.name}`,
      unit: "objects",
      summary: (job) => summarize((job.result ?? {}) as Record<string, unknown>),
      resumeCommand: () => `stagecoach stripe reconcile --env ${env.name}`,
    });
  },
});
