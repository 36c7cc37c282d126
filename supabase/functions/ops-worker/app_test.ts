import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type { Sql } from "../_shared/db.ts";
import type { FunctionEnv } from "../_shared/env.ts";
import { createJobRegistry } from "../_shared/jobs/registry.ts";
import { createOpsWorkerApp, WorkerCallSchema, workerJobRegistry } from "./app.ts";

const ENV: FunctionEnv = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
};

/** A database that must not be reached: these tests cover what happens before SQL. */
const NO_DB = new Proxy({}, {
  get() {
    throw new Error("the database must not be used");
  },
}) as unknown as Sql;

function app() {
  return createOpsWorkerApp({ env: ENV, sql: NO_DB, jobs: createJobRegistry() });
}

async function bearer(claims: Record<string, unknown>): Promise<string> {
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("verified upstream by the gateway"));
  return `Bearer ${jwt}`;
}

Deno.test("POST /ops-worker without a token is 401", async () => {
  const res = await app().request("/ops-worker", { method: "POST" });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, "unauthorized");
});

Deno.test("POST /ops-worker as a user or with the anon key is 403", async () => {
  for (
    const claims of [{ role: "anon" }, { role: "authenticated", sub: crypto.randomUUID() }]
  ) {
    for (const method of ["POST", "GET"]) {
      const res = await app().request("/ops-worker", {
        method,
        headers: { authorization: await bearer(claims) },
      });
      assert.equal(res.status, 403, `${method} ${claims.role}`);
      const body = await res.json();
      assert.equal(body.error.code, "forbidden");
      assert.deepEqual(body.error.details, { role: claims.role });
    }
  }
});

Deno.test("POST /ops-worker with an invalid body is 400 and writes nothing", async () => {
  const res = await app().request("/ops-worker", {
    method: "POST",
    headers: { authorization: await bearer({ role: "service_role" }) },
    body: JSON.stringify({ source: "Not A Source!" }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.code, "invalid_request");
  assert.deepEqual(body.error.details.issues[0].path, ["source"]);
});

Deno.test("WorkerCallSchema defaults the source to manual", () => {
  assert.deepEqual(WorkerCallSchema.parse({}), { source: "manual" });
  assert.deepEqual(WorkerCallSchema.parse({ source: "pg_cron" }), { source: "pg_cron" });
});

Deno.test("workerJobRegistry holds the kinds the worker runs", () => {
  assert.deepEqual(workerJobRegistry().kinds(), [
    "etl.run",
    "flag.rollout",
    "release.watch",
    "stripe.reconcile",
    "users.copy",
  ]);
});
