import assert from "node:assert/strict";
import postgres from "postgres";
import { z } from "zod";
import { localEnv } from "../../../../scripts/local/config.ts";
import { createJobRegistry } from "./registry.ts";
import { createJob, loadJob } from "./store.ts";
import { jobsSettled, startDueJobs, workerJobHost } from "./worker.ts";

Deno.test("workerJobHost reads other environments' URLs and secrets from function secrets", () => {
  const host = workerJobHost({
    SUPABASE_DB_URL: "postgresql://self",
    STAGECOACH_DB_URL_PRODUCTION: "postgresql://prod",
    STAGECOACH_ANON_KEY: "k",
  }, "staging");
  assert.equal(host.owner, "ops-worker:staging");
  assert.equal(host.dbUrl("production"), "postgresql://prod");
  assert.equal(host.dbUrl("staging"), "postgresql://self");
  assert.throws(
    () => host.dbUrl("development"),
    /Cannot reach development from the ops-worker: set the function secret STAGECOACH_DB_URL_DEVELOPMENT/,
  );
  assert.equal(host.secret("STAGECOACH_ANON_KEY"), "k");
  assert.equal(host.secret("NOPE"), undefined);
});

Deno.test("startDueJobs runs due worker jobs in the background, one run at a time", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 3, onnotice: () => {} });
  const registry = createJobRegistry();
  let steps = 0;
  registry.register({
    kind: "test.worker_bg",
    paramsSchema: z.object({}),
    async step(ctx) {
      steps++;
      if (steps < 3) {
        await ctx.checkpoint({ counts: { n: steps } });
        return { done: false };
      }
      return { done: true, result: { steps } };
    },
  });
  try {
    const job = await createJob(sql, registry, { kind: "test.worker_bg", params: {} });
    const host = workerJobHost({}, "development");
    assert.equal(startDueJobs(sql, { host, registry, budgetMs: 10_000 }), "started");
    assert.equal(startDueJobs(sql, { host, registry }), "already_running");
    const results = await jobsSettled();
    assert.deepEqual(results.map((r) => [r.job_id, r.status]), [[job.id, "succeeded"]]);
    assert.deepEqual((await loadJob(sql, job.id))?.result, { steps: 3 });
  } finally {
    await sql.end();
  }
});
