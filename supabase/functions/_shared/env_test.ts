import assert from "node:assert/strict";
import { parseFunctionEnv } from "./env.ts";

const VALID = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
};

Deno.test("parseFunctionEnv keeps the known variables and drops the rest", () => {
  const env = parseFunctionEnv({ ...VALID, STAGECOACH_ENV: "staging", PATH: "/bin" });
  assert.deepEqual(env, { ...VALID, STAGECOACH_ENV: "staging" });
});

Deno.test("parseFunctionEnv accepts a missing STAGECOACH_ENV", () => {
  assert.equal(parseFunctionEnv(VALID).STAGECOACH_ENV, undefined);
});

Deno.test("parseFunctionEnv names every missing or invalid variable without echoing values", () => {
  assert.throws(
    () =>
      parseFunctionEnv({
        ...VALID,
        SUPABASE_DB_URL: "mysql://secret-password@host",
        SUPABASE_ANON_KEY: undefined,
        STAGECOACH_ENV: "qa",
      }),
    (err: Error) =>
      err.message.startsWith("Cannot read the function environment: ") &&
      err.message.includes("SUPABASE_DB_URL") &&
      err.message.includes("SUPABASE_ANON_KEY") &&
      err.message.includes("STAGECOACH_ENV") &&
      !err.message.includes("secret-password"),
  );
});
