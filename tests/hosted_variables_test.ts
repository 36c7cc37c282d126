/**
 * Every data command reaches an environment described only by the documented variables
 * (`STAGECOACH_<ENV>_DB_URL`, `…_API_URL`, `…_ANON_KEY`, `STAGECOACH_FUNCTION_SECRET_*`,
 * `STAGECOACH_TOKEN`), as it would a hosted project: the CLI runs with a stack home that does
 * not exist and a port offset where nothing listens, so any fallback to the local stack's
 * configuration fails. The environments are the running test stack's, named through the
 * variables alone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  type EnvName,
  localEnv,
  localStripeKey,
  readKeys,
  REPO_ROOT,
  stripeEmulatorConfig,
} from "../scripts/local/config.ts";
import { userToken } from "../scripts/local/auth.ts";
import { ensureUser } from "../scripts/local/auth.ts";

/** The documented variables of the three environments, pointing at the test stack. */
async function variables(): Promise<Record<string, string>> {
  const vars: Record<string, string> = {};
  for (const name of ["development", "staging", "production"] as EnvName[]) {
    const env = localEnv(name);
    const p = `STAGECOACH_${name.toUpperCase()}_`;
    vars[`${p}DB_URL`] = env.dbUrl;
    vars[`${p}API_URL`] = env.apiUrl;
    vars[`${p}ANON_KEY`] = (await readKeys(env)).anon_key;
  }
  return vars;
}

/** Runs the CLI with only the variables: no stack home, no stack ports. */
async function cli(args: string[], extra: Record<string, string> = {}) {
  const nowhere = await Deno.makeTempDir({ prefix: "stagecoach-no-stack-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
      cwd: REPO_ROOT,
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/root",
        DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
        NO_COLOR: "1",
        STAGECOACH_HOME: join(nowhere, "missing"),
        STAGECOACH_PORT_OFFSET: "4999",
        ...await variables(),
        ...extra,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    await Deno.remove(nowhere, { recursive: true });
  }
}

Deno.test("users copy reaches environments described only by variables", async () => {
  const source = postgres(localEnv("production").dbUrl, { max: 1, onnotice: () => {} });
  const t = `hv${crypto.randomUUID().slice(0, 8)}`;
  try {
    await source`
      insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
        email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
        confirmation_token, recovery_token, email_change_token_new, email_change)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
             'authenticated', 'p' || g || '@' || ${t} || '.example.com', '', now(),
             '{"provider": "email"}', '{}', now(), now(), '', '', '', ''
      from generate_series(1, 3) as g`;
    const r = await cli([
      "users",
      "copy",
      "--from",
      "production",
      "--to",
      "staging",
      "--where",
      `u.email like '%@${t}.example.com'`,
      "--json",
    ], {
      STAGECOACH_ANON_KEY: "hosted-variables-test-key-0123456789",
      STAGECOACH_TEST_PASSWORD: "test-password-123",
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, "succeeded");
    assert.equal(out.counts["auth.users"], 3);
  } finally {
    await source`delete from auth.users where email like ${"%@" + t + ".example.com"}`;
    await source.end();
  }
});

Deno.test("etl run reaches an environment described only by variables", async () => {
  const r = await cli([
    "etl",
    "run",
    "profiles_split_full_name",
    "--env",
    "development",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).status, "succeeded");
});

Deno.test("stripe reconcile reaches an environment described only by variables", async () => {
  const staging = localEnv("staging");
  const r = await cli(["stripe", "reconcile", "--env", "staging", "--json"], {
    STAGECOACH_FUNCTION_SECRET_STRIPE_SECRET_KEY: await localStripeKey(staging),
    STAGECOACH_FUNCTION_SECRET_STRIPE_API_BASE: stripeEmulatorConfig().url,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).status, "succeeded");
});

Deno.test("release list reaches an environment described only by variables, with a token; --as-style local commands refuse it", async () => {
  const staging = localEnv("staging");
  const sql = postgres(staging.dbUrl, { max: 1, onnotice: () => {} });
  try {
    await ensureUser(sql, { email: "hv.viewer@stagecoach.test", role: "viewer" });
    const { access_token } = await userToken(sql, staging, { email: "hv.viewer@stagecoach.test" });
    const r = await cli(["release", "list", "--env", "staging", "--json"], {
      STAGECOACH_TOKEN: access_token,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout)));
    const local = await cli(["token", "--env", "staging", "--email", "hv.viewer@stagecoach.test"]);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /staging: it is a hosted project/);
  } finally {
    await sql.end();
  }
});
