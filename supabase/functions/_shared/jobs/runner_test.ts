/**
 * The job engine against the development database of the running stack: slices, checkpoints
 * committed with their batch, fencing, failure and resume, cancel, and the worker's queue.
 * Each test creates its own schema-qualified tables and jobs.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { z } from "zod";
import { localEnv } from "../../../../scripts/local/config.ts";
import type { Sql } from "../db.ts";
import { createJobRegistry, type JobHost, type JobKind } from "./registry.ts";
import { describeProgress, JobFailure, runDueJobs, runJob, runSlice } from "./runner.ts";
import { cancelJob, claimJob, createJob, loadJob, requeueJob } from "./store.ts";

const host: JobHost = {
  owner: "runner-test",
  dbUrl: () => {
    throw new Error("not needed");
  },
  secret: () => undefined,
};

/** Moves rows of <table>_src into <table>_dst in batches; the batch and its checkpoint commit together. */
function mover(
  opts: { failAt?: number; pauseMs?: number } = {},
): JobKind<{ table: string; batch: number }> {
  return {
    kind: "test.move",
    paramsSchema: z.object({
      table: z.string().regex(/^[a-z0-9_]+$/),
      batch: z.number().int().positive(),
    }),
    async step(ctx) {
      const { table, batch } = ctx.params;
      const after = Number(ctx.job.cursor[table] ?? 0);
      if (opts.failAt !== undefined && after >= opts.failAt && !ctx.job.state.failed_once) {
        await ctx.checkpoint({ state: { failed_once: true } });
        throw new JobFailure("boom", "Cannot move rows: the test said so", { after });
      }
      const moved = await ctx.sql.begin(async (tx) => {
        const rows = await tx.unsafe(
          `insert into jobs_test.${table}_dst (n)
           select n from jobs_test.${table}_src where n > $1 order by n limit $2
           returning n`,
          [after, batch],
        );
        if (!rows.length) return 0;
        const last = Math.max(...rows.map((r) => Number(r.n)));
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
        await ctx.checkpoint({
          cursor: { [table]: last },
          counts: { [table]: Number(ctx.job.counts[table] ?? 0) + rows.length },
        }, tx);
        return rows.length;
      });
      return moved
        ? { done: false }
        : { done: true, result: { moved: ctx.job.counts[table] ?? 0 } };
    },
  };
}

async function withDb(fn: (sql: Sql) => Promise<void>): Promise<void> {
  const sql = postgres(localEnv("development").dbUrl, { max: 4, onnotice: () => {} });
  try {
    await sql`create schema if not exists jobs_test`;
    await fn(sql);
  } finally {
    await sql.end();
  }
}

async function makeTables(sql: Sql, rows: number): Promise<string> {
  const table = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  await sql.unsafe(`create table jobs_test.${table}_src (n int primary key)`);
  await sql.unsafe(`create table jobs_test.${table}_dst (n int primary key)`);
  await sql.unsafe(`insert into jobs_test.${table}_src select generate_series(1, ${rows})`);
  return table;
}

async function dropTables(sql: Sql, table: string): Promise<void> {
  await sql.unsafe(`drop table if exists jobs_test.${table}_src, jobs_test.${table}_dst`);
}

async function dstNumbers(sql: Sql, table: string): Promise<number[]> {
  const rows = await sql.unsafe(`select n from jobs_test.${table}_dst order by n`);
  return rows.map((r) => Number(r.n));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

Deno.test("createJob refuses invalid params and secrets, writing nothing", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    registry.register(mover());
    const [{ n: before }] = await sql`select count(*)::int as n from ops.jobs`;
    await assert.rejects(
      createJob(sql, registry, { kind: "test.move", params: { table: "x", batch: -1 } }),
      /^Error: Cannot queue job test\.move: invalid parameters \(batch: /,
    );
    await assert.rejects(
      createJob(sql, registry, { kind: "test.nope", params: {} }),
      /no job kind "test.nope"/,
    );
    const secretive: JobKind<Record<string, string>> = {
      kind: "test.secretive",
      paramsSchema: z.record(z.string(), z.string()),
      step: () => Promise.resolve({ done: true }),
    };
    registry.register(secretive);
    await assert.rejects(
      createJob(sql, registry, { kind: "test.secretive", params: { anon_key: "k" } }),
      /parameter params\.anon_key looks like a secret/,
    );
    const [{ n: after }] = await sql`select count(*)::int as n from ops.jobs`;
    assert.equal(after, before);
  });
});

Deno.test("runSlice stops before its deadline and re-queues; slices resume with no gaps or duplicates", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    registry.register(mover({ pauseMs: 30 }));
    const table = await makeTables(sql, 50);
    try {
      const job = await createJob(sql, registry, {
        kind: "test.move",
        params: { table, batch: 5 },
        totals: { [table]: 50 },
      });
      const first = await runSlice(sql, job.id, {
        host,
        registry,
        deadlineMs: 150,
        marginMs: 0,
      });
      assert.equal(first.status, "queued");
      assert.ok(first.steps >= 1 && first.steps < 10, `steps: ${first.steps}`);
      assert.equal(first.job?.lease_token, null, "the lease is released");
      const moved = await dstNumbers(sql, table);
      assert.deepEqual(moved, range(moved.length));
      assert.equal(first.job?.counts[table], moved.length);

      const last = await runJob(sql, job.id, { host, registry });
      assert.equal(last.status, "succeeded");
      assert.deepEqual(await dstNumbers(sql, table), range(50));
      assert.deepEqual(last.job?.result, { moved: 50 });
      assert.equal(describeProgress(last.job!), "50 / 50 rows (100 %)");
      assert.ok(last.job!.slices >= 2);
    } finally {
      await dropTables(sql, table);
    }
  });
});

Deno.test("a failing step marks the job failed with its code; re-queued, it resumes from the checkpoint", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    registry.register(mover({ failAt: 20 }));
    const table = await makeTables(sql, 40);
    try {
      const job = await createJob(sql, registry, {
        kind: "test.move",
        params: { table, batch: 10 },
      });
      const failed = await runJob(sql, job.id, { host, registry });
      assert.equal(failed.status, "failed");
      assert.deepEqual(failed.job?.error, {
        code: "boom",
        message: "Cannot move rows: the test said so",
        details: { after: 20 },
      });
      assert.ok(failed.job?.finished_at);
      assert.deepEqual(await dstNumbers(sql, table), range(20));

      assert.equal(await requeueJob(sql, job.id), true);
      const resumed = await runJob(sql, job.id, { host, registry });
      assert.equal(resumed.status, "succeeded");
      assert.equal(resumed.job?.error, null);
      assert.deepEqual(await dstNumbers(sql, table), range(40));
    } finally {
      await dropTables(sql, table);
    }
  });
});

Deno.test("checkpoints are fenced: a runner whose lease was taken rolls its batch back", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    let stolen = false;
    const base = mover();
    registry.register({
      ...base,
      async step(ctx, r) {
        if (!stolen) {
          stolen = true;
          // Another runner takes the job over while this one is mid-batch.
          await claimJob(sql, ctx.job.id, { owner: "thief", leaseMs: 30_000, steal: true });
        }
        return await base.step(ctx, r);
      },
    });
    const table = await makeTables(sql, 10);
    try {
      const job = await createJob(sql, registry, {
        kind: "test.move",
        params: { table, batch: 5 },
      });
      const r = await runSlice(sql, job.id, { host, registry, deadlineMs: 10_000 });
      assert.equal(r.status, "lease_lost");
      assert.deepEqual(
        await dstNumbers(sql, table),
        [],
        "the batch rolled back with its checkpoint",
      );
      assert.equal(r.job?.lease_owner, "thief");
      assert.deepEqual(r.job?.cursor, {});
      // A live lease is not taken without steal.
      const busy = await runSlice(sql, job.id, { host, registry, deadlineMs: 10_000 });
      assert.equal(busy.status, "busy");
    } finally {
      await dropTables(sql, table);
    }
  });
});

Deno.test("cancelling a running job stops its runner at the next checkpoint", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    const base = mover();
    registry.register({
      ...base,
      async step(ctx, r) {
        if (Number(ctx.job.cursor[ctx.params.table] ?? 0) >= 4) await cancelJob(sql, ctx.job.id);
        return await base.step(ctx, r);
      },
    });
    const table = await makeTables(sql, 20);
    try {
      const job = await createJob(sql, registry, {
        kind: "test.move",
        params: { table, batch: 2 },
      });
      const r = await runJob(sql, job.id, { host, registry });
      assert.equal(r.status, "canceled");
      assert.deepEqual(await dstNumbers(sql, table), range(4));
      assert.equal(r.job?.lease_token, null);
    } finally {
      await dropTables(sql, table);
    }
  });
});

Deno.test("runDueJobs runs worker jobs only and leaves CLI jobs alone", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    registry.register({ ...mover(), kind: "test.move_due" });
    const a = await makeTables(sql, 3);
    const b = await makeTables(sql, 3);
    try {
      const worker = await createJob(sql, registry, {
        kind: "test.move_due",
        params: { table: a, batch: 10 },
      });
      const cli = await createJob(sql, registry, {
        kind: "test.move_due",
        params: { table: b, batch: 10 },
        executor: "cli",
      });
      const results = await runDueJobs(sql, { host, registry, budgetMs: 20_000 });
      const mine = results.filter((r) => r.job_id === worker.id || r.job_id === cli.id);
      assert.deepEqual(mine.map((r) => [r.job_id, r.status]), [[worker.id, "succeeded"]]);
      assert.equal((await loadJob(sql, worker.id))?.status, "succeeded");
      assert.equal((await loadJob(sql, cli.id))?.status, "queued");
      assert.deepEqual(await dstNumbers(sql, b), []);
    } finally {
      await dropTables(sql, a);
      await dropTables(sql, b);
    }
  });
});

Deno.test("a step's wakeAt past the slice re-queues the job due then; runJob waits for it", async () => {
  await withDb(async (sql) => {
    const registry = createJobRegistry();
    // Two steps: the first asks to be woken 1.5 s later, the second finishes.
    registry.register<{ n: number }, unknown>({
      kind: "test.sleeper",
      paramsSchema: z.object({ n: z.number() }),
      async step(ctx) {
        const woken = Number(ctx.job.counts.woken ?? 0);
        if (woken > 0) return { done: true, result: { woken } };
        await ctx.checkpoint({ counts: { woken: 1 } });
        return { done: false, wakeAt: new Date(Date.now() + 1_500) };
      },
    });
    const job = await createJob(sql, registry, { kind: "test.sleeper", params: { n: 1 } });
    const first = await runSlice(sql, job.id, { host, registry, deadlineMs: 1_000, marginMs: 0 });
    assert.equal(first.status, "queued");
    assert.equal(first.steps, 1, "the runner did not spin until the deadline");
    assert.ok(first.job!.run_after.getTime() > Date.now() + 500, "due when the step asked");
    const [due] = await sql`select count(*)::int as n from ops.jobs
                            where id = ${job.id} and run_after <= clock_timestamp()`;
    assert.equal(due.n, 0, "not due to a worker before then");
    const last = await runJob(sql, job.id, { host, registry });
    assert.equal(last.status, "succeeded");
    assert.ok(
      last.job!.finished_at!.getTime() >= first.job!.run_after.getTime(),
      "runJob waited until the job was due",
    );
    // Within a long slice too, a wait beyond maxSleepMs frees the runner (the ops-worker's way).
    const again = await createJob(sql, registry, { kind: "test.sleeper", params: { n: 2 } });
    const freed = await runSlice(sql, again.id, {
      host,
      registry,
      deadlineMs: 30_000,
      maxSleepMs: 500,
    });
    assert.equal(freed.status, "queued", "released, not slept until wakeAt (then it would end)");
    assert.equal(freed.steps, 1);
    assert.ok(freed.job!.run_after.getTime() > Date.now(), "due again at wakeAt");
  });
});
