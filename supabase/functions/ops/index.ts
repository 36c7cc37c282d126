import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createOpsApp } from "./app.ts";

const env = functionEnv();
const app = createOpsApp({ env, sql: createDb(env.SUPABASE_DB_URL) });

Deno.serve(app.fetch);
