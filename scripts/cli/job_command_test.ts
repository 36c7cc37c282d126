/**
 * The CLI's job runner against the development database of the running stack: start, resume a
 * failed job by id, resume the newest unfinished one, exit codes. Each test uses a kind of its
 * own, so jobs of other tests never match.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { z } from "zod";
import { createJobRegistry, type JobKind } from "../../supabase/functions/_shared/jobs/registry.ts";
import { JobFailure } from "../../supabase/functions/_shared/jobs/runner.ts";
import { createJob, loadJob } from "../../supabase/functions/_shared/jobs/store.ts";
import { UsageError } from "./command.ts";
import { cliJobRegistry, type JobCommandOptions, runJobCommand } from "./job_command.ts";
import { resolveTarget } from "./target.ts";

const env = resolveTarget("development");

/** Counts to `to` one checkpoint a step; with `fail_once`, the first run fails at 2. */
function counter(): JobKind<{ to: number; fail_once?: boolean }> {
  return {
    kind: `test.count_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`,
    paramsSchema: z.object({ to: z.number().int(), fail_once: z.boolean().optional() }),
    async step(ctx) {
      const n = Number(ctx.job.counts.n ?? 0);
      if (n >= ctx.params.to) return { done: true, result: { counted: n } };
      if (ctx.params.fail_once && n === 2 && !ctx.job.state.failed) {
        await ctx.checkpoint({ state: { failed: true } });
        throw new JobFailure("boom", "Cannot count: the test said so");
      }
      await ctx.checkpoint({ counts: { n: n + 1 } });
      return { done: false };
    },
  };
}

function options(kind: JobKind<{ to: number; fail_once?: boolean }>): JobCommandOptions {
  return {
    kind: kind.kind,
    registry: createJobRegistry([kind]),
    json: true,
    label: () => `count ${kind.kind}`,
    resumeCommand: (job) => `resume ${job.id}`,
  };
}

async function withDb(fn: (sql: postgres.Sql) => Promise<void>): Promise<void> {
  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end();
  }
}

Deno.test("cliJobRegistry holds the kinds the CLI runs", () => {
  assert.deepEqual(cliJobRegistry().kinds(), [
    "etl.run",
    "flag.rollout",
    "release.watch",
    "stripe.reconcile",
    "users.copy",
  ]);
});

Deno.test("runJobCommand refuses a --resume that is not a job id, before connecting", async () => {
  const kind = counter();
  await assert.rejects(
    runJobCommand({ ...env, dbUrl: "postgres://nowhere.invalid/x" }, {
      ...options(kind),
      resume: { id: "nope" },
    }),
    (err) =>
      err instanceof UsageError && /Invalid --resume: "nope" is not a job id/.test(err.message),
  );
});

Deno.test("runJobCommand starts a job and runs it to success (exit 0)", async () => {
  const kind = counter();
  let jobId = "";
  const code = await runJobCommand(env, {
    ...options(kind),
    async start(ctx) {
      const job = await ctx.create({ params: { to: 3 } });
      jobId = job.id;
      return job;
    },
  });
  assert.equal(code, 0);
  await withDb(async (sql) => {
    const job = await loadJob(sql, jobId);
    assert.equal(job?.status, "succeeded");
    assert.equal(job?.executor, "cli");
    assert.deepEqual(job?.result, { counted: 3 });
  });
});

Deno.test("runJobCommand answers a dry run's exit code and queues nothing", async () => {
  const kind = counter();
  const code = await runJobCommand(env, { ...options(kind), start: () => Promise.resolve(0) });
  assert.equal(code, 0);
  await withDb(async (sql) => {
    const [{ n }] = await sql`select count(*)::int as n from ops.jobs where kind = ${kind.kind}`;
    assert.equal(n, 0);
  });
});

Deno.test("runJobCommand throws a failed job's error, and --resume re-queues and finishes it", async () => {
  const kind = counter();
  let jobId = "";
  await assert.rejects(
    runJobCommand(env, {
      ...options(kind),
      async start(ctx) {
        const job = await ctx.create({ params: { to: 4, fail_once: true } });
        jobId = job.id;
        return job;
      },
    }),
    /^Error: Cannot count: the test said so$/,
  );
  const code = await runJobCommand(env, { ...options(kind), resume: { id: jobId } });
  assert.equal(code, 0);
  await withDb(async (sql) => {
    assert.equal((await loadJob(sql, jobId))?.status, "succeeded");
  });
  // Resuming a job that succeeded does nothing.
  assert.equal(await runJobCommand(env, { ...options(kind), resume: { id: jobId } }), 0);
});

Deno.test("runJobCommand with resume latest continues the newest unfinished job", async () => {
  const kind = counter();
  await withDb(async (sql) => {
    const left = await createJob(sql, options(kind).registry, {
      kind: kind.kind,
      executor: "cli",
      params: { to: 2 },
    });
    const code = await runJobCommand(env, {
      ...options(kind),
      resume: "latest",
      start: () => Promise.reject(new Error("nothing should start")),
    });
    assert.equal(code, 0);
    assert.equal((await loadJob(sql, left.id))?.status, "succeeded");
  });
});
