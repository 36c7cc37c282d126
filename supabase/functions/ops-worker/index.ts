import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createOpsWorkerApp } from "./app.ts";

const env = functionEnv();
const app = createOpsWorkerApp({ env, sql: createDb(env.SUPABASE_DB_URL) });

Deno.serve(app.fetch);
