/**
 * `stagecoach etl run <id> --env <env>` and `stagecoach etl list`: repository ETL transforms
 * (`supabase/etl/`) run as checkpointed `etl.run` jobs in the environment's `ops.jobs`.
 *
 * @module
 */
import postgres from "postgres";
import { ETL_TRANSFORMS } from "../../supabase/etl/transforms.ts";
import {
  createEtlKind,
  ETL_RUN_KIND,
  etlDryRun,
  etlPending,
  type EtlRunParams,
} from "../../supabase/functions/_shared/etl/run_job.ts";
import { findTransform } from "../../supabase/functions/_shared/etl/transform.ts";
import { defaultRegistry } from "../../supabase/functions/_shared/jobs/registry.ts";
import { JobFailure } from "../../supabase/functions/_shared/jobs/runner.ts";
import { createJob, loadJob, requeueJob } from "../../supabase/functions/_shared/jobs/store.ts";
import { defineCommand, ENV_OPTION, envOption, parseOptions, UsageError } from "./command.ts";
import { cliOwner, ownerIsDeadLocalProcess, runJobWithProgress } from "./progress.ts";

const etlKind = createEtlKind(ETL_TRANSFORMS);
if (!defaultRegistry.has(ETL_RUN_KIND)) defaultRegistry.register(etlKind);

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
    let transformId = id;
    if (id) {
      try {
        findTransform(ETL_TRANSFORMS, id);
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
    const out = (line: string) => (v.json ? console.error(line) : console.log(line));
    const sql = postgres(env.dbUrl, {
      max: 4,
      prepare: false,
      connect_timeout: 5,
      onnotice: () => {},
    });
    try {
      await sql`select 1`.catch((cause) => {
        throw new Error(
          `Cannot connect to ${env.name}: ${cause.message} (${
            env.mode === "local" ? "is the stack up? npm start" : "check its DB_URL"
          })`,
        );
      });
      let jobId: string;
      let steal = false;
      if (v.resume !== undefined) {
        const job = await loadJob(sql, v.resume).catch(() => null);
        if (!job || job.kind !== ETL_RUN_KIND) {
          throw new Error(
            `Cannot resume job ${v.resume}: no etl.run job with that id in ${env.name}`,
          );
        }
        transformId = String(job.params.transform_id);
        if (job.status === "succeeded") {
          out(`job ${job.id} already succeeded; nothing to do`);
          return 0;
        }
        if (job.status === "failed" || job.status === "canceled") await requeueJob(sql, job.id);
        steal = Boolean(v.force) || await ownerIsDeadLocalProcess(job.lease_owner);
        jobId = job.id;
        out(`resuming job ${jobId} (${job.status})`);
      } else {
        const t = findTransform(ETL_TRANSFORMS, transformId!);
        if (v["dry-run"]) {
          const report = await etlDryRun(sql, t);
          if (v.json) {
            console.log(
              JSON.stringify(
                { dry_run: true, transform: t.id, version: t.version, ...report },
                null,
                2,
              ),
            );
          } else {
            console.log(
              `dry run of ${t.id} v${t.version} on ${env.name}: ${report.pending} rows would be transformed; nothing was written`,
            );
            for (const row of report.preview) {
              console.log(
                `  ${row.key}: ${JSON.stringify(row.before)} → ${JSON.stringify(row.after)}`,
              );
            }
          }
          return 0;
        }
        const params: EtlRunParams = {
          transform_id: t.id,
          version: t.version,
          env: env.name,
          batch_size: batchSize,
          actor: actor(),
        };
        const job = await createJob(sql, defaultRegistry, {
          kind: ETL_RUN_KIND,
          params,
          executor: v.queue ? "worker" : "cli",
          totals: { [t.table]: await etlPending(sql, t) },
          state: { phase: "transform" },
        });
        jobId = job.id;
        out(
          `job ${jobId} in ${env.name}: ${t.id} v${t.version} over ${
            job.totals[t.table]
          } rows of ${t.table}`,
        );
        if (v.queue) {
          if (v.json) console.log(JSON.stringify({ job_id: jobId, status: "queued" }));
          return 0;
        }
      }
      const r = await runJobWithProgress(sql, jobId, {
        host: {
          owner: cliOwner(),
          dbUrl: () => env.dbUrl,
          secret: (name) => Deno.env.get(name),
        },
        label: `etl ${transformId} on ${env.name}`,
        steal,
        write: v.json ? (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)) : undefined,
        terminal: v.json ? Deno.stderr.isTerminal() : undefined,
      });
      const job = r.job;
      if (v.json) {
        console.log(
          JSON.stringify(
            {
              job_id: jobId,
              status: r.status,
              result: job?.result ?? null,
              error: job?.error ?? null,
            },
            null,
            2,
          ),
        );
      } else if (r.status === "succeeded") {
        const res = job?.result as { processed: number; changed: number };
        console.log(
          `job ${jobId} succeeded: ${res.processed} rows processed, ${res.changed} changed`,
        );
      }
      if (r.status === "succeeded") return 0;
      if (r.status === "queued") {
        console.error(
          `stopped; resume with: stagecoach etl run --env ${env.name} --resume ${jobId}`,
        );
        return 130;
      }
      throw new Error(job?.error?.message ?? `Cannot complete job ${jobId}: it ended ${r.status}`);
    } catch (err) {
      if (err instanceof JobFailure) throw new Error(err.message);
      throw err;
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
});
