/** The `etl.run` kind's schema check and dry run on the development database. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import { createJobRegistry } from "../jobs/registry.ts";
import { runSlice } from "../jobs/runner.ts";
import { createJob } from "../jobs/store.ts";
import { createEtlKind, ETL_RUN_KIND, etlDryRun } from "./run_job.ts";
import { defineTransform } from "./transform.ts";

const broken = defineTransform({
  id: "needs_missing_column",
  version: 1,
  description: "Reads a column no migration created",
  table: "public.profiles",
  key: "id",
  reads: ["nickname"],
  writes: ["display_name"],
  guard: "display_name is null",
  transform: () => null,
});

Deno.test("a transform naming a column the table lacks fails before touching a row", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 3, onnotice: () => {} });
  const registry = createJobRegistry();
  registry.register(createEtlKind([broken]));
  try {
    await assert.rejects(
      etlDryRun(sql, broken),
      /Cannot run ETL transform needs_missing_column: public\.profiles has no column nickname/,
    );
    const job = await createJob(sql, registry, {
      kind: ETL_RUN_KIND,
      params: { transform_id: "needs_missing_column", version: 1, env: "development" },
    });
    const r = await runSlice(sql, job.id, {
      host: { owner: "etl-test", dbUrl: () => "", secret: () => undefined },
      registry,
      deadlineMs: 10_000,
    });
    assert.equal(r.status, "failed");
    assert.equal(r.job?.error?.code, "etl_schema_mismatch");
  } finally {
    await sql.end();
  }
});
