/**
 * `stagecoach etl run <id> --env <env>` and `stagecoach etl list`: repository ETL transforms
 * (`supabase/etl/`) run as checkpointed `etl.run` jobs in the environment's `ops.jobs`.
 *
 * @module
 */
import { ETL_TRANSFORMS } from "../../supabase/etl/transforms.ts";
import {
  ETL_RUN_KIND,
  etlDryRun,
  etlPending,
  type EtlRunParams,
} from "../../supabase/functions/_shared/etl/run_job.ts";
import { findTransform, type Transform } from "../../supabase/functions/_shared/etl/transform.ts";
import type { JobRow } from "../../supabase/functions/_shared/jobs/job.ts";
import { defineCommand, ENV_OPTION, envOption, parseOptions, UsageError } from "./command.ts";
import { cliJobRegistry, type JobStartContext, runJobCommand } from "./job_command.ts";

function actor(): string {
  return `cli:${Deno.env.get("USER") ?? "unknown"}@${Deno.hostname()}`;
}

/** `stagecoach etl list`. */
export const etlListCommand = defineCommand({
  name: "etl list",
  summary: "List the repository's ETL transforms",
  description: "Lists the transforms in supabase/etl/ with their version, table and description.",
  options: { json: { type: "boolean", help: "print them as JSON" } },
  run(args) {
    const v = parseOptions(this, args);
    if (!v) return Promise.resolve(0);
    const rows = ETL_TRANSFORMS.map((t) => ({
      id: t.id,
      version: t.version,
      table: t.table,
      description: t.description,
    }));
    if (v.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.id} v${r.version}  ${r.table}  ${r.description}`);
    return Promise.resolve(0);
  },
});

/** `stagecoach etl run`. */
export const etlRunCommand = defineCommand({
  name: "etl run",
  summary: "Run an ETL transform as a resumable job (--dry-run previews it)",
  args: "<id>",
  also: ["stagecoach etl run --env <env> --resume <job-id> [--force] [--json]"],
  description:
    `Runs the transform <id> (stagecoach etl list) over its table in the environment, in keyset
batches, each committed together with its checkpoint in ops.jobs. Only rows matching the
transform's guard are touched, so a second run changes nothing; a stopped or killed run
resumes from its checkpoint. --dry-run shows how many rows would change and a few rows before
→ after, and writes nothing.`,
  options: {
    env: ENV_OPTION,
    "dry-run": { type: "boolean", help: "preview; write nothing" },
    "batch-size": { type: "string", value: "<n>", help: "rows per batch (default 1000)" },
    queue: {
      type: "boolean",
      help: "queue the job for the environment's ops-worker instead of running it here",
    },
    resume: { type: "string", value: "<job-id>", help: "continue a stopped or failed run" },
    force: { type: "boolean", help: "with --resume: take the job over from another runner" },
    json: { type: "boolean", help: "print the result as JSON (progress goes to stderr)" },
  },
  async run(args) {
    const id = args[0] && !args[0].startsWith("-") ? args[0] : undefined;
    const v = parseOptions(this, id ? args.slice(1) : args);
    if (!v) return 0;
    const env = envOption(v.env);
    if (!id && v.resume === undefined) {
      throw new UsageError("Missing the transform id: etl run <id>");
    }
    let transform: Transform | undefined;
    if (id) {
      try {
        transform = findTransform(ETL_TRANSFORMS, id);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    const batchSize = v["batch-size"] === undefined ? 1000 : Number(v["batch-size"]);
    if (!Number.isInteger(batchSize) || batchSize <= 0 || batchSize > 100_000) {
      throw new UsageError(
        `Invalid --batch-size: "${v["batch-size"]}" is not a whole number in 1..100000`,
      );
    }
    return await runJobCommand(env, {
      kind: ETL_RUN_KIND,
      registry: cliJobRegistry(),
      json: v.json ?? false,
      resume: v.resume === undefined ? undefined : { id: v.resume },
      force: v.force,
      queue: v.queue,
      start: (ctx) =>
        startTransform(ctx, {
          transform: transform!,
          env: env.name,
          batchSize,
          dryRun: v["dry-run"] ?? false,
          json: v.json ?? false,
        }),
      label: (job) => `etl ${job.params.transform_id} on ${env.name}`,
      summary(job) {
        const res = job.result as { processed: number; changed: number };
        return [`job ${job.id} succeeded: ${res.processed} rows processed, ${res.changed} changed`];
      },
      resumeCommand: (job) => `stagecoach etl run --env ${env.name} --resume ${job.id}`,
    });
  },
});

/** Previews the transform (a dry run: exit 0), or queues its job. */
async function startTransform(
  ctx: JobStartContext,
  opts: { transform: Transform; env: string; batchSize: number; dryRun: boolean; json: boolean },
): Promise<JobRow | number> {
  const t = opts.transform;
  if (opts.dryRun) {
    const report = await etlDryRun(ctx.sql, t);
    if (opts.json) {
      console.log(
        JSON.stringify({ dry_run: true, transform: t.id, version: t.version, ...report }, null, 2),
      );
    } else {
      console.log(
        `dry run of ${t.id} v${t.version} on ${opts.env}: ${report.pending} rows would be transformed; nothing was written`,
      );
      for (const row of report.preview) {
        console.log(`  ${row.key}: ${JSON.stringify(row.before)} → ${JSON.stringify(row.after)}`);
      }
    }
    return 0;
  }
  const params: EtlRunParams = {
    transform_id: t.id,
    version: t.version,
    env: opts.env,
    batch_size: opts.batchSize,
    actor: actor(),
  };
  const job = await ctx.create({
    params,
    totals: { [t.table]: await etlPending(ctx.sql, t) },
    state: { phase: "transform" },
  });
  ctx.log(
    `job ${job.id} in ${opts.env}: ${t.id} v${t.version} over ${
      job.totals[t.table]
    } rows of ${t.table}`,
  );
  return job;
}
