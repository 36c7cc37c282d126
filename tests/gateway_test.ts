/**
 * The development gateway of the running local stack: health, JWT refusals with their
 * reasons, routing to a real function, unknown functions.
 */
import assert from "node:assert/strict";
import { type EnvKeys, type LocalEnv, localEnv, readKeys } from "../scripts/local/config.ts";
import { SignJWT } from "jose";
import { signJwt } from "../scripts/local/jwt.ts";

async function devStack(): Promise<{ env: LocalEnv; keys: EnvKeys }> {
  const env = localEnv("development");
  const keys = await readKeys(env);
  try {
    const res = await fetch(`${env.apiUrl}/health`, { signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
  } catch (cause) {
    throw new Error(`Cannot reach the development gateway at ${env.apiUrl}: start the stack`, {
      cause,
    });
  }
  return { env, keys };
}

async function refusal(env: LocalEnv, authorization?: string) {
  const res = await fetch(`${env.functionsUrl}/ops/me`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("gateway /health lists the functions of supabase/functions", async () => {
  const { env } = await devStack();
  const res = await fetch(`${env.apiUrl}/health`);
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.equal(body.ok, true);
  assert.equal(body.env, "development");
  assert.ok(body.functions.includes("ops"), JSON.stringify(body));
  assert.ok(body.functions.includes("ops-worker"), JSON.stringify(body));
});

Deno.test("gateway refuses a request without a token with 401 reason missing", async () => {
  const { env } = await devStack();
  const { status, body } = await refusal(env);
  assert.equal(status, 401);
  assert.equal(body.error.code, "unauthorized");
  assert.deepEqual(body.error.details, { reason: "missing" });
});

Deno.test("gateway refuses a malformed token with 401 reason malformed", async () => {
  const { env } = await devStack();
  const { status, body } = await refusal(env, "Bearer definitely-not-a-jwt");
  assert.equal(status, 401);
  assert.deepEqual(body.error.details, { reason: "malformed" });
});

Deno.test("gateway refuses a token signed with another secret with 401 reason bad_signature", async () => {
  const { env } = await devStack();
  const forged = await signJwt("not-the-environment-secret-but-long-enough", {
    role: "service_role",
  });
  const { status, body } = await refusal(env, `Bearer ${forged}`);
  assert.equal(status, 401);
  assert.deepEqual(body.error.details, { reason: "bad_signature" });
});

Deno.test("gateway refuses an expired token with 401 reason expired", async () => {
  const { env, keys } = await devStack();
  const expired = await signJwt(keys.jwt_secret, {
    role: "anon",
    exp: Math.floor(Date.now() / 1000) - 10,
  });
  const { status, body } = await refusal(env, `Bearer ${expired}`);
  assert.equal(status, 401);
  assert.deepEqual(body.error.details, { reason: "expired" });
});

Deno.test("gateway refuses a validly signed token without exp with 401 reason invalid, every time", async () => {
  const { env, keys } = await devStack();
  // The environment's own secret, the service role, and no expiry: a key that would never die.
  const forever = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .sign(new TextEncoder().encode(keys.jwt_secret));
  for (let i = 0; i < 2; i++) {
    const { status, body } = await refusal(env, `Bearer ${forever}`);
    assert.equal(status, 401);
    assert.deepEqual(body.error.details, { reason: "invalid" });
    assert.match(body.error.message, /no exp claim/);
  }
});

Deno.test("gateway forwards a request with a valid token to the function", async () => {
  const { env, keys } = await devStack();
  const res = await fetch(`${env.functionsUrl}/ops/health?probe=1`, {
    headers: { authorization: `Bearer ${keys.anon_key}` },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, env: "development" });
});

Deno.test("gateway answers 404 NOT_FOUND for a function never deployed", async () => {
  const { env, keys } = await devStack();
  const res = await fetch(`${env.functionsUrl}/no-such-function`, {
    headers: { authorization: `Bearer ${keys.anon_key}` },
  });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).code, "NOT_FOUND");
});
