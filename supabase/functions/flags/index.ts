import { parseAllowedOrigins } from "../_shared/cors.ts";
import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createFlagCache } from "../_shared/flags/cache.ts";
import { sqlDefinitions } from "../_shared/flags/store.ts";
import { createFlagsApp, FlagsEnvSchema } from "./app.ts";

const env = functionEnv();
const settings = FlagsEnvSchema.parse(Deno.env.toObject());
const sql = createDb(env.SUPABASE_DB_URL);

const app = createFlagsApp({
  flags: createFlagCache(sqlDefinitions(sql), { maxAgeMs: settings.STAGECOACH_FLAGS_MAX_AGE_MS }),
  origins: parseAllowedOrigins(settings.STAGECOACH_FLAGS_ORIGINS, "STAGECOACH_FLAGS_ORIGINS"),
});

Deno.serve(app.fetch);
