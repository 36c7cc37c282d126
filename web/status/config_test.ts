import assert from "node:assert/strict";
import { parseStatusConfig } from "./config.ts";

const VARS = {
  STATUS_ENV: "staging",
  STATUS_FUNCTIONS_URL: "https://abcdefghijklmnop.supabase.co/functions/v1/",
  STATUS_ANON_KEY: "anon-key",
};

Deno.test("parseStatusConfig reads the build variables and trims the URL's slash", () => {
  assert.deepEqual(parseStatusConfig(VARS), {
    env: "staging",
    functionsUrl: "https://abcdefghijklmnop.supabase.co/functions/v1",
    anonKey: "anon-key",
  });
});

Deno.test("parseStatusConfig names every missing or invalid variable, never a value", () => {
  assert.throws(
    () => parseStatusConfig({ STATUS_ENV: "qa", STATUS_FUNCTIONS_URL: "ftp://x", SECRET: "s3" }),
    (err: Error) =>
      /STATUS_ENV/.test(err.message) && /STATUS_FUNCTIONS_URL/.test(err.message) &&
      /STATUS_ANON_KEY/.test(err.message) && !err.message.includes("s3"),
  );
});
