import assert from "node:assert/strict";
import { parseConsoleConfig } from "./config.ts";

function jwt(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("=", "");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}.sig`;
}

const ok = {
  CONSOLE_ENV: "staging",
  CONSOLE_SUPABASE_URL: "https://abcdefghijklmnop.supabase.co/",
  CONSOLE_ANON_KEY: jwt({ role: "anon" }),
};

Deno.test("parseConsoleConfig reads the environment, the URL without a trailing slash, the anon key", () => {
  assert.deepEqual(parseConsoleConfig(ok), {
    env: "staging",
    supabaseUrl: "https://abcdefghijklmnop.supabase.co",
    anonKey: ok.CONSOLE_ANON_KEY,
    basePath: "/",
  });
  assert.equal(parseConsoleConfig({ ...ok, CONSOLE_BASE_PATH: "/console/" }).basePath, "/console/");
  assert.throws(
    () => parseConsoleConfig({ ...ok, CONSOLE_BASE_PATH: "console" }),
    /CONSOLE_BASE_PATH: expected a path such as \/console\//,
  );
  const publishable = parseConsoleConfig({ ...ok, CONSOLE_ANON_KEY: "sb_publishable_abc" });
  assert.equal(publishable.anonKey, "sb_publishable_abc");
});

Deno.test("parseConsoleConfig refuses the service-role key or a secret key, never echoing it", () => {
  const service = jwt({ role: "service_role" });
  assert.throws(
    () => parseConsoleConfig({ ...ok, CONSOLE_ANON_KEY: service }),
    (err: Error) =>
      /not a public key \(role service_role\)/.test(err.message) &&
      !err.message.includes(service),
  );
  assert.throws(
    () => parseConsoleConfig({ ...ok, CONSOLE_ANON_KEY: "sb_secret_xyz" }),
    /not a public key \(a secret API key\)/,
  );
});

Deno.test("parseConsoleConfig names every missing or invalid variable", () => {
  assert.throws(
    () => parseConsoleConfig({ CONSOLE_ENV: "prod", CONSOLE_SUPABASE_URL: "ftp://x" }),
    (err: Error) =>
      /CONSOLE_ENV/.test(err.message) && /CONSOLE_SUPABASE_URL/.test(err.message) &&
      /CONSOLE_ANON_KEY/.test(err.message),
  );
});
