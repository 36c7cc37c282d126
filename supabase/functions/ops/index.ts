import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { sourceResolver } from "../_shared/promotion/sources.ts";
import { stripeCatalogFromEnv } from "../_shared/stripe/catalog_sync.ts";
import { loadCustomChecks } from "../_shared/validation/checks.ts";
import { createOpsApp } from "./app.ts";

const env = functionEnv();
const app = createOpsApp({
  env,
  sql: createDb(env.SUPABASE_DB_URL),
  sourceDb: sourceResolver(Deno.env.toObject()),
  customChecks: () => loadCustomChecks(new URL("../../validations/", import.meta.url)),
  stripeCatalog: stripeCatalogFromEnv(Deno.env.toObject(), env.SUPABASE_URL),
});

Deno.serve(app.fetch);
