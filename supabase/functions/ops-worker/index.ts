import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { outboundPolicyFromEnv } from "../_shared/outbound/policy.ts";
import { createOpsWorkerApp, workerJobRegistry } from "./app.ts";

const env = functionEnv();
// An unreadable allow-list stops the worker at boot rather than widening or narrowing it.
const outbound = outboundPolicyFromEnv(Deno.env.toObject());
const app = createOpsWorkerApp({
  env,
  sql: createDb(env.SUPABASE_DB_URL),
  outbound,
  jobs: workerJobRegistry(),
});

Deno.serve(app.fetch);
