import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { sourceResolver } from "../_shared/promotion/sources.ts";
import { stripeCatalogFromEnv } from "../_shared/stripe/catalog_sync.ts";
import { CUSTOM_CHECKS } from "../_shared/validation/custom_checks.generated.ts";
import { createOpsApp } from "./app.ts";

const env = functionEnv();
const app = createOpsApp({
  env,
  sql: createDb(env.SUPABASE_DB_URL),
  sourceDb: sourceResolver(Deno.env.toObject()),
  customChecks: () => Promise.resolve([...CUSTOM_CHECKS]),
  stripeCatalog: stripeCatalogFromEnv(Deno.env.toObject(), env.SUPABASE_URL),
});

Deno.serve(app.fetch);
