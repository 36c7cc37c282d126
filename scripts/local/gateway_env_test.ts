import assert from "node:assert/strict";
import { composeFunctionEnv } from "./gateway_env.ts";

const platform = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
};

Deno.test("composeFunctionEnv layers process, defaults, secrets, then platform", () => {
  const { env, skipped } = composeFunctionEnv({
    process: { PATH: "/bin", SHARED: "process" },
    defaults: { STAGECOACH_ENV: "development", SHARED: "default" },
    secrets: { STRIPE_SECRET_KEY: "sk_user", SHARED: "stack" },
    platform,
  });
  assert.deepEqual(skipped, []);
  assert.deepEqual(env, {
    PATH: "/bin",
    SHARED: "stack",
    STAGECOACH_ENV: "development",
    STRIPE_SECRET_KEY: "sk_user",
    ...platform,
  });
});

Deno.test("composeFunctionEnv refuses SUPABASE_ secrets and drops the gateway's SUPABASE_ vars", () => {
  const { env, skipped } = composeFunctionEnv({
    process: { SUPABASE_ACCESS_TOKEN: "sbp_personal" },
    defaults: {},
    secrets: { SUPABASE_URL: "http://evil", SUPABASE_DB_URL: "postgres://elsewhere" },
    platform,
  });
  assert.deepEqual(skipped, ["SUPABASE_URL", "SUPABASE_DB_URL"]);
  assert.deepEqual(env, platform);
});
