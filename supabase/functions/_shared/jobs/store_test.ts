/** `ops.jobs` I/O on the development database of the running stack. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { z } from "zod";
import { localEnv } from "../../../../scripts/local/config.ts";
import { createJobRegistry } from "./registry.ts";
import {
  cancelJob,
  checkpointJob,
  claimJob,
  createJob,
  dueJobIds,
  failJob,
  finishJob,
  LeaseLostError,
  loadJob,
  releaseJob,
  requeueJob,
} from "./store.ts";

const registry = createJobRegistry();
registry.register({
  kind: "test.store",
  paramsSchema: z.object({ n: z.number() }),
  step: () => Promise.resolve({ done: true }),
});

async function withDb(fn: (sql: postgres.Sql) => Promise<void>): Promise<void> {
  const sql = postgres(localEnv("development").dbUrl, { max: 2, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end();
  }
}

Deno.test("claim, checkpoint, release and finish follow the lease", async () => {
  await withDb(async (sql) => {
    const job = await createJob(sql, registry, {
      kind: "test.store",
      params: { n: 1 },
      totals: { t: 10 },
    });
    assert.equal(job.status, "queued");
    assert.deepEqual(job.totals, { t: 10 });
    const claimed = await claimJob(sql, job.id, { owner: "a", leaseMs: 30_000 });
    assert.equal(claimed?.status, "running");
    assert.equal(claimed?.attempts, 1);
    assert.equal(
      await claimJob(sql, job.id, { owner: "b", leaseMs: 30_000 }),
      null,
      "a live lease is not taken",
    );
    const progress = await checkpointJob(sql, job.id, {
      token: claimed!.lease_token!,
      patch: { cursor: { t: "k5" }, counts: { t: 5 } },
      leaseMs: 30_000,
    });
    assert.deepEqual(progress.cursor, { t: "k5" });
    await assert.rejects(
      checkpointJob(sql, job.id, {
        token: crypto.randomUUID(),
        patch: { counts: { t: 6 } },
        leaseMs: 1,
      }),
      LeaseLostError,
    );
    assert.equal(await releaseJob(sql, job.id, { token: claimed!.lease_token! }), true);
    const again = await claimJob(sql, job.id, { owner: "b", leaseMs: 30_000 });
    assert.equal(again?.attempts, 1, "a clean release is not a new attempt");
    assert.equal(again?.slices, 2);
    assert.equal(
      await finishJob(sql, job.id, { token: again!.lease_token!, result: { ok: true } }),
      true,
    );
    const done = await loadJob(sql, job.id);
    assert.equal(done?.status, "succeeded");
    assert.ok(done?.finished_at);
    assert.equal(done?.lease_token, null);
  });
});

Deno.test("a job whose runner died is claimed again as a new attempt once its lease expired", async () => {
  await withDb(async (sql) => {
    const job = await createJob(sql, registry, { kind: "test.store", params: { n: 2 } });
    await claimJob(sql, job.id, { owner: "dead", leaseMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      (await dueJobIds(sql, { executor: "worker", limit: 1000, kinds: ["test.store"] })).includes(
        job.id,
      ),
    );
    const taken = await claimJob(sql, job.id, { owner: "alive", leaseMs: 30_000 });
    assert.equal(taken?.attempts, 2);
    assert.equal(taken?.lease_owner, "alive");
  });
});

Deno.test("fail, cancel and re-queue", async () => {
  await withDb(async (sql) => {
    const job = await createJob(sql, registry, { kind: "test.store", params: { n: 3 } });
    assert.equal(await requeueJob(sql, job.id), false, "a queued job is not re-queued");
    assert.equal(
      await failJob(sql, job.id, {
        token: null,
        error: { code: "x", message: "Cannot x: y", details: {} },
      }),
      true,
    );
    assert.equal((await loadJob(sql, job.id))?.error?.code, "x");
    assert.equal(await requeueJob(sql, job.id), true);
    const requeued = await loadJob(sql, job.id);
    assert.equal(requeued?.status, "queued");
    assert.equal(requeued?.error, null);
    assert.equal(await cancelJob(sql, job.id), true);
    assert.equal(await cancelJob(sql, job.id), false, "cancelling twice changes nothing");
    assert.equal(await loadJob(sql, crypto.randomUUID()), null);
  });
});
