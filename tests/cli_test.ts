/**
 * The CLI as an operator runs it: a child process of `scripts/stagecoach.ts` against the
 * running test stack (the runner passes STAGECOACH_HOME and STAGECOACH_PORT_OFFSET on).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { ENVIRONMENTS, localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { verifyJwt } from "../scripts/local/jwt.ts";
import { readKeys } from "../scripts/local/config.ts";

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("status --json reports every environment healthy with its URLs and keys", async () => {
  const { code, stdout, stderr } = await cli("status", "--json");
  assert.equal(code, 0, stderr);
  const statuses = JSON.parse(stdout) as Record<string, unknown>[];
  assert.deepEqual(statuses.map((s) => s.name), [...ENVIRONMENTS]);
  for (const s of statuses) {
    const env = localEnv(s.name as typeof ENVIRONMENTS[number]);
    assert.equal(s.healthy, true, JSON.stringify(s));
    assert.equal(s.db_url, env.dbUrl);
    assert.equal(s.functions_url, env.functionsUrl);
    assert.equal(s.database, "up");
    assert.equal(s.gateway, "up");
    assert.equal(s.net_worker, "up");
    assert.equal(s.ops_worker_cron, "scheduled");
    assert.match(String(s.migration_version), /^\d{14}$/);
    const keys = await readKeys(env);
    assert.equal(s.anon_key, keys.anon_key);
    assert.equal(
      (await verifyJwt(keys.jwt_secret, String(s.service_role_key))).role,
      "service_role",
    );
  }
});

Deno.test("status prints a readable table per environment", async () => {
  const { code, stdout } = await cli("status");
  assert.equal(code, 0);
  for (const name of ENVIRONMENTS) assert.match(stdout, new RegExp(`^${name}  healthy$`, "m"));
  assert.match(stdout, /Functions URL: http:\/\/127\.0\.0\.1:\d+\/functions\/v1/);
});

Deno.test("user create is idempotent and token mints a token for that user", async () => {
  const email = `cli-${crypto.randomUUID().slice(0, 8)}@stagecoach.test`;
  const env = localEnv("staging");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const first = await cli(
      "user",
      "create",
      "--env",
      "staging",
      "--email",
      email,
      "--role",
      "viewer",
      "--json",
    );
    assert.equal(first.code, 0, first.stderr);
    const created = JSON.parse(first.stdout);
    assert.equal(created.created, true);
    assert.equal(created.ops_role, "viewer");

    const again = await cli(
      "user",
      "create",
      "--env",
      "staging",
      "--email",
      email,
      "--role",
      "viewer",
      "--json",
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).created, false);
    assert.equal(JSON.parse(again.stdout).id, created.id);
    const [{ users, identities }] = await sql`
      select (select count(*)::int from auth.users where email = ${email}) as users,
             (select count(*)::int from auth.identities where user_id = ${created.id}) as identities`;
    assert.deepEqual({ users, identities }, { users: 1, identities: 1 });

    const token = await cli("token", "--env", "staging", "--email", email, "--json");
    assert.equal(token.code, 0, token.stderr);
    const { access_token } = JSON.parse(token.stdout);
    const claims = await verifyJwt((await readKeys(env)).jwt_secret, access_token);
    assert.equal(claims.sub, created.id);
    assert.equal(claims.role, "authenticated");
    assert.equal(claims.email, email);
  } finally {
    await sql`delete from auth.users where email = ${email}`;
    await sql.end();
  }
});

Deno.test("user create with a password stores a bcrypt hash that crypt() accepts", async () => {
  const email = `pw-${crypto.randomUUID().slice(0, 8)}@stagecoach.test`;
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const res = await cli(
      "user",
      "create",
      "--env",
      "development",
      "--email",
      email,
      "--password",
      "s3cret-pass",
    );
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stdout + res.stderr, /s3cret-pass/);
    const [row] = await sql`
      select encrypted_password like '$2a$%' as bcrypt,
             encrypted_password = extensions.crypt('s3cret-pass', encrypted_password) as matches
      from auth.users where email = ${email}`;
    assert.deepEqual({ ...row }, { bcrypt: true, matches: true });
  } finally {
    await sql`delete from auth.users where email = ${email}`;
    await sql.end();
  }
});

Deno.test("usage errors exit 2 and name what is wrong; --help exits 0", async () => {
  const cases: [string[], RegExp][] = [
    [["user", "create", "--env", "qa", "--email", "a@b.co"], /Cannot find environment "qa"/],
    [["user", "create", "--env", "staging"], /Missing required option --email/],
    [["user", "create", "--env", "staging", "--email", "nope"], /Invalid --email/],
    [
      ["user", "create", "--env", "staging", "--email", "a@b.co", "--role", "king"],
      /Invalid --role/,
    ],
    [["token", "--env", "staging", "--email", "a@b.co", "--ttl", "0"], /Invalid --ttl/],
    [["status", "--bogus"], /Unknown option '--bogus'/],
    [["frobnicate"], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    const res = await cli(...args);
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stdout}${res.stderr}`);
    assert.match(res.stderr, message);
  }
  for (
    const args of [["status", "--help"], ["user", "create", "--help"], ["token", "-h"], ["--help"]]
  ) {
    const res = await cli(...args);
    assert.equal(res.code, 0, args.join(" "));
    assert.match(res.stdout, /^usage: /);
  }
});

Deno.test("token for an unknown user fails with exit 1 and writes nothing", async () => {
  const res = await cli("token", "--env", "production", "--email", "ghost@stagecoach.test");
  assert.equal(res.code, 1);
  assert.match(res.stderr, /no user ghost@stagecoach\.test in production/);
});
